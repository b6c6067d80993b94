/* asyncio.timeout(): a scope with a deadline.
 *
 *   async with asyncio.timeout(10):
 *       await long_running_task()
 *
 * Inside the block the task's wait returns WEFT_ECANCELED when the deadline
 * passes; the end of the block turns it into WEFT_ETIMEDOUT in rc. The block
 * ends its scope however it is left (a return, a break), so no later wait
 * of the task can be cut short by a scope left open. */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

static double scale = 1.0;

static int long_running_task(void)
{
    return weft_sleep(30 * scale); /* stands for a slow partner API */
}

static int main_task(void *arg)
{
    (void)arg;
    int rc = 0;
    WEFT_TIMEOUT(10 * scale, rc) { /* async with asyncio.timeout(10): */
        rc = long_running_task();  /*     await long_running_task()   */
    }
    printf("long_running_task under a %.1f s timeout: %s\n", 10 * scale, weft_err_name(rc));
    return rc == WEFT_ETIMEDOUT ? 0 : -1;
}

int main(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    scale = s ? atof(s) * 0.1 : 0.1; /* the talk says 10 s; 1 s is enough to see it */
    return weft_run(main_task, NULL) == 0 ? 0 : 1;
}
