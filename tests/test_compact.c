/* weft:private-only (it picks each task's mode itself, and its checks of
 * the shared stacks need debug mode off) */
/* Under Valgrind the two checks that re-execute this binary skip (the
 * child would run outside Valgrind's loader); the rest runs. */
/* Compact tasks (weft_stack_mode): the shared stacks and the slab, the
 * owner check, deep frames that park and come back intact, the overflow
 * report on a shared stack, debug mode's report when a task writes to a
 * parked compact task's local, and the mode's API. The suite's compact
 * pass (ctest -L compact) runs every other test file with compact tasks;
 * this one checks what only compact tasks do. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <weft.h>
#ifdef WEFT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#include <weft/debug.h>
#include <weft/net.h>

#include "test_support.h"

static const weft_task_opts compact = {.stack_mode = WEFT_STACK_COMPACT};

static bool running_under_valgrind(void)
{
#ifdef WEFT_HAVE_VALGRIND_H
    return RUNNING_ON_VALGRIND;
#else
    return false;
#endif
}

static struct weft_loop_stats stats(void)
{
    struct weft_loop_stats st;
    assert_int_equal(weft_loop_stats(NULL, &st), 0);
    return st;
}

/* ---------------------------------------------------------- sleepers */

/* Sleeps until the test cancels it: parked for as long as a slow run
 * (Valgrind) needs to look. */
static int sleeper(void *arg)
{
    int *woken = arg;
    int rc = weft_sleep(60);
    if (rc == WEFT_ECANCELED)
        (*woken)++; /* runs on the loop's thread: the main task is private */
    return rc == WEFT_ECANCELED ? 0 : -EPROTO;
}

enum { SLEEPERS = 1000 };

/* Each sleeper parks and the next one evicts it: all but the last (one per
 * shared stack) are saved aside; once they have all woken and ended the
 * slab holds nothing, and no task had a stack of its own. */
static int body_sleepers(void)
{
    static weft_task *t[SLEEPERS];
    int woken = 0;
    struct weft_loop_stats before = stats();
    for (int i = 0; i < SLEEPERS; i++)
        t[i] = SPAWN_OPTS(sleeper, &woken, &compact);
    WAIT_UNTIL(stats().tasks_sleeping == SLEEPERS);
    struct weft_loop_stats parked = stats();
    assert_int_equal(parked.tasks_sleeping, SLEEPERS);
    assert_true(parked.compact_saved >= SLEEPERS - 4 && parked.compact_saved <= SLEEPERS);
    assert_true(parked.compact_evictions - before.compact_evictions >= SLEEPERS - 4);
    assert_true(parked.compact_saved_bytes / parked.compact_saved < 2048); /* a few hundred bytes */
    assert_int_equal(parked.stacks_live, before.stacks_live); /* no private stack taken */
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(weft_cancel(t[i]), 1);
    assert_int_equal(weft_gather(t, SLEEPERS, 0), 0);
    assert_int_equal(woken, SLEEPERS);
    for (int i = 0; i < SLEEPERS; i++)
        weft_task_free(t[i]);
    struct weft_loop_stats after = stats();
    assert_int_equal(after.compact_saved, 0);
    assert_int_equal(after.compact_saved_bytes, 0);
    assert_int_equal(after.compact_slab_in_use, before.compact_slab_in_use);
    return 0;
}

static void test_sleepers(void **state)
{
    (void)state;
    RUN(body_sleepers);
}

/* ------------------------------------------------------- owner check */

static int yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        int rc = weft_sleep(i % 2 ? 0 : 0.0001);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A compact task that parks and resumes with nobody else on its shared
 * stack copies nothing: no eviction at all. */
static int body_owner_keeps_its_stack(void)
{
    uint64_t before = stats().compact_evictions;
    weft_task *t = SPAWN_OPTS(yielder, NULL, &compact);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    assert_int_equal(stats().compact_evictions, before);
    return 0;
}

static void test_owner_keeps_its_stack(void **state)
{
    (void)state;
    RUN(body_owner_keeps_its_stack);
}

/* Two compact tasks handing items back and forth through queues: spawned
 * one after the other they get different shared stacks, so the hand-offs
 * copy nothing either. */
