/* Many callers on one Redis connection: thousands of commands in flight
 * from many tasks, each getting its own reply; callers that give up
 * (cancelled, timed out) at the head, middle or tail of the queue, or half
 * way through a pipeline, never leave their reply to another caller; and a
 * storm of cancellations and timeouts over thousands of pipelined commands
 * where every caller that gets a reply gets exactly its own. */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_test.h"
#include "test_support.h"

/* ------------------------------------------------------------ in flight */

#define FLIGHT_TASKS  2000
#define FLIGHT_ROUNDS 5

typedef struct flight {
    weft_redis *c;
    int id;
    size_t peak; /* in flight seen by this task */
    int done;
} flight;

static int flight_worker(void *arg)
{
    flight *f = arg;
    char key[32], val[48];
    snprintf(key, sizeof key, "k:flight:%d", f->id);
    for (int round = 0; round < FLIGHT_ROUNDS; round++) {
        snprintf(val, sizeof val, "v%d.%d", f->id, round);
        assert_int_equal(weft_redis_commandf(f->c, NULL, "SET %s %s", key, val), 0);
        size_t n = weft_redis_in_flight(f->c);
        if (n > f->peak)
            f->peak = n;
        weft_redis_reply *r;
        assert_int_equal(weft_redis_commandf(f->c, &r, "GET %s", key), 0);
        assert_string_equal(weft_redis_reply_string(r, NULL), val);
        weft_redis_reply_free(r);
    }
    f->done = 1;
    return 0;
}

static int many_in_flight(void *arg)
{
    (void)arg;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    static flight fl[FLIGHT_TASKS];
    static weft_task *t[FLIGHT_TASKS];
    for (int i = 0; i < FLIGHT_TASKS; i++) {
        fl[i] = (flight){.c = c, .id = i};
        t[i] = SPAWN(flight_worker, &fl[i]);
    }
    assert_int_equal(weft_gather(t, FLIGHT_TASKS, 0), 0);
    size_t peak = 0;
    for (int i = 0; i < FLIGHT_TASKS; i++) {
        assert_int_equal(fl[i].done, 1);
        if (fl[i].peak > peak)
            peak = fl[i].peak;
        weft_task_free(t[i]);
    }
    /* the commands really were in flight together, not one by one */
    assert_true(peak >= FLIGHT_TASKS / 2);
    assert_int_equal(weft_redis_in_flight(c), 0);
    weft_redis_close(c);
    return 0;
}

REDIS_LOOP_TEST(many_in_flight);

/* ------------------------------------------------------------ who gives up where */

typedef struct caller {
    weft_redis *c;
    const char *cmd;
    int rc;
    char got[64];
} caller;

static int call_one(void *arg)
{
    caller *x = arg;
    weft_redis_reply *r = NULL;
    x->rc = weft_redis_commandf(x->c, &r, x->cmd);
    if (x->rc == 0) {
        const char *s = weft_redis_reply_string(r, NULL);
        snprintf(x->got, sizeof x->got, "%s", s ? s : "(not a string)");
        if (weft_redis_reply_type(r) == WEFT_REDIS_ARRAY) /* BLPOP: [key, value] */
            snprintf(x->got, sizeof x->got, "%s",
                     weft_redis_reply_string(weft_redis_reply_at(r, 1), NULL));
    }
    weft_redis_reply_free(r);
    return 0;
}

static weft_task *start(caller *x, weft_redis *c, const char *cmd)
{
    *x = (caller){.c = c, .cmd = cmd, .rc = 1};
    return SPAWN(call_one, x);
}

static void finish(weft_task *t)
{
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
}

/* Redis runs a connection's commands in order: while BLPOP blocks, the
 * commands behind it wait on the server, and their callers in our queue. */
