#define _GNU_SOURCE
/* weft_tsqueue: plain threads and tasks of several loops on both ends,
 * every item got exactly once, backpressure, timeouts, cancellation racing
 * a hand-off, close, bad arguments and allocation failures. */
/* weft:no-valgrind */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdint.h>

#include "base/fault.h"
#include "core/core.h"
#include "weft.h"
#include "test_support.h"

static double now_s(void)
{
    return (double)weft__now_ns() / 1e9;
}

/* ------------------------------------------------ many producers, many consumers */

enum { NPROD = 3, NCONS = 4, PER_PROD = 20000 };

typedef struct flow {
    weft_tsqueue *q;
    int first; /* producers put first .. first + PER_PROD - 1 */
    atomic_llong *sum;
    atomic_long *count;
} flow;

static int produce(void *arg)
{
    flow *f = arg;
    for (int i = 0; i < PER_PROD; i++) {
        int rc = weft_tsqueue_put(f->q, (void *)(intptr_t)(f->first + i), WEFT_FOREVER);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int consume(void *arg)
{
    flow *f = arg;
    for (;;) {
        void *item;
        int rc = weft_tsqueue_get(f->q, &item, WEFT_FOREVER);
        if (rc == WEFT_ESHUTDOWN)
            return 0;
        if (rc != 0)
            return rc;
        atomic_fetch_add(f->sum, (long long)(intptr_t)item);
        atomic_fetch_add(f->count, 1);
    }
}

static void *thread_produce(void *arg)
{
    return (void *)(intptr_t)produce(arg);
}

static void *thread_consume(void *arg)
{
    return (void *)(intptr_t)consume(arg);
}

static long long expected_sum(void)
{
    long long s = 0;
    for (int p = 0; p < NPROD; p++)
        for (int i = 0; i < PER_PROD; i++)
            s += p * 1000000 + 1 + i;
    return s;
}

/* Threads put, tasks of two loops get (or the reverse, tasks_put). */
static void run_flow(size_t maxsize, bool tasks_put)
{
    weft_tsqueue *q;
    assert_int_equal(weft_tsqueue_new(maxsize, &q), 0);
    atomic_llong sum = 0;
    atomic_long count = 0;
    weft_loop_thread *lt[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_loop_thread_start(&lt[i]), 0);
    flow prod[NPROD], cons[NCONS];
    weft_cfuture *cf[NPROD + NCONS];
    pthread_t th[NPROD + NCONS];
    size_t ncf = 0, nth = 0;
    for (int i = 0; i < NCONS; i++) {
        cons[i] = (flow){.q = q, .sum = &sum, .count = &count};
        if (tasks_put)
            assert_int_equal(pthread_create(&th[nth++], NULL, thread_consume, &cons[i]), 0);
        else
            assert_int_equal(
                weft_submit(weft_loop_thread_loop(lt[i % 2]), consume, &cons[i], &cf[ncf++]), 0);
    }
    size_t first_prod_cf = ncf;
    for (int p = 0; p < NPROD; p++) {
        prod[p] = (flow){.q = q, .first = p * 1000000 + 1};
        if (tasks_put)
            assert_int_equal(
                weft_submit(weft_loop_thread_loop(lt[p % 2]), produce, &prod[p], &cf[ncf++]), 0);
        else
            assert_int_equal(pthread_create(&th[nth++], NULL, thread_produce, &prod[p]), 0);
    }
    /* Wait for the producers, then close: the consumers drain and end. */
    if (tasks_put) {
        for (size_t i = first_prod_cf; i < ncf; i++)
            assert_int_equal(weft_cfuture_result(cf[i], 20.0), 0);
    } else {
        for (size_t i = 0; i < nth; i++) {
            void *ret;
            pthread_join(th[i], &ret);
            assert_int_equal((int)(intptr_t)ret, 0);
        }
    }
    assert_int_equal(weft_tsqueue_shutdown(q), 0);
    if (tasks_put) {
        for (size_t i = 0; i < nth; i++) {
            void *ret;
            pthread_join(th[i], &ret);
            assert_int_equal((int)(intptr_t)ret, 0);
        }
    } else {
        for (size_t i = 0; i < ncf; i++)
            assert_int_equal(weft_cfuture_result(cf[i], 20.0), 0);
    }
    for (size_t i = 0; i < ncf; i++)
        weft_cfuture_free(cf[i]);
    assert_int_equal(atomic_load(&count), NPROD * PER_PROD);
    assert_int_equal(atomic_load(&sum), expected_sum());
    assert_int_equal(weft_tsqueue_size(q), 0);
    for (int i = 0; i < 2; i++)
        weft_loop_thread_free(lt[i]);
    weft_tsqueue_free(q);
}

static void test_threads_to_tasks(void **state)
{
    (void)state;
    run_flow(0, false);
    run_flow(8, false); /* backpressure: the threads block */
}

static void test_tasks_to_threads(void **state)
{
    (void)state;
    run_flow(0, true);
    run_flow(8, true); /* backpressure: the tasks park */
}

/* ------------------------------------------------ one loop, both ends */

static weft_tsqueue *g_q;
static atomic_int g_flag;

static int same_loop_consumer(void *arg)
{
    long long *sum = arg;
    void *item;
    int rc;
    while ((rc = weft_tsqueue_get(g_q, &item, WEFT_FOREVER)) == 0)
        *sum += (intptr_t)item;
    return rc == WEFT_ESHUTDOWN ? 0 : rc;
}

static int main_same_loop(void *arg)
{
    (void)arg;
    long long sum = 0;
    weft_task *c = SPAWN(same_loop_consumer, &sum);
    for (int i = 1; i <= 1000; i++)
        if (weft_tsqueue_put(g_q, (void *)(intptr_t)i, WEFT_FOREVER) != 0)
            return -1;
    weft_tsqueue_shutdown(g_q);
    int rc = weft_await(c);
    weft_task_free(c);
    if (rc != 0)
        return rc;
    return sum == 1000LL * 1001 / 2 ? 0 : -2;
}

static void test_same_loop(void **state)
{
    (void)state;
    assert_int_equal(weft_tsqueue_new(4, &g_q), 0);
    assert_int_equal(weft_run(main_same_loop, NULL), 0);
    weft_tsqueue_free(g_q);
}

/* A task waits for a thread's put: the loop has nothing else to do, and must
 * not conclude "deadlock". */
static void *put_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return (void *)(intptr_t)weft_tsqueue_put(g_q, (void *)7, WEFT_FOREVER); /* NULL: put */
}

static int main_wait_thread(void *arg)
{
    (void)arg;
    void *item = NULL;
    int rc = weft_tsqueue_get(g_q, &item, 5.0);
    return rc ? rc : (int)(intptr_t)item;
}

static void test_task_waits_for_thread(void **state)
{
    (void)state;
    assert_int_equal(weft_tsqueue_new(0, &g_q), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, put_later, NULL), 0);
    assert_int_equal(weft_run(main_wait_thread, NULL), 7);
    void *put_rc;
    pthread_join(t, &put_rc);
    assert_null(put_rc);
    weft_tsqueue_free(g_q);
}

