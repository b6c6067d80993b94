/* W7: does the runtime itself scale over the loops of one process? W3
 * (spawn + gather of trivial tasks) or W2 (ping-pong over two queues) runs
 * independently on every loop of a group of 1, then of LOOPS loops (one
 * pinned thread each); the aggregate throughput of LOOPS loops over one
 * loop's is printed. Nothing is shared between the loops but the process:
 * an allocator lock, a global counter or a false-shared line on the hot
 * path would show as a ratio well below LOOPS.
 *
 *   w7_scaling w3|w2|spin [N [LOOPS]]   N: tasks (w3, default 1000000) or
 *                         round trips (w2, default 1000000) per loop; spin:
 *                         the control, plain C arithmetic (also run after
 *                         w3 and w2, and printed beside them)
 * Prints "METRIC <ratio> x" (aggregate at LOOPS loops / at one loop). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

#define BATCH  10000
#define ROUNDS 3 /* best of */

static uint64_t n_per_loop;
static int (*kernel)(void *);

static int add(void *arg)
{
    uint64_t *v = arg;
    *v += 1;
    return 0;
}

/* W3 on this loop: n tasks in batches of BATCH. */
static int w3_kernel(void *arg)
{
    (void)arg;
    weft_task **tasks = malloc(BATCH * sizeof *tasks);
    uint64_t *vals = calloc(BATCH, sizeof *vals);
    int rc = tasks && vals ? 0 : -ENOMEM;
    for (uint64_t base = 0; base < n_per_loop && rc == 0; base += BATCH) {
        size_t n = 0;
        for (; n < BATCH && rc == 0; n++)
            rc = weft_spawn(add, &vals[n], &tasks[n]);
        if (rc != 0)
            n--;
        if (rc == 0)
            rc = weft_gather(tasks, n, 0);
        for (size_t i = 0; i < n; i++)
            weft_task_free(tasks[i]);
    }
    free(tasks);
    free(vals);
    return rc;
}

typedef struct pingpong {
    weft_queue *ping, *pong;
} pingpong;

static int ponger(void *arg)
{
    pingpong *p = arg;
    for (;;) {
        void *item;
        int rc = weft_queue_get(p->ping, &item);
        if (rc == 0)
            rc = weft_queue_put(p->pong, item);
        if (rc != 0)
            return rc == WEFT_ESHUTDOWN ? 0 : rc;
    }
}

/* W2 on this loop: n round trips between two tasks. */
static int w2_kernel(void *arg)
{
    (void)arg;
    pingpong p;
    int rc = weft_queue_new(0, &p.ping);
    if (rc != 0)
        return rc;
    if ((rc = weft_queue_new(0, &p.pong)) != 0) {
        weft_queue_free(p.ping);
        return rc;
    }
    weft_task *t;
    rc = weft_spawn(ponger, &p, &t);
    for (uint64_t i = 0; i < n_per_loop && rc == 0; i++) {
        void *item;
        rc = weft_queue_put(p.ping, (void *)(uintptr_t)(i + 1));
        if (rc == 0)
            rc = weft_queue_get(p.pong, &item);
    }
    if (t != NULL) {
        weft_queue_shutdown(p.ping, 1);
        int prc = weft_await(t);
        rc = rc != 0 ? rc : prc;
        weft_task_free(t);
    }
    weft_queue_free(p.pong);
    weft_queue_free(p.ping);
    return rc;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The control: plain C arithmetic, no weft call, in the same task shape.
 * Its ratio is what the machine gives two threads of this process now
 * (another program busy on the cores lowers it); weft's ratio cannot
 * beat it. */
static int spin_kernel(void *arg)
{
    (void)arg;
    volatile uint64_t x = 1;
    for (uint64_t i = 0; i < n_per_loop * 20; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return 0;
}

/* Operations per second of `loops` loops, each doing the whole kernel
 * (the best of ROUNDS); *per_cpu: operations per CPU second in that round,
 * which tells a runtime that does not scale (it falls) from a machine that
 * did not give us the cores (it holds). */
static double throughput(int loops, double *per_cpu)
{
    weft_loop_group_opts o = {.loops = loops, .pin_threads = 1, .block_threshold = 60};
    weft_loop_group *g;
    int rc = weft_loop_group_new(&o, &g);
    double best = 0;
    for (int r = 0; r < ROUNDS && rc == 0; r++) {
        double t0 = weft_time(), c0 = cpu_seconds();
        rc = weft_loop_group_run(g, kernel, NULL);
        double ops = (double)n_per_loop * loops;
        double rate = ops / (weft_time() - t0);
        if (rate > best) {
            best = rate;
            *per_cpu = ops / (cpu_seconds() - c0);
        }
    }
    weft_loop_group_free(g);
    if (rc != 0) {
        fprintf(stderr, "w7: %s: %s\n", weft_err_name(rc), weft_strerror(rc));
        exit(1);
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "w3";
    n_per_loop = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    int loops = argc > 3 ? atoi(argv[3]) : 2;
    if (strcmp(which, "w3") == 0 && n_per_loop % BATCH == 0)
        kernel = w3_kernel;
    else if (strcmp(which, "w2") == 0)
        kernel = w2_kernel;
    else if (strcmp(which, "spin") == 0)
        kernel = spin_kernel;
    if (kernel == NULL || n_per_loop == 0 || loops < 1) {
        fprintf(stderr, "usage: %s w3|w2|spin [N [LOOPS]] (w3: N a multiple of %d)\n", argv[0],
                BATCH);
        return 2;
    }
    double cpu_one = 0, cpu_many = 0;
    double one = throughput(1, &cpu_one), many = throughput(loops, &cpu_many);
    printf("W7 %s: 1 loop %.0f ops/s, %d loops %.0f ops/s (%.0f per loop); per CPU second: "
           "%.0f and %.0f (%.2fx)\n",
           which, one, loops, many, many / loops, cpu_one, cpu_many, cpu_many / cpu_one);
    if (kernel != spin_kernel) { /* the control, right after, for comparison */
        int (*measured)(void *) = kernel;
        kernel = spin_kernel;
        double c1, c2, s1 = throughput(1, &c1), s2 = throughput(loops, &c2);
        printf(
            "W7 control (plain C loop, no weft): %.2fx at %d loops: what the machine gives now\n",
            s2 / s1, loops);
        kernel = measured;
    }
    printf("METRIC %.3f x\n", many / one);
    return 0;
}
