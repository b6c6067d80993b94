/* fuzz_redis_reply: arbitrary bytes, in arbitrary pieces, through hiredis's
 * reader building weft's reply objects under arbitrary limits, checked
 * against hiredis's reader building a plain reference tree from the same
 * bytes. While within the limits, both give the same replies (types,
 * bytes, integers, structure) in the same order; when ours refuses
 * (WEFT_ELIMIT), the reference's next reply, if it completes, is indeed
 * over max_reply or deeper than max_depth; when the reference finds the
 * bytes malformed, ours does too. Nothing leaks, nothing is read out of
 * bounds (ASan), whatever the input.
 *
 * Input: byte 0 = chunking seed, byte 1 = max_reply selector, byte 2 =
 * max_depth (1..7), then the bytes a server sends. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

/* ------------------------------------------------------------ reference */

typedef struct ref {
    int type; /* REDIS_REPLY_* */
    long long integer;
    char *str;
    size_t len;        /* bytes, or elements announced */
    struct ref **elem; /* grown as children attach: no huge allocation up front */
    size_t have;
} ref;

static void ref_free(ref *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->have; i++)
        ref_free(r->elem[i]);
    free(r->elem);
    free(r->str);
    free(r);
}

static void *ref_attach(const redisReadTask *task, ref *r)
{
    if (task->parent) {
        ref *p = task->parent->obj;
        size_t i = (size_t)task->idx;
        if (i >= p->have) {
            ref **e = realloc(p->elem, (i + 1) * sizeof *e);
            if (e == NULL) {
                ref_free(r);
                return NULL;
            }
            memset(e + p->have, 0, (i + 1 - p->have) * sizeof *e);
            p->elem = e;
            p->have = i + 1;
        }
        p->elem[i] = r;
    }
    return r;
}

static ref *ref_new(int type)
{
    ref *r = calloc(1, sizeof *r);
    if (r)
        r->type = type;
    return r;
}

static void *ref_string(const redisReadTask *task, char *s, size_t len)
{
    ref *r = ref_new(task->type);
    if (r == NULL || (r->str = malloc(len + 1)) == NULL) {
        free(r);
        return NULL;
    }
    memcpy(r->str, s, len);
    r->len = len;
    return ref_attach(task, r);
}

static void *ref_array(const redisReadTask *task, int n)
{
    ref *r = ref_new(REDIS_REPLY_ARRAY);
    if (r == NULL)
        return NULL;
    r->len = n > 0 ? (size_t)n : 0;
    return ref_attach(task, r);
}

static void *ref_integer(const redisReadTask *task, long long v)
{
    ref *r = ref_new(REDIS_REPLY_INTEGER);
    if (r == NULL)
        return NULL;
    r->integer = v;
    return ref_attach(task, r);
}

static void *ref_nil(const redisReadTask *task)
{
    ref *r = ref_new(REDIS_REPLY_NIL);
    return r ? ref_attach(task, r) : NULL;
}

static void ref_free_obj(void *obj)
{
    ref_free(obj);
}

static redisReplyObjectFunctions ref_functions = {ref_string, ref_array, ref_integer, ref_nil,
                                                  ref_free_obj};

/* What our objects would cost (reply.c's count), and the nesting. */
static size_t ref_size(const ref *r)
{
    size_t size = sizeof(weft_redis_reply);
    if (r->type == REDIS_REPLY_ARRAY) {
        size += r->len * sizeof(weft_redis_reply *);
        for (size_t i = 0; i < r->have; i++)
            size += ref_size(r->elem[i]);
    } else if (r->str) {
        size += r->len + 1;
    }
    return size;
}

static int ref_depth(const ref *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return 0;
    int deepest = 0;
    for (size_t i = 0; i < r->have; i++) {
        int d = ref_depth(r->elem[i]);
        if (d > deepest)
            deepest = d;
    }
    return deepest + 1;
}

/* ------------------------------------------------------------ comparing */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_redis_reply: %s\n", what);
    abort();
}

