/* redis_internal.h: what the Redis client's files share — a connection (a
 * weft stream, hiredis's reply parser, the FIFO of callers awaiting
 * replies, the two tasks that move bytes), the parsed URL, the limits, and
 * the hooks between connection, pool and subscription. The only window on
 * weft's core: internal.h (parking, lists, timers) and waitq.h. */
#ifndef WEFT_REDIS_INTERNAL_H
#define WEFT_REDIS_INTERNAL_H

#include <hiredis/read.h>

#include "core/core.h"
#include "sync/sync.h"

/* --------------------------------------------------------------- URL */

typedef struct weft__redis_url {
    bool is_unix;
    char *host; /* TCP: name or address, without IPv6 brackets */
    int port;
    char *path;                /* Unix socket */
    char *username, *password; /* NULL when absent */
    int db;
    char *client_name; /* ?name=, NULL when absent */
} weft__redis_url;

/* 0, -EINVAL (malformed), -ENAMETOOLONG (socket path), -ENOMEM. On
 * failure *out holds nothing to free. */
int weft__redis_url_parse(const char *url, weft__redis_url *out);
void weft__redis_url_free(weft__redis_url *u);

/* ------------------------------------------------------------ limits */

#define WEFT__REDIS_CONNECT_TIMEOUT 10.0
#define WEFT__REDIS_MAX_PENDING     10000u
#define WEFT__REDIS_MAX_REPLY       (512u * 1024u * 1024u)
#define WEFT__REDIS_MAX_DEPTH       7 /* hiredis 0.14 refuses deeper arrays */
#define WEFT__REDIS_SHARED_CONNS    1u
#define WEFT__REDIS_MAX_CONNECTIONS 32u
#define WEFT__REDIS_RECONNECT_MIN   0.1
#define WEFT__REDIS_RECONNECT_MAX   10.0
#define WEFT__REDIS_MAX_MESSAGES    10000u

/* Options with every default filled in; -EINVAL for values out of range. */
int weft__redis_opts_resolve(const weft_redis_opts *in, weft_redis_opts *out);

/* ------------------------------------------------------------ replies */

struct weft_redis_reply {
    uint8_t type; /* weft_redis_type */
    size_t len;   /* bytes of str, or elements */
    union {
        long long integer;
        char *str;
        weft_redis_reply **elem;
    } v;
};

/* hiredis's reader building weft_redis_reply objects and counting them
 * against the connection's limits (privdata: the weft__redis_limits). */
typedef struct weft__redis_limits {
    size_t max_reply;
    int max_depth;
    size_t building; /* bytes of the reply being parsed */
    bool exceeded;   /* a create function refused: the parse error is ours */
} weft__redis_limits;

redisReader *weft__redis_reader_new(weft__redis_limits *lim);
/* The next complete reply in the reader's buffer: 1 and *out, 0 when none
 * is complete yet, or the error that ends the connection (WEFT_ELIMIT: the
 * reply being received is over a limit already; WEFT_EPROTOCOL; -ENOMEM). */
int weft__redis_reader_next(redisReader *r, weft__redis_limits *lim, weft_redis_reply **out);
/* The code for a reader in error (a failed feed): as above. */
int weft__redis_reader_error(redisReader *r, const weft__redis_limits *lim);
/* An array reply whose first element is the string word (pub/sub). */
bool weft__redis_reply_is(const weft_redis_reply *r, const char *word);

/* ------------------------------------------------------------ commands */

/* A growable byte buffer: the commands not yet handed to the stream. */
typedef struct weft__redis_buf {
    char *data;
    size_t len, cap;
} weft__redis_buf;

/* Appends a command in RESP (argvlen NULL: strlen). 0 or -ENOMEM (then
 * the buffer is as it was). */
int weft__redis_encode(weft__redis_buf *b, size_t argc, const char *const *argv,
                       const size_t *argvlen);
/* Formats fmt with hiredis's redisvFormatCommand and appends it; -EINVAL
 * for a bad format, -ENOMEM. */
