/* pubsub: a subscription is a connection of the pool in subscriber mode,
 * the channels and patterns it should listen to, and the messages it
 * received, read by a task with weft_redis_sub_next. Confirmations of
 * (P)(UN)SUBSCRIBE go to their callers through the connection's slots like
 * any reply; messages go to the queue. When the connection breaks, the
 * reader hears it once (WEFT_ECONNLOST: Redis keeps no messages for an
 * absent subscriber), then the subscription reconnects through the pool
 * and subscribes again to everything. A full queue pauses reading. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

typedef struct name_set {
    char **v;
    size_t n, cap;
} name_set;

struct weft_redis_sub {
    weft_redis_pool *pool;
    weft__link link;  /* pool->subs */
    weft_redis *conn; /* NULL between connections */
    name_set channels, patterns;
    weft_redis_reply **q; /* ring of messages, grown as needed */
    size_t head, len, cap, max;
    weft_task *waiter; /* the task in weft_redis_sub_next */
    bool connecting;   /* a task is (re)connecting it: others wait for that */
    weft__waitq connect_wait;
    unsigned busy; /* calls in progress: sub outlives them */
    bool lost;     /* the connection broke: tell the reader once */
    bool closed;   /* the pool was closed, or the subscription */
    bool released; /* weft_redis_sub_close was called */
};

/* ------------------------------------------------------------ names */

