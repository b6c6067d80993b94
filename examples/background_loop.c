/* background_loop: the talk's production pattern. A loop runs in a
 * background thread (start_background_event_loop); synchronous code (a
 * Celery worker, here plain threads) calls async functions on it through
 * @async_task, which is weft_call_sync: it blocks the calling thread, not
 * the loop, and returns the function's code — errors come back too.
 *
 *   Python:  future = asyncio.run_coroutine_threadsafe(fetch(), loop)
 *            return future.result()
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "weft.h"

static weft_loop_thread *background;
static weft_loop *loop; /* the talk's local.loop */

typedef struct fetch_args {
    int attempt_fails; /* how many attempts fail before one succeeds */
    int attempts;
} fetch_args;

/* The talk's _fetch: up to three tries, 50 ms apart. */
static int fetch(void *arg)
{
    fetch_args *a = arg;
    for (a->attempts = 1; a->attempts <= 3; a->attempts++) {
        if (a->attempts > a->attempt_fails)
            return 0; /* PartnerApi.ping() answered */
        int rc = weft_sleep(0.05);
        if (rc != 0)
            return rc;
    }
    return -ETIMEDOUT; /* "Failed multiple times" */
}

/* A synchronous worker thread: the talk's ingest(). */
static void *ingest(void *arg)
{
    fetch_args *a = arg;
    int rc = weft_call_sync(loop, fetch, a); /* @async_task */
    printf("ingest: %s after %d attempt(s)\n", rc == 0 ? "Done" : weft_strerror(rc),
           a->attempts > 3 ? 3 : a->attempts);
    return NULL;
}

int main(void)
{
    if (weft_loop_thread_start(&background) != 0)
        return 1;
    loop = weft_loop_thread_loop(background);
    fetch_args args[3] = {{.attempt_fails = 0}, {.attempt_fails = 2}, {.attempt_fails = 5}};
    pthread_t workers[3];
    double t0 = weft_time();
    for (int i = 0; i < 3; i++)
        pthread_create(&workers[i], NULL, ingest, &args[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(workers[i], NULL);
    printf("3 workers served concurrently by one loop in %.2f s\n", weft_time() - t0);
    weft_loop_thread_free(background);
    return args[0].attempts == 1 && args[1].attempts == 3 ? 0 : 1;
}
