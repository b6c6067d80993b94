/* The Celery worker when things go wrong, against a real redis-server:
 * malformed messages (each rejected with a logged reason, good ones around
 * them all run), warm shutdown (running tasks finish, ETA messages go back
 * to the queue) and cold shutdown (acks_late messages go back), a worker
 * SIGKILLed with acks_late tasks in flight (another worker runs them after
 * the visibility timeout), and the broker restarted mid-run (nothing lost,
 * nothing run twice). */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "celery_test.h"
#include "log_capture.h"

static long long redis_int(weft_redis_pool *pool, const char *fmt, const char *arg)
{
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, fmt, arg), 0);
    long long n = weft_redis_reply_integer(r);
    weft_redis_reply_free(r);
    return n;
}

static void flush(weft_redis_pool *pool)
{
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "FLUSHALL"), 0);
}

static void send_n(weft_celery_client *c, const char *task, int n, json_t *arg,
                   const weft_celery_send_opts *o, char ids[][37])
{
    for (int i = 0; i < n; i++) {
        json_t *args = arg ? json_pack("[O]", arg) : json_pack("[i]", i);
        assert_int_equal(weft_celery_send_task(c, task, args, NULL, o, ids[i]), 0);
        json_decref(args);
    }
}

/* ------------------------------------------------ malformed messages */

static int malformed_messages(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    char ids[4][37];
    send_n(c, "t.add", 2, NULL, NULL, ids);
    static const char *const bad[] = {
        "not json at all",
        "{\"body\": \"!!!notbase64\", \"content-type\": \"application/json\", \"headers\": "
        "{\"task\": \"t.add\", \"id\": \"x1\"}, \"properties\": {\"delivery_tag\": \"d1\", "
        "\"body_encoding\": \"base64\"}}",
        /* base64 of "not json" */
        "{\"body\": \"bm90IGpzb24=\", \"content-type\": \"application/json\", \"headers\": "
        "{\"task\": \"t.add\", \"id\": \"x2\"}, \"properties\": {\"delivery_tag\": \"d2\", "
        "\"body_encoding\": \"base64\"}}",
        /* protocol v1: no headers.task, the body is a dict with "task" */
        "{\"body\": \"eyJ0YXNrIjogInQuYWRkIn0=\", \"content-type\": \"application/json\", "
        "\"headers\": {}, \"properties\": {\"delivery_tag\": \"d3\", \"body_encoding\": "
        "\"base64\"}}",
        /* pickle */
        "{\"body\": \"gAQ=\", \"content-type\": \"application/x-python-serialize\", \"headers\": "
        "{\"task\": \"t.add\", \"id\": \"x4\"}, \"properties\": {\"delivery_tag\": \"d4\", "
        "\"body_encoding\": \"base64\"}}",
        "[1, 2, 3]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(weft_redis_pool_commandf(pool, NULL, "LPUSH celery %s", bad[i]), 0);
    /* A well-formed message for a task nobody registered. */
    char nobody[37];
    assert_int_equal(weft_celery_send_task(c, "t.nobody", NULL, NULL, NULL, nobody), 0);
    send_n(c, "t.add", 2, NULL, NULL, ids + 2);
    capture_start(WEFT_LOG_WARN);
    weft_celery_worker *w;
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, NULL, &w), 0);
    register_test_tasks(w, NULL);
    weft_task *run = SPAWN(worker_task, w);
    for (int i = 0; i < 4; i++) {
        json_t *res = NULL;
        assert_int_equal(weft_celery_result_get(c, ids[i], 20, &res), 0);
        json_decref(res);
    }
    CELERY_WAIT_UNTIL(redis_int(pool, "LLEN %s", "celery") == 0);
    struct weft_celery_worker_stats st;
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.rejected == 7));
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    weft_task_free(run);
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.succeeded, 4);
    capture_stop();
    assert_int_equal(count_of(cap_buf, "rejected"), 7);
    assert_int_equal(count_of(cap_buf, "not JSON"), 2); /* the envelope, the body */
    assert_int_equal(count_of(cap_buf, "not valid base64"), 1);
    assert_int_equal(count_of(cap_buf, "not a protocol v2"), 2); /* v1, an array */
    assert_int_equal(count_of(cap_buf, "x-python-serialize"), 1);
    assert_int_equal(count_of(cap_buf, "t.nobody"), 1);
    /* Nothing of them is left behind: not queued, not unacked. */
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 0);
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}
REDIS_LOOP_TEST(malformed_messages);

/* ------------------------------------------------------- shutdown */

