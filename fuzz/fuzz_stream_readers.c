/* fuzz_stream_readers: a peer sends arbitrary bytes in arbitrary pieces and
 * the other side reads them with an arbitrary sequence of read, read_exactly,
 * read_until and readline calls. Each call's result is checked against a
 * model computed from the bytes themselves: the readers must hand back
 * exactly the stream, in order, honour every limit, and leave what they
 * refuse to consume in the buffer.
 *
 * Input: byte 0 = number of read calls (mod 32), then 3 bytes per call
 * (kind, two parameter bytes), then 1 byte of chunking seed, then the
 * payload the peer sends. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

#define MAX_CALLS 32

typedef struct call {
    uint8_t kind, p1, p2;
} call;

typedef struct plan {
    call calls[MAX_CALLS];
    size_t ncalls;
    uint8_t chunk_seed;
    const uint8_t *payload;
    size_t len;
} plan;

static weft_runner *runner;
static weft_server *server;
static char sock_path[64];
static plan current;
static int writer_done;

static void fail(const char *what, size_t at, int got, int want)
{
    fprintf(stderr, "fuzz_stream_readers: %s at offset %zu: got %d, want %d\n", what, at, got,
            want);
    abort();
}

/* The peer: sends the payload in pieces of 1..64 bytes (from the seed),
 * yielding between them so that reads see partial data, then EOF. */
static int writer(weft_stream *s, void *arg)
{
    (void)arg;
    uint32_t x = current.chunk_seed * 2654435761u + 1;
    size_t off = 0;
    while (off < current.len) {
        x = x * 1103515245u + 12345u;
        size_t piece = 1 + (x >> 16) % 64;
        if (piece > current.len - off)
            piece = current.len - off;
        if (weft_stream_write(s, current.payload + off, piece) != 0)
            break;
        off += piece;
        if (weft_sleep(0) != 0)
            break;
    }
    weft_stream_write_eof(s);
    writer_done = 1;
    return 0;
}

/* Where the first occurrence of sep ends within the first `within` bytes
 * of rest, or 0. */
static size_t find_end(const uint8_t *rest, size_t n, const uint8_t *sep, size_t seplen,
                       size_t within)
{
    if (within > n)
        within = n;
    for (size_t i = 0; i + seplen <= within; i++)
        if (memcmp(rest + i, sep, seplen) == 0)
            return i + seplen;
    return 0;
}

static void check_bytes(const char *what, size_t off, const uint8_t *got, size_t n)
{
    if (memcmp(got, current.payload + off, n) != 0)
        fail(what, off, 0, 1);
}

/* One read call against the model; returns false at end of stream. */
static bool run_call(weft_stream *s, const call *c, size_t *off, uint8_t *buf)
{
    const uint8_t *rest = current.payload + *off;
    size_t left = current.len - *off;
    size_t size = 1 + (((size_t)c->p1 << 8 | c->p2) % 2048);
    int rc;
    switch (c->kind % 4) {
    case 0: /* read */
        rc = weft_stream_read(s, buf, size);
        if (rc < 0 || (size_t)rc > size || (size_t)rc > left || (rc == 0 && left != 0))
            fail("read", *off, rc, (int)(left < size ? left : size));
        check_bytes("read bytes", *off, buf, (size_t)rc);
        *off += (size_t)rc;
        return rc > 0;
    case 1: /* read_exactly */
        rc = weft_stream_read_exactly(s, buf, size);
        if (left < size) {
            if (rc != WEFT_EINCOMPLETE)
                fail("read_exactly short", *off, rc, WEFT_EINCOMPLETE);
            return true; /* nothing consumed: later calls still see it */
        }
        if (rc != 0)
            fail("read_exactly", *off, rc, 0);
        check_bytes("read_exactly bytes", *off, buf, size);
        *off += size;
        return true;
    default: { /* read_until with a 1-3 byte separator made of p1, or readline */
        uint8_t sep[3] = {c->p1, (uint8_t)(c->p1 + 1), (uint8_t)(c->p1 + 2)};
        size_t seplen = 1 + c->p2 % 3, cap = 1 + c->p2 % 512;
        bool line = c->kind % 4 == 3;
        if (line) {
            sep[0] = '\n';
            seplen = 1;
        }
        if (cap < seplen)
            cap = seplen;
        rc = line ? weft_stream_readline(s, (char *)buf, cap)
                  : weft_stream_read_until(s, sep, seplen, buf, cap);
        size_t end = find_end(rest, left, sep, seplen, cap);
        if (end) {
            if (rc != (int)end)
                fail(line ? "readline" : "read_until", *off, rc, (int)end);
        } else if (left >= cap) {
            if (rc != WEFT_ELIMIT)
                fail("limit", *off, rc, WEFT_ELIMIT);
            return true;
        } else if (line) { /* readline returns the rest at the end */
            if (rc != (int)left)
                fail("readline tail", *off, rc, (int)left);
        } else {
            if (rc != WEFT_EINCOMPLETE)
                fail("read_until short", *off, rc, WEFT_EINCOMPLETE);
            return true;
        }
        check_bytes("separated bytes", *off, buf, (size_t)rc);
        *off += (size_t)rc;
        return rc > 0;
    }
    }
}

static int reader_main(void *arg)
{
    (void)arg;
    weft_stream *s;
    int rc = weft_unix_connect(sock_path, NULL, &s);
    if (rc != 0)
        fail("connect", 0, rc, 0);
    static uint8_t buf[2048];
    size_t off = 0;
    for (size_t i = 0; i < current.ncalls; i++)
        if (!run_call(s, &current.calls[i], &off, buf))
            break;
    /* Whatever the calls left must still come out, in order. */
    while ((rc = weft_stream_read(s, buf, sizeof buf)) > 0) {
        check_bytes("drain", off, buf, (size_t)rc);
        off += (size_t)rc;
    }
    if (rc != 0 || off != current.len)
        fail("drain end", off, rc, (int)current.len);
    if ((rc = weft_stream_close(s)) != 0) /* nothing written: nothing to flush */
        fail("close", off, rc, 0);
    for (int i = 0; i < 1000 && !writer_done; i++)
        if ((rc = weft_sleep(0.001)) != 0)
            fail("sleep", off, rc, 0);
    if (!writer_done)
        fail("writer did not finish", off, 0, 1);
    return 0;
}

static int start_server(void *arg)
{
    (void)arg;
    return weft_unix_serve(sock_path, writer, NULL, NULL, &server);
}

static void cleanup(void)
{
    unlink(sock_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(sock_path, sizeof sock_path, "/tmp/weft-fuzz-%d.sock", (int)getpid());
    unlink(sock_path);
    if (weft_runner_new(&runner) != 0 || weft_runner_run(runner, start_server, NULL) != 0) {
        fprintf(stderr, "fuzz_stream_readers: cannot start the server\n");
        abort();
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    current.ncalls = data[0] % MAX_CALLS;
    size_t need = 1 + 3 * current.ncalls + 1;
    if (size < need)
        return 0;
    for (size_t i = 0; i < current.ncalls; i++) {
        current.calls[i].kind = data[1 + 3 * i];
        current.calls[i].p1 = data[2 + 3 * i];
        current.calls[i].p2 = data[3 + 3 * i];
    }
    current.chunk_seed = data[need - 1];
    current.payload = data + need;
    current.len = size - need;
    writer_done = 0;
    if (weft_runner_run(runner, reader_main, NULL) != 0)
        abort();
    return 0;
}
