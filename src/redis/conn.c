/* conn: one Redis connection's life: opened on a weft stream (TCP or
 * Unix, from the net layer) with AUTH, SELECT and CLIENT SETNAME in one
 * round trip, driven by two tasks (io.c), shut down once (every waiter
 * told why, the stream aborted), and freed once its tasks ended and no
 * caller is inside a call on it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

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

void weft__redis_io_ended(weft_redis *c)
{
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

/* ------------------------------------------------------------ opening */

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
        rc = weft__redis_io_start(c);
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
