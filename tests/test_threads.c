#define _GNU_SOURCE
/* Thread-safe submission: weft_submit / weft_cfuture_*, call_soon_threadsafe,
 * loop threads and weft_call_sync; many threads at once, cancellation,
 * timeouts, and submissions racing a loop's shutdown. */
/* weft:no-valgrind */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "weft.h"
#include "test_support.h"

static int job_value(void *arg)
{
    return (int)(intptr_t)arg;
}

static int job_sleep_then(void *arg)
{
    int rc = weft_sleep(0.02);
    return rc ? rc : (int)(intptr_t)arg;
}

static atomic_int forever_saw_cancel;

static int job_forever(void *arg)
{
    (void)arg;
    int rc = weft_sleep(WEFT_FOREVER);
    if (rc == WEFT_ECANCELED)
        atomic_fetch_add(&forever_saw_cancel, 1);
    return rc;
}

static void test_submit_and_call_sync(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_cfuture *cf;
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), job_sleep_then, (void *)42, &cf), 0);
    assert_int_equal(weft_cfuture_result(cf, 5.0), 42);
    assert_true(weft_cfuture_done(cf));
    assert_int_equal(weft_cfuture_result(cf, 0), 42); /* again, at once */
    assert_int_equal(weft_cfuture_cancel(cf), 0);     /* done: too late */
    weft_cfuture_free(cf);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), job_value, (void *)-5), -5);
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), job_value, (void *)1, NULL), 0);
    assert_int_equal(weft_submit(NULL, job_value, NULL, &cf), -EINVAL);
    assert_null(cf);
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), NULL, NULL, &cf), -EINVAL);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), NULL, NULL), -EINVAL);
    assert_int_equal(weft_call_soon_threadsafe(NULL, NULL, NULL), -EINVAL);
    weft_loop_thread_free(lt);
}

static void test_submit_alloc_failure(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_cfuture *cf = (weft_cfuture *)&cf;
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), job_value, NULL, &cf), -ENOMEM);
    assert_null(cf);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_call_soon_threadsafe(weft_loop_thread_loop(lt), (weft_cb)free, NULL),
                     -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    weft_loop_thread_free(lt);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_loop_thread_start(&lt), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
}

/* ------------------------------------------------ many threads at once */

#define NTHREADS   8
#define PER_THREAD 2000

typedef struct submitter {
    weft_loop *loop;
    atomic_int *ran;
    int failures;
} submitter;

static atomic_int soon_count;

static void soon_cb(void *arg)
{
    (void)arg;
    atomic_fetch_add(&soon_count, 1);
}

static int count_job(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return 3;
}

static void *submit_many(void *arg)
{
    submitter *s = arg;
    weft_cfuture **cfs = calloc(PER_THREAD, sizeof *cfs);
    for (int i = 0; i < PER_THREAD; i++) {
        if (weft_submit(s->loop, count_job, s->ran, &cfs[i]) != 0)
            s->failures++;
        if (weft_call_soon_threadsafe(s->loop, soon_cb, NULL) != 0)
            s->failures++;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        if (cfs[i] == NULL || weft_cfuture_result(cfs[i], 30.0) != 3)
            s->failures++;
        weft_cfuture_free(cfs[i]);
    }
    free(cfs);
    return NULL;
}

