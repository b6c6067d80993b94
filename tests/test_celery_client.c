/* weft's Celery client against Celery's own Python worker (Debian's
 * python3-celery 5.2, `celery -A pytasks worker -P solo`) through a real
 * redis-server: send_task with every JSON type, unicode and a countdown,
 * a failure read back as the Python exception, retries made by Python on
 * a message weft wrote; and the client against a weft worker. */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include "celery_test.h"

static int call(weft_celery_client *c, const char *task, json_t *args, json_t *kwargs,
                const weft_celery_send_opts *o, json_t **result)
{
    char id[37];
    assert_int_equal(weft_celery_send_task(c, task, args, kwargs, o, id), 0);
    assert_int_equal(strlen(id), 36);
    return weft_celery_result_get(c, id, 60, result);
}

static void client_calls(weft_celery_client *c, const char *prefix)
{
    char name[64];
    json_t *res = NULL;
    /* add(2, 3) */
    json_t *args = json_pack("[ii]", 2, 3);
    snprintf(name, sizeof name, "%s.add", prefix);
    assert_int_equal(call(c, name, args, NULL, NULL, &res), 0);
    assert_int_equal(json_integer_value(res), 5);
    json_decref(res);
    json_decref(args);
    /* echo of every JSON type and unicode, positional and keyword */
    args = json_pack("[nbbIfs[]{}{s:[i,{s:n}]}]", 1, 0, (json_int_t)1 << 53, -0.25,
                     "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x8e\x89", "a", 1, "b");
    json_t *kwargs = json_pack("{s:s,s:n}", "\xc3\xbc", "\xc3\x9f", "none");
    snprintf(name, sizeof name, "%s.echo", prefix);
    assert_int_equal(call(c, name, args, kwargs, NULL, &res), 0);
    json_t *expect = json_pack("[OO]", args, kwargs);
    assert_true(json_equal(res, expect));
    json_decref(expect);
    json_decref(res);
    json_decref(args);
    json_decref(kwargs);
    /* a countdown is honoured */
    args = json_pack("[ii]", 1, 1);
    weft_celery_send_opts later = {.countdown = 1.0, .priority = 6};
    double t0 = weft_time();
    snprintf(name, sizeof name, "%s.add", prefix);
    assert_int_equal(call(c, name, args, NULL, &later, &res), 0);
    assert_true(weft_time() - t0 >= 0.9);
    assert_int_equal(json_integer_value(res), 2);
    json_decref(res);
    json_decref(args);
    /* a failure comes back as the exception Celery stored */
    args = json_pack("[ss]", "ValueError", "boom");
    snprintf(name, sizeof name, "%s.fail", prefix);
    if (strcmp(prefix, "py") == 0) {
        json_decref(args);
        args = json_pack("[s]", "boom");
    }
    assert_int_equal(call(c, name, args, NULL, NULL, &res), WEFT_ETASK);
    assert_string_equal(json_string_value(json_object_get(res, "exc_type")), "ValueError");
    assert_string_equal(json_string_value(json_array_get(json_object_get(res, "exc_message"), 0)),
                        "boom");
    json_decref(res);
    json_decref(args);
}

static int weft_client_to_python_worker(void *arg)
{
    (void)arg;
    setenv("WEFT_CELERY_URL", celery_url(), 1);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", celery_script(""));
    char *argv[] = {CELERY_PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "pytasks",
                    "worker",
                    "-P",
                    "solo",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "warning",
                    NULL};
    weft_process_opts po = {
        .argv = argv, .cwd = dir, .stdio = {WEFT_STDIO_NULL, WEFT_STDIO_NULL, WEFT_STDIO_NULL}};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&po, &p), 0);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    client_calls(c, "py");
    /* retries made by Python on a message weft wrote */
    json_t *res = NULL;
    assert_int_equal(call(c, "py.retries", NULL, NULL, NULL, &res), 0);
    assert_int_equal(json_integer_value(res), 2);
    json_decref(res);
    /* a timeout on a task nobody runs */
    char id[37];
    assert_int_equal(weft_celery_send_task(c, "py.add", NULL, NULL,
                                           &(weft_celery_send_opts){.queue = "nobody"}, id),
                     0);
    assert_int_equal(weft_celery_result_get(c, id, 0.3, &res), WEFT_ETIMEDOUT);
    assert_null(res);
    weft_celery_client_close(c);
    assert_int_equal(weft_process_kill(p, SIGTERM), 0); /* Celery's warm shutdown */
    int status = -1;
    assert_int_equal(weft_process_wait(p, 30, &status), 0);
    assert_int_equal(status, 0);
    weft_process_free(p);
    return 0;
}
REDIS_LOOP_TEST(weft_client_to_python_worker);

