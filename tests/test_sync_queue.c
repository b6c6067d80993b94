/* Tests of weft_queue: FIFO/LIFO/priority order, bounds and backpressure,
 * nowait calls, task_done/join, 3.13 shutdown, cancellation at the moment
 * an item is handed over, timeouts, growth, allocation failure, use from
 * another thread and from a forked child. */
#include <sys/wait.h>
#include <unistd.h>

#include "sync_test.h"

#define I(n) ((void *)(intptr_t)(n))
#define N(p) ((int)(intptr_t)(p))

static weft_queue *Q;

static int getter(void *arg)
{
    void **out = arg;
    return weft_queue_get(Q, out);
}

static int putter(void *arg)
{
    return weft_queue_put(Q, arg);
}

static int orders_body(void *arg)
{
    (void)arg;
    weft_queue *q;
    void *v;
    assert_int_equal(weft_queue_new(0, NULL), -EINVAL);
    assert_int_equal(weft_queue_new(0, &q), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(weft_queue_put(q, I(i)), 0);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(N(v), i);
    }
    weft_queue_free(q);

    assert_int_equal(weft_queue_new_lifo(0, &q), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(weft_queue_put_nowait(q, I(i)), 0);
    for (int i = 3; i >= 1; i--) {
        assert_int_equal(weft_queue_get_nowait(q, &v), 0);
        assert_int_equal(N(v), i);
    }
    weft_queue_free(q);
    return 0;
}

static void test_queue_orders(void **state)
{
    (void)state;
    weft_queue *q = (weft_queue *)1;
    assert_int_equal(weft_queue_new(0, &q), WEFT_ENOTASK);
    assert_null(q);
    RUN_WITH(orders_body, NULL);
}

static int int_cmp(const void *a, const void *b)
{
    return (N(a) > N(b)) - (N(a) < N(b));
}

static int priority_body(void *arg)
{
    (void)arg;
    weft_queue *q = (weft_queue *)1;
    assert_int_equal(weft_queue_new_priority(0, NULL, &q), -EINVAL);
    assert_null(q);
    assert_int_equal(weft_queue_new_priority(0, int_cmp, &q), 0);
    /* Many, shuffled, past the first array size: comes out sorted. */
    unsigned seed = 7;
    int n = 500;
    for (int i = 0; i < n; i++)
        assert_int_equal(weft_queue_put(q, I(rand_r(&seed) % 1000)), 0);
    assert_int_equal(weft_queue_size(q), n);
    int last = -1;
    for (int i = 0; i < n; i++) {
        void *v;
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_true(N(v) >= last);
        last = N(v);
    }
    assert_int_equal(weft_queue_empty(q), 1);
    weft_queue_free(q);
    return 0;
}

static void test_queue_priority(void **state)
{
    (void)state;
    RUN_WITH(priority_body, NULL);
}

static int bounded_body(void *arg)
{
    (void)arg;
    void *v;
    assert_int_equal(weft_queue_new(2, &Q), 0);
    assert_int_equal(weft_queue_maxsize(Q), 2);
    assert_int_equal(weft_queue_get_nowait(Q, &v), -EAGAIN);
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    assert_int_equal(weft_queue_full(Q), 0);
    assert_int_equal(weft_queue_put(Q, I(2)), 0);
    assert_int_equal(weft_queue_full(Q), 1);
    assert_int_equal(weft_queue_put_nowait(Q, I(3)), -EAGAIN);
    /* A put on a full queue waits; a get moves its item in. */
    weft_task *p = spawn(putter, I(3));
    settle();
    assert_false(weft_task_done(p));
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 1);
    assert_int_equal(weft_queue_size(Q), 2);
    assert_int_equal(finish(p), 0);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 2);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 3);
    /* A get on an empty queue waits; a put hands the item straight over. */
    void *got = NULL;
    weft_task *g = spawn(getter, &got);
    settle();
    assert_int_equal(weft_queue_put_nowait(Q, I(9)), 0);
    assert_int_equal(weft_queue_size(Q), 0);
    assert_int_equal(finish(g), 0);
    assert_int_equal(N(got), 9);
    /* Errors. */
    assert_int_equal(weft_queue_put(NULL, NULL), -EINVAL);
    assert_int_equal(weft_queue_get(Q, NULL), -EINVAL);
    assert_int_equal(weft_queue_get_nowait(NULL, &v), -EINVAL);
    assert_int_equal(weft_queue_put_nowait(NULL, NULL), -EINVAL);
    assert_int_equal(weft_queue_empty(NULL), -EINVAL);
    assert_int_equal(weft_queue_full(NULL), -EINVAL);
    assert_int_equal(weft_queue_size(NULL), 0);
    weft_queue_free(Q);
    weft_queue_free(NULL);
    return 0;
}

