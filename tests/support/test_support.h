/* test_support.h: what every test file may share. Include after cmocka.h.
 * The functions live in tests/support/run.c (the library weft_test_support
 * every test links). */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

#include "weft.h"

/* ------------------------------------------------------------------ run */

/* A test body run as the main task: 0 on success. */
typedef int (*test_body)(void);

/* Runs fn(arg) as the main task of a fresh runner and returns its code.
 * When the test before failed inside a task (its assertion long-jumped
 * out of the loop), that test's runner is freed first, without resuming
 * anything: a failure ends its own test alone. */
int test_run(weft_fn fn, void *arg);
/* The weft_fn that runs a test_body (arg). */
int test_run_body(void *body);
/* Frees the runner a failed test left behind, if any (test_run does it). */
void test_recover(void);

/* RUN(body): body is a test_body. RUN_WITH(fn, arg): fn is a weft_fn,
 * for bodies that take a context (RUN_WITH(body, &(ctx){0})). Each checks
 * that the main task returned 0. */
#define RUN_WITH(fn, arg) assert_int_equal(test_run((fn), (arg)), 0)
#define RUN(body)         RUN_WITH(test_run_body, (void *)(test_body)(body))

/* ---------------------------------------------------------------- spawn */

/* Spawns on the current loop and fails the test if that fails; the value
 * is the handle, the caller's to free. Macros, so that the spawn site the
 * debugging aids record is the test's own line. */
#define SPAWN_OPTS(fn, arg, opts)                                                                  \
    ({                                                                                             \
        weft_task *spawned_ = NULL;                                                                \
        assert_int_equal(weft_spawn_opts((fn), (arg), (opts), &spawned_), 0);                      \
        spawned_;                                                                                  \
    })
#define SPAWN(fn, arg) SPAWN_OPTS((fn), (arg), NULL)

/* The same for a task group's child (the caller gets its own handle). */
#define GROUP_SPAWN(group, fn, arg)                                                                \
    ({                                                                                             \
        weft_task *spawned_ = NULL;                                                                \
        assert_int_equal(weft_group_spawn((group), (fn), (arg), &spawned_), 0);                    \
        spawned_;                                                                                  \
    })

/* --------------------------------------------------------------- waiting */

/* Waits (from a task; bounded: 5 s) until cond holds, then checks it. */
#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        for (int i_ = 0; i_ < 500 && !(cond); i_++)                                                \
            assert_int_equal(weft_sleep(0.01), 0);                                                 \
        assert_true(cond);                                                                         \
    } while (0)

/* The process's resident memory, from /proc/self/statm (for the tests'
 * memory bounds). */
#include <stdio.h>
#include <unistd.h>
static inline size_t test_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size, resident;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
