/* debug_cost: what the always-on debugging aids cost on the two hot paths
 * they touch — a task switch (two tasks yielding to each other with
 * weft_sleep(0)) and a spawn (spawn + gather in batches). Prints ns per
 * yield and ns per task, the best of several rounds (the machine is shared).
 *
 *   bench/debug_cost [yields] [tasks]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <weft.h>

static long n_yields = 1000000;
static long n_tasks = 1000000;
#define BATCH 10000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < n_yields; i++)
        weft_sleep(0);
    return 0;
}

static int pingpong(void *arg)
{
    double *out = arg;
    weft_task *t[2] = {NULL, NULL};
    int rc = weft_spawn(yielder, NULL, &t[0]);
    if (rc == 0)
        rc = weft_spawn(yielder, NULL, &t[1]);
    if (rc != 0) {
        weft_cancel(t[0]); /* cancelled before it starts: it never runs */
        weft_task_free(t[0]);
        return rc;
    }
    double t0 = now();
    rc = weft_gather(t, 2, 0);
    *out = (now() - t0) * 1e9 / (2.0 * n_yields);
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    return rc;
}

static int nop(void *arg)
{
    (void)arg;
    return 0;
}

static int spawn_gather(void *arg)
{
    double *out = arg;
    static weft_task *tasks[BATCH];
    double t0 = now();
    for (long done = 0; done < n_tasks; done += BATCH) {
        int rc = 0, n = 0;
        for (; n < BATCH && rc == 0; n++)
            if ((rc = weft_spawn(nop, NULL, &tasks[n])) != 0)
                break;
        if (rc == 0)
            rc = weft_gather(tasks, BATCH, 0);
        for (int i = 0; i < n; i++)
            weft_task_free(tasks[i]); /* nop cannot outlive anything it uses */
        if (rc != 0)
            return rc;
    }
    *out = (now() - t0) * 1e9 / n_tasks;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_yields = atol(argv[1]);
    if (argc > 2)
        n_tasks = atol(argv[2]);
    double best_y = 1e9, best_s = 1e9, v;
    for (int round = 0; round < 5; round++) {
        if (weft_run(pingpong, &v) != 0)
            return 1;
        if (v < best_y)
            best_y = v;
        if (weft_run(spawn_gather, &v) != 0)
            return 1;
        if (v < best_s)
            best_s = v;
    }
    printf("yield ping-pong: %.1f ns per yield (best of 5, %ld yields per task)\n", best_y,
           n_yields);
    printf("spawn+gather:    %.1f ns per task (best of 5, %ld tasks, batches of %d)\n", best_s,
           n_tasks, BATCH);
    return 0;
}
