/* Core runtime tests: run and Runner, tasks, await, cancellation, sleep,
 * call_soon/later/at, and the errors of each. Combinators have their own
 * file (test_combinators.c). Every test runs its own loop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "weft.h"
#include "test_support.h"

/* ------------------------------------------------------------ helpers */

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static int sleep_arg_ms(void *arg)
{
    return weft_sleep((double)(intptr_t)arg / 1000.0);
}

static int sleep_forever(void *arg)
{
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

/* ------------------------------------------------------------ weft_run */

static void test_run_returns_main_code(void **state)
{
    (void)state;
    assert_int_equal(weft_run(return_arg, (void *)(intptr_t)42), 42);
    assert_int_equal(weft_run(return_arg, (void *)(intptr_t)-EIO), -EIO);
    assert_int_equal(weft_run(NULL, NULL), -EINVAL);
}

static int nested_run(void *arg)
{
    (void)arg;
    return weft_run(return_arg, NULL); /* asyncio: cannot be called from a running loop */
}

static void test_run_inside_loop_is_refused(void **state)
{
    (void)state;
    assert_int_equal(weft_run(nested_run, NULL), -EBUSY);
}

/* ------------------------------------------------------------ runner */

static int background_ticks;
static int ticker(void *arg)
{
    (void)arg;
    for (;;) {
        if (weft_sleep(0.01) != 0)
            return WEFT_ECANCELED;
        background_ticks++;
    }
}

static weft_task *leftover;
static int start_ticker(void *arg)
{
    (void)arg;
    leftover = SPAWN(ticker, NULL);
    return 1;
}

static int sleep_a_bit(void *arg)
{
    (void)arg;
    return weft_sleep(0.08) == 0 ? 2 : -1;
}

static void test_runner_reuses_loop(void **state)
{
    (void)state;
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    weft_loop *loop = weft_runner_loop(r);
    assert_non_null(loop);
    background_ticks = 0;
    assert_int_equal(weft_runner_run(r, start_ticker, NULL), 1);
    assert_int_equal(weft_task_done(leftover), 0); /* left running, as asyncio does */
    assert_int_equal(weft_runner_run(r, sleep_a_bit, NULL), 2);
    assert_true(background_ticks >= 2); /* it ran during the second run */
    assert_ptr_equal(weft_runner_loop(r), loop);
    weft_runner_free(r); /* cancels it and lets it end */
    assert_int_equal(weft_task_result(leftover), WEFT_ECANCELED);
    weft_task_free(leftover);
}

static void *run_from_thread(void *arg)
{
    return (void *)(intptr_t)weft_runner_run(arg, return_arg, NULL);
}

static void test_runner_belongs_to_its_thread(void **state)
{
    (void)state;
    if (getenv("WEFT_TEST_NO_THREADS")) /* qemu-user 7.2 hangs in pthread_create */
        skip();
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    pthread_t th;
    void *res;
    pthread_create(&th, NULL, run_from_thread, r);
    pthread_join(th, &res);
    assert_int_equal((int)(intptr_t)res, WEFT_EFOREIGN);
    assert_int_equal(weft_runner_run(r, return_arg, (void *)(intptr_t)5), 5);
    assert_int_equal(weft_runner_run(NULL, return_arg, NULL), -EINVAL);
    assert_int_equal(weft_runner_run(r, NULL, NULL), -EINVAL);
    weft_runner_free(r);
    weft_runner_free(NULL);
}

/* ------------------------------------------------------------ outside a task */

static void test_waits_outside_task(void **state)
{
    (void)state;
    assert_int_equal(weft_sleep(0.1), WEFT_ENOTASK);
    errno = 0;
    weft_task *t = (weft_task *)1;
    assert_int_equal(weft_spawn(return_arg, NULL, &t), WEFT_ENOTASK);
    assert_null(t);
    assert_int_equal(weft_spawn(return_arg, NULL, NULL), WEFT_ENOTASK);
    assert_int_equal(errno, 0); /* weft's codes are returned, never put in errno */
    assert_int_equal(weft_runner_new(NULL), -EINVAL);
    assert_null(weft_task_current());
    assert_null(weft_loop_current());
    weft_timeout *scope = (weft_timeout *)1;
    assert_int_equal(weft_timeout_begin(1, &scope), WEFT_ENOTASK);
    assert_int_equal(weft_call_soon(NULL, (weft_cb)free, NULL, NULL), WEFT_ENOTASK);
}

/* ------------------------------------------------------------ spawn and await */

static int body_await_returns_code(void)
{
    weft_task *t = SPAWN(return_arg, (void *)(intptr_t)-ENOENT);
    assert_non_null(t);
    assert_int_equal(weft_task_state_of(t), WEFT_TASK_CREATED);
    assert_int_equal(weft_task_result(t), -EAGAIN);
    assert_int_equal(weft_await(t), -ENOENT);
    assert_int_equal(weft_task_state_of(t), WEFT_TASK_DONE);
    assert_int_equal(weft_await(t), -ENOENT); /* awaiting a finished task returns at once */
    assert_int_equal(weft_task_result(t), -ENOENT);
    weft_task_free(t);
    return 0;
}

static void test_await_returns_code(void **state)
{
    (void)state;
    RUN(body_await_returns_code);
}

static weft_task *shared_target;
static int await_shared(void *arg)
{
    (void)arg;
    return weft_await(shared_target);
}

static int body_many_awaiters(void)
{
    shared_target = SPAWN(sleep_arg_ms, (void *)(intptr_t)20);
    weft_task *w[5];
    for (int i = 0; i < 5; i++)
        w[i] = SPAWN(await_shared, NULL);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(weft_await(w[i]), 0);
        weft_task_free(w[i]);
    }
    weft_task_free(shared_target);
    return 0;
}

