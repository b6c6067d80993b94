/* sync_test.h: what the sync layer's tests share — running a body as the
 * main task of its own loop, and small task helpers. */
#ifndef WEFT_SYNC_TEST_H
#define WEFT_SYNC_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sync/sync.h"
#include "weft.h"
#include "test_support.h"

/* Each test runs its body, a weft_fn, as the main task of a fresh loop
 * (RUN_WITH(body, NULL), test_support.h); the body returns 0 when its own
 * checks passed. */

static inline weft_task *spawn(weft_fn fn, void *arg)
{
    weft_task *t = SPAWN(fn, arg);
    assert_non_null(t);
    return t;
}

/* Lets every task that is ready run (a few rounds, for chains of wakeups). */
static inline void settle(void)
{
    for (int i = 0; i < 5; i++)
        assert_int_equal(weft_sleep(0), 0);
}

/* Awaits a task, frees it, returns its code. */
static inline int finish(weft_task *t)
{
    int rc = weft_await(t);
    weft_task_free(t);
    return rc;
}

/* Runs fn(arg) as the main task of a loop on another thread; returns its
 * code (for "used from another thread/loop" tests). */
typedef struct other_thread {
    weft_fn fn;
    void *arg;
    int rc;
} other_thread;

static void *other_thread_main(void *p)
{
    other_thread *o = p;
    o->rc = weft_run(o->fn, o->arg);
    return NULL;
}

static inline int run_on_other_thread(weft_fn fn, void *arg)
{
    other_thread o = {fn, arg, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread_main, &o), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    return o.rc;
}

/* A plain (non-loop) thread calling fn(arg) directly. */
typedef struct plain_thread {
    void (*fn)(void *arg);
    void *arg;
} plain_thread;

static void *plain_thread_main(void *p)
{
    plain_thread *o = p;
    o->fn(o->arg);
    return NULL;
}

static inline void run_on_plain_thread(void (*fn)(void *), void *arg)
{
    plain_thread o = {fn, arg};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, plain_thread_main, &o), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

#endif
