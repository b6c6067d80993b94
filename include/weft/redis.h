/* weft/redis.h: a Redis client on weft's loop (hiredis parses the protocol,
 * weft's streams carry it): connections that pipeline commands from many
 * tasks, explicit pipelines (and MULTI/EXEC in them), a pool that reconnects
 * with backoff and lends dedicated connections for blocking commands, and
 * pub/sub as a subscription a task reads messages from. Included by weft.h
 * when weft is built with hiredis (WEFT_HAVE_REDIS); do not include it on
 * its own.
 *
 * Every call that can wait must be made from a task of the loop the object
 * belongs to, honours cancellation and timeout scopes, and returns 0 or a
 * negative code. A cancelled (or timed-out) command may still run on the
 * server: its reply is dropped when it arrives, never given to another
 * caller. docs/redis.md explains the whole of it. */
#ifndef WEFT_REDIS_H
#define WEFT_REDIS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_redis weft_redis; /* one connection */
typedef struct weft_redis_pool weft_redis_pool;
typedef struct weft_redis_reply weft_redis_reply;
typedef struct weft_redis_pipeline weft_redis_pipeline;
typedef struct weft_redis_sub weft_redis_sub;
typedef struct weft_redis_msg weft_redis_msg;

/* Options; a zeroed struct (or NULL) gives the defaults. Durations are
 * seconds, WEFT_FOREVER for no limit. */
typedef struct weft_redis_opts {
    double connect_timeout;  /* TCP/Unix connect plus AUTH, SELECT, CLIENT SETNAME; 0: 10 s */
    double command_timeout;  /* each command's wait for its reply (WEFT_ETIMEDOUT); 0: none */
    size_t max_pending;      /* replies awaited per connection; more callers wait; 0: 10000 */
    size_t max_reply;        /* bytes of one reply, as parsed; 0: 512 MiB */
    int max_depth;           /* nesting of arrays in a reply, 1..7 (hiredis' bound); 0: 7 */
    const char *client_name; /* CLIENT SETNAME on each connection; NULL: the URL's or none */
    /* pools */
    size_t shared_connections; /* connections the pool's own commands are pipelined over; 0: 1 */
    size_t max_connections;    /* per pool: shared, acquired and subscriptions; 0: 32 */
    double reconnect_min;      /* wait after a failed connect, doubling...; 0: 0.1 s */
    double reconnect_max;      /* ...up to this; 0: 10 s */
    /* subscriptions */
    size_t max_messages; /* messages queued per subscription; reading pauses there; 0: 10000 */
} weft_redis_opts;

/* ------------------------------------------------------------ replies */

/* RESP2 reply types. */
typedef enum weft_redis_type {
    WEFT_REDIS_NIL = 0, /* $-1 or *-1 */
    WEFT_REDIS_STRING,  /* bulk string (binary-safe) */
    WEFT_REDIS_STATUS,  /* +OK and the like */
    WEFT_REDIS_INTEGER, /* :42 */
    WEFT_REDIS_ARRAY,   /* *N, elements of any type */
    WEFT_REDIS_ERROR    /* -ERR ..., -WRONGTYPE ...: the server refused the command */
} weft_redis_type;

WEFT_API weft_redis_type weft_redis_reply_type(const weft_redis_reply *reply);
/* The value of an INTEGER reply; 0 for other types. */
WEFT_API long long weft_redis_reply_integer(const weft_redis_reply *reply);
/* The bytes of a STRING, STATUS or ERROR reply, NUL-terminated (len may be
 * NULL; a STRING may hold NULs); NULL for other types. */
WEFT_API const char *weft_redis_reply_string(const weft_redis_reply *reply, size_t *len);
/* The text of an ERROR reply ("WRONGTYPE Operation against ..."), else NULL. */
WEFT_API const char *weft_redis_reply_error(const weft_redis_reply *reply);
/* Elements of an ARRAY reply (0 for other types), and the i-th of them
 * (NULL past the end); elements belong to the array. */
WEFT_API size_t weft_redis_reply_count(const weft_redis_reply *reply);
WEFT_API const weft_redis_reply *weft_redis_reply_at(const weft_redis_reply *reply, size_t i);
WEFT_API void weft_redis_reply_free(weft_redis_reply *reply);

/* -------------------------------------------------------- connections */

/* Connects to url and returns once the connection is ready: connected,
 * authenticated and on its database.
 *   redis://[[user]:password@]host[:port][/db][?db=N&name=client-name]
 *   unix://[[user]:password@]/path/to/socket[?db=N&name=client-name]
 * (host: a name, an IPv4 address or [an IPv6 one]; port 6379; db 0;
 * user and password %-decoded). Errors: -EINVAL (bad URL or options),
 * -ENAMETOOLONG (socket path), -ECONNREFUSED and other -errno of the
 * connect, WEFT_ENONAME, WEFT_EAUTH (AUTH refused), WEFT_EREDIS (SELECT or
 * CLIENT SETNAME refused), WEFT_ETIMEDOUT (connect_timeout),
 * WEFT_ECONNLOST, WEFT_EPROTOCOL, WEFT_ECANCELED, -ENOMEM. */
