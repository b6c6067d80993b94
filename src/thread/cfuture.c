/* cfuture: asyncio.run_coroutine_threadsafe, concurrent.futures.Future and
 * weft_call_sync (the talk's @async_task: both at once).
 * weft_submit posts a message to the loop's inbox; the loop spawns the
 * task; its end completes the future, which wakes blocked threads (a
 * mutex + condvar, after a short spin) and runs done callbacks — among
 * them those of tasks on other loops that await it (they post back). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "thread/thread.h"
#include "core/park_record.h"

long weft__cfuture_spin_ns = WEFT__CFUTURE_SPIN_NS;

/* A completion callback, linked in the future until it is done. */
typedef struct cf_cb cf_cb;
struct cf_cb {
    weft__link link; /* in cf->cbs; unlinked under cf->mu when it fires */
    cf_cb *fire_next;
    void (*fn)(cf_cb *cb, weft_cfuture *cf);
};

struct weft_cfuture {
    weft__msg submit;     /* spawns the task on the loop */
    weft__msg cancel_msg; /* cancels it there */
    weft__done_cb task_done;
    weft__inbox *inbox; /* referenced */
    weft_fn fn;
    void *arg;
    weft_task *task; /* loop thread only: NULL before the spawn, after the end */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned sleepers; /* under mu: threads blocked on cv */
    weft__link cbs;    /* under mu: cf_cb to run when done */
    int done;          /* atomic; set under mu, after result */
    int result;
    unsigned refs; /* atomic */
};

static pthread_condattr_t cond_attr;
static pthread_once_t cond_attr_once = PTHREAD_ONCE_INIT;

/* Timed waits count on the monotonic clock, immune to clock changes. */
static void cond_attr_init(void)
{
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
}

