/* Randomized stress of the sync layer: many producers and consumers on a
 * bounded queue, and many tasks on a lock and a semaphore, under random
 * cancellations and timeouts. Checks that every item put is got exactly
 * once, that the lock and semaphore never admit too many, and that they
 * end released. Seeded, so a failure replays. */
/* weft:timeout=120 */
#include "sync_test.h"

#define NP     4
#define NC     4
#define NITEMS 20000
#define NT     6
#define ROUNDS 1000

static unsigned seed;
static bool stop_chaos;
static weft_task *victims[NP + NC];
static size_t n_victims;
static long n_cancelled, n_timedout; /* waits cut short, to check the chaos bites */

static int rnd(int n)
{
    return rand_r(&seed) % n;
}

/* Runs one wait under a random short timeout scope (or none). A cancel
 * from the chaos task is absorbed (uncancelled) and reported as such. */
static int with_random_timeout(int (*op)(void *), void *arg)
{
    weft_timeout *scope = NULL;
    /* A quarter of the scopes have expired already: the wait is cut at once. */
    if (rnd(3) == 0 && weft_timeout_begin(rnd(4) == 0 ? 0 : rnd(300) * 1e-6, &scope) != 0)
        return -1;
    int rc = op(arg);
    if (scope)
        rc = weft_timeout_end(scope, rc);
    if (rc == WEFT_ECANCELED) {
        weft_uncancel(weft_task_current());
        n_cancelled++;
    } else if (rc == WEFT_ETIMEDOUT) {
        n_timedout++;
    }
    return rc;
}

/* Yields; a chaos cancel delivered here is absorbed too. */
static void yield(void)
{
    if (weft_sleep(0) == WEFT_ECANCELED) {
        weft_uncancel(weft_task_current());
        n_cancelled++;
    }
}

static int chaos(void *arg)
{
    (void)arg;
    while (!stop_chaos) {
        if (rnd(2) == 0)
            weft_cancel(victims[rnd((int)n_victims)]);
        if (weft_sleep(rnd(8) == 0 ? 1e-4 : 0) != 0)
            return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- queue */

static weft_queue *Q;
static int put_count[NITEMS], got_count[NITEMS];

typedef struct put_op {
    void *item;
} put_op;

static int do_put(void *arg)
{
    return weft_queue_put(Q, ((put_op *)arg)->item);
}

static int do_get(void *arg)
{
    return weft_queue_get(Q, arg);
}

static int producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int id = p; id < NITEMS; id += NP) {
        put_op op = {(void *)(intptr_t)id};
        int rc;
        while ((rc = with_random_timeout(do_put, &op)) != 0)
            if (rc != WEFT_ETIMEDOUT && rc != WEFT_ECANCELED)
                return rc;
        put_count[id]++;
        if (rnd(4) == 0)
            yield();
    }
    return 0;
}

static int consumer(void *arg)
{
    (void)arg;
    for (;;) {
        void *v;
        int rc = with_random_timeout(do_get, &v);
        if (rc == WEFT_ESHUTDOWN)
            return 0;
        if (rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELED)
            continue;
        if (rc != 0)
            return rc;
        got_count[(intptr_t)v]++;
        weft_queue_task_done(Q);
        if (rnd(3) == 0)
            yield();
    }
}

static int queue_stress(void *arg)
{
    int (*make)(weft_queue **) = arg;
    memset(put_count, 0, sizeof put_count);
    memset(got_count, 0, sizeof got_count);
    stop_chaos = false;
    n_victims = 0;
    n_cancelled = n_timedout = 0;
    assert_int_equal(make(&Q), 0);
    weft_task *prod[NP], *cons[NC];
    for (int i = 0; i < NP; i++)
        victims[n_victims++] = prod[i] = spawn(producer, (void *)(intptr_t)i);
    for (int i = 0; i < NC; i++)
        victims[n_victims++] = cons[i] = spawn(consumer, NULL);
    weft_task *ch = spawn(chaos, NULL);
    for (int i = 0; i < NP; i++) /* handles freed once chaos stops using them */
        assert_int_equal(weft_await(prod[i]), 0);
    stop_chaos = true;
    assert_int_equal(finish(ch), 0);
    for (int i = 0; i < NP; i++)
        weft_task_free(prod[i]);
    assert_int_equal(weft_queue_join(Q), 0); /* every item got and done */
    assert_int_equal(weft_queue_shutdown(Q, 0), 0);
    for (int i = 0; i < NC; i++)
        assert_int_equal(finish(cons[i]), 0);
    for (int id = 0; id < NITEMS; id++) {
        assert_int_equal(put_count[id], 1);
        assert_int_equal(got_count[id], 1);
    }
    print_message("queue: %ld waits cancelled, %ld timed out\n", n_cancelled, n_timedout);
    assert_true(n_cancelled > 0 && n_timedout > 0);
    weft_queue_free(Q);
    return 0;
}

