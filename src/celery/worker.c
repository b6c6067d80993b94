/* worker.c: the Celery worker's life: options and task registry, the
 * consumer task (BRPOP over kombu's queue keys, one free slot per message
 * taken, so the concurrency is also the prefetch limit), the restore sweep,
 * and warm and cold shutdown. Each message becomes a request task
 * (request.c). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "celery/celery_internal.h"

static const char *const default_queues[] = {"celery"};

static int resolve_opts(const weft_celery_opts *in, weft_celery_opts *out)
{
    weft_celery_opts o = in ? *in : (weft_celery_opts){0};
    double *durations[] = {&o.visibility_timeout, &o.restore_interval, &o.result_expires,
                           &o.shutdown_grace, &o.poll_timeout};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
        if (!(*durations[i] >= 0)) /* NaN or negative */
            return -EINVAL;
    if (o.queues == NULL) {
        if (o.n_queues != 0)
            return -EINVAL;
        o.queues = default_queues;
        o.n_queues = 1;
    }
    if (o.n_queues == 0 || o.n_queues > 64)
        return -EINVAL;
    for (size_t i = 0; i < o.n_queues; i++)
        if (o.queues[i] == NULL || o.queues[i][0] == 0 || strlen(o.queues[i]) > 200)
            return -EINVAL;
    if (o.concurrency == 0)
        o.concurrency = WEFT__CELERY_CONCURRENCY;
    if (o.concurrency > 1000000)
        return -EINVAL;
    if (o.visibility_timeout == 0)
        o.visibility_timeout = WEFT__CELERY_VISIBILITY_TIMEOUT;
    if (o.restore_interval == 0)
        o.restore_interval = WEFT__CELERY_RESTORE_INTERVAL;
    if (o.result_expires == 0)
        o.result_expires = WEFT__CELERY_RESULT_EXPIRES;
    if (o.shutdown_grace == 0)
        o.shutdown_grace = WEFT__CELERY_SHUTDOWN_GRACE;
    if (o.poll_timeout == 0)
        o.poll_timeout = WEFT__CELERY_POLL_TIMEOUT;
    if (o.result_expires < 1 || o.poll_timeout < 0.01)
        return -EINVAL;
    *out = o;
    return 0;
}

/* The pools the worker (or client) talks through: the broker's, and the
 * backend's when it is another URL. */
int weft__celery_pools_open(const char *broker, const char *backend, weft_redis_pool **bp,
                            weft_redis_pool **rp)
{
    weft_redis_opts ro = {.shared_connections = 2, .max_connections = 64};
    int rc = weft_redis_pool_new(broker, &ro, bp);
    if (rc != 0)
        return rc;
    if (backend == NULL || strcmp(backend, broker) == 0) {
        *rp = *bp;
        return 0;
    }
    rc = weft_redis_pool_new(backend, &ro, rp);
    if (rc != 0) {
        weft_redis_pool_close(*bp);
        *bp = NULL;
    }
    return rc;
}

static int copy_queues(weft_celery_worker *w)
{
    w->queues = weft__calloc(w->opts.n_queues, sizeof *w->queues);
    if (w->queues == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < w->opts.n_queues; i++)
        if ((w->queues[i] = weft__strdup(w->opts.queues[i])) == NULL)
            return -ENOMEM;
    w->opts.queues = (const char *const *)w->queues;
    return weft__celery_keys_new(w->opts.queues, w->opts.n_queues, &w->keys, &w->n_keys);
}

