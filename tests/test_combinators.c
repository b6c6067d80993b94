/* Combinator tests: gather, wait, as_completed, wait_for, shield-free
 * timeout scopes and task groups, with the races asyncio users hit: a
 * timeout racing a completion, a cancel racing a timeout, nested scopes and
 * groups, and a randomized stress of 10,000 tasks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "weft.h"
#include "test_support.h"

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* Sleeps ms milliseconds then returns code; arg packs both. */
typedef struct job {
    int ms;
    int code;
    int finished;
} job;

static int run_job(void *arg)
{
    job *j = arg;
    int rc = weft_sleep(j->ms / 1000.0);
    if (rc != 0)
        return rc;
    j->finished = 1;
    return j->code;
}

static int sleep_forever(void *arg)
{
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

static void spawn_jobs(job *jobs, weft_task **t, int n)
{
    for (int i = 0; i < n; i++)
        t[i] = SPAWN(run_job, &jobs[i]);
}

static void free_all(weft_task **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weft_task_free(t[i]);
}

/* ------------------------------------------------------------ gather */

static int body_gather_first_error_others_run(void)
{
    job jobs[3] = {{10, 0, 0}, {5, -EIO, 0}, {300, 0, 0}};
    weft_task *t[3];
    spawn_jobs(jobs, t, 3);
    assert_int_equal(weft_gather(t, 3, 0), -EIO);
    assert_false(weft_task_done(t[2])); /* returned at the error; the others keep running */
    assert_int_equal(weft_await(t[2]), 0);
    assert_int_equal(jobs[2].finished, 1);
    free_all(t, 3);
    return 0;
}

static void test_gather_first_error_others_run(void **state)
{
    (void)state;
    RUN(body_gather_first_error_others_run);
}

static int body_gather_return_exceptions(void)
{
    job jobs[3] = {{10, 0, 0}, {5, -EIO, 0}, {15, -ENOENT, 0}};
    weft_task *t[3];
    spawn_jobs(jobs, t, 3);
    assert_int_equal(weft_gather(t, 3, WEFT_RETURN_EXCEPTIONS), 0);
    assert_int_equal(weft_task_result(t[0]), 0);
    assert_int_equal(weft_task_result(t[1]), -EIO);
    assert_int_equal(weft_task_result(t[2]), -ENOENT);
    assert_int_equal(weft_gather(t, 3, 0), -EIO); /* all done: first error at once */
    assert_int_equal(weft_gather(NULL, 0, 0), 0);
    assert_int_equal(weft_gather(NULL, 1, 0), -EINVAL);
    assert_int_equal(weft_gather(t, 3, 0x100), -EINVAL);
    free_all(t, 3);
    return 0;
}

static void test_gather_return_exceptions(void **state)
{
    (void)state;
    RUN(body_gather_return_exceptions);
}

static weft_task *kids[3];
static int gather_kids(void *arg)
{
    (void)arg;
    return weft_gather(kids, 3, 0);
}

static int body_gather_cancelled_cancels_children(void)
{
    for (int i = 0; i < 3; i++)
        kids[i] = SPAWN(sleep_forever, NULL);
    weft_task *g = SPAWN(gather_kids, NULL);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(g);
    assert_int_equal(weft_await(g), WEFT_ECANCELED);
    assert_int_equal(weft_sleep(0), 0);
    for (int i = 0; i < 3; i++)
        assert_true(weft_task_cancelled(kids[i]));
    weft_task_free(g);
    free_all(kids, 3);
    return 0;
}

static void test_gather_cancelled_cancels_children(void **state)
{
    (void)state;
    RUN(body_gather_cancelled_cancels_children);
}

/* The talk's three adds gathered: each returns its sum as a result (a
 * non-negative code), as `return a + b` does in asyncio. */
static int add(void *arg)
{
    int i = (int)(intptr_t)arg;
    int rc = weft_sleep(0.001 * (3 - i)); /* they end in reverse order */
    if (rc < 0)
        return rc;
    return i + 10;
}

static int body_gather_three_adds(void)
{
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = SPAWN(add, (void *)(intptr_t)i);
    assert_int_equal(weft_gather(t, 3, 0), 0); /* results are not errors */
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_task_result(t[i]), i + 10);
    assert_int_equal(weft_await(t[1]), 11); /* await gives the result too */
    free_all(t, 3);
    return 0;
}

