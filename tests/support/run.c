/* run: how a test runs its body on a loop (RUN, RUN_WITH in
 * test_support.h), and how a test that failed inside a task is ended
 * alone. A failing cmocka assertion long-jumps to cmocka's runner, out of
 * the task's stack and out of weft_runner_run: the loop is left "running"
 * on this thread and every later weft_run would fail with -EBUSY. The
 * runner of the test in progress is remembered here; the next test finds
 * it still set and frees it without resuming any of its tasks. */
#define _GNU_SOURCE /* pthread_getattr_np */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "core/core.h"
#include "test_support.h"
#include "weft.h"

static weft_runner *in_progress; /* the runner of the test running now */

/* The long jump left from a task's stack, so ASan cleared that stack's
 * shadow, not this thread's: the frames that were live below cmocka's
 * setjmp when the loop switched away (weft_runner_run down to the switch)
 * are still poisoned, and the next call that reaches that deep (a
 * teardown's snprintf) is reported as a stack-buffer-overflow. Nothing is
 * live below the caller's frame: unpoison it all. */
static void unpoison_below_here(void)
{
#if defined(__SANITIZE_ADDRESS__)
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int rc = pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    char *here = __builtin_frame_address(0);
    if (rc == 0 && here > (char *)lo)
        __asan_unpoison_memory_region(lo, (size_t)(here - (char *)lo));
#endif
}

void test_recover(void)
{
    if (in_progress == NULL)
        return;
    unpoison_below_here();
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
