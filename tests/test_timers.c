/* Timer tests: the loop's timing wheel through its internal interface
 * (src/timer.c), on a bare loop whose clock the test moves — the ordering
 * it guarantees, the sub-tick check, far deadlines and the wheel's span
 * boundary, cancels and re-arms from callbacks, a million timers, and a
 * randomized run against a sorted-array model — then a few checks through
 * weft_sleep and weft_call_at on a real loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "weft.h"

#define MS   1000000ull
#define SEC  (1000 * MS)
#define HOUR (3600 * SEC)
#define YEAR (365 * 24 * HOUR)
#define TICK (1ull << 20) /* the wheel's tick (timer.c) */
/* What the wheel spans (~36 years); beyond it timers wait in a list. */
#define SPAN (TICK << (WEFT__WHEEL_NEAR_BITS + 6 * WEFT__WHEEL_UPPER))

/* ------------------------------------------------------------ helpers */

/* A loop struct with nothing but its timers, at clock `now`. */
static weft_loop *bare_loop(uint64_t now)
{
    weft_loop *loop = calloc(1, sizeof *loop);
    assert_non_null(loop);
    weft__timers_init(loop, now);
    return loop;
}

typedef struct probe probe;
struct probe {
    weft__timer t;
    int id;
    void (*action)(probe *p); /* run when it fires, after it is recorded */
    probe *other;
    uint64_t arg;
};

static weft_loop *cur_loop; /* the loop the probes' actions use */
static int fired[64];
static size_t n_fired;

static void record(weft__timer *t)
{
    probe *p = WEFT_CONTAINER_OF(t, probe, t);
    if (n_fired < sizeof fired / sizeof *fired)
        fired[n_fired] = p->id;
    n_fired++;
    if (p->action)
        p->action(p);
}

static void probes_init(probe *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i].id = (int)i;
        weft__timer_init(&p[i].t, record);
    }
}

static void arm(probe *p, uint64_t when)
{
    weft__timer_start(cur_loop, &p->t, when);
}

/* Runs the timers at `now` and checks what fired, in order. */
#define RUN_EXPECT(now, ...)                                                                       \
    do {                                                                                           \
        const int expect_[] = {__VA_ARGS__};                                                       \
        run_expect(now, expect_, sizeof expect_ / sizeof *expect_);                                \
    } while (0)
#define RUN_NONE(now) run_expect(now, NULL, 0)

static void run_expect(uint64_t now, const int *expect, size_t n)
{
    n_fired = 0;
    weft__timers_run(cur_loop, now);
    assert_int_equal(n_fired, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fired[i], expect[i]);
}

/* A clock value with its tick boundary well away from test deadlines. */
#define T0 (1000 * SEC + 12345)

/* -------------------------------------------------------- ordering */

static void rearm_batch(probe *p)
{
    for (int i = 0; i < 4; i++)
        arm(p->other + i, p->arg);
}

/* Timers due at the same instant fire first-in first-out, whatever path
 * they took: armed far ahead and spread down the levels (0..3), armed
 * closer (4..7), armed into the level-0 slot (8..11), armed by a callback
 * while the timers run (12..15, the pending list), and armed once the
 * tick is in the due list (17..20). */
static void test_same_instant_is_fifo(void **state)
{
    (void)state;
    const uint64_t w = (((T0 + 5 * SEC) >> 20) << 20) + 500000; /* mid-tick */
    cur_loop = bare_loop(T0);
    probe p[21];
    probes_init(p, 21);
    for (int i = 0; i < 4; i++)
        arm(&p[i], w);
    RUN_NONE(w - 2 * SEC);
    for (int i = 4; i < 8; i++)
        arm(&p[i], w);
    /* Waking at each bound the loop is given brings w's slot to level 0. */
    for (int wakes = 0; weft__timers_next(cur_loop) != w; wakes++) {
        assert_true(wakes < 6);
        RUN_NONE(weft__timers_next(cur_loop));
    }
    for (int i = 8; i < 12; i++)
        arm(&p[i], w);
    p[16].action = rearm_batch; /* arms 12..15 for w while the timers run */
    p[16].other = &p[12];
    p[16].arg = w;
    arm(&p[16], w - 1); /* the same tick */
    RUN_EXPECT(w - 1, 16);
    for (int i = 17; i < 21; i++)
        arm(&p[i], w);
    assert_int_equal(weft__timers_count(cur_loop), 20);
    assert_int_equal(weft__timers_next(cur_loop), w);
    RUN_EXPECT(w, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20);
    assert_int_equal(weft__timers_count(cur_loop), 0);
    assert_int_equal(weft__timers_next(cur_loop), UINT64_MAX);
    free(cur_loop);
}