int weft_celery_worker_new(const char *broker_url, const char *backend_url,
                           const weft_celery_opts *opts, weft_celery_worker **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (broker_url == NULL)
        return -EINVAL;
    weft_loop *loop = weft_loop_current();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_celery_worker *w = weft__calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->loop = loop;
    int rc = resolve_opts(opts, &w->opts);
    if (rc == 0) {
        w->broker_url = weft__celery_url(broker_url);
        w->backend_url = weft__celery_url(backend_url ? backend_url : broker_url);
        rc = w->broker_url && w->backend_url ? copy_queues(w) : -ENOMEM;
    }
    if (rc == 0)
        rc = weft__celery_pools_open(w->broker_url, w->backend_url, &w->broker, &w->backend);
    if (rc == 0)
        rc = weft_sem_new((unsigned)w->opts.concurrency, &w->slots);
    if (rc == 0)
        rc = weft_event_new(&w->quiet);
    if (rc != 0) {
        weft_celery_worker_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* --------------------------------------------------------- consuming */

/* A request for the message, handed the slot the consumer took; its task
 * does the rest. */
static int start_request(weft_celery_worker *w, const char *data, size_t len)
{
    struct weft_celery_request *req = weft__calloc(1, sizeof *req);
    char *copy = req ? weft__malloc(len + 1) : NULL;
    if (copy == NULL) {
        free(req);
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    copy[len] = 0;
    req->w = w;
    req->data = copy;
    req->len = len;
    req->holds_slot = true;
    req->next = w->requests;
    if (w->requests != NULL)
        w->requests->prev = req;
    w->requests = req;
    w->alive++;
    weft_event_clear(w->quiet);
    int rc = weft_spawn(weft__celery_request_main, req, &req->task);
    if (rc != 0) {
        req->holds_slot = false;
        weft__celery_request_free(req);
    }
    return rc;
}

/* A message taken off key, with the slot taken for it: a request gets
 * both. 1, or 0 when it could not (no memory: the message is pushed back
 * where it was, rather than lost, and the slot is the caller's again). */
static int take(weft_celery_worker *w, weft_redis *conn, const char *key, const char *data,
                size_t len)
{
    w->stats.received++;
    if (start_request(w, data, len) == 0)
        return 1;
    w->stats.received--;
    WEFT_IGNORE(weft_redis_commandf(conn, NULL, "RPUSH %s %b", key, data, len));
    return 0;
}

/* Gives back the messages of an RPOP reply from element i on, to the end
 * of key that is consumed first. */
static void push_back(weft_redis *conn, const char *key, const weft_redis_reply *r, size_t i)
{
    for (; i < weft_redis_reply_count(r); i++) {
        size_t len = 0;
        const char *data = weft_redis_reply_string(weft_redis_reply_at(r, i), &len);
        if (data != NULL)
            WEFT_IGNORE(weft_redis_commandf(conn, NULL, "RPUSH %s %b", key, data, len));
    }
}

/* After a BRPOP gave one message, takes what else is queued, up to the
 * free slots, with RPOP key count (Redis 6.2+; kombu BRPOPs each one, a
 * round trip per message), keys in the same priority order. Returns 1
 * (the first message's slot is taken), or a broker error. */
static int take_more(weft_celery_worker *w, weft_redis *conn)
{
    for (size_t k = 0; k < w->n_keys && w->state == WEFT__CELERY_RUNNING; k++) {
        int free_slots = weft_sem_value(w->slots);
        if (free_slots <= 0)
            break;
        weft_redis_reply *r = NULL;
        int rc = weft_redis_commandf(conn, &r, "RPOP %s %d", w->keys[k], free_slots);
        if (rc != 0)
            return rc; /* as with BRPOP (and kombu): a lost reply loses what it held */
        size_t n = weft_redis_reply_count(r);
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            const char *data = weft_redis_reply_string(weft_redis_reply_at(r, i), &len);
            /* the slots were free and only this task takes them: only an
             * allocation failure stops the loop, and the rest goes back */
            if (data == NULL || weft_sem_try_acquire(w->slots) != 0) {
                push_back(conn, w->keys[k], r, i);
                break;
            }
            if (take(w, conn, w->keys[k], data, len) != 1) {
                weft_sem_release(w->slots);
                push_back(conn, w->keys[k], r, i + 1);
                break;
            }
        }
        bool no_count = weft_redis_reply_error(r) != NULL; /* before Redis 6.2 */
        weft_redis_reply_free(r);
        if (no_count || n == (size_t)free_slots)
            break; /* one at a time then; or every slot is taken now */
    }
    return 1;
}

/* One BRPOP over every queue key (kombu's order), and the message it gave
 * to a request. 0 after a message or an empty poll, else the broker's
 * error (the connection is then dropped). */
static int consume_one(weft_celery_worker *w, weft_redis *conn)
{
    const char *argv[1 + w->n_keys + 1];
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%g", w->opts.poll_timeout);
    argv[0] = "BRPOP";
    for (size_t i = 0; i < w->n_keys; i++)
        argv[1 + i] = w->keys[i];
    argv[1 + w->n_keys] = timeout;
    weft_redis_reply *r = NULL;
    w->in_brpop = true;
    int rc = weft_redis_command(conn, w->n_keys + 2, argv, NULL, &r);
    w->in_brpop = false;
    if (rc != 0)
        return rc;
    size_t len = 0;
    const char *data = weft_redis_reply_string(weft_redis_reply_at(r, 1), &len);
    if (weft_redis_reply_type(r) == WEFT_REDIS_ARRAY && data != NULL) {
        rc = take(w, conn, weft_redis_reply_string(weft_redis_reply_at(r, 0), NULL), data, len);
        if (rc == 1)
            rc = take_more(w, conn);
    } else if (weft_redis_reply_error(r) != NULL) {
        weft_log(WEFT_LOG_WARN, "celery", "BRPOP refused: %s", weft_redis_reply_error(r));
        rc = WEFT_EREDIS;
    }
    weft_redis_reply_free(r);
    return rc;
}

static int consumer_main(void *arg)
{
    weft_celery_worker *w = arg;
    weft_redis *conn = NULL;
    double backoff = 0.1;
    int rc = 0;
    while (w->state == WEFT__CELERY_RUNNING) {
        rc = weft_sem_acquire(w->slots);
        if (rc != 0)
            break;
        if (w->state != WEFT__CELERY_RUNNING) {
            weft_sem_release(w->slots);
            break;
        }
        rc = conn ? 0 : weft_redis_pool_acquire(w->broker, &conn);
        if (rc == 0)
            rc = consume_one(w, conn);
        if (rc != 1)
            weft_sem_release(w->slots); /* no message took the slot */
        if (rc < 0) {
            weft_log(WEFT_LOG_INFO, "celery", "broker: %s; retrying in %.1f s", weft_strerror(rc),
                     backoff);
            if (conn != NULL)
                weft_redis_pool_release(w->broker, conn);
            conn = NULL;
            if (weft_sleep(backoff) != 0)
                break;
            backoff = fmin(backoff * 2, 5.0);
        } else {
            backoff = 0.1;
        }
    }
    if (conn != NULL)
        weft_redis_pool_release(w->broker, conn);
    w->consuming = false;
    return 0;
}

/* kombu's restore_visible, every restore_interval. */
static int sweeper_main(void *arg)
{
    weft_celery_worker *w = arg;
    while (weft_sleep(w->opts.restore_interval) == 0) {
        int n = weft__celery_restore_visible(w->broker, w->opts.visibility_timeout);
        if (n == WEFT_ECANCELED)
            break; /* stopped in the middle of a sweep (its command saw the cancellation) */
        if (n > 0) {
            w->stats.restored += (uint64_t)n;
            weft_log(WEFT_LOG_INFO, "celery", "restored %d unacked messages", n);
        }
    }
    return 0;
}

/* -------------------------------------------------------- shutdown */

static void on_signal(void *arg, int signum)
{
    weft_celery_worker *w = arg;
    weft_log(WEFT_LOG_INFO, "celery", "signal %d: %s shutdown", signum,
             w->state == WEFT__CELERY_RUNNING ? "warm" : "cold");
    weft_celery_worker_shutdown(w, w->state != WEFT__CELERY_RUNNING);
}

int weft_celery_worker_shutdown(weft_celery_worker *w, bool cold)
{
    if (w == NULL)
        return -EINVAL;
    if (w->state == WEFT__CELERY_NEW || w->state == WEFT__CELERY_COLD)
        return 0;
    w->state = cold ? WEFT__CELERY_COLD : WEFT__CELERY_WARM;
    /* Stop consuming: a consumer waiting for a slot is cancelled; one in
     * BRPOP is left to finish it (a cancelled BRPOP may have taken a
     * message whose reply would be dropped), at most poll_timeout. */
    if (w->consuming && !w->in_brpop)
        weft_cancel(w->consumer);
    /* Requests still being admitted are left to finish that (a cancelled
     * unacked write would leave their message nowhere); they look at the
     * state before running. */
    for (struct weft_celery_request *r = w->requests; r != NULL; r = r->next)
        if (r->admitted && (cold || !r->holds_slot)) /* warm: waiting for an ETA or a slot */
            weft_cancel(r->task);
    weft_event_set(w->quiet); /* wakes run() to look at the new state */
    return 0;
}

static int declare_queues(weft_celery_worker *w)
{
    /* As Celery's worker declares its queues: exchange and routing key
     * named after the queue, so that kombu's restore finds them. */
    for (size_t i = 0; i < w->opts.n_queues; i++) {
        const char *q = w->opts.queues[i];
        int rc = weft_redis_pool_commandf(w->broker, NULL, "SADD _kombu.binding.%s %s%s%s%s", q, q,
                                          WEFT__CELERY_SEP, WEFT__CELERY_SEP, q);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int install_signals(weft_celery_worker *w)
{
    if (!w->opts.handle_signals)
        return 0;
    int rc = weft_signal_handle(w->loop, SIGTERM, on_signal, w, &w->sigterm);
    if (rc == 0)
        rc = weft_signal_handle(w->loop, SIGINT, on_signal, w, &w->sigint);
    return rc;
}

/* Waits until no request is alive, or the deadline. */
static int wait_quiet(weft_celery_worker *w, double deadline)
{
    while (w->alive > 0) {
        weft_event_clear(w->quiet);
        enum weft__celery_state before = w->state;
        int rc = 0;
        WEFT_TIMEOUT_AT(deadline, rc) {
            rc = weft_event_wait(w->quiet);
        }
        if (rc != 0 && w->state == before)
            return rc;
    }
    return 0;
}

int weft_celery_worker_run(weft_celery_worker *w)
{
    if (w == NULL)
        return -EINVAL;
    if (w->state != WEFT__CELERY_NEW)
        return -EBUSY;
    if (weft_task_current() == NULL)
        return WEFT_ENOTASK;
    int rc = declare_queues(w);
    if (rc == 0)
        rc = install_signals(w);
    if (rc != 0)
        return rc;
    w->state = WEFT__CELERY_RUNNING;
    w->consuming = true;
    rc = weft_spawn(consumer_main, w, &w->consumer);
    if (rc == 0)
        rc = weft_spawn(sweeper_main, w, &w->sweeper);
    if (rc != 0) {
        w->consuming = false;
        w->state = WEFT__CELERY_COLD;
        return rc;
    }
    int result = 0;
    /* Runs until a shutdown moves the state on. */
    while (w->state == WEFT__CELERY_RUNNING) {
        weft_event_clear(w->quiet);
        rc = weft_event_wait(w->quiet);
        if (rc != 0) { /* run() itself cancelled: a cold shutdown */
            weft_celery_worker_shutdown(w, true);
            result = rc;
        }
    }
    if (w->state == WEFT__CELERY_WARM) {
        rc = wait_quiet(w, weft_time() + w->opts.shutdown_grace);
        if (rc != 0)
            weft_celery_worker_shutdown(w, true);
    }
    if (w->state == WEFT__CELERY_COLD && result == 0)
        result = WEFT_ECANCELED;
    /* Whatever happened to this task, let the requests end (they give back
     * their messages) and the consumer leave BRPOP, then stop the sweep. */
    while (weft_uncancel(weft_task_current()) > 0)
        ;
    WEFT_IGNORE(wait_quiet(w, WEFT_FOREVER));
    WEFT_IGNORE(weft_await(w->consumer));
    weft_cancel(w->sweeper);
    WEFT_IGNORE(weft_await(w->sweeper));
    return result;
}

int weft_celery_worker_stats(const weft_celery_worker *w, struct weft_celery_worker_stats *out)
{
    if (w == NULL || out == NULL)
        return -EINVAL;
    *out = w->stats;
    out->running = 0;
    out->scheduled = 0;
    for (const struct weft_celery_request *r = w->requests; r != NULL; r = r->next)
        if (r->holds_slot)
            out->running++;
        else
            out->scheduled++;
    return 0;
}

void weft_celery_worker_free(weft_celery_worker *w)
{
    if (w == NULL)
        return;
    /* run() waited for every request; a worker never run has none. */
    weft_task_free(w->consumer);
    weft_task_free(w->sweeper);
    weft_signal_handler_free(w->sigterm);
    weft_signal_handler_free(w->sigint);
    if (w->backend != NULL && w->backend != w->broker)
        weft_redis_pool_close(w->backend);
    if (w->broker != NULL)
        weft_redis_pool_close(w->broker);
    weft_sem_free(w->slots);
    weft_event_free(w->quiet);
    for (size_t i = 0; i < w->n_tasks; i++)
        free(w->tasks[i].name);
    free(w->tasks);
    weft__celery_keys_free(w->keys, w->n_keys);
    for (size_t i = 0; w->queues != NULL && i < w->opts.n_queues; i++)
        free(w->queues[i]);
    free(w->queues);
    free(w->broker_url);
    free(w->backend_url);
    free(w);
}