WEFT_API int weft_redis_connect(const char *url, const weft_redis_opts *opts, weft_redis **out);
/* Closes the connection and frees it. Commands still waiting on it (other
 * tasks') return WEFT_ECLOSED. Never waits. */
WEFT_API void weft_redis_close(weft_redis *conn);
/* 0 while the connection is usable, else the code that ended it
 * (WEFT_ECONNLOST, WEFT_EPROTOCOL, WEFT_ELIMIT, WEFT_ECLOSED). */
WEFT_API int weft_redis_status(const weft_redis *conn);
/* Replies awaited on the connection now (commands in flight). */
WEFT_API size_t weft_redis_in_flight(const weft_redis *conn);

/* Sends one command (argc arguments, binary-safe: argvlen[i] bytes of
 * argv[i]; argvlen NULL: strlen of each) and waits for its reply. Commands
 * from any number of tasks are pipelined on the connection and each caller
 * gets its own reply. With out, *out receives the reply, whatever its type
 * (an ERROR reply is a reply: read it with weft_redis_reply_error) and the
 * caller frees it; with out NULL the reply is dropped and an ERROR reply
 * returns WEFT_EREDIS. Errors: -EINVAL, WEFT_ENOTASK, WEFT_EFOREIGN,
 * WEFT_ECONNLOST (the connection broke: the command may or may not have
 * run), WEFT_EPROTOCOL, WEFT_ELIMIT (the reply exceeded max_reply or
 * max_depth; the connection is closed), WEFT_ECLOSED, WEFT_ECANCELED,
 * WEFT_ETIMEDOUT (command_timeout or a timeout scope), -ENOMEM. */
WEFT_API int weft_redis_command(weft_redis *conn, size_t argc, const char *const *argv,
                                const size_t *argvlen, weft_redis_reply **out);
/* The same with a printf-like format, as hiredis's redisCommand: words are
 * split on spaces, %s is a C string argument, %b a binary one (pointer and
 * size_t length), %d & co. are formatted. -EINVAL for a bad format. (out
 * comes before the format here, as the variable arguments must be last.) */
WEFT_API int weft_redis_commandf(weft_redis *conn, weft_redis_reply **out, const char *fmt, ...);
WEFT_API int weft_redis_vcommandf(weft_redis *conn, const char *fmt, va_list ap,
                                  weft_redis_reply **out);

/* ----------------------------------------------------------- pipelines */

/* A list of commands sent together, with one wait for all their replies.
 * MULTI ... EXEC in a pipeline makes a transaction. */
WEFT_API int weft_redis_pipeline_new(weft_redis_pipeline **out);
/* Queues a command (copied). */
WEFT_API int weft_redis_pipeline_add(weft_redis_pipeline *p, size_t argc, const char *const *argv,
                                     const size_t *argvlen);
WEFT_API int weft_redis_pipeline_addf(weft_redis_pipeline *p, const char *fmt, ...);
WEFT_API size_t weft_redis_pipeline_count(const weft_redis_pipeline *p);
/* Sends every queued command and waits for every reply. Returns 0 once
 * all arrived (some may be ERROR replies), or the error of
 * weft_redis_command; replies that did arrive stay readable. Replies of an
 * earlier run are freed first. */
WEFT_API int weft_redis_pipeline_run(weft_redis *conn, weft_redis_pipeline *p);
/* The reply to the i-th command of the last run (NULL if it did not
 * arrive); it belongs to the pipeline. */
WEFT_API const weft_redis_reply *weft_redis_pipeline_reply(const weft_redis_pipeline *p, size_t i);
/* Drops the queued commands and the replies, to build another pipeline. */
WEFT_API void weft_redis_pipeline_reset(weft_redis_pipeline *p);
WEFT_API void weft_redis_pipeline_free(weft_redis_pipeline *p);

/* --------------------------------------------------------------- pools */

/* A pool for one URL (checked now; no connection is made until used).
 * Commands on the pool are pipelined over its shared connections, which
 * it reconnects as needed; after a failed connect it waits reconnect_min,
 * doubling up to reconnect_max, before the next attempt (a call that
 * needs a connection meanwhile waits for it). Errors: -EINVAL (bad URL or
 * options), -ENAMETOOLONG, WEFT_ENOTASK (no loop here), -ENOMEM. */