/* ------------------------------------------------ backpressure and timeouts */

static int task_timeouts(void *arg)
{
    weft_tsqueue *q = arg; /* bounded to 1, full */
    double t0 = now_s();
    int rc = weft_tsqueue_put(q, (void *)2, 0.05);
    double dt = now_s() - t0;
    if (rc != WEFT_ETIMEDOUT || dt < 0.04 || dt > 1.5)
        return -100;
    if (weft_tsqueue_put(q, (void *)2, 0) != WEFT_ETIMEDOUT)
        return -101;
    void *item;
    if (weft_tsqueue_get(q, &item, 0.05) != 0 || item != (void *)1)
        return -102;
    t0 = now_s();
    rc = weft_tsqueue_get(q, &item, 0.05);
    dt = now_s() - t0;
    if (rc != WEFT_ETIMEDOUT || dt < 0.04 || dt > 1.5)
        return -103;
    if (weft_tsqueue_get(q, &item, 0) != WEFT_ETIMEDOUT)
        return -104;
    return weft_tsqueue_put(q, (void *)1, 0); /* full again for the caller */
}

static void test_timeouts(void **state)
{
    (void)state;
    weft_tsqueue *q;
    assert_int_equal(weft_tsqueue_new(1, &q), 0);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)1), 0);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)2), -EAGAIN);
    /* A thread. */
    double t0 = now_s();
    assert_int_equal(weft_tsqueue_put(q, (void *)2, 0.05), WEFT_ETIMEDOUT);
    double dt = now_s() - t0;
    assert_true(dt >= 0.04 && dt < 1.5);
    assert_int_equal(weft_tsqueue_size(q), 1);
    void *item;
    assert_int_equal(weft_tsqueue_get(q, &item, 0.05), 0);
    assert_ptr_equal(item, (void *)1);
    assert_int_equal(weft_tsqueue_get_nowait(q, &item), -EAGAIN);
    t0 = now_s();
    assert_int_equal(weft_tsqueue_get(q, &item, 0.05), WEFT_ETIMEDOUT);
    dt = now_s() - t0;
    assert_true(dt >= 0.04 && dt < 1.5);
    assert_int_equal(weft_tsqueue_get(q, &item, -1), WEFT_ETIMEDOUT);
    /* A task on a loop thread. */
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)1), 0);
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), task_timeouts, q), 0);
    weft_loop_thread_free(lt);
    assert_int_equal(weft_tsqueue_size(q), 1);
    weft_tsqueue_free(q);
}

