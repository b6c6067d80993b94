/* Tests of the HTTP client: sessions, requests (methods, headers, query
 * parameters, bodies), responses, keep-alive, concurrency, streaming with
 * back-pressure, redirects, timeouts and retries, against the partner test
 * server (tests/support/http_server.c) on 127.0.0.1, port 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "http_test.h"
#include "weft.h"
#include "test_support.h"

typedef struct ctx {
    HTTP_TEST;
    char url[256];
    int n;
    int failures;
    int last_rc;
} ctx;

static const char *url(ctx *c, const char *path)
{
    snprintf(c->url, sizeof c->url, "%s%s", http_server_url(c->srv), path);
    return c->url;
}

/* ---------------------------------------------------------------- basics */

static int get_body(void *arg)
{
    ctx *c = arg;
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(c->s, "/hello", &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    size_t len;
    assert_string_equal(weft_http_response_body(r, &len), "ok");
    assert_int_equal(len, 2);
    assert_string_equal(weft_http_response_header(r, "content-type"), "text/plain");
    assert_string_equal(weft_http_response_header(r, "SERVER"), "weft-partner");
    assert_null(weft_http_response_header(r, "x-missing"));
    const char *name, *value;
    assert_int_equal(weft_http_response_header_at(r, 0, &name, &value), 0);
    assert_string_equal(name, "Server");
    assert_int_equal(weft_http_response_header_at(r, 99, &name, &value), -ENOENT);
    assert_string_equal(weft_http_response_url(r), url(c, "/hello"));
    weft_http_response_free(r);
    /* absolute URL, status passed through */
    assert_int_equal(weft_http_get(c->s, url(c, "/x?status=404"), &r), 0);
    assert_int_equal(weft_http_response_status(r), 404);
    weft_http_response_free(r);
    return 0;
}

static void test_get(void **state)
{
    (void)state;
    RUN_HTTP(get_body, ctx, NULL);
}

static int request_body(void *arg)
{
    ctx *c = arg;
    weft_http_header h[] = {{"X-Trace", "abc"}, {"Accept", "text/plain"}};
    weft_http_param p[] = {{"echo", "1"}, {"q", "a b&c=d/é"}, {"k&y", "v"}};
    const char body[] = "payload\0binary";
    weft_http_req req = {.method = "PUT",
                         .url = "/echo",
                         .headers = h,
                         .n_headers = 2,
                         .params = p,
                         .n_params = 3,
                         .body = body,
                         .body_len = sizeof body - 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    size_t len;
    const char *b = weft_http_response_body(r, &len);
    assert_non_null(strstr(b, "PUT /echo?echo=1&q=a%20b%26c%3dd%2f%c3%a9&k%26y=v HTTP/1.1\r\n"));
    assert_non_null(strstr(b, "\r\nX-Trace: abc\r\n"));
    assert_non_null(strstr(b, "\r\nAccept: text/plain\r\n"));
    assert_non_null(strstr(b, "\r\nUser-Agent: weft/0.1\r\n"));
    assert_true(len > sizeof body - 1);
    assert_memory_equal(b + len - (sizeof body - 1), body, sizeof body - 1);
    weft_http_response_free(r);
    return 0;
}

static void test_request(void **state)
{
    (void)state;
    RUN_HTTP(request_body, ctx, NULL);
}

/* Session defaults: headers (overridable), user agent, base URL path. */
static int defaults_body(void *arg)
{
    ctx *c = arg;
    weft_http_header dh[] = {{"Authorization", "Bearer t0k"}, {"X-Team", "cerberus"}};
    char base[128];
    snprintf(base, sizeof base, "%s/v1/", http_server_url(c->srv));
    weft_http_opts o = {.base_url = base, .headers = dh, .n_headers = 2, .user_agent = "partner/1"};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    weft_http_header h[] = {{"x-team", "squad"}};
    weft_http_req req = {.url = "items?echo=1", .headers = h, .n_headers = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(s, &req, &r), 0);
    const char *b = weft_http_response_body(r, NULL);
    assert_non_null(strstr(b, "GET /v1/items?echo=1 HTTP/1.1"));
    assert_non_null(strstr(b, "Authorization: Bearer t0k\r\n"));
    assert_non_null(strstr(b, "x-team: squad\r\n"));
    assert_null(strstr(b, "cerberus"));
    assert_non_null(strstr(b, "User-Agent: partner/1\r\n"));
    weft_http_response_free(r);
    weft_http_session_free(s);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    RUN_HTTP(defaults_body, ctx, NULL);
}

/* A session reuses its libcurl handles: nothing of one request (method,
 * body, headers, timeouts) may leak into the next one on the same handle. */
static int reuse_body(void *arg)
{
    ctx *c = arg;
    weft_http_header dh[] = {{"X-Team", "cerberus"}};
    weft_http_opts o = {.base_url = http_server_url(c->srv), .headers = dh, .n_headers = 1};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    weft_http_response *r = NULL;
    for (int round = 0; round < 3; round++) {
        /* a PUT with a body and its own header... */
        weft_http_header h[] = {{"X-Team", "squad"}};
        weft_http_timeout quick = {.total = 0.001};
        weft_http_req put = {.method = "PUT",
                             .url = "/echo?echo=1",
                             .body = "abc",
                             .body_len = 3,
                             .headers = h,
                             .n_headers = 1};
        assert_int_equal(weft_http_request(s, &put, &r), 0);
        assert_non_null(strstr(weft_http_response_body(r, NULL), "PUT /echo?echo=1 HTTP/1.1\r\n"));
        weft_http_response_free(r);
        /* ...then a plain GET: no body, the default header */
        assert_int_equal(weft_http_get(s, "/echo?echo=1", &r), 0);
        const char *b = weft_http_response_body(r, NULL);
        assert_non_null(strstr(b, "GET /echo?echo=1 HTTP/1.1\r\n"));
        assert_null(strstr(b, "Content-Length"));
        assert_null(strstr(b, "abc"));
        assert_null(strstr(b, "squad"));
        assert_non_null(strstr(b, "X-Team: cerberus\r\n"));
        weft_http_response_free(r);
        /* a HEAD has no body; the GET after it has one */
        weft_http_req head = {.method = "HEAD", .url = "/hello"};
        assert_int_equal(weft_http_request(s, &head, &r), 0);
        assert_string_equal(weft_http_response_body(r, NULL), "");
        weft_http_response_free(r);
        assert_int_equal(weft_http_get(s, "/hello", &r), 0);
        assert_string_equal(weft_http_response_body(r, NULL), "ok");
        weft_http_response_free(r);
        /* a request's own timeout ends with it */
        weft_http_req slow = {.url = "/slow?delay=0.3", .timeout = &quick};
        assert_int_equal(weft_http_request(s, &slow, &r), WEFT_ETIMEDOUT);
        assert_int_equal(weft_http_get(s, "/slow?delay=0.05", &r), 0);
        assert_int_equal(weft_http_response_status(r), 200);
        weft_http_response_free(r);
    }
    weft_http_session_free(s);
    return 0;
}

static void test_handle_reuse(void **state)
{
    (void)state;
    RUN_HTTP(reuse_body, ctx, NULL);
}

/* Sequential requests reuse one connection. */
static int keepalive_body(void *arg)
{
    ctx *c = arg;
    for (int i = 0; i < 5; i++) {
        weft_http_response *r = NULL;
        assert_int_equal(weft_http_get(c->s, "/k", &r), 0);
        weft_http_response_free(r);
    }
    assert_int_equal(http_server_requests(c->srv), 5);
    assert_int_equal(http_server_connections(c->srv), 1);
    return 0;
}

static void test_keepalive(void **state)
{
    (void)state;
    RUN_HTTP(keepalive_body, ctx, NULL);
}

/* A pooled connection keeps its socket watcher between requests; when the
 * peer closes it while idle, the watcher stops (no busy loop) and the next
 * request neither reuses the dead connection nor hangs. */
static int idle_closed_body(void *arg)
{
    ctx *c = arg;
    http_server *srv2 = NULL;
    assert_int_equal(http_server_start(NULL, &srv2), 0);
    char u[256];
    snprintf(u, sizeof u, "%s/idle", http_server_url(srv2));
    weft_http_response *r = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_http_get(c->s, u, &r), 0);
        assert_int_equal(weft_http_response_status(r), 200);
        weft_http_response_free(r);
    }
    assert_int_equal(http_server_connections(srv2), 1);
    assert_int_equal(http_server_stop(srv2), 0); /* closes the pooled connection */
    struct weft_loop_stats before, after;
    weft_loop_stats(NULL, &before);
    assert_int_equal(weft_sleep(0.1), 0);
    weft_loop_stats(NULL, &after);
    assert_true(after.iterations - before.iterations < 50); /* no spinning on the dead socket */
    r = NULL;
    int rc = weft_http_get(c->s, u, &r);
    assert_true(rc < 0);
    assert_null(r);
    assert_int_equal(weft_http_get(c->s, "/after", &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    weft_http_response_free(r);
    return 0;
}

static void test_idle_closed(void **state)
{
    (void)state;
    RUN_HTTP(idle_closed_body, ctx, NULL);
}

/* --------------------------------------------------------- concurrency */

static ctx *g_c;

static int one_get(void *arg)
{
    (void)arg;
    weft_http_response *r = NULL;
    int rc = weft_http_get(g_c->s, "/c?delay=0.2", &r);
    if (rc == 0) {
        rc = weft_http_response_status(r) == 200 ? 0 : -EIO;
        weft_http_response_free(r);
    }
    return rc;
}

static int concurrent_body(void *arg)
{
    ctx *c = arg;
    enum { N = 50 };
    g_c = c;
    weft_task *t[N];
    double t0 = weft_time();
    for (int i = 0; i < N; i++)
        assert_non_null(t[i] = SPAWN(one_get, NULL));
    assert_int_equal(weft_gather(t, N, 0), 0);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.19 && dt < 1.5); /* concurrent, not 50 x 0.2 s */
    for (int i = 0; i < N; i++)
        weft_task_free(t[i]);
    assert_int_equal(http_server_requests(c->srv), N);
    return 0;
}

static void test_concurrent(void **state)
{
    (void)state;
    RUN_HTTP(concurrent_body, ctx, NULL);
}

/* Connection limits: 10 concurrent requests through 2 connections. */
static int limits_body(void *arg)
{
    ctx *c = arg;
    weft_http_opts o = {.base_url = http_server_url(c->srv), .max_host_connections = 2};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    weft_http_session *saved = c->s;
    c->s = s;
    g_c = c;
    weft_task *t[10];
    double t0 = weft_time();
    for (int i = 0; i < 10; i++)
        t[i] = SPAWN(one_get, NULL);
    assert_int_equal(weft_gather(t, 10, 0), 0);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.95 && dt < 2.5); /* 5 rounds of 0.2 s */
    for (int i = 0; i < 10; i++)
        weft_task_free(t[i]);
    assert_int_equal(http_server_connections(c->srv), 2);
    c->s = saved;
    weft_http_session_free(s);
    return 0;
}

