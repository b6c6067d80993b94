/* run: how a test runs its body on a loop (RUN, RUN_WITH in
 * test_support.h), and how a test that failed inside a task is ended
 * alone. A failing cmocka assertion long-jumps to cmocka's runner, out of
 * the task's stack and out of weft_runner_run: the loop is left "running"
 * on this thread and every later weft_run would fail with -EBUSY. The
 * runner of the test in progress is remembered here; the next test finds
 * it still set and frees it without resuming any of its tasks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/core.h"
#include "test_support.h"
#include "weft.h"

static weft_runner *in_progress; /* the runner of the test running now */

void test_recover(void)
{
    if (in_progress == NULL)
        return;
    weft__runner_abandon(in_progress);
    in_progress = NULL;
}

int test_run(weft_fn fn, void *arg)
{
    test_recover();
    weft_runner *runner;
    int rc = weft_runner_new(&runner);
    if (rc != 0)
        return rc;
    in_progress = runner;
    rc = weft_runner_run(runner, fn, arg);
    in_progress = NULL;
    weft_runner_free(runner);
    return rc;
}

int test_run_body(void *body)
{
    return ((test_body)body)();
}