static void test_many_awaiters(void **state)
{
    (void)state;
    RUN(body_many_awaiters);
}

static int await_self(void *arg)
{
    (void)arg;
    return weft_await(weft_task_current());
}

static int body_await_errors(void)
{
    assert_int_equal(weft_await(NULL), -EINVAL);
    weft_task *t = SPAWN(await_self, NULL);
    assert_int_equal(weft_await(t), -EDEADLK);
    weft_task_free(t);
    weft_task *none = (weft_task *)1;
    assert_int_equal(weft_spawn(NULL, NULL, &none), -EINVAL);
    assert_null(none);
    return 0;
}

static void test_await_errors(void **state)
{
    (void)state;
    RUN(body_await_errors);
}

static int body_names_ids_current(void)
{
    weft_task *self = weft_task_current();
    assert_non_null(self);
    assert_int_equal(weft_task_state_of(self), WEFT_TASK_RUNNING);
    weft_task_opts opts = {.name = "worker", .stack_size = 64 * 1024};
    weft_task *t = SPAWN_OPTS(return_arg, NULL, &opts);
    assert_string_equal(weft_task_name(t), "worker");
    assert_int_equal(weft_task_set_name(t, "renamed"), 0);
    assert_string_equal(weft_task_name(t), "renamed");
    assert_int_equal(weft_task_set_name(t, NULL), -EINVAL);
    weft_task *u = SPAWN(return_arg, NULL);
    assert_true(weft_task_id(u) > weft_task_id(t));
    char expect[32];
    snprintf(expect, sizeof expect, "Task-%llu", (unsigned long long)weft_task_id(u));
    assert_string_equal(weft_task_name(u), expect);
    assert_int_equal(weft_await(t), 0);
    assert_int_equal(weft_await(u), 0);
    weft_task_free(t);
    weft_task_free(u);
    return 0;
}

static void test_names_ids_current(void **state)
{
    (void)state;
    RUN(body_names_ids_current);
}

static int order[8], order_n;
static int record_yield(void *arg)
{
    int id = (int)(intptr_t)arg;
    order[order_n++] = id;
    assert_int_equal(weft_sleep(0), 0);
    order[order_n++] = id + 10;
    return 0;
}

static int body_sleep_zero_yields(void)
{
    order_n = 0;
    weft_task *a = SPAWN(record_yield, (void *)1);
    weft_task *b = SPAWN(record_yield, (void *)2);
    assert_int_equal(weft_await(a), 0);
    assert_int_equal(weft_await(b), 0);
    /* a runs until its yield, then b, then both resume in FIFO order */
    assert_int_equal(order_n, 4);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 11);
    assert_int_equal(order[3], 12);
    weft_task_free(a);
    weft_task_free(b);
    return 0;
}

static void test_sleep_zero_yields(void **state)
{
    (void)state;
    RUN(body_sleep_zero_yields);
}

static int body_sleeps_overlap(void)
{
    double t0 = weft_time();
    weft_task *t[2] = {SPAWN(sleep_arg_ms, (void *)300), SPAWN(sleep_arg_ms, (void *)300)};
    assert_int_equal(weft_gather(t, 2, 0), 0);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.29);
    assert_true(dt < 0.55); /* generous: two 0.3 s sleeps run at once */
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    assert_int_equal(weft_sleep(NAN), -EINVAL);
    assert_int_equal(weft_sleep(-1), 0); /* negative: a yield, as asyncio */
    return 0;
}

