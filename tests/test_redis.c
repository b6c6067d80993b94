/* The Redis client against a real redis-server (Debian's, started here on a
 * Unix socket and a TCP port in a temp dir): connecting (URLs, AUTH,
 * SELECT, client name), every reply type, binary-safe and large values,
 * the printf-like form, errors, refused commands, pipelines and MULTI/EXEC,
 * and every limit (max_reply, max_depth, max_pending, connect_timeout,
 * command_timeout). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"
#include "redis_test.h"
#include "test_support.h"

/* A command whose reply the test only checks for success. */
static void ok(weft_redis *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = weft_redis_vcommandf(c, fmt, ap, NULL);
    va_end(ap);
    assert_int_equal(rc, 0);
}

/* ------------------------------------------------------------ URLs */

static void url_ok(const char *url, bool is_unix, const char *host, int port, const char *path,
                   const char *user, const char *pass, int db, const char *name)
{
    weft__redis_url u;
    int rc = weft__redis_url_parse(url, &u);
    if (rc != 0)
        fail_msg("%s: %s", url, weft_strerror(rc));
    assert_int_equal(u.is_unix, is_unix);
    if (host)
        assert_string_equal(u.host, host);
    else
        assert_null(u.host);
    assert_int_equal(u.port, port);
    if (path)
        assert_string_equal(u.path, path);
    else
        assert_null(u.path);
    if (user)
        assert_string_equal(u.username, user);
    else
        assert_null(u.username);
    if (pass)
        assert_string_equal(u.password, pass);
    else
        assert_null(u.password);
    assert_int_equal(u.db, db);
    if (name)
        assert_string_equal(u.client_name, name);
    else
        assert_null(u.client_name);
    weft__redis_url_free(&u);
}

static void test_url_parse(void **state)
{
    (void)state;
    url_ok("redis://", false, "localhost", 6379, NULL, NULL, NULL, 0, NULL);
    url_ok("redis://h", false, "h", 6379, NULL, NULL, NULL, 0, NULL);
    url_ok("redis://h:1234/5", false, "h", 1234, NULL, NULL, NULL, 5, NULL);
    url_ok("redis://:pw@h/", false, "h", 6379, NULL, NULL, "pw", 0, NULL);
    url_ok("redis://u:p%40ss%3A@10.0.0.1:7000/2?name=w1", false, "10.0.0.1", 7000, NULL, "u",
           "p@ss:", 2, "w1");
    url_ok("redis://:a@b@h", false, "h", 6379, NULL, NULL, "a@b", 0, NULL);
    url_ok("redis://[::1]:6380", false, "::1", 6380, NULL, NULL, NULL, 0, NULL);
    url_ok("redis://[::1]", false, "::1", 6379, NULL, NULL, NULL, 0, NULL);
    url_ok("redis://h?db=3&password=x", false, "h", 6379, NULL, NULL, "x", 3, NULL);
    url_ok("unix:///tmp/r.sock", true, NULL, 0, "/tmp/r.sock", NULL, NULL, 0, NULL);
    url_ok("unix://:pw@/tmp/r.sock?db=1", true, NULL, 0, "/tmp/r.sock", NULL, "pw", 1, NULL);
    url_ok("unix:///tmp/a%20b.sock", true, NULL, 0, "/tmp/a b.sock", NULL, NULL, 0, NULL);
}

