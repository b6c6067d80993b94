/* Tests of TLS streams: a throwaway self-signed certificate made here with
 * the OpenSSL API (nothing on disk), a TLS echo over TCP and over a Unix
 * socket, verification on by default (unknown CA, wrong name), the
 * explicit off switch, plain-text peers on either side, and a handshake
 * that never finishes (timeout). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "test_cert.h"
#include "weft.h"
#include "test_support.h"

typedef struct ctx {
    weft_tls_ctx *server_ctx;
    weft_server *srv;
    int port;
    int accept_rc;
    int done;
} ctx;

/* TLS echo. */
static int tls_echo_handler(weft_stream *s, void *arg)
{
    ctx *c = arg;
    weft_stream *tls;
    c->accept_rc = weft_tls_accept(s, c->server_ctx, &tls);
    if (c->accept_rc != 0) {
        c->done++;
        return c->accept_rc;
    }
    char buf[4096];
    int n;
    while ((n = weft_stream_read(tls, buf, sizeof buf)) > 0)
        if (weft_stream_write(tls, buf, (size_t)n) != 0)
            break;
    int rc = weft_stream_close(tls);
    c->done++;
    return rc;
}

static void server_up(ctx *c, weft_stream_handler h)
{
    weft_tls_opts so = {.cert_pem = test_cert_pem, .key_pem = test_key_pem};
    assert_int_equal(weft_tls_server_ctx_new(&so, &c->server_ctx), 0);
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, h, c, NULL, &c->srv), 0);
    c->port = weft_server_port(c->srv);
}

static void server_down(ctx *c)
{
    assert_int_equal(weft_server_close(c->srv, 1.0), 0);
    weft_tls_ctx_free(c->server_ctx);
}

static int t_echo(void *arg)
{
    ctx *c = arg;
    server_up(c, tls_echo_handler);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&co, &cctx), 0);
    const char *names[] = {"localhost", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        weft_stream *tcp, *tls;
        assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
        assert_int_equal(weft_tls_connect(tcp, cctx, names[i], &tls), 0);
        char buf[64 * 1024];
        assert_int_equal(weft_stream_write(tls, "hello tls\n", 10), 0);
        assert_int_equal(weft_stream_readline(tls, buf, sizeof buf), 10);
        assert_memory_equal(buf, "hello tls\n", 10);
        /* more than one record each way */
        static char big[100 * 1024];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\n';
        assert_int_equal(weft_stream_write(tls, big, sizeof big), 0);
        int total = 0;
        while (total < (int)sizeof big) {
            int n = weft_stream_read(tls, buf, sizeof buf);
            assert_true(n > 0);
            total += n;
        }
        /* the line limit still works and leaves the stream usable */
        assert_int_equal(weft_stream_write(tls, big, 300), 0);
        assert_int_equal(weft_stream_write(tls, "\n", 1), 0);
        assert_int_equal(weft_stream_readline(tls, buf, 100), WEFT_ELIMIT);
        assert_int_equal(weft_stream_read_exactly(tls, buf, 301), 0);
        struct sockaddr_storage peer;
        assert_int_equal(weft_stream_peername(tls, &peer), 0);
        assert_int_equal(weft_stream_set_nodelay(tls, 1), 0);
        assert_int_equal(weft_stream_close(tls), 0); /* closes tcp too */
        WAIT_UNTIL(c->done == i + 1);
    }
    weft_tls_ctx_free(cctx);
    server_down(c);
    return 0;
}

static void test_tls_echo(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_echo, &c), 0);
}

/* Verification is on by default: an unknown CA and a wrong name fail with
 * WEFT_ECERT; insecure turns it off. */
