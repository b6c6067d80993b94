/* W6: 1,000 GET requests of a small static file at concurrency 100 against
 * a local server (bench/w6.sh starts nginx), timed end to end: 100 tasks
 * share one session and take requests from a common counter.
 *   w6_http URL [REQUESTS] [CONCURRENCY]
 * Prints "METRIC <requests/s> req/s" (the peers' format). */
#include <signal.h>
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
    double t0 = weft_time();
    for (int i = 0; i < p->c; i++)
        t[i] = weft_spawn(worker, b);
    weft_gather(t, (size_t)p->c, WEFT_RETURN_EXCEPTIONS);
    p->elapsed = weft_time() - t0;
    for (int i = 0; i < p->c; i++)
        weft_task_free(t[i]);
    free(t);
    weft_http_session_free(b->session);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [REQUESTS] [CONCURRENCY]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    params p = {
        .url = argv[1], .n = argc > 2 ? atoi(argv[2]) : 1000, .c = argc > 3 ? atoi(argv[3]) : 100};
    int rc = weft_run(bench_main, &p);
    if (rc != 0 || p.b.errors || p.b.done != p.n) {
        fprintf(stderr, "w6_http: %s, %d ok, %d errors\n", weft_strerror(rc), p.b.done, p.b.errors);
        return 1;
    }
    printf("INFO %d requests, concurrency %d, %zu body bytes, %.3f s\n", p.n, p.c, p.b.bytes,
           p.elapsed);
    printf("METRIC %.0f req/s\n", p.n / p.elapsed);
    return 0;
}