/* A timer armed early sits in a level above 0 until its slot's start; one
 * armed later for the same instant may go straight to level 0, and the
 * early one is then spread after it: arming order must still win. */
static void test_fifo_when_a_spread_timer_lands_after(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    const uint64_t block = ((T0 >> 20 >> WEFT__WHEEL_NEAR_BITS) + 2) << WEFT__WHEEL_NEAR_BITS;
    const uint64_t w = ((block + 5) << 20) + 1234; /* 5 ticks into a level-1 slot */
    probe p[4];
    probes_init(p, 4);
    arm(&p[0], w); /* more than the level-0 ring away: level 1 */
    arm(&p[1], w + 1);
    RUN_NONE((block - 100) << 20); /* the level-1 slot has not started */
    arm(&p[2], w);                 /* within the ring now: level 0 */
    arm(&p[3], w - 1);
    RUN_EXPECT(w + 1, 3, 0, 2, 1);
    free(cur_loop);
}

/* Within one tick, deadlines a few ns apart still fire in deadline order
 * (the tick's timers are sorted), and only those whose deadline has come. */
static void test_deadline_order_within_a_tick(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    const uint64_t base = ((T0 >> 20) + 100) << 20; /* a tick start, 100 ticks on */
    probe p[8];
    probes_init(p, 8);
    /* Armed in an order unrelated to their deadlines; 2 and 6 tie. */
    const uint64_t offs[8] = {700000, 3, 500000, 1000, 2, 900000, 500000, 1};
    for (int i = 0; i < 8; i++)
        arm(&p[i], base + offs[i]);
    RUN_NONE(base);
    RUN_EXPECT(base + 2, 7, 4);
    RUN_EXPECT(base + 500000, 1, 3, 2, 6);
    RUN_NONE(base + 699999);
    RUN_EXPECT(base + TICK, 0, 5);
    free(cur_loop);
}

/* Deadline order across levels: a timer armed later for an earlier time
 * goes first, whichever level each sits in. */
static void test_deadline_order_across_levels(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    probe p[6];
    probes_init(p, 6);
    arm(&p[0], T0 + 5 * SEC);
    arm(&p[1], T0 + 70 * MS);
    arm(&p[2], T0 + 3 * HOUR);
    arm(&p[3], T0 + 1 * MS);
    arm(&p[4], T0 + 5 * SEC - 1);
    arm(&p[5], T0 + 300 * SEC);
    assert_int_equal(weft__timers_next(cur_loop), T0 + 1 * MS);
    RUN_EXPECT(T0 + 10 * SEC, 3, 1, 4, 0);
    RUN_EXPECT(T0 + 4 * HOUR, 5, 2);
    free(cur_loop);
}

/* ------------------------------------------------------ the sub-tick check */

/* A timer never fires before its deadline, though a wheel slot spans about
 * a millisecond: 0.3 ms into a tick is 0.3 ms into it. */
static void test_never_early(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    const uint64_t base = ((T0 >> 20) + 3) << 20;
    probe p[2];
    probes_init(p, 2);
    arm(&p[0], base + 300000);
    arm(&p[1], T0 + 300000); /* within the current tick */
    assert_int_equal(weft__timers_next(cur_loop), T0 + 300000);
    RUN_NONE(T0 + 299999);
    RUN_EXPECT(T0 + 300000, 1);
    RUN_NONE(base + 299999);
    assert_int_equal(weft__timers_next(cur_loop), base + 300000);
    RUN_EXPECT(base + 300000, 0);
    free(cur_loop);
}

