/* stream_model.h: what the stream-reader fuzzers share (fuzz_stream_readers
 * over a Unix socket, fuzz_tls_server over TLS). A peer sends arbitrary
 * bytes in arbitrary pieces; the other side reads them with an arbitrary
 * sequence of read, read_exactly, read_until and readline calls, each
 * checked against a model computed from the bytes themselves: the readers
 * must hand back exactly the stream, in order, honour every limit, leave
 * what they refuse to consume in the buffer, and never buffer more than
 * the stream's read limit or what a read asked for.
 *
 * A plan: byte 0 = number of read calls (low 5 bits) and the read limit
 * (high 3 bits: an index in model_limits), then 3 bytes per call (kind, two
 * parameter bytes), then 1 byte of chunking seed, then the payload. */
#ifndef WEFT_FUZZ_STREAM_MODEL_H
#define WEFT_FUZZ_STREAM_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

#define MODEL_MAX_CALLS 32

/* Read limits a plan picks from: 0 is the default (256 KiB); the small
 * ones pause and resume the transport at nearly every byte. */
static const size_t model_limits[8] = {0, 1, 2, 3, 16, 100, 1000, 5000};

typedef struct model_call {
    uint8_t kind, p1, p2;
} model_call;

typedef struct model_plan {
    model_call calls[MODEL_MAX_CALLS];
    size_t ncalls;
    size_t read_limit; /* 0: the default */
    int limit_index;
    uint8_t chunk_seed;
    const uint8_t *payload;
    size_t len;
} model_plan;

static const char *model_name = "stream model"; /* the target, for messages */

static void model_fail(const char *what, size_t at, long got, long want)
{
    fprintf(stderr, "%s: %s at offset %zu: got %ld, want %ld\n", model_name, what, at, got, want);
    abort();
}

/* false if the input is too short for its own plan. */
static bool model_parse(const uint8_t *data, size_t size, model_plan *p)
{
    if (size < 2)
        return false;
    p->ncalls = data[0] % MODEL_MAX_CALLS;
    p->limit_index = data[0] >> 5;
    p->read_limit = model_limits[p->limit_index];
    size_t need = 1 + 3 * p->ncalls + 1;
    if (size < need)
        return false;
    for (size_t i = 0; i < p->ncalls; i++) {
        p->calls[i].kind = data[1 + 3 * i];
        p->calls[i].p1 = data[2 + 3 * i];
        p->calls[i].p2 = data[3 + 3 * i];
    }
    p->chunk_seed = data[need - 1];
    p->payload = data + need;
    p->len = size - need;
    return true;
}

/* The next piece's size: 1..64 bytes from the seed's sequence. */
static size_t model_piece(uint32_t *x, size_t left)
{
    *x = *x * 1103515245u + 12345u;
    size_t piece = 1 + (*x >> 16) % 64;
    return piece < left ? piece : left;
}

/* The peer: sends the payload in pieces, yielding between them so that
 * reads see partial data. Returns the first write error, or 0. */
static int model_send(weft_stream *s, const model_plan *p)
{
    uint32_t x = p->chunk_seed * 2654435761u + 1;
    for (size_t off = 0; off < p->len;) {
        size_t piece = model_piece(&x, p->len - off);
        int rc = weft_stream_write(s, p->payload + off, piece);
        if (rc != 0)
            return rc;
        off += piece;
        if ((rc = weft_sleep(0)) != 0)
            return rc;
    }
    return 0;
}

/* Where the first occurrence of sep ends within the first `within` bytes
 * of rest, or 0. */
static size_t model_find_end(const uint8_t *rest, size_t n, const uint8_t *sep, size_t seplen,
                             size_t within)
{
    if (within > n)
        within = n;
    for (size_t i = 0; i + seplen <= within; i++)
        if (memcmp(rest + i, sep, seplen) == 0)
            return i + seplen;
    return 0;
}

