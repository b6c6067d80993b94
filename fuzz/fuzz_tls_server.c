/* fuzz_tls_server: a hostile client against weft_tls_accept and the reads
 * after it. Byte 0 of the input picks how the client behaves:
 *   0  raw: the rest of the input is all the client sends (a ClientHello
 *      or garbage), in pieces, then EOF;
 *   1  handshake, then raw: a real TLS client shakes hands, then the rest
 *      of the input goes on the transport below TLS (broken records,
 *      alerts, garbage) and EOF;
 *   2  TLS-wrapped reads: a real client sends the payload of a stream
 *      model plan (stream_model.h) through TLS and closes with
 *      close_notify; the server reads it with the plan's calls under the
 *      plan's read limit, each checked against the model.
 * Whatever comes, the server's calls must return a documented result
 * (WEFT_ETLS, WEFT_ETIMEDOUT, a reset, EOF, the model's bytes), never
 * crash, leak or hang. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream_model.h"
#include "test_cert.h"
#include "weft.h"

enum { RAW, HANDSHAKE_THEN_RAW, TLS_READS, MODES };

/* One server per read limit of the model, so that a plan's limit holds
 * for the server's streams (a TLS stream takes its transport's). */
static weft_runner *runner;
static weft_server *servers[8];
static char paths[8][64];
static weft_tls_ctx *server_ctx, *client_ctx;

static int mode;
static model_plan plan;      /* TLS_READS */
static const uint8_t *bytes; /* RAW, HANDSHAKE_THEN_RAW */
static size_t nbytes;
static uint8_t chunk_seed;
static int handler_done;

static bool documented(int rc)
{
    return rc == WEFT_ETLS || rc == WEFT_ETIMEDOUT || rc == -ECONNRESET || rc == -EPIPE;
}

/* The server's side: accept, then read what comes. */
static int handler(weft_stream *s, void *arg)
{
    (void)arg;
    weft_stream *tls;
    int rc = weft_tls_accept(s, server_ctx, &tls);
    if (mode != RAW && rc != 0)
        model_fail("accept after a real handshake", 0, rc, 0);
    if (rc != 0) {
        if (!documented(rc))
            model_fail("accept", 0, rc, WEFT_ETLS);
        handler_done = 1;
        return 0;
    }
    if (mode == TLS_READS) {
        model_read_all(tls, &plan);
    } else { /* whatever the bytes were, reads end in EOF or an error */
        static uint8_t buf[4096];
        while ((rc = weft_stream_read(tls, buf, sizeof buf)) > 0) {
        }
        if (rc != 0 && !documented(rc))
            model_fail("read after the handshake", 0, rc, WEFT_ETLS);
    }
    handler_done = 1; /* before the close the client waits for: it need not poll */
    WEFT_IGNORE(weft_stream_close(tls)); /* a hostile client may be gone: no error to model */
    return 0;
}

/* Sends bytes in pieces from the seed; stops at the first error (the
 * server may hang up on garbage at any point). */
static void send_pieces(weft_stream *s, const uint8_t *p, size_t n)
{
    uint32_t x = chunk_seed * 2654435761u + 1;
    for (size_t off = 0; off < n;) {
        size_t piece = model_piece(&x, n - off);
        if (weft_stream_write(s, p + off, piece) != 0 || weft_sleep(0) != 0)
            return;
        off += piece;
    }
}

/* Reads until EOF or an error: the server's alerts, tickets and answers. */
static void drain(weft_stream *s)
{
    static uint8_t buf[4096];
    while (weft_stream_read(s, buf, sizeof buf) > 0) {
    }
}

static int client_main(void *arg)
{
    const char *path = arg;
    weft_stream *s, *tls = NULL;
    weft_net_opts o = {.read_buffer = 4096};
    int rc = weft_unix_connect(path, &o, &s);
    if (rc != 0)
        model_fail("connect", 0, rc, 0);
    if (mode != RAW && (rc = weft_tls_connect(s, client_ctx, "localhost", &tls)) != 0)
        model_fail("client handshake", 0, rc, 0);
    if (mode == TLS_READS) {
        model_send(tls, &plan);
        weft_stream_write_eof(tls); /* close_notify */
        drain(tls);
    } else {
        send_pieces(s, bytes, nbytes); /* below TLS when there is TLS */
        weft_stream_write_eof(s);
        drain(s);
    }
    for (int i = 0; i < 5000 && !handler_done; i++)
        if ((rc = weft_sleep(0.001)) != 0)
            model_fail("sleep", 0, rc, 0);
    if (!handler_done)
        model_fail("the server's handler did not finish", 0, 0, 1);
    WEFT_IGNORE(weft_stream_close(tls ? tls : s)); /* the server may have reset it */
    return 0;
}

/* The certificate is made before the loop runs: that takes long enough
 * for the blocked-loop report. */
static char *cert, *key;

static int start(void *arg)
{
    (void)arg;
    weft_tls_opts so = {.cert_pem = cert, .key_pem = key, .handshake_timeout = 5};
    weft_tls_opts co = {.ca_pem = cert};
    int rc = weft_tls_server_ctx_new(&so, &server_ctx);
    if (rc == 0)
        rc = weft_tls_client_ctx_new(&co, &client_ctx);
    for (int i = 0; rc == 0 && i < 8; i++) {
        /* Small first buffers: under ASan, fresh 64 KiB buffers for every
         * connection cost more than the TLS handshake. */
        weft_net_opts o = {.read_buffer = 4096, .read_limit = model_limits[i]};
        snprintf(paths[i], sizeof paths[i], "/tmp/weft-fuzz-tls-%d-%d.sock", (int)getpid(), i);
        unlink(paths[i]);
        rc = weft_unix_serve(paths[i], handler, NULL, &o, &servers[i]);
    }
    return rc;
}

static void cleanup(void)
{
    for (int i = 0; i < 8; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    model_name = "fuzz_tls_server";
    if (test_cert_make(&cert, &key) != 0 || weft_runner_new(&runner) != 0 ||
        weft_runner_run(runner, start, NULL) != 0) {
        fprintf(stderr, "fuzz_tls_server: cannot start the servers\n");
        abort();
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    mode = data[0] % MODES;
    int server = 0;
    if (mode == TLS_READS) {
        if (!model_parse(data + 1, size - 1, &plan))
            return 0;
        server = plan.limit_index;
    } else {
        chunk_seed = data[1];
        bytes = data + 2;
        nbytes = size - 2;
    }
    handler_done = 0;
    if (weft_runner_run(runner, client_main, paths[server]) != 0)
        abort();
    return 0;
}
