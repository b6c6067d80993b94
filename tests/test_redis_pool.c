/* The Redis pool against a real redis-server: commands over the shared
 * connections, dedicated connections lent and given back (BRPOP on one
 * does not hold up anything else), max_connections, a server killed in the
 * middle of a run (errors, backoff between attempts, reconnect once it is
 * back), and closing the pool under every kind of waiter. */
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

static struct weft_redis_pool_stats stats(weft_redis_pool *pool)
{
    struct weft_redis_pool_stats s;
    assert_int_equal(weft_redis_pool_stats(pool, &s), 0);
    return s;
}

static void echo(weft_redis_pool *pool, const char *word)
{
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "ECHO %s", word), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), word);
    weft_redis_reply_free(r);
}

/* ------------------------------------------------------------ basics */

typedef struct many {
    weft_redis_pool *pool;
    int id;
} many;

static int many_worker(void *arg)
{
    many *m = arg;
    char w[16];
    for (int i = 0; i < 20; i++) {
        snprintf(w, sizeof w, "%d-%d", m->id, i);
        echo(m->pool, w);
    }
    return 0;
}

static int basics(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new("redis://h:99999", NULL, &pool), -EINVAL);
    weft_redis_opts bad = {.shared_connections = 5, .max_connections = 4};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &bad, &pool), -EINVAL);
    weft_redis_opts o = {.shared_connections = 3, .client_name = "pooled"};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    assert_int_equal(stats(pool).connections, 0); /* nothing until used */

    const char *argv[] = {"SET", "k:pool", "v"};
    assert_int_equal(weft_redis_pool_command(pool, 3, argv, NULL, NULL), 0);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "INCR k:pool"), WEFT_EREDIS);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "SUBSCRIBE x"), -EINVAL);
    assert_int_equal(weft_redis_pool_command(pool, 0, argv, NULL, NULL), -EINVAL);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "CLIENT GETNAME"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "pooled");
    weft_redis_reply_free(r);

    many m[30];
    weft_task *t[30];
    for (int i = 0; i < 30; i++) {
        m[i] = (many){.pool = pool, .id = i};
        t[i] = SPAWN(many_worker, &m[i]);
    }
    assert_int_equal(weft_gather(t, 30, 0), 0);
    for (int i = 0; i < 30; i++)
        weft_task_free(t[i]);
    struct weft_redis_pool_stats s = stats(pool);
    assert_int_equal(s.connections, 3); /* the shared ones, no more */
    assert_int_equal(s.connects, 3);
    assert_int_equal(s.connect_failures, 0);

    weft_redis_pipeline *p;
    weft_redis_pipeline_new(&p);
    weft_redis_pipeline_addf(p, "MULTI");
    weft_redis_pipeline_addf(p, "INCR k:pool:n");
    weft_redis_pipeline_addf(p, "INCR k:pool:n");
    weft_redis_pipeline_addf(p, "EXEC");
    assert_int_equal(weft_redis_pool_pipeline_run(pool, p), 0);
    assert_int_equal(weft_redis_reply_count(weft_redis_pipeline_reply(p, 3)), 2);
    weft_redis_pipeline_free(p);
    assert_int_equal(weft_redis_pool_pipeline_run(pool, NULL), -EINVAL);
    weft_redis_pool_close(pool);
    return 0;
}

static void test_basics(void **state)
{
    (void)state;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), WEFT_ENOTASK);
    assert_int_equal(weft_run(basics, NULL), 0);
    weft_redis_pool_close(NULL);
    assert_int_equal(weft_redis_pool_stats(NULL, NULL), -EINVAL);
}

/* ------------------------------------------------------------ lending */

typedef struct blocker {
    weft_redis_pool *pool;
    int rc;
    char got[32];
    bool done;
} blocker;

