/* The Redis client against servers that misbehave, and under allocation
 * failures. The misbehaving servers are small fakes on weft's Unix server
 * (the one place the tests use a fake: protocol garbage that a real
 * redis-server never sends): malformed replies, replies to no command,
 * truncated replies, bulk strings and arrays announced huge, nesting too
 * deep. Then every allocation of a connect, a command, a pipeline and a
 * pool call is made to fail in turn, against the real server: each call
 * returns a code, nothing leaks (ASan and Valgrind runs), and the
 * connection either works or says why it does not. */
/* weft:timeout=300 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "redis_test.h"
#include "test_support.h"

/* ------------------------------------------------------------ a fake server */

typedef struct fake {
    const char *greeting; /* sent on accept, before any command */
    const char *answer;   /* sent for each read of a command */
    size_t answer_len;    /* 0: strlen */
    size_t flood;         /* then this many bytes of 'x' */
    int close_after;      /* close after this many answers (0: never) */
} fake;

static int fake_handler(weft_stream *s, void *arg)
{
    fake *f = arg;
    if (f->greeting && weft_stream_write(s, f->greeting, strlen(f->greeting)) != 0)
        return 0; /* the client left first */
    char buf[4096];
    int answers = 0;
    while (weft_stream_read(s, buf, sizeof buf) > 0) {
        if (f->answer) {
            size_t n = f->answer_len ? f->answer_len : strlen(f->answer);
            if (weft_stream_write(s, f->answer, n) != 0)
                break;
        }
        for (size_t sent = 0; sent < f->flood; sent += sizeof buf) {
            memset(buf, 'x', sizeof buf);
            if (weft_stream_write(s, buf, sizeof buf) != 0)
                return 0;
        }
        if (f->close_after && ++answers >= f->close_after)
            break;
    }
    return 0;
}

typedef struct faked {
    weft_server *server;
    char url[200];
} faked;

static void fake_start(faked *fk, fake *f, const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s.sock", srv.dir, name);
    assert_int_equal(weft_unix_serve(path, fake_handler, f, NULL, &fk->server), 0);
    snprintf(fk->url, sizeof fk->url, "unix://%s", path);
}

typedef struct caller {
    weft_redis *c;
    int rc;
} caller;

static int ping(void *arg)
{
    caller *x = arg;
    weft_redis_reply *r = NULL;
    x->rc = weft_redis_commandf(x->c, &r, "PING");
    weft_redis_reply_free(r);
    return 0;
}

/* Two callers in flight when the answer comes: the first hears `head`,
 * the second WEFT_ECONNLOST, and the connection stays broken. */
static void two_callers(const char *url, const weft_redis_opts *o, int head)
{
    weft_redis *c;
    assert_int_equal(weft_redis_connect(url, o, &c), 0);
    caller a = {.c = c, .rc = 1}, b = {.c = c, .rc = 1};
    weft_task *ta = SPAWN(ping, &a), *tb = SPAWN(ping, &b);
    assert_int_equal(weft_await(ta), 0);
    assert_int_equal(weft_await(tb), 0);
    weft_task_free(ta);
    weft_task_free(tb);
    if (a.rc != head)
        fail_msg("%s: the head got %s, not %s", url, weft_err_name(a.rc), weft_err_name(head));
    assert_int_equal(b.rc, WEFT_ECONNLOST);
    assert_int_equal(weft_redis_status(c), head == WEFT_ECONNLOST ? WEFT_ECONNLOST : head);
    assert_int_equal(weft_redis_commandf(c, NULL, "PING"), weft_redis_status(c));
    weft_redis_close(c);
}