static int give_up_anywhere(void *arg)
{
    (void)arg;
    weft_redis *c, *other;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &other), 0);
    assert_int_equal(weft_redis_commandf(other, NULL, "DEL k:q"), 0);

    /* the middle gives up */
    caller a, b, d;
    weft_task *ta = start(&a, c, "BLPOP k:q 0");
    weft_task *tb = start(&b, c, "ECHO b");
    weft_task *td = start(&d, c, "ECHO d");
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_redis_in_flight(c), 3);
    weft_cancel(tb);
    finish(tb);
    assert_int_equal(b.rc, WEFT_ECANCELED);
    assert_int_equal(weft_redis_commandf(other, NULL, "RPUSH k:q one"), 0);
    finish(ta);
    finish(td);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.got, "one");
    assert_int_equal(d.rc, 0);
    assert_string_equal(d.got, "d");

    /* the head and the tail give up; a caller behind them is right */
    ta = start(&a, c, "BLPOP k:q 0");
    tb = start(&b, c, "ECHO b");
    assert_int_equal(weft_sleep(0.05), 0);
    weft_cancel(ta);
    weft_cancel(tb);
    finish(ta);
    finish(tb);
    assert_int_equal(a.rc, WEFT_ECANCELED);
    assert_int_equal(b.rc, WEFT_ECANCELED);
    td = start(&d, c, "ECHO d2");
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(d.rc, 1); /* still behind the BLPOP on the server */
    assert_int_equal(weft_redis_commandf(other, NULL, "RPUSH k:q two"), 0);
    finish(td);
    assert_int_equal(d.rc, 0);
    assert_string_equal(d.got, "d2");

    /* a timeout scope around a call behaves as a cancel */
    ta = start(&a, c, "BLPOP k:q 0");
    assert_int_equal(weft_sleep(0.02), 0);
    weft_timeout *scope;
    weft_redis_reply *r = NULL;
    assert_int_equal(weft_timeout_begin(0.05, &scope), 0);
    int rc = weft_redis_commandf(c, &r, "ECHO mine");
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_null(r);
    assert_int_equal(weft_redis_commandf(other, NULL, "RPUSH k:q three"), 0);
    finish(ta);
    assert_string_equal(a.got, "three");
    assert_int_equal(weft_redis_commandf(c, &r, "ECHO after"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "after");
    weft_redis_reply_free(r);

    /* a pipeline that gives up half way: the replies it got stay, the rest
     * are dropped */
    weft_redis_pipeline *p;
    assert_int_equal(weft_redis_pipeline_new(&p), 0);
    weft_redis_pipeline_addf(p, "ECHO p1");
    weft_redis_pipeline_addf(p, "BLPOP k:q 0");
    weft_redis_pipeline_addf(p, "ECHO p3");
    assert_int_equal(weft_timeout_begin(0.1, &scope), 0);
    rc = weft_redis_pipeline_run(c, p);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    assert_string_equal(weft_redis_reply_string(weft_redis_pipeline_reply(p, 0), NULL), "p1");
    assert_null(weft_redis_pipeline_reply(p, 1));
    assert_null(weft_redis_pipeline_reply(p, 2));
    weft_redis_pipeline_free(p); /* freed while its replies are still due */
    td = start(&d, c, "ECHO d3");
    assert_int_equal(weft_redis_commandf(other, NULL, "RPUSH k:q four"), 0);
    finish(td);
    assert_int_equal(d.rc, 0);
    assert_string_equal(d.got, "d3");
    assert_int_equal(weft_redis_in_flight(c), 0);
    assert_int_equal(weft_redis_status(c), 0);
    weft_redis_close(c);
    weft_redis_close(other);
    return 0;
}

REDIS_LOOP_TEST(give_up_anywhere);

/* ------------------------------------------------------------ the storm */

#define STORM_TASKS 600
#define STORM_CALLS 40

typedef struct storm_stats {
    long ok, cancelled, timed_out;
} storm_stats;

typedef struct stormer {
    weft_redis *c;
    int id;
    storm_stats *st;
    unsigned seed;
} stormer;

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* One call: an ECHO, or a pipeline of three, under a random short timeout
 * scope half of the time. Every reply that arrives must be this call's. */
