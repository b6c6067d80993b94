/* Subprocesses: pipes both ways without blocking the loop, env and cwd,
 * exit codes and signals, a child that never exits (timeouts, kill, free
 * reaps it), cancellation of reads, spawn errors, and no leaked fds. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "core/core.h"
#include "weft.h"
#include "test_support.h"

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int read_all(weft_process *p, int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        int n = weft_process_read(p, fd, buf + len, cap - len - 1);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return (int)len;
}

static int main_cat(void *arg)
{
    (void)arg;
    char *argv[] = {"cat", NULL};
    weft_process_opts o = {.argv = argv, .stdio = {WEFT_STDIO_PIPE, WEFT_STDIO_PIPE, 0}};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&o, &p), 0);
    assert_true(weft_process_pid(p) > 0);
    assert_int_equal(weft_process_write(p, "hello\n", 6), 0);
    assert_int_equal(weft_process_close_stdin(p), 0);
    assert_int_equal(weft_process_write(p, "x", 1), -EBADF);
    char buf[64];
    assert_int_equal(read_all(p, 1, buf, sizeof buf), 6);
    assert_string_equal(buf, "hello\n");
    assert_int_equal(weft_process_read(p, 1, buf, sizeof buf), 0); /* EOF stays */
    assert_int_equal(weft_process_read(p, 2, buf, sizeof buf), -EBADF);
    int rc = -1;
    assert_int_equal(weft_process_wait(p, 5.0, &rc), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(weft_process_kill(p, SIGTERM), -ESRCH);
    weft_process_free(p);
    return 0;
}

static void test_cat_roundtrip(void **state)
{
    (void)state;
    /* The first child makes libuv open its process-wide signal pipe (two
     * fds kept until exit): count from after it. */
    assert_int_equal(weft_run(main_cat, NULL), 0);
    int fds = count_fds();
    assert_int_equal(weft_run(main_cat, NULL), 0);
    assert_int_equal(count_fds(), fds);
}

/* 1 MB through cat: more than the pipe buffers, so writer and reader must
 * take turns on the loop. */
#define BIG (1 << 20)

typedef struct big {
    weft_process *p;
    char *out;
    int len;
} big;

static int big_reader(void *arg)
{
    big *b = arg;
    b->len = read_all(b->p, 1, b->out, BIG + 2);
    return b->len < 0 ? b->len : 0;
}

static int main_big(void *arg)
{
    (void)arg;
    char *argv[] = {"cat", NULL};
    weft_process_opts o = {.argv = argv, .stdio = {WEFT_STDIO_PIPE, WEFT_STDIO_PIPE, 0}};
    big b = {.out = malloc(BIG + 2)};
    char *in = malloc(BIG);
    for (int i = 0; i < BIG; i++)
        in[i] = (char)('a' + i % 26);
    assert_int_equal(weft_process_spawn(&o, &b.p), 0);
    weft_task *r = SPAWN(big_reader, &b);
    assert_int_equal(weft_process_write(b.p, in, BIG), 0);
    assert_int_equal(weft_process_close_stdin(b.p), 0);
    assert_int_equal(weft_await(r), 0);
    assert_int_equal(b.len, BIG);
    assert_memory_equal(b.out, in, BIG);
    assert_int_equal(weft_process_wait(b.p, 5.0, NULL), 0);
    weft_process_free(b.p);
    weft_task_free(r);
    free(in);
    free(b.out);
    return 0;
}

static void test_big_pipe(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_big, NULL), 0);
}

static int main_env_cwd_stderr(void *arg)
{
    (void)arg;
    char *argv[] = {"sh", "-c", "echo $FOO; pwd; echo oops >&2; exit 3", NULL};
    char *env[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
    weft_process_opts o = {.argv = argv,
                           .env = env,
                           .cwd = "/tmp",
                           .stdio = {WEFT_STDIO_NULL, WEFT_STDIO_PIPE, WEFT_STDIO_PIPE}};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&o, &p), 0);
    char out[64], err[64];
    assert_true(read_all(p, 1, out, sizeof out) > 0);
    assert_string_equal(out, "bar\n/tmp\n");
    assert_true(read_all(p, 2, err, sizeof err) > 0);
    assert_string_equal(err, "oops\n");
    int rc;
    assert_int_equal(weft_process_wait(p, 5.0, &rc), 0);
    assert_int_equal(rc, 3);
    weft_process_free(p);

    char *bad[] = {"/nonexistent/prog", NULL};
    o = (weft_process_opts){.argv = bad};
    p = (weft_process *)&o;
    assert_int_equal(weft_process_spawn(&o, &p), -ENOENT);
    assert_null(p);
    o.argv = NULL;
    assert_int_equal(weft_process_spawn(&o, &p), -EINVAL);
    o = (weft_process_opts){.argv = argv, .stdio = {7, 0, 0}};
    assert_int_equal(weft_process_spawn(&o, &p), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    o.stdio[0] = 0;
    assert_int_equal(weft_process_spawn(&o, &p), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    return 0;
}

static void test_env_cwd_stderr_errors(void **state)
{
    (void)state;
    int fds = count_fds();
    assert_int_equal(weft_run(main_env_cwd_stderr, NULL), 0);
    assert_int_equal(count_fds(), fds);
    weft_process_opts o = {0};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&o, &p), WEFT_ENOTASK);
}

