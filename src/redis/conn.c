/* conn: one Redis connection. A weft stream carries the bytes; two small
 * tasks move them, so that no caller ever does I/O for another: the writer
 * sends what callers appended since it last ran (every command written in
 * one turn of the loop goes out in one send), the reader feeds hiredis's
 * parser and hands each reply to the caller it belongs to (command.c).
 * Closing shuts the stream; the struct is freed once both tasks ended. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis_internal.h"

#define IO_STACK    (64u * 1024u)
#define SPARE_KEEP  (1u << 20)  /* a write buffer grown past this is given back */
#define WRITE_CHUNK (64u << 20) /* weft_stream_write takes at most INT_MAX bytes */
#define YIELD_EVERY (1u << 20)  /* bytes the reader takes before it lets others run */

int weft__redis_opts_resolve(const weft_redis_opts *in, weft_redis_opts *o)
{
    static const weft_redis_opts zero;
    *o = in ? *in : zero;
    if (isnan(o->connect_timeout) || isnan(o->command_timeout) || isnan(o->reconnect_min) ||
        isnan(o->reconnect_max) || o->connect_timeout < 0 || o->command_timeout < 0 ||
        o->reconnect_min < 0 || o->reconnect_max < 0 || o->max_depth < 0 ||
        o->max_depth > WEFT__REDIS_MAX_DEPTH)
        return -EINVAL;
    if (o->connect_timeout == 0)
        o->connect_timeout = WEFT__REDIS_CONNECT_TIMEOUT;
    if (o->max_pending == 0)
        o->max_pending = WEFT__REDIS_MAX_PENDING;
    if (o->max_reply == 0)
        o->max_reply = WEFT__REDIS_MAX_REPLY;
    if (o->max_depth == 0)
        o->max_depth = WEFT__REDIS_MAX_DEPTH;
    if (o->shared_connections == 0)
        o->shared_connections = WEFT__REDIS_SHARED_CONNS;
    if (o->max_connections == 0)
        o->max_connections = WEFT__REDIS_MAX_CONNECTIONS;
    if (o->reconnect_min == 0)
        o->reconnect_min = WEFT__REDIS_RECONNECT_MIN;
    if (o->reconnect_max == 0)
        o->reconnect_max = WEFT__REDIS_RECONNECT_MAX;
    if (o->reconnect_max < o->reconnect_min)
        o->reconnect_max = o->reconnect_min;
    if (o->max_messages == 0)
        o->max_messages = WEFT__REDIS_MAX_MESSAGES;
    if (o->shared_connections > o->max_connections)
        return -EINVAL;
    return 0;
}

/* ------------------------------------------------------------ life */

static void maybe_free(weft_redis *c)
{
    if (!c->released || c->tasks > 0 || c->refs > 0)
        return;
    if (c->reader)
        redisReaderFree(c->reader); /* frees a reply left half parsed */
    weft__redis_buf_free(&c->out);
    weft__redis_buf_free(&c->spare);
    free(c->rbuf);
    free(c);
}

static void reader_ended(weft__done_cb *cb, weft_task *task)
{
    (void)task;
    weft_redis *c = WEFT_CONTAINER_OF(cb, weft_redis, reader_done);
    c->tasks--;
    maybe_free(c);
}

static void writer_ended(weft__done_cb *cb, weft_task *task)
{
    (void)task;
    weft_redis *c = WEFT_CONTAINER_OF(cb, weft_redis, writer_done);
    c->tasks--;
    maybe_free(c);
}

void weft__redis_shutdown(weft_redis *c, int code)
{
    if (c->err != 0)
        return;
    c->err = code;
    /* The reply being parsed is the head caller's: it hears why; the others
     * only that their commands may or may not have run. */
    weft__redis_fail_waiters(c, code, code == WEFT_ECLOSED ? WEFT_ECLOSED : WEFT_ECONNLOST);
    weft__redis_wake_in(&c->writer_idle, code);
    weft__redis_wake_in(&c->reader_paused, code);
    weft_stream *s = c->stream;
    c->stream = NULL;
    if (s)
        weft_stream_abort(s); /* wakes a task parked in a read or write on it */
    if (c->sub)
        weft__redis_sub_lost(c->sub, code);
}

void weft__redis_release(weft_redis *c)
{
    weft__redis_shutdown(c, WEFT_ECLOSED);
    c->released = true;
    maybe_free(c);
}

void weft__redis_unref(weft_redis *c)
{
    c->refs--;
    maybe_free(c);
}