static void cf_unref(weft_cfuture *cf)
{
    if (__atomic_sub_fetch(&cf->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    weft__inbox_unref(cf->inbox);
    pthread_cond_destroy(&cf->cv);
    pthread_mutex_destroy(&cf->mu);
    free(cf);
}

static bool cf_is_done(const weft_cfuture *cf)
{
    return __atomic_load_n(&cf->done, __ATOMIC_ACQUIRE) != 0;
}

/* Sets the result once; false if it was set already. Callbacks run here,
 * outside the mutex, on the completing thread. */
static bool cf_complete(weft_cfuture *cf, int code)
{
    pthread_mutex_lock(&cf->mu);
    if (cf->done) {
        pthread_mutex_unlock(&cf->mu);
        return false;
    }
    cf->result = code;
    __atomic_store_n(&cf->done, 1, __ATOMIC_RELEASE);
    if (cf->sleepers)
        pthread_cond_broadcast(&cf->cv);
    /* Unlinked under the mutex, so that a waiter's cancel sees it fired. */
    cf_cb *first = NULL, **last = &first;
    weft__link *l;
    while ((l = weft__list_pop_front(&cf->cbs)) != NULL) {
        cf_cb *cb = WEFT_CONTAINER_OF(l, cf_cb, link);
        cb->fire_next = NULL;
        *last = cb;
        last = &cb->fire_next;
    }
    pthread_mutex_unlock(&cf->mu);
    while (first) {
        cf_cb *next = first->fire_next; /* first may be gone after fn */
        first->fn(first, cf);
        first = next;
    }
    return true;
}

/* ------------------------------------------------ the loop's side */

static void cf_task_done(weft__done_cb *dcb, weft_task *task)
{
    weft_cfuture *cf = WEFT_CONTAINER_OF(dcb, weft_cfuture, task_done);
    cf->task = NULL;
    cf_complete(cf, task->result);
    cf_unref(cf);
}

static void cf_submit_run(weft__msg *m)
{
    weft_cfuture *cf = WEFT_CONTAINER_OF(m, weft_cfuture, submit);
    if (cf_is_done(cf)) { /* cancelled before it started */
        cf_unref(cf);
        return;
    }
    if (weft__inbox_refusing(cf->inbox)) { /* accepted just before shutdown */
        cf_complete(cf, WEFT_ECLOSED);
        cf_unref(cf);
        return;
    }
    weft_task *task;
    int rc = weft__task_spawn_on(weft__inbox_loop(cf->inbox), cf->fn, cf->arg, NULL, &task);
    if (rc != 0) {
        cf_complete(cf, rc);
        cf_unref(cf);
        return;
    }
    cf->task = task;
    cf->task_done.fn = cf_task_done;
    weft__task_on_done(task, &cf->task_done);
    weft_task_free(task); /* detached: freed when it ends; cf->task is cleared then */
}

static void cf_submit_fail(weft__msg *m, int code)
{
    weft_cfuture *cf = WEFT_CONTAINER_OF(m, weft_cfuture, submit);
    cf_complete(cf, code);
    cf_unref(cf);
}

static void cf_cancel_run(weft__msg *m)
{
    weft_cfuture *cf = WEFT_CONTAINER_OF(m, weft_cfuture, cancel_msg);
    if (cf->task)
        weft__task_cancel(cf->task);
    cf_unref(cf);
}

static void cf_cancel_fail(weft__msg *m, int code)
{
    (void)code;
    cf_unref(WEFT_CONTAINER_OF(m, weft_cfuture, cancel_msg));
}

/* ------------------------------------------------ public */

int weft_submit(weft_loop *loop, weft_fn fn, void *arg, weft_cfuture **out)
{
    if (out)
        *out = NULL;
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (loop->inbox.box == NULL)
        return WEFT_ECLOSED;
    if (weft__loop_forked(loop))
        return WEFT_EFORKED;
    weft_cfuture *cf = weft__malloc(sizeof *cf);
    if (cf == NULL)
        return -ENOMEM;
    pthread_once(&cond_attr_once, cond_attr_init);
    pthread_mutex_init(&cf->mu, NULL);
    pthread_cond_init(&cf->cv, &cond_attr);
    cf->submit = (weft__msg){.run = cf_submit_run, .fail = cf_submit_fail, .submission = true};
    cf->cancel_msg = (weft__msg){.run = cf_cancel_run, .fail = cf_cancel_fail};
    cf->fn = fn;
    cf->arg = arg;
    cf->task = NULL;
    cf->sleepers = 0;
    weft__list_init(&cf->cbs);
    cf->done = 0;
    cf->result = 0;
    cf->refs = out ? 2 : 1; /* the loop's until the task ends, the caller's */
    cf->inbox = weft__inbox_get(loop);
    int rc = weft__inbox_post(cf->inbox, &cf->submit);
    if (rc != 0) {
        cf->refs = 1;
        cf_unref(cf);
        return rc;
    }
    if (out)
        *out = cf;
    return 0;
}

/* The talk's @async_task: submit, then block this thread for the result.
 * On the loop's own thread nothing could run the task while we block. */
int weft_call_sync(weft_loop *loop, weft_fn fn, void *arg)
{
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (pthread_equal(loop->thread, pthread_self()))
        return -EDEADLK;
    weft_cfuture *cf;
    int rc = weft_submit(loop, fn, arg, &cf);
    if (rc != 0)
        return rc;
    rc = weft_cfuture_result(cf, WEFT_FOREVER);
    weft_cfuture_free(cf);
    return rc;
}

static int wait_blocking(weft_cfuture *cf, double timeout)
{
    /* The shared conversion: a huge finite timeout is forever, as in every
     * other wait, not an overflow of time_t. */
    uint64_t deadline;
    weft__deadline_after(timeout, &deadline);
    bool forever = deadline == UINT64_MAX;
    struct timespec ts = weft__timespec_of(deadline);
    int rc = 0;
    pthread_mutex_lock(&cf->mu);
    cf->sleepers++;
    while (!cf->done && rc == 0)
        rc = forever ? pthread_cond_wait(&cf->cv, &cf->mu)
                     : pthread_cond_timedwait(&cf->cv, &cf->mu, &ts);
    cf->sleepers--;
    bool done = cf->done;
    pthread_mutex_unlock(&cf->mu);
    return done ? cf->result : WEFT_ETIMEDOUT;
}

int weft_cfuture_result(weft_cfuture *cf, double timeout)
{
    if (cf == NULL || isnan(timeout))
        return -EINVAL;
    if (cf_is_done(cf))
        return cf->result;
    weft_loop *here = weft__loop_current();
    if (here != NULL && here->inbox.box == cf->inbox)
        return -EDEADLK; /* only this thread could complete it */
    if (timeout <= 0)
        return WEFT_ETIMEDOUT;
    if (weft__inbox_forked(cf->inbox))
        return WEFT_EFORKED; /* its loop's thread is not in this process */
    /* A short job on a running loop completes within microseconds: a brief
     * spin saves the sleep and the wake-up (see bench/w5_threadsafe.c). */
    long spin = weft__cfuture_spin_ns;
    if (spin > 0 && timeout * 1e9 > spin) {
        uint64_t end = weft__now_ns() + (uint64_t)spin;
        for (unsigned i = 1;; i++) {
            if (cf_is_done(cf))
                return cf->result;
            weft__cpu_relax();
            if (i % 64 == 0 && weft__now_ns() >= end)
                break;
        }
    }
    return wait_blocking(cf, timeout);
}

int weft_cfuture_cancel(weft_cfuture *cf)
{
    if (cf == NULL)
        return -EINVAL;
    if (!cf_complete(cf, WEFT_ECANCELED))
        return 0;
    __atomic_add_fetch(&cf->refs, 1, __ATOMIC_RELAXED);
    if (weft__inbox_post(cf->inbox, &cf->cancel_msg) != 0)
        cf_unref(cf); /* the loop is closed: its task is gone with it */
    return 1;
}

int weft_cfuture_done(const weft_cfuture *cf)
{
    return cf != NULL && cf_is_done(cf);
}

void weft_cfuture_free(weft_cfuture *cf)
{
    if (cf)
        cf_unref(cf);
}

/* ------------------------------------------------ add_done_callback */

typedef struct user_cb {
    cf_cb cb;
    weft_cfuture_cb fn;
    void *arg;
} user_cb;

static void user_cb_run(cf_cb *cb, weft_cfuture *cf)
{
    user_cb *u = (user_cb *)cb;
    u->fn(cf, u->arg);
    free(u);
}

int weft_cfuture_add_done_callback(weft_cfuture *cf, weft_cfuture_cb fn, void *arg)
{
    if (cf == NULL || fn == NULL)
        return -EINVAL;
    user_cb *u = weft__malloc(sizeof *u);
    if (u == NULL)
        return -ENOMEM;
    u->cb.fn = user_cb_run;
    u->fn = fn;
    u->arg = arg;
    pthread_mutex_lock(&cf->mu);
    if (!cf->done) {
        weft__list_push_back(&cf->cbs, &u->cb.link);
        pthread_mutex_unlock(&cf->mu);
        return 0;
    }
    pthread_mutex_unlock(&cf->mu);
    user_cb_run(&u->cb, cf);
    return 0;
}

/* ------------------------------------------------ await from a task */

typedef struct cf_waiter {
    cf_cb cb;            /* in cf->cbs until the future is done */
    weft__wake_msg wake; /* then posted to the awaiting task's loop */
    weft__wait w;
    weft__inbox *inbox; /* the awaiting loop's (it is held while we park) */
    weft_cfuture *cf;
    bool cancelled;
} cf_waiter;

/* Any thread: the future is done; wake the task on its own loop. The
 * waiter may be gone as soon as the post returns: touch nothing after. */
static void waiter_cb(cf_cb *cb, weft_cfuture *cf)
{
    (void)cf;
    cf_waiter *w = WEFT_CONTAINER_OF(cb, cf_waiter, cb);
    weft__inbox_post(w->inbox, &w->wake.msg);
}

/* The awaiting task is cancelled: unlink and cancel the future, as
 * asyncio's wrap_future does. If the wake-up is already on its way we must
 * let it arrive (it points into our waiter record). */
static bool waiter_cancel(weft__wait *wait)
{
    cf_waiter *w = WEFT_CONTAINER_OF(wait, cf_waiter, w);
    w->cancelled = true;
    pthread_mutex_lock(&w->cf->mu);
    bool linked = weft__link_linked(&w->cb.link);
    if (linked)
        weft__list_remove(&w->cb.link);
    pthread_mutex_unlock(&w->cf->mu);
    if (linked)
        weft_cfuture_cancel(w->cf);
    return linked;
}

int weft_cfuture_await(weft_cfuture *cf)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (cf == NULL)
        return -EINVAL;
    if (cf_is_done(cf))
        return cf->result;
    weft_loop *loop = weft__loop_current();
    WEFT__PARK_RECORD(cf_waiter, w); /* the slab's for a compact task */
    if (w == NULL)
        return -ENOMEM;
    *w = (cf_waiter){.cf = cf, .inbox = loop->inbox.box};
    w->cb.fn = waiter_cb;
    weft__wake_msg_init(&w->wake, loop->current);
    w->w = (weft__wait){.cancel = waiter_cancel, .what = "cfuture", .obj = cf};
    pthread_mutex_lock(&cf->mu);
    if (cf->done) {
        pthread_mutex_unlock(&cf->mu);
        return cf->result;
    }
    weft__list_push_back(&cf->cbs, &w->cb.link);
    pthread_mutex_unlock(&cf->mu);
    weft__loop_hold(loop);
    weft__park(&w->w);
    weft__loop_unhold(loop);
    return w->cancelled ? WEFT_ECANCELED : cf->result;
}
