/* Hostile servers against the HTTP client (issue 12): trailers that try to
 * rewrite the response (and, before the fix, freed the headers the caller
 * held), endless headers, endless bodies, a decompression bomb, bytes left
 * behind a response for the next request to swallow, resets in the middle
 * of a frame, headers at one byte a time under a read timeout. Each asserts
 * the documented error and that memory stayed bounded. The server is a
 * script on weft's streams (127.0.0.1, port 0): each test says what it
 * answers to each request. */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "weft.h"
#include "test_support.h"

/* ------------------------------------------------------ scripted server */

/* Answers request number req (0-based, counted over the whole server).
 * Returns 0 to keep the connection, nonzero to end it. */
typedef int (*answer_fn)(weft_stream *io, int req);

static struct {
    weft_server *srv;
    int port;
    answer_fn answer;
    int requests, connections;
    char head[4096]; /* the last request's head */
} S;

static int script_handler(weft_stream *io, void *arg)
{
    (void)arg;
    S.connections++;
    char head[8192];
    for (;;) {
        int n = weft_stream_read_until(io, "\r\n\r\n", 4, head, sizeof head - 1);
        if (n <= 0)
            break;
        head[n] = '\0';
        snprintf(S.head, sizeof S.head, "%.4000s", head);
        if (S.answer(io, S.requests++) != 0)
            break;
    }
    return 0;
}

static void serve(answer_fn answer)
{
    memset(&S, 0, sizeof S);
    S.answer = answer;
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, script_handler, NULL, NULL, &S.srv), 0);
    S.port = weft_server_port(S.srv);
}

static void unserve(void)
{
    assert_int_equal(weft_server_close(S.srv, 0.05), 0);
}

static const char *url(const char *path)
{
    static char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d%s", S.port, path);
    return u;
}

static int say(weft_stream *io, const char *text)
{
    return weft_stream_write(io, text, strlen(text));
}

/* Sends the same piece until the client stops reading or `most` bytes. */
static int flood(weft_stream *io, const char *piece, size_t most)
{
    size_t n = strlen(piece);
    for (size_t sent = 0; sent < most; sent += n)
        if (weft_stream_write(io, piece, n) != 0)
            return 1;
    return 1;
}

/* Every answer after the test's own: the request that must get its own
 * answer, not what a previous response left on the connection. */