static void test_queue_bounded(void **state)
{
    (void)state;
    RUN_WITH(bounded_body, NULL);
}

static int joiner(void *arg)
{
    (void)arg;
    return weft_queue_join(Q);
}

static int join_body(void *arg)
{
    (void)arg;
    void *v;
    assert_int_equal(weft_queue_new(0, &Q), 0);
    assert_int_equal(weft_queue_join(Q), 0); /* nothing unfinished */
    assert_int_equal(weft_queue_task_done(Q), -EINVAL);
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    assert_int_equal(weft_queue_put(Q, I(2)), 0);
    weft_task *j = spawn(joiner, NULL);
    settle();
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(weft_queue_task_done(Q), 0);
    settle();
    assert_false(weft_task_done(j));
    assert_int_equal(weft_queue_task_done(Q), 0);
    assert_int_equal(finish(j), 0);
    assert_int_equal(weft_queue_task_done(Q), -EINVAL);
    /* A cancelled join. */
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    j = spawn(joiner, NULL);
    settle();
    weft_cancel(j);
    assert_int_equal(finish(j), WEFT_ECANCELED);
    weft_queue_free(Q);
    return 0;
}

static void test_queue_join(void **state)
{
    (void)state;
    RUN_WITH(join_body, NULL);
}

static int shutdown_body(void *arg)
{
    (void)arg;
    void *v, *got;
    /* Normal: puts refused, gets drain, then are refused; a waiting getter
     * is woken with the code. */
    assert_int_equal(weft_queue_new(0, &Q), 0);
    weft_task *g = spawn(getter, &got);
    settle();
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    assert_int_equal(finish(g), 0);
    assert_int_equal(weft_queue_put(Q, I(2)), 0);
    assert_int_equal(weft_queue_put(Q, I(3)), 0);
    assert_int_equal(weft_queue_shutdown(Q, 0), 0);
    assert_int_equal(weft_queue_put(Q, I(4)), WEFT_ESHUTDOWN);
    assert_int_equal(weft_queue_put_nowait(Q, I(4)), WEFT_ESHUTDOWN);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 2);
    assert_int_equal(weft_queue_get_nowait(Q, &v), 0);
    assert_int_equal(N(v), 3);
    assert_int_equal(weft_queue_get(Q, &v), WEFT_ESHUTDOWN);
    assert_int_equal(weft_queue_get_nowait(Q, &v), WEFT_ESHUTDOWN);
    weft_queue_free(Q);

    assert_int_equal(weft_queue_new(0, &Q), 0);
    g = spawn(getter, &got);
    settle();
    assert_int_equal(weft_queue_shutdown(Q, 0), 0);
    assert_int_equal(finish(g), WEFT_ESHUTDOWN);
    weft_queue_free(Q);

    /* Immediate: items dropped, join released, putters and getters woken. */
    assert_int_equal(weft_queue_new(2, &Q), 0);
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    assert_int_equal(weft_queue_put(Q, I(2)), 0);
    weft_task *p = spawn(putter, I(3));
    weft_task *j = spawn(joiner, NULL);
    settle();
    assert_int_equal(weft_queue_shutdown(Q, 1), 0);
    assert_int_equal(weft_queue_size(Q), 0);
    assert_int_equal(finish(p), WEFT_ESHUTDOWN);
    assert_int_equal(finish(j), 0);
    assert_int_equal(weft_queue_get(Q, &v), WEFT_ESHUTDOWN);
    assert_int_equal(weft_queue_task_done(Q), -EINVAL);
    assert_int_equal(weft_queue_shutdown(NULL, 0), -EINVAL);
    weft_queue_free(Q);
    return 0;
}

