/* The fork check that every wait and spawn makes compares a generation
 * bumped by a pthread_atfork child handler (weft__fork_generation), not
 * getpid(). An inherited loop refuses to run in the child; a fresh loop
 * made in the child works. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"

static int child_status(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int noop(void *arg)
{
    (void)arg;
    return 0;
}

/* In the child, the loop it inherited (still "running" on this stack) must
 * refuse every wait and spawn with WEFT_EFORKED. */
static int fork_in_task(void *arg)
{
    int *status = arg;
    pid_t pid = fork();
    if (pid == 0) {
        int code = 0;
        if (weft_sleep(0) != WEFT_EFORKED)
            code |= 1;
        weft_task *t = NULL;
        if (weft_spawn(noop, NULL, &t) != WEFT_EFORKED || t != NULL)
            code |= 2;
        if (!weft__loop_forked(weft__loop_current()))
            code |= 4;
        _exit(code);
    }
    if (pid < 0)
        return -errno;
    *status = child_status(pid);
    /* The parent's loop goes on as before. */
    return weft_sleep(0);
}

static void test_inherited_loop_refuses(void **state)
{
    (void)state;
    int status = -1;
    assert_int_equal(weft_run(fork_in_task, &status), 0);
    assert_int_equal(status, 0);
}

static int sleep_briefly(void *arg)
{
    (void)arg;
    return weft_sleep(0.001);
}

/* A child that makes its own loop after fork runs it normally. */
static void test_fresh_loop_in_child(void **state)
{
    (void)state;
    assert_int_equal(weft_run(noop, NULL), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(weft_run(sleep_briefly, NULL) == 0 ? 0 : 1);
    assert_true(pid > 0);
    assert_int_equal(child_status(pid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inherited_loop_refuses),
        cmocka_unit_test(test_fresh_loop_in_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
