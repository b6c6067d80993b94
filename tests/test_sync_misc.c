/* Tests of weft_event, weft_sem (plain and bounded) and weft_barrier: each
 * call, each error path, cancellation and timeouts at every wait, FIFO
 * hand-over, use from another thread, allocation failures. */
#include "sync_test.h"

static weft_event *E;
static weft_sem *S;
static weft_barrier *B;
static int count;

/* ----------------------------------------------------------------- event */

static int ev_waiter(void *arg)
{
    (void)arg;
    int rc = weft_event_wait(E);
    if (rc == 0)
        count++;
    return rc;
}

static void set_from_callback(void *arg)
{
    assert_int_equal(weft_event_set(arg), 0);
}

static int event_body(void *arg)
{
    (void)arg;
    count = 0;
    assert_int_equal(weft_event_new(NULL), -EINVAL);
    assert_int_equal(weft_event_new(&E), 0);
    assert_int_equal(weft_event_is_set(E), 0);
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(ev_waiter, NULL);
    settle();
    assert_int_equal(count, 0);
    assert_int_equal(weft_event_set(E), 0);
    assert_int_equal(weft_event_is_set(E), 1);
    assert_int_equal(weft_event_clear(E), 0); /* the woken keep their success */
    for (int i = 0; i < 3; i++)
        assert_int_equal(finish(t[i]), 0);
    assert_int_equal(count, 3);
    weft_event_set(E);
    assert_int_equal(weft_event_wait(E), 0); /* set: at once */
    weft_event_clear(E);
    assert_int_equal(weft_event_is_set(E), 0);

    /* Cancel and timeout. */
    weft_task *c = spawn(ev_waiter, NULL);
    settle();
    weft_cancel(c);
    assert_int_equal(finish(c), WEFT_ECANCELED);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_event_wait(E);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);

    /* Set from a callback. */
    assert_int_equal(weft_call_later(NULL, 0.01, set_from_callback, E, NULL), 0);
    assert_int_equal(weft_event_wait(E), 0);

    /* Errors; freed with a waiter. */
    assert_int_equal(weft_event_set(NULL), -EINVAL);
    assert_int_equal(weft_event_clear(NULL), -EINVAL);
    assert_int_equal(weft_event_wait(NULL), -EINVAL);
    assert_int_equal(weft_event_is_set(NULL), -EINVAL);
    weft_event_clear(E);
    c = spawn(ev_waiter, NULL);
    settle();
    weft_event_free(E);
    assert_int_equal(finish(c), WEFT_ECLOSED);
    weft_event_free(NULL);

    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    weft_event *e2 = (weft_event *)1;
    assert_int_equal(weft_event_new(&e2), -ENOMEM);
    assert_null(e2);
    return 0;
}

static void test_event(void **state)
{
    (void)state;
    weft_event *e = (weft_event *)1;
    assert_int_equal(weft_event_new(&e), WEFT_ENOTASK);
    RUN_WITH(event_body, NULL);
}

/* ------------------------------------------------------------- semaphore */

static int order[8], n_order;

static int sem_waiter(void *arg)
{
    int rc = weft_sem_acquire(S);
    if (rc == 0)
        order[n_order++] = (int)(intptr_t)arg;
    return rc;
}

