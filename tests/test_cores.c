#define _GNU_SOURCE
/* Groups of loops (weft/cores.h): mains on every loop, their index and the
 * group's size; the first failure (an error, a timeout) cancels the
 * others; SIGINT and SIGTERM in a child process; a group of one and more
 * loops than cores; pinning; work sent between loops with cancellation
 * racing completion, both ways; statistics per loop and summed; dumps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <valgrind/valgrind.h>

#include "base/fault.h"
#include "weft.h"
#include "log_capture.h"
#include "test_support.h"

static int seen[64];
static int cleanups;

static void reset(void)
{
    memset(seen, 0, sizeof seen);
    cleanups = 0;
}

/* ---------------------------------------------------------- index, size */

static int main_who(void *arg)
{
    (void)arg;
    weft_loop_group *g = weft_loop_group_current();
    assert_non_null(g);
    int i = weft_loop_group_index();
    assert_true(i >= 0 && i < weft_loop_group_size(g));
    assert_ptr_equal(weft_loop_group_loop(g, i), weft_loop_current());
    __atomic_add_fetch(&seen[i], 1, __ATOMIC_RELAXED);
    return i; /* a result, not an error */
}

static void run_who(int loops)
{
    reset();
    weft_loop_group_opts o = {.loops = loops};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    assert_int_equal(weft_loop_group_size(g), loops);
    assert_int_equal(weft_loop_group_run(g, main_who, NULL), 0);
    for (int i = 0; i < loops; i++)
        assert_int_equal(seen[i], 1);
    /* a second run on the same loops */
    assert_int_equal(weft_loop_group_run(g, main_who, NULL), 0);
    for (int i = 0; i < loops; i++)
        assert_int_equal(seen[i], 2);
    weft_loop_group_free(g);
}

static void test_index_and_size(void **state)
{
    (void)state;
    run_who(2);
    assert_null(weft_loop_group_current()); /* not on a group's thread */
    assert_int_equal(weft_loop_group_index(), WEFT_ENOTASK);
}

static void test_group_of_one(void **state)
{
    (void)state;
    run_who(1);
}

static void test_more_loops_than_cores(void **state)
{
    (void)state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    run_who((int)(cpus > 0 && cpus < 16 ? 2 * cpus + 1 : 33));
}

static void test_default_is_one_per_core(void **state)
{
    (void)state;
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(NULL, &g), 0);
    assert_int_equal(weft_loop_group_size(g), CPU_COUNT(&set));
    weft_loop_group_free(g);
    reset();
    assert_int_equal(weft_run_loops(main_who, NULL, NULL), 0);
    for (int i = 0; i < CPU_COUNT(&set); i++)
        assert_int_equal(seen[i], 1);
}

/* ---------------------------------------------------------- failures */

static int sleep_forever_counting(void)
{
    int rc = weft_sleep(WEFT_FOREVER);
    if (rc == WEFT_ECANCELED)
        __atomic_add_fetch(&cleanups, 1, __ATOMIC_RELAXED);
    return rc;
}

static int main_one_fails(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() == 1) {
        int rc = weft_sleep(0.05);
        return rc != 0 ? rc : -EIO;
    }
    return sleep_forever_counting();
}

static void test_first_failure_cancels_the_others(void **state)
{
    (void)state;
    reset();
    weft_loop_group_opts o = {.loops = 3};
    assert_int_equal(weft_run_loops(main_one_fails, NULL, &o), -EIO);
    assert_int_equal(cleanups, 2);
}

static int main_one_times_out(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() != 0)
        return sleep_forever_counting();
    weft_timeout *t;
    int rc = weft_timeout_begin(0.05, &t);
    if (rc != 0)
        return rc;
    rc = weft_sleep(10);
    return weft_timeout_end(t, rc); /* WEFT_ETIMEDOUT */
}

static void test_timeout_cancels_the_others(void **state)
{
    (void)state;
    reset();
    weft_loop_group_opts o = {.loops = 2};
    assert_int_equal(weft_run_loops(main_one_times_out, NULL, &o), WEFT_ETIMEDOUT);
    assert_int_equal(cleanups, 1);
}

/* A main that is cancelled is not a failure (as in a task group): the
 * others go on to their end; the run reports the cancellation. */
static int main_one_cancelled(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() == 0) {
        weft_cancel(weft_task_current());
        return weft_sleep(10);
    }
    int rc = weft_sleep(0.05);
    if (rc == 0)
        __atomic_add_fetch(&seen[weft_loop_group_index()], 1, __ATOMIC_RELAXED);
    return rc;
}