static int brpop_worker(void *arg)
{
    blocker *b = arg;
    weft_redis *c;
    assert_int_equal(weft_redis_pool_acquire(b->pool, &c), 0);
    weft_redis_reply *r = NULL;
    b->rc = weft_redis_commandf(c, &r, "BRPOP k:jobs 0");
    if (b->rc == 0)
        snprintf(b->got, sizeof b->got, "%s",
                 weft_redis_reply_string(weft_redis_reply_at(r, 1), NULL));
    weft_redis_reply_free(r);
    weft_redis_pool_release(b->pool, c);
    b->done = true;
    return 0;
}

static int lending(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.tcp_url, NULL, &pool), 0);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "DEL k:jobs"), 0);
    blocker b = {.pool = pool};
    weft_task *t = SPAWN(brpop_worker, &b);
    assert_int_equal(weft_sleep(0.05), 0);
    /* the BRPOP blocks its own connection only */
    for (int i = 0; i < 200; i++)
        echo(pool, "meanwhile");
    assert_false(b.done);
    assert_int_equal(stats(pool).lent, 1);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "LPUSH k:jobs job1"), 0);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.got, "job1");
    struct weft_redis_pool_stats s = stats(pool);
    assert_int_equal(s.lent, 0);
    assert_int_equal(s.idle, 1); /* healthy and quiet: kept */
    assert_int_equal(s.connections, 2);
    /* the next acquire reuses it */
    weft_redis *c;
    assert_int_equal(weft_redis_pool_acquire(pool, &c), 0);
    assert_int_equal(stats(pool).connects, 2);
    /* WATCH on a dedicated connection: an optimistic transaction */
    assert_int_equal(weft_redis_commandf(c, NULL, "WATCH k:w"), 0);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "SET k:w other"), 0);
    weft_redis_pipeline *p;
    weft_redis_pipeline_new(&p);
    weft_redis_pipeline_addf(p, "MULTI");
    weft_redis_pipeline_addf(p, "SET k:w mine");
    weft_redis_pipeline_addf(p, "EXEC");
    assert_int_equal(weft_redis_pipeline_run(c, p), 0);
    assert_int_equal(weft_redis_reply_type(weft_redis_pipeline_reply(p, 2)), WEFT_REDIS_NIL);
    weft_redis_pipeline_free(p);
    weft_redis_pool_release(pool, c);

    /* a lent connection given back with a command still blocked on it (its
     * caller gave up) is closed, not kept */
    assert_int_equal(weft_redis_pool_acquire(pool, &c), 0);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.05, &scope), 0);
    int rc = weft_redis_commandf(c, NULL, "BRPOP k:jobs 0");
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    weft_redis_pool_release(pool, c);
    s = stats(pool);
    assert_int_equal(s.idle, 0);
    assert_int_equal(s.connections, 1);
    /* weft_redis_close on a lent connection gives it back; giving it back
     * twice does nothing more */
    assert_int_equal(weft_redis_pool_acquire(pool, &c), 0);
    weft_redis_close(c);
    s = stats(pool);
    assert_int_equal(s.lent, 0);
    assert_int_equal(s.idle, 1);
    weft_redis_pool_release(pool, c);
    s = stats(pool);
    assert_int_equal(s.lent, 0);
    assert_int_equal(s.idle, 1);
    /* release of something not lent by this pool is ignored */
    weft_redis_pool_release(pool, NULL);
    weft_redis *own;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &own), 0);
    weft_redis_pool_release(pool, own);
    assert_int_equal(weft_redis_status(own), 0);
    weft_redis_close(own);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(lending);

typedef struct acq {
    weft_redis_pool *pool;
    int rc;
    weft_redis *c;
} acq;

static int acquire_worker(void *arg)
{
    acq *a = arg;
    a->rc = weft_redis_pool_acquire(a->pool, &a->c);
    return 0;
}