static int sem_body(void *arg)
{
    (void)arg;
    n_order = 0;
    assert_int_equal(weft_sem_new(1, NULL), -EINVAL);
    assert_int_equal(weft_sem_new(2, &S), 0);
    assert_int_equal(weft_sem_value(S), 2);
    assert_int_equal(weft_sem_acquire(S), 0);
    assert_int_equal(weft_sem_try_acquire(S), 0);
    assert_int_equal(weft_sem_try_acquire(S), -EAGAIN);
    assert_int_equal(weft_sem_value(S), 0);

    /* FIFO; a cancelled waiter steals no release. */
    weft_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(sem_waiter, (void *)(intptr_t)i);
    settle();
    weft_cancel(t[1]);
    settle();
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_sem_release(S), 0);
    assert_int_equal(weft_sem_value(S), 0); /* all three handed over */
    assert_int_equal(finish(t[0]), 0);
    assert_int_equal(finish(t[1]), WEFT_ECANCELED);
    assert_int_equal(finish(t[2]), 0);
    assert_int_equal(finish(t[3]), 0);
    assert_int_equal(n_order, 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);

    /* Cancelled at the hand-over: keeps the unit. */
    weft_task *c = spawn(sem_waiter, (void *)(intptr_t)5);
    settle();
    weft_sem_release(S);
    weft_cancel(c);
    assert_int_equal(finish(c), 0);
    assert_int_equal(weft_sem_value(S), 0);

    /* Timeout. */
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_sem_acquire(S);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);

    /* Unbounded: release freely. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(weft_sem_release(S), 0);
    assert_int_equal(weft_sem_value(S), 5);
    c = spawn(sem_waiter, NULL);
    assert_int_equal(finish(c), 0);
    weft_sem_free(S);

    /* Bounded. */
    assert_int_equal(weft_sem_new_bounded(&S, 1), 0);
    assert_int_equal(weft_sem_release(S), -EOVERFLOW);
    assert_int_equal(weft_sem_acquire(S), 0);
    assert_int_equal(weft_sem_release(S), 0);
    assert_int_equal(weft_sem_release(S), -EOVERFLOW);
    assert_int_equal(weft_sem_value(S), 1);
    assert_int_equal(weft_sem_acquire(S), 0);
    c = spawn(sem_waiter, NULL);
    settle();
    weft_sem_free(S);
    assert_int_equal(finish(c), WEFT_ECLOSED);

    assert_int_equal(weft_sem_acquire(NULL), -EINVAL);
    assert_int_equal(weft_sem_release(NULL), -EINVAL);
    assert_int_equal(weft_sem_try_acquire(NULL), -EINVAL);
    assert_int_equal(weft_sem_value(NULL), -EINVAL);
    weft_sem_free(NULL);
    weft_sem *s2 = (weft_sem *)1;
    assert_int_equal(weft_sem_new(0x80000000u, &s2), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_sem_new(1, &s2), -ENOMEM);
    assert_null(s2);
    return 0;
}

static void test_sem(void **state)
{
    (void)state;
    RUN_WITH(sem_body, NULL);
}

static int sem_foreign_body(void *arg)
{
    weft_sem *sem = arg;
    if (weft_sem_acquire(sem) != WEFT_EFOREIGN || weft_sem_release(sem) != WEFT_EFOREIGN ||
        weft_sem_try_acquire(sem) != WEFT_EFOREIGN)
        return -1;
    return 0;
}

static int sem_foreign_main(void *arg)
{
    (void)arg;
    weft_sem *sem;
    assert_int_equal(weft_sem_new(1, &sem), 0);
    assert_int_equal(run_on_other_thread(sem_foreign_body, sem), 0);
    assert_int_equal(weft_sem_value(sem), 1);
    weft_sem_free(sem);
    return 0;
}

static void test_sem_foreign(void **state)
{
    (void)state;
    RUN_WITH(sem_foreign_main, NULL);
}

/* --------------------------------------------------------------- barrier */

static int results[8];

static int bar_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    results[i] = weft_barrier_wait(B);
    return results[i] >= 0 ? 0 : results[i];
}

