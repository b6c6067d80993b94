/* W3: TOTAL trivial tasks (each returns a+b through its argument), spawned
 * and gathered in batches of BATCH with weft_gather, then each handle freed;
 * as in ../shared/peers (Tokio awaits every JoinHandle, Go a WaitGroup).
 * Prints "METRIC <ns> ns/task".
 *
 *   w3_spawn [TOTAL [BATCH]]      defaults 1000000 10000 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

typedef struct add_job {
    uint64_t a, b, sum;
} add_job;

typedef struct w3 {
    uint64_t total, batch;
    double ns_per_task;
    uint64_t sum;
} w3;

static int add(void *arg)
{
    add_job *j = arg;
    j->sum = j->a + j->b;
    return 0;
}

static int w3_main(void *arg)
{
    w3 *b = arg;
    weft_task **tasks = malloc(b->batch * sizeof *tasks);
    add_job *jobs = malloc(b->batch * sizeof *jobs);
    int rc = 0;
    if (tasks == NULL || jobs == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    double t0 = weft_time();
    for (uint64_t base = 0; base < b->total && rc == 0; base += b->batch) {
        size_t n = 0;
        for (; n < b->batch; n++) {
            jobs[n] = (add_job){.a = base + n, .b = 1};
            if ((rc = weft_spawn(add, &jobs[n], &tasks[n])) != 0)
                break;
        }
        if (rc == 0)
            rc = weft_gather(tasks, n, 0);
        for (size_t i = 0; i < n; i++) {
            b->sum += jobs[i].sum;
            weft_task_free(tasks[i]);
        }
    }
    b->ns_per_task = (weft_time() - t0) * 1e9 / (double)b->total;
out:
    free(tasks);
    free(jobs);
    return rc;
}

int main(int argc, char **argv)
{
    w3 b = {.total = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000,
            .batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000};
    if (b.total == 0 || b.batch == 0 || b.total % b.batch != 0) {
        fprintf(stderr, "usage: %s [TOTAL [BATCH]] (TOTAL a multiple of BATCH)\n", argv[0]);
        return 2;
    }
    int rc = weft_run(w3_main, &b);
    if (rc != 0) {
        fprintf(stderr, "w3: %s: %s\n", weft_err_name(rc), weft_strerror(rc));
        return 1;
    }
    if (b.sum != b.total * (b.total - 1) / 2 + b.total) {
        fprintf(stderr, "w3: bad sum %llu\n", (unsigned long long)b.sum);
        return 1;
    }
    printf("METRIC %.1f ns/task\n", b.ns_per_task);
    return 0;
}
