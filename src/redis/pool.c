/* pool: the connections to one URL. The pool's own commands are pipelined
 * over a few shared connections (one by default: on one loop, one
 * pipelined connection is the fastest way to a single-threaded server);
 * dedicated connections are lent for blocking commands and WATCH, and
 * subscriptions take one each. All count against max_connections. A
 * broken shared connection is replaced on the next call; after a failed
 * connect the next attempt waits reconnect_min, doubling up to
 * reconnect_max, and calls that need a connection wait with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"
#include "core/park_record.h"

typedef struct shared_slot {
    weft_redis *conn;    /* NULL until connected */
    bool connecting;     /* a caller is opening it: the others wait */
    weft__waitq waiters; /* ...here */
} shared_slot;

struct weft_redis_pool {
    weft_loop *loop;
    weft__redis_url url;
    weft_redis_opts opts;
    char *client_name; /* opts.client_name, copied */
    shared_slot *shared;
    size_t next_shared; /* round robin */
    weft__link idle;    /* lent connections given back, ready for acquire */
    weft__link lent;    /* lent connections out */
    weft__link subs;    /* open subscriptions */
    size_t n_idle, n_lent, n_subs;
    size_t total;        /* open or being opened: against max_connections */
    weft__waitq room;    /* callers waiting for total < max_connections */
    weft__waitq backoff; /* callers waiting for retry_at */
    uint64_t retry_at;   /* no connect attempt before this (ns) */
    double delay;        /* the wait after the next failure (s) */
    uint64_t connects, failures;
    int last_error;
    unsigned holds; /* calls inside, lent connections, subscriptions */
    bool closed;
};

/* ------------------------------------------------------------ life */

static void pool_free(weft_redis_pool *pool)
{
    weft__redis_url_free(&pool->url);
    free(pool->client_name);
    free(pool->shared);
    free(pool);
}

void weft__redis_pool_hold(weft_redis_pool *pool)
{
    pool->holds++;
}

void weft__redis_pool_unhold(weft_redis_pool *pool)
{
    if (--pool->holds == 0 && pool->closed)
        pool_free(pool);
}

const weft_redis_opts *weft__redis_pool_opts(const weft_redis_pool *pool)
{
    return &pool->opts;
}

bool weft__redis_pool_closed(const weft_redis_pool *pool)
{
    return pool->closed;
}

weft_loop *weft__redis_pool_loop(const weft_redis_pool *pool)
{
    return pool->loop;
}

int weft_redis_pool_new(const char *url, const weft_redis_opts *opts, weft_redis_pool **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__loop_current();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_redis_pool *pool = weft__calloc(1, sizeof *pool);
    if (pool == NULL)
        return -ENOMEM;
    int rc = weft__redis_opts_resolve(opts, &pool->opts);
    if (rc == 0)
        rc = weft__redis_url_parse(url, &pool->url);
    if (rc != 0) {
        free(pool);
        return rc;
    }
    pool->loop = loop;
    pool->delay = pool->opts.reconnect_min;
    pool->shared = weft__calloc(pool->opts.shared_connections, sizeof *pool->shared);
    if (pool->opts.client_name)
        pool->client_name = weft__strdup(pool->opts.client_name);
    if (pool->shared == NULL || (pool->opts.client_name && pool->client_name == NULL)) {
        pool_free(pool);
        return -ENOMEM;
    }
    pool->opts.client_name = pool->client_name;
    for (size_t i = 0; i < pool->opts.shared_connections; i++)
        weft__waitq_init(&pool->shared[i].waiters);
    weft__list_init(&pool->idle);
    weft__list_init(&pool->lent);
    weft__list_init(&pool->subs);
    weft__waitq_init(&pool->room);
    weft__waitq_init(&pool->backoff);
    *out = pool;
    return 0;
}