/* What the loop arms its wake-up timer for is never after the earliest
 * deadline, and after a run it is in the future (no busy wake-ups). */
static void test_next_is_a_lower_bound(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    probe p[3];
    probes_init(p, 3);
    assert_int_equal(weft__timers_next(cur_loop), UINT64_MAX);
    arm(&p[0], T0 + 2 * HOUR);
    uint64_t next = weft__timers_next(cur_loop);
    assert_true(next <= T0 + 2 * HOUR);
    assert_true(next > T0);
    arm(&p[1], T0 + 40 * SEC);
    next = weft__timers_next(cur_loop);
    assert_true(next <= T0 + 40 * SEC);
    /* Waking at each bound in turn reaches the exact deadline. */
    int wakes = 0;
    while ((next = weft__timers_next(cur_loop)) != T0 + 40 * SEC) {
        assert_true(next < T0 + 40 * SEC);
        RUN_NONE(next);
        assert_true(++wakes <= 6);
    }
    RUN_EXPECT(T0 + 40 * SEC, 1);
    weft__timer_stop(cur_loop, &p[0].t);
    assert_int_equal(weft__timers_next(cur_loop), UINT64_MAX);
    free(cur_loop);
}

/* ------------------------------------------------ callbacks that re-arm */

static void rearm_self(probe *p)
{
    if (n_fired > 50) /* it fired again and again in one run: starvation */
        fail_msg("timer %d re-armed in the past fired %zu times in one run", p->id, n_fired);
    arm(p, p->arg);
}

/* A callback that re-arms its timer for a time already past waits for the
 * next run: the run ends, and the other timers due in it still fire. */
static void test_rearm_in_the_past_waits_for_next_run(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    const uint64_t w = T0 + 10 * MS;
    probe p[2];
    probes_init(p, 2);
    p[0].action = rearm_self;
    p[0].arg = w - 5; /* earlier than p[1], and already past */
    arm(&p[0], w);
    arm(&p[1], w + 10);
    RUN_EXPECT(w + 20, 0, 1);
    for (int round = 0; round < 3; round++)
        RUN_EXPECT(w + 20, 0);
    p[0].arg = w + 1 * SEC; /* now into the future */
    RUN_EXPECT(w + 20, 0);
    RUN_NONE(w + 30);
    RUN_EXPECT(w + 1 * SEC, 0);
    weft__timer_stop(cur_loop, &p[0].t);
    free(cur_loop);
}

static void stop_other(probe *p)
{
    weft__timer_stop(cur_loop, &p->other->t);
    weft__timer_stop(cur_loop, &p->other->t); /* idempotent */
}

static void stop_two_move_one(probe *p)
{
    weft__timer_stop(cur_loop, &p->other[0].t); /* due in this run */
    weft__timer_stop(cur_loop, &p->other[2].t); /* far in the wheel */
    arm(&p->other[1], p->arg);                  /* due, moved: waits for the next run */
}

/* A callback cancels armed timers — one due in the same run, one far
 * away — and moves another; the cancelled ones never fire. */
static void test_cancel_from_a_callback(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    const uint64_t w = T0 + 50 * MS;
    probe p[5];
    probes_init(p, 5);
    p[0].action = stop_two_move_one;
    p[0].other = &p[1]; /* stops 1 and 3, moves 2 */
    p[0].arg = w + 3;
    arm(&p[0], w);
    arm(&p[1], w + 1);
    arm(&p[2], w + 2);
    arm(&p[3], w + 10 * SEC);
    arm(&p[4], w + 2);
    RUN_EXPECT(w + 5, 0, 4);
    assert_int_equal(weft__timers_count(cur_loop), 1);
    RUN_EXPECT(w + 5, 2);
    RUN_NONE(w + 1 * HOUR);
    assert_int_equal(weft__timers_count(cur_loop), 0);
    /* A callback stopping a timer that fires later in the same run. */
    p[0].action = stop_other;
    p[0].other = &p[1];
    arm(&p[0], w + 2 * HOUR);
    arm(&p[1], w + 2 * HOUR);
    RUN_EXPECT(w + 3 * HOUR, 0);
    assert_false(weft__timer_armed(&p[1].t));
    free(cur_loop);
}