static int second(weft_stream *io)
{
    return say(io, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
}

static void get_second(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/second"), &r), 0);
    assert_int_equal(weft_http_response_status(r), 200);
    size_t len;
    assert_string_equal(weft_http_response_body(r, &len), "second");
    weft_http_response_free(r);
}

typedef int (*body_fn)(weft_http_session *s);

typedef struct run_args {
    answer_fn answer;
    const weft_http_opts *opts;
    body_fn body;
} run_args;

static int run_main(void *arg)
{
    run_args *a = arg;
    serve(a->answer);
    weft_http_session *s = NULL;
    assert_int_equal(weft_http_session_new(a->opts, &s), 0);
    int rc = a->body(s);
    weft_http_session_free(s);
    unserve();
    return rc;
}

static void run(answer_fn answer, const weft_http_opts *opts, body_fn body)
{
    run_args a = {answer, opts, body};
    RUN_WITH(run_main, &a);
}

/* Bytes the process gained while fn ran: the bound the tests assert is
 * generous (several times the limit), the floods are far larger. */
static size_t rss_growth(size_t before)
{
    size_t now = test_rss_bytes();
    return now > before ? now - before : 0;
}

#define MiB (1024 * 1024)

/* ------------------------------------------------------------- trailers */

/* Headers, a pause (the client hands them to the caller), then the last
 * chunk with ~500 bytes of trailers, the last one a status line. Before
 * the fix the trailers went into the header buffer: its realloc freed the
 * Content-Type the caller held (ASan: heap-use-after-free), and the
 * status line turned the 200 into 500 and emptied the headers. */
static int answer_trailers(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    int rc = say(io, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    if (rc == 0)
        rc = weft_stream_drain(io);
    if (rc == 0)
        rc = weft_sleep(0.05);
    char t[2048] = "0\r\n";
    for (int i = 0; i < 10; i++)
        snprintf(t + strlen(t), sizeof t - strlen(t), "X-Trailer-%d: %040d\r\n", i, i);
    strcat(t, "HTTP/1.1 500 Evil: x\r\n\r\n");
    return rc == 0 ? say(io, t) : 1;
}

static void check_trailers(weft_http_response *r, const char *content_type)
{
    assert_int_equal(weft_http_response_status(r), 200);
    assert_non_null(content_type);
    assert_string_equal(content_type, "text/plain"); /* the pointer from before */
    assert_ptr_equal(weft_http_response_header(r, "content-type"), content_type);
    assert_null(weft_http_response_header(r, "HTTP/1.1 500 Evil"));
    assert_null(weft_http_response_header(r, "X-Trailer-0"));
    const char *name, *value;
    assert_int_equal(weft_http_response_header_at(r, 1, &name, &value), 0);
    assert_string_equal(name, "Transfer-Encoding");
    assert_int_equal(weft_http_response_header_at(r, 2, &name, &value), -ENOENT);
    /* the trailers, apart; the status line among them dropped */
    assert_string_equal(weft_http_response_trailer(r, "x-trailer-3"),
                        "0000000000000000000000000000000000000003");
    assert_int_equal(weft_http_response_trailer_at(r, 9, &name, &value), 0);
    assert_string_equal(name, "X-Trailer-9");
    assert_int_equal(weft_http_response_trailer_at(r, 10, &name, &value), -ENOENT);
    assert_null(weft_http_response_trailer(r, "HTTP/1.1 500 Evil"));
}

static int trailers_streamed(weft_http_session *s)
{
    weft_http_req req = {.url = url("/"), .stream = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(s, &req, &r), 0);
    const char *ct = weft_http_response_header(r, "Content-Type");
    assert_string_equal(ct, "text/plain");
    assert_int_equal(weft_http_response_status(r), 200);
    char body[64];
    size_t got = 0;
    int n;
    while ((n = weft_http_response_read(r, body + got, sizeof body - 1 - got)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    body[got] = '\0';
    assert_string_equal(body, "hello");
    check_trailers(r, ct);
    weft_http_response_free(r);
    get_second(s);
    return 0;
}

static int trailers_whole(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), 0);
    assert_string_equal(weft_http_response_body(r, NULL), "hello");
    check_trailers(r, weft_http_response_header(r, "content-type"));
    weft_http_response_free(r);
    get_second(s);
    return 0;
}

static void test_trailers(void **state)
{
    (void)state;
    run(answer_trailers, NULL, trailers_streamed);
    run(answer_trailers, NULL, trailers_whole);
}

/* ------------------------------------------------------ endless headers */

static int answer_endless_headers(weft_stream *io, int req)
{
    (void)req;
    if (say(io, "HTTP/1.1 200 OK\r\n") != 0)
        return 1;
    return flood(io, "X-Junk: 0123456789012345678901234567890123456789012345678901234\r\n",
                 256 * MiB);
}

/* 1xx blocks are headers too: a server that never ends "100 Continue". */
static int answer_endless_continue(weft_stream *io, int req)
{
    (void)req;
    return flood(io, "HTTP/1.1 100 Continue\r\nX-Again: 1\r\n\r\n", 256 * MiB);
}

/* One header line that never ends: libcurl refuses it past 100 KiB. */
static int answer_giant_line(weft_stream *io, int req)
{
    (void)req;
    if (say(io, "HTTP/1.1 200 OK\r\nX-Giant: ") != 0)
        return 1;
    return flood(io, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64 * MiB);
}

/* 20 KiB of headers, then a body: fine by default, over an 8 KiB limit. */
static int headers_20k(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    static char m[32 * 1024];
    size_t n = (size_t)snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(m + n, sizeof m - n, "X-Line-%03d: %054d\r\n", i, i);
    n += (size_t)snprintf(m + n, sizeof m - n, "Content-Length: 2\r\n\r\nok");
    return weft_stream_write(io, m, n);
}

static int expect_20k(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), 0);
    assert_non_null(weft_http_response_header(r, "X-Line-299"));
    weft_http_response_free(r);
    return 0;
}

static int expect_elimit(weft_http_session *s)
{
    size_t before = test_rss_bytes();
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), WEFT_ELIMIT);
    assert_null(r);
    assert_true(rss_growth(before) < 16 * MiB);
    get_second(s);
    return 0;
}

