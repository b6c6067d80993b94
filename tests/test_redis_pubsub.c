/* Redis pub/sub as a subscription a task reads from, against a real
 * redis-server: channels and patterns, binary payloads, unsubscribing,
 * max_messages (reading pauses, nothing is lost), the server killed and
 * started again (messages received before are read first, the loss is
 * reported once, the subscription comes back subscribed to everything),
 * and closing under a waiting reader. */
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

static long long publish(weft_redis_pool *pool, const char *ch, const void *data, size_t len)
{
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "PUBLISH %s %b", ch, data, len), 0);
    long long n = weft_redis_reply_integer(r);
    weft_redis_reply_free(r);
    return n;
}

/* The next message, which must be on channel ch (pattern pat) with text. */
static void expect(weft_redis_sub *sub, const char *ch, const char *pat, const char *text)
{
    weft_redis_msg *m;
    assert_int_equal(weft_redis_sub_next(sub, &m), 0);
    size_t len;
    assert_string_equal(weft_redis_msg_channel(m, &len), ch);
    assert_int_equal(len, strlen(ch));
    if (pat)
        assert_string_equal(weft_redis_msg_pattern(m, NULL), pat);
    else
        assert_null(weft_redis_msg_pattern(m, &len));
    assert_string_equal(weft_redis_msg_data(m, &len), text);
    assert_int_equal(len, strlen(text));
    weft_redis_msg_free(m);
}

static int no_message_for(weft_redis_sub *sub, double seconds)
{
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(seconds, &scope), 0);
    weft_redis_msg *m = NULL;
    int rc = weft_timeout_end(scope, weft_redis_sub_next(sub, &m));
    assert_null(m);
    return rc;
}

static int basics(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    weft_redis_sub *sub;
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:a"), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:a"), 0); /* again: harmless */
    assert_int_equal(weft_redis_sub_psubscribe(sub, "ch:p*"), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, NULL), -EINVAL);
    struct weft_redis_pool_stats s;
    weft_redis_pool_stats(pool, &s);
    assert_int_equal(s.subscriptions, 1);

    assert_int_equal(publish(pool, "ch:a", "hello", 5), 1);
    assert_int_equal(publish(pool, "ch:p1", "world", 5), 1);
    expect(sub, "ch:a", NULL, "hello");
    expect(sub, "ch:p1", "ch:p*", "world");

    /* binary-safe payloads */
    char bin[300];
    for (int i = 0; i < 300; i++)
        bin[i] = (char)i;
    publish(pool, "ch:a", bin, sizeof bin);
    weft_redis_msg *m;
    assert_int_equal(weft_redis_sub_next(sub, &m), 0);
    size_t len;
    const char *d = weft_redis_msg_data(m, &len);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(d, bin, sizeof bin);
    weft_redis_msg_free(m);

    /* unsubscribed: nothing comes */
    assert_int_equal(weft_redis_sub_unsubscribe(sub, "ch:a"), 0);
    assert_int_equal(publish(pool, "ch:a", "lost", 4), 0);
    assert_int_equal(no_message_for(sub, 0.05), WEFT_ETIMEDOUT);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:b"), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:c"), 0);
    assert_int_equal(weft_redis_sub_unsubscribe(sub, NULL), 0); /* all channels */
    assert_int_equal(publish(pool, "ch:b", "x", 1), 0);
    assert_int_equal(publish(pool, "ch:p2", "still", 5), 1); /* the pattern stays */
    expect(sub, "ch:p2", "ch:p*", "still");
    assert_int_equal(weft_redis_sub_punsubscribe(sub, NULL), 0);
    assert_int_equal(publish(pool, "ch:p3", "x", 1), 0);
    assert_int_equal(weft_redis_sub_unsubscribe(sub, NULL), 0); /* with none left */
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:d"), 0);
    assert_int_equal(publish(pool, "ch:d", "back", 4), 1);
    expect(sub, "ch:d", NULL, "back");
    weft_redis_sub_close(sub);
    weft_redis_pool_stats(pool, &s);
    assert_int_equal(s.subscriptions, 0);

    /* refused by an ACL: WEFT_EREDIS, and the channel is not kept (an
     * unsubscribe from all then expects only what the server has) */
    assert_int_equal(weft_redis_pool_commandf(pool, NULL,
                                              "ACL SETUSER bob on >pw ~* "
                                              "resetchannels &ok:* +@all"),
                     0);
    char url[256];
    snprintf(url, sizeof url, "unix://bob:pw@%s", srv.sock);
    weft_redis_pool *bobs;
    assert_int_equal(weft_redis_pool_new(url, NULL, &bobs), 0);
    assert_int_equal(weft_redis_sub_open(bobs, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ok:1"), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "forbidden"), WEFT_EREDIS);
    weft_timeout *scope; /* a confirmation taken by the wrong call would hang */
    assert_int_equal(weft_timeout_begin(5, &scope), 0);
    int rc = weft_redis_sub_unsubscribe(sub, NULL);
    if (rc == 0)
        rc = weft_redis_sub_subscribe(sub, "ok:2");
    assert_int_equal(weft_timeout_end(scope, rc), 0);
    assert_int_equal(publish(pool, "ok:2", "bob", 3), 1);
    expect(sub, "ok:2", NULL, "bob");
    weft_redis_sub_close(sub);
    weft_redis_pool_close(bobs);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "ACL DELUSER bob"), 0);
    assert_int_equal(s.connections, 1); /* the shared one */
    weft_redis_pool_close(pool);
    return 0;
}