typedef struct pingpong {
    weft_queue *to, *from;
    int rounds;
} pingpong;

static int pinger(void *arg)
{
    pingpong *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        int rc = weft_queue_put(p->to, (void *)(intptr_t)(i + 1));
        void *item;
        if (rc == 0)
            rc = weft_queue_get(p->from, &item);
        if (rc != 0)
            return rc;
        if ((intptr_t)item != i + 1)
            return -EPROTO;
    }
    return 0;
}

static int ponger(void *arg)
{
    pingpong *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        void *item;
        int rc = weft_queue_get(p->from, &item);
        if (rc == 0)
            rc = weft_queue_put(p->to, item);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int body_pingpong(void)
{
    weft_queue *a, *b;
    assert_int_equal(weft_queue_new(1, &a), 0);
    assert_int_equal(weft_queue_new(1, &b), 0);
    static pingpong ping, pong; /* static: shared with compact tasks */
    ping = (pingpong){.to = a, .from = b, .rounds = 1000};
    pong = (pingpong){.to = b, .from = a, .rounds = 1000};
    uint64_t before = stats().compact_evictions;
    weft_task *t1 = SPAWN_OPTS(pinger, &ping, &compact);
    weft_task *t2 = SPAWN_OPTS(ponger, &pong, &compact);
    assert_int_equal(weft_await(t1), 0);
    assert_int_equal(weft_await(t2), 0);
    /* at most the first claims of the two stacks from earlier owners */
    assert_true(stats().compact_evictions - before <= 2);
    weft_task_free(t1);
    weft_task_free(t2);
    weft_queue_free(a);
    weft_queue_free(b);
    return 0;
}

static void test_pingpong_copies_nothing(void **state)
{
    (void)state;
    RUN(body_pingpong);
}

/* ----------------------------------------------------- deep recursion */

/* 200 frames of 512 bytes (over 100 KiB), each filled with a pattern of
 * its depth; the deepest parks, other compact tasks run on the same shared
 * stacks meanwhile, and every frame is checked on the way back up after
 * the test cancels the deepest wait. */
static volatile int keep;

static int descend(int depth, int max)
{
    volatile unsigned char frame[512];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)(depth * 31 + i);
    /* the deepest waits until the test cancels it (no timing to race) */
    int rc = depth + 1 < max ? descend(depth + 1, max) : weft_sleep(WEFT_FOREVER);
    for (size_t i = 0; i < sizeof frame; i++)
        if (frame[i] != (unsigned char)(depth * 31 + i))
            return -EILSEQ;
    return rc + keep;
}

static int deep(void *arg)
{
    (void)arg;
    return descend(0, 200);
}

static int shallow(void *arg)
{
    (void)arg;
    volatile char scribble[2048]; /* overwrites the deep task's frames on the shared stack */
    memset((char *)scribble, 0x5a, sizeof scribble);
    return weft_sleep(0.001) + scribble[7] - 0x5a;
}

static int body_deep(void)
{
    weft_task *t = SPAWN_OPTS(deep, NULL, &compact);
    weft_task *others[16];
    for (int i = 0; i < 16; i++)
        others[i] = SPAWN_OPTS(shallow, NULL, &compact);
    assert_int_equal(weft_gather(others, 16, 0), 0);
    assert_true(stats().compact_saved_bytes >= 100 * 1024); /* the deep one is saved aside */
    assert_int_equal(weft_cancel(t), 1);
    assert_int_equal(weft_await(t), WEFT_ECANCELED); /* -EILSEQ if a frame came back wrong */
    weft_task_free(t);
    for (int i = 0; i < 16; i++)
        weft_task_free(others[i]);
    return 0;
}

static void test_deep_recursion_parks_and_resumes(void **state)
{
    (void)state;
    RUN(body_deep);
}

/* ------------------------------------------------------------- the API */

static int no_handler(weft_stream *s, void *arg)
{
    (void)s, (void)arg;
    return 0;
}