static int garbage(void *arg)
{
    (void)arg;
    static fake bad_type = {.answer = "!garbage\r\n"};
    static fake bad_int = {.answer = ":12x\r\n"};
    static fake bad_len = {.answer = "$-5\r\n"};
    static fake truncated = {.answer = "$10\r\nabc", .close_after = 1};
    static fake closes = {.close_after = 1};
    static fake huge_array = {.answer = "*2147483647\r\n"};
    static fake deep = {.answer = "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"};
    static fake big_bulk = {.answer = "$999999999999\r\n", .flood = 3u << 20};
    faked f[8];
    fake_start(&f[0], &bad_type, "type");
    fake_start(&f[1], &bad_int, "int");
    fake_start(&f[2], &bad_len, "len");
    fake_start(&f[3], &truncated, "trunc");
    fake_start(&f[4], &closes, "closes");
    fake_start(&f[5], &huge_array, "array");
    fake_start(&f[6], &deep, "deep");
    fake_start(&f[7], &big_bulk, "bulk");
    two_callers(f[0].url, NULL, WEFT_EPROTOCOL);
    two_callers(f[1].url, NULL, WEFT_EPROTOCOL);
    two_callers(f[2].url, NULL, WEFT_EPROTOCOL);
    two_callers(f[3].url, NULL, WEFT_ECONNLOST);
    two_callers(f[4].url, NULL, WEFT_ECONNLOST);
    /* refused before anything is allocated for its 2^31 elements */
    two_callers(f[5].url, NULL, WEFT_ELIMIT);
    /* our max_depth (7) speaks before hiredis's own bound */
    two_callers(f[6].url, NULL, WEFT_ELIMIT);
    /* a bulk announced at ~1 TB: refused once 1 MiB of it is buffered */
    weft_redis_opts o = {.max_reply = 1u << 20};
    two_callers(f[7].url, &o, WEFT_ELIMIT);
    for (int i = 0; i < 8; i++)
        assert_int_equal(weft_server_close(f[i].server, 0), 0);
    return 0;
}

REDIS_LOOP_TEST(garbage);

static int unsolicited(void *arg)
{
    (void)arg;
    /* a reply before any command, and two replies to one command */
    static fake early = {.greeting = "+HELLO\r\n"};
    static fake twice = {.answer = "+PONG\r\n+PONG\r\n"};
    faked f1, f2;
    fake_start(&f1, &early, "early");
    fake_start(&f2, &twice, "twice");
    weft_redis *c;
    assert_int_equal(weft_redis_connect(f1.url, NULL, &c), 0);
    for (int i = 0; i < 100 && weft_redis_status(c) == 0; i++)
        assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_redis_status(c), WEFT_EPROTOCOL);
    assert_int_equal(weft_redis_commandf(c, NULL, "PING"), WEFT_EPROTOCOL);
    weft_redis_close(c);
    assert_int_equal(weft_redis_connect(f2.url, NULL, &c), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "PING"), 0); /* the first is ours */
    assert_string_equal(weft_redis_reply_string(r, NULL), "PONG");
    weft_redis_reply_free(r);
    for (int i = 0; i < 100 && weft_redis_status(c) == 0; i++)
        assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_redis_status(c), WEFT_EPROTOCOL);
    weft_redis_close(c);
    /* garbage during the handshake fails the connect */
    static fake bad_auth = {.answer = "?\r\n"};
    faked f3;
    fake_start(&f3, &bad_auth, "auth");
    char url[220];
    snprintf(url, sizeof url, "unix://:pw@%s", f3.url + strlen("unix://"));
    assert_int_equal(weft_redis_connect(url, NULL, &c), WEFT_EPROTOCOL);
    assert_int_equal(weft_server_close(f1.server, 0), 0);
    assert_int_equal(weft_server_close(f2.server, 0), 0);
    assert_int_equal(weft_server_close(f3.server, 0), 0);
    return 0;
}

REDIS_LOOP_TEST(unsolicited);

/* ------------------------------------------------------------ allocation failures */

static bool unfired; /* the last round ended before its armed allocation */

static bool acceptable(int rc)
{
    return rc == 0 || rc == -ENOMEM || rc == WEFT_ECONNLOST || rc == WEFT_ESTACK;
}

