/* weft:private-only: dumps show a parked task's frames, which a compact task keeps aside (or, in
 * debug mode, behind PROT_NONE) while it waits. */
/* Debugging aids: the log hook, loop statistics, task dumps (each kind of
 * wait the core has), dumps on a signal, blocked-loop reports, debug mode's
 * leak reports and the stack overflow report (in a child process). Each
 * report is provoked and its text checked. */
/* weft:no-valgrind (it re-executes itself and relies on SIGSEGV/SIGURG handlers) */
#define _GNU_SOURCE /* REG_RIP in ucontext.h */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "log_capture.h"
#include "weft.h"
#include "test_support.h"

/* ------------------------------------------------------------ helpers */

/* Runs body as the main task of a runner in debug mode and closes it (the
 * reports come at close), with every report captured in cap_buf. */
static void run_in_debug_mode(test_body body)
{
    capture_start(WEFT_LOG_WARN);
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    assert_int_equal(weft_loop_set_debug(weft_runner_loop(r), 1), 0);
    assert_int_equal(weft_runner_run(r, test_run_body, (void *)body), 0);
    weft_runner_free(r);
    capture_stop();
    print_message("%s", cap_buf);
}

static void busy_ms(int ms)
{
    double end = weft_time() + ms / 1000.0;
    while (weft_time() < end) {
    }
}

int sleep_ms_task(void *arg)
{
    return weft_sleep((double)(intptr_t)arg / 1000.0);
}

/* --------------------------------------------------------------- log */

static void test_log_levels_and_sinks(void **state)
{
    (void)state;
    capture_start(WEFT_LOG_INFO);
    assert_int_equal(weft_log(WEFT_LOG_WARN, "t", "warn %d", 1), 1);
    assert_int_equal(weft_log(WEFT_LOG_INFO, "t", "info %s", "x"), 1);
    assert_int_equal(weft_log(WEFT_LOG_DEBUG, "t", "debug"), 0);
    assert_true(weft_log_enabled(WEFT_LOG_INFO));
    assert_false(weft_log_enabled(WEFT_LOG_DEBUG));
    assert_non_null(strstr(cap_buf, "[1 t] warn 1"));
    assert_non_null(strstr(cap_buf, "[2 t] info x"));
    assert_int_equal(cap_count, 2);
    /* a long message is not cut */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(weft_log(WEFT_LOG_ERROR, "t", "%s!", big), 1);
    assert_non_null(strstr(cap_buf, "a!"));
    /* OFF silences even errors; bad levels are refused */
    weft_log_set_handler(WEFT_LOG_OFF, capture_sink, NULL);
    assert_int_equal(weft_log(WEFT_LOG_ERROR, "t", "no"), 0);
    assert_int_equal(weft_log_set_handler(7, NULL, NULL), -EINVAL);
    assert_int_equal(weft_log_set_handler(-2, NULL, NULL), -EINVAL);
    /* the default: WARN and up to stderr, INFO dropped */
    capture_stop();
    assert_true(weft_log_enabled(WEFT_LOG_WARN));
    assert_false(weft_log_enabled(WEFT_LOG_INFO));
}

/* The default sink's format, as log.h and docs/API.md give it:
 * "weft: <level>: <topic>: <msg>\n" in one write. */
static void test_log_default_sink_format(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    weft_log_stderr(NULL, WEFT_LOG_WARN, "leak", "a message");
    weft_log_stderr(NULL, WEFT_LOG_ERROR, "overflow", "two\nlines");
    assert_int_equal(weft_log(WEFT_LOG_WARN, "blocked", "via %s", "the hook"), 1);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    char text[256] = "";
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = 0;
    fclose(tmp);
    assert_string_equal(text, "weft: warning: leak: a message\n"
                              "weft: error: overflow: two\nlines\n"
                              "weft: warning: blocked: via the hook\n");
}

/* ------------------------------------------------------------- stats */