static void test_url_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "http://h",
        "redis:/h",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12x",
        "redis://h:",
        "redis://h/x",
        "redis://h/1/2",
        "redis://h/-1",
        "redis://h/99999999999",
        "redis://h h",
        "redis://h\n",
        "redis://h#frag",
        "redis://[::1",
        "redis://[]",
        "redis://[::1]x",
        "redis://[zz]",
        "redis://h?db",
        "redis://h?db=1&",
        "redis://h?nope=1",
        "redis://h?name=",
        "redis://:p@h?password=q",
        "redis://user@h",
        "redis://:p%4@h",
        "redis://:p%zz@h",
        "redis://:p%00@h",
        "redis://h!",
        "unix://",
        "unix://relative",
        "unix:///",
        "unix://x/tmp/s",
        "unix:///tmp/s?db=x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        weft__redis_url u;
        int rc = weft__redis_url_parse(bad[i], &u);
        if (rc != -EINVAL)
            fail_msg("'%s' gave %s", bad[i], weft_err_name(rc));
    }
    char longpath[200] = "unix:///";
    memset(longpath + 8, 'a', 150);
    longpath[158] = '\0';
    weft__redis_url u;
    assert_int_equal(weft__redis_url_parse(longpath, &u), -ENAMETOOLONG);
    assert_int_equal(weft__redis_url_parse(NULL, &u), -EINVAL);
}

static int bad_connects(void *arg)
{
    (void)arg;
    weft_redis *c = (weft_redis *)1;
    assert_int_equal(weft_redis_connect("redis://h:0", NULL, &c), -EINVAL);
    assert_null(c);
    assert_int_equal(weft_redis_connect(NULL, NULL, &c), -EINVAL);
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, NULL), -EINVAL);
    weft_redis_opts bad = {.max_depth = 8};
    assert_int_equal(weft_redis_connect(srv.unix_url, &bad, &c), -EINVAL);
    bad = (weft_redis_opts){.connect_timeout = NAN};
    assert_int_equal(weft_redis_connect(srv.unix_url, &bad, &c), -EINVAL);
    assert_int_equal(weft_redis_connect("unix:///nonexistent/redis.sock", NULL, &c), -ENOENT);
    /* a port nobody listens on: the server's port + 0 is in use, so take a
     * free one */
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_free_port());
    assert_int_equal(weft_redis_connect(url, NULL, &c), -ECONNREFUSED);
    assert_int_equal(weft_redis_connect("redis://no-such-host.invalid", NULL, &c), WEFT_ENONAME);
    assert_null(c);
    return 0;
}

static void test_connect_errors(void **state)
{
    (void)state;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), WEFT_ENOTASK);
    assert_int_equal(weft_run(bad_connects, NULL), 0);
}

/* ------------------------------------------------------------ replies */

static int reply_types(void *arg)
{
    (void)arg;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.tcp_url, NULL, &c), 0);
    weft_redis_reply *r;
    size_t len;

    assert_int_equal(weft_redis_commandf(c, &r, "SET %s %s", "k:types", "v"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_STATUS);
    assert_string_equal(weft_redis_reply_string(r, &len), "OK");
    assert_int_equal(len, 2);
    assert_null(weft_redis_reply_error(r));
    weft_redis_reply_free(r);

    assert_int_equal(weft_redis_commandf(c, &r, "GET k:types"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_STRING);
    assert_string_equal(weft_redis_reply_string(r, NULL), "v");
    assert_int_equal(weft_redis_reply_integer(r), 0);
    assert_int_equal(weft_redis_reply_count(r), 0);
    assert_null(weft_redis_reply_at(r, 0));
    weft_redis_reply_free(r);

    assert_int_equal(weft_redis_commandf(c, &r, "GET k:absent"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_NIL);
    assert_null(weft_redis_reply_string(r, &len));
    assert_int_equal(len, 0);
    weft_redis_reply_free(r);

    assert_int_equal(weft_redis_commandf(c, &r, "INCRBY k:n %lld", -9000000000LL), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_INTEGER);
    assert_true(weft_redis_reply_integer(r) == -9000000000LL);
    weft_redis_reply_free(r);

    ok(c, "DEL k:list");
    ok(c, "RPUSH k:list a b c");
    assert_int_equal(weft_redis_commandf(c, &r, "LRANGE k:list 0 -1"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_ARRAY);
    assert_int_equal(weft_redis_reply_count(r), 3);
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(r, 2), NULL), "c");
    assert_null(weft_redis_reply_at(r, 3));
    weft_redis_reply_free(r);

    assert_int_equal(weft_redis_commandf(c, &r, "LRANGE k:none 0 -1"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_ARRAY);
    assert_int_equal(weft_redis_reply_count(r), 0);
    weft_redis_reply_free(r);

    /* a null array: BLPOP timing out */
    assert_int_equal(weft_redis_commandf(c, &r, "BLPOP k:none 0.01"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_NIL);
    weft_redis_reply_free(r);

    /* nested arrays of mixed types, from Lua */
    assert_int_equal(
        weft_redis_commandf(c, &r, "EVAL %s 0", "return {1, 'two', {3, {'four'}}, false}"), 0);
    assert_int_equal(weft_redis_reply_count(r), 4);
    assert_int_equal(weft_redis_reply_integer(weft_redis_reply_at(r, 0)), 1);
    const weft_redis_reply *inner = weft_redis_reply_at(weft_redis_reply_at(r, 2), 1);
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(inner, 0), NULL), "four");
    assert_int_equal(weft_redis_reply_type(weft_redis_reply_at(r, 3)), WEFT_REDIS_NIL);
    weft_redis_reply_free(r);

    /* an error reply: given with out, WEFT_EREDIS without */
    assert_int_equal(weft_redis_commandf(c, &r, "INCR k:types"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_ERROR);
    assert_non_null(strstr(weft_redis_reply_error(r), "not an integer"));
    assert_string_equal(weft_redis_reply_string(r, NULL), weft_redis_reply_error(r));
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, NULL, "INCR k:types"), WEFT_EREDIS);
    assert_int_equal(weft_redis_commandf(c, NULL, "NOSUCHCOMMAND"), WEFT_EREDIS);
    assert_int_equal(weft_redis_status(c), 0); /* the connection goes on */
    ok(c, "PING");
    weft_redis_close(c);
    return 0;
}