/* ------------------------------------------------------ move and stop */

static void test_move_and_stop(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    probe p[3];
    probes_init(p, 3);
    weft__timer_stop(cur_loop, &p[0].t); /* never armed */
    arm(&p[0], T0 + 10 * SEC);
    arm(&p[0], T0 + 20 * MS); /* moved earlier */
    arm(&p[1], T0 + 30 * MS);
    arm(&p[1], T0 + 2 * HOUR); /* moved later */
    arm(&p[2], T0 + 10 * MS);
    assert_int_equal(weft__timers_count(cur_loop), 3);
    weft__timer_stop(cur_loop, &p[2].t);
    weft__timer_stop(cur_loop, &p[2].t);
    assert_false(weft__timer_armed(&p[2].t));
    assert_int_equal(weft__timers_count(cur_loop), 2);
    RUN_EXPECT(T0 + 1 * SEC, 0);
    arm(&p[1], T0 + 1 * SEC - 1); /* moved to the past: next run */
    RUN_EXPECT(T0 + 1 * SEC, 1);
    assert_int_equal(weft__timers_count(cur_loop), 0);
    free(cur_loop);
}

/* ------------------------------------------------------ far deadlines */

/* Hours, days, years, decades beyond the wheel's reach, and never. */
static void test_far_deadlines(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    probe p[7];
    probes_init(p, 7);
    arm(&p[0], T0 + 5 * HOUR);
    arm(&p[1], T0 + 1 * HOUR);
    arm(&p[2], T0 + 30 * 24 * HOUR);
    arm(&p[3], T0 + 3 * YEAR);
    arm(&p[4], T0 + SPAN + 5 * YEAR);
    arm(&p[5], UINT64_MAX / 2); /* what the HTTP glue once used as "far away" */
    arm(&p[6], UINT64_MAX);     /* WEFT_FOREVER */
    assert_true(weft__timers_next(cur_loop) <= T0 + 1 * HOUR);
    RUN_NONE(T0 + 1 * HOUR - 1);
    RUN_EXPECT(T0 + 1 * HOUR, 1);
    RUN_EXPECT(T0 + 3 * YEAR - 1, 0, 2);
    assert_true(weft__timers_next(cur_loop) <= T0 + 3 * YEAR);
    RUN_EXPECT(T0 + 3 * YEAR, 3);
    RUN_NONE(T0 + SPAN + 5 * YEAR - 1);
    RUN_EXPECT(T0 + SPAN + 5 * YEAR, 4);
    RUN_NONE(UINT64_MAX / 2 - 1);
    RUN_EXPECT(UINT64_MAX - 1, 5);
    assert_int_equal(weft__timers_count(cur_loop), 1);
    RUN_NONE(UINT64_MAX - 1);
    weft__timer_stop(cur_loop, &p[6].t);
    assert_int_equal(weft__timers_next(cur_loop), UINT64_MAX);
    free(cur_loop);
}

/* The wheel spans 2^40 ticks (2^60 ns); timers past the span wait in an
 * overflow list and must come in when the clock crosses into the next
 * span — also when a run lands exactly on its first tick. */
static void test_wheel_span_boundary(void **state)
{
    (void)state;
    const uint64_t edge = 3 * SPAN; /* a span boundary */
    cur_loop = bare_loop(edge - 5 * MS);
    probe p[6];
    probes_init(p, 6);
    arm(&p[0], edge);
    arm(&p[1], edge - 1 * MS);
    arm(&p[2], edge + 1 * MS);
    arm(&p[3], edge + 1 * YEAR);
    arm(&p[4], edge + SPAN + 1 * YEAR); /* the span after */
    arm(&p[5], edge + 300);
    assert_true(weft__timers_next(cur_loop) <= edge - 1 * MS);
    RUN_EXPECT(edge - 1 * MS, 1);
    RUN_NONE(edge - 1); /* the run's next tick is the span's first */
    assert_true(weft__timers_next(cur_loop) <= edge);
    RUN_EXPECT(edge + 300, 0, 5);
    RUN_EXPECT(edge + 1 * MS, 2);
    RUN_EXPECT(edge + 2 * YEAR, 3);
    RUN_NONE(edge + SPAN + 1 * YEAR - 1);
    RUN_EXPECT(edge + SPAN + 1 * YEAR, 4);
    free(cur_loop);
}