static void test_sleeps_overlap(void **state)
{
    (void)state;
    RUN(body_sleeps_overlap);
}

/* ------------------------------------------------------------ cancellation */

static int ran_flag;
static int set_ran(void *arg)
{
    (void)arg;
    ran_flag = 1;
    return 0;
}

static int body_cancel_before_start(void)
{
    ran_flag = 0;
    weft_task *t = SPAWN(set_ran, NULL);
    assert_int_equal(weft_cancel(t), 1);
    assert_int_equal(weft_await(t), WEFT_ECANCELED);
    assert_int_equal(ran_flag, 0); /* never ran, as asyncio */
    assert_true(weft_task_cancelled(t));
    assert_int_equal(weft_cancel(t), 0); /* finished: nothing to cancel */
    weft_task_free(t);
    assert_int_equal(weft_cancel(NULL), -EINVAL);
    return 0;
}

static void test_cancel_before_start(void **state)
{
    (void)state;
    RUN(body_cancel_before_start);
}

static int body_cancel_sleeping(void)
{
    weft_task *t = SPAWN(sleep_forever, NULL);
    assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_task_state_of(t), WEFT_TASK_WAITING);
    assert_int_equal(weft_cancel(t), 1);
    assert_int_equal(weft_cancelling(t), 1);
    assert_int_equal(weft_await(t), WEFT_ECANCELED);
    weft_task_free(t);
    return 0;
}

static void test_cancel_sleeping(void **state)
{
    (void)state;
    RUN(body_cancel_sleeping);
}

static int swallow_then_wait(void *arg)
{
    (void)arg;
    int rc = weft_sleep(WEFT_FOREVER);
    if (rc != WEFT_ECANCELED)
        return -1;
    weft_uncancel(weft_task_current()); /* handled: the next wait is a normal one */
    return weft_sleep(0.01) == 0 ? 7 : -2;
}

static int body_uncancel(void)
{
    weft_task *t = SPAWN(swallow_then_wait, NULL);
    assert_int_equal(weft_sleep(0.005), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), 7);
    weft_task_free(t);
    return 0;
}

static void test_uncancel_lets_task_go_on(void **state)
{
    (void)state;
    RUN(body_uncancel);
}

/* The cancellation count belongs to the task's loop: another thread may
 * not change it (issue 12). */
static void *uncancel_from_thread(void *arg)
{
    return (void *)(intptr_t)weft_uncancel(arg);
}

static int body_uncancel_foreign(void)
{
    weft_task *self = weft_task_current();
    weft_cancel(self);
    assert_int_equal(weft_cancelling(self), 1);
    pthread_t th;
    void *ret;
    assert_int_equal(pthread_create(&th, NULL, uncancel_from_thread, self), 0);
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_int_equal((int)(intptr_t)ret, WEFT_EFOREIGN);
    assert_int_equal(weft_cancelling(self), 1); /* untouched */
    assert_int_equal(weft_uncancel(self), 0);   /* the owner may */
    assert_int_equal(weft_sleep(0), 0);         /* and the request is gone */
    return 0;
}

static void test_uncancel_from_another_thread(void **state)
{
    (void)state;
    if (getenv("WEFT_TEST_NO_THREADS")) /* qemu-user 7.2 hangs in pthread_create */
        skip();
    RUN(body_uncancel_foreign);
}

static int self_cancel(void *arg)
{
    (void)arg;
    weft_cancel(weft_task_current());
    int first = weft_sleep(0.01); /* the pending cancellation arrives here */
    return first == WEFT_ECANCELED ? 0 : -1;
}

static int body_self_cancel(void)
{
    weft_task *t = SPAWN(self_cancel, NULL);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    return 0;
}

static void test_self_cancel_delivered_at_next_wait(void **state)
{
    (void)state;
    RUN(body_self_cancel);
}

static weft_task *inner_task;
static int await_inner(void *arg)
{
    (void)arg;
    return weft_await(inner_task);
}

static int body_cancel_propagates_through_await(void)
{
    inner_task = SPAWN(sleep_forever, NULL);
    weft_task *outer = SPAWN(await_inner, NULL);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(outer);
    assert_int_equal(weft_await(outer), WEFT_ECANCELED);
    assert_true(weft_task_cancelled(inner_task)); /* asyncio cancels what is awaited */
    weft_task_free(outer);
    weft_task_free(inner_task);
    return 0;
}