static int max_connections(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    weft_redis_opts o = {.max_connections = 2};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    echo(pool, "shared"); /* 1: the shared connection */
    weft_redis *c1;
    assert_int_equal(weft_redis_pool_acquire(pool, &c1), 0); /* 2 */
    acq a = {.pool = pool, .rc = 1}, b = {.pool = pool, .rc = 1};
    weft_task *ta = SPAWN(acquire_worker, &a);
    weft_task *tb = SPAWN(acquire_worker, &b);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(a.rc, 1); /* both wait */
    assert_int_equal(b.rc, 1);
    assert_int_equal(stats(pool).connections, 2);
    weft_cancel(ta); /* one gives up */
    assert_int_equal(weft_await(ta), 0);
    assert_int_equal(a.rc, WEFT_ECANCELED);
    weft_redis_pool_release(pool, c1);
    assert_int_equal(weft_await(tb), 0);
    assert_int_equal(b.rc, 0);
    assert_true(b.c == c1); /* the one given back */
    assert_int_equal(stats(pool).connections, 2);
    weft_redis_pool_release(pool, b.c);
    weft_task_free(ta);
    weft_task_free(tb);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(max_connections);

/* ------------------------------------------------------------ a server killed */

typedef struct hammer {
    weft_redis_pool *pool;
    bool stop;
    long ok, lost, refused, other;
    int last_other;
} hammer;

static int hammer_worker(void *arg)
{
    hammer *h = arg;
    while (!h->stop) {
        weft_redis_reply *r = NULL;
        int rc = weft_redis_pool_commandf(h->pool, &r, "INCR k:hammer");
        weft_redis_reply_free(r);
        if (rc == 0)
            h->ok++;
        else if (rc == WEFT_ECONNLOST)
            h->lost++;
        else if (rc == -ECONNREFUSED || rc == -ENOENT)
            h->refused++;
        else {
            h->other++;
            h->last_other = rc;
        }
        if (rc != 0 && rc != WEFT_ECONNLOST && weft_sleep(0.001) != 0)
            break;
    }
    return 0;
}

static int server_killed(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    weft_redis_opts o = {.reconnect_min = 0.05, .reconnect_max = 0.2};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    hammer h = {.pool = pool};
    weft_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = SPAWN(hammer_worker, &h);
    weft_redis *lent;
    assert_int_equal(weft_redis_pool_acquire(pool, &lent), 0);
    while (h.ok < 1000)
        assert_int_equal(weft_sleep(0.001), 0);

    assert_int_equal(redis_server_kill(&srv), 0);
    assert_int_equal(weft_sleep(0.6), 0);
    struct weft_redis_pool_stats s = stats(pool);
    print_message("server down 0.6 s: %ld lost in flight, %ld refused, %llu connect attempts\n",
                  h.lost, h.refused, (unsigned long long)s.connect_failures);
    assert_true(h.lost > 0);    /* in flight when it died */
    assert_true(h.refused > 0); /* the reconnects that failed */
    assert_true(s.connect_failures >= 2);
    /* backoff: 0.05, 0.1, 0.2, 0.2... between attempts, not a flood (20
     * tasks retrying every millisecond would make hundreds) */
    assert_true(s.connect_failures <= 12);
    assert_true(s.last_error == -ECONNREFUSED || s.last_error == -ENOENT);
    /* the lent connection broke too */
    assert_int_equal(weft_redis_commandf(lent, NULL, "PING"), WEFT_ECONNLOST);
    weft_redis_pool_release(pool, lent);
    assert_int_equal(stats(pool).idle, 0);

    assert_int_equal(redis_server_restart(&srv), 0);
    long before = h.ok;
    for (int i = 0; i < 500 && h.ok < before + 1000; i++)
        assert_int_equal(weft_sleep(0.01), 0);
    assert_true(h.ok >= before + 1000); /* reconnected and busy again */
    h.stop = true;
    assert_int_equal(weft_gather(t, 20, 0), 0);
    for (int i = 0; i < 20; i++)
        weft_task_free(t[i]);
    if (h.other)
        fail_msg("unexpected errors: %ld (last %s)", h.other, weft_err_name(h.last_other));
    assert_int_equal(weft_redis_pool_acquire(pool, &lent), 0);
    assert_int_equal(weft_redis_commandf(lent, NULL, "PING"), 0);
    weft_redis_pool_release(pool, lent);
    assert_true(stats(pool).connects >= 3);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(server_killed);

/* ------------------------------------------------------------ kombu's way */

/* What a Celery worker does with Redis, as kombu and celery's backend do
 * it: a message pushed on a queue list, popped with BRPOP on a dedicated
 * connection, kept in the unacked hash and sorted set, a Lua script run by
 * sha with the NOSCRIPT fallback, then acked and its result stored with
 * SETEX and PUBLISHed in one transaction, which a subscriber waiting for
 * that result receives. */
static const char *restore_script =
    "local n = 0 "
    "for _, tag in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do "
    "  n = n + 1 "
    "end "
    "return n";

static int kombu_style(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    assert_int_equal(weft_redis_pool_new(srv.unix_url, NULL, &pool), 0);
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "DEL celery unacked unacked_index"), 0);
    weft_redis_sub *results;
    assert_int_equal(weft_redis_sub_open(pool, &results), 0);
    assert_int_equal(weft_redis_sub_subscribe(results, "celery-task-meta-42"), 0);

    const char *msg = "{\"body\": \"W1tdLCB7fV0=\", \"properties\": {\"delivery_tag\": \"t42\"}}";
    assert_int_equal(weft_redis_pool_commandf(pool, NULL, "LPUSH celery %s", msg), 0);
    weft_redis *consumer;
    assert_int_equal(weft_redis_pool_acquire(pool, &consumer), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(consumer, &r, "BRPOP celery 1"), 0);
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(r, 0), NULL), "celery");
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(r, 1), NULL), msg);
    weft_redis_reply_free(r);
    weft_redis_pool_release(pool, consumer);

    weft_redis_pipeline *p;
    weft_redis_pipeline_new(&p);
    weft_redis_pipeline_addf(p, "MULTI");
    weft_redis_pipeline_addf(p, "ZADD unacked_index %f t42", 1000.5);
    weft_redis_pipeline_addf(p, "HSET unacked t42 %s", msg);
    weft_redis_pipeline_addf(p, "EXEC");
    assert_int_equal(weft_redis_pool_pipeline_run(pool, p), 0);
    assert_int_equal(weft_redis_reply_count(weft_redis_pipeline_reply(p, 3)), 2);
    weft_redis_pipeline_free(p);
    assert_int_equal(
        weft_redis_pool_commandf(pool, &r, "ZRANGEBYSCORE unacked_index -inf +inf WITHSCORES"), 0);
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(r, 0), NULL), "t42");
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(r, 1), NULL), "1000.5");
    weft_redis_reply_free(r);

    /* EVALSHA first; NOSCRIPT sends the script itself once */
    const char *sha = "0123456789abcdef0123456789abcdef01234567";
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "EVALSHA %s 1 unacked_index 2000", sha), 0);
    assert_non_null(weft_redis_reply_error(r));
    assert_true(strncmp(weft_redis_reply_error(r), "NOSCRIPT", 8) == 0);
    weft_redis_reply_free(r);
    assert_int_equal(
        weft_redis_pool_commandf(pool, &r, "EVAL %s 1 unacked_index 2000", restore_script), 0);
    assert_int_equal(weft_redis_reply_integer(r), 1);
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "SCRIPT LOAD %s", restore_script), 0);
    char loaded[48];
    snprintf(loaded, sizeof loaded, "%s", weft_redis_reply_string(r, NULL));
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "EVALSHA %s 1 unacked_index 2000", loaded),
                     0);
    assert_int_equal(weft_redis_reply_integer(r), 1);
    weft_redis_reply_free(r);

    /* ack, and the result where AsyncResult.get() looks for it */
    const char *meta = "{\"status\": \"SUCCESS\", \"result\": 5, \"task_id\": \"42\"}";
    weft_redis_pipeline_new(&p);
    weft_redis_pipeline_addf(p, "MULTI");
    weft_redis_pipeline_addf(p, "ZREM unacked_index t42");
    weft_redis_pipeline_addf(p, "HDEL unacked t42");
    weft_redis_pipeline_addf(p, "SETEX celery-task-meta-42 86400 %s", meta);
    weft_redis_pipeline_addf(p, "PUBLISH celery-task-meta-42 %s", meta);
    weft_redis_pipeline_addf(p, "EXEC");
    assert_int_equal(weft_redis_pool_pipeline_run(pool, p), 0);
    const weft_redis_reply *ex = weft_redis_pipeline_reply(p, 5);
    assert_int_equal(weft_redis_reply_count(ex), 4);
    assert_int_equal(weft_redis_reply_integer(weft_redis_reply_at(ex, 3)), 1); /* one listener */
    weft_redis_pipeline_free(p);
    weft_redis_msg *m;
    assert_int_equal(weft_redis_sub_next(results, &m), 0);
    assert_string_equal(weft_redis_msg_data(m, NULL), meta);
    weft_redis_msg_free(m);
    assert_int_equal(weft_redis_pool_commandf(pool, &r, "TTL celery-task-meta-42"), 0);
    assert_true(weft_redis_reply_integer(r) > 86000 && weft_redis_reply_integer(r) <= 86400);
    weft_redis_reply_free(r);
    weft_redis_sub_close(results);
    weft_redis_pool_close(pool);
    return 0;
}