/* The checks of every call on the pool that may wait. */
static int pool_check(const weft_redis_pool *pool)
{
    if (pool == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(pool->loop);
    return rc != 0 ? rc : pool->closed ? WEFT_ECLOSED : 0;
}

/* ------------------------------------------------------------ places */

/* A caller waiting in pool->room: for a place (to open a connection), or,
 * an acquire, for a place or a connection given back. */
typedef struct room_waiter {
    weft__waiter wt; /* wt.item: this struct */
    bool acquire;
    weft_redis *conn; /* handed over by a release (then the wake code is 1) */
} room_waiter;

static void room_wake(weft_redis_pool *pool)
{
    while (pool->total < pool->opts.max_connections && !weft__waitq_empty(&pool->room)) {
        pool->total++; /* handed over with the wakeup */
        weft__waiter_wake(weft__waitq_pop(&pool->room), 0);
    }
}

/* Takes a place among max_connections, waiting behind earlier callers. An
 * acquire (handed != NULL) may be handed a connection given back instead:
 * then it returns 1. */
static int take_place(weft_redis_pool *pool, weft_redis **handed)
{
    if (pool->total < pool->opts.max_connections && weft__waitq_empty(&pool->room)) {
        pool->total++;
        return 0;
    }
    WEFT__PARK_RECORD(room_waiter, rw); /* a release writes rw->conn */
    if (rw == NULL)
        return -ENOMEM;
    *rw = (room_waiter){.acquire = handed != NULL};
    rw->wt.item = rw;
    int rc = weft__waitq_park(&pool->room, &rw->wt, "redis pool wait for a connection", pool);
    if (rc == 1)
        *handed = rw->conn;
    return rc;
}

/* A connection given back goes to the first acquire waiting, if any. */
static bool hand_over(weft_redis_pool *pool, weft_redis *c)
{
    for (weft__link *l = pool->room.head.next; l != &pool->room.head; l = l->next) {
        /* Through item, not the link: a compact task's waiter is a copy. */
        weft__waiter *wt = WEFT_CONTAINER_OF(l, weft__waiter, link);
        room_waiter *rw = wt->item;
        if (rw->acquire) {
            weft__list_remove(l);
            rw->conn = c;
            weft__waiter_wake(wt, 1);
            return true;
        }
    }
    return false;
}

static void give_place(weft_redis_pool *pool)
{
    pool->total--;
    room_wake(pool);
}

void weft__redis_pool_discard(weft_redis_pool *pool, weft_redis *c)
{
    weft__list_remove(&c->pool_link);
    weft__redis_release(c);
    give_place(pool);
}

/* ------------------------------------------------------------ connecting */

/* Waits until the backoff after the last failed connect is over. */
static int wait_backoff(weft_redis_pool *pool)
{
    if (pool->retry_at <= weft__now_ns())
        return 0;
    WEFT__PARK_RECORD(weft__waiter, wt);
    if (wt == NULL)
        return -ENOMEM;
    *wt = (weft__waiter){.w = {.cancel = weft__waiter_cancel,
                               .what = "redis reconnect backoff",
                               .obj = pool,
                               .kind = WEFT__WAIT_IO},
                         .task = weft__task_current()};
    weft__list_push_back(&pool->backoff.head, &wt->link);
    int rc = weft__park_until(&wt->w, pool->retry_at);
    return rc == WEFT_ETIMEDOUT ? 0 : rc; /* the deadline is the backoff's end */
}

static void note_result(weft_redis_pool *pool, int rc)
{
    if (rc == 0) {
        pool->connects++;
        pool->delay = pool->opts.reconnect_min;
        pool->retry_at = 0;
        return;
    }
    if (rc == WEFT_ECANCELED || rc == WEFT_ECLOSED)
        return; /* the caller gave up: says nothing of the server */
    pool->failures++;
    pool->last_error = rc;
    pool->retry_at = weft__now_ns() + (uint64_t)(pool->delay * 1e9);
    weft_log(WEFT_LOG_INFO, "redis", "connect failed (%s); next attempt in %.2f s",
             weft_strerror(rc), pool->delay);
    pool->delay =
        pool->delay * 2 < pool->opts.reconnect_max ? pool->delay * 2 : pool->opts.reconnect_max;
}

/* Opens a connection in a place already taken (given back on failure). */
static int open_in_place(weft_redis_pool *pool, weft__redis_role role, weft_redis **out)
{
    weft_redis *c = NULL;
    int rc = pool->closed ? WEFT_ECLOSED : wait_backoff(pool);
    if (rc == 0)
        rc = pool->closed ? WEFT_ECLOSED : weft__redis_open(&pool->url, &pool->opts, &c);
    if (rc == 0 && pool->closed) {
        weft__redis_release(c);
        rc = WEFT_ECLOSED;
    }
    note_result(pool, rc);
    if (rc != 0) {
        give_place(pool);
        return rc;
    }
    c->pool = pool;
    c->role = role;
    *out = c;
    return 0;
}

int weft__redis_pool_open(weft_redis_pool *pool, weft__redis_role role, weft_redis **out)
{
    int rc = take_place(pool, NULL);
    return rc != 0 ? rc : open_in_place(pool, role, out);
}

/* One of the shared connections, connected (single flight: the callers
 * that find it being opened wait for that attempt). */
static int shared_conn(weft_redis_pool *pool, weft_redis **out)
{
    shared_slot *s = &pool->shared[pool->next_shared++ % pool->opts.shared_connections];
    for (;;) {
        if (pool->closed)
            return WEFT_ECLOSED;
        if (s->conn && s->conn->err == 0) {
            *out = s->conn;
            return 0;
        }
        int rc;
        if (s->connecting) {
            weft__waiter wt = {0};
            rc = weft__waitq_park(&s->waiters, &wt, "redis pool connect", pool);
            if (rc != 0 && rc != -EAGAIN)
                return rc;
            continue;
        }
        if (s->conn) { /* broken: its callers were told; replace it */
            weft__redis_pool_discard(pool, s->conn);
            s->conn = NULL;
        }
        s->connecting = true;
        weft_redis *c;
        rc = weft__redis_pool_open(pool, WEFT__REDIS_SHARED, &c);
        s->connecting = false;
        if (rc == 0)
            s->conn = c;
        /* A cancelled opener tells the others to try for themselves. */
        weft__waitq_wake_all(&s->waiters, rc == WEFT_ECANCELED ? -EAGAIN : rc);
        if (rc != 0)
            return rc;
    }
}

/* ------------------------------------------------------------ commands */

static int pool_call(weft_redis_pool *pool, const weft__redis_cmd *cmd, weft_redis_reply **out)
{
    if (out)
        *out = NULL;
    int rc = pool_check(pool);
    if (rc != 0 || (rc = weft__redis_cmd_check(cmd)) != 0)
        return rc;
    weft__redis_pool_hold(pool);
    weft_redis *c;
    if ((rc = shared_conn(pool, &c)) == 0)
        rc = weft__redis_call(c, cmd, out);
    weft__redis_pool_unhold(pool);
    return rc;
}

int weft_redis_pool_command(weft_redis_pool *pool, size_t argc, const char *const *argv,
                            const size_t *argvlen, weft_redis_reply **out)
{
    weft__redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = argvlen};
    return pool_call(pool, &cmd, out);
}

