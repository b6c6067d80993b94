/* Every way another thread can wake a loop, tried on a weft_run loop and on
 * a Runner's loop (loop threads hold themselves; these do not): the loop
 * must wait for the other thread, as asyncio's does, and never conclude
 * "deadlock" while that thread can still post. A loop nobody can reach still
 * reports its deadlock (issue 13). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "weft.h"
#include "test_support.h"

#define DELAY 0.1 /* how long the other thread waits before it wakes the loop */

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The loop under test, set before the other thread starts. */
static weft_loop *L;
/* Made by the main task; touched on the loop's thread only. */
static weft_event *ev;
static weft_queue *q;
/* Shared with the other thread. */
static weft_tsqueue *tsq;
static weft_loop_thread *lt;
static _Atomic(weft_cfuture *) published;

/* ------------------------------------------------------------- scenarios */

typedef struct scenario {
    const char *name;
    weft_fn main;            /* waits for what the other thread does */
    void *(*thread)(void *); /* waits DELAY, wakes the loop; returns its own check */
    int expect;              /* main's result */
} scenario;

/* call_soon_threadsafe: main awaits an event the thread sets through the
 * loop (asyncio's standard pattern, the issue's program). */
static void set_ev(void *arg)
{
    (void)arg;
    weft_event_set(ev);
}

static int main_event(void *arg)
{
    (void)arg;
    int rc = weft_event_new(&ev);
    if (rc == 0)
        rc = weft_event_wait(ev);
    weft_event_free(ev);
    return rc;
}

static void *thread_call_soon(void *arg)
{
    (void)arg;
    sleep_s(DELAY);
    return (void *)(intptr_t)weft_call_soon_threadsafe(L, set_ev, NULL);
}

/* weft_call_sync: the plain thread runs a task on the loop and blocks for
 * its result; the task sets the event main awaits. */
static int set_ev_task(void *arg)
{
    (void)arg;
    weft_event_set(ev);
    return 13;
}

static void *thread_call_sync(void *arg)
{
    (void)arg;
    sleep_s(DELAY);
    int rc = weft_call_sync(L, set_ev_task, NULL);
    return (void *)(intptr_t)(rc == 13 ? 0 : rc);
}

/* weft_submit (and weft_cfuture_result on the plain thread): the submitted
 * task feeds the queue main awaits. */
static int feeder(void *arg)
{
    (void)arg;
    return weft_queue_put_nowait(q, (void *)(intptr_t)42) == 0 ? 5 : -1;
}

static int main_queue(void *arg)
{
    (void)arg;
    int rc = weft_queue_new(0, &q);
    void *item = NULL;
    if (rc == 0)
        rc = weft_queue_get(q, &item);
    weft_queue_free(q);
    return rc == 0 ? (int)(intptr_t)item : rc;
}

static void *thread_submit(void *arg)
{
    (void)arg;
    sleep_s(DELAY);
    weft_cfuture *cf;
    int rc = weft_submit(L, feeder, NULL, &cf);
    if (rc != 0)
        return (void *)(intptr_t)rc;
    rc = weft_cfuture_result(cf, 5.0);
    weft_cfuture_free(cf);
    return (void *)(intptr_t)(rc == 5 ? 0 : -1);
}

/* weft_cfuture_cancel from the thread: the cancelled task's cleanup sets
 * the event main awaits. */
static int cancellable(void *arg)
{
    (void)arg;
    int rc = weft_sleep(WEFT_FOREVER); /* no timer: only the cancel can end it */
    weft_event_set(ev);
    return rc;
}

static int main_cancelled_future(void *arg)
{
    (void)arg;
    int rc = weft_event_new(&ev);
    if (rc != 0)
        return rc;
    weft_cfuture *cf;
    if ((rc = weft_submit(L, cancellable, NULL, &cf)) == 0) {
        atomic_store(&published, cf);
        rc = weft_event_wait(ev);
        if (rc == 0 && weft_cfuture_result(cf, 0) != WEFT_ECANCELED)
            rc = -1;
        weft_cfuture_free(cf);
    }
    weft_event_free(ev);
    return rc;
}