static int answer_then_second(weft_stream *io, int req, answer_fn first)
{
    return req == 0 ? first(io, req) : second(io);
}
static int endless_headers(weft_stream *io, int req)
{
    return answer_then_second(io, req, answer_endless_headers);
}
static int endless_continue(weft_stream *io, int req)
{
    return answer_then_second(io, req, answer_endless_continue);
}
static int giant_line(weft_stream *io, int req)
{
    return answer_then_second(io, req, answer_giant_line);
}

static void test_endless_headers(void **state)
{
    (void)state;
    weft_http_timeout to = {.total = 20};
    weft_http_opts o = {.timeout = to};
    run(endless_headers, &o, expect_elimit);
    /* past libcurl's own cap on a response's headers (300 KiB), which it
     * reports as a receive error: still WEFT_ELIMIT, not -ECONNRESET */
    weft_http_opts big = {.timeout = to, .max_header_size = 64 * MiB};
    run(endless_headers, &big, expect_elimit);
    run(endless_continue, &o, expect_elimit);
    run(giant_line, &o, expect_elimit);
    /* max_header_size below libcurl's own caps */
    run(headers_20k, NULL, expect_20k);
    weft_http_opts small = {.max_header_size = 8192};
    run(headers_20k, &small, expect_elimit);
}

/* --------------------------------------------------------- endless body */

static int endless_body(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    if (say(io, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n") != 0)
        return 1;
    static char piece[65537];
    memset(piece, 'b', sizeof piece - 1);
    return flood(io, piece, 160 * MiB); /* far past the default 32 MiB */
}

static int huge_length(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    say(io, "HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\nxx");
    return 1;
}

#if defined(__SANITIZE_ADDRESS__) || defined(WEFT_ASAN)
#define ENDLESS_BODY_RSS_BOUND (150 * MiB)
#else
#define ENDLESS_BODY_RSS_BOUND (100 * MiB)
#endif

static int expect_elimit_body(weft_http_session *s)
{
    size_t before = test_rss_bytes();
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), WEFT_ELIMIT);
    /* the default limit is 32 MiB: the client held at most that (and,
     * under ASan, the buffers its growth freed, in quarantine: 72 MiB in
     * most runs, 108 in one of ten; below the 160 MiB body either way) */
    assert_true(rss_growth(before) < ENDLESS_BODY_RSS_BOUND);
    get_second(s);
    return 0;
}

static void test_endless_body(void **state)
{
    (void)state;
    run(endless_body, NULL, expect_elimit_body);
    weft_http_opts small = {.max_body_size = MiB};
    run(endless_body, &small, expect_elimit);
    run(huge_length, NULL, expect_elimit);
}

/* ----------------------------------------------------- decompression bomb */

/* A gzip member of n zero bytes: one literal, then back-references of 258
 * bytes (13 bits each, fixed Huffman codes), so 256 MiB fit in 1.6 MB.
 * The CRC in the trailer is left 0: the client stops long before it. */
typedef struct bits {
    unsigned char *p;
    size_t n;
    uint32_t acc;
    int k;
} bits;

static void put(bits *b, uint32_t v, int n)
{
    b->acc |= v << b->k;
    for (b->k += n; b->k >= 8; b->k -= 8, b->acc >>= 8)
        b->p[b->n++] = (unsigned char)b->acc;
}

static void put_code(bits *b, uint32_t code, int n) /* Huffman codes go MSB first */
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put(b, r, n);
}

static size_t gzip_zeros(size_t n, unsigned char **out)
{
    size_t reps = (n - 1) / 258;
    bits b = {malloc(32 + reps * 2), 0, 0, 0};
    assert_non_null(b.p);
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(b.p, head, sizeof head);
    b.n = sizeof head;
    put(&b, 1, 1);         /* the last block */
    put(&b, 1, 2);         /* fixed codes */
    put_code(&b, 0x30, 8); /* literal 0 */
    for (size_t i = 0; i < reps; i++) {
        put_code(&b, 0xc5, 8); /* length 258 */
        put_code(&b, 0, 5);    /* distance 1 */
    }
    put_code(&b, 0, 7); /* end of block */
    put(&b, 0, 7);      /* to a byte */
    uint32_t size = (uint32_t)(1 + reps * 258);
    unsigned char tail[8] = {0,
                             0,
                             0,
                             0,
                             (unsigned char)size,
                             (unsigned char)(size >> 8),
                             (unsigned char)(size >> 16),
                             (unsigned char)(size >> 24)};
    memcpy(b.p + b.n, tail, 8);
    *out = b.p;
    return b.n + 8;
}