REDIS_LOOP_TEST(kombu_style);

/* ------------------------------------------------------------ closing */

typedef struct waiter {
    weft_redis_pool *pool;
    int kind;
    int rc;
} waiter;

static int close_waiter(void *arg)
{
    waiter *w = arg;
    weft_redis *c = NULL;
    switch (w->kind) {
    case 0: /* a command blocked on the shared connection */
        w->rc = weft_redis_pool_commandf(w->pool, NULL, "BLPOP k:never 0");
        break;
    case 1: /* an acquire waiting for room */
        w->rc = weft_redis_pool_acquire(w->pool, &c);
        break;
    case 2: /* a command waiting for the backoff (the pool to nowhere) */
        w->rc = weft_redis_pool_commandf(w->pool, NULL, "PING");
        break;
    }
    return 0;
}

static int closing(void *arg)
{
    (void)arg;
    weft_redis_pool *pool, *nowhere;
    weft_redis_opts o = {.max_connections = 2};
    assert_int_equal(weft_redis_pool_new(srv.unix_url, &o, &pool), 0);
    o = (weft_redis_opts){.reconnect_min = 30};
    assert_int_equal(weft_redis_pool_new("unix:///nonexistent/r.sock", &o, &nowhere), 0);
    assert_int_equal(weft_redis_pool_commandf(nowhere, NULL, "PING"), -ENOENT);
    weft_redis *lent;
    assert_int_equal(weft_redis_pool_acquire(pool, &lent), 0);
    waiter w[3] = {{pool, 0, 1}, {pool, 1, 1}, {nowhere, 2, 1}};
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = SPAWN(close_waiter, &w[i]);
    assert_int_equal(weft_sleep(0.05), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].rc, 1);
    double t0 = weft_time();
    weft_redis_pool_close(pool);
    weft_redis_pool_close(nowhere);
    assert_int_equal(weft_gather(t, 3, 0), 0);
    assert_true(weft_time() - t0 < 5); /* not the 30 s backoff */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].rc, WEFT_ECLOSED);
        weft_task_free(t[i]);
    }
    /* the lent connection stopped, its handle lives until given back */
    assert_int_equal(weft_redis_status(lent), WEFT_ECLOSED);
    assert_int_equal(weft_redis_commandf(lent, NULL, "PING"), WEFT_ECLOSED);
    weft_redis_pool_release(pool, lent); /* frees the pool at last */
    return 0;
}

REDIS_LOOP_TEST(closing);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),          cmocka_unit_test(test_lending),
        cmocka_unit_test(test_max_connections), cmocka_unit_test(test_server_killed),
        cmocka_unit_test(test_kombu_style),     cmocka_unit_test(test_closing),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