static void test_cancelled_main(void **state)
{
    (void)state;
    reset();
    weft_loop_group_opts o = {.loops = 3};
    assert_int_equal(weft_run_loops(main_one_cancelled, NULL, &o), WEFT_ECANCELED);
    assert_int_equal(seen[1] + seen[2], 2); /* not cancelled */
}

/* ---------------------------------------------------------- signals */

static int sig_to_send;

static int main_signalled(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() == 0 && sig_to_send == SIGINT) {
        int rc = weft_sleep(0.05);
        if (rc != 0)
            return rc;
        kill(getpid(), SIGINT);
    }
    if (weft_loop_group_index() == 0 && sig_to_send == SIGTERM) {
        int rc = weft_sleep(0.05);
        if (rc != 0)
            return rc;
        if (write(*(int *)arg, "r", 1) != 1) /* tell the parent we run */
            return -EIO;
    }
    return sleep_forever_counting();
}

/* In a child: exits 0 when the run returned WEFT_EINTERRUPTED after every
 * main cleaned up, and the signal's default action is back. */
static void child_run(int sig, int fd)
{
    sig_to_send = sig;
    weft_loop_group_opts o = {.loops = 2};
    int rc = weft_run_loops(main_signalled, &fd, &o);
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    _exit(rc == WEFT_EINTERRUPTED && cleanups == 2 && sa.sa_handler == SIG_DFL ? 0 : 10);
}