static unsigned char *bomb;
static size_t bomb_len;

static int answer_bomb(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", bomb_len);
    if (say(io, head) != 0)
        return 1;
    return weft_stream_write(io, bomb, bomb_len);
}

static int bomb_refused(weft_http_session *s)
{
    int rc = expect_elimit_body(s);
    assert_non_null(strcasestr(S.head, "Accept-Encoding"));
    return rc;
}

static int bomb_kept(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), 0);
    size_t len;
    const char *body = weft_http_response_body(r, &len);
    assert_int_equal(len, bomb_len); /* as sent, not decoded */
    assert_memory_equal(body, bomb, bomb_len);
    assert_string_equal(weft_http_response_header(r, "Content-Encoding"), "gzip");
    assert_null(strcasestr(S.head, "Accept-Encoding"));
    weft_http_response_free(r);
    return 0;
}

static void test_decompression_bomb(void **state)
{
    (void)state;
    bomb_len = gzip_zeros(256 * MiB, &bomb); /* 256 MiB decoded, 1.6 MB sent */
    assert_true(bomb_len < 2 * MiB);
    run(answer_bomb, NULL, bomb_refused);
    weft_http_opts small = {.max_body_size = MiB};
    run(answer_bomb, &small, expect_elimit);
    weft_http_opts raw = {.keep_encoding = 1};
    run(answer_bomb, &raw, bomb_kept);
    free(bomb);
}

/* ------------------------------------------------------- desync on reuse */

/* Each answers the first request with a response that leaves bytes behind
 * it on the connection, shaped as an answer; the second request must get
 * its own ("second"), on a new connection. */
static int after_204(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    int rc = say(io, "HTTP/1.1 204 No Content\r\n\r\n");
    if (rc == 0)
        rc = weft_stream_drain(io);
    if (rc == 0)
        rc = weft_sleep(0.02); /* arrives while the connection idles in the pool */
    return rc == 0 ? say(io, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL") : 1;
}

static int after_length(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    int rc = say(io, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (rc == 0)
        rc = weft_stream_drain(io);
    if (rc == 0)
        rc = weft_sleep(0.02);
    return rc == 0 ? say(io, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL") : 1;
}

/* Junk behind the last chunk, in the same write, longer than libcurl's
 * read buffer: what it does not read waits on the socket. */
static int after_chunks(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    static char m[64 * 1024];
    int n = snprintf(m, sizeof m,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                     40000);
    memset(m + n, 'E', 40000);
    return weft_stream_write(io, m, (size_t)n + 40000);
}

static int desync(weft_http_session *s, int pause)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/first"), &r), 0);
    int status = weft_http_response_status(r);
    assert_true(status == 200 || status == 204);
    weft_http_response_free(r);
    if (pause)
        assert_int_equal(weft_sleep(0.1), 0);
    get_second(s);
    assert_int_equal(S.connections, 2);
    return 0;
}

static int desync_paused(weft_http_session *s)
{
    return desync(s, 1);
}

static int desync_at_once(weft_http_session *s)
{
    return desync(s, 0);
}

static void test_desync(void **state)
{
    (void)state;
    run(after_204, NULL, desync_paused);
    run(after_length, NULL, desync_paused);
    run(after_chunks, NULL, desync_at_once);
}

/* ------------------------------------------------------ reset mid-frame */

/* Sends text, lets it arrive, then resets (RST) the connection. */
static int reset_after(weft_stream *io, const char *text)
{
    say(io, text);
    WEFT_IGNORE(weft_stream_drain(io));
    WEFT_IGNORE(weft_sleep(0.05));
    weft_stream_abort(io);
    return 1;
}

static int reset_in_chunk(weft_stream *io, int req)
{
    return req > 0 ? second(io)
                   : reset_after(io, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "10\r\nhalf");
}

static int reset_in_headers(weft_stream *io, int req)
{
    return req > 0 ? second(io) : reset_after(io, "HTTP/1.1 200 OK\r\nContent-Ty");
}

static int expect_reset(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), -ECONNRESET);
    get_second(s);
    return 0;
}

static int expect_reset_streamed(weft_http_session *s)
{
    weft_http_req req = {.url = url("/"), .stream = 1};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request(s, &req, &r), 0);
    char buf[64];
    int n, got = 0;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0)
        got += n;
    assert_int_equal(n, -ECONNRESET);
    assert_true(got <= 4);
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), -ECONNRESET); /* sticky */
    weft_http_response_free(r);
    get_second(s);
    return 0;
}

