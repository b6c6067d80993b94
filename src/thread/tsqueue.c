/* tsqueue: a FIFO queue any thread can use (janus, queue.Queue meeting
 * asyncio.Queue). One mutex guards a ring buffer and two FIFO lists of
 * waiters; a waiter is a parked task (woken through its loop's inbox, or
 * directly when the waker runs on that loop) or a blocked OS thread (a
 * condition variable on its stack). Items are handed over under the mutex
 * before the wake-up, so none is lost to a cancel or a timeout. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "thread/thread.h"

struct weft_tsqueue {
    pthread_mutex_t mu;
    void **buf; /* ring of cap slots, count items from head */
    size_t cap, head, count;
    size_t maxsize;     /* 0: unbounded */
    weft__link getters; /* tsq_waiter, first come first served */
    weft__link putters;
    bool shut_down;
    unsigned fork_gen; /* the threads that use it are gone in a forked child */
};

/* One waiting get or put, on the waiter's stack. Everything but the task's
 * own fields is under q->mu. */
typedef struct tsq_waiter {
    weft__link link;    /* in q->getters or q->putters while it waits */
    void *item;         /* a put's item; a get's, once handed */
    bool handed;        /* the waker settled it (item moved, or shut down) ... */
    int code;           /* ... with this result: 0 or WEFT_ESHUTDOWN */
    pthread_cond_t *cv; /* a blocked thread; NULL for a task */
    /* A task's: */
    weft_task *task;
    weft__inbox *inbox;  /* its loop's, held while it parks */
    weft__wake_msg wake; /* the wake-up from another thread */
    weft__wait w;
    weft__timer timer; /* its timeout */
    weft_tsqueue *q;
    bool late_cancel; /* cancelled with the wake-up in flight */
} tsq_waiter;

static pthread_condattr_t cond_attr;
static pthread_once_t cond_attr_once = PTHREAD_ONCE_INIT;

/* Timed waits count on the monotonic clock, immune to clock changes. */
static void cond_attr_init(void)
{
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
}

int weft_tsqueue_new(size_t maxsize, weft_tsqueue **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_tsqueue *q = weft__calloc(1, sizeof *q);
    if (q == NULL)
        return -ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    q->maxsize = maxsize;
    weft__list_init(&q->getters);
    weft__list_init(&q->putters);
    q->fork_gen = weft__fork_gen();
    pthread_once(&cond_attr_once, cond_attr_init);
    *out = q;
    return 0;
}

void weft_tsqueue_free(weft_tsqueue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->mu);
    free(q->buf);
    free(q);
}

size_t weft_tsqueue_size(const weft_tsqueue *q)
{
    if (q == NULL)
        return 0;
    weft_tsqueue *mq = (weft_tsqueue *)q; /* locking is not a change */
    pthread_mutex_lock(&mq->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&mq->mu);
    return n;
}

/* ------------------------------------------------ the ring (under mu) */

static bool ring_full(const weft_tsqueue *q)
{
    return q->maxsize != 0 && q->count >= q->maxsize;
}

/* Room for one more item: 0 or -ENOMEM. The ring grows by doubling (up to
 * maxsize for a bounded queue), so a put allocates only now and then. */