/* Results mixed with an error: the error is what gather returns. */
static int body_gather_results_and_error(void)
{
    job jobs[3] = {{5, 7, 0}, {10, -EIO, 0}, {15, 9, 0}};
    weft_task *t[3];
    spawn_jobs(jobs, t, 3);
    assert_int_equal(weft_gather(t, 3, 0), -EIO);
    assert_int_equal(weft_task_result(t[0]), 7);
    assert_int_equal(weft_await(t[2]), 9);
    free_all(t, 3);
    return 0;
}

static void test_gather_results_and_error(void **state)
{
    (void)state;
    RUN(body_gather_results_and_error);
}

static void test_gather_three_adds(void **state)
{
    (void)state;
    RUN(body_gather_three_adds);
}

/* ------------------------------------------------------------ wait */

static int body_wait_modes(void)
{
    job jobs[4] = {{300, 0, 0}, {5, 0, 0}, {100, -EIO, 0}, {600, 0, 0}};
    weft_task *t[4];
    spawn_jobs(jobs, t, 4);
    assert_int_equal(weft_wait(t, 4, WEFT_FIRST_COMPLETED, WEFT_FOREVER), 1);
    assert_true(weft_task_done(t[1]));
    assert_int_equal(weft_wait(t, 4, WEFT_FIRST_EXCEPTION, WEFT_FOREVER), 2);
    assert_true(weft_task_done(t[2]));
    assert_false(weft_task_done(t[3]));
    /* a timeout is not an error: it returns how many are done */
    assert_int_equal(weft_wait(t, 4, WEFT_ALL_COMPLETED, 0.001), 2);
    assert_int_equal(weft_wait(t, 4, WEFT_ALL_COMPLETED, WEFT_FOREVER), 4);
    assert_int_equal(weft_wait(t, 0, WEFT_ALL_COMPLETED, 1), -EINVAL);
    assert_int_equal(weft_wait(t, 4, 42, 1), -EINVAL);
    assert_int_equal(weft_wait(t, 4, WEFT_ALL_COMPLETED, NAN), -EINVAL);
    free_all(t, 4);
    return 0;
}

static void test_wait_modes(void **state)
{
    (void)state;
    RUN(body_wait_modes);
}

/* FIRST_EXCEPTION waits past tasks that return results (non-negative). */
static int body_wait_first_exception_skips_results(void)
{
    job jobs[3] = {{5, 3, 0}, {10, 1, 0}, {40, -EPIPE, 0}};
    weft_task *t[3];
    spawn_jobs(jobs, t, 3);
    assert_int_equal(weft_wait(t, 3, WEFT_FIRST_EXCEPTION, WEFT_FOREVER), 3);
    assert_int_equal(weft_task_result(t[2]), -EPIPE);
    free_all(t, 3);
    return 0;
}

static void test_wait_first_exception_skips_results(void **state)
{
    (void)state;
    RUN(body_wait_first_exception_skips_results);
}

/* FIRST_COMPLETED / FIRST_EXCEPTION over ten tasks, as in the talk. The
 * tasks end 25 ms apart, so on a loaded machine a late turn of the loop may
 * see the next one end too: the checks allow that, never more. */
static int body_wait_ten(void)
{
    job jobs[10];
    weft_task *t[10];
    for (int i = 0; i < 10; i++) {
        jobs[i] = (job){i == 9 ? 5000 : 10 + 25 * i, i == 4 ? -EPIPE : 0, 0};
        t[i] = SPAWN(run_job, &jobs[i]);
    }
    int n = weft_wait(t, 10, WEFT_FIRST_COMPLETED, WEFT_FOREVER);
    assert_true(n >= 1 && n < 5 && weft_task_done(t[0]));
    n = weft_wait(t, 10, WEFT_FIRST_EXCEPTION, WEFT_FOREVER);
    assert_true(n >= 5 && n < 10);
    assert_false(weft_task_done(t[9])); /* it returned at the exception */
    assert_int_equal(weft_task_result(t[4]), -EPIPE);
    for (int i = 0; i < 10; i++)
        weft_cancel(t[i]);
    assert_int_equal(weft_gather(t, 10, WEFT_RETURN_EXCEPTIONS), 0);
    free_all(t, 10);
    return 0;
}

static void test_wait_first_completed_and_exception_over_ten(void **state)
{
    (void)state;
    RUN(body_wait_ten);
}

static weft_task *waited[2];
static int wait_on_waited(void *arg)
{
    (void)arg;
    return weft_wait(waited, 2, WEFT_ALL_COMPLETED, WEFT_FOREVER);
}