int forever_task(void *arg)
{
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

static int body_stats(void)
{
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_stats(NULL, NULL), -EINVAL);
    weft_task *sleeper = SPAWN(sleep_ms_task, (void *)(intptr_t)5000);
    weft_task *forever = SPAWN(forever_task, NULL);
    weft_task *awaiter_target = SPAWN(sleep_ms_task, (void *)(intptr_t)5000);
    weft_task *fresh = SPAWN(sleep_ms_task, (void *)(intptr_t)1);
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_int_equal(st.tasks_alive, 5); /* main too */
    assert_int_equal(st.tasks_new, 4);
    assert_int_equal(st.tasks_running, 1);
    assert_int_equal(st.tasks_spawned, 5);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_int_equal(st.tasks_waiting, 4);
    assert_int_equal(st.tasks_sleeping, 4);
    assert_true(st.switches >= 5);
    assert_true(st.iterations >= 1);
    assert_true(st.timers >= 3);
    assert_int_equal(st.stacks_live, 5);
    assert_true(st.block_threshold > 0);
    weft_cancel(sleeper);
    weft_cancel(forever);
    weft_cancel(awaiter_target);
    assert_int_equal(weft_await(fresh), 0);
    assert_int_equal(weft_await(sleeper), WEFT_ECANCELED);
    assert_int_equal(weft_await(forever), WEFT_ECANCELED);
    assert_int_equal(weft_await(awaiter_target), WEFT_ECANCELED);
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_int_equal(st.tasks_alive, 1);
    weft_task_free(sleeper);
    weft_task_free(forever);
    weft_task_free(awaiter_target);
    weft_task_free(fresh);
    return 0;
}

/* What each parked task counts as comes from its wait's kind: a task on a
 * condition is "other" (the old word matching read the "io" in
 * "condition" as I/O), one reading a socket is I/O, one awaiting a task is
 * awaiting. */
typedef struct kinds_ctx {
    weft_lock *lock;
    weft_cond *cond;
    weft_stream *client;
    weft_task *target;
} kinds_ctx;

static int cond_waiter(void *arg)
{
    kinds_ctx *k = arg;
    int rc = weft_lock_acquire(k->lock);
    if (rc != 0)
        return rc;
    rc = weft_cond_wait(k->cond);
    int released = weft_lock_release(k->lock);
    return rc != 0 ? rc : released;
}

static int socket_reader(void *arg)
{
    kinds_ctx *k = arg;
    char byte;
    return weft_stream_read(k->client, &byte, 1);
}

static int target_awaiter(void *arg)
{
    kinds_ctx *k = arg;
    return weft_await(k->target);
}

static int silent_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char byte;
    return weft_stream_read(s, &byte, 1); /* until the client goes */
}

static int body_stats_kinds(void)
{
    kinds_ctx k = {0};
    weft_server *srv = NULL;
    assert_int_equal(weft_lock_new(&k.lock), 0);
    assert_int_equal(weft_cond_new(k.lock, &k.cond), 0);
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, silent_handler, NULL, NULL, &srv), 0);
    assert_int_equal(weft_tcp_connect("127.0.0.1", weft_server_port(srv), NULL, &k.client), 0);
    k.target = SPAWN(forever_task, NULL);
    weft_task *t[3] = {SPAWN(cond_waiter, &k), SPAWN(socket_reader, &k), SPAWN(target_awaiter, &k)};
    struct weft_loop_stats st;
    WAIT_UNTIL(weft_loop_stats(NULL, &st) == 0 && st.tasks_waiting >= 5);
    assert_int_equal(st.tasks_sleeping, 1); /* the target */
    assert_int_equal(st.tasks_awaiting, 1); /* its awaiter */
    assert_int_equal(st.tasks_other, 1);    /* the condition */
    assert_true(st.tasks_io >= 2);          /* the reader, the server's handler */
    weft_cancel(k.target);
    for (size_t i = 0; i < 3; i++) {
        weft_cancel(t[i]);
        assert_int_equal(weft_await(t[i]), WEFT_ECANCELED);
        weft_task_free(t[i]);
    }
    assert_int_equal(weft_await(k.target), WEFT_ECANCELED);
    weft_task_free(k.target);
    assert_int_equal(weft_stream_close(k.client), 0);
    assert_int_equal(weft_server_close(srv, 1.0), 0);
    weft_cond_free(k.cond);
    weft_lock_free(k.lock);
    return 0;
}

static void test_stats_kinds(void **state)
{
    (void)state;
    RUN(body_stats_kinds);
}

