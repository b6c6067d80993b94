/* Process pool: bytes in and out of named functions in worker processes;
 * a worker that segfaults (WEFT_ECRASHED, replaced), a job past its
 * timeout (killed, replaced), cancellation, more jobs than workers, and
 * no zombie after free. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "weft.h"
#include "test_support.h"

static int upper(const void *in, size_t len, void **out, size_t *out_len)
{
    char *o = malloc(len);
    for (size_t i = 0; i < len; i++)
        o[i] = (char)toupper(((const unsigned char *)in)[i]);
    *out = o;
    *out_len = len;
    return (int)len; /* a result (non-negative), beside the output */
}

static int whoami(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    int *pid = malloc(sizeof *pid);
    *pid = getpid();
    *out = pid;
    *out_len = sizeof *pid;
    return 0;
}

static int fails(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in, (void)len, (void)out, (void)out_len;
    return -42;
}

static int segfaults(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in, (void)len, (void)out, (void)out_len;
    raise(SIGSEGV);
    return 0;
}

static int spins(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in, (void)len, (void)out, (void)out_len;
    for (;;)
        pause();
    return 0;
}

static int slow(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in, (void)len, (void)out, (void)out_len;
    usleep(50000);
    return 1;
}

static const weft_procpool_entry fns[] = {
    {"upper", upper},         {"whoami", whoami}, {"fails", fails},
    {"segfaults", segfaults}, {"spins", spins},   {"slow", slow},
};

static int pid_of(weft_procpool *pool)
{
    void *out;
    size_t len;
    if (weft_procpool_submit(pool, "whoami", NULL, 0, &out, &len, 5.0) != 0)
        return -1;
    int pid = *(int *)out;
    free(out);
    return pid;
}

typedef struct job_arg {
    weft_procpool *pool;
    const char *name;
    double timeout;
    int rc;
} job_arg;

static int run_job(void *arg)
{
    job_arg *j = arg;
    void *out;
    size_t len;
    j->rc = weft_procpool_submit(j->pool, j->name, "x", 1, &out, &len, j->timeout);
    free(out);
    return 0;
}

static int main_pool(void *arg)
{
    (void)arg;
    weft_procpool *pool;
    assert_int_equal(weft_procpool_new(fns, 6, 1, &pool), 0);
    void *out;
    size_t len;
    assert_int_equal(weft_procpool_submit(pool, "upper", "hello", 5, &out, &len, 5.0), 5);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "HELLO", 5);
    free(out);
    assert_int_equal(weft_procpool_submit(pool, "fails", NULL, 0, &out, &len, 5.0), -42);
    assert_null(out);
    assert_int_equal(weft_procpool_submit(pool, "nope", NULL, 0, &out, &len, 5.0), -ENOENT);
    assert_int_equal(weft_procpool_submit(pool, NULL, NULL, 0, &out, &len, 5.0), -EINVAL);

    /* A worker that segfaults: the job fails, the worker is replaced. */
    int pid1 = pid_of(pool);
    assert_true(pid1 > 0 && pid1 != getpid());
    assert_int_equal(weft_procpool_submit(pool, "segfaults", NULL, 0, &out, &len, 5.0),
                     WEFT_ECRASHED);
    int pid2 = pid_of(pool);
    assert_true(pid2 > 0 && pid2 != pid1);

    /* A job past its timeout: killed and replaced. */
    double t0 = weft_time();
    assert_int_equal(weft_procpool_submit(pool, "spins", NULL, 0, &out, &len, 0.1), WEFT_ETIMEDOUT);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.09 && dt < 1.0);
    int pid3 = pid_of(pool);
    assert_true(pid3 > 0 && pid3 != pid2);

    /* A worker that dies while idle is replaced before the next job. */
    assert_int_equal(kill(pid3, SIGKILL), 0);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_procpool_submit(pool, "upper", "a", 1, &out, &len, 5.0), 1);
    free(out);
    int pid4 = pid_of(pool);
    assert_true(pid4 > 0 && pid4 != pid3);

    /* Cancelled while its worker computes: returns at once. */
    job_arg j = {.pool = pool, .name = "spins", .timeout = WEFT_FOREVER};
    weft_task *t = SPAWN(run_job, &j);
    assert_int_equal(weft_sleep(0.02), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), 0); /* the job's code is in j.rc */
    weft_task_free(t);
    assert_int_equal(j.rc, WEFT_ECANCELED);
    assert_true(pid_of(pool) > 0);

    /* Four jobs on one worker: they queue for it. */
    job_arg js[4];
    weft_task *ts[4];
    for (int i = 0; i < 4; i++) {
        js[i] = (job_arg){.pool = pool, .name = "slow", .timeout = 5.0};
        ts[i] = SPAWN(run_job, &js[i]);
    }
    assert_int_equal(weft_gather(ts, 4, 0), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(js[i].rc, 1);
        weft_task_free(ts[i]);
    }
    weft_procpool_free(pool);

    assert_int_equal(weft_procpool_new(NULL, 1, 1, &pool), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_procpool_new(fns, 6, 2, &pool), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    return 0;
}

static void test_procpool(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_pool, NULL), 0);
    /* No zombie, no worker left: we have no child at all. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