static void test_cancel_propagates_through_await(void **state)
{
    (void)state;
    RUN(body_cancel_propagates_through_await);
}

static int shield_inner(void *arg)
{
    (void)arg;
    return weft_shield(inner_task);
}

static int body_shield(void)
{
    inner_task = SPAWN(sleep_arg_ms, (void *)30);
    weft_task *outer = SPAWN(shield_inner, NULL);
    assert_int_equal(weft_sleep(0.005), 0);
    weft_cancel(outer);
    assert_int_equal(weft_await(outer), WEFT_ECANCELED);
    assert_false(weft_task_done(inner_task)); /* still running */
    assert_int_equal(weft_await(inner_task), 0);
    weft_task_free(outer);
    weft_task_free(inner_task);
    inner_task = SPAWN(return_arg, (void *)9);
    assert_int_equal(weft_shield(inner_task), 9);
    weft_task_free(inner_task);
    return 0;
}

static void test_shield(void **state)
{
    (void)state;
    RUN(body_shield);
}

static int body_detached_task(void)
{
    weft_task *t = SPAWN(sleep_arg_ms, (void *)10);
    weft_task_free(t); /* detached: freed when it ends (ASan checks) */
    assert_int_equal(weft_sleep(0.03), 0);
    weft_task_free(NULL);
    return 0;
}

static void test_detached_task(void **state)
{
    (void)state;
    RUN(body_detached_task);
}

/* ------------------------------------------------------------ timers vs I/O */

/* With an I/O handle active (here a pipe nobody writes to), libuv's poll
 * blocks until its own timers are due. libuv counts whole milliseconds, so
 * the timer that wakes the loop for weft's earliest deadline can fall due a
 * little early and fire in the first phase of uv_run; the poll after it then
 * had no timeout and the sleeper never woke (seen as a rare hang). The test
 * arms that timer as libuv's clock can, due at once for a future deadline. */
static void never_called(uv_poll_t *p, int status, int events)
{
    (void)p, (void)status, (void)events;
}