static ssize_t name_find(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

static int name_add(name_set *s, const char *name)
{
    if (name_find(s, name) >= 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = weft__realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if ((s->v[s->n] = weft__strdup(name)) == NULL)
        return -ENOMEM;
    s->n++;
    return 0;
}

static void name_remove(name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (name == NULL || strcmp(s->v[i], name) == 0) {
            free(s->v[i]);
            s->v[i--] = s->v[--s->n];
        }
    }
}

static void name_free(name_set *s)
{
    name_remove(s, NULL);
    free(s->v);
}

/* ------------------------------------------------------------ messages */

bool weft__redis_sub_full(const weft_redis_sub *sub)
{
    /* While a (P)(UN)SUBSCRIBE waits for its confirmation, which may be
     * behind messages in the socket, reading goes on past max_messages:
     * else the call would wait for a reader that waits for it. */
    return sub->len >= sub->max && (sub->conn == NULL || weft__list_empty(&sub->conn->pending));
}

/* Room for one more message in the ring. */
static int ring_grow(weft_redis_sub *sub)
{
    if (sub->len < sub->cap)
        return 0;
    size_t cap = sub->cap ? sub->cap * 2 : 64;
    weft_redis_reply **q = weft__malloc(cap * sizeof *q);
    if (q == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sub->len; i++) /* unrolled from head */
        q[i] = sub->q[(sub->head + i) % sub->cap];
    free(sub->q);
    sub->q = q;
    sub->head = 0;
    sub->cap = cap;
    return 0;
}

int weft__redis_sub_take(weft_redis_sub *sub, weft_redis_reply *reply)
{
    bool message = (weft__redis_reply_is(reply, "message") && reply->len == 3) ||
                   (weft__redis_reply_is(reply, "pmessage") && reply->len == 4);
    if (!message)
        return 0; /* a confirmation or an error: a caller's reply */
    if (ring_grow(sub) != 0) {
        weft_redis_reply_free(reply);
        return -ENOMEM;
    }
    sub->q[(sub->head + sub->len++) % sub->cap] = reply;
    weft__redis_wake_in(&sub->waiter, 0);
    return 1;
}

void weft__redis_sub_lost(weft_redis_sub *sub, int code)
{
    if (code != WEFT_ECLOSED)
        sub->lost = true;
    weft__redis_wake_in(&sub->waiter, code == WEFT_ECLOSED ? WEFT_ECLOSED : WEFT_ECONNLOST);
}

static weft_redis_reply *pop(weft_redis_sub *sub);

/* ------------------------------------------------------------ commands */

/* Sends verb with the names (or none) and waits for `want` confirmations.
 * WEFT_EREDIS if the server refused. */
static int sub_command(weft_redis_sub *sub, const char *verb, char *const *names, size_t n,
                       size_t want)
{
    const char **argv = weft__malloc((n + 1) * sizeof *argv);
    weft_redis_reply **replies = weft__calloc(want, sizeof *replies);
    weft__redis_buf b = {0};
    int rc = argv && replies ? 0 : -ENOMEM;
    if (rc == 0) {
        argv[0] = verb;
        memcpy(argv + 1, names, n * sizeof *argv);
        rc = weft__redis_encode(&b, n + 1, argv, NULL);
    }
    if (rc == 0)
        rc = weft__redis_send(sub->conn, &b, want, replies);
    for (size_t i = 0; replies && i < want; i++) {
        if (rc == 0 && replies[i] && replies[i]->type == WEFT_REDIS_ERROR) {
            weft_log(WEFT_LOG_INFO, "redis", "%s refused: %s", verb, replies[i]->v.str);
            rc = WEFT_EREDIS;
        }
        weft_redis_reply_free(replies[i]);
    }
    weft__redis_buf_free(&b);
    free(replies);
    free(argv);
    return rc;
}

static void detach(weft_redis_sub *sub)
{
    weft_redis *c = sub->conn;
    if (c == NULL)
        return;
    sub->conn = NULL;
    c->sub = NULL;
    weft__redis_pool_discard(sub->pool, c);
}

/* A new connection, subscribed to everything the subscription holds. */
static int sub_connect(weft_redis_sub *sub)
{
    detach(sub);
    weft_redis *c;
    int rc = weft__redis_pool_open(sub->pool, WEFT__REDIS_SUB, &c);
    if (rc != 0)
        return rc;
    if (sub->closed) { /* closed while we connected */
        weft__redis_pool_discard(sub->pool, c);
        return WEFT_ECLOSED;
    }
    c->sub = sub;
    sub->conn = c;
    if (sub->channels.n > 0)
        rc = sub_command(sub, "SUBSCRIBE", sub->channels.v, sub->channels.n, sub->channels.n);
    if (rc == 0 && sub->patterns.n > 0)
        rc = sub_command(sub, "PSUBSCRIBE", sub->patterns.v, sub->patterns.n, sub->patterns.n);
    if (rc != 0 && sub->conn == c)
        detach(sub);
    return rc;
}

/* A healthy connection: there already, or made now, or made by the task
 * already making it (one attempt for all; if that task gives up, the next
 * one tries). */
static int sub_ensure(weft_redis_sub *sub)
{
    for (;;) {
        if (sub->closed)
            return WEFT_ECLOSED;
        if (sub->conn && sub->conn->err == 0)
            return 0;
        if (!sub->connecting)
            break;
        weft__waiter wt = {0};
        int rc = weft__waitq_park(&sub->connect_wait, &wt, "redis subscription connect", sub);
        if (rc != 0 && rc != -EAGAIN)
            return rc;
    }
    sub->connecting = true;
    int rc = sub_connect(sub);
    sub->connecting = false;
    weft__waitq_wake_all(&sub->connect_wait, rc == WEFT_ECANCELED ? -EAGAIN : rc);
    return rc;
}

static void sub_free(weft_redis_sub *sub)
{
    detach(sub);
    while (sub->len > 0)
        weft_redis_reply_free(pop(sub));
    name_free(&sub->channels);
    name_free(&sub->patterns);
    free(sub->q);
    weft__redis_pool_remove_sub(sub->pool, &sub->link);
    free(sub);
}

/* Every call that may wait enters (and its checks pass) and leaves. */
static int sub_enter(weft_redis_sub *sub)
{
    if (sub == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(weft__redis_pool_loop(sub->pool));
    if (rc != 0 || (rc = sub->closed ? WEFT_ECLOSED : 0) != 0)
        return rc;
    sub->busy++;
    return 0;
}

static int sub_leave(weft_redis_sub *sub, int rc)
{
    if (--sub->busy == 0 && sub->released)
        sub_free(sub);
    return rc;
}

/* (P)SUBSCRIBE or (P)UNSUBSCRIBE one name (NULL: all, unsubscribing). */
static int change(weft_redis_sub *sub, name_set *set, const char *verb, const char *name, bool add)
{
    size_t had = set->n;
    int rc = 0;
    if (add)
        rc = name_add(set, name);
    else
        name_remove(set, name);
    if (rc != 0)
        return rc;
    bool connected = sub->conn && sub->conn->err == 0;
    if (!add && !connected && !sub->connecting)
        return 0; /* the next connection subscribes to the set as it is now */
    /* A connection made meanwhile may have subscribed before the name was
     * added (or removed): the command goes on it in any case. */
    if ((rc = sub_ensure(sub)) != 0)
        return add ? rc : 0;
    char *one[1] = {(char *)name};
    size_t want = name ? 1 : (had > 0 ? had : 1);
    rc = sub_command(sub, verb, one, name ? 1 : 0, want);
    if (rc == WEFT_EREDIS && add)
        name_remove(set, name); /* refused (an ACL): the server does not have it */
    return rc;
}

static int change_call(weft_redis_sub *sub, bool patterns, const char *verb, const char *name,
                       bool add)
{
    if (add && name == NULL)
        return -EINVAL;
    int rc = sub_enter(sub);
    if (rc != 0)
        return rc;
    return sub_leave(sub, change(sub, patterns ? &sub->patterns : &sub->channels, verb, name, add));
}

/* ------------------------------------------------------------ public */

int weft_redis_sub_open(weft_redis_pool *pool, weft_redis_sub **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (pool == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(weft__redis_pool_loop(pool));
    if (rc != 0)
        return rc;
    if (weft__redis_pool_closed(pool))
        return WEFT_ECLOSED;
    weft_redis_sub *sub = weft__calloc(1, sizeof *sub);
    if (sub == NULL)
        return -ENOMEM;
    sub->pool = pool;
    sub->max = weft__redis_pool_opts(pool)->max_messages;
    weft__waitq_init(&sub->connect_wait);
    weft__redis_pool_add_sub(pool, &sub->link);
    sub->busy++;
    if ((rc = sub_ensure(sub)) != 0) {
        sub->released = true;
        detach(sub);
        return sub_leave(sub, rc);
    }
    sub_leave(sub, 0);
    *out = sub;
    return 0;
}

int weft_redis_sub_subscribe(weft_redis_sub *sub, const char *channel)
{
    return change_call(sub, false, "SUBSCRIBE", channel, true);
}

int weft_redis_sub_psubscribe(weft_redis_sub *sub, const char *pattern)
{
    return change_call(sub, true, "PSUBSCRIBE", pattern, true);
}

int weft_redis_sub_unsubscribe(weft_redis_sub *sub, const char *channel)
{
    return change_call(sub, false, "UNSUBSCRIBE", channel, false);
}

int weft_redis_sub_punsubscribe(weft_redis_sub *sub, const char *pattern)
{
    return change_call(sub, true, "PUNSUBSCRIBE", pattern, false);
}

static weft_redis_reply *pop(weft_redis_sub *sub)
{
    weft_redis_reply *r = sub->q[sub->head];
    sub->head = (sub->head + 1) % sub->cap;
    sub->len--;
    if (sub->conn) /* room again: a paused reader goes on */
        weft__redis_wake_in(&sub->conn->reader_paused, 0);
    return r;
}

int weft_redis_sub_next(weft_redis_sub *sub, weft_redis_msg **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = sub_enter(sub);
    if (rc != 0)
        return rc;
    if (sub->waiter)
        return sub_leave(sub, -EBUSY); /* one reader at a time */
    for (;;) {
        if (sub->len > 0) {
            *out = (weft_redis_msg *)pop(sub);
            rc = 0;
            break;
        }
        if (sub->closed) {
            rc = WEFT_ECLOSED;
            break;
        }
        if (sub->lost) {
            sub->lost = false;
            rc = WEFT_ECONNLOST;
            break;
        }
        if (sub->conn == NULL || sub->conn->err != 0) {
            if ((rc = sub_ensure(sub)) != 0)
                break;
            continue;
        }
        rc = weft__redis_park_in(&sub->waiter, "redis read message", sub);
        if (rc != 0 && rc != WEFT_ECONNLOST)
            break;
        if (rc == WEFT_ECONNLOST && sub->len == 0) {
            sub->lost = false; /* told now */
            break;
        }
    }
    return sub_leave(sub, rc);
}

size_t weft_redis_sub_queued(const weft_redis_sub *sub)
{
    return sub ? sub->len : 0;
}

void weft__redis_sub_pool_closed(weft__link *link)
{
    weft_redis_sub *sub = WEFT_CONTAINER_OF(link, weft_redis_sub, link);
    sub->closed = true;
    weft__waitq_wake_all(&sub->connect_wait, WEFT_ECLOSED);
    if (sub->conn)
        weft__redis_shutdown(sub->conn, WEFT_ECLOSED); /* wakes its callers */
    weft__redis_sub_lost(sub, WEFT_ECLOSED);
}

void weft_redis_sub_close(weft_redis_sub *sub)
{
    if (sub == NULL || sub->released)
        return;
    sub->released = true;
    sub->closed = true;
    weft__waitq_wake_all(&sub->connect_wait, WEFT_ECLOSED);
    weft__redis_sub_lost(sub, WEFT_ECLOSED); /* a reader in next returns */
    detach(sub);                             /* callers in (un)subscribe return WEFT_ECLOSED */
    sub->busy++;
    sub_leave(sub, 0);
}

/* ------------------------------------------------------------ messages */

static const char *element(const weft_redis_msg *msg, size_t i, size_t *len)
{
    const weft_redis_reply *r = (const weft_redis_reply *)msg;
    return weft_redis_reply_string(weft_redis_reply_at(r, i), len);
}

static bool is_pmessage(const weft_redis_msg *msg)
{
    return weft__redis_reply_is((const weft_redis_reply *)msg, "pmessage");
}

const char *weft_redis_msg_channel(const weft_redis_msg *msg, size_t *len)
{
    return element(msg, is_pmessage(msg) ? 2 : 1, len);
}

const char *weft_redis_msg_pattern(const weft_redis_msg *msg, size_t *len)
{
    if (msg && is_pmessage(msg))
        return element(msg, 1, len);
    if (len)
        *len = 0;
    return NULL;
}

const char *weft_redis_msg_data(const weft_redis_msg *msg, size_t *len)
{
    return element(msg, is_pmessage(msg) ? 3 : 2, len);
}

void weft_redis_msg_free(weft_redis_msg *msg)
{
    weft_redis_reply_free((weft_redis_reply *)msg);
}
