/* celery_test.h: what the Celery test files share: the redis-server of
 * redis_test.h, the test tasks a weft worker registers, a worker run in a
 * task of its own, and Celery's own Python (Debian's python3-celery) run
 * as a child process on tests/celery/<script>. Include after cmocka.h. */
#ifndef WEFT_TEST_CELERY_TEST_H
#define WEFT_TEST_CELERY_TEST_H

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include "redis_test.h"
#include "test_support.h"

/* WAIT_UNTIL with a bound for a loaded machine (and valgrind): 30 s. */
#define CELERY_WAIT_UNTIL(cond)                                                                    \
    do {                                                                                           \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++)                                               \
            assert_int_equal(weft_sleep(0.01), 0);                                                 \
        assert_true(cond);                                                                         \
    } while (0)

/* Debian's interpreter, which has python3-celery (a python3 earlier on
 * PATH, a pyenv one, may not). */
#define CELERY_PYTHON "/usr/bin/python3"

/* Celery's spelling of the test server's Unix socket. */
static const char *celery_url(void)
{
    static char url[256];
    snprintf(url, sizeof url, "redis+socket://%s", srv.sock);
    return url;
}

/* tests/celery/<name>, found next to this file. */
__attribute__((unused)) static const char *celery_script(const char *name)
{
    static char path[1024];
    char here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(path, sizeof path, "%s/../celery/%s", dirname(here), name); /* tests/support/.. */
    return path;
}

/* --------------------------------------------------------- test tasks */

static int task_add(weft_celery_request *req, void *user)
{
    (void)user;
    json_t *args = weft_celery_args(req);
    json_int_t sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(args, i, v)
    {
        if (!json_is_integer(v))
            return weft_celery_fail(req, "TypeError", "add takes integers");
        sum += json_integer_value(v);
    }
    return weft_celery_return(req, json_integer(sum));
}

static int task_echo(weft_celery_request *req, void *user)
{
    (void)user;
    return weft_celery_return(req,
                              json_pack("[OO]", weft_celery_args(req), weft_celery_kwargs(req)));
}

/* fail(exc_type, message) */
static int task_fail(weft_celery_request *req, void *user)
{
    (void)user;
    json_t *a = weft_celery_args(req);
    return weft_celery_fail(req, json_string_value(json_array_get(a, 0)), "%s",
                            json_string_value(json_array_get(a, 1)));
}

/* retry(n): retries with a short countdown until it has been retried n
 * times, then returns n (past max_retries, 3, it fails). */
static int task_retry(weft_celery_request *req, void *user)
{
    (void)user;
    json_int_t n = json_integer_value(json_array_get(weft_celery_args(req), 0));
    if (weft_celery_retries(req) < n)
        return weft_celery_retry(req, 0.1, -1, NULL, NULL);
    return weft_celery_return(req, json_integer(weft_celery_retries(req)));
}

/* sleep(seconds): a task that waits (cancellation ends it). */
static int task_sleep(weft_celery_request *req, void *user)
{
    (void)user;
    int rc = weft_sleep(json_number_value(json_array_get(weft_celery_args(req), 0)));
    if (rc != 0)
        return rc;
    return weft_celery_return(req, json_true());
}

/* stubborn(seconds): ignores cancellation, for the hard time limit. */
static int task_stubborn(weft_celery_request *req, void *user)
{
    (void)user;
    double end = weft_time() + json_number_value(json_array_get(weft_celery_args(req), 0));
    while (weft_time() < end)
        if (weft_sleep(0.05) != 0)
            while (weft_uncancel(weft_task_current()) > 0)
                ;
    return weft_celery_return(req, json_true());
}

__attribute__((unused)) static void register_test_tasks(weft_celery_worker *w,
                                                        const weft_celery_task_opts *opts)
{
    assert_int_equal(weft_celery_worker_register(w, "t.add", task_add, NULL, opts), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.echo", task_echo, NULL, opts), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.fail", task_fail, NULL, opts), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.retry", task_retry, NULL, opts), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.sleep", task_sleep, NULL, opts), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.stubborn", task_stubborn, NULL, opts), 0);
}

/* ------------------------------------------------- worker in a task */

static int worker_task(void *arg)
{
    return weft_celery_worker_run(arg);
}

/* ------------------------------------------------------------ Python */

/* Runs tests/celery/<script> with args after the broker URL; returns its
 * exit status (within timeout seconds, else it is killed and -1). */
__attribute__((unused)) static int run_python(const char *script, const char *const *args,
                                              double timeout)
{
    char *argv[16] = {CELERY_PYTHON, (char *)celery_script(script), (char *)celery_url()};
    size_t n = 3;
    for (; args != NULL && args[n - 3] != NULL && n < 15; n++)
        argv[n] = (char *)args[n - 3];
    argv[n] = NULL;
    weft_process_opts po = {.argv = argv};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&po, &p), 0);
    int status = -1;
    int rc = weft_process_wait(p, timeout, &status);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", script, weft_strerror(rc));
        status = -1;
    }
    weft_process_free(p);
    return status;
}

#endif