static int body_modes(void)
{
    assert_int_equal(weft_loop_stack_mode(NULL),
                     getenv("WEFT_STACK_MODE") && strcmp(getenv("WEFT_STACK_MODE"), "compact") == 0
                         ? WEFT_STACK_COMPACT
                         : WEFT_STACK_PRIVATE);
    assert_int_equal(weft_loop_set_stack_mode(NULL, WEFT_STACK_DEFAULT), -EINVAL);
    weft_task_opts bad = {.stack_mode = (weft_stack_mode)3};
    weft_task *none = NULL;
    assert_int_equal(weft_spawn_opts(yielder, NULL, &bad, &none), -EINVAL);
    assert_null(none);
    weft_server *srv = NULL;
    weft_net_opts bad_net = {.stack_mode = (weft_stack_mode)-1};
    assert_int_equal(weft_unix_serve("/nonexistent/x", no_handler, NULL, &bad_net, &srv), -EINVAL);
    assert_int_equal(weft_loop_set_stack_mode(NULL, (weft_stack_mode)7), -EINVAL);
    assert_int_equal(weft_loop_set_stack_mode(NULL, WEFT_STACK_COMPACT), 0);
    assert_int_equal(weft_loop_stack_mode(NULL), WEFT_STACK_COMPACT);

    /* the loop's default applies to WEFT_STACK_DEFAULT spawns */
    size_t live = stats().stacks_live;
    weft_task *t = SPAWN(yielder, NULL);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(stats().stacks_live, live); /* a shared stack, not one of its own */
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);

    /* private on request, and for a stack bigger than the shared ones */
    weft_task_opts priv = {.stack_mode = WEFT_STACK_PRIVATE};
    weft_task_opts big = {.stack_mode = WEFT_STACK_COMPACT,
                          .stack_size = 2 * WEFT_DEFAULT_STACK_SIZE};
    weft_task *p = SPAWN_OPTS(yielder, NULL, &priv);
    weft_task *b = SPAWN_OPTS(yielder, NULL, &big);
    assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(stats().stacks_live, live + 2);
    assert_int_equal(weft_await(p), 0);
    assert_int_equal(weft_await(b), 0);
    weft_task_free(p);
    weft_task_free(b);
    assert_int_equal(weft_loop_set_stack_mode(NULL, WEFT_STACK_PRIVATE), 0);
    return 0;
}

static void test_modes(void **state)
{
    (void)state;
    RUN(body_modes);
    assert_int_equal(weft_loop_set_stack_mode(NULL, WEFT_STACK_COMPACT), WEFT_ENOTASK);
}

/* ------------------------------------------ reports (in a child process) */

static volatile int sink;

static int recurse(int depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (sink >= 0)
        sink = recurse(depth + 1) + frame[0]; /* not a tail call */
    return sink;
}

static int overflows(void *arg)
{
    (void)arg;
    return recurse(0);
}

static int overflow_main(void *arg)
{
    (void)arg;
    weft_task_opts opts = {.name = "deep", .stack_mode = WEFT_STACK_COMPACT};
    weft_task *t = SPAWN_OPTS(overflows, NULL, &opts);
    return weft_await(t);
}

/* The &local hazard: a compact parent hands its local to a child and
 * waits; the child writes to it while the parent is parked. */
static int writes_parent_local(void *arg)
{
    int *parents = arg;
    *parents = 42;
    return 0;
}

static int hands_out_its_local(void *arg)
{
    (void)arg;
    int local = 0;
    weft_task *child;
    int rc = weft_spawn(writes_parent_local, &local, &child);
    if (rc == 0) {
        rc = weft_await(child);
        weft_task_free(child);
    }
    return rc + local;
}

static int hazard_main(void *arg)
{
    (void)arg;
    weft_task_opts opts = {.name = "parent", .stack_mode = WEFT_STACK_COMPACT};
    weft_task *t = SPAWN_OPTS(hands_out_its_local, NULL, &opts);
    return weft_await(t);
}

/* Runs this binary again with `mode` (a fresh image: none of cmocka's
 * signal handlers) and returns what it wrote to stderr; *status: how it
 * ended. */