static void test_limits(void **state)
{
    (void)state;
    RUN_HTTP(limits_body, ctx, NULL);
}

/* ------------------------------------------------------------ streaming */

static int stream_body(void *arg)
{
    ctx *c = arg;
    /* 4 MiB through a 64 KiB buffer: the transfer pauses while we sleep */
    weft_http_req req = {.url = "/big?len=4194304", .stream = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    assert_string_equal(weft_http_response_header(r, "content-length"), "4194304");
    assert_string_equal(weft_http_response_body(r, NULL), "");
    assert_int_equal(weft_sleep(0.1), 0);
    assert_true(r->body_len - r->body_off <= 64 * 1024 + CURL_MAX_WRITE_SIZE);
    assert_true(r->paused);
    size_t total = 0;
    char buf[10000];
    int n;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            if (buf[i] != 'x')
                fail();
        total += (size_t)n;
        assert_true(r->body_cap <= 4 * 64 * 1024);
    }
    assert_int_equal(n, 0);
    assert_int_equal(total, 4194304);
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), 0);
    weft_http_response_free(r);
    /* not a streamed response */
    assert_int_equal(weft_http_get(c->s, "/x", &r), 0);
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), -EINVAL);
    weft_http_response_free(r);
    return 0;
}

static void test_stream(void **state)
{
    (void)state;
    RUN_HTTP(stream_body, ctx, NULL);
}

