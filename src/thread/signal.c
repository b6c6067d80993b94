/* signal: loop.add_signal_handler as a wait (weft_signal_wait), and
 * asyncio.run's Ctrl-C: while weft_run runs on the main thread with
 * SIGINT at its default action, SIGINT cancels the main task and weft_run
 * returns WEFT_EINTERRUPTED once it has cleaned up. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "thread_internal.h"

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

/* ------------------------------------------------ Ctrl-C in weft_run */

typedef struct sigint_watch {
    uv_signal_t handle;
    weft_loop *loop;
    bool fired;
} sigint_watch;

static void sigint_cb(uv_signal_t *handle, int signum)
{
    (void)signum;
    sigint_watch *sw = handle->data;
    sw->fired = true;
    if (sw->loop->main_task)
        weft__task_cancel(sw->loop->main_task);
}

/* Only where asyncio.run does it: on the main thread, and only if nobody
 * has set a handler for SIGINT. Unreferenced: it keeps no loop alive. */
void *weft__sigint_install(weft_loop *loop)
{
    if (getpid() != (pid_t)syscall(SYS_gettid))
        return NULL;
    struct sigaction old;
    if (sigaction(SIGINT, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return NULL;
    sigint_watch *sw = weft__calloc(1, sizeof *sw);
    if (sw == NULL)
        return NULL;
    sw->loop = loop;
    sw->handle.data = sw;
    uv_signal_init(&loop->uv, &sw->handle);
    if (uv_signal_start(&sw->handle, sigint_cb, SIGINT) != 0) {
        uv_close((uv_handle_t *)&sw->handle, free_on_close);
        return NULL;
    }
    uv_unref((uv_handle_t *)&sw->handle);
    return sw;
}

int weft__sigint_remove(void *watch, int rc)
{
    sigint_watch *sw = watch;
    if (sw == NULL)
        return rc;
    bool fired = sw->fired;
    uv_signal_stop(&sw->handle); /* back to SIG_DFL */
    uv_close((uv_handle_t *)&sw->handle, free_on_close);
    return fired ? WEFT_EINTERRUPTED : rc;
}