static void run_child(const char *mode, bool debug, char *text, size_t cap, int *status)
{
    if (getenv("WEFT_TEST_NO_FORK")) /* qemu-user: a forked child hangs before it runs */
        skip();
    if (running_under_valgrind()) /* /proc/self/exe is Valgrind's loader there */
        skip();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (debug)
            setenv("WEFT_DEBUG", "1", 1);
        else
            unsetenv("WEFT_DEBUG");
        execl("/proc/self/exe", "test_compact", mode, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], text + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = 0;
    close(fds[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
    print_message("%s", text);
}

static void test_overflow_on_shared_stack_reported(void **state)
{
    (void)state;
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__) || defined(WEFT_TSAN)
    skip(); /* the sanitizer owns SIGSEGV and reports overflows itself */
#endif
    char text[4096];
    int status;
    run_child("overflow-child", false, text, sizeof text, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_non_null(strstr(text, "weft: error: overflow: task #2 \"deep\" (spawned at "));
    assert_non_null(strstr(text, "overflowed its stack of 262144 bytes"));
}

static void test_local_hazard_named_in_debug_mode(void **state)
{
    (void)state;
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__) || defined(WEFT_TSAN)
    skip(); /* the sanitizer owns SIGSEGV */
#endif
    char text[4096];
    int status;
    run_child("hazard-child", true, text, sizeof text, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_non_null(strstr(text, "weft: error: compact: task #3 \"Task-3\" (spawned at "));
    assert_non_null(
        strstr(text, "touched the stack of parked compact task #2 \"parent\" (spawned at "));
    assert_non_null(strstr(text, "test_compact.c:"));
}

/* ------------------------------------------------------------- dumps */

/* Exported, so that the dump can name it in the sleepers' backtraces. */
int compact_dump_sleeper(void *arg)
{
    (void)arg;
    int rc = weft_sleep(60);
    return rc == WEFT_ECANCELED ? 0 : -EPROTO;
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

enum { DUMPED = 12 };

/* A dump shows each parked compact task's frames, also when they are not
 * on a stack: evicted (their bytes saved aside, another task on their
 * shared stack) or, in debug mode, made inaccessible while parked. */
static int dump_compact_sleepers(void *arg)
{
    bool debug = arg != NULL;
    assert_int_equal(weft_loop_set_debug(weft_loop_current(), debug), 0);
    weft_task *t[DUMPED];
    for (int i = 0; i < DUMPED; i++)
        t[i] = SPAWN_OPTS(compact_dump_sleeper, NULL, &compact);
    WAIT_UNTIL(stats().tasks_sleeping == DUMPED);
    if (!debug)
        assert_true(stats().compact_saved >= DUMPED - 4); /* most are evicted */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_true(weft_tasks_dump(f) > DUMPED);
    fclose(f);
#ifndef WEFT_CTX_UCONTEXT
    if (count_of(text, "compact_dump_sleeper+0x") != DUMPED)
        print_message("%s", text);
    assert_int_equal(count_of(text, "compact_dump_sleeper+0x"), DUMPED);
    assert_int_equal(count_of(text, "weft_sleep+0x"), DUMPED);
#endif
    free(text);
    for (int i = 0; i < DUMPED; i++)
        weft_cancel(t[i]);
    assert_int_equal(weft_gather(t, DUMPED, 0), 0);
    for (int i = 0; i < DUMPED; i++)
        weft_task_free(t[i]);
    assert_int_equal(weft_loop_set_debug(weft_loop_current(), 0), 0);
    return 0;
}

static void test_dump_shows_parked_compact_frames(void **state)
{
    (void)state;
    RUN_WITH(dump_compact_sleepers, NULL);
    RUN_WITH(dump_compact_sleepers, "debug");
}

/* Without debug mode the same program is not caught (the write lands in
 * whatever task's frames are on the shared stack then): the reason debug
 * mode exists. Here, only that it does not report. */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "overflow-child") == 0)
        return weft_run(overflow_main, NULL) == 0 ? 0 : 1;
    if (argc > 1 && strcmp(argv[1], "hazard-child") == 0)
        return weft_run(hazard_main, NULL) == 42 ? 0 : 1;
    unsetenv("WEFT_DEBUG"); /* the checks of shared stacks need it off; the children set it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleepers),
        cmocka_unit_test(test_owner_keeps_its_stack),
        cmocka_unit_test(test_pingpong_copies_nothing),
        cmocka_unit_test(test_deep_recursion_parks_and_resumes),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_overflow_on_shared_stack_reported),
        cmocka_unit_test(test_local_hazard_named_in_debug_mode),
        cmocka_unit_test(test_dump_shows_parked_compact_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
