/* pipeline: a producer, two workers and a printer joined by queues
 * (asyncio.Queue's producer/consumer pattern). The work queue holds at most
 * 3 jobs: once it is full the fast producer's put waits until a worker takes
 * a job, so the producer is slowed to the workers' pace (backpressure),
 * and the output shows how long each put waited. Once the producer is done,
 * queue_join waits until every job is done, then shutdown stops the rest. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

#define JOBS         10
#define WORK_SECONDS 0.05

typedef struct pipeline {
    weft_queue *work;    /* producer -> workers, bounded: the backpressure */
    weft_queue *results; /* workers -> printer, unbounded */
    double t0;
} pipeline;

static double since(const pipeline *p)
{
    return weft_time() - p->t0;
}

static int producer(void *arg)
{
    pipeline *p = arg;
    for (intptr_t job = 1; job <= JOBS; job++) {
        bool full = weft_queue_full(p->work);
        if (full)
            printf("%5.3f  producer  queue full, job %d waits\n", since(p), (int)job);
        double before = weft_time();
        int rc = weft_queue_put(p->work, (void *)job);
        if (rc != 0)
            return rc;
        printf("%5.3f  producer  put job %2d  queue %zu/%zu", since(p), (int)job,
               weft_queue_size(p->work), weft_queue_maxsize(p->work));
        if (full)
            printf("  (after waiting %.0f ms)", (weft_time() - before) * 1e3);
        printf("\n");
    }
    printf("%5.3f  producer  done\n", since(p));
    return 0;
}

static int worker(void *arg)
{
    pipeline *p = arg;
    for (;;) {
        void *job;
        int rc = weft_queue_get(p->work, &job);
        if (rc == WEFT_ESHUTDOWN)
            return 0; /* shut down and drained */
        if (rc != 0)
            return rc;
        if ((rc = weft_sleep(WORK_SECONDS)) != 0) /* the work */
            return rc;
        intptr_t square = (intptr_t)job * (intptr_t)job;
        if ((rc = weft_queue_put(p->results, (void *)square)) != 0)
            return rc;
        weft_queue_task_done(p->work);
    }
}

static int printer(void *arg)
{
    pipeline *p = arg;
    for (;;) {
        void *result;
        int rc = weft_queue_get(p->results, &result);
        if (rc == WEFT_ESHUTDOWN)
            return 0;
        if (rc != 0)
            return rc;
        printf("%5.3f  printer   result %3d\n", since(p), (int)(intptr_t)result);
    }
}

static int run(void *arg)
{
    (void)arg;
    pipeline p = {.t0 = weft_time()};
    int rc = weft_queue_new(3, &p.work);
    if (rc == 0)
        rc = weft_queue_new(0, &p.results);
    if (rc != 0) {
        weft_queue_free(p.work);
        return rc;
    }
    weft_group *group;
    if ((rc = weft_group_new(&group)) != 0)
        goto out;
    weft_task *prod = NULL; /* our handle of one child; the group keeps the rest */
    rc = weft_group_spawn(group, producer, &p, &prod);
    if (rc == 0)
        rc = weft_group_spawn(group, worker, &p, NULL);
    if (rc == 0)
        rc = weft_group_spawn(group, worker, &p, NULL);
    if (rc == 0)
        rc = weft_group_spawn(group, printer, &p, NULL);
    if (rc == 0)
        rc = weft_await(prod); /* every job put */
    weft_task_free(prod);
    if (rc == 0)
        rc = weft_queue_join(p.work); /* every job taken and done */
    printf("%5.3f  main      all %d jobs done, shutting the queues down\n", since(&p), JOBS);
    weft_queue_shutdown(p.work, 0);
    weft_queue_shutdown(p.results, 0);
    int grc = weft_group_wait(group);
    weft_group_free(group);
    if (rc == 0)
        rc = grc;
out:
    weft_queue_free(p.work);
    weft_queue_free(p.results);
    return rc;
}

int main(void)
{
    int rc = weft_run(run, NULL);
    if (rc != 0) {
        fprintf(stderr, "pipeline: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