static int barrier_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_barrier_new(2, NULL), -EINVAL);
    assert_int_equal(weft_barrier_new(0, &B), -EINVAL);
    assert_int_equal(weft_barrier_new(3, &B), 0);
    assert_int_equal(weft_barrier_parties(B), 3);
    for (int round = 0; round < 2; round++) {
        weft_task *t0 = spawn(bar_waiter, (void *)0), *t1 = spawn(bar_waiter, (void *)1);
        settle();
        assert_int_equal(weft_barrier_n_waiting(B), 2);
        int idx = weft_barrier_wait(B);
        assert_int_equal(idx, 2);
        assert_int_equal(finish(t0), 0);
        assert_int_equal(finish(t1), 0);
        assert_int_equal(results[0] + results[1], 1); /* 0 and 1 */
        assert_int_equal(weft_barrier_n_waiting(B), 0);
    }

    /* A cancelled waiter leaves; the barrier waits for another party. */
    weft_task *t0 = spawn(bar_waiter, (void *)0), *t1 = spawn(bar_waiter, (void *)1);
    settle();
    weft_cancel(t0);
    assert_int_equal(finish(t0), WEFT_ECANCELED);
    assert_int_equal(weft_barrier_n_waiting(B), 1);
    weft_task *t2 = spawn(bar_waiter, (void *)2);
    settle();
    assert_int_equal(weft_barrier_n_waiting(B), 2);
    assert_true(weft_barrier_wait(B) >= 0);
    assert_int_equal(finish(t1), 0);
    assert_int_equal(finish(t2), 0);

    /* A waiter cancelled while the round fills, and a party arriving
     * before the leaver has run: the round waits for a real third party
     * (it once opened with a party short), and the three that pass have
     * the three indices, in arrival order (test_wait_storm found both). */
    t0 = spawn(bar_waiter, (void *)0);
    t1 = spawn(bar_waiter, (void *)1);
    settle();
    weft_cancel(t0); /* t0 is ready, not yet gone */
    t2 = spawn(bar_waiter, (void *)2);
    assert_int_equal(weft_barrier_wait(B), 1); /* t1 came first, t2 last */
    assert_int_equal(finish(t0), WEFT_ECANCELED);
    assert_int_equal(finish(t1), 0);
    assert_int_equal(finish(t2), 0);
    assert_int_equal(results[1], 0);
    assert_int_equal(results[2], 2);

    /* Timeout. */
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_barrier_wait(B);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_int_equal(weft_barrier_n_waiting(B), 0);

    /* Reset: the waiters leave broken, then it works again. */
    t0 = spawn(bar_waiter, (void *)0);
    settle();
    assert_int_equal(weft_barrier_reset(B), 0);
    assert_int_equal(finish(t0), WEFT_EBROKEN);
    assert_int_equal(weft_barrier_broken(B), 0);
    t0 = spawn(bar_waiter, (void *)0);
    t1 = spawn(bar_waiter, (void *)1);
    assert_true(weft_barrier_wait(B) >= 0);
    assert_int_equal(finish(t0), 0);
    assert_int_equal(finish(t1), 0);

    /* Abort: every wait, now and later, is broken. */
    t0 = spawn(bar_waiter, (void *)0);
    settle();
    assert_int_equal(weft_barrier_abort(B), 0);
    assert_int_equal(finish(t0), WEFT_EBROKEN);
    assert_int_equal(weft_barrier_broken(B), 1);
    assert_int_equal(weft_barrier_wait(B), WEFT_EBROKEN);
    assert_int_equal(weft_barrier_reset(B), 0); /* reset repairs it */
    assert_int_equal(weft_barrier_broken(B), 0);

    /* Freed with a waiter. */
    t0 = spawn(bar_waiter, (void *)0);
    settle();
    weft_barrier_free(B);
    assert_int_equal(finish(t0), WEFT_ECLOSED);

    assert_int_equal(weft_barrier_wait(NULL), -EINVAL);
    assert_int_equal(weft_barrier_abort(NULL), -EINVAL);
    assert_int_equal(weft_barrier_reset(NULL), -EINVAL);
    assert_int_equal(weft_barrier_parties(NULL), -EINVAL);
    assert_int_equal(weft_barrier_n_waiting(NULL), -EINVAL);
    assert_int_equal(weft_barrier_broken(NULL), -EINVAL);
    weft_barrier_free(NULL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    weft_barrier *b2 = (weft_barrier *)1;
    assert_int_equal(weft_barrier_new(2, &b2), -ENOMEM);
    assert_null(b2);
    return 0;
}

static void test_barrier(void **state)
{
    (void)state;
    RUN_WITH(barrier_body, NULL);
}

/* Arrivals for the next round wait while the last round drains. */
static int drain_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_barrier_new(2, &B), 0);
    weft_task *t0 = spawn(bar_waiter, (void *)0);
    settle();
    assert_true(weft_barrier_wait(B) >= 0); /* releases; t0 is draining */
    weft_task *t1 = spawn(bar_waiter, (void *)1);
    weft_task *t2 = spawn(bar_waiter, (void *)2);
    assert_int_equal(finish(t0), 0);
    assert_int_equal(finish(t1), 0);
    assert_int_equal(finish(t2), 0);
    assert_int_equal(results[1] + results[2], 1);
    weft_barrier_free(B);
    return 0;
}

static void test_barrier_drain(void **state)
{
    (void)state;
    RUN_WITH(drain_body, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event),         cmocka_unit_test(test_sem),
        cmocka_unit_test(test_sem_foreign),   cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_barrier_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