static int body_wait_cancelled_leaves_tasks(void)
{
    waited[0] = SPAWN(sleep_forever, NULL);
    waited[1] = SPAWN(sleep_forever, NULL);
    weft_task *w = SPAWN(wait_on_waited, NULL);
    assert_int_equal(weft_sleep(0.005), 0);
    weft_cancel(w);
    assert_int_equal(weft_await(w), WEFT_ECANCELED);
    assert_false(weft_task_done(waited[0])); /* asyncio.wait never cancels them */
    weft_cancel(waited[0]);
    weft_cancel(waited[1]);
    assert_int_equal(weft_gather(waited, 2, WEFT_RETURN_EXCEPTIONS), 0);
    free_all(waited, 2);
    weft_task_free(w);
    return 0;
}

static void test_wait_cancelled_leaves_tasks(void **state)
{
    (void)state;
    RUN(body_wait_cancelled_leaves_tasks);
}

/* ------------------------------------------------------------ as_completed */

static int body_as_completed(void)
{
    job jobs[3] = {{30, 3, 0}, {10, 1, 0}, {20, 2, 0}};
    weft_task *t[3];
    spawn_jobs(jobs, t, 3);
    weft_as_completed *it;
    assert_int_equal(weft_as_completed_new(t, 3, WEFT_FOREVER, &it), 0);
    weft_task *next;
    int expect = 1;
    while (weft_as_completed_next(it, &next) == 1)
        assert_int_equal(weft_task_result(next), expect++);
    assert_int_equal(expect, 4);
    assert_int_equal(weft_as_completed_next(it, &next), 0);
    weft_as_completed_free(it);
    free_all(t, 3);

    weft_task *slow = SPAWN(sleep_forever, NULL);
    assert_int_equal(weft_as_completed_new(&slow, 1, 0.01, &it), 0);
    assert_int_equal(weft_as_completed_next(it, &next), WEFT_ETIMEDOUT);
    weft_as_completed_free(it);
    weft_cancel(slow);
    assert_int_equal(weft_await(slow), WEFT_ECANCELED);
    weft_task_free(slow);
    assert_int_equal(weft_as_completed_new(NULL, 1, 1, &it), -EINVAL);
    return 0;
}

static void test_as_completed(void **state)
{
    (void)state;
    RUN(body_as_completed);
}

/* ------------------------------------------------------------ wait_for */

static int body_wait_for(void)
{
    job quick = {5, 4, 0};
    weft_task *t = SPAWN(run_job, &quick);
    assert_int_equal(weft_wait_for(t, 1.0), 4);
    weft_task_free(t);

    t = SPAWN(sleep_forever, NULL);
    double t0 = weft_time();
    assert_int_equal(weft_wait_for(t, 0.02), WEFT_ETIMEDOUT);
    assert_true(weft_time() - t0 < 0.5);
    assert_true(weft_task_cancelled(t)); /* cancelled and waited for */
    weft_task_free(t);

    /* timeout 0 on a finished task returns its result */
    t = SPAWN(return_arg, (void *)6);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_wait_for(t, 0), 6);
    weft_task_free(t);
    /* no stray cancellation is left behind */
    assert_int_equal(weft_cancelling(weft_task_current()), 0);
    assert_int_equal(weft_sleep(0.001), 0);
    assert_int_equal(weft_wait_for(NULL, 1), -EINVAL);
    return 0;
}

static void test_wait_for(void **state)
{
    (void)state;
    RUN(body_wait_for);
}

static weft_task *wf_inner;
static int call_wait_for(void *arg)
{
    return weft_wait_for(wf_inner, *(double *)arg);
}

static double wf_at;
static int wait_for_until(void *arg)
{
    (void)arg;
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin_at(wf_at, &scope), 0);
    return weft_timeout_end(scope, weft_await(wf_inner));
}

static void cancel_cb(void *arg)
{
    weft_cancel(arg);
}

/* CPython gh-86296: wait_for must never swallow the caller's cancellation. */
static int body_wait_for_keeps_outer_cancel(void)
{
    double limit = 10;
    wf_inner = SPAWN(sleep_forever, NULL);
    weft_task *caller = SPAWN(call_wait_for, &limit);
    assert_int_equal(weft_sleep(0.005), 0);
    weft_cancel(caller);
    assert_int_equal(weft_await(caller), WEFT_ECANCELED);
    assert_true(weft_task_cancelled(wf_inner));
    weft_task_free(caller);
    weft_task_free(wf_inner);

    /* the cancel and the timeout at the same moment (two timers with the
     * same deadline fire in one pass): the cancel wins */
    wf_at = weft_time() + 0.01;
    wf_inner = SPAWN(sleep_forever, NULL);
    caller = SPAWN(wait_for_until, NULL);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_call_at(NULL, wf_at, cancel_cb, caller, NULL), 0);
    assert_int_equal(weft_await(caller), WEFT_ECANCELED);
    weft_task_free(caller);
    weft_task_free(wf_inner);
    return 0;
}