static void model_check_bytes(const model_plan *p, const char *what, size_t off, const uint8_t *got,
                              size_t n)
{
    if (memcmp(got, p->payload + off, n) != 0)
        model_fail(what, off, 0, 1);
}

/* The most a stream may buffer after reads that asked for up to `asked`. */
static void model_check_bounded(weft_stream *s, const model_plan *p, size_t asked, size_t off)
{
    size_t limit = p->read_limit ? p->read_limit : 256 * 1024;
    size_t most = asked > limit ? asked : limit;
    if (weft_stream_buffered(s) > most)
        model_fail("buffered past the read limit", off, (long)weft_stream_buffered(s), (long)most);
}

/* One read call against the model; returns false at end of stream. *asked
 * grows to the most any call asked for. */
static bool model_call_one(weft_stream *s, const model_plan *p, const model_call *c, size_t *off,
                           uint8_t *buf, size_t *asked)
{
    const uint8_t *rest = p->payload + *off;
    size_t left = p->len - *off;
    size_t size = 1 + (((size_t)c->p1 << 8 | c->p2) % 2048);
    int rc;
    switch (c->kind % 4) {
    case 0: /* read */
        rc = weft_stream_read(s, buf, size);
        if (rc < 0 || (size_t)rc > size || (size_t)rc > left || (rc == 0 && left != 0))
            model_fail("read", *off, rc, (long)(left < size ? left : size));
        model_check_bytes(p, "read bytes", *off, buf, (size_t)rc);
        *off += (size_t)rc;
        return rc > 0;
    case 1: /* read_exactly */
        if (size > *asked)
            *asked = size;
        rc = weft_stream_read_exactly(s, buf, size);
        if (left < size) {
            if (rc != WEFT_EINCOMPLETE)
                model_fail("read_exactly short", *off, rc, WEFT_EINCOMPLETE);
            return true; /* nothing consumed: later calls still see it */
        }
        if (rc != 0)
            model_fail("read_exactly", *off, rc, 0);
        model_check_bytes(p, "read_exactly bytes", *off, buf, size);
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
        if (cap > *asked)
            *asked = cap;
        rc = line ? weft_stream_readline(s, (char *)buf, cap)
                  : weft_stream_read_until(s, sep, seplen, buf, cap);
        size_t end = model_find_end(rest, left, sep, seplen, cap);
        if (end) {
            if (rc != (int)end)
                model_fail(line ? "readline" : "read_until", *off, rc, (long)end);
        } else if (left >= cap) {
            if (rc != WEFT_ELIMIT)
                model_fail("limit", *off, rc, WEFT_ELIMIT);
            return true;
        } else if (line) { /* readline returns the rest at the end */
            if (rc != (int)left)
                model_fail("readline tail", *off, rc, (long)left);
        } else {
            if (rc != WEFT_EINCOMPLETE)
                model_fail("read_until short", *off, rc, WEFT_EINCOMPLETE);
            return true;
        }
        model_check_bytes(p, "separated bytes", *off, buf, (size_t)rc);
        *off += (size_t)rc;
        return rc > 0;
    }
    }
}

/* Runs the plan's calls on s, then drains it: every byte must come out in
 * order, then the end of the stream. */
static void model_read_all(weft_stream *s, const model_plan *p)
{
    static uint8_t buf[2048];
    size_t off = 0, asked = 0;
    for (size_t i = 0; i < p->ncalls; i++) {
        bool more = model_call_one(s, p, &p->calls[i], &off, buf, &asked);
        model_check_bounded(s, p, asked, off);
        if (!more)
            break;
    }
    int rc;
    while ((rc = weft_stream_read(s, buf, sizeof buf)) > 0) {
        model_check_bytes(p, "drain", off, buf, (size_t)rc);
        off += (size_t)rc;
        model_check_bounded(s, p, asked, off);
    }
    if (rc != 0 || off != p->len)
        model_fail("drain end", off, rc, (long)p->len);
}

#endif