/* A streamed transfer that pauses on a connection reused from an earlier
 * response: libcurl removes its socket while it is paused, which the
 * session once took for a connection back in the pool, and the rest of
 * the body for a stray tail: it killed the connection and the body ended
 * short (WEFT_EINCOMPLETE) from the second request on (test_io_storm). */
static int stream_reuse_body(void *arg)
{
    ctx *c = arg;
    for (int i = 0; i < 3; i++) {
        weft_http_req req = {.url = "/big?len=400000", .stream = 1};
        weft_http_response *r = NULL;
        assert_int_equal(weft_http_request(c->s, &req, &r), 0);
        assert_int_equal(weft_sleep(0.05), 0); /* the 64 KiB buffer fills: paused */
        assert_true(r->paused);
        size_t total = 0;
        char buf[10000];
        int n;
        while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0)
            total += (size_t)n;
        assert_int_equal(n, 0);
        assert_int_equal(total, 400000);
        weft_http_response_free(r);
    }
    assert_int_equal(http_server_connections(c->srv), 1); /* one connection, reused */
    return 0;
}

static void test_stream_reuse(void **state)
{
    (void)state;
    RUN_HTTP(stream_reuse_body, ctx, NULL);
}

/* Chunks arrive as the server sends them. */
static int stream_slow_body(void *arg)
{
    ctx *c = arg;
    weft_http_req req = {.url = "/s?len=300&chunk=100&slow=0.2", .stream = 1};
    weft_http_response *r = NULL;
    double t0 = weft_time();
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    char buf[1000];
    int n = weft_http_response_read(r, buf, sizeof buf);
    assert_int_equal(n, 100);
    assert_true(weft_time() - t0 < 0.15); /* the first chunk, before the rest */
    int total = n;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0)
        total += n;
    assert_int_equal(n, 0);
    assert_int_equal(total, 300);
    assert_true(weft_time() - t0 >= 0.39);
    weft_http_response_free(r);
    /* freed before its end: the transfer is dropped, no leak, no hang */
    req.url = "/s?len=3000&chunk=100&slow=0.1";
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    assert_true(weft_http_response_read(r, buf, sizeof buf) > 0);
    weft_http_response_free(r);
    return 0;
}

