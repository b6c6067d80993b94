/* The talk's asyncio program: two tasks raise a shared counter to 10, one
 * step per 1 s sleep. Sequentially that takes 10 s; as two tasks on one loop
 * it takes 5 s, because one task's sleep is the other's turn.
 *
 *   async def my_func():
 *       while times < 10:
 *           times += 1
 *           await asyncio.sleep(1)
 *   await asyncio.gather(my_func(), my_func())
 *
 * WEFT_EXAMPLE_SCALE=0.1 makes every sleep ten times shorter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

static int times;
static double step = 1.0;

static int my_func(void *arg)
{
    const char *name = arg;
    while (times < 10) {
        times += 1; /* nothing can interleave between the check and this */
        int rc = weft_sleep(step);
        if (rc != 0)
            return rc;
        printf("Number of times: %d\n    Added by: %s\n", times, name);
    }
    return 0;
}

static int sequential(void *arg)
{
    (void)arg;
    return my_func("sequential");
}

static int concurrent(void *arg)
{
    (void)arg;
    weft_task *t[2] = {NULL, NULL};
    int rc = weft_spawn(my_func, "task-1", &t[0]);
    if (rc == 0)
        rc = weft_spawn(my_func, "task-2", &t[1]);
    if (rc == 0)
        rc = weft_gather(t, 2, 0);
    else
        weft_cancel(t[0]); /* cancelled before it starts: it never runs */
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    return rc;
}

static double timed(weft_fn fn, int *rc)
{
    times = 0;
    double t0 = weft_time();
    *rc = weft_run(fn, NULL);
    return weft_time() - t0;
}

int main(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    step = s ? atof(s) : 1.0;
    int rc1, rc2;
    double seq = timed(sequential, &rc1);
    int seq_times = times;
    double con = timed(concurrent, &rc2);
    printf("sequential: counter=%d in %.2f s\n", seq_times, seq);
    printf("two tasks:  counter=%d in %.2f s (the talk: 10.03 s and 5.01 s)\n", times, con);
    if (rc1 != 0 || rc2 != 0 || seq_times != 10 || times != 10)
        return 1;
    return con < seq * 0.75 ? 0 : 1; /* about half; generous for a busy machine */
}
