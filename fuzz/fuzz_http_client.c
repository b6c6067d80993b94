/* fuzz_http_client: the HTTP client against arbitrary server responses,
 * then a second request on the same session (kept-alive reuse). A server
 * on 127.0.0.1 in the same loop answers the first request with the
 * input's bytes, in pieces, and every later request with a good answer.
 * Input: byte 0 flags, byte 1 the piece seed (and split point), the rest
 * the response.
 *   flags bit 0  read the first response streamed (weft_http_response_read)
 *         bit 1  the server closes the connection after the bytes
 *         bit 2  keep_encoding (no decompression)
 *         bits 3-4  max_body_size: default, 16, 1000, 100000 bytes
 *         bits 5-6  max_header_size: default, 64, 1000, 100000 bytes
 *         bit 7  split: a 2 ms pause after byte `seed` (of 256ths of the
 *                input when it is longer than 255 bytes), so that bytes
 *                after a response's end arrive while the connection idles
 * What must hold: the first request returns 0 or a documented error (a
 * response within its limits, headers and trailers readable); the second
 * always gets its own answer ("second"), whatever the first left on the
 * connection; nothing crashes, leaks or hangs. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static weft_runner *runner;
static weft_server *server;
static int port;

/* this input */
static const uint8_t *bytes;
static size_t nbytes;
static unsigned flags;
static uint32_t piece_seed;
static size_t split_at;
static bool first_sent, sent_all, first_done;
static int requests;
static weft_stream *first_conn; /* the server's side, while it waits */

static void fail(const char *what, long got)
{
    fprintf(stderr, "fuzz_http_client: %s: %ld (%s)\n", what, got, weft_err_name((int)got));
    abort();
}

