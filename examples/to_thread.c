/* to_thread: asyncio.to_thread without a GIL. Two CPU-bound jobs of about
 * a second each run on the default executor's threads while the loop stays
 * free (a ticker keeps ticking); on two cores they end in about a second.
 *
 *   Python:  await asyncio.gather(asyncio.to_thread(work), asyncio.to_thread(work))
 */
#include <stdio.h>
#include <time.h>

#include "weft.h"

/* Plain blocking code: about `seconds` of CPU time. */
static int work(void *arg)
{
    double seconds = *(double *)arg;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* pool threads live on: count from now */
    double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + seconds;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    } while ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 < end);
    return 0;
}

static int job(void *arg)
{
    return weft_to_thread(work, arg);
}

static int ticker(void *arg)
{
    int *ticks = arg;
    while (weft_sleep(0.1) == 0)
        ++*ticks;
    return 0;
}

static int amain(void *arg)
{
    (void)arg;
    double seconds = 1.0;
    int ticks = 0;
    weft_task *tick = NULL, *jobs[2] = {NULL, NULL};
    int rc = weft_spawn(ticker, &ticks, &tick);
    if (rc == 0)
        rc = weft_spawn(job, &seconds, &jobs[0]);
    if (rc == 0)
        rc = weft_spawn(job, &seconds, &jobs[1]);
    double t0 = weft_time();
    if (rc == 0) {
        rc = weft_gather(jobs, 2, 0);
        printf("two %.0f s jobs took %.2f s; the loop ticked %d times meanwhile\n", seconds,
               weft_time() - t0, ticks);
    } else if (jobs[0] != NULL) {
        weft_cancel(jobs[0]); /* cancelled before it starts: it never runs */
    }
    if (tick != NULL) {
        weft_cancel(tick);
        weft_await(tick);
    }
    weft_task_free(tick);
    weft_task_free(jobs[0]);
    weft_task_free(jobs[1]);
    return rc;
}

int main(void)
{
    int rc = weft_run(amain, NULL);
    if (rc != 0)
        fprintf(stderr, "to_thread: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