static void test_stream_slow(void **state)
{
    (void)state;
    RUN_HTTP(stream_slow_body, ctx, NULL);
}

/* ------------------------------------------------------------ redirects */

static int redirect_body(void *arg)
{
    ctx *c = arg;
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(c->s, "/r?redirect=3", &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    assert_string_equal(weft_http_response_body(r, NULL), "ok");
    assert_string_equal(weft_http_response_url(r), url(c, "/hop?redirect=0"));
    assert_null(weft_http_response_header(r, "location"));
    weft_http_response_free(r);
    /* streamed: the headers are the final response's */
    weft_http_req req = {.url = "/r?redirect=2", .stream = 1};
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    weft_http_response_free(r);
    /* not followed */
    weft_http_opts o = {.base_url = http_server_url(c->srv), .max_redirects = -1};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, "/r?redirect=3", &r), 0);
    assert_int_equal(weft_http_response_status(r), 302);
    assert_string_equal(weft_http_response_header(r, "Location"), "/hop?redirect=2");
    weft_http_response_free(r);
    weft_http_session_free(s);
    return 0;
}

static void test_redirect(void **state)
{
    (void)state;
    RUN_HTTP(redirect_body, ctx, NULL);
}

/* ------------------------------------------------------------ timeouts */

static int timeouts_body(void *arg)
{
    ctx *c = arg;
    weft_http_response *r = NULL;
    /* total */
    weft_http_timeout to = {.total = 0.3};
    weft_http_req req = {.url = "/t?delay=5", .timeout = &to};
    double t0 = weft_time();
    assert_int_equal(weft_http_request(c->s, &req, &r), WEFT_ETIMEDOUT);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.29 && dt < 1.0);
    /* read: the silence between two chunks */
    weft_http_timeout rt = {.read = 0.3};
    req = (weft_http_req){.url = "/t?len=300&chunk=100&slow=0.1", .timeout = &rt};
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    assert_int_equal(weft_http_response_body(r, NULL)[299], 'x');
    weft_http_response_free(r);
    req.url = "/t?len=300&chunk=100&slow=0.6";
    t0 = weft_time();
    assert_int_equal(weft_http_request(c->s, &req, &r), WEFT_ETIMEDOUT);
    dt = weft_time() - t0;
    assert_true(dt >= 0.29 && dt < 1.0);
    /* weft's timeout scope */
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.2, &scope), 0);
    t0 = weft_time();
    int rc = weft_http_get(c->s, "/t?never=1", &r);
    assert_int_equal(rc, WEFT_ECANCELED);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    dt = weft_time() - t0;
    assert_true(dt >= 0.19 && dt < 1.0);
    /* session default */
    weft_http_opts o = {.base_url = http_server_url(c->srv), .timeout = {.total = 0.2}};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, "/t?never=1", &r), WEFT_ETIMEDOUT);
    weft_http_session_free(s);
    return 0;
}

