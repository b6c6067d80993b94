/* Cancel/timeout storms for the waits test_sync_stress does not cover:
 * sleep, event, condition, barrier, await, gather, wait, as_completed,
 * wait_for, shield, and nested timeout scopes. Each runs many tasks whose
 * waits are cut by a chaos task's cancels and by random short timeout
 * scopes (some expired before the wait starts), and ends by accounting for
 * every wakeup, item, party, child and handle. Seeded, so a failure
 * replays. The compact pass (test_wait_storm_compact) runs the same storms
 * on compact tasks whose stacks are inaccessible while parked: a wait that
 * left its record on a parked task's stack faults and is named. */
/* weft:timeout=180 */
#include "sync_test.h"
#include "storm.h"

/* ----------------------------------------------------------------- sleep */

#define SLEEPERS     6
#define SLEEP_ROUNDS 400

static long sleeps_done, sleeps_cut;

static int do_sleep(void *arg)
{
    return weft_sleep(*(double *)arg);
}

static int sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < SLEEP_ROUNDS; i++) {
        double d = storm_rnd(4) == 0 ? 0 : storm_rnd(200) * 1e-6;
        double t0 = weft_time();
        int rc = storm_with_timeout(do_sleep, &d, 300);
        if (rc == 0) {
            /* A sleep that returns 0 slept its time (the clock is the
             * loop's, in ns: no early return, whatever the storm did). */
            if (weft_time() < t0 + d - 1e-6)
                return -1000;
            sleeps_done++;
        } else if (storm_cut(rc)) {
            sleeps_cut++;
        } else {
            return rc;
        }
    }
    return 0;
}

static int sleep_storm(void *arg)
{
    (void)arg;
    storm_begin(31337);
    sleeps_done = sleeps_cut = 0;
    weft_task *t[SLEEPERS];
    for (int i = 0; i < SLEEPERS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(sleeper, NULL);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < SLEEPERS; i++)
        weft_task_free(t[i]);
    assert_int_equal(sleeps_done + sleeps_cut, SLEEPERS * SLEEP_ROUNDS);
    print_message("sleep: %ld slept, %ld cancelled, %ld timed out\n", sleeps_done, storm_cancelled,
                  storm_timedout);
    assert_true(sleeps_done > 0 && storm_cancelled > 0 && storm_timedout > 0);
    return 0;
}

static void test_sleep_storm(void **state)
{
    (void)state;
    RUN_WITH(sleep_storm, NULL);
}

/* ----------------------------------------------------------------- event */

#define EV_WAITERS 8
#define EV_ROUNDS  300

static weft_event *E;
static long ev_sets;  /* set() calls that found the event clear: one per cycle */
static long ev_woken; /* waits that returned 0 */
static long ev_cut;   /* waits cut by a timeout or a cancel */
static int ev_live;   /* waiters still running */

static int do_event_wait(void *arg)
{
    (void)arg;
    return weft_event_wait(E);
}

static int ev_waiter(void *arg)
{
    (void)arg;
    for (int i = 0; i < EV_ROUNDS; i++) {
        long sets_before = ev_sets;
        bool was_set = weft_event_is_set(E);
        int rc = storm_with_timeout(do_event_wait, NULL, 300);
        if (rc == 0) {
            /* No spurious wakeup: the event was set when the wait began,
             * or has been set since (a later clear does not take back a
             * wakeup, as in asyncio). */
            if (!was_set && ev_sets == sets_before)
                return -1000;
            ev_woken++;
        } else if (storm_cut(rc)) {
            ev_cut++;
        } else {
            return rc;
        }
        if (storm_rnd(4) == 0)
            storm_yield();
    }
    ev_live--;
    return 0;
}

/* Sets and clears the event until every waiter has done its rounds; not a
 * victim, so that a waiter with no timeout is always woken in the end. */
static int ev_setter(void *arg)
{
    (void)arg;
    while (ev_live > 0) {
        if (!weft_event_is_set(E))
            ev_sets++;
        assert_int_equal(weft_event_set(E), 0);
        if (storm_rnd(2) == 0 && weft_sleep(0) != 0)
            return -1;
        assert_int_equal(weft_event_clear(E), 0);
        if (weft_sleep(storm_rnd(4) == 0 ? 2e-4 : 0) != 0)
            return -1;
    }
    return 0;
}