static void check_child(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    if (!WIFEXITED(status) && !WIFSIGNALED(status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child did not end");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sigint_cancels_every_main(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_run(SIGINT, -1);
    check_child(pid);
}

static void test_sigterm_cancels_every_main(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_run(SIGTERM, p[1]);
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    kill(pid, SIGTERM);
    check_child(pid);
}

/* ---------------------------------------------------------- pinning, debug */

static int main_pinned(void *arg)
{
    (void)arg;
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    assert_int_equal(CPU_COUNT(&set), 1);
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_int_equal(st.debug, 1);
    assert_true(st.block_threshold > 0.49 && st.block_threshold < 0.51);
    return 0;
}

static void test_pinned_and_debug(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2, .pin_threads = 1, .debug = 1, .block_threshold = 0.5};
    assert_int_equal(weft_run_loops(main_pinned, NULL, &o), 0);
}

/* ---------------------------------------------------------- bad input */

static int main_nested(void *arg)
{
    return weft_loop_group_run(arg, main_who, NULL); /* would block this loop */
}

static void test_bad_input(void **state)
{
    (void)state;
    weft_loop_group *g = (weft_loop_group *)1;
    assert_int_equal(weft_loop_group_new(NULL, NULL), -EINVAL);
    weft_loop_group_opts bad[] = {{.loops = -1},
                                  {.loops = WEFT_LOOP_GROUP_MAX + 1},
                                  {.block_threshold = -1},
                                  {.block_threshold = NAN},
                                  {.stack_size = SIZE_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(weft_loop_group_new(&bad[i], &g), -EINVAL);
        assert_null(g);
    }
    assert_int_equal(weft_run_loops(NULL, NULL, NULL), -EINVAL);
    weft_loop_group_opts o = {.loops = 2};
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    assert_int_equal(weft_loop_group_run(NULL, main_who, NULL), -EINVAL);
    assert_int_equal(weft_loop_group_run(g, NULL, NULL), -EINVAL);
    assert_int_equal(weft_run(main_nested, g), -EBUSY);
    assert_null(weft_loop_group_loop(g, 2));
    assert_null(weft_loop_group_loop(g, -1));
    weft_cfuture *cf = (weft_cfuture *)1;
    assert_int_equal(weft_loop_group_submit(g, 2, main_who, NULL, &cf), -EINVAL);
    assert_null(cf);
    assert_int_equal(weft_loop_group_call(g, -1, main_who, NULL), -EINVAL);
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_group_stats(g, 2, &st), -EINVAL);
    assert_int_equal(weft_loop_group_stats(g, 0, NULL), -EINVAL);
    assert_int_equal(weft_loop_group_dump(g, NULL), -EINVAL);
    assert_int_equal(weft_loop_group_size(NULL), -EINVAL);
    weft_loop_group_free(g);
    weft_loop_group_free(NULL);
}

/* ---------------------------------------------------------- work between loops */

static int add_one(void *arg)
{
    int rc = weft_sleep(0); /* a wait a cancel can hit */
    if (rc != 0)
        return rc;
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
    return 7;
}

typedef struct race {
    weft_cfuture *cf;
    int rc;
} race;

static int awaiter(void *arg)
{
    race *r = arg;
    r->rc = weft_cfuture_await(r->cf);
    return 0;
}

/* Loop 0 sends work to loop 1 and awaits it; the awaiter is cancelled at
 * once, a turn later, or not at all: each round ends with 7 (the work ran)
 * or WEFT_ECANCELED, and the work ran exactly as often as 7 came back (a
 * cancel that came too late does not undo it; one in time stops it). */
static int main_race(void *arg)
{
    int *done = arg;
    if (weft_loop_group_index() != 0)
        return 0;
    weft_loop_group *g = weft_loop_group_current();
    int sevens = 0;
    for (int round = 0; round < 1000; round++) {
        /* Off the stack: the awaiter writes it while this main waits, and
         * the suite also runs in compact mode (a compact task's stack is
         * another task's while it waits). */
        static race r;
        r = (race){0};
        int rc = weft_loop_group_submit(g, 1, add_one, done, &r.cf);
        if (rc != 0)
            return rc;
        weft_task *t = SPAWN(awaiter, &r);
        for (int k = 0; k <= round % 3; k++) /* it starts, then the race */
            assert_int_equal(weft_sleep(0), 0);
        if (round % 4 != 3)
            weft_cancel(t);
        assert_int_equal(weft_await(t), 0);
        weft_task_free(t);
        assert_true(r.rc == 7 || r.rc == WEFT_ECANCELED);
        /* the remote task has ended either way once its future says so */
        int final = weft_cfuture_result(r.cf, 5.0);
        if (r.rc == 7)
            assert_int_equal(final, 7);
        sevens += r.rc == 7;
        weft_cfuture_free(r.cf);
    }
    /* Let cancelled remote tasks finish their cancellation, then compare. */
    assert_int_equal(weft_loop_group_call(g, 1, add_one, done), 7);
    assert_true(*(volatile int *)done >= sevens + 1);
    assert_true(sevens > 0);
    return 0;
}

static void test_cross_loop_cancel_race(void **state)
{
    (void)state;
    int done = 0;
    weft_loop_group_opts o = {.loops = 2};
    assert_int_equal(weft_run_loops(main_race, &done, &o), 0);
}

/* The other way: the remote task is cancelled on its own loop; the task
 * awaiting it on another loop, and a plain thread, see WEFT_ECANCELED. */
static weft_task *remote_task;

static int remote_sleeper(void *arg)
{
    (void)arg;
    __atomic_store_n(&remote_task, weft_task_current(), __ATOMIC_RELEASE);
    return weft_sleep(WEFT_FOREVER);
}

static int cancel_remote(void *arg)
{
    (void)arg;
    weft_task *t = __atomic_load_n(&remote_task, __ATOMIC_ACQUIRE);
    return t ? weft_cancel(t) : -ENOENT;
}

static int main_remote_cancel(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() != 0)
        return 0;
    weft_loop_group *g = weft_loop_group_current();
    weft_cfuture *cf;
    assert_int_equal(weft_loop_group_submit(g, 1, remote_sleeper, NULL, &cf), 0);
    while (__atomic_load_n(&remote_task, __ATOMIC_ACQUIRE) == NULL)
        assert_int_equal(weft_sleep(0.001), 0);
    assert_int_equal(weft_loop_group_call(g, 1, cancel_remote, NULL), 1);
    assert_int_equal(weft_cfuture_await(cf), WEFT_ECANCELED);
    weft_cfuture_free(cf);
    return 0;
}

static void test_remote_cancel_reaches_the_awaiter(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    remote_task = NULL;
    assert_int_equal(weft_loop_group_run(g, main_remote_cancel, NULL), 0);
    /* from a plain thread */
    remote_task = NULL;
    weft_cfuture *cf;
    assert_int_equal(weft_loop_group_submit(g, 0, remote_sleeper, NULL, &cf), 0);
    while (__atomic_load_n(&remote_task, __ATOMIC_ACQUIRE) == NULL)
        usleep(1000);
    assert_int_equal(weft_loop_group_call(g, 0, cancel_remote, NULL), 1);
    assert_int_equal(weft_cfuture_result(cf, 5.0), WEFT_ECANCELED);
    weft_cfuture_free(cf);
    /* and a thread's cancel reaches the remote task */
    remote_task = NULL;
    assert_int_equal(weft_loop_group_submit(g, 1, remote_sleeper, NULL, &cf), 0);
    while (__atomic_load_n(&remote_task, __ATOMIC_ACQUIRE) == NULL)
        usleep(1000);
    assert_int_equal(weft_cfuture_cancel(cf), 1);
    weft_cfuture_free(cf);
    struct weft_loop_stats st;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(weft_loop_group_stats(g, 1, &st), 0);
        if (st.tasks_sleeping == 0)
            break;
        usleep(10000);
    }
    assert_int_equal(st.tasks_sleeping, 0);
    weft_loop_group_free(g);
}

