/* Tests of weft_lock and weft_cond: FIFO hand-over, ownership, every error
 * path, cancellation at each wait (including at the moment of hand-over),
 * timeouts, use from another thread, allocation failures. */
#include "sync_test.h"

static weft_lock *L;
static int order[8], n_order;

/* ------------------------------------------------------------------ lock */

static int lock_basic_body(void *arg)
{
    (void)arg;
    weft_lock *lock;
    assert_int_equal(weft_lock_new(NULL), -EINVAL);
    assert_int_equal(weft_lock_new(&lock), 0);
    assert_int_equal(weft_lock_locked(lock), 0);
    assert_int_equal(weft_lock_release(lock), -EPERM);
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(weft_lock_locked(lock), 1);
    assert_int_equal(weft_lock_acquire(lock), -EDEADLK);
    assert_int_equal(weft_lock_try_acquire(lock), -EAGAIN);
    assert_int_equal(weft_lock_release(lock), 0);
    assert_int_equal(weft_lock_try_acquire(lock), 0);
    assert_int_equal(weft_lock_release(lock), 0);
    assert_int_equal(weft_lock_release(lock), -EPERM);
    assert_int_equal(weft_lock_acquire(NULL), -EINVAL);
    assert_int_equal(weft_lock_release(NULL), -EINVAL);
    assert_int_equal(weft_lock_try_acquire(NULL), -EINVAL);
    assert_int_equal(weft_lock_locked(NULL), -EINVAL);
    weft_lock_free(lock);
    weft_lock_free(NULL);
    return 0;
}

static void test_lock_basic(void **state)
{
    (void)state;
    weft_lock *lock = (weft_lock *)1;
    assert_int_equal(weft_lock_new(&lock), WEFT_ENOTASK); /* no loop here */
    assert_null(lock);
    RUN_WITH(lock_basic_body, NULL);
}

static int fifo_waiter(void *arg)
{
    int id = (int)(intptr_t)arg;
    int rc = weft_lock_acquire(L);
    if (rc != 0)
        return rc;
    order[n_order++] = id;
    int src = weft_sleep(0);
    rc = weft_lock_release(L);
    return src != 0 ? src : rc;
}

static int lock_fifo_body(void *arg)
{
    (void)arg;
    n_order = 0;
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_lock_acquire(L), 0);
    weft_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(fifo_waiter, (void *)(intptr_t)i);
    settle();
    assert_int_equal(weft_lock_release(L), 0);
    /* A newcomer cannot barge in while tasks wait. */
    assert_int_equal(weft_lock_try_acquire(L), -EAGAIN);
    for (int i = 0; i < 4; i++)
        assert_int_equal(finish(t[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], i);
    assert_int_equal(weft_lock_locked(L), 0);
    weft_lock_free(L);
    return 0;
}

static void test_lock_fifo(void **state)
{
    (void)state;
    RUN_WITH(lock_fifo_body, NULL);
}

static int not_owner_release(void *arg)
{
    (void)arg;
    return weft_lock_release(L);
}

static int lock_owner_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_lock_acquire(L), 0);
    assert_int_equal(finish(spawn(not_owner_release, NULL)), -EPERM);
    assert_int_equal(weft_lock_locked(L), 1);
    assert_int_equal(weft_lock_release(L), 0);
    weft_lock_free(L);
    return 0;
}

static void test_lock_release_not_owner(void **state)
{
    (void)state;
    RUN_WITH(lock_owner_body, NULL);
}

static int acquire_once(void *arg)
{
    (void)arg;
    return weft_lock_acquire(L);
}

static int acquire_then_sleep(void *arg)
{
    int *phase = arg;
    int rc = weft_lock_acquire(L);
    if (rc != 0)
        return rc;
    *phase = 1;
    rc = weft_sleep(10); /* the pending cancel is delivered here */
    *phase = 2;
    int rrc = weft_lock_release(L);
    return rc == WEFT_ECANCELED && rrc == 0 ? 0 : -1000;
}