static void test_timeouts(void **state)
{
    (void)state;
    RUN_HTTP(timeouts_body, ctx, NULL);
}

/* ---------------------------------------------------------------- retry */

static int on_failure(void *arg, int attempt, int rc, const weft_http_response *resp)
{
    ctx *c = arg;
    c->failures++;
    c->last_rc = rc;
    assert_int_equal(attempt, c->failures);
    if (rc == 0)
        assert_int_equal(weft_http_response_status(resp), 503);
    return 0;
}

static int retry_body(void *arg)
{
    ctx *c = arg;
    weft_http_retry rt = {.attempts = 3, .delay = 0.1, .on_failure = on_failure, .arg = c};
    weft_http_req req = {.url = "/ping"};
    weft_http_response *r = NULL;
    /* two failures, then a success */
    http_server_fail_next(c->srv, 2, 503);
    double t0 = weft_time();
    assert_int_equal(weft_http_request_retry(c->s, &req, &rt, &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    assert_true(weft_time() - t0 >= 0.19);
    assert_int_equal(c->failures, 2);
    weft_http_response_free(r);
    /* out of attempts: the last response is returned */
    c->failures = 0;
    http_server_fail_next(c->srv, 5, 503);
    assert_int_equal(weft_http_request_retry(c->s, &req, &rt, &r), 0);
    assert_int_equal(weft_http_response_status(r), 503);
    assert_int_equal(c->failures, 3);
    weft_http_response_free(r);
    http_server_fail_next(c->srv, 0, 0);
    /* a status not listed is not retried */
    c->failures = 0;
    req.url = "/x?status=404";
    assert_int_equal(weft_http_request_retry(c->s, &req, &rt, &r), 0);
    assert_int_equal(weft_http_response_status(r), 404);
    assert_int_equal(c->failures, 0);
    weft_http_response_free(r);
    /* errors: exponential backoff 0.05, 0.1 */
    c->failures = 0;
    weft_http_opts o = {.base_url = "http://127.0.0.1:1"};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    rt.delay = 0.05;
    rt.backoff = WEFT_HTTP_BACKOFF_EXPONENTIAL;
    rt.jitter = 0.5;
    t0 = weft_time();
    assert_int_equal(weft_http_request_retry(s, &req, &rt, &r), -ECONNREFUSED);
    double dt = weft_time() - t0;
    assert_true(dt >= 0.07 && dt < 1.0);
    assert_int_equal(c->failures, 3);
    assert_int_equal(c->last_rc, -ECONNREFUSED);
    /* an error not listed is not retried */
    c->failures = 0;
    int only[] = {WEFT_ETIMEDOUT};
    rt.errors = only;
    rt.n_errors = 1;
    assert_int_equal(weft_http_request_retry(s, &req, &rt, &r), -ECONNREFUSED);
    assert_int_equal(c->failures, 1);
    weft_http_session_free(s);
    /* bad arguments */
    rt.backoff = 7;
    assert_int_equal(weft_http_request_retry(c->s, &req, &rt, &r), -EINVAL);
    return 0;
}

static void test_retry(void **state)
{
    (void)state;
    RUN_HTTP(retry_body, ctx, NULL);
}

/* ------------------------------------------------------------ arguments */

static int args_body(void *arg)
{
    ctx *c = arg;
    weft_http_response *r = NULL;
    weft_http_req req = {0};
    assert_int_equal(weft_http_request(c->s, &req, &r), -EINVAL);
    assert_int_equal(weft_http_request(NULL, &req, &r), -EINVAL);
    req.url = "/x";
    assert_int_equal(weft_http_request(c->s, &req, NULL), -EINVAL);
    weft_http_header bad[] = {{"X-Bad", "a\r\nInjected: 1"}};
    req.headers = bad;
    req.n_headers = 1;
    assert_int_equal(weft_http_request(c->s, &req, &r), -EINVAL);
    req.headers = NULL;
    req.n_headers = 0;
    req.method = "GE T";
    assert_int_equal(weft_http_request(c->s, &req, &r), -EINVAL);
    assert_int_equal(weft_http_get(c->s, "ftp://127.0.0.1/x", &r), WEFT_EHTTP);
    weft_http_timeout nan_timeout = {.total = NAN};
    weft_http_req timed = {.url = "/x", .timeout = &nan_timeout};
    assert_int_equal(weft_http_request(c->s, &timed, &r), -EINVAL);
    weft_http_opts o = {.timeout = {.total = -1}};
    weft_http_session *s = (void *)1;
    assert_int_equal(weft_http_session_new(&o, &s), -EINVAL);
    weft_http_opts bad_defaults = {.headers = bad, .n_headers = 1};
    assert_int_equal(weft_http_session_new(&bad_defaults, &s), -EINVAL);
    /* without a base URL, an absolute URL goes to libcurl as it is: a
     * malformed one fails there, with the same code as through our parse */
    assert_int_equal(weft_http_session_new(NULL, &s), 0);
    assert_int_equal(weft_http_get(s, "http://[::1/x", &r), -EINVAL);
    assert_int_equal(weft_http_get(s, "http://exa mple/x", &r), -EINVAL);
    assert_int_equal(weft_http_get(s, "no-scheme-or-host", &r), -EINVAL);
    weft_http_session_free(s);
    assert_int_equal(weft_http_session_new(NULL, NULL), -EINVAL);
    assert_int_equal(weft_http_response_status(NULL), -EINVAL);
    return 0;
}

static void test_args(void **state)
{
    (void)state;
    RUN_HTTP(args_body, ctx, NULL);
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(NULL, &s), WEFT_ENOTASK);
}

int main(void)
{
    /* the server writes to clients that went away (net streams do not
     * ignore SIGPIPE themselves yet) */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),          cmocka_unit_test(test_request),
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_handle_reuse), cmocka_unit_test(test_idle_closed),
        cmocka_unit_test(test_concurrent),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stream),       cmocka_unit_test(test_stream_reuse),
        cmocka_unit_test(test_stream_slow),  cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_timeouts),     cmocka_unit_test(test_retry),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