/* A tsqueue between loops: loop 0 produces, loop 1 consumes. */
static int main_channel(void *arg)
{
    weft_tsqueue *q = arg;
    if (weft_loop_group_index() == 0) {
        for (intptr_t i = 1; i <= 1000; i++) {
            int rc = weft_tsqueue_put(q, (void *)i, WEFT_FOREVER);
            if (rc != 0)
                return rc;
        }
        return weft_tsqueue_shutdown(q);
    }
    intptr_t sum = 0;
    void *item;
    int rc;
    while ((rc = weft_tsqueue_get(q, &item, WEFT_FOREVER)) == 0)
        sum += (intptr_t)item;
    assert_int_equal(rc, WEFT_ESHUTDOWN);
    assert_int_equal(sum, 1000 * 1001 / 2);
    return 0;
}

static void test_tsqueue_between_loops(void **state)
{
    (void)state;
    weft_tsqueue *q;
    assert_int_equal(weft_tsqueue_new(16, &q), 0);
    weft_loop_group_opts o = {.loops = 2};
    assert_int_equal(weft_run_loops(main_channel, q, &o), 0);
    weft_tsqueue_free(q);
}

/* ---------------------------------------------------------- stats, dumps */

static int nap(void *arg)
{
    (void)arg;
    return weft_sleep(30);
}

/* Loop i leaves i + 1 sleepers behind (the group's free cancels them). */
static int main_sleepers(void *arg)
{
    (void)arg;
    int i = weft_loop_group_index();
    for (int k = 0; k <= i; k++)
        assert_int_equal(weft_spawn(nap, NULL, NULL), 0);
    assert_int_equal(weft_sleep(0), 0);
    if (i == 0) { /* from a task: parks while loop 1 answers */
        struct weft_loop_stats st;
        do
            assert_int_equal(weft_loop_group_stats(weft_loop_group_current(), 1, &st), 0);
        while (st.tasks_sleeping < 2 && weft_sleep(0.001) == 0);
        assert_int_equal(st.tasks_sleeping, 2);
    }
    return 0;
}

static void test_stats_and_dump(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    assert_int_equal(weft_loop_group_run(g, main_sleepers, NULL), 0);
    struct weft_loop_stats s0, s1, sum;
    assert_int_equal(weft_loop_group_stats(g, 0, &s0), 0);
    assert_int_equal(weft_loop_group_stats(g, 1, &s1), 0);
    assert_int_equal(weft_loop_group_stats(g, -1, &sum), 0);
    assert_int_equal(s0.tasks_sleeping, 1);
    assert_int_equal(s1.tasks_sleeping, 2);
    assert_int_equal(sum.tasks_sleeping, 3);
    assert_int_equal(sum.tasks_alive, s0.tasks_alive + s1.tasks_alive);
    assert_true(sum.switches >= s0.switches + s1.switches);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int n = weft_loop_group_dump(g, f);
    fclose(f);
    assert_int_equal(n, (int)sum.tasks_alive);
    assert_non_null(strstr(text, "loop 0 of 2"));
    assert_non_null(strstr(text, "loop 1 of 2"));
    assert_true(strstr(text, "loop 0 of 2") < strstr(text, "loop 1 of 2"));
    assert_non_null(strstr(strstr(text, "loop 1 of 2"), "waiting: sleep"));
    free(text);
    weft_loop_group_free(g); /* cancels the sleepers: nothing leaks */
}

/* SIGUSR2 dumps every loop, loop 0 then loop 1, into a file. */
static bool file_has(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *pa = strstr(buf, a);
    return pa != NULL && strstr(pa, b) != NULL;
}

static void test_dump_on_signal(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-test-cores-dump-%d.txt", (int)getpid());
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    assert_int_equal(weft_loop_group_dump_on_signal(g, -1, out), -EINVAL);
    assert_int_equal(weft_loop_group_dump_on_signal(NULL, SIGUSR2, out), -EINVAL);
    assert_int_equal(weft_loop_group_dump_on_signal(g, SIGUSR2, out), 0);
    kill(getpid(), SIGUSR2);
    for (int i = 0; i < 300 && !file_has(path, "--- loop 1 of 2 ---", "loop thread stop"); i++)
        usleep(10000);
    assert_true(file_has(path, "--- loop 0 of 2 ---", "--- loop 1 of 2 ---"));
    assert_true(file_has(path, "--- loop 1 of 2 ---", "loop thread stop"));
    assert_int_equal(weft_loop_group_dump_on_signal(g, SIGUSR2, out), 0); /* replaced */
    weft_loop_group_free(g);                                              /* stops it */
    fclose(out);
    unlink(path);
}

