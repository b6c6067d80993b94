/* Signals: weft_signal_wait wakes on delivery, is cancellable, leaves other
 * waits alone; Ctrl-C (SIGINT) during weft_run cancels the main task, lets
 * it clean up, and weft_run returns WEFT_EINTERRUPTED. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "core/core.h"
#include "weft.h"
#include "test_support.h"

static int wait_usr1(void *arg)
{
    (void)arg;
    return weft_signal_wait(SIGUSR1);
}

static int sleeper(void *arg)
{
    (void)arg;
    return weft_sleep(0.1);
}

static int main_signal(void *arg)
{
    (void)arg;
    weft_task *w1 = SPAWN(wait_usr1, NULL);
    weft_task *w2 = SPAWN(wait_usr1, NULL);
    weft_task *s = SPAWN(sleeper, NULL);
    assert_int_equal(weft_sleep(0.01), 0); /* all three are waiting */
    double t0 = weft_time();
    kill(getpid(), SIGUSR1);
    assert_int_equal(weft_await(w1), SIGUSR1);
    assert_int_equal(weft_await(w2), SIGUSR1);
    assert_true(weft_time() - t0 < 0.5);
    assert_int_equal(weft_await(s), 0); /* a signal does not disturb other waits */

    weft_task *c = SPAWN(wait_usr1, NULL);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(c);
    assert_int_equal(weft_await(c), WEFT_ECANCELED);
    assert_int_equal(weft_signal_wait(0), -EINVAL);
    assert_int_equal(weft_signal_wait(SIGKILL), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_signal_wait(SIGUSR1), -ENOMEM);
    weft_task_free(w1);
    weft_task_free(w2);
    weft_task_free(s);
    weft_task_free(c);
    return 0;
}

static void test_signal_wait(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_signal, NULL), 0);
    assert_int_equal(weft_signal_wait(SIGUSR1), WEFT_ENOTASK);
}

/* The handler form: a callback on the loop for each delivery. */
static void count_signal(void *arg, int signum)
{
    int *count = arg;
    if (signum == SIGUSR2)
        (*count)++;
}

static int main_handler(void *arg)
{
    (void)arg;
    int count = 0;
    weft_signal_handler *h;
    assert_int_equal(weft_signal_handle(NULL, SIGUSR2, count_signal, &count, &h), 0);
    for (int i = 0; i < 3; i++) {
        kill(getpid(), SIGUSR2);
        for (int k = 0; k < 100 && count <= i; k++)
            assert_int_equal(weft_sleep(0.001), 0);
    }
    assert_int_equal(count, 3);
    weft_signal_handler_free(h);
    assert_int_equal(weft_signal_handle(NULL, 0, count_signal, &count, &h), -EINVAL);
    assert_int_equal(weft_signal_handle(NULL, SIGUSR2, NULL, &count, &h), -EINVAL);
    assert_int_equal(weft_signal_handle(NULL, SIGUSR2, count_signal, &count, NULL), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_signal_handle(NULL, SIGUSR2, count_signal, &count, &h), -ENOMEM);
    weft_signal_handler_free(NULL);
    return 0;
}

/* A handler left installed when its loop closes can still be freed. */
static weft_signal_handler *left_behind;
static int main_leave_handler(void *arg)
{
    (void)arg;
    return weft_signal_handle(NULL, SIGUSR2, count_signal, arg, &left_behind);
}

static void test_signal_handler(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_handler, NULL), 0);
    weft_signal_handler *h;
    assert_int_equal(weft_signal_handle(NULL, SIGUSR2, count_signal, NULL, &h), WEFT_ENOTASK);
    int count = 0;
    assert_int_equal(weft_run(main_leave_handler, &count), 0);
    weft_signal_handler_free(left_behind);
}

static void send_sigint(void *arg)
{
    (void)arg;
    kill(getpid(), SIGINT);
}

static int cleaned_up;

static int main_ctrl_c(void *arg)
{
    (void)arg;
    assert_int_equal(weft_call_later(NULL, 0.05, send_sigint, NULL, NULL), 0);
    int rc = weft_sleep(10);
    cleaned_up = rc == WEFT_ECANCELED;
    /* Cleanup may still wait: only the one cancellation was delivered. */
    assert_int_equal(weft_sleep(0.01), 0);
    return rc;
}

static void test_sigint_interrupts_weft_run(void **state)
{
    (void)state;
    double t0 = weft_time();
    assert_int_equal(weft_run(main_ctrl_c, NULL), WEFT_EINTERRUPTED);
    assert_true(weft_time() - t0 < 2.0);
    assert_true(cleaned_up);
    struct sigaction sa;
    assert_int_equal(sigaction(SIGINT, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL); /* given back */
}

/* A SIGINT handler of the program's own: weft_run leaves SIGINT alone. */
static volatile sig_atomic_t own_handler_hits;

static void own_handler(int sig)
{
    (void)sig;
    own_handler_hits++;
}

static int main_not_interrupted(void *arg)
{
    (void)arg;
    kill(getpid(), SIGINT);
    return weft_sleep(0.02);
}

static void test_own_sigint_handler_kept(void **state)
{
    (void)state;
    signal(SIGINT, own_handler);
    assert_int_equal(weft_run(main_not_interrupted, NULL), 0);
    assert_int_equal(own_handler_hits, 1);
    signal(SIGINT, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_wait),
        cmocka_unit_test(test_signal_handler),
        cmocka_unit_test(test_sigint_interrupts_weft_run),
        cmocka_unit_test(test_own_sigint_handler_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
