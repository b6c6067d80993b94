/* fuzz_redis_url: arbitrary text through the Redis URL parser. It must
 * refuse with -EINVAL or -ENAMETOOLONG, or accept with fields that hold
 * together (an address of one kind, a port in range, a password beside a
 * user, no control characters), and what it accepted, written back as a
 * URL with everything %-escaped, must parse to the same fields.
 *
 * Input: the URL (cut at the first NUL). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

static void fail(const char *what, const char *url)
{
    fprintf(stderr, "fuzz_redis_url: %s: '%s'\n", what, url);
    abort();
}

static void check_text(const char *s, const char *url)
{
    for (const unsigned char *p = (const unsigned char *)s; s && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fail("a control character in a field", url);
}

/* A bounded string builder: what does not fit is cut, and `cut` says so. */
typedef struct text {
    char *buf;
    size_t len, cap;
    bool cut;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->cut = true;
        t->len = t->cap - 1;
    } else {
        t->len += (size_t)n;
    }
}

/* Appends s %-escaped (everything but letters, digits and `keep`). */
static void escape(text *t, const char *s, const char *keep)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            (keep && strchr(keep, *p)))
            put(t, "%c", *p);
        else
            put(t, "%%%02X", *p);
    }
}

static void rebuild(const weft__redis_url *u, text *t)
{
    put(t, "%s", u->is_unix ? "unix://" : "redis://");
    if (u->password) {
        if (u->username)
            escape(t, u->username, NULL);
        put(t, ":");
        escape(t, u->password, NULL);
        put(t, "@");
    }
    if (u->is_unix)
        escape(t, u->path, "/");
    else if (strchr(u->host, ':'))
        put(t, "[%s]:%d", u->host, u->port);
    else
        put(t, "%s:%d", u->host, u->port);
    put(t, "?db=%d", u->db);
    if (u->client_name) {
        put(t, "&name=");
        escape(t, u->client_name, NULL);
    }
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    weft__redis_url u;
    int rc = weft__redis_url_parse(url, &u);
    if (rc != 0) {
        if (rc != -EINVAL && rc != -ENAMETOOLONG && rc != -ENOMEM)
            fail("an unexpected code", url);
        free(url);
        return 0;
    }
    if (u.is_unix) {
        if (u.path == NULL || u.path[0] != '/' || strlen(u.path) >= 108 || u.host)
            fail("a bad socket path", url);
    } else if (u.host == NULL || u.host[0] == '\0' || u.port < 1 || u.port > 65535 || u.path) {
        fail("a bad host or port", url);
    }
    if (u.db < 0 || (u.username && u.password == NULL))
        fail("a bad db or a user without password", url);
    check_text(u.host, url);
    check_text(u.path, url);
    check_text(u.username, url);
    check_text(u.password, url);
    check_text(u.client_name, url);

    text again = {.cap = 3 * size + 256};
    again.buf = malloc(again.cap);
    if (again.buf) {
        again.buf[0] = '\0';
        rebuild(&u, &again);
        weft__redis_url v;
        if (again.cut)
            fail("the URL written back did not fit", url);
        if (weft__redis_url_parse(again.buf, &v) != 0)
            fail("the URL written back does not parse", again.buf);
        if (v.is_unix != u.is_unix || !same(v.host, u.host) || v.port != u.port ||
            !same(v.path, u.path) || !same(v.username, u.username) ||
            !same(v.password, u.password) || v.db != u.db || !same(v.client_name, u.client_name))
            fail("the URL written back parses differently", again.buf);
        weft__redis_url_free(&v);
        free(again.buf);
    }
    weft__redis_url_free(&u);
    free(url);
    return 0;
}
