/* Faults the HTTP client must turn into clear codes without a crash, leak
 * or hang: refused connections, a server that never answers, a reset
 * mid-body, a malformed status line, a body longer or shorter than its
 * Content-Length, an endless redirect loop, a certificate that fails
 * verification, a cancel in each phase (connect, waiting for headers,
 * mid-body), a session freed under running requests, allocation
 * failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "http_test.h"
#include "test_support.h"

typedef struct ctx {
    HTTP_TEST;
    const char *path;
    int rc;
    weft_http_response *resp;
} ctx;

/* Every request here gives up after 10 s: a fault that hangs fails the test. */
static const weft_http_opts total_10s = {.timeout = {.total = 10}};

static int get_rc(ctx *c, const char *path)
{
    weft_http_response *r = NULL;
    int rc = weft_http_get(c->s, path, &r);
    if (rc == 0)
        weft_http_response_free(r);
    return rc;
}

/* ------------------------------------------------------------ the server */

static int server_faults_body(void *arg)
{
    ctx *c = arg;
    double t0 = weft_time();
    assert_int_equal(get_rc(c, "/?drop=1"), -ECONNRESET);
    assert_int_equal(get_rc(c, "/?bad=status"), WEFT_EHTTP);
    assert_int_equal(get_rc(c, "/?bad=short"), WEFT_EINCOMPLETE);
    assert_int_equal(get_rc(c, "/?len=100000&reset=1"), -ECONNRESET);
    assert_int_equal(get_rc(c, "/?redirect=loop"), WEFT_EREDIRECTS);
    assert_int_equal(http_server_requests(c->srv), 4 + 11); /* 10 redirects followed */
    /* a body longer than its Content-Length: the declared length is the
     * body, and the connection is not reused */
    weft_http_response *r = NULL;
    unsigned conns = http_server_connections(c->srv);
    assert_int_equal(weft_http_get(c->s, "/?bad=excess", &r), 0);
    assert_string_equal(weft_http_response_body(r, NULL), "ok");
    weft_http_response_free(r);
    assert_int_equal(get_rc(c, "/after"), 0); /* on a new connection */
    assert_int_equal(http_server_connections(c->srv), conns + 1);
    /* the session still works after all that */
    assert_int_equal(get_rc(c, "/fine"), 0);
    assert_true(weft_time() - t0 < 5);
    return 0;
}

static void test_server_faults(void **state)
{
    (void)state;
    RUN_HTTP(server_faults_body, ctx, &total_10s);
}

/* Streamed: the error comes from the read. */
static int stream_faults_body(void *arg)
{
    ctx *c = arg;
    weft_http_req req = {.url = "/?len=200000&reset=1", .stream = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(c->s, &req, &r), 0);
    char buf[4096];
    int n, total = 0;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0)
        total += n;
    assert_int_equal(n, -ECONNRESET);
    assert_true(total < 200000);
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), -ECONNRESET); /* sticky */
    weft_http_response_free(r);
    /* failing before the headers: the request fails */
    req.url = "/?drop=1";
    assert_int_equal(weft_http_request(c->s, &req, &r), -ECONNRESET);
    return 0;
}

static void test_stream_faults(void **state)
{
    (void)state;
    RUN_HTTP(stream_faults_body, ctx, &total_10s);
}

/* ------------------------------------------------------------ refused */

static int refused_body(void *arg)
{
    ctx *c = arg;
    (void)c;
    /* a port that was free a moment ago */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    weft_http_response *r = NULL;
    double t0 = weft_time();
    assert_int_equal(weft_http_get(c->s, url, &r), -ECONNREFUSED);
    assert_true(weft_time() - t0 < 1.0);
    assert_int_equal(weft_http_get(c->s, "http://no-such-host.invalid/", &r), WEFT_ENONAME);
    return 0;
}

static void test_refused(void **state)
{
    (void)state;
    RUN_HTTP(refused_body, ctx, &total_10s);
}

