/* signal: loop.add_signal_handler as a wait (weft_signal_wait) and as a
 * handler. asyncio.run's Ctrl-C is the runner's own (core/sigint.c). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "thread/thread.h"

/* The handle is closed asynchronously: the waiter lives on the heap. */
typedef struct sig_waiter {
    uv_signal_t handle;
    weft__wait w;
    weft_task *task;
    bool parked;
} sig_waiter;

static void free_on_close(uv_handle_t *handle)
{
    free(handle->data);
}

static void sig_waiter_cb(uv_signal_t *handle, int signum)
{
    sig_waiter *s = handle->data;
    uv_signal_stop(handle);
    if (s->parked) {
        s->parked = false;
        weft__wake(s->task, signum);
    }
}

static bool sig_waiter_cancel(weft__wait *w)
{
    sig_waiter *s = WEFT_CONTAINER_OF(w, sig_waiter, w);
    uv_signal_stop(&s->handle);
    s->parked = false;
    return true;
}

static bool valid_signal(int signum)
{
    return signum > 0 && signum < NSIG && signum != SIGKILL && signum != SIGSTOP;
}

int weft_signal_wait(int signum)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (!valid_signal(signum))
        return -EINVAL;
    weft_loop *loop = weft__loop_current();
    sig_waiter *s = weft__calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->task = loop->current;
    s->handle.data = s;
    uv_signal_init(&loop->uv, &s->handle);
    rc = uv_signal_start(&s->handle, sig_waiter_cb, signum);
    if (rc == 0) {
        s->w = (weft__wait){.cancel = sig_waiter_cancel, .what = "signal", .obj = s};
        s->parked = true;
        rc = weft__park(&s->w);
    }
    uv_close((uv_handle_t *)&s->handle, free_on_close);
    return rc;
}

/* ------------------------------------------------ the handler form */

struct weft_signal_handler {
    uv_signal_t handle; /* first: freed from its close callback */
    weft_signal_cb cb;
    void *arg;
};

static void handler_cb(uv_signal_t *handle, int signum)
{
    weft_signal_handler *h = handle->data;
    h->cb(h->arg, signum);
}

int weft_signal_handle(weft_loop *loop, int signum, weft_signal_cb cb, void *arg,
                       weft_signal_handler **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (cb == NULL || !valid_signal(signum))
        return -EINVAL;
    if (loop == NULL && (loop = weft__loop_current()) == NULL)
        return WEFT_ENOTASK;
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    weft_signal_handler *h = weft__malloc(sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    h->cb = cb;
    h->arg = arg;
    h->handle.data = h;
    int rc = uv_signal_init(&loop->uv, &h->handle);
    if (rc == 0 && (rc = uv_signal_start(&h->handle, handler_cb, signum)) != 0) {
        uv_close((uv_handle_t *)&h->handle, free_on_close);
        return rc;
    }
    if (rc != 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void weft_signal_handler_free(weft_signal_handler *h)
{
    if (h == NULL)
        return;
    /* A loop that closed first has closed the handle already. */
    if (uv_is_closing((uv_handle_t *)&h->handle))
        free(h);
    else
        uv_close((uv_handle_t *)&h->handle, free_on_close);
}