static void test_stats(void **state)
{
    (void)state;
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_stats(NULL, &st), WEFT_ENOTASK);
    RUN(body_stats);
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    assert_int_equal(weft_loop_stats(weft_runner_loop(r), &st), 0); /* between runs */
    assert_int_equal(st.tasks_alive, 0);
    weft_runner_free(r);
}

/* ------------------------------------------------------------- dumps */

static char *dump_to_string(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    int n = weft_tasks_dump(f);
    fclose(f);
    assert_true(n > 0);
    return text;
}

int awaits_task(void *arg)
{
    return weft_await(arg);
}

int gathers_two(void *arg)
{
    (void)arg;
    weft_task *t[2] = {SPAWN(sleep_ms_task, (void *)(intptr_t)5000),
                       SPAWN(sleep_ms_task, (void *)(intptr_t)5000)};
    int rc = weft_gather(t, 2, 0);
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    return rc;
}

int groups_two(void *arg)
{
    (void)arg;
    weft_group *g;
    int rc = weft_group_new(&g);
    if (rc != 0)
        return rc;
    rc = weft_group_spawn(g, sleep_ms_task, (void *)(intptr_t)5000, NULL);
    weft_task_opts opts = {.name = "group-child"};
    if (rc == 0)
        rc = weft_group_spawn_opts(g, sleep_ms_task, (void *)(intptr_t)5000, &opts, NULL);
    int wrc = weft_group_wait(g);
    rc = rc != 0 ? rc : wrc;
    weft_group_free(g);
    return rc;
}

int waits_for(void *arg)
{
    return weft_wait_for(arg, 3.0);
}

static int body_dump(void)
{
    weft_task_opts opts = {.name = "sleeper"};
    int line = __LINE__ + 1;
    weft_task *sleeper = SPAWN_OPTS(sleep_ms_task, (void *)(intptr_t)5000, &opts);
    weft_task *target = SPAWN(sleep_ms_task, (void *)(intptr_t)5000);
    weft_task *awaiter = SPAWN(awaits_task, target);
    weft_task *gatherer = SPAWN(gathers_two, NULL);
    weft_task *grouper = SPAWN(groups_two, NULL);
    weft_task *target2 = SPAWN(sleep_ms_task, (void *)(intptr_t)5000);
    weft_task *timed = SPAWN(waits_for, target2);
    weft_task *forever = SPAWN(forever_task, NULL);
    weft_task *all[] = {sleeper, target, awaiter, gatherer, grouper, target2, timed, forever};
    assert_int_equal(weft_sleep(0.01), 0);
    char *text = dump_to_string();
    print_message("%s", text);
    char site[64];
    snprintf(site, sizeof site, "test_debug.c:%d", line);
    assert_non_null(strstr(text, site));
    /* 4.99 s, or up to 5.000 if a busy machine held the loop's thread back
     * between the spawns and the sleeper's first turn */
    const char *wakes = strstr(text, "\"sleeper\" waiting: sleep, wakes in ");
    assert_non_null(wakes);
    double left = atof(wakes + strlen("\"sleeper\" waiting: sleep, wakes in "));
    assert_true(left > 4.5 && left <= 5.0);
    assert_non_null(strstr(text, "waiting: sleep forever"));
    char want[64];
    snprintf(want, sizeof want, "waiting: await #%" PRIu64, weft_task_id(target));
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "waiting: gather, 2 tasks pending"));
    assert_non_null(strstr(text, "waiting: task group, 2 children running"));
    assert_non_null(strstr(text, "\"group-child\" waiting: sleep"));
    assert_non_null(strstr(text, ", timeout in 2.9"));
    assert_non_null(strstr(text, "running (this task)"));
    assert_non_null(strstr(text, "└── "));
    assert_non_null(strstr(text, "(awaits_task, spawned at"));
    /* backtraces of parked stacks (not with the ucontext backend), and of
     * the running task */
#ifndef WEFT_CTX_UCONTEXT
    assert_non_null(strstr(text, "weft_sleep+0x"));
    assert_non_null(strstr(text, "weft_gather+0x"));
    assert_non_null(strstr(text, "weft_group_wait+0x"));