static void test_basics(void **state)
{
    (void)state;
    assert_int_equal(weft_run(basics, NULL), 0);
    assert_int_equal(weft_redis_sub_next(NULL, NULL), -EINVAL);
    weft_redis_sub_close(NULL);
}

/* ------------------------------------------------------------ a full queue */

static int full_queue(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    weft_redis_opts o = {.max_messages = 10};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    weft_redis_sub *sub;
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:full"), 0);
    weft_redis_pipeline *p;
    weft_redis_pipeline_new(&p);
    for (int i = 0; i < 500; i++)
        weft_redis_pipeline_addf(p, "PUBLISH ch:full m%d", i);
    assert_int_equal(weft_redis_pool_pipeline_run(pool, p), 0);
    weft_redis_pipeline_free(p);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_redis_sub_queued(sub), 10); /* reading paused there */
    for (int i = 0; i < 500; i++) {
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        expect(sub, "ch:full", NULL, want);
        assert_true(weft_redis_sub_queued(sub) <= 10);
    }
    assert_int_equal(no_message_for(sub, 0.02), WEFT_ETIMEDOUT);

    /* a subscribe while the queue is full and reading paused: its
     * confirmation is behind messages in the socket, so reading goes on
     * past the limit until it comes (else both would wait forever) */
    for (int i = 0; i < 30; i++)
        publish(pool, "ch:full", "again", 5);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_redis_sub_queued(sub), 10);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(5, &scope), 0);
    assert_int_equal(weft_timeout_end(scope, weft_redis_sub_subscribe(sub, "ch:more")), 0);
    assert_int_equal(weft_redis_sub_queued(sub), 30);
    publish(pool, "ch:more", "more", 4);
    for (int i = 0; i < 30; i++)
        expect(sub, "ch:full", NULL, "again");
    expect(sub, "ch:more", NULL, "more");

    /* closed with messages still queued: they are freed */
    publish(pool, "ch:full", "left", 4);
    assert_int_equal(weft_sleep(0.02), 0);
    assert_int_equal(weft_redis_sub_queued(sub), 1);
    weft_redis_sub_close(sub);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(full_queue);

/* ------------------------------------------------------------ reconnects */

typedef struct pub_until {
    weft_redis_pool *pool;
    const char *ch, *text;
    bool stop;
    int sent;
} pub_until;

/* Publishes every 10 ms until told to stop: a subscriber coming back
 * catches one of them once it has subscribed again. */
static int publisher(void *arg)
{
    pub_until *p = arg;
    while (!p->stop) {
        weft_redis_reply *r = NULL;
        if (weft_redis_pool_commandf(p->pool, &r, "PUBLISH %s %s", p->ch, p->text) == 0)
            p->sent++;
        weft_redis_reply_free(r);
        if (weft_sleep(0.01) != 0)
            break;
    }
    return 0;
}