static int ring_reserve(weft_tsqueue *q)
{
    if (q->count < q->cap)
        return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (q->maxsize != 0 && cap > q->maxsize)
        cap = q->maxsize;
    if (cap > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    void **buf = weft__malloc(cap * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        buf[i] = q->buf[(q->head + i) % q->cap];
    free(q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void ring_push(weft_tsqueue *q, void *item)
{
    q->buf[(q->head + q->count) % q->cap] = item;
    q->count++;
}

static void *ring_pop(weft_tsqueue *q)
{
    void *item = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

/* ------------------------------------------------ waking (under mu) */

/* Settles w (already unlinked) with code and wakes it. Under the mutex, so
 * that the waiter, its condition variable and its loop's inbox are alive:
 * it cannot return before it sees handed, which needs the mutex. */
static void waiter_settle(tsq_waiter *w, int code)
{
    w->handed = true;
    w->code = code;
    if (w->cv != NULL) {
        pthread_cond_signal(w->cv);
    } else if (weft__loop_current() == w->task->loop) {
        weft__wake(w->task, 0); /* same loop: no message needed */
    } else {
        weft__wake_msg_init(&w->wake, w->task);
        weft__inbox_post(w->inbox, &w->wake.msg);
    }
}

static tsq_waiter *pop_waiter(weft__link *list)
{
    weft__link *l = weft__list_pop_front(list);
    return l ? WEFT_CONTAINER_OF(l, tsq_waiter, link) : NULL;
}

/* ------------------------------------------------ the operations (under mu) */

/* A put that does not wait: 0, -EAGAIN (full), WEFT_ESHUTDOWN, -ENOMEM. */
static int try_put(weft_tsqueue *q, void *item)
{
    if (q->shut_down)
        return WEFT_ESHUTDOWN;
    tsq_waiter *g = pop_waiter(&q->getters); /* waiting getters: the ring is empty */
    if (g != NULL) {
        g->item = item;
        waiter_settle(g, 0);
        return 0;
    }
    if (ring_full(q))
        return -EAGAIN;
    int rc = ring_reserve(q);
    if (rc != 0)
        return rc;
    ring_push(q, item);
    return 0;
}

/* A get that does not wait: 0, -EAGAIN (empty), WEFT_ESHUTDOWN. */
static int try_get(weft_tsqueue *q, void **item)
{
    if (q->count == 0)
        return q->shut_down ? WEFT_ESHUTDOWN : -EAGAIN;
    *item = ring_pop(q);
    /* The freed slot goes to the first waiting putter, whose put is done. */
    tsq_waiter *p = pop_waiter(&q->putters);
    if (p != NULL) {
        ring_push(q, p->item);
        waiter_settle(p, 0);
    }
    return 0;
}

/* ------------------------------------------------ waiting: a task */

/* On the task's loop: cancelled (or timed out, through wait_timer). If the
 * waiter was settled, the wake-up is on its way and points into our stack:
 * let it arrive; the task keeps what it was given and the cancel is
 * delivered at its next wait (weft__task_cancel's rule). */
static bool waiter_cancel(weft__wait *wait)
{
    tsq_waiter *w = WEFT_CONTAINER_OF(wait, tsq_waiter, w);
    pthread_mutex_lock(&w->q->mu);
    bool settled = w->handed;
    if (!settled)
        weft__list_remove(&w->link);
    else
        w->late_cancel = true;
    pthread_mutex_unlock(&w->q->mu);
    return !settled;
}

/* Not weft__park_until: its deadline wakes the task whatever cancel
 * returns, and a wake-up already in flight would then find it gone. */
static void waiter_timeout(weft__timer *t)
{
    tsq_waiter *w = WEFT_CONTAINER_OF(t, tsq_waiter, timer);
    pthread_mutex_lock(&w->q->mu);
    bool settled = w->handed;
    if (!settled)
        weft__list_remove(&w->link);
    pthread_mutex_unlock(&w->q->mu);
    if (!settled)
        weft__wake(w->task, WEFT_ETIMEDOUT);
}

static int wait_task_at(weft_tsqueue *q, tsq_waiter *w, weft__link *list, uint64_t deadline);

/* Called with mu held and w filled in; links w, parks, returns the result
 * with mu released. A compact task's waiter is moved to the slab while it
 * is parked (compact.h), and what the waker left in it copied back. */
static int wait_task(weft_tsqueue *q, tsq_waiter *w, weft__link *list, uint64_t deadline)
{
    weft_loop *loop = weft__loop_current();
    if (WEFT_LIKELY(loop->current->stack_kind == WEFT__STACK_OWN))
        return wait_task_at(q, w, list, deadline);
    tsq_waiter *moved = weft__slab_alloc(&loop->compact.slab, sizeof *moved);
    if (moved == NULL) {
        pthread_mutex_unlock(&q->mu);
        return -ENOMEM;
    }
    *moved = *w;
    int rc = wait_task_at(q, moved, list, deadline);
    w->item = moved->item;
    w->code = moved->code;
    weft__slab_free(&loop->compact.slab, moved, sizeof *moved);
    return rc;
}

static int wait_task_at(weft_tsqueue *q, tsq_waiter *w, weft__link *list, uint64_t deadline)
{
    weft_loop *loop = weft__loop_current();
    w->task = loop->current;
    w->inbox = loop->inbox.box;
    w->q = q;
    w->w = (weft__wait){.cancel = waiter_cancel,
                        .what = list == &q->getters ? "tsqueue get" : "tsqueue put",
                        .obj = q};
    weft__timer_init(&w->timer, waiter_timeout);
    if (deadline != UINT64_MAX)
        weft__timer_start(loop, &w->timer, deadline);
    weft__list_push_back(list, &w->link);
    pthread_mutex_unlock(&q->mu);
    weft__loop_hold(loop); /* the wake-up may come from another thread */
    int rc = weft__park(&w->w);
    weft__loop_unhold(loop);
    weft__timer_stop(loop, &w->timer);
    if (rc != 0)
        return rc; /* WEFT_ECANCELED or WEFT_ETIMEDOUT: unlinked, nothing handed */
    if (w->late_cancel)
        w->task->must_cancel = true;
    return w->code;
}

/* ------------------------------------------------ waiting: a thread */

static int wait_thread(weft_tsqueue *q, tsq_waiter *w, weft__link *list, uint64_t deadline)
{
    pthread_cond_t cv;
    pthread_cond_init(&cv, &cond_attr);
    w->cv = &cv;
    struct timespec ts = weft__timespec_of(deadline);
    weft__list_push_back(list, &w->link);
    while (!w->handed) {
        int rc = deadline == UINT64_MAX ? pthread_cond_wait(&cv, &q->mu)
                                        : pthread_cond_timedwait(&cv, &q->mu, &ts);
        if (rc == ETIMEDOUT && !w->handed) {
            weft__list_remove(&w->link);
            pthread_mutex_unlock(&q->mu);
            pthread_cond_destroy(&cv);
            return WEFT_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&cv);
    return w->code;
}

/* ------------------------------------------------ public */

/* Checks shared by put and get: 0, or the error to return. */
static int check(const weft_tsqueue *q, double timeout, uint64_t *deadline)
{
    if (q == NULL || isnan(timeout))
        return -EINVAL;
    if (WEFT_UNLIKELY(q->fork_gen != weft__fork_gen()))
        return WEFT_EFORKED;
    return weft__deadline_after(timeout, deadline);
}

/* Called with mu held when the operation must wait; releases it. */
static int wait_for(weft_tsqueue *q, tsq_waiter *w, weft__link *list, double timeout,
                    uint64_t deadline)
{
    if (timeout <= 0) {
        pthread_mutex_unlock(&q->mu);
        return WEFT_ETIMEDOUT;
    }
    weft_loop *loop = weft__loop_current();
    if (loop != NULL && loop->current != NULL)
        return wait_task(q, w, list, deadline);
    if (loop != NULL) { /* a loop's callback: blocking would stall the loop */
        pthread_mutex_unlock(&q->mu);
        return WEFT_ENOTASK;
    }
    return wait_thread(q, w, list, deadline);
}

int weft_tsqueue_put(weft_tsqueue *q, void *item, double timeout)
{
    uint64_t deadline;
    int rc = check(q, timeout, &deadline);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    rc = try_put(q, item);
    if (rc != -EAGAIN) {
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    tsq_waiter w = {.item = item};
    return wait_for(q, &w, &q->putters, timeout, deadline);
}

int weft_tsqueue_get(weft_tsqueue *q, void **item, double timeout)
{
    if (item == NULL)
        return -EINVAL;
    uint64_t deadline;
    int rc = check(q, timeout, &deadline);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    rc = try_get(q, item);
    if (rc != -EAGAIN) {
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    tsq_waiter w = {0};
    rc = wait_for(q, &w, &q->getters, timeout, deadline);
    if (rc == 0)
        *item = w.item;
    return rc;
}

int weft_tsqueue_put_nowait(weft_tsqueue *q, void *item)
{
    int rc = check(q, 0, &(uint64_t){0});
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    rc = try_put(q, item);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int weft_tsqueue_get_nowait(weft_tsqueue *q, void **item)
{
    if (item == NULL)
        return -EINVAL;
    int rc = check(q, 0, &(uint64_t){0});
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    rc = try_get(q, item);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int weft_tsqueue_shutdown(weft_tsqueue *q)
{
    if (q == NULL)
        return -EINVAL;
    if (WEFT_UNLIKELY(q->fork_gen != weft__fork_gen()))
        return WEFT_EFORKED;
    pthread_mutex_lock(&q->mu);
    q->shut_down = true;
    /* Waiting getters imply an empty ring: nothing is left for them. */
    tsq_waiter *w;
    while ((w = pop_waiter(&q->getters)) != NULL)
        waiter_settle(w, WEFT_ESHUTDOWN);
    while ((w = pop_waiter(&q->putters)) != NULL)
        waiter_settle(w, WEFT_ESHUTDOWN);
    pthread_mutex_unlock(&q->mu);
    return 0;
}