static int lock_cancel_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_lock_acquire(L), 0);

    /* Cancelled while waiting: gone from the queue, the lock goes on. */
    weft_task *a = spawn(acquire_once, NULL);
    weft_task *b = spawn(acquire_once, NULL);
    settle();
    assert_int_equal(weft_cancel(a), 1);
    assert_int_equal(finish(a), WEFT_ECANCELED);
    assert_int_equal(weft_lock_release(L), 0);
    assert_int_equal(finish(b), 0); /* b holds it now and ended */
    /* b ended holding it: only b could release. */
    assert_int_equal(weft_lock_locked(L), 1);
    weft_lock_free(L);

    /* Cancelled at the hand-over: the acquire returns 0 and the task holds
     * the lock; the cancel comes at its next wait. */
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_lock_acquire(L), 0);
    int phase = 0;
    weft_task *c = spawn(acquire_then_sleep, &phase);
    settle();
    assert_int_equal(weft_lock_release(L), 0); /* handed to c, c is ready */
    assert_int_equal(weft_cancel(c), 1);
    assert_int_equal(finish(c), 0);
    assert_int_equal(phase, 2);
    assert_int_equal(weft_lock_locked(L), 0);

    /* A timeout scope around a wait for the lock. */
    assert_int_equal(weft_lock_acquire(L), 0);
    weft_lock_release(L);
    weft_task *holder = spawn(acquire_once, NULL);
    settle();
    assert_int_equal(weft_lock_locked(L), 1);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_lock_acquire(L);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_int_equal(finish(holder), 0);
    weft_lock_free(L);

    /* A cancel pending before the wait: a free lock is taken without
     * delivering it (asyncio), a held one delivers it. */
    assert_int_equal(weft_lock_new(&L), 0);
    weft_cancel(weft_task_current());
    assert_int_equal(weft_lock_acquire(L), 0);
    assert_int_equal(weft_sleep(0), WEFT_ECANCELED);
    weft_uncancel(weft_task_current());
    holder = spawn(acquire_once, NULL);
    weft_lock_release(L);
    settle();
    weft_cancel(weft_task_current());
    assert_int_equal(weft_lock_acquire(L), WEFT_ECANCELED);
    weft_uncancel(weft_task_current());
    assert_int_equal(finish(holder), 0);
    weft_lock_free(L);
    return 0;
}

static void test_lock_cancel(void **state)
{
    (void)state;
    RUN_WITH(lock_cancel_body, NULL);
}

static int lock_free_waiters_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_lock_acquire(L), 0);
    weft_task *a = spawn(acquire_once, NULL);
    settle();
    weft_lock_free(L);
    assert_int_equal(finish(a), WEFT_ECLOSED);
    return 0;
}

static void test_lock_free_with_waiters(void **state)
{
    (void)state;
    RUN_WITH(lock_free_waiters_body, NULL);
}

/* Another loop on another thread, and a plain thread, are refused. */
static int foreign_lock_body(void *arg)
{
    weft_lock *lock = arg;
    if (weft_lock_acquire(lock) != WEFT_EFOREIGN || weft_lock_try_acquire(lock) != WEFT_EFOREIGN ||
        weft_lock_release(lock) != WEFT_EFOREIGN)
        return -1;
    return 0;
}

static void plain_lock_calls(void *arg)
{
    weft_lock *lock = arg;
    assert_int_equal(weft_lock_acquire(lock), WEFT_ENOTASK);
    assert_int_equal(weft_lock_release(lock), WEFT_EFOREIGN);
}

static void callback_lock_calls(void *arg)
{
    weft_lock *lock = arg;
    /* Callbacks are not tasks: they cannot own a lock. */
    assert_int_equal(weft_lock_try_acquire(lock), WEFT_ENOTASK);
    assert_int_equal(weft_lock_release(lock), -EPERM);
}

static int lock_foreign_body(void *arg)
{
    (void)arg;
    weft_lock *lock;
    assert_int_equal(weft_lock_new(&lock), 0);
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(run_on_other_thread(foreign_lock_body, lock), 0);
    run_on_plain_thread(plain_lock_calls, lock);
    assert_int_equal(weft_lock_locked(lock), 1);
    assert_int_equal(weft_call_soon(NULL, callback_lock_calls, lock, NULL), 0);
    settle();
    assert_int_equal(weft_lock_release(lock), 0);
    weft_lock_free(lock);
    return 0;
}

static void test_lock_foreign(void **state)
{
    (void)state;
    RUN_WITH(lock_foreign_body, NULL);
}

static int alloc_body(void *arg)
{
    (void)arg;
    weft_lock *lock = (weft_lock *)1;
    weft_cond *cond = (weft_cond *)1;
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_lock_new(&lock), -ENOMEM);
    assert_null(lock);
    for (int nth = 1; nth <= 2; nth++) { /* the condition, then its own lock */
        weft__fault_arm(WEFT__FAULT_ALLOC, nth);
        assert_int_equal(weft_cond_new(NULL, &cond), -ENOMEM);
        assert_null(cond);
    }
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    return 0;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    RUN_WITH(alloc_body, NULL);
}