static void test_wait_for_keeps_outer_cancel(void **state)
{
    (void)state;
    RUN(body_wait_for_keeps_outer_cancel);
}

/* The inner task finishes at the moment the timeout fires: its result
 * wins over the timeout if it got there first. */
static int finish_at(void *arg)
{
    int rc = weft_sleep(*(double *)arg);
    return rc < 0 ? rc : 5; /* cancelled first: it did not finish */
}

static int body_timeout_races_completion(void)
{
    int results[3] = {0, 0, 0};
    for (int i = 0; i < 200; i++) {
        double when = 0.001;
        weft_task *t = SPAWN(finish_at, &when);
        int rc = weft_wait_for(t, 0.001);
        assert_true(rc == 5 || rc == WEFT_ETIMEDOUT);
        results[rc == 5 ? 0 : 1]++;
        if (rc == WEFT_ETIMEDOUT)
            assert_true(weft_task_done(t));
        weft_task_free(t);
        assert_int_equal(weft_cancelling(weft_task_current()), 0);
    }
    assert_int_equal(results[0] + results[1], 200);
    return 0;
}

static void test_timeout_races_completion(void **state)
{
    (void)state;
    RUN(body_timeout_races_completion);
}

/* ------------------------------------------------------------ timeout scopes */

static int body_timeout_scope(void)
{
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.01, &scope), 0);
    assert_false(weft_timeout_expired(scope));
    double when = weft_timeout_when(scope);
    assert_true(when > weft_time() && when < weft_time() + 0.02);
    int rc = weft_sleep(1);
    assert_int_equal(rc, WEFT_ECANCELED); /* inside: a cancellation */
    assert_true(weft_timeout_expired(scope));
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);

    /* a scope that does not expire changes nothing */
    assert_int_equal(weft_timeout_begin(1, &scope), 0);
    assert_int_equal(weft_timeout_end(scope, weft_sleep(0.001)), 0);

    /* reschedule: push back, then to never */
    assert_int_equal(weft_timeout_begin(0.005, &scope), 0);
    assert_int_equal(weft_timeout_reschedule(scope, weft_time() + 0.03), 0);
    assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_timeout_reschedule(scope, WEFT_FOREVER), 0);
    assert_true(weft_timeout_when(scope) == WEFT_FOREVER);
    assert_int_equal(weft_sleep(0.03), 0);
    assert_int_equal(weft_timeout_end(scope, 0), 0);

    /* the deadline passes while no wait runs: the next wait gets it */
    assert_int_equal(weft_timeout_begin_at(weft_time() - 1, &scope), 0);
    assert_true(weft_timeout_expired(scope));
    assert_int_equal(weft_timeout_end(scope, weft_sleep(0)), WEFT_ETIMEDOUT);

    /* expired but the body never waited again: no stray cancellation */
    assert_int_equal(weft_timeout_begin(0, &scope), 0);
    assert_int_equal(weft_timeout_end(scope, 0), 0);
    assert_int_equal(weft_sleep(0.001), 0);

    assert_int_equal(weft_timeout_begin(NAN, &scope), -EINVAL);
    assert_int_equal(weft_timeout_begin(1, NULL), -EINVAL);
    assert_int_equal(weft_timeout_end(NULL, 0), -EINVAL);
    return 0;
}

static void test_timeout_scope(void **state)
{
    (void)state;
    RUN(body_timeout_scope);
}

