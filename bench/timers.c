/* timers: the loop's timer structure (src/timer.c, a hierarchical timing
 * wheel) against the candidates it was chosen from — the binary heap weft
 * used before and a 4-ary heap, both here — on four shapes (issue 15):
 *
 *   a  W1: 1M timers armed ~300 ns apart for 1 s later (runs every 61
 *      arms, as the loop does), then all fired as the clock catches up
 *   b  1M timers with random deadlines over 0-10 s, fired in order as the
 *      clock moves in 1 ms steps
 *   c  timeouts: arm then cancel before expiry, 10M times, 10k live
 *      (wait_for, timeout scopes, read timeouts), a run every 61 ops
 *   d  steady state: 100k live timers over 10 s of clock in 0.1 ms steps;
 *      each fired timer re-arms (a periodic sleep), and 100 live timers
 *      per step are moved later (a read timeout pushed by activity)
 *
 * The clock is simulated; every candidate sees the same operations on
 * timers laid out in a shuffled order, so that memory behaves as in a
 * loop: 64 bytes apart (dense: as in task structs), or one per 4 KiB page
 * (sparse, -s: as sleepers on their own stacks in W1, TLB misses and cache
 * set conflicts included; 4 GB for 1M timers, mapped once). Prints ns of
 * CPU time per operation, the median of ROUNDS runs of each.
 *
 *   bench/timers [-s] [-n SCALE] [-r ROUNDS] [-o ONLY]
 *       SCALE (default 1) multiplies the sizes; ONLY runs the candidates
 *       whose name contains it (for profiling)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/core.h"

#define MS  1000000ull
#define SEC (1000 * MS)
#define T0  (1000 * SEC)

static uint64_t rng_state = 88172645463325252ull;
static inline uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* CPU time, not wall time: other jobs on the machine preempt us. */
static double clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ timer objects */

/* Timer i lives at slab + perm[i] * stride. The sparse slab is mapped once
 * (its page faults stay out of the figures) and kept. */
static size_t stride = 64;
static char *slab, *sparse_slab;
static size_t sparse_size;
static uint32_t *perm;
static size_t n_objs;

static void *alloc_or_die(void *p)
{
    if (p == NULL || p == MAP_FAILED) {
        fprintf(stderr, "timers: out of memory\n");
        exit(1);
    }
    return p;
}