static int make_fifo(weft_queue **q)
{
    return weft_queue_new(8, q);
}

static int make_lifo(weft_queue **q)
{
    return weft_queue_new_lifo(3, q);
}

static int id_cmp(const void *a, const void *b)
{
    return (intptr_t)a < (intptr_t)b ? -1 : (intptr_t)a > (intptr_t)b;
}

static int make_priority(weft_queue **q)
{
    return weft_queue_new_priority(5, id_cmp, q);
}

static void test_queue_stress(void **state)
{
    (void)state;
    seed = 12345;
    assert_int_equal(weft_run(queue_stress, make_fifo), 0);
    seed = 777;
    assert_int_equal(weft_run(queue_stress, make_lifo), 0);
    seed = 4242;
    assert_int_equal(weft_run(queue_stress, make_priority), 0);
}

/* ------------------------------------------------------ lock & semaphore */

static weft_lock *L;
static weft_sem *S;
static int inside_lock, inside_sem, max_inside_sem;
static long lock_entries, sem_entries;

static int do_lock(void *arg)
{
    (void)arg;
    return weft_lock_acquire(L);
}

static int do_sem(void *arg)
{
    (void)arg;
    return weft_sem_acquire(S);
}

static int locker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = with_random_timeout(do_lock, NULL);
        if (rc == 0) {
            if (inside_lock++ != 0)
                return -1000;
            lock_entries++;
            for (int k = rnd(3); k > 0; k--)
                yield();
            inside_lock--;
            if (weft_lock_release(L) != 0)
                return -1001;
        } else if (rc != WEFT_ETIMEDOUT && rc != WEFT_ECANCELED) {
            return rc;
        }
        rc = with_random_timeout(do_sem, NULL);
        if (rc == 0) {
            if (++inside_sem > max_inside_sem)
                max_inside_sem = inside_sem;
            sem_entries++;
            for (int k = rnd(3); k > 0; k--)
                yield();
            inside_sem--;
            if (weft_sem_release(S) != 0)
                return -1002;
        } else if (rc != WEFT_ETIMEDOUT && rc != WEFT_ECANCELED) {
            return rc;
        }
    }
    return 0;
}

static int lock_stress(void *arg)
{
    (void)arg;
    stop_chaos = false;
    n_victims = 0;
    inside_lock = inside_sem = max_inside_sem = 0;
    lock_entries = sem_entries = 0;
    n_cancelled = n_timedout = 0;
    assert_int_equal(weft_lock_new(&L), 0);
    assert_int_equal(weft_sem_new_bounded(&S, 2), 0);
    weft_task *t[NT];
    for (int i = 0; i < NT; i++)
        victims[n_victims++] = t[i] = spawn(locker, NULL);
    weft_task *ch = spawn(chaos, NULL);
    for (int i = 0; i < NT; i++)
        assert_int_equal(weft_await(t[i]), 0);
    stop_chaos = true;
    assert_int_equal(finish(ch), 0);
    for (int i = 0; i < NT; i++)
        weft_task_free(t[i]);
    assert_int_equal(weft_lock_locked(L), 0);
    assert_int_equal(weft_sem_value(S), 2);
    assert_int_equal(max_inside_sem, 2);
    assert_true(lock_entries > ROUNDS); /* the run was not all timeouts */
    assert_true(sem_entries > ROUNDS);
    print_message("lock/sem: %ld entries, %ld waits cancelled, %ld timed out\n",
                  lock_entries + sem_entries, n_cancelled, n_timedout);
    assert_true(n_cancelled > 0 && n_timedout > 0);
    weft_lock_free(L);
    weft_sem_free(S);
    return 0;
}

static void test_lock_sem_stress(void **state)
{
    (void)state;
    seed = 99;
    assert_int_equal(weft_run(lock_stress, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_stress),
        cmocka_unit_test(test_lock_sem_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