static void test_reset_mid_frame(void **state)
{
    (void)state;
    run(reset_in_chunk, NULL, expect_reset);
    run(reset_in_chunk, NULL, expect_reset_streamed);
    run(reset_in_headers, NULL, expect_reset);
}

/* --------------------------------------------------- slow headers, read */

/* A header line that takes 1.3 s to arrive, a byte every 50 ms, under a
 * 0.3 s read timeout: data flows, so the timeout must not fire. Before the
 * fix only complete lines counted. */
static int slow_header(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    if (say(io, "HTTP/1.1 200 OK\r\n") != 0)
        return 1;
    const char *line = "X-Slow: 0123456789abcdef\r\n";
    for (const char *p = line; *p; p++)
        if (weft_stream_write(io, p, 1) != 0 || weft_stream_drain(io) != 0 || weft_sleep(0.05) != 0)
            return 1;
    return say(io, "Content-Length: 2\r\n\r\nok");
}

/* Half a header line, then silence. */
static int silent_header(weft_stream *io, int req)
{
    if (req > 0)
        return second(io);
    if (say(io, "HTTP/1.1 200 OK\r\nX-Part") != 0)
        return 1;
    WEFT_IGNORE(weft_sleep(10)); /* cancelled when the server closes */
    return 1;
}

static int slow_ok(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), 0);
    assert_string_equal(weft_http_response_header(r, "x-slow"), "0123456789abcdef");
    assert_string_equal(weft_http_response_body(r, NULL), "ok");
    weft_http_response_free(r);
    return 0;
}

static int silent_times_out(weft_http_session *s)
{
    double t0 = weft_time();
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), WEFT_ETIMEDOUT);
    double took = weft_time() - t0;
    assert_true(took >= 0.29);
    assert_true(took < 5);
    get_second(s);
    return 0;
}

static void test_slow_headers(void **state)
{
    (void)state;
    weft_http_opts o = {.timeout = {.read = 0.3}};
    run(slow_header, &o, slow_ok);
    run(silent_header, &o, silent_times_out);
}

/* ------------------------------------------------------- many headers */

#define MANY 25000 /* 275 KB: under libcurl's own 300 KiB cap */

static int many_headers(weft_stream *io, int req)
{
    (void)req;
    static char m[MANY * 16 + 128];
    size_t n = (size_t)snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(m + n, sizeof m - n, "H%05d: v\r\n", i);
    n += (size_t)snprintf(m + n, sizeof m - n, "Content-Length: 2\r\n\r\nok");
    return weft_stream_write(io, m, n);
}

/* Iterating every header by position is linear: before the index, each
 * header_at walked from the first header (45,001 headers took 10 s; these 25,000 over a second). */
static int iterate_many(weft_http_session *s)
{
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_get(s, url("/"), &r), 0);
    clock_t c0 = clock();
    const char *name, *value;
    char want[16];
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(weft_http_response_header_at(r, (size_t)i, &name, &value), 0);
        snprintf(want, sizeof want, "H%05d", i);
        assert_string_equal(name, want);
    }
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    assert_true(cpu < 0.5); /* quadratic: seconds; linear: milliseconds */
    assert_int_equal(weft_http_response_header_at(r, MANY + 1, &name, &value), -ENOENT);
    weft_http_response_free(r);
    return 0;
}

static void test_many_headers(void **state)
{
    (void)state;
    weft_http_opts o = {.max_header_size = 4 * MiB};
    run(many_headers, &o, iterate_many);
}

/* ------------------------------------------------------------ validation */

static int answer_ok(weft_stream *io, int req)
{
    (void)req;
    return second(io);
}

static int validation(weft_http_session *s)
{
    weft_http_opts bad = {.base_url = "::not a url::"};
    weft_http_session *t = NULL;
    assert_int_equal(weft_http_session_new(&bad, &t), -EINVAL);
    assert_null(t);
    weft_http_req req = {.url = url("/"), .stream = 1};
    weft_http_retry retry = {.jitter = 5};
    weft_http_response *r = NULL;
    assert_int_equal(weft_http_request_retry(s, &req, &retry, &r), -EINVAL);
    retry.jitter = -0.5;
    assert_int_equal(weft_http_request_retry(s, &req, &retry, &r), -EINVAL);
    retry.jitter = 1;
    assert_int_equal(weft_http_request_retry(s, &req, &retry, &r), 0);
    assert_int_equal(weft_http_response_read(r, NULL, 0), 0); /* no memcpy from NULL */
    char buf[8];
    assert_int_equal(weft_http_response_read(r, buf, sizeof buf), 6);
    assert_int_equal(weft_http_response_read(r, NULL, 0), 0);
    assert_int_equal(weft_http_response_read(r, NULL, 1), -EINVAL);
    weft_http_response_free(r);
    return 0;
}