/* One round of everything, with the nth allocation failing. */
static int one_round(void *arg)
{
    long nth = *(long *)arg;
    weft_redis *c = NULL;
    weft_redis_pool *pool = NULL;
    weft_redis_pipeline *p = NULL;
    weft__fault_arm(WEFT__FAULT_ALLOC, nth);
    int rc = weft_redis_connect(srv.unix_url, NULL, &c);
    if (!acceptable(rc))
        fail_msg("alloc %ld: connect gave %s", nth, weft_err_name(rc));
    if (rc == 0) {
        weft_redis_reply *r = NULL;
        rc = weft_redis_commandf(c, &r, "MGET k:a k:b");
        if (!acceptable(rc))
            fail_msg("alloc %ld: command gave %s", nth, weft_err_name(rc));
        weft_redis_reply_free(r);
        if (weft_redis_pipeline_new(&p) == 0) {
            /* an add that fails is remembered: the run returns its error */
            weft_redis_pipeline_addf(p, "ECHO one");
            weft_redis_pipeline_addf(p, "ECHO two");
            rc = weft_redis_pipeline_run(c, p);
            if (!acceptable(rc) && rc != weft_redis_status(c))
                fail_msg("alloc %ld: pipeline gave %s", nth, weft_err_name(rc));
            weft_redis_pipeline_free(p);
        }
        weft_redis_close(c);
    }
    rc = weft_redis_pool_new(srv.unix_url, NULL, &pool);
    if (rc == 0) {
        rc = weft_redis_pool_commandf(pool, NULL, "PING");
        if (!acceptable(rc))
            fail_msg("alloc %ld: pool command gave %s", nth, weft_err_name(rc));
        weft_redis_sub *sub;
        rc = weft_redis_sub_open(pool, &sub);
        if (rc == 0) {
            rc = weft_redis_sub_subscribe(sub, "ch");
            if (!acceptable(rc))
                fail_msg("alloc %ld: subscribe gave %s", nth, weft_err_name(rc));
            if (rc == 0 && weft_redis_pool_commandf(pool, NULL, "PUBLISH ch x") == 0) {
                /* queuing the message may be what fails: then the
                 * subscription reports the loss and comes back */
                weft_timeout *scope;
                weft_redis_msg *m = NULL;
                if (weft_timeout_begin(2, &scope) == 0) { /* a scope is an allocation too */
                    rc = weft_timeout_end(scope, weft_redis_sub_next(sub, &m));
                    if (!acceptable(rc) && rc != WEFT_ETIMEDOUT)
                        fail_msg("alloc %ld: next gave %s", nth, weft_err_name(rc));
                    weft_redis_msg_free(m);
                }
            }
            weft_redis_sub_close(sub);
        } else if (!acceptable(rc)) {
            fail_msg("alloc %ld: sub_open gave %s", nth, weft_err_name(rc));
        }
        weft_redis_pool_close(pool);
    } else {
        assert_int_equal(rc, -ENOMEM);
    }
    /* Did the nth allocation come? If not, the countdown is still
     * running and one of these fails. */
    unfired = false;
    for (long i = 0; i < nth && !unfired; i++) {
        void *q = weft__malloc(1);
        unfired = q == NULL;
        free(q);
    }
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    return 0;
}

/* Every allocation of the round fails in turn, until a round makes fewer
 * allocations than the one armed: then every one was tried. */
static void test_alloc_failures(void **state)
{
    (void)state;
    long nth;
    unfired = false;
    for (nth = 1; nth <= 3000 && !unfired; nth++) {
        int rc = weft_run(one_round, &nth);
        weft__fault_arm(WEFT__FAULT_ALLOC, 0);
        /* the loop itself may be what could not be made */
        assert_true(rc == 0 || rc == -ENOMEM || rc == WEFT_ESTACK);
    }
    assert_true(unfired);
    print_message("every one of %ld allocations failed in turn\n", nth - 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_unsolicited),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