#endif
    assert_non_null(strstr(text, "weft_tasks_dump+0x") == NULL ? "ok" : NULL);
    assert_non_null(strstr(text, "dump_to_string+0x") ? "ok" : strstr(text, "test_debug+0x"));
    free(text);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        weft_cancel(all[i]);
    assert_int_equal(weft_gather(all, sizeof all / sizeof *all, WEFT_RETURN_EXCEPTIONS), 0);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        weft_task_free(all[i]);
    return 0;
}

static void test_dump_each_wait(void **state)
{
    (void)state;
    assert_int_equal(weft_tasks_dump(stderr), WEFT_ENOTASK);
    RUN(body_dump);
}

static int body_dump_errors(void)
{
    assert_int_equal(weft_tasks_dump(NULL), -EINVAL);
    assert_int_equal(weft_loop_tasks_dump(NULL, stderr), -EINVAL);
    weft_task *t = SPAWN(sleep_ms_task, (void *)(intptr_t)1);
    FILE *f = fopen("/dev/null", "w");
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_tasks_dump(f), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 3);
    assert_int_equal(weft_tasks_dump(f), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_int_equal(weft_tasks_dump(f), 2);
    fclose(f);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    return 0;
}

static void test_dump_errors(void **state)
{
    (void)state;
    RUN(body_dump_errors);
}

/* A dump between runs of a runner (the loop is not running). */
static void test_dump_between_runs(void **state)
{
    (void)state;
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(weft_loop_tasks_dump(weft_runner_loop(r), f), 0);
    fclose(f);
    assert_non_null(strstr(text, "0 tasks alive"));
    free(text);
    weft_runner_free(r);
}

static char *sig_text;
static size_t sig_len;

static int body_dump_on_signal(void)
{
    FILE *f = open_memstream(&sig_text, &sig_len);
    assert_int_equal(weft_dump_on_signal(NULL, -1, f), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_dump_on_signal(NULL, SIGUSR2, f), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_int_equal(weft_dump_on_signal(NULL, SIGUSR2, f), 0);
    weft_task *t = SPAWN(sleep_ms_task, (void *)(intptr_t)2000);
    assert_int_equal(weft_sleep(0), 0);
    kill(getpid(), SIGUSR2);
    for (int i = 0; i < 100 && ftell(f) == 0; i++)
        assert_int_equal(weft_sleep(0.01),
                         0); /* the loop polls, then runs the dump on its thread */
    fflush(f);
    assert_non_null(strstr(sig_text, "2 tasks alive"));
    assert_non_null(strstr(sig_text, "waiting: sleep, wakes in"));
    assert_int_equal(weft_dump_on_signal(NULL, 0, NULL), 0);
    weft_cancel(t);
    assert_int_equal(weft_await(t), WEFT_ECANCELED);
    weft_task_free(t);
    fclose(f);
    return 0;
}

static void test_dump_on_signal(void **state)
{
    (void)state;
    /* the signal handle is unreferenced: a loop with it still ends */
    RUN(body_dump_on_signal);
    free(sig_text);
    sig_text = NULL;
}

/* --------------------------------------------------------- blocked loop */

int blocks_in_sleep(void *arg)
{
    (void)arg;
    sleep(1); /* the bug: a blocking call inside a task */
    return 0;
}

int blocks_busy(void *arg)
{
    busy_ms((int)(intptr_t)arg);
    return 0;
}

static struct weft_loop_stats blocked_stats;

static int body_blocked(void)
{
    weft_task_opts opts = {.name = "sleepy"};
    weft_task *t = SPAWN_OPTS(blocks_in_sleep, NULL, &opts);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    weft_loop_stats(NULL, &blocked_stats);
    return 0;
}

static void test_blocked_loop_report(void **state)
{
    (void)state;
    capture_start(WEFT_LOG_WARN);
    weft_set_block_threshold(NULL, 0.05);
    RUN(body_blocked);
    weft_set_block_threshold(NULL, 0.1);
    capture_stop();
    print_message("%s", cap_buf);
    assert_int_equal(blocked_stats.blocked_reports, 1);
    assert_true(blocked_stats.longest_block >= 0.05);
    assert_int_equal(count_of(cap_buf, "[1 blocked]"), 1);
    assert_non_null(strstr(cap_buf, "task #2 \"sleepy\" (spawned at "));
    assert_non_null(strstr(cap_buf, "has held the loop for"));
    /* the backtrace was taken while it slept: sleep() and the task */
    assert_non_null(strstr(cap_buf, "sleep+0x"));
    assert_non_null(strstr(cap_buf, "blocks_in_sleep+0x"));
}

/* One report per episode however long it lasts; a per-loop threshold beats
 * the default; 0 turns the reports off. */
static int body_one_report(void)
{
    /* 100 ms: a loaded machine can stall a thread for tens of ms, which the
     * watchdog would rightly report too */
    weft_set_block_threshold(weft_loop_current(), 0.1);
    weft_task *t = SPAWN(blocks_busy, (void *)(intptr_t)450);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    t = SPAWN(blocks_busy, (void *)(intptr_t)5); /* short: never reported */
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    weft_set_block_threshold(weft_loop_current(), 0);
    t = SPAWN(blocks_busy, (void *)(intptr_t)150);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    struct weft_loop_stats st;
    weft_loop_stats(NULL, &st);
    assert_int_equal(st.blocked_reports, 1);
    assert_true(st.block_threshold == 0);
    return 0;
}

static void test_blocked_once_per_episode(void **state)
{
    (void)state;
    capture_start(WEFT_LOG_WARN);
    weft_set_block_threshold(NULL, 10.0);
    RUN(body_one_report);
    weft_set_block_threshold(NULL, 0.1);
    capture_stop();
    assert_int_equal(count_of(cap_buf, "[1 blocked]"), 1);
    assert_non_null(strstr(cap_buf, "blocks_busy"));
    assert_int_equal(weft_set_block_threshold(NULL, -1), -EINVAL);
    assert_int_equal(weft_set_block_threshold(NULL, NAN), -EINVAL);
    assert_int_equal(weft_set_block_signal(SIGUSR1), -EBUSY); /* the watchdog runs */
    assert_int_equal(weft_set_block_signal(0), -EINVAL);
}

/* A threshold too long for 64-bit nanoseconds means "never", as forever
 * does, instead of an overflowed figure (issue 12). */
static int body_huge_threshold(void)
{
    double huge[] = {WEFT_FOREVER, 1e300, 1e20, 1.8e10};
    struct weft_loop_stats st;
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        assert_int_equal(weft_set_block_threshold(weft_loop_current(), huge[i]), 0);
        assert_int_equal(weft_loop_stats(NULL, &st), 0);
        assert_true(st.block_threshold == 0);
    }
    assert_int_equal(weft_set_block_threshold(weft_loop_current(), 2.5), 0);
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    assert_true(st.block_threshold > 2.49 && st.block_threshold < 2.51);
    return 0;
}