static int body_nested_scopes(void)
{
    weft_timeout *outer, *inner;
    /* inner expires first: inner times out, outer goes on */
    assert_int_equal(weft_timeout_begin(1, &outer), 0);
    assert_int_equal(weft_timeout_begin(0.01, &inner), 0);
    int rc = weft_timeout_end(inner, weft_sleep(1));
    assert_int_equal(rc, WEFT_ETIMEDOUT);
    assert_int_equal(weft_sleep(0.001), 0);
    assert_int_equal(weft_timeout_end(outer, 0), 0);

    /* outer expires while inside inner: inner passes the cancellation
     * through, outer turns it into its timeout */
    assert_int_equal(weft_timeout_begin(0.01, &outer), 0);
    assert_int_equal(weft_timeout_begin(1, &inner), 0);
    rc = weft_timeout_end(inner, weft_sleep(1));
    assert_int_equal(rc, WEFT_ECANCELED);
    assert_int_equal(weft_timeout_end(outer, rc), WEFT_ETIMEDOUT);

    /* both expire at once: the outer one is the timeout that counts */
    double at = weft_time() + 0.01;
    assert_int_equal(weft_timeout_begin_at(at, &outer), 0);
    assert_int_equal(weft_timeout_begin_at(at, &inner), 0);
    rc = weft_timeout_end(inner, weft_sleep(1));
    assert_int_equal(rc, WEFT_ECANCELED);
    assert_int_equal(weft_timeout_end(outer, rc), WEFT_ETIMEDOUT);

    /* both begun with their deadline past: the outer one fires at its
     * begin, before the inner exists, and is still the timeout that
     * counts (the inner once took it for its own, and the outer's
     * cancellation was lost: test_wait_storm's scope storm) */
    assert_int_equal(weft_timeout_begin(0, &outer), 0);
    assert_int_equal(weft_timeout_begin(0, &inner), 0);
    rc = weft_timeout_end(inner, weft_sleep(1));
    assert_int_equal(rc, WEFT_ECANCELED);
    assert_int_equal(weft_timeout_end(outer, rc), WEFT_ETIMEDOUT);
    assert_int_equal(weft_cancelling(weft_task_current()), 0);

    /* ending the outer scope first is refused */
    assert_int_equal(weft_timeout_begin(1, &outer), 0);
    assert_int_equal(weft_timeout_begin(1, &inner), 0);
    assert_int_equal(weft_timeout_end(outer, 0), -EINVAL);
    assert_int_equal(weft_timeout_end(inner, 0), 0);
    assert_int_equal(weft_timeout_end(outer, 0), 0);
    assert_int_equal(weft_cancelling(weft_task_current()), 0);
    return 0;
}

static void test_nested_scopes(void **state)
{
    (void)state;
    RUN(body_nested_scopes);
}

static int scope_then_sleep(void *arg)
{
    (void)arg;
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    return weft_timeout_end(scope, weft_sleep(1));
}

static int body_scope_keeps_outer_cancel(void)
{
    weft_task *t = SPAWN(scope_then_sleep, NULL);
    assert_int_equal(weft_sleep(0.005), 0);
    weft_cancel(t); /* not the scope's: never becomes a timeout */
    assert_int_equal(weft_await(t), WEFT_ECANCELED);
    weft_task_free(t);
    return 0;
}

static void test_scope_keeps_outer_cancel(void **state)
{
    (void)state;
    RUN(body_scope_keeps_outer_cancel);
}

static int forget_scope(void *arg)
{
    (void)arg;
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.01, &scope), 0);
    return 3; /* ends with the scope open: it must not fire later */
}

static int body_task_ends_with_open_scope(void)
{
    weft_task *t = SPAWN(forget_scope, NULL);
    assert_int_equal(weft_await(t), 3);
    weft_task_free(t);
    assert_int_equal(weft_sleep(0.03), 0);
    return 0;
}

static void test_task_ends_with_open_scope(void **state)
{
    (void)state;
    RUN(body_task_ends_with_open_scope);
}

/* ------------------------------------------------- WEFT_TIMEOUT blocks */

/* No scope is left armed: the body's loop has no timer at all. */
static void assert_no_timer(void)
{
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_int_equal(st.timers, 0);
}

static int body_timeout_block(void)
{
    /* the deadline passes: the wait's WEFT_ECANCELED becomes WEFT_ETIMEDOUT */
    int rc = 0, cut = 0;
    double t0 = weft_time();
    WEFT_TIMEOUT(0.02, rc) {
        rc = weft_sleep(1);
        cut = rc == WEFT_ECANCELED;
    }
    assert_int_equal(rc, WEFT_ETIMEDOUT);
    assert_true(cut);
    assert_true(weft_time() - t0 < 0.5);
    /* the body ends first: its code (a result here) passes through */
    rc = 0;
    WEFT_TIMEOUT(1, rc) {
        rc = weft_sleep(0.001);
        if (rc == 0)
            rc = 7;
    }
    assert_int_equal(rc, 7);
    /* an absolute deadline (asyncio.timeout_at) */
    rc = 0;
    WEFT_TIMEOUT_AT(weft_time() + 0.01, rc) {
        rc = weft_sleep(WEFT_FOREVER);
    }
    assert_int_equal(rc, WEFT_ETIMEDOUT);
    /* a scope that cannot begin: the body does not run, rc says why */
    rc = 0;
    int ran = 0;
    WEFT_TIMEOUT(NAN, rc) {
        ran = 1;
    }
    assert_int_equal(rc, -EINVAL);
    assert_false(ran);
    assert_no_timer();
    assert_int_equal(weft_sleep(0.03), 0); /* nothing left armed */
    return 0;
}