int weft__redis_encodev(weft__redis_buf *b, const char *fmt, va_list ap);
int weft__redis_buf_append(weft__redis_buf *b, const void *data, size_t n);

/* A command as the public calls take it: argv, or a format and its
 * arguments. */
typedef struct weft__redis_cmd {
    size_t argc;
    const char *const *argv;
    const size_t *argvlen;
    const char *fmt; /* set: the printf-like form */
    va_list *ap;
} weft__redis_cmd;
/* -EINVAL for an empty argv or a NULL argument. */
int weft__redis_cmd_check(const weft__redis_cmd *cmd);
/* Appends the command, checked (weft__redis_check_command); on error the
 * buffer is as it was. */
int weft__redis_cmd_encode(weft__redis_buf *b, const weft__redis_cmd *cmd);
/* 0 if the command at b->data + start may go on a command connection;
 * -EINVAL for one that would break "one reply per command" (empty,
 * (un)subscribe, MONITOR, SYNC, CLIENT REPLY). */
int weft__redis_check_command(const weft__redis_buf *b, size_t start);
void weft__redis_buf_free(weft__redis_buf *b);

/* A caller awaiting `want` replies (one command, or a pipeline). It lives
 * on the caller's stack: a caller that gives up unlinks it and leaves its
 * replies to be skipped by the next slot (or the connection's tail). */
typedef struct weft__redis_slot {
    weft__wait w;
    weft__link link; /* conn->pending */
    weft_task *task;
    weft_redis *conn;
    weft_redis_reply **replies; /* where the replies go, in order */
    size_t want, got;
    size_t skip; /* replies of abandoned commands to drop before ours */
} weft__redis_slot;

/* ---------------------------------------------------------- connection */

typedef enum weft__redis_role {
    WEFT__REDIS_OWN = 0, /* weft_redis_connect: the user's */
    WEFT__REDIS_SHARED,  /* a pool's, for the pool's commands */
    WEFT__REDIS_LENT,    /* acquired from a pool, or idle in it */
    WEFT__REDIS_SUB,     /* a subscription's */
} weft__redis_role;

struct weft_redis {
    weft_loop *loop;
    weft_stream *stream; /* NULL once shut down */
    redisReader *reader;
    weft__redis_limits lim;
    uint64_t command_timeout_ns; /* 0: none */
    size_t max_pending;
    /* commands written by callers, not yet taken by the writer */
    weft__redis_buf out, spare;
    /* callers awaiting replies, in the order their commands were written */
    weft__link pending;
    size_t skip_tail; /* replies to drop after the last slot */
    size_t in_flight; /* replies awaited, admitted callers included */
    weft__waitq room; /* callers waiting for in_flight to go down */
    /* the tasks that move bytes: the writer parks in writer_idle when
     * there is nothing to send; the reader in stream reads */
    weft__done_cb reader_done, writer_done;
    int tasks;                /* of the two, those not ended */
    int refs;                 /* callers inside a call on it (it outlives them) */
    weft_task *writer_idle;   /* the writer, parked for output */
    weft_task *reader_paused; /* the reader, parked while a subscription is full */
    char *rbuf;
    int err;       /* 0, or why the connection is unusable (sticky) */
    bool released; /* its owner let go: free once the tasks ended */
    /* pool and subscription */
    weft__redis_role role;
    weft_redis_pool *pool;
    weft__link pool_link; /* pool->idle or pool->lent */
    bool lent;            /* acquired and not yet given back */
    weft_redis_sub *sub;
};

#define WEFT__REDIS_RBUF (64u * 1024u)

/* Opens a connection to a parsed URL with resolved options (the pool's
 * path; weft_redis_connect parses first). */
int weft__redis_open(const weft__redis_url *url, const weft_redis_opts *opts, weft_redis **out);
/* Makes the connection unusable with code: every caller waiting on it
 * returns code, the stream is closed, the tasks end. Idempotent. */
