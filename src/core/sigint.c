/* sigint: asyncio.run's Ctrl-C. While weft_run runs on the main thread
 * with SIGINT at its default action, SIGINT cancels the main task and
 * weft_run returns WEFT_EINTERRUPTED once it has cleaned up. The runner's
 * own business, so it lives in core beside runner.c. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "core/core.h"

static void free_watch(uv_handle_t *handle)
{
    free(handle->data);
}

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
    if (sw->loop->runner.main_task)
        weft__task_cancel(sw->loop->runner.main_task);
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
        uv_close((uv_handle_t *)&sw->handle, free_watch);
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
    uv_close((uv_handle_t *)&sw->handle, free_watch);
    return fired ? WEFT_EINTERRUPTED : rc;
}
