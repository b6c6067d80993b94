/* sleep: asyncio.sleep. A sleeping task is a timer in the loop's wheel and
 * nothing else; weft_sleep(0) puts the task at the back of the ready queue
 * so that every other ready task runs first. */
#include <errno.h>
#include <math.h>

#include "core/core.h"

typedef struct sleeper {
    weft__timer timer;
    weft__wait w;
    weft_task *task;
} sleeper;

static void sleeper_wake(weft__timer *timer)
{
    sleeper *s = WEFT_CONTAINER_OF(timer, sleeper, timer);
    weft__wake(s->task, 0);
}

static bool sleeper_cancel(weft__wait *w)
{
    sleeper *s = WEFT_CONTAINER_OF(w, sleeper, w);
    weft__timer_stop(s->task->loop, &s->timer);
    return true;
}

static bool yield_cancel(weft__wait *w)
{
    (void)w;
    return true;
}

int weft_sleep(double seconds)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (isnan(seconds))
        return -EINVAL;
    weft_task *task = weft__task_current();
    if (seconds <= 0)
        return weft__task_yield(task);
    sleeper s = {.task = task};
    uint64_t deadline;
    weft__deadline_after(seconds, &deadline);
    if (deadline == UINT64_MAX) { /* sleep forever: only a cancel ends it */
        s.w.cancel = yield_cancel;
        s.w.what = "sleep forever";
        s.w.kind = WEFT__WAIT_SLEEP;
        return weft__park(&s.w);
    }
    weft__timer_init(&s.timer, sleeper_wake);
    weft__timer_start(task->loop, &s.timer, deadline);
    s.w.cancel = sleeper_cancel;
    s.w.what = "sleep";
    s.w.kind = WEFT__WAIT_SLEEP;
    s.w.obj = &s.timer;
    return weft__park(&s.w);
}