static void test_reply_types(void **state)
{
    (void)state;
    assert_int_equal(weft_run(reply_types, NULL), 0);
    assert_int_equal(weft_redis_reply_type(NULL), WEFT_REDIS_NIL);
    assert_null(weft_redis_reply_string(NULL, NULL));
    weft_redis_reply_free(NULL);
}

static int binary_values(void *arg)
{
    (void)arg;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    /* every byte value, CR LF and NUL included, in key and value */
    char key[8] = {'k', 0, '\r', '\n', ' ', '%', (char)0xff, 'b'};
    char val[256];
    for (int i = 0; i < 256; i++)
        val[i] = (char)i;
    const char *argv[] = {"SET", key, val};
    size_t lens[] = {3, sizeof key, sizeof val};
    assert_int_equal(weft_redis_command(c, 3, argv, lens, NULL), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "GET %b", key, sizeof key), 0);
    size_t len;
    const char *got = weft_redis_reply_string(r, &len);
    assert_int_equal(len, sizeof val);
    assert_memory_equal(got, val, sizeof val);
    assert_int_equal(got[len], '\0');
    weft_redis_reply_free(r);
    /* an empty value, and argvlen NULL (strlen) */
    const char *argv2[] = {"SET", "k:empty", ""};
    assert_int_equal(weft_redis_command(c, 3, argv2, NULL, NULL), 0);
    assert_int_equal(weft_redis_commandf(c, &r, "STRLEN k:empty"), 0);
    assert_int_equal(weft_redis_reply_integer(r), 0);
    weft_redis_reply_free(r);
    weft_redis_close(c);
    return 0;
}

REDIS_LOOP_TEST(binary_values);

/* Several MiB each way, with small commands around them on the same
 * connection from other tasks. */
#define BIG (6u * 1024u * 1024u + 7u)

typedef struct big_ctx {
    weft_redis *c;
    int small_ok;
} big_ctx;

static int small_commands(void *arg)
{
    big_ctx *b = arg;
    for (int i = 0; i < 50; i++) {
        weft_redis_reply *r;
        assert_int_equal(weft_redis_commandf(b->c, &r, "ECHO small%d", i), 0);
        char want[32];
        snprintf(want, sizeof want, "small%d", i);
        assert_string_equal(weft_redis_reply_string(r, NULL), want);
        weft_redis_reply_free(r);
        b->small_ok++;
    }
    return 0;
}