static int expected_type(int ref_type)
{
    switch (ref_type) {
    case REDIS_REPLY_STRING:
        return WEFT_REDIS_STRING;
    case REDIS_REPLY_STATUS:
        return WEFT_REDIS_STATUS;
    case REDIS_REPLY_ERROR:
        return WEFT_REDIS_ERROR;
    case REDIS_REPLY_INTEGER:
        return WEFT_REDIS_INTEGER;
    case REDIS_REPLY_ARRAY:
        return WEFT_REDIS_ARRAY;
    default:
        return WEFT_REDIS_NIL;
    }
}

static void compare(const weft_redis_reply *w, const ref *r)
{
    if (w == NULL || r == NULL || (int)weft_redis_reply_type(w) != expected_type(r->type))
        fail("types differ");
    size_t len;
    const char *s;
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        if (weft_redis_reply_integer(w) != r->integer)
            fail("integers differ");
        break;
    case REDIS_REPLY_ARRAY:
        if (weft_redis_reply_count(w) != r->len || r->have != r->len)
            fail("array sizes differ");
        for (size_t i = 0; i < r->len; i++)
            compare(weft_redis_reply_at(w, i), r->elem[i]);
        break;
    case REDIS_REPLY_NIL:
        break;
    default:
        s = weft_redis_reply_string(w, &len);
        if (s == NULL || len != r->len || memcmp(s, r->str, len) != 0 || s[len] != '\0')
            fail("strings differ");
    }
}

/* ------------------------------------------------------------ the run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static const size_t limits[] = {1, 24, 64, 200, 1024, 4096, 65536, 16u << 20};
    weft__redis_limits lim = {.max_reply = limits[data[1] % 8], .max_depth = 1 + data[2] % 7};
    uint32_t seed = data[0] * 2654435761u + 7;
    const char *bytes = (const char *)data + 3;
    size -= 3;

    redisReader *ours = weft__redis_reader_new(&lim);
    redisReader *theirs = redisReaderCreateWithFunctions(&ref_functions);
    if (ours == NULL || theirs == NULL)
        fail("no reader");
    int our_err = 0, their_err = 0;
    bool judge_next = false; /* ours refused: judge the reference's next reply */
    size_t off = 0;
    while (off < size && their_err == 0) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 97;
        if (piece > size - off)
            piece = size - off;
        if (our_err == 0 && redisReaderFeed(ours, bytes + off, piece) != REDIS_OK)
            our_err = weft__redis_reader_error(ours, &lim);
        if (redisReaderFeed(theirs, bytes + off, piece) != REDIS_OK)
            their_err = 1;
        off += piece;
        for (;;) {
            void *t = NULL;
            weft_redis_reply *w = NULL;
            if (their_err == 0 && redisReaderGetReply(theirs, &t) != REDIS_OK)
                their_err = 1;
            if (our_err == 0) {
                int rc = weft__redis_reader_next(ours, &lim, &w);
                if (rc < 0)
                    our_err = rc;
                if (our_err == WEFT_ELIMIT)
                    judge_next = true;
            }
            if (t && w) {
                compare(w, t);
            } else if (t && judge_next) {
                if (ref_size(t) <= lim.max_reply && ref_depth(t) <= lim.max_depth)
                    fail("a reply within the limits was refused");
                judge_next = false;
            } else if (t && our_err == 0) {
                fail("the reference has a reply, ours none");
            } else if (w && t == NULL) {
                fail("ours has a reply, the reference none");
            }
            weft_redis_reply_free(w);
            ref_free(t);
            if (t == NULL && w == NULL)
                break;
        }
        if (their_err && our_err == 0)
            fail("malformed bytes accepted");
    }
    if (our_err != 0 && our_err != WEFT_ELIMIT && our_err != WEFT_EPROTOCOL && our_err != -ENOMEM)
        fail("an unexpected code");
    if (our_err == WEFT_EPROTOCOL && their_err == 0)
        fail("well-formed bytes refused as malformed");
    redisReaderFree(ours);
    redisReaderFree(theirs);
    return 0;
}