/* A thread blocked on a full queue is released by a task's get; a task
 * parked on a full queue by a thread's get. */
typedef struct bp {
    weft_tsqueue *q;
    atomic_int done;
    int rc;
} bp;

static void *thread_put_3(void *arg)
{
    bp *b = arg;
    b->rc = weft_tsqueue_put(b->q, (void *)3, 5.0);
    atomic_store(&b->done, 1);
    return NULL;
}

static int task_get_after(void *arg)
{
    bp *b = arg;
    if (weft_sleep(0.05) != 0)
        return -1; /* never cancelled */
    if (atomic_load(&b->done))
        return -1; /* the thread should still be blocked */
    void *item;
    int rc = weft_tsqueue_get(b->q, &item, 1.0);
    return rc ? rc : (int)(intptr_t)item;
}

static int task_put_3(void *arg)
{
    bp *b = arg;
    return weft_tsqueue_put(b->q, (void *)3, 5.0);
}

static void test_backpressure(void **state)
{
    (void)state;
    bp b = {0};
    assert_int_equal(weft_tsqueue_new(2, &b.q), 0);
    assert_int_equal(weft_tsqueue_put_nowait(b.q, (void *)1), 0);
    assert_int_equal(weft_tsqueue_put_nowait(b.q, (void *)2), 0);
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    /* Thread blocked, task frees a slot. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_put_3, &b), 0);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), task_get_after, &b), 1);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(weft_tsqueue_size(b.q), 2);
    /* Task parked, this thread frees a slot. */
    weft_cfuture *cf;
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), task_put_3, &b, &cf), 0);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(weft_cfuture_done(cf));
    void *item;
    assert_int_equal(weft_tsqueue_get(b.q, &item, 1.0), 0);
    assert_ptr_equal(item, (void *)2);
    assert_int_equal(weft_cfuture_result(cf, 5.0), 0);
    weft_cfuture_free(cf);
    /* FIFO kept through the hand-offs. */
    assert_int_equal(weft_tsqueue_get_nowait(b.q, &item), 0);
    assert_ptr_equal(item, (void *)3);
    assert_int_equal(weft_tsqueue_get_nowait(b.q, &item), 0);
    assert_ptr_equal(item, (void *)3);
    weft_loop_thread_free(lt);
    weft_tsqueue_free(b.q);
}

/* ------------------------------------------------ cancellation */

enum { RACE_ITEMS = 3000 };

/* Round by round: a consumer task parks on the empty queue, the main task
 * lets the producer thread put one item and cancels the consumer a random
 * moment later, so the cancel lands before, during and after the hand-off
 * (with its wake-up message in flight). Every item must be got once. */
typedef struct race {
    weft_tsqueue *q;
    atomic_int go;      /* the producer puts item i once go >= i */
    atomic_int putting; /* ... and sets putting = i just before */
    long long sum;
    long count;
    long late; /* gets that returned an item with a cancel pending */
} race;

static void *race_producer(void *arg)
{
    race *r = arg;
    for (int i = 1; i <= RACE_ITEMS; i++) {
        while (atomic_load(&r->go) < i)
            sched_yield();
        atomic_store(&r->putting, i);
        int rc = weft_tsqueue_put(r->q, (void *)(intptr_t)i, WEFT_FOREVER);
        if (rc != 0)
            return (void *)(intptr_t)rc; /* the joiner fails the test with it */
    }
    return NULL;
}