static int large_values(void *arg)
{
    (void)arg;
    big_ctx b = {0};
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &b.c), 0);
    char *val = malloc(BIG);
    assert_non_null(val);
    for (size_t i = 0; i < 8192; i++)
        val[i] = (char)(i * 2654435761u >> 13);
    for (size_t i = 8192; i < BIG; i += 4096) /* varied, and cheap to make */
        memcpy(val + i, val + (i / 4096) % 4096, BIG - i < 4096 ? BIG - i : 4096);
    assert_int_equal(weft_sleep(0), 0);
    weft_task *t = SPAWN(small_commands, &b);
    const char *argv[] = {"SET", "k:big", val};
    size_t lens[] = {3, 5, BIG};
    assert_int_equal(weft_redis_command(b.c, 3, argv, lens, NULL), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(b.c, &r, "GET k:big"), 0);
    size_t len;
    const char *got = weft_redis_reply_string(r, &len);
    assert_int_equal(len, BIG);
    assert_true(memcmp(got, val, BIG) == 0);
    weft_redis_reply_free(r);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    assert_int_equal(b.small_ok, 50);
    ok(b.c, "DEL k:big");
    free(val);
    weft_redis_close(b.c);
    return 0;
}

REDIS_LOOP_TEST(large_values);

/* ------------------------------------------------------------ formats and refusals */

static int formats(void *arg)
{
    (void)arg;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "SET k:fmt %d", 42), 0);
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:fmt"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "42");
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "SET k:fmt %s", "two words"), 0);
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:fmt"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "two words");
    weft_redis_reply_free(r);

    r = (weft_redis_reply *)1;
    assert_int_equal(weft_redis_commandf(c, &r, "GET %q"), -EINVAL); /* bad format */
    assert_null(r);
    assert_int_equal(weft_redis_commandf(c, &r, ""), -EINVAL); /* no command */
    assert_int_equal(weft_redis_commandf(c, &r, NULL), -EINVAL);
    assert_int_equal(weft_redis_command(c, 0, NULL, NULL, &r), -EINVAL);
    const char *holes[] = {"GET", NULL};
    assert_int_equal(weft_redis_command(c, 2, holes, NULL, &r), -EINVAL);
    assert_int_equal(weft_redis_command(NULL, 1, holes, NULL, &r), -EINVAL);
    /* commands that would break one reply per command */
    static const char *const refused[] = {
        "SUBSCRIBE ch", "psubscribe p*", "UNSUBSCRIBE", "PUNSUBSCRIBE",     "SSUBSCRIBE s",
        "monitor",      "SYNC",          "PSYNC ? -1",  "CLIENT REPLY OFF", "client reply skip",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int rc = weft_redis_commandf(c, &r, refused[i]);
        if (rc != -EINVAL)
            fail_msg("%s gave %s", refused[i], weft_err_name(rc));
        assert_null(r);
    }
    const char *sub_argv[] = {"Subscribe", "x"}, *reply_argv[] = {"client", "REPLY", "OFF"};
    assert_int_equal(weft_redis_command(c, 2, sub_argv, NULL, &r), -EINVAL);
    assert_int_equal(weft_redis_command(c, 3, reply_argv, NULL, &r), -EINVAL);
    const char *mon_argv[] = {"MONITOR"};
    size_t mon_len[] = {7};
    assert_int_equal(weft_redis_command(c, 1, mon_argv, mon_len, &r), -EINVAL);
    assert_int_equal(weft_redis_in_flight(c), 0);
    /* ...while CLIENT commands otherwise pass */
    assert_int_equal(weft_redis_commandf(c, &r, "CLIENT ID"), 0);
    assert_int_equal(weft_redis_reply_type(r), WEFT_REDIS_INTEGER);
    weft_redis_reply_free(r);
    weft_redis_close(c);
    return 0;
}

REDIS_LOOP_TEST(formats);

/* ------------------------------------------------------------ handshake */

