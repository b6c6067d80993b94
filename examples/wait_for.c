/* asyncio.wait_for():
 *
 *   try:
 *       await asyncio.wait_for(long_running_task(), timeout=10)
 *   except TimeoutError:
 *       print('timeout!')
 *
 * On timeout the task is cancelled and waited for, then WEFT_ETIMEDOUT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

static double scale = 1.0;

static int long_running_task(void *arg)
{
    (void)arg;
    int rc = weft_sleep(30 * scale);
    if (rc == WEFT_ECANCELED)
        printf("long_running_task: cancelled, cleaning up\n");
    return rc;
}

static int main_task(void *arg)
{
    (void)arg;
    weft_task *task;
    int rc = weft_spawn(long_running_task, NULL, &task);
    if (rc != 0)
        return rc;
    rc = weft_wait_for(task, 10 * scale);
    if (rc == WEFT_ETIMEDOUT)
        printf("timeout!\n"); /* now we can do something else */
    weft_task_free(task);
    return rc == WEFT_ETIMEDOUT ? 0 : -1;
}

int main(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    scale = s ? atof(s) * 0.1 : 0.1;
    return weft_run(main_task, NULL) == 0 ? 0 : 1;
}
