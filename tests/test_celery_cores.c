/* A Celery worker on every core (issue 17): a group of two loops, each
 * running its own weft_celery_worker with its own Redis connections on the
 * same queue (kombu's queue semantics let several consumers share it).
 * weft's client on loop 0, then Celery's own Python client, each send 200
 * add tasks; every result arrives, each task ran exactly once, both loops
 * ran some, and a warm shutdown of every worker (sent to each loop) ends
 * the run. State shared between the
 * loops is static, never a task's locals (compact stacks). */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "celery_test.h"

#define LOOPS 2
#define TASKS 200

static weft_celery_worker *workers[LOOPS];
static struct weft_celery_worker_stats final_stats[LOOPS];
static int ran_on[LOOPS];   /* tasks run, per loop (counted by the task) */
static int main_rc[LOOPS];  /* each main's first failure, for the report */
static char ids[TASKS][37]; /* the task ids the client sent */
static json_int_t results[TASKS];
static bool python_client; /* the second test: Python's Celery sends */
static int python_status = -1;

/* add with a short wait, counting the loop it ran on: the wait keeps a
 * worker's few slots busy long enough for the other worker to take some. */
static int task_cores_add(weft_celery_request *req, void *user)
{
    (void)user;
    int rc = weft_sleep(0.01);
    if (rc != 0)
        return rc;
    int i = weft_loop_group_index();
    if (i < 0 || i >= LOOPS)
        return weft_celery_fail(req, "RuntimeError", "not on a group's loop");
    __atomic_add_fetch(&ran_on[i], 1, __ATOMIC_RELAXED);
    json_t *a = weft_celery_args(req);
    return weft_celery_return(req, json_integer(json_integer_value(json_array_get(a, 0)) +
                                                json_integer_value(json_array_get(a, 1))));
}

static int shutdown_here(void *arg)
{
    return weft_celery_worker_shutdown(workers[(intptr_t)arg], false);
}

/* weft's client: sends the tasks and reads every result. */
static int weft_client_adds(void)
{
    weft_celery_client *c;
    int rc = weft_celery_client_new(celery_url(), NULL, &c);
    if (rc != 0)
        return rc;
    for (int k = 0; k < TASKS && rc == 0; k++) {
        json_t *args = json_pack("[ii]", k, k);
        rc = weft_celery_send_task(c, "t.cores_add", args, NULL, NULL, ids[k]);
        json_decref(args);
    }
    for (int k = 0; k < TASKS && rc == 0; k++) {
        json_t *res = NULL;
        rc = weft_celery_result_get(c, ids[k], 60, &res);
        results[k] = json_integer_value(res);
        json_decref(res);
    }
    weft_celery_client_close(c);
    return rc;
}

/* Celery's own client (tests/celery/py_client.py adds): it checks the
 * results itself; its exit status is kept for the test thread. */
static int python_client_adds(void)
{
    static char count[16];
    snprintf(count, sizeof count, "%d", TASKS);
    static char *argv[6];
    argv[0] = CELERY_PYTHON;
    argv[1] = (char *)celery_script("py_client.py");
    argv[2] = (char *)celery_url();
    argv[3] = "adds";
    argv[4] = count;
    argv[5] = NULL;
    static weft_process_opts po;
    po.argv = argv;
    weft_process *p;
    int rc = weft_process_spawn(&po, &p);
    if (rc != 0)
        return rc;
    rc = weft_process_wait(p, 120, &python_status);
    weft_process_free(p);
    return rc;
}

/* Loop 0's driver: waits for every worker, has a client send the tasks
 * and read every result, then asks each loop for its worker's warm
 * shutdown. */
static int drive(void)
{
    for (int t = 0; t < 3000; t++) {
        int ready = 0;
        for (int i = 0; i < LOOPS; i++)
            ready += __atomic_load_n(&workers[i], __ATOMIC_ACQUIRE) != NULL;
        if (ready == LOOPS)
            break;
        if (weft_sleep(0.01) != 0)
            return WEFT_ECANCELED;
    }
    if (weft_sleep(0.2) != 0) /* let every worker reach its BRPOP */
        return WEFT_ECANCELED;
    int rc = python_client ? python_client_adds() : weft_client_adds();
    for (intptr_t i = 0; i < LOOPS; i++) {
        int s = weft_loop_group_call(weft_loop_group_current(), (int)i, shutdown_here, (void *)i);
        if (rc == 0)
            rc = s;
    }
    return rc;
}

static int cores_main(void *arg)
{
    (void)arg;
    int i = weft_loop_group_index();
    weft_celery_opts o = {.concurrency = 4, .poll_timeout = 0.2, .shutdown_grace = 10};
    weft_celery_worker *w;
    int rc = weft_celery_worker_new(celery_url(), NULL, &o, &w);
    if (rc == 0)
        rc = weft_celery_worker_register(w, "t.cores_add", task_cores_add, NULL, NULL);
    if (rc != 0)
        return main_rc[i] = rc;
    weft_task *run;
    rc = weft_spawn(worker_task, w, &run);
    if (rc == 0) {
        __atomic_store_n(&workers[i], w, __ATOMIC_RELEASE);
        if (i == 0)
            rc = drive();
        int run_rc = weft_await(run);
        if (rc == 0)
            rc = run_rc;
        weft_task_free(run);
        weft_celery_worker_stats(w, &final_stats[i]);
    }
    weft_celery_worker_free(w);
    return main_rc[i] = rc;
}

static void run_workers_on_every_loop(bool python)
{
    memset(workers, 0, sizeof workers);
    memset(final_stats, 0, sizeof final_stats);
    memset(ran_on, 0, sizeof ran_on);
    memset(main_rc, 0, sizeof main_rc);
    memset(results, 0, sizeof results);
    python_client = python;
    python_status = -1;
    (void)celery_url(); /* fills its static buffer before the loops read it */
    weft_loop_group_opts go = {.loops = LOOPS};
    int rc = weft_run_loops(cores_main, NULL, &go);
    for (int i = 0; i < LOOPS; i++)
        if (main_rc[i] != 0)
            fprintf(stderr, "loop %d: %s\n", i, weft_strerror(main_rc[i]));
    assert_int_equal(rc, 0);
    if (python)
        assert_int_equal(python_status, 0); /* Python checked every result */
    else
        for (int k = 0; k < TASKS; k++)
            assert_int_equal(results[k], 2 * k);
    uint64_t received = 0, succeeded = 0;
    for (int i = 0; i < LOOPS; i++) {
        fprintf(stderr, "loop %d ran %d tasks (received %llu)\n", i, ran_on[i],
                (unsigned long long)final_stats[i].received);
        assert_true(ran_on[i] > 0); /* both workers took a share */
        received += final_stats[i].received;
        succeeded += final_stats[i].succeeded;
    }
    assert_int_equal(ran_on[0] + ran_on[1], TASKS); /* each ran exactly once */
    assert_int_equal(received, TASKS);
    assert_int_equal(succeeded, TASKS);
}

static void test_weft_client_to_every_loop(void **state)
{
    (void)state;
    run_workers_on_every_loop(false);
}

static void test_python_client_to_every_loop(void **state)
{
    (void)state;
    run_workers_on_every_loop(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weft_client_to_every_loop),
        cmocka_unit_test(test_python_client_to_every_loop),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
