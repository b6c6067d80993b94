/* handle: loop.call_soon / call_later / call_at. A handle is a callback in
 * the ready queue or the loop's timers. The loop holds one reference while it
 * is scheduled, the caller one if it asked for the handle. */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

enum { H_SCHEDULED, H_DONE, H_CANCELLED };

struct weft_handle {
    weft__runnable run; /* first: the ready queue links handles through it */
    weft__timer timer;
    weft__link link; /* in loop->handles while scheduled */
    weft_loop *loop;
    weft_cb cb;
    void *arg;
    uint8_t state;
    uint8_t refs;
};

static void handle_unref(weft_handle *h)
{
    if (--h->refs == 0)
        free(h);
}

static void handle_run(weft_handle *h)
{
    if (h->state == H_SCHEDULED) {
        h->state = H_DONE;
        weft__list_remove(&h->link);
        h->cb(h->arg);
    }
    handle_unref(h);
}

/* call_soon: the ready queue runs it. A closing loop cancelled every
 * handle first (weft__handles_close), so a drop only gives back the
 * queue's reference. */
static void handle_ready(weft__runnable *r, bool drop)
{
    (void)drop;
    handle_run((weft_handle *)r);
}

static void handle_timer_fired(weft__timer *timer)
{
    handle_run(WEFT_CONTAINER_OF(timer, weft_handle, timer));
}

/* A loop takes callbacks from its own thread, running or not. */
static int resolve_loop(weft_loop **loop)
{
    if (*loop == NULL)
        *loop = weft__loop_current();
    if (*loop == NULL)
        return WEFT_ENOTASK;
    if (!pthread_equal((*loop)->thread, pthread_self()))
        return WEFT_EFOREIGN;
    if (weft__loop_current() != NULL && weft__loop_current() != *loop)
        return WEFT_EFOREIGN;
    return 0;
}

static int schedule(weft_loop *loop, bool soon, uint64_t when, weft_cb cb, void *arg,
                    weft_handle **out)
{
    if (out)
        *out = NULL;
    if (cb == NULL)
        return -EINVAL;
    int rc = resolve_loop(&loop);
    if (rc != 0)
        return rc;
    if (loop->closing)
        return WEFT_ECLOSED;
    weft_handle *h = weft__malloc(sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    h->run.fn = handle_ready;
    h->loop = loop;
    h->cb = cb;
    h->arg = arg;
    h->state = H_SCHEDULED;
    h->refs = out ? 2 : 1;
    weft__timer_init(&h->timer, handle_timer_fired);
    if (soon)
        weft__ready_push(loop, &h->run);
    else
        weft__timer_start(loop, &h->timer, when);
    weft__list_push_back(&loop->handles, &h->link);
    if (out)
        *out = h;
    return 0;
}

int weft_call_soon(weft_loop *loop, weft_cb cb, void *arg, weft_handle **out)
{
    return schedule(loop, true, 0, cb, arg, out);
}

int weft_call_later(weft_loop *loop, double delay, weft_cb cb, void *arg, weft_handle **out)
{
    uint64_t when;
    if (weft__deadline_after(delay, &when) != 0)
        return -EINVAL;
    return schedule(loop, false, when, cb, arg, out);
}

int weft_call_at(weft_loop *loop, double when, weft_cb cb, void *arg, weft_handle **out)
{
    uint64_t deadline;
    if (weft__deadline_at(when, &deadline) != 0)
        return -EINVAL;
    return schedule(loop, false, deadline, cb, arg, out);
}

int weft_handle_cancel(weft_handle *h)
{
    if (h == NULL)
        return -EINVAL;
    if (h->state != H_SCHEDULED)
        return 0;
    int rc = resolve_loop(&h->loop);
    if (rc != 0)
        return rc;
    h->state = H_CANCELLED;
    weft__list_remove(&h->link);
    if (weft__timer_armed(&h->timer)) { /* disarmed: the loop's reference goes */
        weft__timer_stop(h->loop, &h->timer);
        handle_unref(h);
    }
    /* A call_soon handle stays in the ready queue, which drops it. */
    return 1;
}

void weft_handle_free(weft_handle *h)
{
    if (h)
        handle_unref(h);
}

/* The loop is closing: every handle still scheduled will never run. Those
 * in the ready queue are dropped by the queue's drain. */
void weft__handles_close(weft_loop *loop)
{
    weft__link *l;
    while ((l = weft__list_pop_front(&loop->handles)) != NULL) {
        weft_handle *h = WEFT_CONTAINER_OF(l, weft_handle, link);
        h->state = H_CANCELLED;
        if (weft__timer_armed(&h->timer)) {
            weft__timer_stop(loop, &h->timer);
            handle_unref(h);
        }
    }
}