/* ------------------------------------------------------ a million timers */

#define MILLION 1000000

static uint64_t rng_state;
static uint64_t rng(void) /* xorshift64*: fixed seeds, the same run every time */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static uint64_t last_when, last_seq, n_big;
static bool big_in_order = true;

static void big_fired(weft__timer *t)
{
    if (n_big > 0 && (t->when < last_when || (t->when == last_when && t->seq < last_seq)))
        big_in_order = false;
    last_when = t->when;
    last_seq = t->seq;
    n_big++;
}

static weft__timer *big_timers(void)
{
    weft__timer *t = malloc(MILLION * sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < MILLION; i++)
        weft__timer_init(&t[i], big_fired);
    return t;
}

static void test_million_armed_then_cancelled(void **state)
{
    (void)state;
    cur_loop = bare_loop(T0);
    weft__timer *t = big_timers();
    rng_state = 42;
    for (size_t i = 0; i < MILLION; i++)
        weft__timer_start(cur_loop, &t[i], T0 + rng() % (10 * SEC) + (i % 1000 == 0 ? SPAN : 0));
    assert_int_equal(weft__timers_count(cur_loop), MILLION);
    RUN_NONE(T0);
    for (size_t i = 0; i < MILLION; i++) { /* in an order unrelated to arming */
        size_t j = (i * 7919) % MILLION;
        weft__timer_stop(cur_loop, &t[j]);
    }
    assert_int_equal(weft__timers_count(cur_loop), 0);
    assert_int_equal(weft__timers_next(cur_loop), UINT64_MAX);
    n_big = 0;
    weft__timers_run(cur_loop, T0 + 10 * YEAR);
    assert_int_equal(n_big, 0);
    free(t);
    free(cur_loop);
}

/* W1's shape (a million deadlines a little apart, in arming order) and
 * random deadlines with ties: all fire, in (deadline, arming) order, none
 * early, as the clock moves in steps of about a millisecond. */
static void million_fire(bool random_deadlines)
{
    cur_loop = bare_loop(T0);
    weft__timer *t = big_timers();
    rng_state = 7;
    for (size_t i = 0; i < MILLION; i++) {
        uint64_t when =
            random_deadlines ? T0 + (rng() % (10 * SEC)) / 1000 * 1000 : T0 + 1 * SEC + i * 300;
        weft__timer_start(cur_loop, &t[i], when);
    }
    n_big = 0;
    big_in_order = true;
    uint64_t now = T0;
    while (weft__timers_count(cur_loop) > 0) {
        now += 1 * MS - 17;
        weft__timers_run(cur_loop, now);
        assert_true(n_big == 0 || last_when <= now);
        assert_true(now < T0 + 12 * SEC);
    }
    assert_int_equal(n_big, MILLION);
    assert_true(big_in_order);
    free(t);
    free(cur_loop);
}

static void test_million_fire_in_order(void **state)
{
    (void)state;
    million_fire(false);
    million_fire(true);
}

/* ------------------------------------------------ against a sorted array */

/* The model: the armed timers in a sorted array of (when, seq, id). A run
 * fires, smallest first, those armed before it began (seq below the seq
 * at its start) with when <= now; each fired probe is checked against the
 * model's smallest such entry, then may act on other timers. */
#define MODEL_N   257
#define MODEL_OPS 30000

typedef struct model_entry {
    uint64_t when, seq;
    int id;
} model_entry;

static model_entry model[MODEL_N];
static size_t model_n;
static uint64_t model_seq, model_limit, model_now, model_fired;
static probe mprobes[MODEL_N];