static int warm_shutdown(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    char ids[5][37];
    json_t *half = json_real(0.5);
    send_n(c, "t.sleep", 4, half, NULL, ids);
    weft_celery_send_opts later = {.countdown = 60};
    send_n(c, "t.add", 1, NULL, &later, ids + 4);
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = 2};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    weft_celery_task_opts late = {.acks_late = true};
    register_test_tasks(w, &late);
    weft_task *run = SPAWN(worker_task, w);
    struct weft_celery_worker_stats st;
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.running == 2));
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    weft_task_free(run);
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.succeeded, 2); /* the two running finished */
    assert_int_equal(st.running + st.scheduled, 0);
    /* The ETA message, taken before the sleeps (it was sent last, BRPOP takes
     * the oldest) or not at all, is on the queue again with the two never taken. */
    long long queued = redis_int(pool, "LLEN %s", "celery");
    assert_int_equal(queued + (long long)st.succeeded, 5);
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 0);
    json_decref(half);
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}
REDIS_LOOP_TEST(warm_shutdown);

static int cold_shutdown(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    char ids[3][37];
    json_t *long_sleep = json_real(60);
    send_n(c, "t.sleep", 3, long_sleep, NULL, ids);
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = 3, .shutdown_grace = 0.2};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    weft_celery_task_opts late = {.acks_late = true};
    register_test_tasks(w, &late);
    weft_task *run = SPAWN(worker_task, w);
    struct weft_celery_worker_stats st;
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.running == 3));
    double t0 = weft_time();
    /* Warm first: the grace period runs out, then it goes cold by itself. */
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), WEFT_ECANCELED);
    weft_task_free(run);
    assert_true(weft_time() - t0 < 5);
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.succeeded + st.failed, 0);
    assert_int_equal(st.restored, 3);
    assert_int_equal(redis_int(pool, "LLEN %s", "celery"), 3); /* given back */
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 0);
    json_decref(long_sleep);
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}
REDIS_LOOP_TEST(cold_shutdown);

/* A cold shutdown with 2,000 acks_late tasks just taken, many still
 * recording themselves as unacked: every message goes back (the give-backs
 * once invalidated each other's WATCH and gave up; requests cancelled while
 * recording left their message nowhere). */
static int cold_shutdown_many(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    static char ids[2000][37];
    json_t *long_sleep = json_real(60);
    send_n(c, "t.sleep", 2000, long_sleep, NULL, ids);
    json_decref(long_sleep);
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = 2000};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    weft_celery_task_opts late = {.acks_late = true};
    register_test_tasks(w, &late);
    weft_task *run = SPAWN(worker_task, w);
    struct weft_celery_worker_stats st;
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.received == 2000));
    assert_int_equal(weft_celery_worker_shutdown(w, true), 0);
    assert_int_equal(weft_await(run), WEFT_ECANCELED);
    weft_task_free(run);
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.restored, 2000);
    assert_int_equal(redis_int(pool, "LLEN %s", "celery"), 2000);
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 0);
    assert_int_equal(redis_int(pool, "ZCARD %s", "unacked_index"), 0);
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}
REDIS_LOOP_TEST(cold_shutdown_many);

/* ----------------------------------------- a worker killed with -9 */

static int flush_task(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_redis_pool_close(pool);
    return 0;
}

/* The worker that dies: its t.sleep really sleeps. */
static int doomed_worker(void *arg)
{
    (void)arg;
    weft_celery_worker *w;
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, NULL, &w), 0);
    weft_celery_task_opts late = {.acks_late = true};
    register_test_tasks(w, &late);
    return weft_celery_worker_run(w); /* until SIGKILL */
}

/* The survivor's t.sleep returns at once: "ran here". */
static int task_quick(weft_celery_request *req, void *user)
{
    (void)user;
    return weft_celery_return(req, json_string("second worker"));
}

static int survivor(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    char ids[5][37];
    json_t *long_sleep = json_real(120);
    send_n(c, "t.sleep", 5, long_sleep, NULL, ids);
    json_decref(long_sleep);
    /* Wait until the doomed worker holds all five (unacked), then kill it. */
    for (int i = 0; i < 3000 && redis_int(pool, "HLEN %s", "unacked") < 5; i++)
        assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 5);
    assert_int_equal(kill(pid, SIGKILL), 0);
    weft_celery_worker *w;
    weft_celery_opts o = {.visibility_timeout = 1, .restore_interval = 0.2};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.sleep", task_quick, NULL, NULL), 0);
    weft_task *run = SPAWN(worker_task, w);
    double t0 = weft_time();
    for (int i = 0; i < 5; i++) {
        json_t *res = NULL;
        assert_int_equal(weft_celery_result_get(c, ids[i], 30, &res), 0);
        assert_string_equal(json_string_value(res), "second worker");
        json_decref(res);
    }
    assert_true(weft_time() - t0 < 30);
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);

    weft_task_free(run);
    struct weft_celery_worker_stats st;
    assert_int_equal(weft_celery_worker_stats(w, &st), 0);
    assert_int_equal(st.restored, 5);
    assert_int_equal(st.succeeded, 5);
    assert_int_equal(redis_int(pool, "HLEN %s", "unacked"), 0);
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}