static int t_verify(void *arg)
{
    ctx *c = arg;
    server_up(c, tls_echo_handler);
    weft_tls_ctx *system_ctx, *trusting, *insecure;
    assert_int_equal(weft_tls_client_ctx_new(NULL, &system_ctx), 0);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    assert_int_equal(weft_tls_client_ctx_new(&co, &trusting), 0);
    weft_tls_opts io = {.insecure = 1};
    assert_int_equal(weft_tls_client_ctx_new(&io, &insecure), 0);

    weft_stream *tcp, *tls = NULL;
    assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, system_ctx, "localhost", &tls), WEFT_ECERT);
    assert_null(tls);
    assert_int_equal(weft_stream_close(tcp), 0); /* the transport stayed ours */

    assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, trusting, "example.com", &tls), WEFT_ECERT);
    assert_int_equal(weft_stream_close(tcp), 0);

    assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, insecure, "example.com", &tls), 0);
    assert_int_equal(weft_stream_write(tls, "x\n", 2), 0);
    char buf[8];
    assert_int_equal(weft_stream_readline(tls, buf, sizeof buf), 2);
    assert_int_equal(weft_stream_close(tls), 0);
    WAIT_UNTIL(c->done == 3);

    weft_tls_ctx_free(system_ctx);
    weft_tls_ctx_free(trusting);
    weft_tls_ctx_free(insecure);
    weft_tls_opts bad = {.cert_pem = test_cert_pem, .key_pem = "not a key"};
    weft_tls_ctx *bctx;
    assert_int_equal(weft_tls_server_ctx_new(&bad, &bctx), WEFT_ECERT);
    assert_int_equal(weft_tls_server_ctx_new(NULL, &bctx), -EINVAL);
    weft_tls_opts noca = {.ca_pem = "garbage"};
    assert_int_equal(weft_tls_client_ctx_new(&noca, &bctx), WEFT_ECERT);
    server_down(c);
    return 0;
}

static void test_tls_verify(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_verify, &c), 0);
}

/* A plain-text server: the client's handshake fails with WEFT_ETLS. */
static int plain_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char buf[512];
    int rc = weft_stream_read(s, buf, sizeof buf); /* a ClientHello */
    if (rc >= 0)
        rc = weft_stream_write(s, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
    return rc < 0 ? rc : 0;
}

static int t_plain_peers(void *arg)
{
    ctx *c = arg;
    server_up(c, plain_handler);
    weft_tls_opts io = {.insecure = 1};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&io, &cctx), 0);
    weft_stream *tcp, *tls;
    assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, cctx, "localhost", &tls), WEFT_ETLS);
    assert_int_equal(weft_stream_close(tcp), 0);
    /* the other way: a plain client talks to a TLS server */
    assert_int_equal(weft_server_close(c->srv, 1.0), 0);
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, tls_echo_handler, c, NULL, &c->srv), 0);
    assert_int_equal(weft_tcp_connect("127.0.0.1", weft_server_port(c->srv), NULL, &tcp), 0);
    assert_int_equal(weft_stream_write(tcp, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    WAIT_UNTIL(c->done == 1);
    assert_int_equal(c->accept_rc, WEFT_ETLS);
    assert_int_equal(weft_stream_close(tcp), 0);
    weft_tls_ctx_free(cctx);
    server_down(c);
    return 0;
}

static void test_tls_plain_peer(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_plain_peers, &c), 0);
}

/* A server that accepts TCP and then says nothing: the handshake waits
 * until the timeout scope ends it. Also: misuse and allocation failure. */
static int mute_handler(weft_stream *s, void *arg)
{
    (void)s;
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

static int t_timeout(void *arg)
{
    ctx *c = arg;
    server_up(c, mute_handler);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&co, &cctx), 0);
    weft_stream *tcp, *tls;
    assert_int_equal(weft_tcp_connect("127.0.0.1", c->port, NULL, &tcp), 0);
    weft_timeout *to;
    assert_int_equal(weft_timeout_begin(0.1, &to), 0);
    int rc = weft_tls_connect(tcp, cctx, "localhost", &tls);
    assert_int_equal(weft_timeout_end(to, rc), WEFT_ETIMEDOUT);
    /* The context's own handshake timeout, without a scope (issue 12). */
    weft_tls_opts quick = {.ca_pem = test_cert_pem, .handshake_timeout = 0.2};
    weft_tls_ctx *qctx;
    assert_int_equal(weft_tls_client_ctx_new(&quick, &qctx), 0);
    double t0 = weft_time();
    assert_int_equal(weft_tls_connect(tcp, qctx, "localhost", &tls), WEFT_ETIMEDOUT);
    assert_true(weft_time() - t0 >= 0.19 && weft_time() - t0 < 2.0);
    weft_tls_ctx_free(qctx);
    weft_tls_opts bad = {.handshake_timeout = -1};
    assert_int_equal(weft_tls_client_ctx_new(&bad, &qctx), -EINVAL);
    bad = (weft_tls_opts){
        .cert_pem = test_cert_pem, .key_pem = test_key_pem, .handshake_timeout = NAN};
    assert_int_equal(weft_tls_server_ctx_new(&bad, &qctx), -EINVAL);
    assert_int_equal(weft_tls_connect(tcp, c->server_ctx, "localhost", &tls), -EINVAL);
    weft__fault_arm(WEFT__FAULT_ALLOC, 1);
    assert_int_equal(weft_tls_connect(tcp, cctx, "localhost", &tls), -ENOMEM);
    weft__fault_arm(WEFT__FAULT_ALLOC, 0);
    assert_int_equal(weft_stream_close(tcp), 0);
    weft_tls_ctx_free(cctx);
    assert_int_equal(weft_server_close(c->srv, 0.05), 0); /* cancels the mute handler */
    weft_tls_ctx_free(c->server_ctx);
    return 0;
}