static int weft_client_to_weft_worker(void *arg)
{
    (void)arg;
    weft_celery_worker *w;
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, NULL, &w), 0);
    register_test_tasks(w, NULL);
    weft_task *run = SPAWN(worker_task, w);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    client_calls(c, "t");
    weft_celery_client_close(c);
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    weft_task_free(run);
    weft_celery_worker_free(w);
    return 0;
}
REDIS_LOOP_TEST(weft_client_to_weft_worker);

/* result_expires is the result's TTL; poll_timeout bounds how long a warm
 * shutdown waits for the consumer's BRPOP. */
static int worker_options(void *arg)
{
    (void)arg;
    weft_celery_worker *w;
    weft_celery_opts o = {.result_expires = 100, .poll_timeout = 0.1};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    register_test_tasks(w, NULL);
    weft_task *run = SPAWN(worker_task, w);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    json_t *args = json_pack("[ii]", 1, 2), *res = NULL;
    char id[37];
    assert_int_equal(weft_celery_send_task(c, "t.add", args, NULL, NULL, id), 0);
    assert_int_equal(weft_celery_result_get(c, id, 30, &res), 0);
    assert_int_equal(json_integer_value(res), 3);
    json_decref(res);
    json_decref(args);
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "TTL celery-task-meta-%s", id), 0);
    assert_in_range(weft_redis_reply_integer(r), 90, 100);
    weft_redis_reply_free(r);
    weft_redis_pool_close(pool);
    assert_int_equal(weft_sleep(0.3), 0); /* the consumer is in a BRPOP now */
    double t0 = weft_time();
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    assert_true(weft_time() - t0 < 0.9); /* the default, 1 s, would take longer */
    weft_task_free(run);
    weft_celery_client_close(c);
    weft_celery_worker_free(w);
    return 0;
}
REDIS_LOOP_TEST(worker_options);

/* handle_signals: SIGTERM is a warm shutdown (the running task finishes),
 * a second SIGTERM a cold one (an acks_late task is given back). */
static int signals(void *arg)
{
    (void)arg;
    weft_celery_worker *w;
    weft_celery_opts o = {.handle_signals = true, .poll_timeout = 0.1, .shutdown_grace = 30};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    weft_celery_task_opts late = {.acks_late = true};
    register_test_tasks(w, &late);
    weft_task *run = SPAWN(worker_task, w);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    json_t *args = json_pack("[f]", 60.0);
    char id[37];
    assert_int_equal(weft_celery_send_task(c, "t.sleep", args, NULL, NULL, id), 0);
    json_decref(args);
    struct weft_celery_worker_stats st;
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.running == 1));
    assert_int_equal(kill(getpid(), SIGTERM), 0); /* warm: the 60 s task would be waited for */
    assert_int_equal(weft_sleep(0.3), 0);
    assert_false(weft_task_done(run));
    assert_int_equal(kill(getpid(), SIGTERM), 0); /* cold */
    assert_int_equal(weft_await(run), WEFT_ECANCELED);
    weft_task_free(run);
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.restored, 1);
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "LLEN celery"), 0);
    assert_int_equal(weft_redis_reply_integer(r), 1); /* given back */
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "DEL celery"), 0);
    weft_redis_pool_close(pool);
    weft_celery_client_close(c);
    weft_celery_worker_free(w);
    return 0;
}
REDIS_LOOP_TEST(signals);

static int bad_arguments(void *arg)
{
    (void)arg;
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(NULL, NULL, &c), -EINVAL);
    assert_null(c);
    assert_int_equal(weft_celery_client_new("http://x", NULL, &c), -EINVAL);
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    char id[37];
    json_t *obj = json_object();
    assert_int_equal(weft_celery_send_task(c, "t.add", obj, NULL, NULL, id), -EINVAL);
    assert_int_equal(
        weft_celery_send_task(c, "t.add", NULL, NULL, &(weft_celery_send_opts){.priority = 10}, id),
        -EINVAL);
    assert_int_equal(weft_celery_send_task(c, "", NULL, NULL, NULL, id), -EINVAL);
    json_decref(obj);
    json_t *res;
    assert_int_equal(weft_celery_result_get(c, NULL, 1, &res), -EINVAL);
    weft_celery_client_close(c);
    weft_celery_worker *w;
    weft_celery_opts o = {.visibility_timeout = -1};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), -EINVAL);
    assert_null(w);
    const char *none[] = {""};
    o = (weft_celery_opts){.queues = none, .n_queues = 1};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), -EINVAL);
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, NULL, &w), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.add", NULL, NULL, NULL), -EINVAL);
    register_test_tasks(w, NULL);
    assert_int_equal(weft_celery_worker_register(w, "t.add", task_add, NULL, NULL), -EEXIST);
    weft_celery_worker_free(w); /* never run */
    return 0;
}
REDIS_LOOP_TEST(bad_arguments);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_worker_options),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_weft_client_to_weft_worker),
        cmocka_unit_test(test_weft_client_to_python_worker),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