static int event_storm(void *arg)
{
    (void)arg;
    storm_begin(2024);
    ev_sets = ev_woken = ev_cut = 0;
    ev_live = EV_WAITERS;
    assert_int_equal(weft_event_new(&E), 0);
    weft_task *t[EV_WAITERS];
    for (int i = 0; i < EV_WAITERS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(ev_waiter, NULL);
    weft_task *setter = spawn(ev_setter, NULL);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < EV_WAITERS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    assert_int_equal(finish(setter), 0);
    for (int i = 0; i < EV_WAITERS; i++)
        weft_task_free(t[i]);
    assert_int_equal(ev_woken + ev_cut, EV_WAITERS * EV_ROUNDS);
    print_message("event: %ld set cycles, %ld woken, %ld cancelled, %ld timed out\n", ev_sets,
                  ev_woken, storm_cancelled, storm_timedout);
    assert_true(ev_woken > EV_ROUNDS && storm_cancelled > 0 && storm_timedout > 0);
    weft_event_free(E);
    return 0;
}

static void test_event_storm(void **state)
{
    (void)state;
    RUN_WITH(event_storm, NULL);
}

/* ------------------------------------------------------------- condition */

#define CV_PRODUCERS 3
#define CV_CONSUMERS 5
#define CV_ITEMS     3000

static weft_cond *CV;
static weft_lock *CL;
static weft_task *cv_holder; /* who holds CL, as the test sees it */
static long cv_avail, cv_produced, cv_consumed;

static int do_lock(void *arg)
{
    (void)arg;
    return weft_lock_acquire(CL);
}

static int do_cond_wait(void *arg)
{
    (void)arg;
    return weft_cond_wait(CV);
}

/* Took the lock: nobody else may hold it. */
static int cv_enter(void)
{
    if (cv_holder != NULL || weft_lock_locked(CL) != 1)
        return -1000;
    cv_holder = weft_task_current();
    return 0;
}

static int cv_leave(void)
{
    if (cv_holder != weft_task_current())
        return -1001;
    cv_holder = NULL;
    return weft_lock_release(CL);
}

static int cv_producer(void *arg)
{
    (void)arg;
    while (cv_produced < CV_ITEMS) {
        int rc = storm_with_timeout(do_lock, NULL, 300);
        if (storm_cut(rc))
            continue;
        if (rc != 0 || cv_enter() != 0)
            return rc ? rc : -1000;
        if (cv_produced < CV_ITEMS) {
            cv_produced++;
            cv_avail++;
            if (storm_rnd(4) == 0)
                weft_cond_notify_all(CV);
            else
                weft_cond_notify(CV, 1);
        }
        if ((rc = cv_leave()) != 0)
            return rc;
        if (storm_rnd(3) == 0)
            storm_yield();
    }
    return 0;
}

static int cv_consumer(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = storm_with_timeout(do_lock, NULL, 300);
        if (storm_cut(rc))
            continue;
        if (rc != 0 || cv_enter() != 0)
            return rc ? rc : -1000;
        while (cv_avail == 0 && cv_consumed < CV_ITEMS) {
            cv_holder = NULL; /* the wait releases the lock */
            rc = storm_with_timeout(do_cond_wait, NULL, 300);
            /* The lock is held again whatever the wait returned. */
            if ((rc != 0 && !storm_cut(rc)) || cv_enter() != 0)
                return rc ? rc : -1002;
        }
        bool done = cv_consumed == CV_ITEMS;
        if (!done) {
            cv_avail--;
            if (++cv_consumed == CV_ITEMS)
                weft_cond_notify_all(CV); /* the others see the end */
        }
        if ((rc = cv_leave()) != 0)
            return rc;
        if (done)
            return 0;
        if (storm_rnd(3) == 0)
            storm_yield();
    }
}