static int storm_call(stormer *w, int n)
{
    char tag[48];
    snprintf(tag, sizeof tag, "%d:%d", w->id, n);
    unsigned r = next_rand(&w->seed);
    weft_timeout *scope = NULL;
    if (r & 1)
        assert_int_equal(weft_timeout_begin((r >> 1) % 2000 / 1e6, &scope), 0);
    int rc;
    if (r & 2) {
        weft_redis_reply *reply = NULL;
        rc = weft_redis_commandf(w->c, &reply, "ECHO %s", tag);
        if (rc == 0)
            assert_string_equal(weft_redis_reply_string(reply, NULL), tag);
        else
            assert_null(reply);
        weft_redis_reply_free(reply);
    } else {
        weft_redis_pipeline *p;
        assert_int_equal(weft_redis_pipeline_new(&p), 0);
        for (int i = 0; i < 3; i++)
            weft_redis_pipeline_addf(p, "ECHO %s/%d", tag, i);
        rc = weft_redis_pipeline_run(w->c, p);
        for (int i = 0; i < 3; i++) {
            const weft_redis_reply *reply = weft_redis_pipeline_reply(p, (size_t)i);
            char want[64];
            snprintf(want, sizeof want, "%s/%d", tag, i);
            if (reply) /* arrived, even if the run gave up later */
                assert_string_equal(weft_redis_reply_string(reply, NULL), want);
            else
                assert_int_not_equal(rc, 0);
        }
        weft_redis_pipeline_free(p);
    }
    if (scope)
        rc = weft_timeout_end(scope, rc);
    return rc;
}

static int storm_worker(void *arg)
{
    stormer *w = arg;
    for (int n = 0; n < STORM_CALLS; n++) {
        int rc = storm_call(w, n);
        if (rc == 0)
            w->st->ok++;
        else if (rc == WEFT_ETIMEDOUT)
            w->st->timed_out++;
        else if (rc == WEFT_ECANCELED) {
            w->st->cancelled++;
            return 0; /* a cancelled task stops, as it should */
        } else
            fail_msg("task %d call %d: %s", w->id, n, weft_err_name(rc));
    }
    return 0;
}

static int storm(void *arg)
{
    (void)arg;
    weft_redis *c;
    /* a small max_pending: callers also give up while waiting for room */
    weft_redis_opts o = {.max_pending = 256};
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    static stormer w[STORM_TASKS];
    static weft_task *t[STORM_TASKS];
    storm_stats st = {0};
    for (int i = 0; i < STORM_TASKS; i++) {
        w[i] = (stormer){.c = c, .id = i, .st = &st, .seed = (unsigned)i * 7919u + 1};
        t[i] = SPAWN(storm_worker, &w[i]);
    }
    /* the canceller: a third of the tasks, at random moments */
    unsigned seed = 42;
    for (int k = 0; k < STORM_TASKS / 3; k++) {
        assert_int_equal(weft_sleep((next_rand(&seed) % 300) / 1e6), 0);
        weft_cancel(t[next_rand(&seed) % STORM_TASKS]);
    }
    assert_int_equal(weft_gather(t, STORM_TASKS, WEFT_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < STORM_TASKS; i++) {
        int rc = weft_task_result(t[i]);
        assert_true(rc == 0 || rc == WEFT_ECANCELED);
        weft_task_free(t[i]);
    }
    /* every dropped reply was taken off the connection */
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "ECHO last"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "last");
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_in_flight(c), 0);
    assert_int_equal(weft_redis_status(c), 0);
    print_message("storm: %ld replies, %ld timed out, %ld cancelled\n", st.ok, st.timed_out,
                  st.cancelled);
    /* the storm did hit calls in flight, and most calls went through */
    assert_true(st.timed_out > 0);
    assert_true(st.cancelled > 0);
    assert_true(st.ok > STORM_TASKS);
    weft_redis_close(c);
    return 0;
}

REDIS_LOOP_TEST(storm);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_give_up_anywhere),
        cmocka_unit_test(test_storm),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