static int race_consumer(void *arg)
{
    race *r = arg;
    for (;;) {
        void *item;
        int rc = weft_tsqueue_get(r->q, &item, WEFT_FOREVER);
        if (rc != 0)
            return rc;
        r->sum += (intptr_t)item;
        r->count++;
        if (weft_cancelling(weft_task_current()) > 0)
            r->late++; /* the item won; the cancel comes at the next wait */
    }
}

static int main_cancel_race(void *arg)
{
    race *r = arg;
    pthread_t t;
    if (pthread_create(&t, NULL, race_producer, r) != 0)
        return -1;
    unsigned seed = 7;
    int bad = 0;
    for (int round = 1; round <= RACE_ITEMS; round++) {
        weft_task *c = SPAWN(race_consumer, r);
        assert_int_equal(weft_sleep(0), 0); /* it runs and parks (or takes a leftover item) */
        atomic_store(&r->go, round);
        /* Every other round, cancel once the put has started. */
        while (round % 2 && atomic_load(&r->putting) < round)
            __asm__ __volatile__("" ::: "memory");
        for (int spin = rand_r(&seed) % 300; spin > 0; spin--)
            __asm__ __volatile__("" ::: "memory");
        weft_cancel(c);
        if (weft_await(c) != WEFT_ECANCELED)
            bad = 1;
        weft_task_free(c);
    }
    void *put_rc;
    pthread_join(t, &put_rc);
    if (put_rc != NULL)
        return (int)(intptr_t)put_rc;
    void *item; /* the items that arrived after the last cancel */
    while (weft_tsqueue_get_nowait(r->q, &item) == 0) {
        r->sum += (intptr_t)item;
        r->count++;
    }
    return bad ? -2 : 0;
}

static void test_cancel_races_handoff(void **state)
{
    (void)state;
    race r = {0};
    assert_int_equal(weft_tsqueue_new(0, &r.q), 0);
    assert_int_equal(weft_run(main_cancel_race, &r), 0);
    assert_int_equal(r.count, RACE_ITEMS);
    assert_int_equal(r.sum, (long long)RACE_ITEMS * (RACE_ITEMS + 1) / 2);
    print_message("cancel race: %ld of %d items got with a cancel pending\n", r.late, RACE_ITEMS);
    weft_tsqueue_free(r.q);
}

/* A cancelled getter or putter leaves nothing behind. */
static int task_get_forever(void *arg)
{
    void *item;
    return weft_tsqueue_get(arg, &item, WEFT_FOREVER);
}

static int task_put_forever(void *arg)
{
    return weft_tsqueue_put(arg, (void *)9, WEFT_FOREVER);
}

static int main_cancel_simple(void *arg)
{
    (void)arg;
    weft_tsqueue *q;
    if (weft_tsqueue_new(1, &q) != 0)
        return -1;
    int rc = 0;
    weft_task *g = SPAWN(task_get_forever, q);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(g);
    if (weft_await(g) != WEFT_ECANCELED)
        rc = -2;
    weft_task_free(g);
    if (weft_tsqueue_put_nowait(q, (void *)1) != 0 || weft_tsqueue_size(q) != 1)
        rc = -3; /* the item went to the queue, not to the gone getter */
    weft_task *p = SPAWN(task_put_forever, q);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_cancel(p);
    if (weft_await(p) != WEFT_ECANCELED)
        rc = -4;
    weft_task_free(p);
    void *item;
    if (weft_tsqueue_get_nowait(q, &item) != 0 || item != (void *)1 || weft_tsqueue_size(q) != 0)
        rc = -5; /* the cancelled put put nothing */
    weft_tsqueue_free(q);
    return rc;
}

static void test_cancel_simple(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_cancel_simple, NULL), 0);
}

/* A loop stopped under a parked getter: the getter is cancelled and
 * unlinked, so a later put goes to the queue, not to a gone task. */
static void test_loop_stops_under_getter(void **state)
{
    (void)state;
    weft_tsqueue *q;
    assert_int_equal(weft_tsqueue_new(0, &q), 0);
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_cfuture *cf;
    assert_int_equal(weft_submit(weft_loop_thread_loop(lt), task_get_forever, q, &cf), 0);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(weft_loop_thread_stop(lt), 0);
    assert_int_equal(weft_cfuture_result(cf, 5.0), WEFT_ECANCELED);
    weft_cfuture_free(cf);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)1), 0);
    assert_int_equal(weft_tsqueue_size(q), 1);
    weft_loop_thread_free(lt);
    weft_tsqueue_free(q);
}