static bool documented(int rc)
{
    switch (rc) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -EPIPE:
    case WEFT_ETIMEDOUT:
    case WEFT_EINCOMPLETE:
    case WEFT_EREDIRECTS:
    case WEFT_ELIMIT:
    case WEFT_EHTTP:
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------ server */

static const char good[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond";

static size_t piece(size_t left)
{
    piece_seed = piece_seed * 1103515245u + 12345u;
    size_t n = 1 + (piece_seed >> 16) % 512;
    return n < left ? n : left;
}

/* The input's bytes in pieces, yielding between them so that the client
 * parses partial data; with the split flag, a pause at the split. */
static int send_first(weft_stream *io)
{
    int rc = 0;
    size_t split = nbytes < 256 ? split_at : split_at * nbytes / 256;
    if (!(flags & 0x80))
        split = SIZE_MAX;
    for (size_t off = 0; rc == 0 && off < nbytes;) {
        size_t n = piece(nbytes - off);
        if (off < split && off + n > split)
            n = split - off;
        rc = weft_stream_write(io, bytes + off, n);
        off += n;
        if (rc == 0 && off == split)
            rc = weft_stream_drain(io);
        if (rc == 0 && off < nbytes)
            rc = weft_sleep(off == split ? 0.002 : 0);
    }
    if (rc == 0)
        rc = weft_stream_drain(io);
    sent_all = true;
    return rc;
}

static int handler(weft_stream *io, void *arg)
{
    (void)arg;
    char head[4096];
    for (;;) {
        int n = weft_stream_read_until(io, "\r\n\r\n", 4, head, sizeof head);
        if (n <= 0)
            return 0;
        requests++;
        if (!first_sent) {
            first_sent = true;
            first_conn = io;
            int rc = send_first(io);
            first_conn = NULL;
            if (rc != 0 || (flags & 2))
                return 0; /* the server closes it */
            first_conn = io;
            continue; /* keep-alive: the next request may come here */
        }
        first_conn = NULL;
        if (weft_stream_write(io, good, sizeof good - 1) != 0)
            return 0;
    }
}

/* ------------------------------------------------------------ client */

static void check_fields(const weft_http_response *r)
{
    const char *name, *value;
    for (size_t i = 0; weft_http_response_header_at(r, i, &name, &value) == 0; i++)
        if (name == NULL || value == NULL || weft_http_response_header(r, name) == NULL)
            fail("a header without its name or value", (long)i);
    for (size_t i = 0; weft_http_response_trailer_at(r, i, &name, &value) == 0; i++)
        if (name == NULL || value == NULL || weft_http_response_trailer(r, name) == NULL)
            fail("a trailer without its name or value", (long)i);
}

static const size_t body_limits[4] = {0, 16, 1000, 100000};
static const size_t header_limits[4] = {0, 64, 1000, 100000};

static int first_request(void *arg)
{
    weft_http_session *s = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/first", port);
    weft_http_timeout to = {.total = 5};
    weft_http_req req = {.url = url, .stream = flags & 1, .timeout = &to};
    weft_http_response *r = NULL;
    int rc = weft_http_request(s, &req, &r);
    if (rc == 0) {
        check_fields(r);
        /* what the caller saw at once stays as it was: trailers neither
         * move the headers nor rewrite them or the status */
        int status = weft_http_response_status(r);
        const char *name0 = NULL, *value0 = NULL;
        weft_http_response_header_at(r, 0, &name0, &value0);
        size_t nh = 0;
        while (weft_http_response_header_at(r, nh, NULL, NULL) == 0)
            nh++;
        size_t len = 0;
        weft_http_response_body(r, &len);
        size_t most = body_limits[(flags >> 3) & 3];
        if (!(flags & 1) && most && len > most)
            fail("a body over max_body_size", (long)len);
        char buf[1024];
        int n = 0;
        while ((flags & 1) && (n = weft_http_response_read(r, buf, sizeof buf)) > 0) {
        }
        if (n < 0 && !documented(n))
            fail("streamed read", n);
        check_fields(r);
        const char *name1 = NULL, *value1 = NULL;
        weft_http_response_header_at(r, 0, &name1, &value1);
        size_t nh1 = 0;
        while (weft_http_response_header_at(r, nh1, NULL, NULL) == 0)
            nh1++;
        if (weft_http_response_status(r) != status || nh1 != nh || name1 != name0 ||
            value1 != value0 || (value0 && strlen(value0) > 100000))
            fail("the body's end changed the status or the headers", status);
        weft_http_response_free(r);
    } else if (!documented(rc)) {
        fail("first request", rc);
    }
    first_done = true;
    return 0;
}

static int client_main(void *arg)
{
    (void)arg;
    weft_http_opts o = {
        .max_redirects = -1, /* a Location elsewhere must not leave the machine */
        .keep_encoding = (flags >> 2) & 1,
        .max_body_size = body_limits[(flags >> 3) & 3],
        .max_header_size = header_limits[(flags >> 5) & 3],
    };
    weft_http_session *s = NULL;
    int rc = weft_http_session_new(&o, &s);
    if (rc != 0)
        fail("session", rc);
    weft_task *t = NULL;
    if ((rc = weft_spawn(first_request, s, &t)) != 0)
        fail("spawn", rc);
    /* A response the client cannot end by itself (no length, never
     * closed): once every byte is in and the client had a few turns of
     * the loop, the server closes, as a server's idle timeout would. */
    for (int i = 0; i < 3000 && !(first_done && sent_all); i++) {
        if (sent_all && i > 5 && first_conn) {
            weft_stream_abort(first_conn);
            first_conn = NULL;
        }
        if ((rc = weft_sleep(0.001)) != 0)
            fail("sleep", rc);
    }
    if (!first_done || !sent_all)
        fail("the first request hangs", 0);
    if ((rc = weft_await(t)) != 0)
        fail("first request task", rc);
    weft_task_free(t);
    /* Every byte the server sent has arrived: the second request's answer
     * must be its own. */
    if ((rc = weft_sleep(0.001)) != 0)
        fail("sleep", rc);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/second", port);
    weft_http_response *r = NULL;
    rc = weft_http_get(s, url, &r);
    if (rc != 0)
        fail("second request", rc);
    size_t len = 0;
    const char *body = weft_http_response_body(r, &len);
    if (weft_http_response_status(r) != 200 || len != 6 || memcmp(body, "second", 6) != 0)
        fail("the second request got another answer: status", weft_http_response_status(r));
    weft_http_response_free(r);
    weft_http_session_free(s);
    return 0;
}

static int start(void *arg)
{
    (void)arg;
    int rc = weft_tcp_serve("127.0.0.1", 0, handler, NULL, NULL, &server);
    if (rc == 0)
        port = weft_server_port(server);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (weft_runner_new(&runner) != 0 || weft_runner_run(runner, start, NULL) != 0) {
        fprintf(stderr, "fuzz_http_client: cannot start the server\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    flags = data[0];
    piece_seed = split_at = data[1];
    bytes = data + 2;
    nbytes = size - 2;
    first_sent = sent_all = first_done = false;
    first_conn = NULL;
    requests = 0;
    if (weft_runner_run(runner, client_main, NULL) != 0)
        abort();
    return 0;
}