static bool model_before(const model_entry *a, const model_entry *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void model_remove(int id)
{
    for (size_t i = 0; i < model_n; i++)
        if (model[i].id == id) {
            memmove(&model[i], &model[i + 1], (model_n - i - 1) * sizeof *model);
            model_n--;
            return;
        }
}

static void model_start(int id, uint64_t when)
{
    model_remove(id);
    model_entry e = {when, model_seq++, id};
    size_t i = model_n;
    while (i > 0 && model_before(&e, &model[i - 1])) {
        model[i] = model[i - 1];
        i--;
    }
    model[i] = e;
    model_n++;
    weft__timer_start(cur_loop, &mprobes[id].t, when);
}

static void model_stop(int id)
{
    model_remove(id);
    weft__timer_stop(cur_loop, &mprobes[id].t);
}

/* A deadline of every kind that matters: past, this tick, the next few,
 * the levels, ties with an armed timer, beyond the wheel, never. */
static uint64_t model_when(void)
{
    uint64_t r = rng();
    switch (r % 12) {
    case 0:
        return model_now - (r >> 8) % (5 * MS);
    case 1:
        return model_now + (r >> 8) % TICK;
    case 2:
    case 3:
        return model_now + (r >> 8) % (10 * MS);
    case 4:
    case 5:
        return model_now + (r >> 8) % (300 * MS);
    case 6:
        return model_now + (r >> 8) % (20 * SEC);
    case 7:
        return model_now + (r >> 8) % (5 * HOUR);
    case 8:
    case 9:
        return model_n ? model[(r >> 8) % model_n].when : model_now;
    case 10:
        return model_now + (r >> 8) % (3 * SPAN / 2);
    default:
        return (r >> 8) % 4 == 0 ? UINT64_MAX : model_now + (r >> 8) % (3 * SEC);
    }
}

static void model_fired_cb(weft__timer *t)
{
    probe *p = WEFT_CONTAINER_OF(t, probe, t);
    /* The model's smallest entry armed before the run, due by now. */
    size_t i = 0;
    while (i < model_n && model[i].seq >= model_limit)
        i++;
    assert_true(i < model_n);
    assert_int_equal(model[i].id, p->id);
    assert_true(model[i].when <= model_now);
    assert_int_equal(model[i].when, t->when);
    memmove(&model[i], &model[i + 1], (model_n - i - 1) * sizeof *model);
    model_n--;
    model_fired++;
    uint64_t r = rng();
    switch (r % 8) {
    case 0:
        model_start(p->id, model_when()); /* re-arm itself */
        break;
    case 1:
        model_stop((int)((r >> 8) % MODEL_N));
        break;
    case 2:
        model_start((int)((r >> 8) % MODEL_N), model_when());
        break;
    default:
        break;
    }
}

static void model_run(uint64_t now)
{
    model_now = now;
    model_limit = model_seq;
    weft__timers_run(cur_loop, now);
    /* Nothing armed before the run and due is left. */
    for (size_t i = 0; i < model_n; i++) {
        if (model[i].seq < model_limit && model[i].when <= now)
            print_error("left: id %d when %llu seq %llu now %llu where %d tick %llu elapsed %llu "
                        "nowtick %llu\n",
                        model[i].id, (unsigned long long)model[i].when,
                        (unsigned long long)model[i].seq, (unsigned long long)now,
                        mprobes[model[i].id].t.where, (unsigned long long)(model[i].when >> 20),
                        (unsigned long long)cur_loop->timers.elapsed,
                        (unsigned long long)(now >> 20));
        assert_false(model[i].seq < model_limit && model[i].when <= now);
    }
}

static uint64_t model_step(void)
{
    uint64_t r = rng();
    switch (r % 8) {
    case 0:
        return 0;
    case 1:
        return (r >> 8) % 2000;
    case 2:
    case 3:
        return (r >> 8) % (2 * MS);
    case 4:
        return (r >> 8) % (100 * MS);
    case 5:
        return (r >> 8) % (10 * SEC);
    case 6:
        return (r >> 8) % 64 == 0 ? (r >> 16) % (SPAN / 4) : (r >> 8) % TICK;
    default:
        return (r >> 8) % (3 * HOUR) * ((r >> 40) % 16 == 0);
    }
}

static void test_matches_sorted_model(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        rng_state = seed * 0x9e3779b97f4a7c15ull;
        /* Different tick alignments, the last just before a span's end. */
        model_now = seed < 3 ? T0 + seed * (1ull << 50) : 2 * SPAN - 2 * SEC;
        cur_loop = bare_loop(model_now);
        model_n = 0;
        model_seq = 0;
        model_fired = 0;
        probes_init(mprobes, MODEL_N);
        for (int i = 0; i < MODEL_N; i++)
            mprobes[i].t.fn = model_fired_cb;
        for (int op = 0; op < MODEL_OPS; op++) {
            uint64_t r = rng();
            int id = (int)((r >> 8) % MODEL_N);
            switch (r % 10) {
            case 0:
            case 1:
            case 2:
            case 3:
                model_start(id, model_when());
                break;
            case 4:
                model_stop(id);
                break;
            case 5:
            case 6:
            case 7:
                model_run(model_now + model_step());
                break;
            default: {
                uint64_t next = weft__timers_next(cur_loop);
                if (model_n == 0) {
                    assert_int_equal(next, UINT64_MAX);
                } else {
                    assert_true(next <= model[0].when);
                    if (model[0].when > model_now)
                        assert_true(next > model_now); /* never a busy wake-up */
                }
                break;
            }
            }
            assert_int_equal(weft__timers_count(cur_loop), model_n);
        }
        assert_true(model_fired > MODEL_OPS / 10); /* the runs did fire timers */
        free(cur_loop);
    }
}