/* The talk's shared counter: read, await, write, made exact by the lock. */
static int counter;

static int bump(void *arg)
{
    bool locked = arg != NULL;
    for (int i = 0; i < 5; i++) {
        if (locked && weft_lock_acquire(L) != 0)
            return -1;
        int v = counter;
        if (weft_sleep(0) != 0)
            return -1; /* never cancelled here */
        counter = v + 1;
        if (locked && weft_lock_release(L) != 0)
            return -1;
    }
    return 0;
}

static int counter_body(void *arg)
{
    (void)arg;
    assert_int_equal(weft_lock_new(&L), 0);
    counter = 0;
    weft_task *a = spawn(bump, NULL), *b = spawn(bump, NULL);
    assert_int_equal(finish(a), 0);
    assert_int_equal(finish(b), 0);
    assert_int_not_equal(counter, 10); /* lost updates */
    counter = 0;
    a = spawn(bump, L);
    b = spawn(bump, L);
    assert_int_equal(finish(a), 0);
    assert_int_equal(finish(b), 0);
    assert_int_equal(counter, 10);
    weft_lock_free(L);
    return 0;
}

static void test_lock_shared_counter(void **state)
{
    (void)state;
    RUN_WITH(counter_body, NULL);
}

/* ------------------------------------------------------------- condition */

static weft_cond *C;
static int ready_flag, woken;

static int cond_waiter(void *arg)
{
    (void)arg;
    int rc = weft_lock_acquire(weft_cond_lock(C));
    if (rc != 0)
        return rc;
    weft_cond *cond = C;
    weft_lock *lock = weft_cond_lock(cond);
    rc = weft_cond_wait(cond);
    if (rc == WEFT_ECLOSED) /* freed: touch nothing */
        return weft_lock_locked(lock) ? -1001 : rc;
    if (weft__lock_owner(weft_cond_lock(C)) != weft_task_current())
        return -1000; /* the lock must be held again, whatever rc is */
    if (rc == 0)
        woken++;
    weft_lock_release(weft_cond_lock(C));
    return rc;
}

static int flag_set(void *arg)
{
    (void)arg;
    return ready_flag;
}

static int cond_pred_waiter(void *arg)
{
    (void)arg;
    weft_lock *lock = weft_cond_lock(C);
    int rc = weft_lock_acquire(lock);
    if (rc != 0)
        return rc;
    rc = weft_cond_wait_for(C, flag_set, NULL);
    weft_lock_release(lock);
    return rc;
}