static void test_validation(void **state)
{
    (void)state;
    run(answer_ok, NULL, validation);
}

/* ------------------------------------------------------------ error map */

static bool documented(int rc)
{
    static const int codes[] = {-ECONNREFUSED,   -ECONNRESET,  -EAGAIN,   -EADDRNOTAVAIL,
                                WEFT_ETIMEDOUT,  WEFT_ENONAME, WEFT_EDNS, WEFT_EINCOMPLETE,
                                WEFT_EREDIRECTS, WEFT_ELIMIT,  -ENOMEM,   WEFT_ECERT,
                                WEFT_ETLS,       WEFT_EHTTP,   -EINVAL,   -EIO};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (rc == codes[i])
            return true;
    return false;
}

/* Every libcurl code maps into http.h's list (the map is docs/http.md's
 * table); the ones a hostile server provokes map to what they mean. */
static void test_error_map(void **state)
{
    (void)state;
    weft_http_response t;
    memset(&t, 0, sizeof t);
    t.easy = curl_easy_init();
    assert_non_null(t.easy);
    assert_int_equal(weft__http_map_error(&t, CURLE_OK), 0);
    for (int cc = 1; cc < CURL_LAST + 5; cc++) {
        int rc = weft__http_map_error(&t, (CURLcode)cc);
        if (!documented(rc))
            fail_msg("CURLcode %d maps to %d (%s), not a documented code", cc, rc,
                     weft_err_name(rc));
    }
    assert_int_equal(weft__http_map_error(&t, CURLE_FILESIZE_EXCEEDED), WEFT_ELIMIT);
    assert_int_equal(weft__http_map_error(&t, CURLE_PEER_FAILED_VERIFICATION), WEFT_ECERT);
    assert_int_equal(weft__http_map_error(&t, CURLE_WEIRD_SERVER_REPLY), WEFT_EHTTP);
    assert_int_equal(weft__http_map_error(&t, CURLE_BAD_FUNCTION_ARGUMENT), WEFT_EHTTP);
    t.headers_done = true;
    assert_int_equal(weft__http_map_error(&t, CURLE_OUT_OF_MEMORY), -ENOMEM);
    t.headers_done = false;
    snprintf(t.errbuf, sizeof t.errbuf, "Rejected 102401 bytes header (max is 102400)!");
    assert_int_equal(weft__http_map_error(&t, CURLE_OUT_OF_MEMORY), WEFT_ELIMIT);
    t.errbuf[0] = '\0';
    t.status = 200; /* in the middle of a header block */
    assert_int_equal(weft__http_map_error(&t, CURLE_OUT_OF_MEMORY), WEFT_ELIMIT);
    t.headers_done = true;
    assert_int_equal(weft__http_map_error(&t, CURLE_OUT_OF_MEMORY), -ENOMEM);
    snprintf(t.errbuf, sizeof t.errbuf, "Too large response headers: 307203 > 307200");
    assert_int_equal(weft__http_map_error(&t, CURLE_RECV_ERROR), WEFT_ELIMIT);
    t.cb_error = WEFT_ELIMIT;
    assert_int_equal(weft__http_map_error(&t, CURLE_WRITE_ERROR), WEFT_ELIMIT);
    curl_easy_cleanup(t.easy);
}

int main(int argc, char **argv)
{
    if (argc > 1) /* one test by name (a failed one leaves its loop behind) */
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trailers),     cmocka_unit_test(test_endless_headers),
        cmocka_unit_test(test_endless_body), cmocka_unit_test(test_decompression_bomb),
        cmocka_unit_test(test_desync),       cmocka_unit_test(test_reset_mid_frame),
        cmocka_unit_test(test_slow_headers), cmocka_unit_test(test_many_headers),
        cmocka_unit_test(test_validation),   cmocka_unit_test(test_error_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