static void test_tls_handshake_timeout(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_timeout, &c), 0);
}

/* The transport's read_timeout holds for the TLS stream: a TLS read that
 * does not complete in time fails with WEFT_ETIMEDOUT and the stream stays
 * usable (the timeout is not a sticky error). */
static int tls_timed_handler(weft_stream *s, void *arg)
{
    ctx *c = arg;
    weft_stream *tls;
    c->accept_rc = weft_tls_accept(s, c->server_ctx, &tls);
    if (c->accept_rc != 0)
        return c->accept_rc;
    char buf[64];
    int rc = weft_stream_readline(tls, buf, sizeof buf); /* "half" and no newline */
    assert_int_equal(rc, WEFT_ETIMEDOUT);
    c->done = 1;
    rc = weft_stream_readline(tls, buf, sizeof buf);
    assert_int_equal(rc, 10);
    assert_memory_equal(buf, "half line\n", 10);
    assert_int_equal(weft_stream_write(tls, "ok\n", 3), 0);
    assert_int_equal(weft_stream_close(tls), 0);
    c->done = 2;
    return 0;
}

static int t_read_timeout(void *arg)
{
    ctx *c = arg;
    weft_tls_opts so = {.cert_pem = test_cert_pem, .key_pem = test_key_pem};
    assert_int_equal(weft_tls_server_ctx_new(&so, &c->server_ctx), 0);
    weft_net_opts no = {.read_timeout = 0.3};
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, tls_timed_handler, c, &no, &c->srv), 0);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&co, &cctx), 0);
    weft_stream *tcp, *tls;
    assert_int_equal(weft_tcp_connect("127.0.0.1", weft_server_port(c->srv), NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, cctx, "localhost", &tls), 0);
    assert_int_equal(weft_stream_write(tls, "half", 4), 0);
    WAIT_UNTIL(c->done == 1);
    assert_int_equal(weft_stream_write(tls, " line\n", 6), 0);
    char buf[8];
    assert_int_equal(weft_stream_readline(tls, buf, sizeof buf), 3);
    WAIT_UNTIL(c->done == 2);
    assert_int_equal(weft_stream_close(tls), 0);
    weft_tls_ctx_free(cctx);
    server_down(c);
    return 0;
}

static void test_tls_read_timeout(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_read_timeout, &c), 0);
}

/* TLS over a Unix-domain socket: layered on any stream. */
static int t_unix(void *arg)
{
    ctx *c = arg;
    weft_tls_opts so = {.cert_pem = test_cert_pem, .key_pem = test_key_pem};
    assert_int_equal(weft_tls_server_ctx_new(&so, &c->server_ctx), 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-tls-%d.sock", (int)getpid());
    unlink(path);
    assert_int_equal(weft_unix_serve(path, tls_echo_handler, c, NULL, &c->srv), 0);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&co, &cctx), 0);
    weft_stream *us, *tls;
    assert_int_equal(weft_unix_connect(path, NULL, &us), 0);
    assert_int_equal(weft_tls_connect(us, cctx, "localhost", &tls), 0);
    assert_int_equal(weft_stream_write(tls, "over unix\n", 10), 0);
    char buf[32];
    assert_int_equal(weft_stream_readline(tls, buf, sizeof buf), 10);
    assert_int_equal(weft_stream_write_eof(tls), 0); /* close_notify: the server sees EOF */
    WAIT_UNTIL(c->done == 1);
    assert_int_equal(weft_stream_read(tls, buf, sizeof buf), 0);
    assert_int_equal(weft_stream_close(tls), 0);
    weft_tls_ctx_free(cctx);
    server_down(c);
    return 0;
}

static void test_tls_unix(void **state)
{
    (void)state;
    ctx c = {0};
    assert_int_equal(weft_run(t_unix, &c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_echo),       cmocka_unit_test(test_tls_verify),
        cmocka_unit_test(test_tls_plain_peer), cmocka_unit_test(test_tls_handshake_timeout),
        cmocka_unit_test(test_tls_unix),       cmocka_unit_test(test_tls_read_timeout),
    };
    return cmocka_run_group_tests(tests, test_cert_setup, test_cert_teardown);
}