static int cond_basic_body(void *arg)
{
    (void)arg;
    woken = 0;
    assert_int_equal(weft_cond_new(NULL, NULL), -EINVAL);
    assert_int_equal(weft_cond_new(NULL, &C), 0);
    weft_lock *lock = weft_cond_lock(C);
    assert_non_null(lock);
    assert_null(weft_cond_lock(NULL));
    assert_int_equal(weft_cond_wait(C), -EPERM);
    assert_int_equal(weft_cond_notify(C, 1), -EPERM);
    assert_int_equal(weft_cond_notify_all(C), -EPERM);
    assert_int_equal(weft_cond_wait_for(C, NULL, NULL), -EINVAL);
    assert_int_equal(weft_cond_wait(NULL), -EINVAL);

    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(cond_waiter, NULL);
    settle();
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(weft_cond_notify(C, 1), 1);
    assert_int_equal(weft_lock_release(lock), 0);
    settle();
    assert_int_equal(woken, 1);
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(weft_cond_notify_all(C), 2);
    assert_int_equal(weft_cond_notify_all(C), 0);
    assert_int_equal(weft_lock_release(lock), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(finish(t[i]), 0);
    assert_int_equal(woken, 3);

    /* wait_for: the predicate is checked first and after each wakeup. */
    ready_flag = 0;
    weft_task *p = spawn(cond_pred_waiter, NULL);
    settle();
    assert_int_equal(weft_lock_acquire(lock), 0);
    weft_cond_notify_all(C); /* spurious for p: the flag is not set */
    weft_lock_release(lock);
    settle();
    assert_false(weft_task_done(p));
    assert_int_equal(weft_lock_acquire(lock), 0);
    ready_flag = 1;
    weft_cond_notify_all(C);
    weft_lock_release(lock);
    assert_int_equal(finish(p), 0);
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(weft_cond_wait_for(C, flag_set, NULL), 0); /* true at once */
    weft_lock_release(lock);
    weft_cond_free(C);

    /* A lock of the caller's. */
    weft_lock *mine;
    assert_int_equal(weft_lock_new(&mine), 0);
    assert_int_equal(weft_cond_new(mine, &C), 0);
    assert_ptr_equal(weft_cond_lock(C), mine);
    weft_cond_free(C);
    assert_int_equal(weft_lock_acquire(mine), 0); /* still usable */
    weft_lock_release(mine);
    weft_lock_free(mine);
    return 0;
}

static void test_cond_basic(void **state)
{
    (void)state;
    RUN_WITH(cond_basic_body, NULL);
}

static int cond_cancel_body(void *arg)
{
    (void)arg;
    woken = 0;
    assert_int_equal(weft_cond_new(NULL, &C), 0);
    weft_lock *lock = weft_cond_lock(C);

    /* Cancelled while waiting: ECANCELED with the lock held again. */
    weft_task *a = spawn(cond_waiter, NULL);
    settle();
    weft_cancel(a);
    assert_int_equal(finish(a), WEFT_ECANCELED);
    assert_int_equal(weft_lock_locked(lock), 0);

    /* Cancelled while re-acquiring (the lock is held by us): it waits for
     * the lock all the same, then reports the cancel; the notification it
     * can no longer use goes to the other waiter. */
    a = spawn(cond_waiter, NULL);
    weft_task *b = spawn(cond_waiter, NULL);
    settle();
    assert_int_equal(weft_lock_acquire(lock), 0);
    assert_int_equal(weft_cond_notify(C, 1), 1); /* a */
    settle();                                    /* a now waits for the lock */
    weft_cancel(a);
    settle();
    assert_false(weft_task_done(a)); /* still waiting for the lock */
    assert_int_equal(weft_lock_release(lock), 0);
    assert_int_equal(finish(a), WEFT_ECANCELED);
    assert_int_equal(finish(b), 0); /* woken by a's passed-on notification */
    assert_int_equal(woken, 1);

    /* A timeout scope around wait. */
    assert_int_equal(weft_lock_acquire(lock), 0);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_cond_wait(C);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_ptr_equal(weft__lock_owner(lock), weft_task_current());
    weft_lock_release(lock);

    /* Freed with a waiter: woken with ECLOSED (without the lock). */
    weft_lock *mine;
    assert_int_equal(weft_lock_new(&mine), 0);
    weft_cond_free(C);
    assert_int_equal(weft_cond_new(mine, &C), 0);
    a = spawn(cond_waiter, NULL);
    settle();
    weft_cond_free(C);
    assert_int_equal(weft_task_result(a), -EAGAIN);
    int arc = weft_await(a);
    weft_task_free(a);
    assert_int_equal(arc, WEFT_ECLOSED); /* and the lock is not held again */
    assert_int_equal(weft_lock_locked(mine), 0);
    weft_lock_free(mine);
    return 0;
}

static void test_cond_cancel(void **state)
{
    (void)state;
    RUN_WITH(cond_cancel_body, NULL);
}

static int cond_foreign_body(void *arg)
{
    weft_cond *cond = arg;
    weft_lock *lock = weft_cond_lock(cond);
    weft_cond *other = (weft_cond *)1;
    if (weft_cond_new(lock, &other) != WEFT_EFOREIGN || other != NULL)
        return -1;
    if (weft_cond_wait(cond) != WEFT_EFOREIGN || weft_cond_notify(cond, 1) != WEFT_EFOREIGN)
        return -2;
    return 0;
}

static int cond_foreign_main(void *arg)
{
    (void)arg;
    weft_cond *cond;
    assert_int_equal(weft_cond_new(NULL, &cond), 0);
    assert_int_equal(run_on_other_thread(cond_foreign_body, cond), 0);
    weft_cond_free(cond);
    return 0;
}

static void test_cond_foreign(void **state)
{
    (void)state;
    RUN_WITH(cond_foreign_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_basic),
        cmocka_unit_test(test_lock_fifo),
        cmocka_unit_test(test_lock_release_not_owner),
        cmocka_unit_test(test_lock_cancel),
        cmocka_unit_test(test_lock_free_with_waiters),
        cmocka_unit_test(test_lock_foreign),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_lock_shared_counter),
        cmocka_unit_test(test_cond_basic),
        cmocka_unit_test(test_cond_cancel),
        cmocka_unit_test(test_cond_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