static int reconnects(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    weft_redis_opts o = {.reconnect_min = 0.02, .reconnect_max = 0.1};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    weft_redis_sub *sub;
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:r"), 0);
    assert_int_equal(weft_redis_sub_psubscribe(sub, "pat:*"), 0);
    for (int i = 0; i < 3; i++)
        publish(pool, "ch:r", "before", 6);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_redis_sub_queued(sub), 3);

    assert_int_equal(redis_server_kill(&srv), 0);
    for (int i = 0; i < 3; i++) /* what arrived before the break comes first */
        expect(sub, "ch:r", NULL, "before");
    weft_redis_msg *m = NULL;
    assert_int_equal(weft_redis_sub_next(sub, &m), WEFT_ECONNLOST); /* once */
    assert_null(m);
    /* the server is still down: the next call tries to reconnect */
    int rc = weft_redis_sub_next(sub, &m);
    assert_true(rc == -ECONNREFUSED || rc == -ENOENT);

    assert_int_equal(redis_server_restart(&srv), 0);
    pub_until p1 = {.pool = pool, .ch = "ch:r", .text = "after"};
    weft_task *t = SPAWN(publisher, &p1);
    expect(sub, "ch:r", NULL, "after"); /* reconnected, subscribed again */
    p1.stop = true;
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    pub_until p2 = {.pool = pool, .ch = "pat:x", .text = "pattern too"};
    t = SPAWN(publisher, &p2);
    /* drain the extra "after"s, then the pattern's message */
    for (;;) {
        assert_int_equal(weft_redis_sub_next(sub, &m), 0);
        const char *pat = weft_redis_msg_pattern(m, NULL);
        bool done = pat && strcmp(pat, "pat:*") == 0;
        if (done)
            assert_string_equal(weft_redis_msg_data(m, NULL), "pattern too");
        weft_redis_msg_free(m);
        if (done)
            break;
    }
    p2.stop = true;
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);

    /* a reader waiting when the connection breaks hears it at once */
    weft_redis_sub_close(sub);
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:w"), 0);
    assert_int_equal(redis_server_kill(&srv), 0);
    assert_int_equal(weft_redis_sub_next(sub, &m), WEFT_ECONNLOST);
    assert_int_equal(redis_server_restart(&srv), 0);
    pub_until p3 = {.pool = pool, .ch = "ch:w", .text = "w"};
    t = SPAWN(publisher, &p3);
    expect(sub, "ch:w", NULL, "w");
    p3.stop = true;
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    weft_redis_sub_close(sub);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(reconnects);

/* ------------------------------------------------------------ racing to reconnect */

typedef struct reader {
    weft_redis_sub *sub;
    int rc;
} reader;

static int read_one(void *arg);

typedef struct subscriber {
    weft_redis_sub *sub;
    const char *channel;
    int rc;
} subscriber;

static int subscribe_one(void *arg)
{
    subscriber *s = arg;
    s->rc = weft_redis_sub_subscribe(s->sub, s->channel);
    return 0;
}

/* The connection is down; the reader (in next) and two tasks subscribing
 * all need it back: one connection is made, and every channel is on it. */