static void test_timeout_block(void **state)
{
    (void)state;
    RUN(body_timeout_block);
    int rc = 0, ran = 0; /* outside a task */
    WEFT_TIMEOUT(1, rc) {
        ran = 1;
    }
    assert_int_equal(rc, WEFT_ENOTASK);
    assert_false(ran);
}

/* The trap: an early return between begin and end left the scope
 * armed, and a later, unrelated wait of the same task was cut short. A
 * WEFT_TIMEOUT block ends its scope however it is left. */
static int leave_by_return(int how)
{
    int rc = 0;
    WEFT_TIMEOUT(0.02, rc) {
        if (how == 0)
            return 5; /* the early return */
        rc = weft_sleep(1);
    }
    return rc;
}

static int leave_by_break(void)
{
    int rc = 0;
    WEFT_TIMEOUT(0.01, rc) {
        rc = weft_sleep(1);
        if (rc != 0)
            break; /* the exit still converts rc */
        rc = 99;
    }
    return rc;
}

static int body_timeout_block_exits(void)
{
    assert_int_equal(leave_by_return(0), 5);
    assert_no_timer(); /* the scope was ended by the cleanup */
    double t0 = weft_time();
    assert_int_equal(weft_sleep(0.05), 0); /* not cut short at 0.02 s */
    assert_true(weft_time() - t0 >= 0.04);
    assert_int_equal(leave_by_return(1), WEFT_ETIMEDOUT);
    assert_int_equal(leave_by_break(), WEFT_ETIMEDOUT);
    assert_no_timer();
    assert_int_equal(weft_cancelling(weft_task_current()), 0);
    return 0;
}

static void test_timeout_block_exits(void **state)
{
    (void)state;
    RUN(body_timeout_block_exits);
}

/* Nested blocks: each turns only its own expiry into a timeout. */
static int body_timeout_blocks_nest(void)
{
    int outer = 0, inner = 0;
    WEFT_TIMEOUT(1, outer) {
        WEFT_TIMEOUT(0.01, inner) {
            inner = weft_sleep(1);
        }
        outer = weft_sleep(0.001); /* the outer scope goes on */
    }
    assert_int_equal(inner, WEFT_ETIMEDOUT);
    assert_int_equal(outer, 0);
    outer = inner = 0;
    WEFT_TIMEOUT(0.01, outer) {
        WEFT_TIMEOUT(1, inner) {
            inner = weft_sleep(1);
        }
        outer = inner; /* the outer deadline: not the inner's to convert */
    }
    assert_int_equal(inner, WEFT_ECANCELED);
    assert_int_equal(outer, WEFT_ETIMEDOUT);
    assert_no_timer();
    return 0;
}

static void test_timeout_blocks_nest(void **state)
{
    (void)state;
    RUN(body_timeout_blocks_nest);
}

/* ------------------------------------------------------------ task groups */

static int body_group_first_failure_cancels_rest(void)
{
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    job fail = {10, -EIO, 0}, slow = {1000, 0, 0};
    weft_task *a = GROUP_SPAWN(g, run_job, &slow);
    assert_int_equal(weft_group_spawn(g, run_job, &fail, NULL), 0); /* left to the group */
    /* the body is interrupted by the failure */
    assert_int_equal(weft_sleep(1), WEFT_ECANCELED);
    assert_int_equal(weft_group_wait(g), -EIO);
    assert_true(weft_task_cancelled(a));
    weft_task *late = a;
    assert_int_equal(weft_group_spawn(g, run_job, &slow, &late), WEFT_ECLOSED); /* shutting down */
    assert_null(late); /* an error leaves nothing to free */
    weft_group_free(g);
    assert_true(weft_task_cancelled(a)); /* our handle outlives the group */
    weft_task_free(a);
    /* the parent carries no leftover cancellation */
    assert_int_equal(weft_cancelling(weft_task_current()), 0);
    assert_int_equal(weft_sleep(0.001), 0);
    return 0;
}

static void test_group_first_failure_cancels_rest(void **state)
{
    (void)state;
    RUN(body_group_first_failure_cancels_rest);
}