static void objects_new(size_t n)
{
    n_objs = n;
    if (stride == 64) {
        slab = alloc_or_die(aligned_alloc(64, n * stride));
    } else if (n * stride > sparse_size) {
        if (sparse_slab)
            munmap(sparse_slab, sparse_size);
        sparse_size = n * stride;
        sparse_slab = alloc_or_die(mmap(NULL, sparse_size, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        madvise(sparse_slab, sparse_size, MADV_NOHUGEPAGE);
        slab = sparse_slab;
    }
    perm = alloc_or_die(malloc(n * sizeof *perm));
    for (size_t i = 0; i < n; i++)
        memset(slab + i * stride, 0, 64);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng() % (i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void objects_free(void)
{
    if (slab != sparse_slab)
        free(slab);
    free(perm);
}

static inline void *obj(size_t i)
{
    return slab + (size_t)perm[i] * stride;
}

/* What a scenario does when timer id fires. */
static void (*on_fire)(uint32_t id);

/* ------------------------------------------------------------ candidates */

typedef struct cand {
    const char *name;
    void (*init)(uint64_t now);
    void (*start)(size_t i, uint64_t when);
    void (*stop)(size_t i);
    void (*run)(uint64_t now);
    uint64_t (*next)(void);
    void (*fini)(void);
} cand;

/* --- weft's timing wheel, through the loop's interface */

typedef struct wobj {
    weft__timer t;
    uint32_t id;
} wobj;

static weft_loop *wloop;

static void wheel_fired(weft__timer *t)
{
    on_fire(WEFT_CONTAINER_OF(t, wobj, t)->id);
}

static void wheel_init(uint64_t now)
{
    wloop = calloc(1, sizeof *wloop);
    weft__timers_init(wloop, now);
    for (size_t i = 0; i < n_objs; i++) {
        wobj *o = obj(i);
        o->id = (uint32_t)i;
        weft__timer_init(&o->t, wheel_fired);
    }
}

static void wheel_start(size_t i, uint64_t when)
{
    weft__timer_start(wloop, &((wobj *)obj(i))->t, when);
}

static void wheel_stop(size_t i)
{
    weft__timer_stop(wloop, &((wobj *)obj(i))->t);
}

static void wheel_run(uint64_t now)
{
    weft__timers_run(wloop, now);
}

static uint64_t wheel_next(void)
{
    return weft__timers_next(wloop);
}

static void wheel_fini(void)
{
    free(wloop);
}

/* --- d-ary heaps keyed by (when, seq); D = 2 is weft's former timer.c */

typedef struct hobj {
    uint64_t when, seq;
    size_t index; /* SIZE_MAX: not armed */
    uint32_t id;
} hobj;

static hobj **items;
static size_t h_count, h_cap;
static uint64_t h_seq;

static inline bool before(const hobj *a, const hobj *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(size_t i, hobj *t)
{
    items[i] = t;
    t->index = i;
}

static inline __attribute__((always_inline)) void sift_up(size_t i, const unsigned d)
{
    hobj *t = items[i];
    while (i > 0) {
        size_t parent = (i - 1) / d;
        if (!before(t, items[parent]))
            break;
        place(i, items[parent]);
        i = parent;
    }
    place(i, t);
}

static inline __attribute__((always_inline)) void sift_down(size_t i, const unsigned d)
{
    hobj *t = items[i];
    for (;;) {
        size_t first = d * i + 1;
        if (first >= h_count)
            break;
        size_t best = first, end = first + d < h_count ? first + d : h_count;
        for (size_t c = first + 1; c < end; c++)
            if (before(items[c], items[best]))
                best = c;
        if (!before(items[best], t))
            break;
        place(i, items[best]);
        i = best;
    }
    place(i, t);
}

static inline __attribute__((always_inline)) void heap_stop(hobj *t, const unsigned d)
{
    size_t i = t->index;
    if (i == SIZE_MAX)
        return;
    t->index = SIZE_MAX;
    hobj *last = items[--h_count];
    if (i == h_count)
        return;
    place(i, last);
    if (i > 0 && before(last, items[(i - 1) / d]))
        sift_up(i, d);
    else
        sift_down(i, d);
}

static inline __attribute__((always_inline)) void heap_start(hobj *t, uint64_t when,
                                                             const unsigned d)
{
    if (t->index != SIZE_MAX)
        heap_stop(t, d);
    if (h_count == h_cap) {
        h_cap = h_cap ? h_cap * 2 : 64;
        items = realloc(items, h_cap * sizeof *items);
        if (items == NULL) {
            fprintf(stderr, "timers: out of memory\n");
            exit(1);
        }
    }
    t->when = when;
    t->seq = h_seq++;
    place(h_count++, t);
    sift_up(t->index, d);
}

static inline __attribute__((always_inline)) void heap_run(uint64_t now, const unsigned d)
{
    uint64_t limit = h_seq;
    while (h_count > 0) {
        hobj *t = items[0];
        if (t->when > now || t->seq >= limit)
            break;
        heap_stop(t, d);
        on_fire(t->id);
    }
}

static void heap_init(uint64_t now)
{
    (void)now;
    items = NULL;
    h_count = h_cap = 0;
    h_seq = 0;
    for (size_t i = 0; i < n_objs; i++) {
        hobj *o = obj(i);
        o->id = (uint32_t)i;
        o->index = SIZE_MAX;
    }
}

static uint64_t heap_next(void)
{
    return h_count ? items[0]->when : UINT64_MAX;
}

static void heap_fini(void)
{
    free(items);
}

/* The candidate's entry points for arity d. */
#define HEAP_OF_ARITY(d)                                                                           \
    static void heap##d##_start(size_t i, uint64_t when)                                           \
    {                                                                                              \
        heap_start(obj(i), when, d);                                                               \
    }                                                                                              \
    static void heap##d##_stop(size_t i)                                                           \
    {                                                                                              \
        heap_stop(obj(i), d);                                                                      \
    }                                                                                              \
    static void heap##d##_run(uint64_t now)                                                        \
    {                                                                                              \
        heap_run(now, d);                                                                          \
    }
HEAP_OF_ARITY(2)
HEAP_OF_ARITY(4)

static const cand cands[] = {
    {"binary heap (before)", heap_init, heap2_start, heap2_stop, heap2_run, heap_next, heap_fini},
    {"4-ary heap", heap_init, heap4_start, heap4_stop, heap4_run, heap_next, heap_fini},
    {"timing wheel (weft)", wheel_init, wheel_start, wheel_stop, wheel_run, wheel_next, wheel_fini},
};
#define N_CANDS (sizeof cands / sizeof *cands)

/* ------------------------------------------------------------ scenarios */

static const cand *c;
static size_t fired;
static uint64_t sim_now;

static void count_fire(uint32_t id)
{
    (void)id;
    fired++;
}

/* a: W1's shape. Returns ns per timer (arm + fire). */
static double shape_w1(double scale)
{
    size_t n = (size_t)(1000000 * scale);
    objects_new(n);
    c->init(T0);
    on_fire = count_fire;
    fired = 0;
    double t0 = clock_s();
    uint64_t now = T0;
    for (size_t i = 0; i < n; i++) {
        c->start(i, now + 1 * SEC);
        now += 300;
        if (i % 61 == 60) {
            c->run(now);
            c->next();
        }
    }
    while (fired < n) {
        now += 61 * 300;
        c->run(now);
        c->next();
    }
    double dt = clock_s() - t0;
    c->fini();
    objects_free();
    return dt * 1e9 / (double)n;
}

/* b: random deadlines over 10 s, fired in order. ns per timer. */
static double shape_random(double scale)
{
    size_t n = (size_t)(1000000 * scale);
    objects_new(n);
    c->init(T0);
    on_fire = count_fire;
    fired = 0;
    uint64_t *whens = malloc(n * sizeof *whens);
    for (size_t i = 0; i < n; i++)
        whens[i] = T0 + rng() % (10 * SEC);
    double t0 = clock_s();
    for (size_t i = 0; i < n; i++)
        c->start(i, whens[i]);
    for (uint64_t now = T0; fired < n;) {
        now += 1 * MS;
        c->run(now);
        c->next();
    }
    double dt = clock_s() - t0;
    free(whens);
    c->fini();
    objects_free();
    return dt * 1e9 / (double)n;
}

static void fail_fire(uint32_t id)
{
    fprintf(stderr, "timers: timeout %u fired in the cancel shape\n", id);
    exit(1);
}

/* c: arm then cancel, 10M times, 10k live. ns per arm+cancel pair. */
static double shape_timeouts(double scale)
{
    size_t live = 10000, ops = (size_t)(10000000 * scale);
    objects_new(live);
    c->init(T0);
    on_fire = fail_fire;
    uint32_t *delays = malloc(4096 * sizeof *delays);
    for (size_t i = 0; i < 4096; i++)
        delays[i] = (uint32_t)(1000 + rng() % 29000); /* 1-30 s, in ms */
    uint64_t now = T0;
    for (size_t i = 0; i < live; i++)
        c->start(i, now + delays[i % 4096] * MS);
    double t0 = clock_s();
    for (size_t k = 0; k < ops; k++) {
        size_t i = k % live;
        c->stop(i);
        c->start(i, now + delays[k % 4096] * MS);
        now += 100;
        if (k % 61 == 60) {
            c->run(now);
            c->next();
        }
    }
    double dt = clock_s() - t0;
    free(delays);
    c->fini();
    objects_free();
    return dt * 1e9 / (double)ops;
}

static void rearm_fire(uint32_t id)
{
    fired++;
    c->start(id, sim_now + rng() % (2 * SEC));
}

/* d: 100k live, fired ones re-arm, 100 moves per 0.1 ms step. ns per op
 * (moves and fires). */
static double shape_steady(double scale)
{
    size_t live = (size_t)(100000 * scale), steps = 100000;
    objects_new(live);
    c->init(T0);
    on_fire = rearm_fire;
    fired = 0;
    sim_now = T0;
    for (size_t i = 0; i < live; i++)
        c->start(i, T0 + rng() % (2 * SEC));
    size_t moves = 0;
    double t0 = clock_s();
    for (size_t s = 0; s < steps; s++) {
        sim_now += 100000;
        for (int m = 0; m < 100; m++) {
            uint64_t r = rng();
            c->start(r % live, sim_now + SEC / 2 + (r >> 32) % (3 * SEC / 2));
        }
        moves += 100;
        c->run(sim_now);
        c->next();
    }
    double dt = clock_s() - t0;
    c->fini();
    objects_free();
    return dt * 1e9 / (double)(moves + fired);
}

typedef struct shape {
    const char *name;
    double (*fn)(double scale);
} shape;

static const shape shapes[] = {
    {"a W1: 1M ~same deadline, armed+fired", shape_w1},
    {"b 1M random over 10 s, armed+fired", shape_random},
    {"c 10M arm+cancel, 10k live", shape_timeouts},
    {"d 100k live, re-arms, per op", shape_steady},
};
#define N_SHAPES (sizeof shapes / sizeof *shapes)

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    double scale = 1.0;
    int rounds = 3, opt;
    const char *only = "";
    while ((opt = getopt(argc, argv, "sn:r:o:")) != -1) {
        switch (opt) {
        case 's':
            stride = 4096;
            break;
        case 'n':
            scale = strtod(optarg, NULL);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'o':
            only = optarg;
            break;
        default:
            scale = 0;
        }
    }
    if (!(scale > 0 && scale <= 10) || rounds < 1 || rounds > 99 || optind != argc) {
        fprintf(stderr, "usage: %s [-s] [-n SCALE (0-10]] [-r ROUNDS 1-99] [-o ONLY]\n", argv[0]);
        return 2;
    }
    printf("| ns per operation, %s timers (median of %d) |", stride == 64 ? "dense" : "sparse",
           rounds);
    for (size_t k = 0; k < N_CANDS; k++)
        printf(" %s |", cands[k].name);
    printf("\n|---|");
    for (size_t k = 0; k < N_CANDS; k++)
        printf("---|");
    printf("\n");
    for (size_t s = 0; s < N_SHAPES; s++) {
        printf("| %s |", shapes[s].name);
        fflush(stdout);
        double best[N_CANDS][99];
        /* Candidates alternate within each round: load from other jobs on
         * the machine falls on all of them alike. */
        for (int r = 0; r < rounds; r++)
            for (size_t k = 0; k < N_CANDS; k++) {
                c = &cands[k];
                best[k][r] = 0;
                if (strstr(c->name, only) == NULL)
                    continue;
                rng_state = 88172645463325252ull + (uint64_t)s; /* same ops for every candidate */
                best[k][r] = shapes[s].fn(scale);
            }
        for (size_t k = 0; k < N_CANDS; k++) {
            qsort(best[k], (size_t)rounds, sizeof best[k][0], cmp_double);
            printf(" %.1f |", best[k][rounds / 2]);
        }
        printf("\n");
    }
    return 0;
}
