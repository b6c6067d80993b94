/* The talk's counter program (examples/counter.c) spread over the loops of
 * a group: every loop runs two tasks that raise one shared counter to 10,
 * one step per 1 s sleep. One loop with two tasks takes 5 s; N loops with
 * two tasks each take 10 / 2N s, rounded up. The counter is now shared
 * between threads, so a step is claimed with an atomic add: on one loop
 * nothing can interleave between the check and the increment, on several
 * the loops really run at once.
 *
 * WEFT_EXAMPLE_SCALE=0.1 makes every sleep ten times shorter. */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static int times; /* shared by every loop: atomic */
static double step = 1.0;

static int my_func(void *arg)
{
    char name[32];
    snprintf(name, sizeof name, "loop %d, %s", weft_loop_group_index(), (const char *)arg);
    for (;;) {
        int mine = __atomic_add_fetch(&times, 1, __ATOMIC_RELAXED); /* times += 1 */
        if (mine > 10)
            return 0; /* the others got there first */
        int rc = weft_sleep(step);
        if (rc != 0)
            return rc;
        printf("Number of times: %d\n    Added by: %s\n", mine, name);
    }
}

/* Each loop's main: asyncio.gather(my_func(), my_func()). */
static int main_task(void *arg)
{
    (void)arg;
    weft_task *t[2] = {NULL, NULL};
    int rc = weft_spawn(my_func, "task-1", &t[0]);
    if (rc == 0)
        rc = weft_spawn(my_func, "task-2", &t[1]);
    if (rc == 0)
        rc = weft_gather(t, 2, 0);
    else
        weft_cancel(t[0]);
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    return rc;
}

int main(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    step = s ? atof(s) : 1.0;
    weft_loop_group_opts opts = {.loops = 2};
    double t0 = weft_time();
    int rc = weft_run_loops(main_task, NULL, &opts); /* asyncio.run on two cores */
    double took = weft_time() - t0;
    int counted = times > 10 ? 10 : times;
    printf("2 loops x 2 tasks: counter=%d in %.2f s (one loop: 5 s, sequential: 10 s)\n", counted,
           took / step);
    return rc == 0 && counted == 10 && took < 4.5 * step ? 0 : 1; /* 3 steps; generous */
}
