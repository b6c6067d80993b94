/* sleep: asyncio.sleep. A sleeping task is a timer in the loop's wheel and
 * nothing else; weft_sleep(0) puts the task at the back of the ready queue
 * so that every other ready task runs first. */
#include <errno.h>
#include <math.h>

#include "core/core.h"

/* Nothing of a sleep is on the task's stack (compact tasks): its timer is
 * the task's own deadline timer (weft__park_until), and its wait record is
 * the same for every sleep. Cancelling one wakes it at once. */
static weft__wait sleep_wait = {.cancel = NULL, .what = "sleep", .kind = WEFT__WAIT_SLEEP};

static bool yield_cancel(weft__wait *w)
{
    (void)w;
    return true;
}
static weft__wait sleep_forever_wait = {
    .cancel = yield_cancel, .what = "sleep forever", .kind = WEFT__WAIT_SLEEP};

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
    uint64_t deadline;
    weft__deadline_after(seconds, &deadline);
    if (deadline == UINT64_MAX) /* sleep forever: only a cancel ends it */
        return weft__park(&sleep_forever_wait);
    rc = weft__park_until(&sleep_wait, deadline);
    return rc == WEFT_ETIMEDOUT ? 0 : rc;
}