int weft_redis_pool_vcommandf(weft_redis_pool *pool, const char *fmt, va_list ap,
                              weft_redis_reply **out)
{
    if (fmt == NULL) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    va_list copy;
    va_copy(copy, ap);
    weft__redis_cmd cmd = {.fmt = fmt, .ap = &copy};
    int rc = pool_call(pool, &cmd, out);
    va_end(copy);
    return rc;
}

int weft_redis_pool_commandf(weft_redis_pool *pool, weft_redis_reply **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = weft_redis_pool_vcommandf(pool, fmt, ap, out);
    va_end(ap);
    return rc;
}

int weft_redis_pool_pipeline_run(weft_redis_pool *pool, weft_redis_pipeline *p)
{
    int rc = pool_check(pool);
    if (rc != 0 || p == NULL)
        return rc != 0 ? rc : -EINVAL;
    weft__redis_pool_hold(pool);
    weft_redis *c;
    if ((rc = shared_conn(pool, &c)) == 0)
        rc = weft__redis_pipeline_run(c, p);
    weft__redis_pool_unhold(pool);
    return rc;
}

/* ------------------------------------------------------------ lending */

/* An idle connection still healthy, or NULL. */
static weft_redis *pop_idle(weft_redis_pool *pool)
{
    weft__link *l;
    while ((l = weft__list_pop_front(&pool->idle)) != NULL) {
        pool->n_idle--;
        weft_redis *c = WEFT_CONTAINER_OF(l, weft_redis, pool_link);
        if (c->err == 0)
            return c;
        weft__redis_pool_discard(pool, c); /* the server closed it while idle */
    }
    return NULL;
}