static void test_queue_shutdown(void **state)
{
    (void)state;
    RUN_WITH(shutdown_body, NULL);
}

static int cancel_body(void *arg)
{
    (void)arg;
    void *v;
    assert_int_equal(weft_queue_new(1, &Q), 0);

    /* A get cancelled at the moment its item arrives keeps the item. */
    void *got = NULL;
    weft_task *g = spawn(getter, &got);
    settle();
    assert_int_equal(weft_queue_put(Q, I(7)), 0); /* handed to g, g is ready */
    weft_cancel(g);
    assert_int_equal(finish(g), 0);
    assert_int_equal(N(got), 7);

    /* A get cancelled while waiting steals nothing: the next item goes to
     * the getter still waiting. */
    void *got_a = NULL, *got_b = NULL;
    weft_task *a = spawn(getter, &got_a), *b = spawn(getter, &got_b);
    settle();
    weft_cancel(a);
    assert_int_equal(finish(a), WEFT_ECANCELED);
    assert_int_equal(weft_queue_put(Q, I(8)), 0);
    assert_int_equal(finish(b), 0);
    assert_int_equal(N(got_b), 8);
    assert_null(got_a);

    /* A put cancelled at the moment its item is taken in: put succeeded. */
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    weft_task *p = spawn(putter, I(2));
    settle();
    assert_int_equal(weft_queue_get(Q, &v), 0); /* moves 2 in, p is ready */
    weft_cancel(p);
    assert_int_equal(finish(p), 0);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 2);

    /* A put cancelled while waiting: its item never enters. */
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    p = spawn(putter, I(3));
    settle();
    weft_cancel(p);
    assert_int_equal(finish(p), WEFT_ECANCELED);
    assert_int_equal(weft_queue_get(Q, &v), 0);
    assert_int_equal(N(v), 1);
    assert_int_equal(weft_queue_get_nowait(Q, &v), -EAGAIN);

    /* Timeout scopes. */
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    int rc = weft_queue_get(Q, &v);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_int_equal(weft_queue_put(Q, I(1)), 0);
    assert_int_equal(weft_timeout_begin(0.02, &scope), 0);
    rc = weft_queue_put(Q, I(2));
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_int_equal(weft_queue_size(Q), 1);
    weft_queue_free(Q);
    return 0;
}

static void test_queue_cancel(void **state)
{
    (void)state;
    RUN_WITH(cancel_body, NULL);
}

static int free_waiters_body(void *arg)
{
    (void)arg;
    void *got;
    assert_int_equal(weft_queue_new(0, &Q), 0);
    weft_task *g = spawn(getter, &got);
    settle();
    weft_queue_free(Q);
    assert_int_equal(finish(g), WEFT_ECLOSED);
    return 0;
}

static void test_queue_free_with_waiters(void **state)
{
    (void)state;
    RUN_WITH(free_waiters_body, NULL);
}

static int alloc_body(void *arg)
{
    (void)arg;
    weft_queue *q = (weft_queue *)1;
    for (int nth = 1; nth <= 2; nth++) {
        weft__fault_arm(WEFT__FAULT_ALLOC, nth);
        assert_int_equal(weft_queue_new(0, &q), -ENOMEM);
        assert_null(q);
    }
    /* Growing the array fails: the put did nothing. */
    assert_int_equal(weft_queue_new(0, &q), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(weft_queue_put(q, I(i)), 0);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_queue_put(q, I(16)), -ENOMEM);
    assert_int_equal(weft_queue_size(q), 16);
    assert_int_equal(weft_queue_put(q, I(16)), 0);
    for (int i = 0; i <= 16; i++) {
        void *v;
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(N(v), i);
    }
    weft_queue_free(q);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    return 0;
}