/* ------------------------------------------------------ on a real loop */

static int body_short_sleeps(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = weft__now_ns();
        assert_int_equal(weft_sleep(0.0003), 0);
        assert_true(weft__now_ns() - t0 >= 300000);
    }
    return 0;
}

/* libuv's wake-up timer counts whole milliseconds and the wheel's slots
 * span one: a 0.3 ms sleep still sleeps 0.3 ms or more. */
static void test_short_sleep_is_never_early(void **state)
{
    (void)state;
    assert_int_equal(weft_run(body_short_sleeps, NULL), 0);
}

static int order[8], n_order;
static void push_order(void *arg)
{
    order[n_order++] = (int)(intptr_t)arg;
}

static int body_call_at_fifo(void *arg)
{
    (void)arg;
    double at = weft_time() + 0.02;
    n_order = 0;
    weft_loop *loop = weft_loop_current();
    assert_int_equal(weft_call_at(loop, at + 0.005, push_order, (void *)7, NULL), 0);
    for (intptr_t i = 0; i < 6; i++)
        assert_int_equal(weft_call_at(loop, at, push_order, (void *)i, NULL), 0);
    assert_int_equal(weft_call_at(loop, at - 0.005, push_order, (void *)6, NULL), 0);
    assert_int_equal(weft_sleep(0.05), 0);
    const int expect[8] = {6, 0, 1, 2, 3, 4, 5, 7};
    assert_int_equal(n_order, 8);
    assert_memory_equal(order, expect, sizeof expect);
    return 0;
}

/* Callbacks for the same instant run in the order they were scheduled. */
static void test_call_at_same_instant_is_fifo(void **state)
{
    (void)state;
    assert_int_equal(weft_run(body_call_at_fifo, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_instant_is_fifo),
        cmocka_unit_test(test_fifo_when_a_spread_timer_lands_after),
        cmocka_unit_test(test_deadline_order_within_a_tick),
        cmocka_unit_test(test_deadline_order_across_levels),
        cmocka_unit_test(test_never_early),
        cmocka_unit_test(test_next_is_a_lower_bound),
        cmocka_unit_test(test_rearm_in_the_past_waits_for_next_run),
        cmocka_unit_test(test_cancel_from_a_callback),
        cmocka_unit_test(test_move_and_stop),
        cmocka_unit_test(test_far_deadlines),
        cmocka_unit_test(test_wheel_span_boundary),
        cmocka_unit_test(test_million_armed_then_cancelled),
        cmocka_unit_test(test_million_fire_in_order),
        cmocka_unit_test(test_matches_sorted_model),
        cmocka_unit_test(test_short_sleep_is_never_early),
        cmocka_unit_test(test_call_at_same_instant_is_fifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
