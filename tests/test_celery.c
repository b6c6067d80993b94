/* The Celery worker against Celery itself: Debian's python3-celery 5.2
 * sends tasks through a real redis-server to a weft worker and reads the
 * results with AsyncResult.get(): every JSON type and unicode, large
 * payloads, failures with Python exception types, retries counted as
 * Celery counts them, ETA, expires (REVOKED), soft and hard time limits,
 * priorities. */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "celery_test.h"

static int python_client_to_weft_worker(void *arg)
{
    (void)arg;
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = 64, .restore_interval = 0.5};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    register_test_tasks(w, NULL);
    weft_task *run = SPAWN(worker_task, w);
    const char *args[] = {"interop", NULL};
    int status = run_python("py_client.py", args, 240);
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    weft_task_free(run);
    struct weft_celery_worker_stats st;
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    /* echo, add, 200 adds, big echo, retry(2), countdown, priority 9 */
    assert_int_equal(st.succeeded, 206);
    /* 3 fails, max retries exceeded, soft and hard time limits */
    assert_int_equal(st.failed, 6);
    assert_int_equal(st.revoked, 1);
    assert_int_equal(st.retried, 2 + 3);
    assert_int_equal(st.running + st.scheduled, 0);
    weft_celery_worker_free(w);
    assert_int_equal(status, 0);
    return 0;
}
REDIS_LOOP_TEST(python_client_to_weft_worker);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_client_to_weft_worker),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
