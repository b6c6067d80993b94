/* fuzz_http_server_parser: the partner test server's request parser
 * (tests/http_server.c: http_request_parse, http_query_get) on arbitrary
 * bytes, as a hostile client would send them. Byte 0 is the capacity the
 * query values are copied into (0..255); the rest is the request head.
 * Checked against the parser's promises: a parsed head has a method and a
 * target that fit, a query inside the target, a length within the cap,
 * and a value lookup never writes past its buffer (ASan) and always ends
 * its copy with a NUL. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.c"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_http_server_parser: %s\n", what);
    abort();
}

/* The knobs the server looks up, and a few that are not. */
static const char *const keys[] = {"status",   "delay", "len",   "slow", "chunk", "bad",
                                   "redirect", "echo",  "close", "",     "a",     "x=y"};

static void check_query(const char *query, size_t cap)
{
    char *out = malloc(cap ? cap : 1); /* exactly cap bytes: ASan sees any overrun */
    if (out == NULL)
        return;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = http_query_get(query, keys[i], out, cap);
        if (v != NULL && (v != out || cap == 0 || strlen(out) >= cap))
            fail("a query value past its buffer");
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = data[0];
    char *head = malloc(size); /* the head as the server holds it: NUL-terminated */
    if (head == NULL)
        return 0;
    memcpy(head, data + 1, size - 1);
    head[size - 1] = '\0';
    http_request_head h;
    int rc = http_request_parse(head, &h);
    if (rc == 0) {
        size_t tl = strnlen(h.target, sizeof h.target);
        if (h.method[0] == '\0' || strnlen(h.method, sizeof h.method) >= sizeof h.method ||
            tl == 0 || tl >= sizeof h.target)
            fail("method or target out of bounds");
        if (h.query[0] != '\0' && (h.query <= h.target || h.query > h.target + tl))
            fail("query outside the target");
        if (h.content_length < 0 || h.content_length > HTTP_SERVER_MAX_BODY)
            fail("content length out of range");
        check_query(h.query, cap);
    } else if (rc != -EPROTO) {
        fail("an undocumented result");
    }
    check_query(head, cap); /* any bytes as a query string */
    free(head);
    return 0;
}