static void *thread_cancel(void *arg)
{
    (void)arg;
    weft_cfuture *cf = NULL;
    for (int i = 0; i < 500 && (cf = atomic_load(&published)) == NULL; i++)
        sleep_s(0.01);
    if (cf == NULL)
        return (void *)(intptr_t)-ETIMEDOUT;
    sleep_s(DELAY);
    return (void *)(intptr_t)(weft_cfuture_cancel(cf) == 1 ? 0 : -1);
}

/* A thread-safe queue: main's get parks; a plain thread puts. */
static int main_tsqueue(void *arg)
{
    (void)arg;
    void *item = NULL;
    int rc = weft_tsqueue_get(tsq, &item, WEFT_FOREVER);
    return rc == 0 ? (int)(intptr_t)item : rc;
}

static void *thread_tsqueue(void *arg)
{
    (void)arg;
    sleep_s(DELAY);
    return (void *)(intptr_t)weft_tsqueue_put(tsq, (void *)(intptr_t)7, 5.0);
}

/* A cfuture of another loop (a loop thread) completes into ours. */
static int job_later(void *arg)
{
    (void)arg;
    int rc = weft_sleep(DELAY);
    return rc < 0 ? rc : 11;
}

static int main_foreign_future(void *arg)
{
    (void)arg;
    weft_cfuture *cf;
    int rc = weft_submit(weft_loop_thread_loop(lt), job_later, NULL, &cf);
    if (rc != 0)
        return rc;
    rc = weft_cfuture_await(cf);
    weft_cfuture_free(cf);
    return rc;
}

/* to_thread: a pool thread's completion. */
static int blocking_job(void *arg)
{
    (void)arg;
    sleep_s(DELAY);
    return 12;
}

static int main_to_thread(void *arg)
{
    (void)arg;
    return weft_to_thread(blocking_job, NULL);
}

static const scenario scenarios[] = {
    {"call_soon_threadsafe", main_event, thread_call_soon, 0},
    {"call_sync", main_event, thread_call_sync, 0},
    {"submit + cfuture_result", main_queue, thread_submit, 42},
    {"cfuture_cancel", main_cancelled_future, thread_cancel, 0},
    {"tsqueue put", main_tsqueue, thread_tsqueue, 7},
    {"cfuture of another loop", main_foreign_future, NULL, 11},
    {"to_thread", main_to_thread, NULL, 12},
};

/* --------------------------------------------------------------- drivers */

static pthread_t other;
static bool other_started;

static void start_other(const scenario *sc)
{
    atomic_store(&published, NULL);
    other_started = sc->thread != NULL;
    if (other_started)
        assert_int_equal(pthread_create(&other, NULL, sc->thread, NULL), 0);
}

static void join_other(const scenario *sc)
{
    if (!other_started)
        return;
    void *rc;
    assert_int_equal(pthread_join(other, &rc), 0);
    if (rc != NULL)
        print_error("%s: the other thread failed with %d\n", sc->name, (int)(intptr_t)rc);
    assert_null(rc);
}

/* weft_run: the main task takes its loop with weft_loop_current() and
 * starts the thread. */
static int run_main(void *arg)
{
    const scenario *sc = arg;
    L = weft_loop_current();
    start_other(sc);
    return sc->main(NULL);
}

static void check(const scenario *sc, int rc, double elapsed)
{
    if (rc != sc->expect)
        print_error("%s: %s (%d)\n", sc->name, weft_strerror(rc), rc);
    assert_int_equal(rc, sc->expect);
    assert_true(elapsed >= DELAY * 0.8); /* it waited for the other thread */
    assert_true(elapsed < 10.0);
}

static void test_weft_run_loop(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        const scenario *sc = &scenarios[i];
        double t0 = weft_time();
        int rc = weft_run(run_main, (void *)sc);
        check(sc, rc, weft_time() - t0);
        join_other(sc);
    }
}

/* A Runner: the thread gets the loop from weft_runner_loop() before the
 * run, and the main task never asks for it. */
static void test_runner_loop(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        const scenario *sc = &scenarios[i];
        weft_runner *r;
        assert_int_equal(weft_runner_new(&r), 0);
        L = weft_runner_loop(r);
        start_other(sc);
        double t0 = weft_time();
        int rc = weft_runner_run(r, sc->main, NULL);
        check(sc, rc, weft_time() - t0);
        weft_runner_free(r);
        join_other(sc);
    }
}