static int cond_storm(void *arg)
{
    (void)arg;
    storm_begin(555);
    cv_holder = NULL;
    cv_avail = cv_produced = cv_consumed = 0;
    assert_int_equal(weft_lock_new(&CL), 0);
    assert_int_equal(weft_cond_new(CL, &CV), 0);
    weft_task *prod[CV_PRODUCERS], *cons[CV_CONSUMERS];
    for (int i = 0; i < CV_CONSUMERS; i++)
        storm_victims[storm_n_victims++] = cons[i] = spawn(cv_consumer, NULL);
    for (int i = 0; i < CV_PRODUCERS; i++)
        storm_victims[storm_n_victims++] = prod[i] = spawn(cv_producer, NULL);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    /* Once the producers are done the chaos stops: the consumers still
     * waiting then rely on notifications alone, so a notification lost to
     * a cancel or a timeout leaves one parked for good (-EDEADLK). */
    for (int i = 0; i < CV_PRODUCERS; i++)
        assert_int_equal(weft_await(prod[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < CV_CONSUMERS; i++)
        assert_int_equal(weft_await(cons[i]), 0);
    for (int i = 0; i < CV_PRODUCERS; i++)
        weft_task_free(prod[i]);
    for (int i = 0; i < CV_CONSUMERS; i++)
        weft_task_free(cons[i]);
    assert_int_equal(cv_produced, CV_ITEMS);
    assert_int_equal(cv_consumed, CV_ITEMS);
    assert_int_equal(cv_avail, 0);
    assert_null(cv_holder);
    assert_int_equal(weft_lock_locked(CL), 0);
    print_message("condition: %ld items, %ld waits cancelled, %ld timed out\n", cv_consumed,
                  storm_cancelled, storm_timedout);
    assert_true(storm_cancelled > 0 && storm_timedout > 0);
    weft_cond_free(CV);
    weft_lock_free(CL);
    return 0;
}

static void test_cond_storm(void **state)
{
    (void)state;
    RUN_WITH(cond_storm, NULL);
}

/* --------------------------------------------------------------- barrier */

#define BR_TASKS   7
#define BR_PARTIES 3
#define BR_ROUNDS  400

static weft_barrier *B;
static long br_index_count[BR_PARTIES]; /* returns with each arrival index */
static long br_broken, br_resets;
static int br_live; /* tasks still doing rounds */

static int do_barrier_wait(void *arg)
{
    (void)arg;
    return weft_barrier_wait(B);
}

static int br_task(void *arg)
{
    (void)arg;
    for (int i = 0; i < BR_ROUNDS; i++) {
        int rc = storm_with_timeout(do_barrier_wait, NULL, 300);
        if (rc >= 0) {
            if (rc >= BR_PARTIES)
                return -1000;
            br_index_count[rc]++;
        } else if (rc == WEFT_EBROKEN) {
            br_broken++;
            /* Repair it while enough parties are left to fill a round. */
            if (weft_barrier_broken(B) && br_live >= BR_PARTIES && storm_rnd(2) == 0) {
                assert_int_equal(weft_barrier_reset(B), 0);
                br_resets++;
            }
        } else if (!storm_cut(rc)) {
            return rc;
        }
        if (storm_rnd(50) == 0 && br_live >= BR_PARTIES) { /* now and then, break a round */
            assert_int_equal(storm_rnd(2) ? weft_barrier_reset(B) : weft_barrier_abort(B), 0);
            br_resets++;
        }
        if (storm_rnd(3) == 0)
            storm_yield();
    }
    /* Too few parties left to fill a round: break it for good, so that
     * those still waiting (some with no timeout) come out. */
    if (--br_live < BR_PARTIES)
        assert_int_equal(weft_barrier_abort(B), 0);
    return 0;
}

static int barrier_storm(void *arg)
{
    (void)arg;
    storm_begin(8080);
    memset(br_index_count, 0, sizeof br_index_count);
    br_broken = br_resets = 0;
    br_live = BR_TASKS;
    assert_int_equal(weft_barrier_new(BR_PARTIES, &B), 0);
    weft_task *t[BR_TASKS];
    for (int i = 0; i < BR_TASKS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(br_task, NULL);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < BR_TASKS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < BR_TASKS; i++)
        weft_task_free(t[i]);
    /* Every round that passed had exactly BR_PARTIES parties, each with
     * its own arrival index: as many returns of each index. */
    for (int i = 1; i < BR_PARTIES; i++)
        assert_int_equal(br_index_count[i], br_index_count[0]);
    assert_true(weft_barrier_broken(B));
    assert_int_equal(weft_barrier_n_waiting(B), 0);
    print_message("barrier: %ld rounds, %ld broken waits, %ld resets/aborts, %ld cancelled, "
                  "%ld timed out\n",
                  br_index_count[0], br_broken, br_resets, storm_cancelled, storm_timedout);
    assert_true(br_index_count[0] > 10 && br_broken > 0 && storm_cancelled > 0 &&
                storm_timedout > 0);
    weft_barrier_free(B);
    return 0;
}

static void test_barrier_storm(void **state)
{
    (void)state;
    RUN_WITH(barrier_storm, NULL);
}

/* ----------------------------------- await, gather, wait, as_completed */

#define PARENTS  6
#define KIDS     5
#define P_ROUNDS 60

typedef struct kid {
    int value; /* what it returns, or -EIO when fail */
    bool fail;
    double nap;
} kid;

typedef struct brood {
    weft_task *t[KIDS];
    kid k[KIDS];
} brood;

static long kids_ok, kids_cancelled, kids_failed, combos_done;

static int kid_main(void *arg)
{
    kid *k = arg;
    int rc = weft_sleep(k->nap);
    if (rc != 0)
        return rc;
    return k->fail ? -EIO : k->value;
}

static int kid_expected(const brood *b, int i)
{
    return b->k[i].fail ? -EIO : b->k[i].value;
}

/* The code a child that nobody cancelled must have. */
static bool kid_result_ok(const brood *b, int i, int rc)
{
    return rc == kid_expected(b, i);
}

enum { C_AWAIT, C_GATHER, C_GATHER_EXC, C_WAIT, C_AS_COMPLETED, C_WAIT_FOR, C_SHIELD, C_N };

typedef struct combo {
    brood *b;
    int kind;
    int flag;
    double timeout;
} combo;

/* One combinator over the brood; checks what it returned against the
 * children. Returns 0, a cut (ETIMEDOUT/ECANCELED, from a scope or the
 * chaos), or a negative test failure (-1xxx). */
static int do_combo(void *arg)
{
    combo *c = arg;
    brood *b = c->b;
    int rc = 0;
    switch (c->kind) {
    case C_AWAIT:
        for (int i = 0; i < KIDS; i++) {
            rc = weft_await(b->t[i]);
            if (storm_cut(rc))
                return rc;
            if (!weft_task_done(b->t[i]) || !kid_result_ok(b, i, rc))
                return -1100;
        }
        return 0;
    case C_GATHER:
    case C_GATHER_EXC:
        rc = weft_gather(b->t, KIDS, c->kind == C_GATHER_EXC ? WEFT_RETURN_EXCEPTIONS : 0);
        if (storm_cut(rc))
            return rc;
        if (rc == 0) {
            for (int i = 0; i < KIDS; i++)
                if (!weft_task_done(b->t[i]) || !kid_result_ok(b, i, weft_task_result(b->t[i])))
                    return -1200;
            if (c->kind == C_GATHER)
                for (int i = 0; i < KIDS; i++)
                    if (b->k[i].fail)
                        return -1201;
            return 0;
        }
        if (c->kind == C_GATHER_EXC || rc != -EIO)
            return -1202;
        for (int i = 0; i < KIDS; i++) /* one that failed is done */
            if (weft_task_done(b->t[i]) && weft_task_result(b->t[i]) == -EIO)
                return 0;
        return -1203;
    case C_WAIT: {
        rc = weft_wait(b->t, KIDS, c->flag, c->timeout);
        if (storm_cut(rc))
            return rc;
        int done = 0;
        bool failed = false;
        for (int i = 0; i < KIDS; i++)
            if (weft_task_done(b->t[i])) {
                done++;
                int r = weft_task_result(b->t[i]);
                if (!kid_result_ok(b, i, r))
                    return -1300;
                failed |= r == -EIO;
            }
        if (rc != done)
            return -1301;
        if (c->timeout == WEFT_FOREVER) {
            if (c->flag == WEFT_ALL_COMPLETED && done != KIDS)
                return -1302;
            if (c->flag == WEFT_FIRST_COMPLETED && done < 1)
                return -1303;
            if (c->flag == WEFT_FIRST_EXCEPTION && !failed && done != KIDS)
                return -1304;
        }
        return 0;
    }
    case C_AS_COMPLETED: {
        weft_as_completed *it;
        rc = weft_as_completed_new(b->t, KIDS, c->timeout, &it);
        if (rc != 0)
            return rc;
        bool given[KIDS] = {false};
        int n = 0;
        for (;;) {
            weft_task *t;
            rc = weft_as_completed_next(it, &t);
            if (rc != 1)
                break;
            int i = 0;
            while (i < KIDS && b->t[i] != t)
                i++;
            if (i == KIDS || given[i] || !weft_task_done(t) ||
                !kid_result_ok(b, i, weft_task_result(t))) {
                rc = -1400;
                break;
            }
            given[i] = true;
            n++;
        }
        weft_as_completed_free(it);
        if (rc == 0 && n != KIDS)
            return -1401;
        return rc;
    }
    case C_WAIT_FOR:
        /* wait_for's own timeout is reported as ETIMEDOUT after the child
         * was cancelled and ended. */
        rc = weft_wait_for(b->t[0], c->timeout);
        if (rc == WEFT_ETIMEDOUT && !weft_task_done(b->t[0]))
            return -1500;
        if (storm_cut(rc))
            return rc;
        return kid_result_ok(b, 0, rc) ? 0 : -1501;
    case C_SHIELD:
        rc = weft_shield(b->t[0]);
        if (storm_cut(rc))
            return rc;
        return kid_result_ok(b, 0, rc) ? 0 : -1600;
    }
    return -1999;
}

static int parent(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int r = 0; r < P_ROUNDS; r++) {
        brood *b = calloc(1, sizeof *b); /* the children's args: heap, not this stack */
        if (b == NULL)
            return -ENOMEM;
        for (int i = 0; i < KIDS; i++) {
            b->k[i].value = (p * 1000 + r * 10 + i) % 30000;
            b->k[i].fail = storm_rnd(8) == 0;
            b->k[i].nap = storm_rnd(5) == 0 ? 0 : storm_rnd(400) * 1e-6;
            assert_int_equal(weft_spawn(kid_main, &b->k[i], &b->t[i]), 0);
        }
        static const int modes[] = {WEFT_FIRST_COMPLETED, WEFT_FIRST_EXCEPTION, WEFT_ALL_COMPLETED};
        combo c = {b, storm_rnd(C_N), modes[storm_rnd(3)],
                   storm_rnd(3) == 0 ? storm_rnd(300) * 1e-6 : WEFT_FOREVER};
        if (c.kind == C_WAIT_FOR && c.timeout == WEFT_FOREVER)
            c.timeout = storm_rnd(300) * 1e-6;
        int rc = storm_with_timeout(do_combo, &c, 300);
        if (rc == 0)
            combos_done++;
        else if (!storm_cut(rc))
            return rc;
        /* Every child ends: cancel what runs and await each. An await
         * returns once its task has ended, even when it is cancelled. */
        for (int i = 0; i < KIDS; i++) {
            if (storm_rnd(2) == 0)
                weft_cancel(b->t[i]);
            rc = weft_await(b->t[i]);
            if (rc == WEFT_ECANCELED)
                storm_absorb();
            if (!weft_task_done(b->t[i]))
                return -1700;
            rc = weft_task_result(b->t[i]);
            if (rc == WEFT_ECANCELED)
                kids_cancelled++;
            else if (!kid_result_ok(b, i, rc))
                return -1701;
            else if (rc == -EIO)
                kids_failed++;
            else
                kids_ok++;
        }
        for (int i = 0; i < KIDS; i++)
            weft_task_free(b->t[i]);
        free(b);
    }
    return 0;
}

static int combinator_storm(void *arg)
{
    (void)arg;
    storm_begin(4711);
    kids_ok = kids_cancelled = kids_failed = combos_done = 0;
    weft_task *t[PARENTS];
    for (int i = 0; i < PARENTS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(parent, (void *)(intptr_t)i);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < PARENTS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < PARENTS; i++)
        weft_task_free(t[i]);
    assert_int_equal(kids_ok + kids_failed + kids_cancelled, PARENTS * P_ROUNDS * KIDS);
    print_message("combinators: %ld done, %ld children returned, %ld failed, %ld cancelled; "
                  "%ld waits cancelled, %ld timed out\n",
                  combos_done, kids_ok, kids_failed, kids_cancelled, storm_cancelled,
                  storm_timedout);
    assert_true(combos_done > 0 && kids_ok > 0 && kids_failed > 0 && kids_cancelled > 0);
    assert_true(storm_cancelled > 0 && storm_timedout > 0);
    return 0;
}

static void test_combinator_storm(void **state)
{
    (void)state;
    RUN_WITH(combinator_storm, NULL);
}

/* ------------------------------------------------ nested timeout scopes */

#define SCOPERS  6
#define S_ROUNDS 400

static long s_completed, s_inner, s_outer, s_user;

static double rnd_delay(void)
{
    switch (storm_rnd(4)) {
    case 0:
        return 0; /* expired before the wait */
    case 1:
        return WEFT_FOREVER;
    default:
        return storm_rnd(400) * 1e-6;
    }
}

/* A sleep in an inner scope in an outer one, checked against asyncio's
 * rules: a scope turns the cancellation into ETIMEDOUT only if it expired
 * and no other cancellation (an outer scope's, a user's) is pending; an
 * inner timeout passes through the outer scope unchanged; a user's cancel
 * always comes out as ECANCELED. */
static int scoper(void *arg)
{
    bool with_chaos = arg != NULL;
    weft_task *self = weft_task_current();
    for (int i = 0; i < S_ROUNDS; i++) {
        weft_timeout *outer, *inner;
        if (weft_timeout_begin(rnd_delay(), &outer) != 0)
            return -1;
        if (weft_timeout_begin(rnd_delay(), &inner) != 0)
            return -1;
        int rc = weft_sleep(storm_rnd(3) == 0 ? 0 : storm_rnd(400) * 1e-6);
        bool in_exp = weft_timeout_expired(inner), out_exp = weft_timeout_expired(outer);
        int r1 = weft_timeout_end(inner, rc);
        if (rc != WEFT_ECANCELED && r1 != rc)
            return -2000; /* only a cancellation is converted */
        if (r1 == WEFT_ETIMEDOUT && rc == WEFT_ECANCELED && (!in_exp || out_exp))
            return -2001; /* converted by a scope that did not fire, or under the outer's */
        if (!with_chaos && rc == WEFT_ECANCELED && in_exp && !out_exp && r1 != WEFT_ETIMEDOUT)
            return -2002; /* the inner fired alone: its timeout */
        out_exp = weft_timeout_expired(outer);
        int r2 = weft_timeout_end(outer, r1);
        if (r1 != WEFT_ECANCELED && r2 != r1)
            return -2003;
        if (r1 == WEFT_ECANCELED && r2 == WEFT_ETIMEDOUT && !out_exp)
            return -2004;
        if (!with_chaos && r1 == WEFT_ECANCELED && r2 != WEFT_ETIMEDOUT)
            return -2005; /* no user cancel: a cancellation is some scope's */
        if (r2 == WEFT_ETIMEDOUT && weft_cancelling(self) != 0)
            return -2006; /* a user's cancel pending, yet a timeout came out */
        if (r2 == WEFT_ECANCELED && weft_cancelling(self) == 0)
            return -2007; /* ECANCELED with nobody's cancellation pending */
        if (r2 == 0)
            s_completed++;
        else if (r2 == WEFT_ETIMEDOUT)
            *(r1 == WEFT_ETIMEDOUT ? &s_inner : &s_outer) += 1;
        else if (r2 == WEFT_ECANCELED)
            s_user++;
        else
            return r2;
        if (weft_cancelling(self) != 0 && !with_chaos)
            return -2008; /* the scopes took back their own cancellations */
        storm_absorb();
    }
    return 0;
}

static int scope_storm(void *arg)
{
    bool with_chaos = arg != NULL;
    storm_begin(with_chaos ? 1999 : 1998);
    s_completed = s_inner = s_outer = s_user = 0;
    weft_task *t[SCOPERS];
    for (int i = 0; i < SCOPERS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(scoper, arg);
    weft_task *ch = with_chaos ? spawn(storm_chaos, (void *)(intptr_t)100) : NULL;
    for (int i = 0; i < SCOPERS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    if (ch)
        storm_chaos_stop(ch);
    for (int i = 0; i < SCOPERS; i++)
        weft_task_free(t[i]);
    assert_int_equal(s_completed + s_inner + s_outer + s_user, SCOPERS * S_ROUNDS);
    print_message("scopes%s: %ld completed, %ld inner timeouts, %ld outer, %ld cancelled\n",
                  with_chaos ? " (chaos)" : "", s_completed, s_inner, s_outer, s_user);
    assert_true(s_completed > 0 && s_inner > 0 && s_outer > 0);
    assert_true(with_chaos ? s_user > 0 : s_user == 0);
    return 0;
}

static void test_scope_storm(void **state)
{
    (void)state;
    RUN_WITH(scope_storm, NULL);
    RUN_WITH(scope_storm, (void *)1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_storm),      cmocka_unit_test(test_event_storm),
        cmocka_unit_test(test_cond_storm),       cmocka_unit_test(test_barrier_storm),
        cmocka_unit_test(test_combinator_storm), cmocka_unit_test(test_scope_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