/* The blocked-loop watchdog unwinds the loop's thread from a signal
 * handler. A signal that lands inside a stack switch must not be unwound:
 * the switch's frame is half built or already on the other stack, and
 * backtrace() crashed there (SIGSEGV within seconds of ping-pong under a
 * stream of signals). weft__ctx_pc_in_switch tells the handler. */
static volatile sig_atomic_t sw_hits, sw_unwound, sw_stop;
static pthread_t sw_loop_thread;

static void sw_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si;
    if (weft__ctx_pc_in_switch(weft__ctx_signal_pc(uc))) {
        sw_hits++;
        return;
    }
    void *bt[32];
    if (backtrace(bt, 32) > 0)
        sw_unwound++;
}

static void *sw_bomber(void *arg)
{
    (void)arg;
    while (!sw_stop) {
        pthread_kill(sw_loop_thread, SIGURG);
        for (volatile int i = 0; i < 200; i++) {
        }
    }
    return NULL;
}

static int sw_pinger(void *arg)
{
    double *until = arg;
    for (int i = 0; i < 300000 && weft_time() < *until; i++) {
        int rc = weft_sleep(0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int sw_body(void *arg)
{
    double until = weft_time() + 1.0;
    (void)arg;
    weft_task *t[2];
    assert_int_equal(weft_spawn(sw_pinger, &until, &t[0]), 0);
    assert_int_equal(weft_spawn(sw_pinger, &until, &t[1]), 0);
    assert_int_equal(weft_gather(t, 2, 0), 0);
    weft_task_free(t[0]);
    weft_task_free(t[1]);
    return 0;
}

static void test_no_unwinding_inside_a_switch(void **state)
{
    (void)state;
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder outside the handler */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sw_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGURG, &sa, &old), 0);
    sw_loop_thread = pthread_self();
    sw_stop = 0;
    pthread_t b;
    assert_int_equal(pthread_create(&b, NULL, sw_bomber, NULL), 0);
    int rc = weft_run(sw_body, NULL);
    sw_stop = 1;
    pthread_join(b, NULL);
    assert_int_equal(sigaction(SIGURG, &old, NULL), 0);
    assert_int_equal(rc, 0);
    print_message("signals inside a switch: %d, unwound elsewhere: %d\n", (int)sw_hits,
                  (int)sw_unwound);
    assert_true(sw_unwound > 0);
}

static void test_huge_threshold_is_never(void **state)
{
    (void)state;
    RUN(body_huge_threshold);
}

/* ----------------------------------------------------------- debug mode */

static weft_task *kept_handle;
static weft_group *leaked_group;

int fails_quietly(void *arg)
{
    (void)arg;
    return -EIO;
}

int returns_result(void *arg)
{
    (void)arg;
    return 7; /* a result, not an error: nothing to report */
}

static int body_leaks(void)
{
    /* an error nobody reads: the handle is dropped while it runs */
    weft_task_opts o1 = {.name = "lost-error"};
    assert_int_equal(weft_spawn_opts(fails_quietly, NULL, &o1, NULL), 0); /* detached */
    assert_int_equal(weft_spawn(returns_result, NULL, NULL), 0);
    /* an error read with weft_task_result: not reported */
    weft_task *read = SPAWN(fails_quietly, NULL);
    /* a task nobody awaits, still pending at close */
    weft_task_opts o2 = {.name = "forgotten"};
    assert_int_equal(weft_spawn_opts(forever_task, NULL, &o2, NULL), 0);
    /* a handle the program never frees */
    weft_task_opts o3 = {.name = "kept"};
    kept_handle = SPAWN_OPTS(sleep_ms_task, (void *)(intptr_t)1, &o3);
    assert_int_equal(weft_await(kept_handle), 0);
    assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_task_result(read), -EIO);
    weft_task_free(read);
    /* the dump shows stack high-water marks in debug mode */
    char *text = dump_to_string();
    assert_non_null(strstr(text, " KiB used of 256 KiB"));
    free(text);
    return 0;
}