/* ---------------------------------------------------------- allocation failures */

static int main_quick(void *arg)
{
    (void)arg;
    return weft_sleep(0);
}

static bool allowed_failure(int rc)
{
    return rc == -ENOMEM || rc == WEFT_ESTACK || rc == WEFT_ECLOSED || rc == -EAGAIN;
}

/* Each allocation in turn fails (on whatever thread makes it): a clear
 * code, nothing leaked or left running (ASan checks), never a hang. */
static void test_allocation_failures(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2};
    int clean = 0;
    for (long n = 1; n < 400 && clean < 3; n++) {
        weft_loop_group *g = NULL;
        weft__fault_arm(WEFT__FAULT_ALLOC, n);
        int rc = weft_loop_group_new(&o, &g);
        int run_rc = rc == 0 ? weft_loop_group_run(g, main_quick, NULL) : 0;
        struct weft_loop_stats st;
        int stats_rc = rc == 0 ? weft_loop_group_stats(g, -1, &st) : 0;
        weft__fault_arm(WEFT__FAULT_ALLOC, 0);
        if (rc != 0) {
            assert_true(allowed_failure(rc));
            assert_null(g);
            clean = 0;
            continue;
        }
        assert_true(run_rc == 0 || allowed_failure(run_rc));
        assert_true(stats_rc == 0 || allowed_failure(stats_rc));
        clean = run_rc == 0 && stats_rc == 0 ? clean + 1 : 0;
        weft_loop_group_free(g);
    }
    assert_int_equal(clean, 3); /* past the last allocation, everything works */
}

/* ---------------------------------------------------------- the watchdog */

/* Loop 1's main holds its loop (no wait) for at least 0.3 s, and on until
 * the watchdog has reported it (at most 20 s): on a loaded machine the
 * watchdog's thread may not get a turn in 0.3 s. */
static int main_one_blocks(void *arg)
{
    (void)arg;
    if (weft_loop_group_index() != 1)
        return 0;
    double start = weft_time();
    struct weft_loop_stats st = {0};
    while (weft_time() < start + 0.3 ||
           (weft_time() < start + 20 && weft_loop_stats(NULL, &st) == 0 && st.blocked_reports == 0))
        ;
    return 0;
}

static void test_watchdog_covers_every_loop(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND) /* the watchdog samples with signals Valgrind holds back (test_debug
                                skips too) */
        skip();
    capture_start(WEFT_LOG_WARN);
    weft_loop_group_opts o = {.loops = 2, .block_threshold = 0.05};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    assert_int_equal(weft_loop_group_run(g, main_one_blocks, NULL), 0);
    struct weft_loop_stats s0, s1;
    assert_int_equal(weft_loop_group_stats(g, 0, &s0), 0);
    assert_int_equal(weft_loop_group_stats(g, 1, &s1), 0);
    assert_int_equal(s0.blocked_reports, 0);
    assert_int_equal(s1.blocked_reports, 1);
    assert_true(s1.longest_block >= 0.05);
    weft_loop_group_free(g);
    capture_stop();
    pthread_mutex_lock(&cap_lock);
    int named = count_of(cap_buf, "main of loop 1"); /* the blocked task, by name */
    pthread_mutex_unlock(&cap_lock);
    assert_int_equal(named, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while this process has no thread yet: a child of a
         * multi-threaded fork may not start threads under TSan. */
        cmocka_unit_test(test_sigint_cancels_every_main),
        cmocka_unit_test(test_sigterm_cancels_every_main),
        cmocka_unit_test(test_index_and_size),
        cmocka_unit_test(test_group_of_one),
        cmocka_unit_test(test_more_loops_than_cores),
        cmocka_unit_test(test_default_is_one_per_core),
        cmocka_unit_test(test_first_failure_cancels_the_others),
        cmocka_unit_test(test_timeout_cancels_the_others),
        cmocka_unit_test(test_cancelled_main),
        cmocka_unit_test(test_pinned_and_debug),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cross_loop_cancel_race),
        cmocka_unit_test(test_remote_cancel_reaches_the_awaiter),
        cmocka_unit_test(test_tsqueue_between_loops),
        cmocka_unit_test(test_stats_and_dump),
        cmocka_unit_test(test_watchdog_covers_every_loop),
        cmocka_unit_test(test_dump_on_signal),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