typedef struct reader_arg {
    weft_process *p;
    int rc;
} reader_arg;

static int blocked_reader(void *arg)
{
    reader_arg *a = arg;
    char buf[16];
    a->rc = weft_process_read(a->p, 1, buf, sizeof buf);
    return 0;
}

static int main_never_exits(void *arg)
{
    int *pid_out = arg;
    char *argv[] = {"sleep", "100", NULL};
    weft_process_opts o = {.argv = argv, .stdio = {0, WEFT_STDIO_PIPE, 0}};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&o, &p), 0);

    double t0 = weft_time();
    assert_int_equal(weft_process_wait(p, 0.1, NULL), WEFT_ETIMEDOUT);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.09 && dt < 1.0);

    /* A read that would wait forever, cancelled. */
    reader_arg ra = {.p = p};
    weft_task *t = SPAWN(blocked_reader, &ra);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), 0); /* its read's code is in ra.rc */
    weft_task_free(t);
    assert_int_equal(ra.rc, WEFT_ECANCELED);

    assert_int_equal(weft_process_kill(p, SIGTERM), 0);
    int rc;
    assert_int_equal(weft_process_wait(p, 5.0, &rc), 0);
    assert_int_equal(rc, -SIGTERM);
    weft_process_free(p);

    /* Freed while running: killed and reaped. */
    assert_int_equal(weft_process_spawn(&o, &p), 0);
    *pid_out = weft_process_pid(p);
    weft_process_free(p);
    return 0;
}

static void test_child_never_exits(void **state)
{
    (void)state;
    int fds = count_fds();
    int pid = 0;
    assert_int_equal(weft_run(main_never_exits, &pid), 0);
    assert_true(pid > 0);
    /* No zombie: it was reaped, so it is no child of ours any more. */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(count_fds(), fds);
}

static int main_epipe(void *arg)
{
    (void)arg;
    char *argv[] = {"true", NULL};
    weft_process_opts o = {.argv = argv, .stdio = {WEFT_STDIO_PIPE, 0, 0}};
    weft_process *p;
    assert_int_equal(weft_process_spawn(&o, &p), 0);
    assert_int_equal(weft_process_wait(p, 5.0, NULL), 0);
    static char buf[BIG];
    assert_int_equal(weft_process_write(p, buf, sizeof buf), -EPIPE); /* no SIGPIPE death */
    weft_process_free(p);
    return 0;
}

typedef struct writer_arg {
    weft_process *p;
    int rc;
} writer_arg;

static int big_writer(void *arg)
{
    writer_arg *a = arg;
    static char buf[BIG];
    a->rc = weft_process_write(a->p, buf, sizeof buf);
    return 0;
}

/* A child that never reads its stdin: the write can only be cancelled. */
static int main_cancel_write(void *arg)
{
    (void)arg;
    char *argv[] = {"sleep", "100", NULL};
    weft_process_opts o = {.argv = argv, .stdio = {WEFT_STDIO_PIPE, 0, 0}};
    writer_arg a = {0};
    assert_int_equal(weft_process_spawn(&o, &a.p), 0);
    weft_task *t = SPAWN(big_writer, &a);
    assert_int_equal(weft_sleep(0.02), 0);
    double t0 = weft_time();
    weft_cancel(t);
    assert_int_equal(weft_await(t), 0); /* its write's code is in a.rc */
    assert_true(weft_time() - t0 < 0.5);
    assert_int_equal(a.rc, WEFT_ECANCELED);
    assert_int_equal(weft_process_write(a.p, "x", 1), -EBADF); /* stdin is closed */
    weft_task_free(t);
    weft_process_free(a.p);
    return 0;
}

static void test_cancel_write(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_cancel_write, NULL), 0);
}

static void test_write_to_exited_child(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_epipe, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cat_roundtrip),         cmocka_unit_test(test_big_pipe),
        cmocka_unit_test(test_env_cwd_stderr_errors), cmocka_unit_test(test_child_never_exits),
        cmocka_unit_test(test_write_to_exited_child), cmocka_unit_test(test_cancel_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