/* Timeouts of tasks racing a thread's put: a get either times out having
 * taken nothing or returns the item; none is lost. */
enum { TIMEOUT_ROUNDS = 300 };

static void *timeout_producer(void *arg)
{
    race *r = arg;
    for (int i = 1; i <= TIMEOUT_ROUNDS; i++) {
        while (atomic_load(&r->go) < i)
            sched_yield();
        struct timespec ts = {0, (i % 9) * 500 * 1000}; /* around the 2 ms timeout */
        nanosleep(&ts, NULL);
        int rc = weft_tsqueue_put(r->q, (void *)(intptr_t)i, WEFT_FOREVER);
        if (rc != 0)
            return (void *)(intptr_t)rc; /* the joiner fails the test with it */
    }
    return NULL;
}

static int main_timeout_race(void *arg)
{
    race *r = arg;
    pthread_t t;
    if (pthread_create(&t, NULL, timeout_producer, r) != 0)
        return -1;
    for (int round = 1; round <= TIMEOUT_ROUNDS; round++) {
        atomic_store(&r->go, round);
        void *item;
        int rc = weft_tsqueue_get(r->q, &item, 0.002);
        if (rc == 0) {
            r->sum += (intptr_t)item;
            r->count++;
        } else if (rc == WEFT_ETIMEDOUT) {
            r->late++; /* timed out */
        } else {
            return rc;
        }
    }
    void *put_rc;
    pthread_join(t, &put_rc);
    if (put_rc != NULL)
        return (int)(intptr_t)put_rc;
    void *item;
    while (weft_tsqueue_get_nowait(r->q, &item) == 0) {
        r->sum += (intptr_t)item;
        r->count++;
    }
    return 0;
}

static void test_timeout_races_handoff(void **state)
{
    (void)state;
    race r = {0};
    assert_int_equal(weft_tsqueue_new(0, &r.q), 0);
    assert_int_equal(weft_run(main_timeout_race, &r), 0);
    assert_int_equal(r.count, TIMEOUT_ROUNDS);
    assert_int_equal(r.sum, (long long)TIMEOUT_ROUNDS * (TIMEOUT_ROUNDS + 1) / 2);
    print_message("timeout race: %ld of %d gets timed out\n", r.late, TIMEOUT_ROUNDS);
    weft_tsqueue_free(r.q);
}

/* ------------------------------------------------ close */

static void *thread_get_code(void *arg)
{
    void *item;
    return (void *)(intptr_t)weft_tsqueue_get(arg, &item, 5.0);
}

static void *thread_put_code(void *arg)
{
    return (void *)(intptr_t)weft_tsqueue_put(arg, (void *)1, 5.0);
}

static void test_close_wakes_everyone(void **state)
{
    (void)state;
    weft_tsqueue *empty, *full;
    assert_int_equal(weft_tsqueue_new(0, &empty), 0);
    assert_int_equal(weft_tsqueue_new(1, &full), 0);
    assert_int_equal(weft_tsqueue_put_nowait(full, (void *)1), 0);
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    weft_cfuture *cf[4];
    pthread_t th[4];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weft_submit(weft_loop_thread_loop(lt), task_get_forever, empty, &cf[i]),
                         0);
        assert_int_equal(weft_submit(weft_loop_thread_loop(lt), task_put_forever, full, &cf[2 + i]),
                         0);
        assert_int_equal(pthread_create(&th[i], NULL, thread_get_code, empty), 0);
        assert_int_equal(pthread_create(&th[2 + i], NULL, thread_put_code, full), 0);
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 4; i++)
        assert_false(weft_cfuture_done(cf[i]));
    double t0 = now_s();
    assert_int_equal(weft_tsqueue_shutdown(empty), 0);
    assert_int_equal(weft_tsqueue_shutdown(full), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_cfuture_result(cf[i], 5.0), WEFT_ESHUTDOWN);
        weft_cfuture_free(cf[i]);
        void *ret;
        pthread_join(th[i], &ret);
        assert_int_equal((int)(intptr_t)ret, WEFT_ESHUTDOWN);
    }
    assert_true(now_s() - t0 < 1.5);
    /* Closed: puts fail, gets drain then fail. */
    assert_int_equal(weft_tsqueue_put(full, (void *)2, 1.0), WEFT_ESHUTDOWN);
    assert_int_equal(weft_tsqueue_put_nowait(empty, (void *)2), WEFT_ESHUTDOWN);
    void *item;
    assert_int_equal(weft_tsqueue_get(full, &item, 1.0), 0);
    assert_ptr_equal(item, (void *)1);
    assert_int_equal(weft_tsqueue_get(full, &item, 1.0), WEFT_ESHUTDOWN);
    assert_int_equal(weft_tsqueue_get_nowait(full, &item), WEFT_ESHUTDOWN);
    assert_int_equal(weft_tsqueue_shutdown(full), 0); /* again: no-op */
    weft_loop_thread_free(lt);
    weft_tsqueue_free(empty);
    weft_tsqueue_free(full);
}