static int handshake(void *arg)
{
    (void)arg;
    char url[256];
    weft_redis *c, *admin;
    weft_redis_reply *r;
    /* SELECT from the path and the query, CLIENT SETNAME from the query */
    snprintf(url, sizeof url, "%s/3?name=weft-test", srv.tcp_url);
    assert_int_equal(weft_redis_connect(url, NULL, &c), 0);
    ok(c, "SET k:db marker");
    assert_int_equal(weft_redis_commandf(c, &r, "CLIENT GETNAME"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "weft-test");
    weft_redis_reply_free(r);
    weft_redis_close(c);
    snprintf(url, sizeof url, "%s?db=3", srv.unix_url);
    weft_redis_opts o = {.client_name = "from-opts"};
    assert_int_equal(weft_redis_connect(url, &o, &c), 0);
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:db"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "marker");
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "CLIENT GETNAME"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "from-opts");
    weft_redis_reply_free(r);
    weft_redis_close(c);
    /* SELECT refused */
    snprintf(url, sizeof url, "%s/100000", srv.unix_url);
    snprintf(url, sizeof url, "%s?db=100000", srv.unix_url);
    assert_int_equal(weft_redis_connect(url, NULL, &c), WEFT_EREDIS);
    /* AUTH: none configured, then a password, then a user */
    snprintf(url, sizeof url, "unix://:secret@%s", srv.sock);
    assert_int_equal(weft_redis_connect(url, NULL, &c), WEFT_EAUTH);
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &admin), 0);
    ok(admin, "CONFIG SET requirepass secret");
    assert_int_equal(weft_redis_connect(url, NULL, &c), 0);
    ok(c, "PING");
    weft_redis_close(c);
    snprintf(url, sizeof url, "unix://:wrong@%s", srv.sock);
    assert_int_equal(weft_redis_connect(url, NULL, &c), WEFT_EAUTH);
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0); /* no AUTH: NOAUTH later */
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:db"), 0);
    assert_non_null(strstr(weft_redis_reply_error(r), "NOAUTH"));
    weft_redis_reply_free(r);
    weft_redis_close(c);
    ok(admin, "ACL SETUSER alice on >pw%%40 ~* &* +@all");
    snprintf(url, sizeof url, "redis://alice:pw%%2540@127.0.0.1:%d?name=alice", srv.port);
    assert_int_equal(weft_redis_connect(url, NULL, &c), 0);
    assert_int_equal(weft_redis_commandf(c, &r, "ACL WHOAMI"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "alice");
    weft_redis_reply_free(r);
    weft_redis_close(c);
    snprintf(url, sizeof url, "redis://alice:nope@127.0.0.1:%d", srv.port);
    assert_int_equal(weft_redis_connect(url, NULL, &c), WEFT_EAUTH);
    ok(admin, "ACL DELUSER alice");
    ok(admin, "CONFIG SET requirepass %s", "");
    weft_redis_close(admin);
    return 0;
}

REDIS_LOOP_TEST(handshake);

/* ------------------------------------------------------------ pipelines */