int weft__redis_check(const weft_redis *c)
{
    if (c == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(c->loop);
    return rc != 0 ? rc : c->err;
}

/* ------------------------------------------------------------ parking */

/* A wait that only needs the task to be findable: *slot holds it while it
 * is parked, and is cleared by whoever wakes it (or by a cancel). */
typedef struct slot_wait {
    weft__wait w;
    weft_task **slot;
} slot_wait;

static bool slot_wait_cancel(weft__wait *w)
{
    *WEFT_CONTAINER_OF(w, slot_wait, w)->slot = NULL;
    return true;
}

int weft__redis_park_in(weft_task **slot, const char *what, const void *obj)
{
    slot_wait sw = {.w = {.cancel = slot_wait_cancel, .what = what, .obj = obj}, .slot = slot};
    *slot = weft__task_current();
    return weft__park(&sw.w);
}

void weft__redis_wake_in(weft_task **slot, int code)
{
    weft_task *t = *slot;
    if (t) {
        *slot = NULL;
        weft__wake(t, code);
    }
}

/* ------------------------------------------------------------ writer */

void weft__redis_kick_writer(weft_redis *c)
{
    weft__redis_wake_in(&c->writer_idle, 0);
}

/* Sends the spare buffer; 0 or the stream's error. */
static int send_spare(weft_redis *c)
{
    size_t off = 0;
    while (off < c->spare.len && c->err == 0) {
        size_t n = c->spare.len - off < WRITE_CHUNK ? c->spare.len - off : WRITE_CHUNK;
        int rc = weft_stream_write(c->stream, c->spare.data + off, n);
        if (rc != 0)
            return rc;
        off += n;
    }
    c->spare.len = 0;
    if (c->spare.cap > SPARE_KEEP)
        weft__redis_buf_free(&c->spare);
    return 0;
}

static int writer_main(void *arg)
{
    weft_redis *c = arg;
    while (c->err == 0) {
        int rc;
        if (c->out.len == 0) {
            rc = weft__redis_park_in(&c->writer_idle, "redis write (idle)", c);
        } else {
            /* Swap: callers append to a fresh buffer while this one goes out. */
            weft__redis_buf b = c->spare;
            c->spare = c->out;
            c->out = b;
            rc = send_spare(c);
        }
        if (rc != 0 && c->err == 0)
            weft__redis_shutdown(c, rc == WEFT_ECANCELED ? WEFT_ECLOSED : WEFT_ECONNLOST);
    }
    return 0;
}

/* ------------------------------------------------------------ reader */

/* Hands out every reply complete in the parser's buffer (until a full
 * subscription says stop). 0 or the error that ends the connection. */
static int parse_buffered(weft_redis *c)
{
    while (c->err == 0) {
        if (c->sub && weft__redis_sub_full(c->sub))
            return 0;
        weft_redis_reply *reply;
        int rc = weft__redis_reader_next(c->reader, &c->lim, &reply);
        if (rc <= 0)
            return rc;
        if (c->sub && (rc = weft__redis_sub_take(c->sub, reply)) != 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        if ((rc = weft__redis_deliver(c, reply)) != 0)
            return rc;
    }
    return 0;
}

static int reader_main(void *arg)
{
    weft_redis *c = arg;
    int rc = 0;
    size_t unparked = 0; /* bytes read since the reader last let others run */
    while (c->err == 0) {
        if ((rc = parse_buffered(c)) != 0 || c->err != 0)
            break;
        if (c->sub && weft__redis_sub_full(c->sub)) {
            /* Leave the bytes in the socket: the server buffers, then
             * applies its own pub/sub output limit. */
            rc = weft__redis_park_in(&c->reader_paused, "redis read (paused)", c);
            if (rc != 0)
                break;
            continue;
        }
        int n = weft_stream_read(c->stream, c->rbuf, WEFT__REDIS_RBUF);
        if (c->err != 0)
            break; /* shut down meanwhile: the stream is gone */
        if (n <= 0) {
            rc = n == WEFT_ECANCELED ? WEFT_ECLOSED : n == -ENOMEM ? -ENOMEM : WEFT_ECONNLOST;
            break;
        }
        if (redisReaderFeed(c->reader, c->rbuf, (size_t)n) != REDIS_OK) {
            rc = weft__redis_reader_error(c->reader, &c->lim);
            break;
        }
        /* A big reply streaming in never makes the read wait: let the
         * other tasks (and the callers just woken) run now and then. */
        if ((unparked += (size_t)n) >= YIELD_EVERY) {
            unparked = 0;
            if ((rc = weft_sleep(0)) != 0)
                break;
        }
    }
    if (rc != 0 && c->err == 0)
        weft__redis_shutdown(c, rc == WEFT_ECANCELED ? WEFT_ECLOSED : rc);
    return 0;
}

/* ------------------------------------------------------------ opening */

static int spawn_io(weft_redis *c, weft_fn fn, weft__done_cb *done, const char *name)
{
    weft_task_opts to = {.name = name, .stack_size = IO_STACK};
    weft_task *t;
    int rc = weft_spawn_opts(fn, c, &to, &t);
    if (rc != 0)
        return rc;
    done->fn = fn == reader_main ? reader_ended : writer_ended;
    weft__task_on_done(t, done);
    c->tasks++;
    weft_task_free(t); /* detached: done tells when it ends */
    return 0;
}

/* A connection around a connected stream (taken even on failure). */
static int conn_new(weft_stream *s, const weft_redis_opts *o, weft_redis **out)
{
    weft_redis *c = weft__calloc(1, sizeof *c);
    if (c == NULL) {
        weft_stream_abort(s);
        return -ENOMEM;
    }
    c->loop = weft__loop_current();
    c->stream = s;
    c->lim.max_reply = o->max_reply;
    c->lim.max_depth = o->max_depth;
    c->max_pending = o->max_pending;
    if (o->command_timeout > 0 && o->command_timeout < WEFT_FOREVER)
        c->command_timeout_ns = (uint64_t)(o->command_timeout * 1e9);
    weft__list_init(&c->pending);
    weft__waitq_init(&c->room);
    weft__list_init(&c->pool_link);
    c->rbuf = weft__malloc(WEFT__REDIS_RBUF);
    c->reader = weft__redis_reader_new(&c->lim);
    int rc = c->rbuf && c->reader ? 0 : -ENOMEM;
    if (rc == 0)
        rc = spawn_io(c, reader_main, &c->reader_done, "redis-reader");
    if (rc == 0)
        rc = spawn_io(c, writer_main, &c->writer_done, "redis-writer");
    if (rc != 0) {
        weft__redis_release(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* AUTH, SELECT and CLIENT SETNAME in one round trip. */
static int handshake(weft_redis *c, const weft__redis_url *u, const weft_redis_opts *o)
{
    const char *argv[3];
    weft__redis_buf b = {0};
    size_t n = 0;
    int rc = 0;
    bool auth = u->password != NULL;
    if (auth) {
        argv[0] = "AUTH";
        argv[1] = u->username ? u->username : u->password;
        argv[2] = u->password;
        rc = weft__redis_encode(&b, u->username ? 3 : 2, argv, NULL);
        n++;
    }
    char db[16];
    if (rc == 0 && u->db != 0) {
        snprintf(db, sizeof db, "%d", u->db);
        argv[0] = "SELECT";
        argv[1] = db;
        rc = weft__redis_encode(&b, 2, argv, NULL);
        n++;
    }
    const char *name = o->client_name ? o->client_name : u->client_name;
    if (rc == 0 && name) {
        argv[0] = "CLIENT";
        argv[1] = "SETNAME";
        argv[2] = name;
        rc = weft__redis_encode(&b, 3, argv, NULL);
        n++;
    }
    weft_redis_reply *replies[3] = {NULL, NULL, NULL};
    if (rc == 0 && n > 0)
        rc = weft__redis_send(c, &b, n, replies);
    for (size_t i = 0; i < n; i++) {
        const char *err = weft_redis_reply_error(replies[i]);
        if (rc == 0 && err) {
            weft_log(WEFT_LOG_INFO, "redis", "connect refused: %s", err);
            rc = auth && i == 0 ? WEFT_EAUTH : WEFT_EREDIS;
        }
        weft_redis_reply_free(replies[i]);
    }
    weft__redis_buf_free(&b);
    return rc;
}

static int open_stream(const weft__redis_url *u, weft_stream **s)
{
    if (u->is_unix)
        return weft_unix_connect(u->path, NULL, s);
    return weft_tcp_connect(u->host, u->port, NULL, s);
}

int weft__redis_open(const weft__redis_url *u, const weft_redis_opts *o, weft_redis **out)
{
    weft_timeout *scope;
    int rc = weft_timeout_begin(o->connect_timeout, &scope);
    if (rc != 0)
        return rc;
    weft_stream *s;
    weft_redis *c = NULL;
    rc = open_stream(u, &s);
    if (rc == 0)
        rc = conn_new(s, o, &c);
    if (rc == 0 && (rc = handshake(c, u, o)) != 0) {
        weft__redis_release(c);
        c = NULL;
    }
    rc = weft_timeout_end(scope, rc);
    if (rc == 0)
        *out = c;
    return rc;
}

/* ------------------------------------------------------------ public */

int weft_redis_connect(const char *url, const weft_redis_opts *opts, weft_redis **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    weft_redis_opts o;
    weft__redis_url u;
    if ((rc = weft__redis_opts_resolve(opts, &o)) != 0)
        return rc;
    if ((rc = weft__redis_url_parse(url, &u)) != 0)
        return rc;
    rc = weft__redis_open(&u, &o, out);
    weft__redis_url_free(&u);
    return rc;
}

void weft_redis_close(weft_redis *conn)
{
    if (conn == NULL)
        return;
    if (conn->lent) {
        weft_redis_pool_release(conn->pool, conn); /* a lent one, closed by mistake */
        return;
    }
    weft__redis_release(conn);
}

int weft_redis_status(const weft_redis *conn)
{
    return conn ? conn->err : -EINVAL;
}

size_t weft_redis_in_flight(const weft_redis *conn)
{
    return conn ? conn->in_flight : 0;
}