static void test_debug_mode_leaks(void **state)
{
    (void)state;
    run_in_debug_mode(body_leaks);
    assert_non_null(strstr(cap_buf, "\"forgotten\" (forever_task, spawned at"));
    assert_non_null(strstr(cap_buf, "was never awaited"));
    assert_non_null(strstr(cap_buf, "\"lost-error\" (fails_quietly, spawned at"));
    assert_non_null(strstr(cap_buf, "ended with EIO"));
    assert_int_equal(count_of(cap_buf, "ended with EIO"), 1); /* not the one read */
    assert_int_equal(count_of(cap_buf, "ended with"), 1);     /* a result is no error */
    assert_non_null(strstr(cap_buf, "\"kept\" (sleep_ms_task, spawned at"));
    assert_non_null(strstr(cap_buf, "handle was never freed"));
    assert_int_equal(weft_task_result(kept_handle), 0); /* still valid after close */
    weft_task_free(kept_handle);
    assert_int_equal(weft_loop_set_debug(NULL, 1), WEFT_ENOTASK);
}

static int body_leaks_quiet(void)
{
    assert_int_equal(weft_spawn(fails_quietly, NULL, NULL), 0);
    assert_int_equal(weft_spawn(forever_task, NULL, NULL), 0);
    kept_handle = SPAWN(sleep_ms_task, (void *)(intptr_t)1);
    assert_int_equal(weft_sleep(0.01), 0);
    return 0;
}

/* A correct program makes debug mode say nothing: no report of weft's own
 * handles (the inbox's was reported as a leak in every program). */
static int correct_program(void)
{
    for (int i = 0; i < 2; i++) {
        weft_task *t = SPAWN(sleep_ms_task, (void *)(intptr_t)1);
        assert_int_equal(weft_await(t), 0);
        weft_task_free(t);
        assert_int_equal(weft_spawn(returns_result, NULL, NULL), 0); /* detached, a result */
        assert_int_equal(weft_sleep(0.01), 0);
    }
    return 0;
}

