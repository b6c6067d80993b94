/* W5: a plain OS thread submits 100,000 jobs one at a time to a loop
 * running in another thread and blocks on each result (asyncio's
 * run_coroutine_threadsafe(...).result()). Prints
 *   w5 100000 <us_per_roundtrip> us/roundtrip
 * Options: -n N jobs; -s NS: spin NS nanoseconds in weft_cfuture_result
 * before blocking (default: the library's; 0 blocks at once). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "thread/thread.h"
#include "weft.h"

static int job(void *arg)
{
    return (int)(intptr_t)arg;
}

int main(int argc, char **argv)
{
    long n = 100000;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:")) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 's')
            weft__cfuture_spin_ns = atol(optarg);
        else {
            fprintf(stderr, "usage: %s [-n jobs] [-s spin_ns]\n", argv[0]);
            return 2;
        }
    }
    if (optind < argc) /* the peers take the job count as their argument */
        n = atol(argv[optind]);
    if (n <= 0) {
        fprintf(stderr, "w5_threadsafe: the job count must be positive\n");
        return 2;
    }
    weft_loop_thread *lt;
    if (weft_loop_thread_start(&lt) != 0)
        return 1;
    weft_loop *loop = weft_loop_thread_loop(lt);
    for (long i = 0; i < 1000; i++) /* warm up: stacks, pages */
        if (weft_call_sync(weft_loop_thread_loop(lt), job, (void *)1) < 0)
            return 1;
    double t0 = weft_time();
    for (long i = 0; i < n; i++) {
        weft_cfuture *cf;
        if (weft_submit(loop, job, (void *)(intptr_t)(i & 0xffff), &cf) != 0)
            return 1;
        int rc = weft_cfuture_result(cf, WEFT_FOREVER);
        weft_cfuture_free(cf);
        if (rc != (int)(i & 0xffff)) {
            fprintf(stderr, "bad result %d at %ld\n", rc, i);
            return 1;
        }
    }
    double dt = weft_time() - t0;
    weft_loop_thread_free(lt);
    printf("METRIC %.2f us/roundtrip\n", dt * 1e6 / (double)n); /* the peers' format */
    return 0;
}
