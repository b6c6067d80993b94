/* W2: two tasks pass a token back and forth through two unbounded
 * weft_queues, ROUNDS round trips (as in ../shared/peers: Tokio's unbounded
 * mpsc channels, Go's channels). Prints "METRIC <ns> ns/roundtrip".
 *
 *   w2_pingpong [ROUNDS]       default 1000000
 *
 * Needs the sync layer (weft_queue); CMake skips this file until
 * include/weft/sync.h exists. */
/* weft:requires=include/weft/sync.h */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

typedef struct w2 {
    uint64_t rounds;
    weft_queue *ping, *pong;
    uint64_t token;
    double ns_per_rt;
} w2;

static void *tok_item(uint64_t tok)
{
    return (void *)(uintptr_t)tok;
}

static int ponger(void *arg)
{
    w2 *b = arg;
    for (uint64_t i = 0; i < b->rounds; i++) {
        void *item = NULL;
        int rc = weft_queue_get(b->ping, &item);
        if (rc == 0)
            rc = weft_queue_put(b->pong, tok_item((uintptr_t)item + 1));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int w2_main(void *arg)
{
    w2 *b = arg;
    int rc = weft_queue_new(0, &b->ping);
    if (rc != 0)
        return rc;
    if ((rc = weft_queue_new(0, &b->pong)) != 0) {
        weft_queue_free(b->ping);
        return rc;
    }
    weft_task *p;
    if ((rc = weft_spawn(ponger, b, &p)) != 0)
        goto out;
    uint64_t tok = 0;
    double t0 = weft_time();
    for (uint64_t i = 0; i < b->rounds && rc == 0; i++) {
        void *item = NULL;
        rc = weft_queue_put(b->ping, tok_item(tok));
        if (rc == 0)
            rc = weft_queue_get(b->pong, &item);
        tok = (uintptr_t)item;
    }
    b->ns_per_rt = (weft_time() - t0) * 1e9 / (double)b->rounds;
    b->token = tok;
    if (rc != 0)
        weft_cancel(p);
    int prc = weft_await(p);
    if (rc == 0)
        rc = prc;
    weft_task_free(p);
out:
    weft_queue_free(b->pong);
    weft_queue_free(b->ping);
    return rc;
}

int main(int argc, char **argv)
{
    w2 b = {.rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000};
    if (b.rounds == 0) {
        fprintf(stderr, "usage: %s [ROUNDS>0]\n", argv[0]);
        return 2;
    }
    int rc = weft_run(w2_main, &b);
    if (rc != 0) {
        fprintf(stderr, "w2: %s: %s\n", weft_err_name(rc), weft_strerror(rc));
        return 1;
    }
    if (b.token != b.rounds) {
        fprintf(stderr, "w2: bad token %llu\n", (unsigned long long)b.token);
        return 1;
    }
    printf("METRIC %.1f ns/roundtrip\n", b.ns_per_rt);
    return 0;
}
