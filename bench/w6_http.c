/* W6: 1,000 GET requests of a small static file at concurrency 100 against
 * a local server (bench/w6.sh starts nginx), timed end to end: 100 tasks
 * share one session and take requests from a common counter.
 *   w6_http URL [REQUESTS] [CONCURRENCY]
 * Prints "METRIC <requests/s> req/s" (the peers' format). */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

typedef struct bench {
    weft_http_session *session;
    const char *url;
    int left, done, errors;
    size_t bytes;
} bench;

static int worker(void *arg)
{
    bench *b = arg;
    while (b->left > 0) {
        b->left--;
        weft_http_response *r = NULL;
        int rc = weft_http_get(b->session, b->url, &r);
        if (rc == 0 && weft_http_response_status(r) == 200) {
            size_t len;
            weft_http_response_body(r, &len);
            b->bytes += len;
            b->done++;
        } else {
            b->errors++;
        }
        weft_http_response_free(r);
    }
    return 0;
}

typedef struct params {
    const char *url;
    int n, c;
    double elapsed;
    bench b;
    pthread_t thread;
    pthread_barrier_t *start; /* every loop starts its clock together */
} params;

static int bench_main(void *arg)
{
    params *p = arg;
    bench *b = &p->b;
    b->url = p->url;
    b->left = p->n;
    int rc = weft_http_session_new(NULL, &b->session);
    if (rc != 0)
        return rc;
    weft_task **t = calloc((size_t)p->c, sizeof *t);
    if (p->start)
        pthread_barrier_wait(p->start);
    double t0 = weft_time();
    int n = 0;
    for (; n < p->c && rc == 0; n++)
        if ((rc = weft_spawn(worker, b, &t[n])) != 0)
            break;
    weft_gather(t, (size_t)n, WEFT_RETURN_EXCEPTIONS);
    p->elapsed = weft_time() - t0;
    for (int i = 0; i < n; i++)
        weft_task_free(t[i]);
    free(t);
    weft_http_session_free(b->session);
    return 0;
}

static void *loop_thread(void *arg)
{
    params *p = arg;
    if (weft_run(bench_main, p) != 0)
        p->b.errors++;
    return NULL;
}

/* One loop per core, as a weft service would run (Go's client uses every
 * core too): W6_LOOPS loops (default: the number of cores), each with its
 * own session and its share of the requests and of the concurrency. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [REQUESTS] [CONCURRENCY]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int n = argc > 2 ? atoi(argv[2]) : 1000, c = argc > 3 ? atoi(argv[3]) : 100;
    long loops = getenv("W6_LOOPS") ? atol(getenv("W6_LOOPS")) : sysconf(_SC_NPROCESSORS_ONLN);
    if (loops < 1 || loops > 64 || loops > c || n <= 0 || c <= 0) {
        fprintf(stderr, "w6_http: bad requests/concurrency/W6_LOOPS\n");
        return 2;
    }
    params p[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)loops);
    for (long i = 0; i < loops; i++) {
        p[i] = (params){.url = argv[1],
                        .n = n / (int)loops + (i < n % loops),
                        .c = c / (int)loops + (i < c % loops),
                        .start = &start};
        pthread_create(&p[i].thread, NULL, loop_thread, &p[i]);
    }
    int done = 0, errors = 0;
    size_t bytes = 0;
    double elapsed = 0;
    for (long i = 0; i < loops; i++) {
        pthread_join(p[i].thread, NULL);
        done += p[i].b.done;
        errors += p[i].b.errors;
        bytes += p[i].b.bytes;
        if (p[i].elapsed > elapsed)
            elapsed = p[i].elapsed;
    }
    pthread_barrier_destroy(&start);
    if (errors || done != n) {
        fprintf(stderr, "w6_http: %d ok, %d errors\n", done, errors);
        return 1;
    }
    printf("INFO %d requests, concurrency %d, %ld loops, %zu body bytes, %.3f s\n", n, c, loops,
           bytes, elapsed);
    printf("METRIC %.0f req/s\n", n / elapsed);
    return 0;
}