static int pipelines(void *arg)
{
    (void)arg;
    weft_redis *c;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    weft_redis_pipeline *p;
    assert_int_equal(weft_redis_pipeline_new(&p), 0);
    assert_int_equal(weft_redis_pipeline_run(c, p), 0); /* empty */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(weft_redis_pipeline_addf(p, "SET k:p:%d %d", i, i * i), 0);
    const char *argv[] = {"MGET", "k:p:7", "k:p:999", "k:p:absent"};
    assert_int_equal(weft_redis_pipeline_add(p, 4, argv, NULL), 0);
    assert_int_equal(weft_redis_pipeline_addf(p, "INCR k:p:no:%s", "x y"), 0);
    assert_int_equal(weft_redis_pipeline_addf(p, "SUBSCRIBE x"), -EINVAL); /* refused, not queued */
    assert_int_equal(weft_redis_pipeline_addf(p, "GET %q"), -EINVAL);
    assert_int_equal(weft_redis_pipeline_count(p), 1002);
    assert_int_equal(weft_redis_pipeline_run(c, p), 0);
    assert_int_equal(weft_redis_reply_type(weft_redis_pipeline_reply(p, 0)), WEFT_REDIS_STATUS);
    const weft_redis_reply *m = weft_redis_pipeline_reply(p, 1000);
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(m, 0), NULL), "49");
    assert_string_equal(weft_redis_reply_string(weft_redis_reply_at(m, 1), NULL), "998001");
    assert_int_equal(weft_redis_reply_type(weft_redis_reply_at(m, 2)), WEFT_REDIS_NIL);
    assert_int_equal(weft_redis_reply_integer(weft_redis_pipeline_reply(p, 1001)), 1);
    assert_null(weft_redis_pipeline_reply(p, 1002));
    /* run again: the same commands, fresh replies */
    assert_int_equal(weft_redis_pipeline_run(c, p), 0);
    assert_int_equal(weft_redis_reply_integer(weft_redis_pipeline_reply(p, 1001)), 2);

    /* MULTI/EXEC: the transaction's replies, and EXEC's array */
    weft_redis_pipeline_reset(p);
    assert_int_equal(weft_redis_pipeline_count(p), 0);
    assert_null(weft_redis_pipeline_reply(p, 0));
    weft_redis_pipeline_addf(p, "MULTI");
    weft_redis_pipeline_addf(p, "SET k:tx 1");
    weft_redis_pipeline_addf(p, "INCRBY k:tx 41");
    weft_redis_pipeline_addf(p, "LPUSH k:tx x"); /* WRONGTYPE inside EXEC */
    weft_redis_pipeline_addf(p, "EXEC");
    assert_int_equal(weft_redis_pipeline_run(c, p), 0);
    assert_string_equal(weft_redis_reply_string(weft_redis_pipeline_reply(p, 1), NULL), "QUEUED");
    const weft_redis_reply *ex = weft_redis_pipeline_reply(p, 4);
    assert_int_equal(weft_redis_reply_count(ex), 3);
    assert_int_equal(weft_redis_reply_integer(weft_redis_reply_at(ex, 1)), 42);
    assert_non_null(weft_redis_reply_error(weft_redis_reply_at(ex, 2)));
    weft_redis_pipeline_free(p);
    weft_redis_close(c);
    return 0;
}

static void test_pipelines(void **state)
{
    (void)state;
    assert_int_equal(weft_run(pipelines, NULL), 0);
    weft_redis_pipeline_free(NULL);
    assert_int_equal(weft_redis_pipeline_new(NULL), -EINVAL);
    assert_int_equal(weft_redis_pipeline_addf(NULL, "PING"), -EINVAL);
}

/* ------------------------------------------------------------ limits */

static int limit_reply(void *arg)
{
    (void)arg;
    weft_redis *c, *big;
    weft_redis_opts o = {.max_reply = 4096};
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &big), 0);
    char val[8192];
    memset(val, 'v', sizeof val);
    assert_int_equal(weft_redis_commandf(big, NULL, "SET k:lim %b", val, (size_t)3000), 0);
    assert_int_equal(weft_redis_commandf(big, NULL, "SET k:lim2 %b", val, sizeof val), 0);
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:lim"), 0); /* under the limit */
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "GET k:lim2"), WEFT_ELIMIT);
    assert_null(r);
    assert_int_equal(weft_redis_status(c), WEFT_ELIMIT);
    assert_int_equal(weft_redis_commandf(c, &r, "PING"), WEFT_ELIMIT);
    weft_redis_close(c);
    /* an array of many small elements counts too */
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    ok(big, "DEL k:limlist");
    for (int i = 0; i < 400; i++)
        ok(big, "RPUSH k:limlist %d", i);
    assert_int_equal(weft_redis_commandf(c, &r, "LRANGE k:limlist 0 -1"), WEFT_ELIMIT);
    weft_redis_close(c);
    /* nesting: a flat array is 1 */
    o = (weft_redis_opts){.max_depth = 2};
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    assert_int_equal(weft_redis_commandf(c, &r, "EVAL %s 0", "return {1, {2}}"), 0);
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_commandf(c, &r, "EVAL %s 0", "return {1, {2, {3}}}"), WEFT_ELIMIT);
    weft_redis_close(c);
    /* hiredis's own bound: 7 levels pass by default, 8 are a protocol error */
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &c), 0);
    assert_int_equal(weft_redis_commandf(c, &r, "EVAL %s 0", "return {{{{{{{1}}}}}}}"), 0);
    weft_redis_reply_free(r);
    int rc = weft_redis_commandf(c, &r, "EVAL %s 0", "return {{{{{{{{1}}}}}}}}");
    assert_true(rc == WEFT_ELIMIT || rc == WEFT_EPROTOCOL);
    weft_redis_close(c);
    weft_redis_close(big);
    return 0;
}