void weft__redis_shutdown(weft_redis *c, int code);
/* The owner lets go: shut down (WEFT_ECLOSED) and freed once its tasks end
 * and no caller is inside a call on it. */
void weft__redis_release(weft_redis *c);
/* A caller that held c (c->refs++) is done with it. */
void weft__redis_unref(weft_redis *c);
/* The checks every call on a connection starts with. */
int weft__redis_check(const weft_redis *c);

/* command.c: sends n commands encoded in cmds (waiting for room among
 * max_pending first) and waits for their n replies, stored in replies[].
 * 0, or an error; the replies that did arrive are in replies[] either way. */
int weft__redis_send(weft_redis *c, const weft__redis_buf *cmds, size_t n,
                     weft_redis_reply **replies);
/* One command on c: *out gets the reply; with out NULL an ERROR reply
 * gives WEFT_EREDIS. */
int weft__redis_call(weft_redis *c, const weft__redis_cmd *cmd, weft_redis_reply **out);
/* A reply arrived (reader task): hands it to the slot it belongs to. 0, or
 * WEFT_EPROTOCOL for a reply nobody awaits. */
int weft__redis_deliver(weft_redis *c, weft_redis_reply *reply);
/* Wakes every slot and room waiter (shutdown): the head slot with
 * head_code, the others with rest_code. */
void weft__redis_fail_waiters(weft_redis *c, int head_code, int rest_code);
/* io.c: spawns the reader and writer tasks (c->tasks counts them); each
 * calls weft__redis_io_ended (conn.c) when it ends. */
int weft__redis_io_start(weft_redis *c);
void weft__redis_io_ended(weft_redis *c);
/* The writer has output to send. */
void weft__redis_kick_writer(weft_redis *c);
/* Parks the current task with *slot pointing at it (cleared on cancel);
 * weft__redis_wake_in wakes the task in *slot, if any, and clears it. */
int weft__redis_park_in(weft_task **slot, const char *what, const void *obj);
void weft__redis_wake_in(weft_task **slot, int code);

/* ---------------------------------------------------------- pool hooks */

/* Opens a connection counted against the pool's max_connections (waiting
 * for room and for the backoff). role: what it is for. */
int weft__redis_pool_open(weft_redis_pool *pool, weft__redis_role role, weft_redis **out);
/* Closes one of the pool's connections and frees its place. */
void weft__redis_pool_discard(weft_redis_pool *pool, weft_redis *c);
/* A user handle on the pool (lent connection, subscription) comes / goes:
 * the pool is freed once closed and none is left. */
void weft__redis_pool_hold(weft_redis_pool *pool);
void weft__redis_pool_unhold(weft_redis_pool *pool);
const weft_redis_opts *weft__redis_pool_opts(const weft_redis_pool *pool);
bool weft__redis_pool_closed(const weft_redis_pool *pool);
weft_loop *weft__redis_pool_loop(const weft_redis_pool *pool);
/* Subscriptions register with their pool (and hold it). */
void weft__redis_pool_add_sub(weft_redis_pool *pool, weft__link *link);
void weft__redis_pool_remove_sub(weft_redis_pool *pool, weft__link *link);
/* pipeline.c: runs p on c (checks done but c's). */
int weft__redis_pipeline_run(weft_redis *c, weft_redis_pipeline *p);

/* -------------------------------------------------------- subscription */

/* In subscriber mode, a reply that is a message goes to the subscription
 * (1), anything else to the slots (0); -ENOMEM if it could not be queued
 * (the reply is freed). */
int weft__redis_sub_take(weft_redis_sub *sub, weft_redis_reply *reply);
/* The subscription's queue is full (and no (un)subscribe waits for a
 * confirmation): the reader must wait. */
bool weft__redis_sub_full(const weft_redis_sub *sub);
/* The connection of the subscription broke (shutdown). */
void weft__redis_sub_lost(weft_redis_sub *sub, int code);
/* The pool closed: the subscription stops (link: its place in pool->subs). */
void weft__redis_sub_pool_closed(weft__link *link);

#endif