static void test_many_threads_lose_nothing(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    atomic_int ran = 0;
    atomic_store(&soon_count, 0);
    pthread_t th[NTHREADS];
    submitter s[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        s[i] = (submitter){.loop = weft_loop_thread_loop(lt), .ran = &ran};
        assert_int_equal(pthread_create(&th[i], NULL, submit_many, &s[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].failures, 0);
    }
    assert_int_equal(atomic_load(&ran), NTHREADS * PER_THREAD);
    weft_loop_thread_stop(lt);
    assert_int_equal(atomic_load(&soon_count), NTHREADS * PER_THREAD);
    weft_loop_thread_free(lt);
}

/* ------------------------------------------------ cancel, timeout, callbacks */

static atomic_int cb_calls;
static atomic_int cb_result;

static void done_cb(weft_cfuture *cf, void *arg)
{
    atomic_store(&cb_result, weft_cfuture_result(cf, 0));
    atomic_fetch_add(&cb_calls, *(int *)arg);
}

static void test_cancel_timeout_callbacks(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_loop *loop = weft_loop_thread_loop(lt);
    atomic_store(&forever_saw_cancel, 0);
    atomic_store(&cb_calls, 0);
    int one = 1, ten = 10;

    weft_cfuture *cf;
    assert_int_equal(weft_submit(loop, job_forever, NULL, &cf), 0);
    assert_int_equal(weft_cfuture_add_done_callback(cf, done_cb, &one), 0);
    double t0 = weft_time();
    assert_int_equal(weft_cfuture_result(cf, 0.05), WEFT_ETIMEDOUT);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.045 && dt < 1.0);
    assert_false(weft_cfuture_done(cf));
    assert_int_equal(weft_cfuture_result(cf, 0), WEFT_ETIMEDOUT);
    assert_int_equal(weft_cfuture_result(cf, NAN), -EINVAL);
    assert_int_equal(weft_cfuture_cancel(cf), 1);
    assert_int_equal(weft_cfuture_cancel(cf), 0);
    assert_int_equal(weft_cfuture_result(cf, WEFT_FOREVER), WEFT_ECANCELED);
    assert_int_equal(weft_cfuture_result(cf, 1e300), WEFT_ECANCELED);
    assert_int_equal(atomic_load(&cb_calls), 1);
    assert_int_equal(atomic_load(&cb_result), WEFT_ECANCELED);
    /* Added after done: runs at once, here. */
    assert_int_equal(weft_cfuture_add_done_callback(cf, done_cb, &ten), 0);
    assert_int_equal(atomic_load(&cb_calls), 11);
    weft_cfuture_free(cf);
    /* The task on the loop got the cancellation. */
    for (int i = 0; i < 1000 && atomic_load(&forever_saw_cancel) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&forever_saw_cancel), 1);

    /* A huge timeout is forever, as in every other wait: it must not
     * overflow time_t into a deadline in the past (issue 12). */
    double huge[] = {1e300, 1e20, 1.8e10};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        assert_int_equal(weft_submit(loop, job_sleep_then, (void *)7, &cf), 0);
        assert_int_equal(weft_cfuture_result(cf, huge[i]), 7);
        weft_cfuture_free(cf);
    }

    /* A future freed by its caller before it completes: no leak, no crash. */
    assert_int_equal(weft_submit(loop, job_sleep_then, (void *)1, &cf), 0);
    weft_cfuture_free(cf);
    weft_loop_thread_free(lt); /* cancels it */
}

/* weft_call_sync and weft_cfuture_result from the loop's own thread. */
static weft_loop_thread *self_lt;

static int job_calls_back(void *arg)
{
    (void)arg;
    if (weft_call_sync(weft_loop_thread_loop(self_lt), job_value, (void *)1) != -EDEADLK)
        return -1;
    weft_cfuture *cf;
    if (weft_submit(weft_loop_current(), job_value, (void *)9, &cf) != 0)
        return -2;
    int rc = weft_cfuture_result(cf, 1.0);
    int rc2 = weft_cfuture_await(cf);
    weft_cfuture_free(cf);
    if (rc != -EDEADLK || rc2 != 9)
        return -3;
    return weft_loop_thread_stop(self_lt) == -EDEADLK ? 0 : -4;
}

static void test_no_self_deadlock(void **state)
{
    (void)state;
    assert_int_equal(weft_loop_thread_start(&self_lt), 0);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(self_lt), job_calls_back, NULL), 0);
    weft_loop_thread_free(self_lt);
}

/* ------------------------------------------------ shutdown races */

typedef struct racer {
    weft_loop *loop;
    int accepted, closed, other, capped;
    weft_cfuture *cfs[200000];
    int ncf;
} racer;

static void *race_submit(void *arg)
{
    racer *r = arg;
    for (;;) {
        weft_cfuture *cf;
        int rc = weft_submit(r->loop, job_value, (void *)5, &cf);
        if (rc == WEFT_ECLOSED) {
            r->closed++;
            break;
        }
        if (rc != 0) {
            r->other++;
            break;
        }
        r->accepted++;
        r->cfs[r->ncf++] = cf;
        if (r->ncf == 200000) { /* a slow machine (Valgrind): stop before the array ends */
            r->capped = 1;
            break;
        }
    }
    return NULL;
}