REDIS_LOOP_TEST(limit_reply);

typedef struct pend_ctx {
    weft_redis *c;
    size_t max_seen;
    int done;
} pend_ctx;

static int pend_worker(void *arg)
{
    pend_ctx *p = arg;
    for (int i = 0; i < 20; i++) {
        weft_redis_reply *r;
        assert_int_equal(weft_redis_commandf(p->c, &r, "INCR k:pend"), 0);
        weft_redis_reply_free(r);
        size_t n = weft_redis_in_flight(p->c);
        if (n > p->max_seen)
            p->max_seen = n;
    }
    p->done++;
    return 0;
}

static int limit_pending(void *arg)
{
    (void)arg;
    pend_ctx p = {0};
    weft_redis_opts o = {.max_pending = 4};
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &p.c), 0);
    ok(p.c, "DEL k:pend");
    weft_task *t[50];
    for (int i = 0; i < 50; i++)
        t[i] = SPAWN(pend_worker, &p);
    /* a pipeline larger than the limit still goes (alone) */
    weft_redis_pipeline *pl;
    weft_redis_pipeline_new(&pl);
    for (int i = 0; i < 10; i++)
        weft_redis_pipeline_addf(pl, "INCR k:pend");
    assert_int_equal(weft_redis_pipeline_run(p.c, pl), 0);
    weft_redis_pipeline_free(pl);
    assert_int_equal(weft_gather(t, 50, 0), 0);
    for (int i = 0; i < 50; i++)
        weft_task_free(t[i]);
    assert_int_equal(p.done, 50);
    assert_true(p.max_seen <= 10);
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(p.c, &r, "GET k:pend"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "1010");
    weft_redis_reply_free(r);
    weft_redis_close(p.c);
    return 0;
}

REDIS_LOOP_TEST(limit_pending);

/* A server that accepts and never answers: the handshake (AUTH) waits. */
static int silent_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char buf[256];
    while (weft_stream_read(s, buf, sizeof buf) > 0)
        ;
    return 0;
}