/* ------------------------------------------------------------- cancels */

static int request_task(void *arg)
{
    ctx *c = arg;
    c->rc = weft_http_get(c->s, c->path, &c->resp);
    return c->rc;
}

/* A listener whose accept queue is full: a new connect hangs in SYN_SENT. */
static int full_listener(int *port, int fds[3])
{
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fds[0], 0), 0);
    getsockname(fds[0], (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    for (int i = 1; i < 3; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fds[i], (struct sockaddr *)&a, sizeof a);
    }
    return 0;
}

/* Cancel while connecting, waiting for the headers, and mid-body; each
 * returns WEFT_ECANCELED promptly and closes its connection. */
static int cancel_body(void *arg)
{
    ctx *c = arg;
    int port, fds[3];
    full_listener(&port, fds);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    const char *paths[] = {url, "/?never=1", "/?len=100000&chunk=1000&slow=0.05"};
    for (int i = 0; i < 3; i++) {
        c->path = paths[i];
        c->resp = NULL;
        weft_task *t = SPAWN(request_task, c);
        assert_int_equal(weft_sleep(0.3), 0);
        assert_false(weft_task_done(t));
        double t0 = weft_time();
        weft_cancel(t);
        assert_int_equal(weft_await(t), WEFT_ECANCELED);
        assert_true(weft_time() - t0 < 0.1);
        assert_null(c->resp);
        weft_task_free(t);
        if (i > 0) { /* its connection was closed: the next request makes a new one */
            unsigned conns = http_server_connections(c->srv);
            assert_int_equal(get_rc(c, "/next"), 0);
            assert_int_equal(http_server_connections(c->srv), conns + 1);
        }
    }
    /* a connect timeout on the same listener */
    weft_http_timeout to = {.connect = 0.2};
    weft_http_req req = {.url = url, .timeout = &to};
    weft_http_response *r = NULL;
    double t0 = weft_time();
    assert_int_equal(weft_http_request(c->s, &req, &r), WEFT_ETIMEDOUT);
    assert_true(weft_time() - t0 < 1.0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    /* a cancel pending before the request parks */
    weft_cancel(weft_task_current());
    assert_int_equal(get_rc(c, "/x"), WEFT_ECANCELED);
    /* cancelling a streamed read leaves the transfer; it can be read on */
    weft_http_req sreq = {.url = "/?len=300&chunk=100&slow=0.3", .stream = 1};
    assert_int_equal(weft_http_request(c->s, &sreq, &r), 0);
    char buf[1000];
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), 100);
    weft_timeout *scope;
    assert_int_equal(weft_timeout_begin(0.1, &scope), 0);
    int rc = weft_http_response_read(r, buf, sizeof buf);
    assert_int_equal(weft_timeout_end(scope, rc), WEFT_ETIMEDOUT);
    int total = 100, n;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0)
        total += n;
    assert_int_equal(n, 0);
    assert_int_equal(total, 300);
    weft_http_response_free(r);
    return 0;
}

static void test_cancel(void **state)
{
    (void)state;
    RUN_HTTP(cancel_body, ctx, &total_10s);
}

/* The session freed while other tasks' requests run: they end with
 * WEFT_ECLOSED, nothing leaks. */
static int session_free_body(void *arg)
{
    ctx *c = arg;
    weft_http_opts o = {.base_url = http_server_url(c->srv)};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    ctx c2 = {.s = s, .path = "/?never=1"};
    weft_task *t = SPAWN(request_task, &c2);
    weft_http_req req = {.url = "/?len=1000&chunk=100&slow=0.1", .stream = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(s, &req, &r), 0);
    assert_int_equal(weft_sleep(0.2), 0);
    weft_http_session_free(s);
    assert_int_equal(weft_await(t), WEFT_ECLOSED);
    weft_task_free(t);
    char buf[2000];
    int n;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0) {
    }
    assert_int_equal(n, WEFT_ECLOSED);
    weft_http_response_free(r);
    return 0;
}