static void test_sigkill_acks_late(void **state)
{
    (void)state;
    assert_int_equal(weft_run(flush_task, NULL), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_log_set_handler(WEFT_LOG_OFF, NULL, NULL);
        _exit(weft_run(doomed_worker, NULL) == 0 ? 0 : 1);
    }
    int rc = weft_run(survivor, &pid);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(rc, 0);
    assert_true(WIFSIGNALED(status));
}

/* ------------------------------------------------- broker restart */

static int runs[300];

static int task_count(weft_celery_request *req, void *user)
{
    (void)user;
    json_int_t i = json_integer_value(json_array_get(weft_celery_args(req), 0));
    if (i >= 0 && i < 300)
        runs[i]++;
    int rc = weft_sleep(0.01);
    if (rc != 0)
        return rc;
    return weft_celery_return(req, json_integer(i));
}

/* The queue's length, or -1 while the pool reconnects after the restart. */
static long long queue_len(weft_redis_pool *pool)
{
    weft_redis_reply *r;
    if (weft_redis_pool_commandf(pool, &r, "LLEN celery") != 0)
        return -1;
    long long n = weft_redis_reply_integer(r);
    weft_redis_reply_free(r);
    return n;
}

static int broker_restart(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    flush(pool);
    weft_celery_client *c;
    assert_int_equal(weft_celery_client_new(celery_url(), NULL, &c), 0);
    static char ids[300][37];
    send_n(c, "t.count", 300, NULL, NULL, ids);
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = 20};
    assert_int_equal(weft_celery_worker_new(celery_url(), NULL, &o, &w), 0);
    assert_int_equal(weft_celery_worker_register(w, "t.count", task_count, NULL, NULL), 0);
    weft_task *run = SPAWN(worker_task, w);
    struct weft_celery_worker_stats st;
    CELERY_WAIT_UNTIL((weft_celery_worker_stats(w, &st), st.succeeded >= 50));
    /* A clean restart (the data saved, as a broker with persistence keeps
     * it): the worker's commands fail meanwhile and are retried. */
    WEFT_IGNORE(weft_redis_pool_commandf(pool, NULL, "SHUTDOWN SAVE"));
    assert_int_equal(weft_sleep(0.3), 0);
    assert_int_equal(redis_server_restart(&srv), 0);
    /* The queue drains and nothing runs any more. A message that Redis
     * popped for a reply the shutdown never sent is gone: kombu's BRPOP has
     * the same window (docs/celery.md, "Acks"); at most the free slots of
     * one take (concurrency) can be in it. Everything else runs once and
     * its result arrives. */
    CELERY_WAIT_UNTIL(
        (weft_celery_worker_stats(w, &st), st.running + st.scheduled == 0 && queue_len(pool) == 0));
    int lost = 0;
    for (int i = 0; i < 300; i++) {
        if (runs[i] == 0) {
            lost++;
            continue;
        }
        json_t *res = NULL;
        int rc = weft_celery_result_get(c, ids[i], 30, &res);
        for (int k = 0; k < 20 && rc != 0 && rc != WEFT_ETIMEDOUT; k++) { /* the client's pool */
            assert_int_equal(weft_sleep(0.1), 0);
            rc = weft_celery_result_get(c, ids[i], 30, &res);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(json_integer_value(res), i);
        json_decref(res);
    }
    assert_true((size_t)lost <= o.concurrency);
    assert_int_equal(weft_celery_worker_shutdown(w, false), 0);
    assert_int_equal(weft_await(run), 0);
    weft_task_free(run);
    for (int i = 0; i < 300; i++)
        assert_true(runs[i] <= 1); /* never twice */
    weft_celery_worker_free(w);
    weft_celery_client_close(c);
    weft_redis_pool_close(pool);
    return 0;
}
REDIS_LOOP_TEST(broker_restart);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_messages), cmocka_unit_test(test_warm_shutdown),
        cmocka_unit_test(test_cold_shutdown),      cmocka_unit_test(test_cold_shutdown_many),
        cmocka_unit_test(test_sigkill_acks_late),  cmocka_unit_test(test_broker_restart),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