static int limit_timeouts(void *arg)
{
    (void)arg;
    char path[160], url[200];
    snprintf(path, sizeof path, "%s/silent.sock", srv.dir);
    weft_server *server;
    assert_int_equal(weft_unix_serve(path, silent_handler, NULL, NULL, &server), 0);
    snprintf(url, sizeof url, "unix://:pw@%s", path);
    weft_redis_opts o = {.connect_timeout = 0.2};
    weft_redis *c;
    double t0 = weft_time();
    assert_int_equal(weft_redis_connect(url, &o, &c), WEFT_ETIMEDOUT);
    assert_true(weft_time() - t0 >= 0.19);
    /* a timeout scope of the caller gives the same */
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.1, &scope), 0);
    assert_int_equal(weft_timeout_end(scope, weft_redis_connect(url, NULL, &c)), WEFT_ETIMEDOUT);
    weft_server_close(server, 0);

    /* command_timeout: a BLPOP that waits, then the connection goes on and
     * the late reply is dropped, not given to the next caller */
    o = (weft_redis_opts){.command_timeout = 0.1};
    weft_redis *pusher;
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &pusher), 0);
    ok(pusher, "DEL k:blk");
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(c, &r, "BLPOP k:blk 0"), WEFT_ETIMEDOUT);
    assert_null(r);
    assert_int_equal(weft_redis_in_flight(c), 1); /* still blocked on the server */
    ok(pusher, "RPUSH k:blk late");
    assert_int_equal(weft_redis_commandf(c, &r, "ECHO mine"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "mine");
    weft_redis_reply_free(r);
    assert_int_equal(weft_redis_in_flight(c), 0);
    weft_redis_close(c);
    /* the timeout covers the wait for room too (max_pending 1, held by a
     * BLPOP): the second command never got to be sent */
    o = (weft_redis_opts){.command_timeout = 0.1, .max_pending = 1};
    assert_int_equal(weft_redis_connect(srv.unix_url, &o, &c), 0);
    assert_int_equal(weft_redis_commandf(c, NULL, "BLPOP k:blk 0"), WEFT_ETIMEDOUT);
    assert_int_equal(weft_redis_commandf(c, NULL, "ECHO never-sent"), WEFT_ETIMEDOUT);
    assert_int_equal(weft_redis_in_flight(c), 1);
    ok(pusher, "RPUSH k:blk late");
    assert_int_equal(weft_redis_commandf(c, &r, "ECHO sent"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "sent");
    weft_redis_reply_free(r);
    weft_redis_close(c);
    weft_redis_close(pusher);
    return 0;
}

REDIS_LOOP_TEST(limit_timeouts);

/* ------------------------------------------------------------ closing */

typedef struct close_ctx {
    weft_redis *c;
    int rc;
} close_ctx;

static int blocked(void *arg)
{
    close_ctx *x = arg;
    weft_redis_reply *r = NULL;
    x->rc = weft_redis_commandf(x->c, &r, "BLPOP k:never 0");
    assert_null(r);
    return 0;
}

static int close_while_waiting(void *arg)
{
    (void)arg;
    close_ctx x = {0};
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &x.c), 0);
    weft_task *t = SPAWN(blocked, &x);
    assert_int_equal(weft_sleep(0.05), 0);
    assert_int_equal(weft_redis_in_flight(x.c), 1);
    weft_redis_close(x.c);
    assert_int_equal(weft_await(t), 0);
    weft_task_free(t);
    assert_int_equal(x.rc, WEFT_ECLOSED);
    return 0;
}

REDIS_LOOP_TEST(close_while_waiting);

/* A connection outlives one run of a runner (its tasks wait on the loop)
 * and works in the next; freeing the runner cancels its tasks, which shut
 * it: nothing hangs, and closing it afterwards frees it. */
static weft_redis *leftover;

static int leave_open(void *arg)
{
    (void)arg;
    assert_int_equal(weft_redis_connect(srv.unix_url, NULL, &leftover), 0);
    return 0;
}

static int use_again(void *arg)
{
    (void)arg;
    weft_redis_reply *r;
    assert_int_equal(weft_redis_commandf(leftover, &r, "ECHO again"), 0);
    assert_string_equal(weft_redis_reply_string(r, NULL), "again");
    weft_redis_reply_free(r);
    return 0;
}

static void test_connection_across_runs(void **state)
{
    (void)state;
    weft_runner *r;
    assert_int_equal(weft_runner_new(&r), 0);
    assert_int_equal(weft_runner_run(r, leave_open, NULL), 0);
    assert_int_equal(weft_runner_run(r, use_again, NULL), 0);
    weft_runner_free(r);
    assert_int_equal(weft_redis_status(leftover), WEFT_ECLOSED);
    weft_redis_close(leftover);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_reply_types),
        cmocka_unit_test(test_binary_values),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_pipelines),
        cmocka_unit_test(test_limit_reply),
        cmocka_unit_test(test_limit_pending),
        cmocka_unit_test(test_limit_timeouts),
        cmocka_unit_test(test_close_while_waiting),
        cmocka_unit_test(test_connection_across_runs),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}