static void test_session_free(void **state)
{
    (void)state;
    RUN_HTTP(session_free_body, ctx, &total_10s);
}

/* ------------------------------------------------------------------ TLS */

#include "test_cert.h"

static char *cert_pem, *key_pem;

/* A throwaway self-signed certificate for 127.0.0.1, made with OpenSSL. */
static void make_cert(void)
{
    assert_int_equal(test_cert_make(&cert_pem, &key_pem), 0);
}

static int tls_main(void *arg)
{
    (void)arg;
    weft_tls_opts so = {.cert_pem = cert_pem, .key_pem = key_pem};
    weft_tls_ctx *tctx = NULL;
    assert_int_equal(weft_tls_server_ctx_new(&so, &tctx), 0);
    http_server *srv = NULL;
    assert_int_equal(http_server_start(tctx, &srv), 0);
    weft_http_response *r = NULL;
    /* verification is on by default: a self-signed certificate fails */
    weft_http_opts o = {.base_url = http_server_url(srv)};
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, "/secure", &r), WEFT_ECERT);
    weft_http_session_free(s);
    /* trusting it */
    o.ca_pem = cert_pem;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, "/secure", &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    assert_string_equal(weft_http_response_body(r, NULL), "ok");
    weft_http_response_free(r);
    weft_http_session_free(s);
    /* insecure */
    o.ca_pem = NULL;
    o.insecure = 1;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, "/secure", &r), 0);
    weft_http_response_free(r);
    weft_http_session_free(s);
    /* plain HTTP spoken to a TLS client: a TLS error */
    http_server *plain = NULL;
    assert_int_equal(http_server_start(NULL, &plain), 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", http_server_port(plain));
    o.base_url = NULL;
    assert_int_equal(weft_http_session_new(&o, &s), 0);
    assert_int_equal(weft_http_get(s, url, &r), WEFT_ETLS);
    weft_http_session_free(s);
    assert_int_equal(http_server_stop(plain), 0);
    assert_int_equal(http_server_stop(srv), 0);
    weft_tls_ctx_free(tctx);
    return 0;
}

static void test_tls(void **state)
{
    (void)state;
    make_cert();
    assert_int_equal(weft_run(tls_main, NULL), 0);
    free(cert_pem);
    free(key_pem);
}

/* ------------------------------------------------------ allocation failures */

static int alloc_body(void *arg)
{
    ctx *c = arg;
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        weft_http_session *s = NULL;
        weft_http_header h[] = {{"X-A", "1"}};
        weft_http_opts o = {.base_url = http_server_url(c->srv), .headers = h, .n_headers = 1};
        weft__fault_arm(WEFT__FAULT_ALLOC, n);
        int rc = weft_http_session_new(&o, &s);
        if (rc == 0) {
            weft_http_param p[] = {{"q", "v"}};
            weft_http_req req = {.url = "/a", .params = p, .n_params = 1};
            weft_http_response *r = NULL;
            rc = weft_http_request(s, &req, &r);
            if (rc == 0) {
                ok = weft_http_response_status(r) == 200;
                weft_http_response_free(r);
            }
            weft_http_session_free(s);
        }
        weft__fault_arm(WEFT__FAULT_ALLOC, 0);
        /* -ECONNRESET: the failed allocation was the server's (same process) */
        if (!ok && rc != -ENOMEM && rc != -ECONNRESET)
            fail_msg("allocation %ld: %s", n, weft_strerror(rc));
    }
    assert_true(ok);
    return 0;
}

static void test_alloc(void **state)
{
    (void)state;
    RUN_HTTP(alloc_body, ctx, &total_10s);
}

int main(void)
{
    /* the server writes to clients that went away (net streams do not
     * ignore SIGPIPE themselves yet) */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_faults), cmocka_unit_test(test_stream_faults),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_session_free),  cmocka_unit_test(test_tls),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