static void test_debug_mode_silent_on_correct_program(void **state)
{
    (void)state;
    run_in_debug_mode(correct_program);
    assert_int_equal(cap_count, 0);
}

/* A task that returns with a timeout scope open: debug mode names the line
 * that began it. A WEFT_TIMEOUT block left by return is not reported. */
static int scope_line;

int forgets_scope(void *arg)
{
    (void)arg;
    weft_timeout *scope;
    scope_line = __LINE__ + 1;
    int rc = weft_timeout_begin(5.0, &scope);
    if (rc != 0)
        return rc;
    return 0; /* the early return that forgets weft_timeout_end */
}

int leaves_block_early(void *arg)
{
    (void)arg;
    int rc = 0;
    WEFT_TIMEOUT(5.0, rc) {
        return 1; /* the block's cleanup ends the scope */
    }
    return rc;
}

static int body_scope_left_open(void)
{
    weft_task_opts o = {.name = "forgetful"};
    weft_task *t = SPAWN_OPTS(forgets_scope, NULL, &o);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    t = SPAWN(leaves_block_early, NULL);
    assert_int_equal(weft_await(t), 1);
    weft_task_free(t);
    return 0;
}

static void test_debug_mode_scope_left_open(void **state)
{
    (void)state;
    run_in_debug_mode(body_scope_left_open);
    char expect[200];
    snprintf(expect, sizeof expect, "test_debug.c:%d)", scope_line);
    assert_int_equal(cap_count, 1);
    assert_non_null(strstr(cap_buf, "[1 scope] task #2 \"forgetful\" (forgets_scope, spawned at"));
    assert_non_null(strstr(cap_buf, "returned with a timeout scope still open (begun at "));
    assert_non_null(strstr(cap_buf, expect));
}

/* Without debug mode nothing is reported. */
static void test_no_reports_without_debug(void **state)
{
    (void)state;
    if (getenv("WEFT_DEBUG"))
        skip();
    capture_start(WEFT_LOG_DEBUG);
    RUN(body_leaks_quiet);
    capture_stop();
    assert_int_equal(cap_count, 0);
    weft_task_free(kept_handle);
}

/* A handle given back twice is reported (and the second free ignored)
 * wherever the task is still alive: running, held by its group, or kept
 * by debug mode after it was freed. */
static int body_double_free(void)
{
    weft_task_opts o1 = {.name = "running-twice"};
    weft_task *t = SPAWN_OPTS(sleep_ms_task, (void *)(intptr_t)20, &o1);
    weft_task_free(t);
    weft_task_free(t); /* still running: alive */
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    weft_task_opts o2 = {.name = "child-twice"};
    weft_task *c = NULL;
    assert_int_equal(weft_group_spawn_opts(g, sleep_ms_task, (void *)(intptr_t)1, &o2, &c), 0);
    assert_int_equal(weft_group_wait(g), 0);
    weft_task_free(c);
    weft_task_free(c); /* the group still holds it */
    weft_group_free(g);
    weft_task_opts o3 = {.name = "ended-twice"};
    weft_task *e = SPAWN_OPTS(sleep_ms_task, (void *)(intptr_t)1, &o3);
    assert_int_equal(weft_await(e), 0);
    weft_task_free(e);
    weft_task_free(e); /* freed: debug mode keeps it to tell */
    assert_int_equal(weft_sleep(0.05), 0);
    return 0;
}

static void test_debug_mode_double_free(void **state)
{
    (void)state;
    run_in_debug_mode(body_double_free);
    assert_int_equal(count_of(cap_buf, "handle was freed twice"), 3);
    assert_non_null(
        strstr(cap_buf, "[1 handle] task #2 \"running-twice\" (sleep_ms_task, spawned at"));
    assert_non_null(strstr(cap_buf, "\"child-twice\" (sleep_ms_task, spawned at"));
    assert_non_null(strstr(cap_buf, "\"ended-twice\" (sleep_ms_task, spawned at"));
    assert_null(strstr(cap_buf, "never freed")); /* one free each was enough */
}