static void test_queue_alloc_failures(void **state)
{
    (void)state;
    RUN_WITH(alloc_body, NULL);
}

/* Growth keeps the ring's order when it wraps. */
static int wrap_body(void *arg)
{
    (void)arg;
    weft_queue *q;
    void *v;
    assert_int_equal(weft_queue_new(0, &q), 0);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < round % 7 + 3; i++)
            assert_int_equal(weft_queue_put(q, I(next_in++)), 0);
        for (int i = 0; i < round % 5 + 1 && next_out < next_in; i++) {
            assert_int_equal(weft_queue_get(q, &v), 0);
            assert_int_equal(N(v), next_out++);
        }
    }
    while (next_out < next_in) {
        assert_int_equal(weft_queue_get(q, &v), 0);
        assert_int_equal(N(v), next_out++);
    }
    weft_queue_free(q);
    return 0;
}

static void test_queue_wrap_and_grow(void **state)
{
    (void)state;
    RUN_WITH(wrap_body, NULL);
}

static int foreign_body(void *arg)
{
    weft_queue *q = arg;
    void *v;
    if (weft_queue_put(q, NULL) != WEFT_EFOREIGN || weft_queue_get(q, &v) != WEFT_EFOREIGN ||
        weft_queue_put_nowait(q, NULL) != WEFT_EFOREIGN ||
        weft_queue_get_nowait(q, &v) != WEFT_EFOREIGN || weft_queue_join(q) != WEFT_EFOREIGN ||
        weft_queue_task_done(q) != WEFT_EFOREIGN || weft_queue_shutdown(q, 1) != WEFT_EFOREIGN)
        return -1;
    return 0;
}

static void plain_queue_calls(void *arg)
{
    weft_queue *q = arg;
    void *v;
    assert_int_equal(weft_queue_put_nowait(q, NULL), WEFT_EFOREIGN);
    assert_int_equal(weft_queue_get(q, &v), WEFT_ENOTASK);
}

static void callback_queue_calls(void *arg)
{
    weft_queue *q = arg;
    void *v;
    assert_int_equal(weft_queue_get(q, &v), WEFT_ENOTASK); /* would wait */
    assert_int_equal(weft_queue_put_nowait(q, I(5)), 0);
}

static int foreign_main(void *arg)
{
    (void)arg;
    weft_queue *q;
    void *v;
    assert_int_equal(weft_queue_new(0, &q), 0);
    assert_int_equal(weft_queue_put(q, I(1)), 0);
    assert_int_equal(run_on_other_thread(foreign_body, q), 0);
    run_on_plain_thread(plain_queue_calls, q);
    assert_int_equal(weft_call_soon(NULL, callback_queue_calls, q, NULL), 0);
    settle();
    assert_int_equal(weft_queue_size(q), 2);
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(weft_queue_get(q, &v), 0);
    assert_int_equal(N(v), 5);
    weft_queue_free(q);
    return 0;
}

static void test_queue_foreign(void **state)
{
    (void)state;
    RUN_WITH(foreign_main, NULL);
}

/* In a child forked from a task, a wait is refused (it must not run the
 * parent's loop). */
static int fork_body(void *arg)
{
    (void)arg;
    weft_queue *q;
    assert_int_equal(weft_queue_new(0, &q), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *v;
        _exit(weft_queue_get(q, &v) == WEFT_EFORKED ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    weft_queue_free(q);
    return 0;
}

static void test_queue_forked_child(void **state)
{
    (void)state;
    RUN_WITH(fork_body, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_orders),
        cmocka_unit_test(test_queue_priority),
        cmocka_unit_test(test_queue_bounded),
        cmocka_unit_test(test_queue_join),
        cmocka_unit_test(test_queue_shutdown),
        cmocka_unit_test(test_queue_cancel),
        cmocka_unit_test(test_queue_free_with_waiters),
        cmocka_unit_test(test_queue_alloc_failures),
        cmocka_unit_test(test_queue_wrap_and_grow),
        cmocka_unit_test(test_queue_foreign),
        cmocka_unit_test(test_queue_forked_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