/* ------------------------------------------------ errors */

static void put_in_callback(void *arg)
{
    atomic_store(&g_flag, weft_tsqueue_put(arg, (void *)2, 1.0));
}

static int task_ok(void *arg)
{
    (void)arg;
    return 0;
}

static void test_errors(void **state)
{
    (void)state;
    weft_tsqueue *q = (weft_tsqueue *)1;
    assert_int_equal(weft_tsqueue_new(0, NULL), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_tsqueue_new(0, &q), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_null(q);
    assert_int_equal(weft_tsqueue_new(0, &q), 0);
    void *item;
    assert_int_equal(weft_tsqueue_put(NULL, NULL, 1.0), -EINVAL);
    assert_int_equal(weft_tsqueue_put(q, NULL, NAN), -EINVAL);
    assert_int_equal(weft_tsqueue_get(NULL, &item, 1.0), -EINVAL);
    assert_int_equal(weft_tsqueue_get(q, NULL, 1.0), -EINVAL);
    assert_int_equal(weft_tsqueue_get(q, &item, NAN), -EINVAL);
    assert_int_equal(weft_tsqueue_put_nowait(NULL, NULL), -EINVAL);
    assert_int_equal(weft_tsqueue_get_nowait(NULL, &item), -EINVAL);
    assert_int_equal(weft_tsqueue_get_nowait(q, NULL), -EINVAL);
    assert_int_equal(weft_tsqueue_shutdown(NULL), -EINVAL);
    assert_int_equal(weft_tsqueue_size(NULL), 0);
    weft_tsqueue_free(NULL);
    /* The ring's first allocation fails: nothing was put. */
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)1), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_int_equal(weft_tsqueue_size(q), 0);
    /* Growing fails: the 16 items already there stay. */
    for (int i = 1; i <= 16; i++)
        assert_int_equal(weft_tsqueue_put_nowait(q, (void *)(intptr_t)i), 0);
    assert_int_equal(weft_tsqueue_get_nowait(q, &item), 0); /* wrap the ring */
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)17), 0);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_tsqueue_put(q, (void *)18, 1.0), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_int_equal(weft_tsqueue_size(q), 16);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)18), 0);
    for (int i = 2; i <= 18; i++) {
        assert_int_equal(weft_tsqueue_get_nowait(q, &item), 0);
        assert_ptr_equal(item, (void *)(intptr_t)i);
    }
    weft_tsqueue_free(q);
    /* A loop's callback cannot wait on a full queue. */
    assert_int_equal(weft_tsqueue_new(1, &q), 0);
    assert_int_equal(weft_tsqueue_put_nowait(q, (void *)1), 0);
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    atomic_store(&g_flag, 1);
    assert_int_equal(weft_call_soon_threadsafe(weft_loop_thread_loop(lt), put_in_callback, q), 0);
    assert_int_equal(weft_call_sync(weft_loop_thread_loop(lt), task_ok, NULL),
                     0); /* after the callback */
    assert_int_equal(atomic_load(&g_flag), WEFT_ENOTASK);
    assert_int_equal(weft_tsqueue_size(q), 1);
    weft_loop_thread_free(lt);
    weft_tsqueue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_to_tasks),
        cmocka_unit_test(test_tasks_to_threads),
        cmocka_unit_test(test_same_loop),
        cmocka_unit_test(test_task_waits_for_thread),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_cancel_races_handoff),
        cmocka_unit_test(test_cancel_simple),
        cmocka_unit_test(test_loop_stops_under_getter),
        cmocka_unit_test(test_timeout_races_handoff),
        cmocka_unit_test(test_close_wakes_everyone),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