static int body_sleeps_with_io_handle_active(void)
{
    weft_loop *loop = weft_loop_current();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    uv_poll_t poll;
    assert_int_equal(uv_poll_init(&loop->uv, &poll, fds[0]), 0);
    assert_int_equal(uv_poll_start(&poll, UV_READABLE, never_called), 0);
    weft_task *t = SPAWN(sleep_arg_ms, (void *)20);
    assert_int_equal(weft_sleep(0), 0); /* t parks with the only timer */
    assert_int_equal(weft__timers_count(loop), 1);
    uv_update_time(&loop->uv);
    uv_timer_start(&loop->wake_timer, weft__loop_wake_timer_cb, 0, 0);
    loop->wake_armed_for = weft__timers_next(loop);
    assert_int_equal(weft_await(t), 0); /* hung here before the fix */
    weft_task_free(t);
    uv_close((uv_handle_t *)&poll, NULL);
    assert_int_equal(weft_sleep(0.001), 0); /* let the close complete */
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static void test_sleeps_with_io_handle_active(void **state)
{
    (void)state;
    RUN(body_sleeps_with_io_handle_active);
}

/* ------------------------------------------------------------ deadlock */

static void test_deadlock_is_reported(void **state)
{
    (void)state;
    /* Nothing can ever wake the main task: weft cancels it and says so. */
    assert_int_equal(weft_run(sleep_forever, NULL), -EDEADLK);
}

/* ------------------------------------------------------------ call_soon & co */

static int cb_order[8], cb_n;
static void push_cb(void *arg)
{
    cb_order[cb_n++] = (int)(intptr_t)arg;
}

static int body_call_soon_later_at(void)
{
    cb_n = 0;
    weft_handle *h = NULL;
    assert_int_equal(weft_call_later(NULL, 0.02, push_cb, (void *)3, NULL), 0);
    assert_int_equal(weft_call_at(NULL, weft_time() + 0.01, push_cb, (void *)2, NULL), 0);
    assert_int_equal(weft_call_soon(NULL, push_cb, (void *)1, NULL), 0);
    assert_int_equal(weft_call_soon(NULL, push_cb, (void *)99, &h), 0);
    assert_int_equal(weft_handle_cancel(h), 1);
    assert_int_equal(weft_handle_cancel(h), 0);
    weft_handle_free(h);
    assert_int_equal(weft_call_later(NULL, 0.01, push_cb, (void *)98, &h), 0);
    assert_int_equal(weft_handle_cancel(h), 1);
    weft_handle_free(h);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(cb_n, 3);
    assert_int_equal(cb_order[0], 1);
    assert_int_equal(cb_order[1], 2);
    assert_int_equal(cb_order[2], 3);
    assert_int_equal(weft_call_soon(NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(weft_call_later(NULL, NAN, push_cb, NULL, NULL), -EINVAL);
    /* a handle kept past its run: cancel says "too late", free is safe */
    assert_int_equal(weft_call_soon(NULL, push_cb, (void *)4, &h), 0);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_handle_cancel(h), 0);
    weft_handle_free(h);
    /* left scheduled at loop close: dropped without running, no leak */
    assert_int_equal(weft_call_later(NULL, 100, push_cb, (void *)5, NULL), 0);
    return 0;
}

static void test_call_soon_later_at(void **state)
{
    (void)state;
    RUN(body_call_soon_later_at);
}

static void wait_in_callback(void *arg)
{
    *(int *)arg = weft_sleep(1);
}

static int body_callback_cannot_wait(void)
{
    int rc = 0;
    weft_call_soon(NULL, wait_in_callback, &rc, NULL);
    assert_int_equal(weft_sleep(0.001), 0);
    assert_int_equal(rc, WEFT_ENOTASK);
    return 0;
}

static void test_callback_cannot_wait(void **state)
{
    (void)state;
    RUN(body_callback_cannot_wait);
}

/* ------------------------------------------------------------ faults */

static int body_spawn_allocation_fails(void)
{
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    weft_task *none = (weft_task *)1;
    assert_int_equal(weft_spawn(return_arg, NULL, &none), -ENOMEM);
    assert_null(none);
    weft_task_opts opts = {.name = "x"};
    weft__fault_arm(WEFT__FAULT_ALLOC, 2); /* the name's copy */
    assert_int_equal(weft_spawn_opts(return_arg, NULL, &opts, NULL), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    /* the program runs on */
    weft_task *t = SPAWN(return_arg, (void *)1);
    assert_int_equal(weft_await(t), 1);
    weft_task_free(t);
    return 0;
}

static void test_spawn_allocation_fails(void **state)
{
    (void)state;
    RUN(body_spawn_allocation_fails);
}

static int body_stack_mapping_fails(void)
{
    weft_task_opts big = {.stack_size = 1024 * 1024}; /* not from the pool */
    weft_task *t = SPAWN_OPTS(return_arg, NULL, &big);
    weft__fault_arm(WEFT__FAULT_STACK, 1);
    assert_int_equal(weft_await(t), WEFT_ESTACK);
    weft_task_free(t);
    t = SPAWN_OPTS(return_arg, (void *)3, &big);
    assert_int_equal(weft_await(t), 3);
    weft_task_free(t);
    return 0;
}

/* A stack size so large that rounding it to pages would wrap is refused at
 * spawn, not turned into a tiny stack (issue 12). */
static int body_stack_size_too_large(void)
{
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX / 2 + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        weft_task_opts o = {.stack_size = sizes[i]};
        weft_task *t = NULL;
        assert_int_equal(weft_spawn_opts(return_arg, NULL, &o, &t), -EINVAL);
        assert_null(t);
    }
    return 0;
}

static void test_stack_size_too_large(void **state)
{
    (void)state;
    RUN(body_stack_size_too_large);
}

static void test_stack_mapping_fails(void **state)
{
    (void)state;
    RUN(body_stack_mapping_fails);
}

/* ------------------------------------------------------------ errors */

static void test_strerror_names_every_code(void **state)
{
    (void)state;
#define CHECK_CODE(name, value, text)                                                              \
    assert_string_equal(weft_strerror(value), text);                                               \
    assert_string_equal(weft_err_name(value), "WEFT_" #name);
    WEFT_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    assert_string_equal(weft_err_name(-EINVAL), "EINVAL");
    assert_string_equal(weft_strerror(-ENOMEM), strerror(ENOMEM));
    assert_string_equal(weft_err_name(0), "0");
    assert_string_equal(weft_strerror(12345678), "unknown error");
}

/* ------------------------------------------------------------ many tasks */

static int body_many_tasks(void)
{
    enum { N = 20000 };
    static weft_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = SPAWN(sleep_arg_ms, (void *)(intptr_t)(i % 7));
    assert_int_equal(weft_gather(t, N, 0), 0);
    for (int i = 0; i < N; i++)
        weft_task_free(t[i]);
    return 0;
}

static void test_many_tasks(void **state)
{
    (void)state;
    RUN(body_many_tasks);
}

/* ------------------------------------------------ starting where one ended */

/* A task that ends hands its stack to the next ready task that has never
 * run (task.c, next_on_this_stack). Each still starts in spawn order, once,
 * with its own argument; one that parks resumes on that stack; and one
 * that asked for a bigger stack gets its own (it would overflow a default
 * one: a guard page fault, not a wrong answer). */
enum { CHAINED = 300 };
static int start_order[CHAINED], n_started;

/* Frames of their own (noinline), so that only the tasks that call them
 * have them. */
__attribute__((noinline)) static int park_with_a_frame(int i)
{
    volatile char frame[2048];
    frame[0] = frame[sizeof frame - 1] = (char)i;
    int rc = weft_sleep(0.001);
    return rc != 0 || frame[0] != (char)i || frame[sizeof frame - 1] != (char)i ? -EPROTO : 0;
}

/* 600 KiB of frames, each under a page, each written: a default stack's
 * guard page would be hit on the way down (a single 600 KiB frame could
 * jump over it into a neighbour's stack). */
__attribute__((noinline)) static int use_600_kib(int depth, int i)
{
    volatile char page[3000];
    page[0] = (char)i;
    int rc = depth > 0 ? use_600_kib(depth - 1, i) : 0;
    return rc == 0 && page[0] == (char)i ? 0 : -EPROTO;
}

static int chained(void *arg)
{
    int i = (int)(intptr_t)arg;
    start_order[n_started++] = i;
    int rc = 0;
    if (i % 10 == 3) /* parks, on the stack it was handed */
        rc = park_with_a_frame(i);
    else if (i % 10 == 7) /* asked for 1 MiB */
        rc = use_600_kib(200, i);
    return rc != 0 ? rc : i;
}

static int body_start_where_one_ended(void)
{
    static weft_task *t[CHAINED];
    weft_task_opts big = {.stack_size = 1024 * 1024};
    n_started = 0;
    for (int i = 0; i < CHAINED; i++)
        t[i] = i % 10 == 7 ? SPAWN_OPTS(chained, (void *)(intptr_t)i, &big)
                           : SPAWN(chained, (void *)(intptr_t)i);
    assert_int_equal(weft_gather(t, CHAINED, 0), 0);
    assert_int_equal(n_started, CHAINED);
    for (int i = 0; i < CHAINED; i++) {
        assert_int_equal(start_order[i], i);
        assert_int_equal(weft_task_result(t[i]), i);
        weft_task_free(t[i]);
    }
    return 0;
}

static void test_start_where_one_ended(void **state)
{
    (void)state;
    RUN(body_start_where_one_ended);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_returns_main_code),
        cmocka_unit_test(test_run_inside_loop_is_refused),
        cmocka_unit_test(test_runner_reuses_loop),
        cmocka_unit_test(test_runner_belongs_to_its_thread),
        cmocka_unit_test(test_waits_outside_task),
        cmocka_unit_test(test_await_returns_code),
        cmocka_unit_test(test_many_awaiters),
        cmocka_unit_test(test_await_errors),
        cmocka_unit_test(test_names_ids_current),
        cmocka_unit_test(test_sleep_zero_yields),
        cmocka_unit_test(test_sleeps_overlap),
        cmocka_unit_test(test_cancel_before_start),
        cmocka_unit_test(test_cancel_sleeping),
        cmocka_unit_test(test_uncancel_lets_task_go_on),
        cmocka_unit_test(test_uncancel_from_another_thread),
        cmocka_unit_test(test_self_cancel_delivered_at_next_wait),
        cmocka_unit_test(test_cancel_propagates_through_await),
        cmocka_unit_test(test_shield),
        cmocka_unit_test(test_detached_task),
        cmocka_unit_test(test_sleeps_with_io_handle_active),
        cmocka_unit_test(test_deadlock_is_reported),
        cmocka_unit_test(test_call_soon_later_at),
        cmocka_unit_test(test_callback_cannot_wait),
        cmocka_unit_test(test_spawn_allocation_fails),
        cmocka_unit_test(test_stack_mapping_fails),
        cmocka_unit_test(test_stack_size_too_large),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_many_tasks),
        cmocka_unit_test(test_start_where_one_ended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