static void test_submit_races_shutdown(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        weft_loop_thread *lt;
        assert_int_equal(weft_loop_thread_start(&lt), 0);
        racer *r = calloc(4, sizeof *r);
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            r[i].loop = weft_loop_thread_loop(lt);
            assert_int_equal(pthread_create(&th[i], NULL, race_submit, &r[i]), 0);
        }
        usleep(2000 * (round + 1));
        assert_int_equal(weft_loop_thread_stop(lt), 0);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        /* Every accepted submission completes: it ran, or it failed with
         * WEFT_ECLOSED (accepted just before the shutdown). */
        int ran = 0, closed = 0;
        for (int i = 0; i < 4; i++) {
            if (r[i].closed != 1 && !r[i].capped)
                fail_msg("round %d thread %d: accepted %d other %d", round, i, r[i].accepted,
                         r[i].other);
            assert_int_equal(r[i].other, 0);
            for (int j = 0; j < r[i].ncf; j++) {
                int rc = weft_cfuture_result(r[i].cfs[j], 10.0);
                if (rc == 5)
                    ran++;
                else if (rc == WEFT_ECLOSED)
                    closed++;
                else
                    fail_msg("unexpected result %d", rc);
                weft_cfuture_free(r[i].cfs[j]);
            }
        }
        int accepted = 0;
        for (int i = 0; i < 4; i++)
            accepted += r[i].accepted;
        assert_int_equal(ran + closed, accepted);
        weft_loop_thread_free(lt);
        free(r);
    }
}

/* Accepted while the loop does not run, then the runner is freed: the
 * futures complete with WEFT_ECLOSED, never left hanging. */
static void test_closed_runner_fails_pending(void **state)
{
    (void)state;
    weft_runner *runner;
    assert_int_equal(weft_runner_new(&runner), 0);
    weft_cfuture *cf[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_submit(weft_runner_loop(runner), job_value, (void *)1, &cf[i]), 0);
    weft_runner_free(runner);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_cfuture_result(cf[i], 1.0), WEFT_ECLOSED);
        weft_cfuture_free(cf[i]);
    }
}

/* ------------------------------------------------ awaiting across loops */

static atomic_int ticks;

static int ticker(void *arg)
{
    (void)arg;
    for (;;) {
        if (weft_sleep(0.002) != 0)
            return 0;
        atomic_fetch_add(&ticks, 1);
    }
}

typedef struct await_arg {
    weft_loop *other;
    weft_cfuture *cf;
    int rc;
} await_arg;

static int awaiter(void *arg)
{
    await_arg *a = arg;
    a->rc = weft_cfuture_await(a->cf);
    return 0;
}

static int main_await_other_loop(void *arg)
{
    weft_loop_thread *lt = arg;
    weft_loop *other = weft_loop_thread_loop(lt);
    atomic_store(&ticks, 0);
    weft_task *tick = SPAWN(ticker, NULL);
    weft_cfuture *cf;
    assert_int_equal(weft_submit(other, job_sleep_then, (void *)7, &cf), 0);
    assert_int_equal(weft_cfuture_await(cf), 7); /* parks only this task */
    assert_true(atomic_load(&ticks) >= 2);
    assert_int_equal(weft_cfuture_await(cf), 7); /* done: at once */
    weft_cfuture_free(cf);

    /* Cancelling the awaiter returns at once and cancels the future. */
    await_arg a = {.other = other};
    assert_int_equal(weft_submit(other, job_forever, NULL, &a.cf), 0);
    weft_task *t = SPAWN(awaiter, &a);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), 0);
    assert_int_equal(a.rc, WEFT_ECANCELED);
    assert_int_equal(weft_cfuture_result(a.cf, 0), WEFT_ECANCELED);
    weft_task_free(t);
    weft_cfuture_free(a.cf);

    /* A timeout scope around the await. */
    assert_int_equal(weft_submit(other, job_forever, NULL, &cf), 0);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_cfuture_await(cf);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    weft_cfuture_free(cf);

    weft_cancel(tick);
    assert_int_equal(weft_await(tick), 0); /* a ticker stops quietly */
    weft_task_free(tick);
    assert_int_equal(weft_cfuture_await(NULL), -EINVAL);
    return 0;
}