static int body_group_all_succeed(void)
{
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    job jobs[5];
    for (int i = 0; i < 5; i++) {
        jobs[i] = (job){i * 3, 0, 0};
        assert_int_equal(weft_group_spawn(g, run_job, &jobs[i], NULL), 0);
    }
    assert_int_equal(weft_group_wait(g), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(jobs[i].finished, 1);
    assert_int_equal(weft_group_wait(g), 0); /* again: same answer */
    weft_group_free(g);
    assert_int_equal(weft_group_wait(NULL), -EINVAL);
    weft_task *t = (weft_task *)1;
    assert_int_equal(weft_group_spawn(NULL, run_job, NULL, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(weft_group_spawn(g, NULL, NULL, NULL), -EINVAL);
    return 0;
}

static void test_group_all_succeed(void **state)
{
    (void)state;
    RUN(body_group_all_succeed);
}

/* A child that returns a result (a non-negative code) is no failure: its
 * siblings and the body go on, and the group returns 0. */
static int body_group_results_are_not_errors(void)
{
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    job quick = {1, 3, 0}, slow = {30, 4, 0};
    weft_task *a = GROUP_SPAWN(g, run_job, &quick);
    weft_task *b = GROUP_SPAWN(g, run_job, &slow);
    assert_int_equal(weft_sleep(0.01), 0); /* not interrupted by a's result */
    assert_int_equal(weft_group_wait(g), 0);
    assert_int_equal(weft_task_result(a), 3);
    assert_int_equal(weft_task_result(b), 4);
    assert_int_equal(slow.finished, 1);
    weft_group_free(g);
    weft_task_free(a);
    weft_task_free(b);
    return 0;
}

static void test_group_results_are_not_errors(void **state)
{
    (void)state;
    RUN(body_group_results_are_not_errors);
}

static int group_parent(void *arg)
{
    int *children_cancelled = arg;
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    weft_task *a = GROUP_SPAWN(g, sleep_forever, NULL);
    weft_task *b = GROUP_SPAWN(g, sleep_forever, NULL);
    int rc = weft_group_wait(g);
    *children_cancelled = weft_task_cancelled(a) && weft_task_cancelled(b);
    weft_task_free(a); /* before the group is freed: as correct as after */
    weft_group_free(g);
    weft_task_free(b);
    return rc;
}

static int body_group_parent_cancelled(void)
{
    int children_cancelled = 0;
    weft_task *p = SPAWN(group_parent, &children_cancelled);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(p);
    assert_int_equal(weft_await(p), WEFT_ECANCELED);
    assert_int_equal(children_cancelled, 1);
    weft_task_free(p);
    return 0;
}

static void test_group_parent_cancelled(void **state)
{
    (void)state;
    RUN(body_group_parent_cancelled);
}

/* CPython gh-116720: an inner group whose child fails must not swallow the
 * cancellation meant for the outer group. */
static int inner_group_body(void *arg)
{
    (void)arg;
    weft_group *inner;
    assert_int_equal(weft_group_new(&inner), 0);
    /* static: the children must not write to a compact parent's locals
     * (the suite's compact pass runs this in compact tasks) */
    static job fail = {5, -EIO, 0};
    assert_int_equal(weft_group_spawn(inner, run_job, &fail, NULL), 0);
    assert_int_equal(weft_group_spawn(inner, sleep_forever, NULL, NULL), 0);
    int rc = weft_group_wait(inner);
    weft_group_free(inner);
    return rc;
}

static int outer_group_body(void *arg)
{
    (void)arg;
    weft_group *outer;
    assert_int_equal(weft_group_new(&outer), 0);
    static job fail = {5, -EPIPE, 0}; /* static: see inner_group_body */
    assert_int_equal(weft_group_spawn(outer, run_job, &fail, NULL), 0);
    /* the parent itself runs a nested group in the body */
    int inner_rc = inner_group_body(NULL);
    int rc = weft_group_wait(outer);
    weft_group_free(outer);
    /* the outer group's failure cancelled the parent while it was inside
     * the inner group: the inner wait must report the cancellation */
    return inner_rc == WEFT_ECANCELED && rc == -EPIPE ? 0 : -1;
}

static int body_nested_groups(void)
{
    weft_task *t = SPAWN(outer_group_body, NULL);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    return 0;
}

static void test_nested_groups_keep_outer_cancel(void **state)
{
    (void)state;
    RUN(body_nested_groups);
}

static int group_in_scope(void *arg)
{
    (void)arg;
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    assert_int_equal(weft_group_spawn(g, sleep_forever, NULL, NULL), 0);
    int rc = weft_group_wait(g);
    weft_group_free(g);
    return weft_timeout_end(scope, rc);
}

static int body_group_in_timeout(void)
{
    weft_task *t = SPAWN(group_in_scope, NULL);
    assert_int_equal(weft_await(t), WEFT_ETIMEDOUT);
    weft_task_free(t);
    return 0;
}

static void test_group_inside_timeout(void **state)
{
    (void)state;
    RUN(body_group_in_timeout);
}

static int body_group_freed_early(void)
{
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    weft_task *t = GROUP_SPAWN(g, sleep_forever, NULL);
    assert_int_equal(weft_sleep(0.001), 0);
    weft_group_free(g); /* never waited: children cancelled and detached */
    assert_int_equal(weft_sleep(0.001), 0);
    assert_true(weft_task_cancelled(t)); /* our own handle is still valid */
    weft_task_free(t);
    return 0;
}

static void test_group_freed_without_wait(void **state)
{
    (void)state;
    RUN(body_group_freed_early);
}

/* ------------------------------------------------------------ stress */

enum { STRESS_N = 10000 };
static unsigned rng = 12345;
static unsigned next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static int stress_task(void *arg)
{
    int kind = (int)(intptr_t)arg;
    if (kind % 3 == 0) {
        weft_timeout *scope;
        assert_int_equal(weft_timeout_begin((kind % 7) / 1000.0, &scope), 0);
        int rc = weft_sleep((kind % 5) / 1000.0);
        return weft_timeout_end(scope, rc);
    }
    return weft_sleep((kind % 11) / 1000.0);
}

static int body_stress(void)
{
    static weft_task *t[STRESS_N];
    for (int i = 0; i < STRESS_N; i++)
        t[i] = SPAWN(stress_task, (void *)(intptr_t)(next_rand() % 1000));
    for (int round = 0; round < 5; round++) {
        for (int k = 0; k < STRESS_N / 10; k++)
            weft_cancel(t[next_rand() % STRESS_N]);
        assert_int_equal(weft_sleep(0.001), 0);
    }
    assert_int_equal(weft_gather(t, STRESS_N, WEFT_RETURN_EXCEPTIONS), 0);
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < STRESS_N; i++) {
        int rc = weft_task_result(t[i]);
        assert_true(rc == 0 || rc == WEFT_ECANCELED || rc == WEFT_ETIMEDOUT);
        counts[rc == 0 ? 0 : rc == WEFT_ECANCELED ? 1 : 2]++;
        weft_task_free(t[i]);
    }
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    assert_int_equal(weft_cancelling(weft_task_current()), 0);
    return 0;
}

static void test_stress_random_cancels_and_timeouts(void **state)
{
    (void)state;
    RUN(body_stress);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_first_error_others_run),
        cmocka_unit_test(test_gather_return_exceptions),
        cmocka_unit_test(test_gather_cancelled_cancels_children),
        cmocka_unit_test(test_gather_three_adds),
        cmocka_unit_test(test_gather_results_and_error),
        cmocka_unit_test(test_wait_modes),
        cmocka_unit_test(test_wait_first_exception_skips_results),
        cmocka_unit_test(test_wait_first_completed_and_exception_over_ten),
        cmocka_unit_test(test_wait_cancelled_leaves_tasks),
        cmocka_unit_test(test_as_completed),
        cmocka_unit_test(test_wait_for),
        cmocka_unit_test(test_wait_for_keeps_outer_cancel),
        cmocka_unit_test(test_timeout_races_completion),
        cmocka_unit_test(test_timeout_scope),
        cmocka_unit_test(test_nested_scopes),
        cmocka_unit_test(test_scope_keeps_outer_cancel),
        cmocka_unit_test(test_task_ends_with_open_scope),
        cmocka_unit_test(test_timeout_block),
        cmocka_unit_test(test_timeout_block_exits),
        cmocka_unit_test(test_timeout_blocks_nest),
        cmocka_unit_test(test_group_first_failure_cancels_rest),
        cmocka_unit_test(test_group_all_succeed),
        cmocka_unit_test(test_group_results_are_not_errors),
        cmocka_unit_test(test_group_parent_cancelled),
        cmocka_unit_test(test_nested_groups_keep_outer_cancel),
        cmocka_unit_test(test_group_inside_timeout),
        cmocka_unit_test(test_group_freed_without_wait),
        cmocka_unit_test(test_stress_random_cancels_and_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