WEFT_API int weft_redis_pool_new(const char *url, const weft_redis_opts *opts,
                                 weft_redis_pool **out);
/* Closes every connection of the pool and frees it once the connections
 * it lent and its subscriptions are released. Calls waiting on any of them
 * return WEFT_ECLOSED. Never waits. */
WEFT_API void weft_redis_pool_close(weft_redis_pool *pool);
/* weft_redis_command and friends on one of the pool's shared connections
 * (connecting it if needed; errors of weft_redis_connect too). A command
 * is never sent twice: one that was in flight when a connection broke
 * returns WEFT_ECONNLOST. */
WEFT_API int weft_redis_pool_command(weft_redis_pool *pool, size_t argc, const char *const *argv,
                                     const size_t *argvlen, weft_redis_reply **out);
WEFT_API int weft_redis_pool_commandf(weft_redis_pool *pool, weft_redis_reply **out,
                                      const char *fmt, ...);
WEFT_API int weft_redis_pool_vcommandf(weft_redis_pool *pool, const char *fmt, va_list ap,
                                       weft_redis_reply **out);
WEFT_API int weft_redis_pool_pipeline_run(weft_redis_pool *pool, weft_redis_pipeline *p);
/* A dedicated connection, for blocking commands (BRPOP, BZPOPMIN, ...),
 * WATCH transactions and anything that must not share a connection: an
 * idle one, or a new one (waiting while max_connections are open, and
 * handed the first one given back). Give it back with
 * weft_redis_pool_release (weft_redis_close on it does the same). */
WEFT_API int weft_redis_pool_acquire(weft_redis_pool *pool, weft_redis **out);
/* Takes back a connection from weft_redis_pool_acquire: kept for the next
 * acquire if it is healthy with nothing in flight, else closed (a
 * cancelled BRPOP may still be blocked on it). */
WEFT_API void weft_redis_pool_release(weft_redis_pool *pool, weft_redis *conn);

struct weft_redis_pool_stats {
    size_t connections;        /* open or being opened, all kinds */
    size_t idle;               /* dedicated connections waiting for an acquire */
    size_t lent;               /* acquired and not yet released */
    size_t subscriptions;      /* open subscriptions */
    uint64_t connects;         /* successful connects */
    uint64_t connect_failures; /* failed ones */
    int last_error;            /* of the last failed connect, or 0 */
};
WEFT_API int weft_redis_pool_stats(const weft_redis_pool *pool, struct weft_redis_pool_stats *out);

/* -------------------------------------------------------------- pub/sub */

/* A subscription: a connection of the pool in subscriber mode and the
 * messages it received, which a task reads with weft_redis_sub_next. */
WEFT_API int weft_redis_sub_open(weft_redis_pool *pool, weft_redis_sub **out);
/* Subscribe to a channel / a glob pattern, waiting for the server's
 * confirmation. The subscription remembers them and subscribes again
 * after a reconnect (also when this call failed with WEFT_ECONNLOST).
 * WEFT_EREDIS if the server refused (an ACL): that one is not kept. */
WEFT_API int weft_redis_sub_subscribe(weft_redis_sub *sub, const char *channel);
WEFT_API int weft_redis_sub_psubscribe(weft_redis_sub *sub, const char *pattern);
/* NULL: every channel (every pattern). */
WEFT_API int weft_redis_sub_unsubscribe(weft_redis_sub *sub, const char *channel);
WEFT_API int weft_redis_sub_punsubscribe(weft_redis_sub *sub, const char *pattern);
/* Waits for the next message; the caller frees it. When the connection
 * breaks, the messages received before are given first, then one call
 * returns WEFT_ECONNLOST (messages published meanwhile are lost: Redis
 * keeps none), and the next call reconnects (with the pool's backoff),
 * subscribes again and waits. WEFT_ECLOSED once the pool is closed. */
WEFT_API int weft_redis_sub_next(weft_redis_sub *sub, weft_redis_msg **out);
/* Messages received and not yet read. */
WEFT_API size_t weft_redis_sub_queued(const weft_redis_sub *sub);
/* Closes the subscription's connection, frees it and its unread messages;
 * a task waiting in weft_redis_sub_next returns WEFT_ECLOSED. */
WEFT_API void weft_redis_sub_close(weft_redis_sub *sub);

/* The channel a message came on; the pattern it matched (NULL for a
 * channel subscription); its payload (binary-safe). Valid until freed. */
WEFT_API const char *weft_redis_msg_channel(const weft_redis_msg *msg, size_t *len);
WEFT_API const char *weft_redis_msg_pattern(const weft_redis_msg *msg, size_t *len);
WEFT_API const char *weft_redis_msg_data(const weft_redis_msg *msg, size_t *len);
WEFT_API void weft_redis_msg_free(weft_redis_msg *msg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REDIS_H */