/* A group's child whose group is never freed is reported as such. */
static int body_group_never_freed(void)
{
    weft_group *g;
    assert_int_equal(weft_group_new(&g), 0);
    weft_task_opts o = {.name = "orphan"};
    assert_int_equal(weft_group_spawn_opts(g, sleep_ms_task, (void *)(intptr_t)1, &o, NULL), 0);
    assert_int_equal(weft_group_wait(g), 0);
    leaked_group = g; /* not freed before the loop closes: on purpose */
    return 0;
}

static void test_debug_mode_group_never_freed(void **state)
{
    (void)state;
    run_in_debug_mode(body_group_never_freed);
    assert_non_null(strstr(cap_buf, "\"orphan\" (sleep_ms_task, spawned at"));
    assert_non_null(strstr(cap_buf, "is a child of a group never freed (weft_group_free)"));
    weft_group_free(leaked_group); /* its children have ended: this only drops references */
}

/* ------------------------------------------------------- stack overflow */

static volatile int depth_sink;

int recurse(int depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth_sink >= 0) /* always: a volatile read the compiler cannot see through */
        depth_sink = recurse(depth + 1) + frame[0]; /* not a tail call */
    return depth_sink;
}

int overflows(void *arg)
{
    (void)arg;
    return recurse(0);
}

static int overflow_main(void *arg)
{
    (void)arg;
    weft_task_opts opts = {.name = "deep", .stack_size = 32 * 1024};
    weft_task *t = SPAWN_OPTS(overflows, NULL, &opts);
    return weft_await(t);
}

static void test_stack_overflow_report(void **state)
{
    (void)state;
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__) || defined(WEFT_TSAN)
    skip(); /* the sanitizer owns SIGSEGV and reports overflows itself */
#endif
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a fresh image: none of cmocka's signal handlers */
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "test_debug", "overflow-child", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char text[4096];
    size_t len = 0;
    ssize_t n;
    while (len + 1 < sizeof text && (n = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    print_message("%s", text);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_non_null(strstr(text, "weft: error: overflow: task #2 \"deep\" (spawned at "));
    assert_non_null(strstr(text, "overflowed its stack of 32768 bytes"));
    assert_non_null(strstr(text, "weft_task_opts.stack_size"));
}

/* ---------------------------------------------------- creation sites */

static int body_sites(void)
{
    int line = __LINE__ + 1;
    weft_task *t = SPAWN(sleep_ms_task, NULL);
    assert_non_null(strstr(t->site_file, "test_debug.c"));
    assert_int_equal(t->site_line, line);
    weft_task *plain;
    assert_int_equal((weft_spawn)(sleep_ms_task, NULL, &plain), 0); /* the function: no site */
    assert_null(plain->site_file);
    assert_int_equal(weft_gather((weft_task *[]){t, plain}, 2, 0), 0);
    weft_task_free(t);
    weft_task_free(plain);
    int (*fp)(weft_fn, void *, weft_task **) = weft_spawn; /* still a function to point at */
    assert_int_equal(fp(sleep_ms_task, NULL, &t), 0);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    return 0;
}

static void test_spawn_sites(void **state)
{
    (void)state;
    RUN(body_sites);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "overflow-child") == 0)
        return weft_run(overflow_main, NULL); /* dies of SIGSEGV */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_levels_and_sinks),
        cmocka_unit_test(test_log_default_sink_format),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_kinds),
        cmocka_unit_test(test_dump_each_wait),
        cmocka_unit_test(test_dump_errors),
        cmocka_unit_test(test_dump_between_runs),
        cmocka_unit_test(test_dump_on_signal),
        cmocka_unit_test(test_blocked_loop_report),
        cmocka_unit_test(test_blocked_once_per_episode),
        cmocka_unit_test(test_huge_threshold_is_never),
        cmocka_unit_test(test_no_unwinding_inside_a_switch),
        cmocka_unit_test(test_debug_mode_leaks),
        cmocka_unit_test(test_debug_mode_silent_on_correct_program),
        cmocka_unit_test(test_debug_mode_scope_left_open),
        cmocka_unit_test(test_no_reports_without_debug),
        cmocka_unit_test(test_debug_mode_double_free),
        cmocka_unit_test(test_debug_mode_group_never_freed),
        cmocka_unit_test(test_stack_overflow_report),
        cmocka_unit_test(test_spawn_sites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