static int racing(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    weft_redis_opts o = {.reconnect_min = 0.05, .reconnect_max = 0.05};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    weft_redis_sub *sub;
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "race:0"), 0);
    assert_int_equal(redis_server_kill(&srv), 0);
    weft_redis_msg *m;
    assert_int_equal(weft_redis_sub_next(sub, &m), WEFT_ECONNLOST);
    assert_int_equal(redis_server_restart(&srv), 0);
    /* the server is back, the connection is not: three tasks need it at once */
    subscriber s1 = {.sub = sub, .channel = "race:1", .rc = 1};
    subscriber s2 = {.sub = sub, .channel = "race:2", .rc = 1};
    reader r0 = {.sub = sub, .rc = 1};
    weft_task *t1 = SPAWN(subscribe_one, &s1), *t2 = SPAWN(subscribe_one, &s2);
    weft_task *t0 = SPAWN(read_one, &r0);
    assert_int_equal(weft_await(t1), 0);
    assert_int_equal(weft_await(t2), 0);
    assert_int_equal(s1.rc, 0);
    assert_int_equal(s2.rc, 0);
    struct weft_redis_pool_stats st;
    weft_redis_pool_stats(pool, &st);
    assert_int_equal(st.connections, 1); /* one for the subscription, not one per caller */
    assert_int_equal(st.connects, 2);    /* the first, and one reconnect */
    assert_int_equal(publish(pool, "race:0", "race:0", 6), 1);
    assert_int_equal(weft_await(t0), 0);
    assert_int_equal(r0.rc, 0);
    weft_task_free(t0);
    weft_task_free(t1);
    weft_task_free(t2);
    for (int i = 1; i < 3; i++) {
        char ch[16];
        snprintf(ch, sizeof ch, "race:%d", i);
        assert_int_equal(publish(pool, ch, ch, strlen(ch)), 1);
        expect(sub, ch, NULL, ch);
    }
    /* closed while a reader reconnects: nothing is left behind */
    assert_int_equal(redis_server_kill(&srv), 0);
    assert_int_equal(weft_redis_sub_next(sub, &m), WEFT_ECONNLOST);
    reader r = {.sub = sub, .rc = 1};
    weft_task *t = SPAWN(read_one, &r);
    assert_int_equal(weft_sleep(0.02), 0);
    assert_int_equal(redis_server_restart(&srv), 0);
    weft_redis_sub_close(sub);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    assert_true(r.rc == WEFT_ECLOSED || r.rc == -ECONNREFUSED || r.rc == -ENOENT);
    weft_redis_pool_stats(pool, &st);
    assert_int_equal(st.subscriptions, 0);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(racing);

/* ------------------------------------------------------------ closing */

static int read_one(void *arg)
{
    reader *r = arg;
    weft_redis_msg *m = NULL;
    r->rc = weft_redis_sub_next(r->sub, &m);
    weft_redis_msg_free(m);
    return 0;
}

static int closing(void *arg)
{
    (void)arg;
    weft_redis_pool *pool, *nowhere;
    assert_int_equal(weft_redis_pool_new("unix:///nonexistent/r.sock", NULL, &nowhere), 0);
    weft_redis_sub *sub;
    assert_int_equal(weft_redis_sub_open(nowhere, &sub), -ENOENT);
    weft_redis_pool_close(nowhere);

    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:x"), 0);
    reader r1 = {.sub = sub, .rc = 1}, r2 = {.sub = sub, .rc = 1};
    weft_task *t1 = SPAWN(read_one, &r1);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_task *t2 = SPAWN(read_one, &r2);
    assert_int_equal(weft_await(t2), 0);
    assert_int_equal(r2.rc, -EBUSY); /* one reader at a time */
    weft_redis_sub_close(sub);       /* under the waiting reader */
    assert_int_equal(weft_await(t1), 0);
    assert_int_equal(r1.rc, WEFT_ECLOSED);
    weft_task_free(t1);
    weft_task_free(t2);

    /* the pool closed under a reader: the subscription stops, its handle
     * lives until closed */
    assert_int_equal(weft_redis_sub_open(pool, &sub), 0);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:y"), 0);
    r1 = (reader){.sub = sub, .rc = 1};
    t1 = SPAWN(read_one, &r1);
    assert_int_equal(weft_sleep(0.01), 0);
    weft_redis_pool_close(pool);
    assert_int_equal(weft_await(t1), 0);
    weft_task_free(t1);
    assert_int_equal(r1.rc, WEFT_ECLOSED);
    assert_int_equal(weft_redis_sub_subscribe(sub, "ch:z"), WEFT_ECLOSED);
    weft_redis_msg *m;
    assert_int_equal(weft_redis_sub_next(sub, &m), WEFT_ECLOSED);
    weft_redis_sub_close(sub); /* frees the pool at last */
    return 0;
}

REDIS_LOOP_TEST(closing);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),     cmocka_unit_test(test_full_queue),
        cmocka_unit_test(test_reconnects), cmocka_unit_test(test_racing),
        cmocka_unit_test(test_closing),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