int weft_redis_pool_acquire(weft_redis_pool *pool, weft_redis **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = pool_check(pool);
    if (rc != 0)
        return rc;
    weft__redis_pool_hold(pool);
    weft_redis *c = pop_idle(pool);
    if (c == NULL) {
        rc = take_place(pool, &c);
        if (rc == 0)
            rc = open_in_place(pool, WEFT__REDIS_LENT, &c);
        else if (rc == 1)
            rc = c->err != 0 ? c->err : 0; /* handed over by a release */
    }
    if (rc != 0) {
        if (c)
            weft__redis_pool_discard(pool, c);
        weft__redis_pool_unhold(pool);
        return rc;
    }
    weft__list_push_back(&pool->lent, &c->pool_link);
    c->lent = true;
    pool->n_lent++;
    *out = c; /* the pool stays held until it comes back */
    return 0;
}

void weft_redis_pool_release(weft_redis_pool *pool, weft_redis *conn)
{
    if (pool == NULL || conn == NULL || conn->pool != pool || !conn->lent)
        return; /* not lent by this pool, or given back already */
    conn->lent = false;
    weft__list_remove(&conn->pool_link);
    pool->n_lent--;
    if (!pool->closed && conn->err == 0 && conn->in_flight == 0 && conn->refs == 0) {
        if (!hand_over(pool, conn)) {
            weft__list_push_back(&pool->idle, &conn->pool_link);
            pool->n_idle++;
        }
    } else {
        /* something may still be blocked on it (a cancelled BRPOP): close */
        weft__redis_pool_discard(pool, conn);
    }
    weft__redis_pool_unhold(pool);
}

/* ------------------------------------------------------------ closing */

void weft__redis_pool_add_sub(weft_redis_pool *pool, weft__link *link)
{
    weft__list_push_back(&pool->subs, link);
    pool->n_subs++;
    weft__redis_pool_hold(pool);
}

void weft__redis_pool_remove_sub(weft_redis_pool *pool, weft__link *link)
{
    weft__list_remove(link);
    pool->n_subs--;
    weft__redis_pool_unhold(pool);
}

void weft_redis_pool_close(weft_redis_pool *pool)
{
    if (pool == NULL || pool->closed)
        return;
    pool->closed = true;
    weft__redis_pool_hold(pool); /* until the end of this function */
    weft__waitq_wake_all(&pool->room, WEFT_ECLOSED);
    weft__waitq_wake_all(&pool->backoff, WEFT_ECLOSED);
    for (size_t i = 0; i < pool->opts.shared_connections; i++) {
        shared_slot *s = &pool->shared[i];
        weft__waitq_wake_all(&s->waiters, WEFT_ECLOSED);
        if (s->conn) {
            weft__redis_pool_discard(pool, s->conn);
            s->conn = NULL;
        }
    }
    weft__link *l;
    while ((l = weft__list_pop_front(&pool->idle)) != NULL) {
        weft__list_init(l);
        pool->n_idle--;
        weft__redis_pool_discard(pool, WEFT_CONTAINER_OF(l, weft_redis, pool_link));
    }
    /* Lent connections and subscriptions stop working now; their handles
     * stay valid until released or closed. */
    for (l = pool->lent.next; l != &pool->lent; l = l->next)
        weft__redis_shutdown(WEFT_CONTAINER_OF(l, weft_redis, pool_link), WEFT_ECLOSED);
    for (l = pool->subs.next; l != &pool->subs; l = l->next)
        weft__redis_sub_pool_closed(l);
    weft__redis_pool_unhold(pool);
}

int weft_redis_pool_stats(const weft_redis_pool *pool, struct weft_redis_pool_stats *out)
{
    if (pool == NULL || out == NULL)
        return -EINVAL;
    out->connections = pool->total;
    out->idle = pool->n_idle;
    out->lent = pool->n_lent;
    out->subscriptions = pool->n_subs;
    out->connects = pool->connects;
    out->connect_failures = pool->failures;
    out->last_error = pool->last_error;
    return 0;
}
