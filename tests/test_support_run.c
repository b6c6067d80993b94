/* test_support_run: a cmocka assertion that fails inside a task ends that
 * test alone. The first test fails on purpose, deep in a task that is not
 * the main one, with other tasks parked; the tests after it must run as if
 * nothing happened (before tests/support/run.c, each of them failed with
 * -EBUSY: the abandoned loop still ran on the thread). main() passes when
 * exactly the deliberate failure is reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "test_support.h"
#include "weft.h"

static int sleeper(void *arg)
{
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

static int failing_child(void *arg)
{
    (void)arg;
    assert_int_equal(weft_sleep(0.001), 0);
    fail_msg("deliberate failure inside a task (test_support_run expects it)");
    return 0;
}

static int body_fails_in_a_child(void)
{
    weft_task *parked = SPAWN(sleeper, NULL);
    weft_task *child = SPAWN(failing_child, NULL);
    int rc = weft_await(child); /* never returns: the child's failure jumps out */
    weft_task_free(child);
    weft_task_free(parked);
    return rc;
}

static void test_fails_inside_a_task(void **state)
{
    (void)state;
    RUN(body_fails_in_a_child);
}

static int body_runs(void)
{
    weft_task *t = SPAWN(sleeper, NULL);
    assert_int_equal(weft_sleep(0.001), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), WEFT_ECANCELED);
    weft_task_free(t);
    return 0;
}

static void test_next_one_runs(void **state)
{
    (void)state;
    RUN(body_runs);
}

static int returns_seven(void *arg)
{
    (void)arg;
    return 7;
}

/* A test that calls weft_run itself, after test_recover, runs too. */
static void test_weft_run_works_again(void **state)
{
    (void)state;
    test_recover();
    assert_int_equal(weft_run(returns_seven, NULL), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fails_inside_a_task),
        cmocka_unit_test(test_next_one_runs),
        cmocka_unit_test(test_next_one_runs),
        cmocka_unit_test(test_weft_run_works_again),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed != 1) {
        print_error("expected exactly the deliberate failure, got %d failed tests\n", failed);
        return 1;
    }
    return 0;
}