/* ------------------------------------------------- the issue's program */

static weft_loop *issue_L;
static weft_event *issue_ev;

static void issue_set_cb(void *a)
{
    weft_event_set(a);
}

static void *issue_th(void *a)
{
    (void)a;
    sleep_s(0.2);
    WEFT_IGNORE(weft_call_soon_threadsafe(issue_L, issue_set_cb, issue_ev));
    return NULL;
}

static pthread_t issue_t;

static int issue_main_task(void *a)
{
    (void)a;
    issue_L = weft_loop_current();
    if (weft_event_new(&issue_ev) != 0)
        return -ENOMEM;
    pthread_create(&issue_t, NULL, issue_th, NULL);
    return weft_event_wait(issue_ev); /* WEFT_ECANCELED after 0.000 s before the fix */
}

static void test_issue_program(void **state)
{
    (void)state;
    double t0 = weft_time();
    assert_int_equal(weft_run(issue_main_task, NULL), 0);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.18 && dt < 10.0);
    pthread_join(issue_t, NULL);
    weft_event_free(issue_ev);
}

/* ---------------------------------- weft_call_sync on the loop's thread */

static int call_sync_here(void *arg)
{
    (void)arg;
    return weft_call_sync(weft_loop_current(), set_ev_task, NULL);
}

static void test_call_sync_own_thread(void **state)
{
    (void)state;
    assert_int_equal(weft_run(call_sync_here, NULL), -EDEADLK); /* from a task */
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    /* between runs, from the thread that would have to run it */
    assert_int_equal(weft_call_sync(weft_runner_loop(r), set_ev_task, NULL), -EDEADLK);
    weft_runner_free(r);
    assert_int_equal(weft_call_sync(NULL, set_ev_task, NULL), -EINVAL);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), NULL, NULL), -EINVAL);
}

/* ----------------------------------------- deadlocks are still reported */

static int wait_unset_event(void *arg)
{
    (void)arg;
    weft_event *e;
    int rc = weft_event_new(&e);
    if (rc == 0)
        rc = weft_event_wait(e); /* nobody else can set it */
    weft_event_free(e);
    return rc;
}

/* Nobody was given the loop: Go's "all goroutines are asleep". */
static void test_unreachable_loops_report_deadlock(void **state)
{
    (void)state;
    assert_int_equal(weft_run(wait_unset_event, NULL), -EDEADLK);
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    assert_int_equal(weft_runner_run(r, wait_unset_event, NULL), -EDEADLK);
    weft_runner_free(r);
}

/* A task that swallows its cancellation and waits again: once the runner
 * closes, no other thread can post, so the loop gives up on it instead of
 * waiting forever, even though its pointer was handed out. */
static int stubborn(void *arg)
{
    (void)arg;
    weft_event *e;
    if (weft_event_new(&e) != 0)
        return -ENOMEM;
    int rc = weft_event_wait(e);
    if (rc == WEFT_ECANCELED)
        rc = weft_event_wait(e); /* the bug this test plays: waits again */
    weft_event_free(e);
    return rc;
}

static int leave_stubborn(void *arg)
{
    (void)arg;
    return weft_spawn(stubborn, NULL, NULL);
}

static void test_closing_runner_gives_up(void **state)
{
    (void)state;
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    assert_non_null(weft_runner_loop(r)); /* reachable from now on */
    assert_int_equal(weft_runner_run(r, leave_stubborn, NULL), 0);
    double t0 = weft_time();
    weft_runner_free(r); /* returns: the stubborn task is abandoned */
    assert_true(weft_time() - t0 < 10.0);
}

static int setup(void **state)
{
    (void)state;
    int rc = weft_tsqueue_new(0, &tsq);
    return rc != 0 ? rc : weft_loop_thread_start(&lt);
}

static int teardown(void **state)
{
    (void)state;
    weft_loop_thread_free(lt);
    weft_tsqueue_free(tsq);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_program),
        cmocka_unit_test(test_weft_run_loop),
        cmocka_unit_test(test_runner_loop),
        cmocka_unit_test(test_call_sync_own_thread),
        cmocka_unit_test(test_unreachable_loops_report_deadlock),
        cmocka_unit_test(test_closing_runner_gives_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