static void test_await_from_other_loop(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    assert_int_equal(weft_run(main_await_other_loop, lt), 0);
    weft_loop_thread_free(lt);
    assert_int_equal(weft_cfuture_await((weft_cfuture *)&lt), WEFT_ENOTASK);
}

/* A plain thread submits to a weft_run loop whose main task sleeps. */
static void *plain_submitter(void *arg)
{
    weft_loop *loop = arg;
    for (int i = 0; i < 200; i++) {
        weft_cfuture *cf;
        if (weft_submit(loop, job_value, (void *)(intptr_t)i, &cf) != 0)
            return (void *)1;
        int rc = weft_cfuture_result(cf, 10.0);
        weft_cfuture_free(cf);
        if (rc != i)
            return (void *)2;
    }
    return NULL;
}

static int main_serves_plain_thread(void *arg)
{
    (void)arg;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, plain_submitter, weft_loop_current()), 0);
    /* Parked in a wait the other thread completes (holds the loop). */
    weft_cfuture *cf;
    assert_int_equal(weft_submit(weft_loop_current(), job_sleep_then, (void *)3, &cf), 0);
    assert_int_equal(weft_cfuture_await(cf), 3);
    weft_cfuture_free(cf);
    void *ret;
    for (;;) { /* join without blocking the loop */
        if (pthread_tryjoin_np(th, &ret) == 0)
            break;
        assert_int_equal(weft_sleep(0.001), 0);
    }
    assert_null(ret);
    return 0;
}

static void test_plain_thread_to_weft_run(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_serves_plain_thread, NULL), 0);
}

/* ------------------------------------------------ fork */

static int add_one(void *arg)
{
    return (int)(intptr_t)arg + 1;
}

static int main_to_thread(void *arg)
{
    (void)arg;
    return weft_to_thread(add_one, (void *)41) == 42 ? 0 : -1;
}

/* In a child of fork() the loop thread, and the executor's threads, are
 * not there: what needs them says WEFT_EFORKED instead of hanging, and a
 * fresh loop in the child works, to_thread included. */
static int child_checks(weft_loop_thread *lt, weft_cfuture *pending)
{
    weft_loop *loop = weft_loop_thread_loop(lt);
    weft_cfuture *cf;
    if (weft_submit(loop, job_value, NULL, &cf) != WEFT_EFORKED)
        return 1;
    if (weft_call_soon_threadsafe(loop, soon_cb, NULL) != WEFT_EFORKED)
        return 2;
    if (weft_cfuture_result(pending, 1.0) != WEFT_EFORKED)
        return 3;
    if (weft_call_sync(weft_loop_thread_loop(lt), job_value, NULL) != WEFT_EFORKED)
        return 4;
    if (weft_loop_thread_stop(lt) != WEFT_EFORKED)
        return 5;
#ifndef WEFT_TSAN /* TSan cannot start threads after a multi-threaded fork */
    if (weft_run(main_to_thread, NULL) != 0)
        return 6;
#endif
    return 0;
}

static void test_fork_detected(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_to_thread, NULL), 0); /* default executor exists */
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_cfuture *pending;
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), job_forever, NULL, &pending), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_checks(lt, pending));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    weft_cfuture_cancel(pending);
    weft_cfuture_free(pending);
    weft_loop_thread_free(lt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_and_call_sync),
        cmocka_unit_test(test_submit_alloc_failure),
        cmocka_unit_test(test_many_threads_lose_nothing),
        cmocka_unit_test(test_cancel_timeout_callbacks),
        cmocka_unit_test(test_no_self_deadlock),
        cmocka_unit_test(test_submit_races_shutdown),
        cmocka_unit_test(test_closed_runner_fails_pending),
        cmocka_unit_test(test_await_from_other_loop),
        cmocka_unit_test(test_plain_thread_to_weft_run),
        cmocka_unit_test(test_fork_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
