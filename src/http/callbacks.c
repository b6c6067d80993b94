/* callbacks: libcurl's header and write callbacks — what arrives for a
 * transfer: the status line and headers (trailers apart), redirects'
 * intermediate responses dropped, the body stored up to its limit or, for
 * a streamed response, buffered until the reader takes it (pausing the
 * transfer when the reader is behind). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

/* Doubles the buffer until need fits, but never past most (>= need): a
 * body at its limit does not reserve twice the limit. */
static int grow(char **buf, size_t *cap, size_t need, size_t most)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c = c > SIZE_MAX / 2 ? SIZE_MAX : c * 2;
    if (c > most)
        c = most;
    char *p = weft__realloc(*buf, c);
    if (p == NULL)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* A line after the final header block is a trailer (chunked encoding):
 * kept apart, so that it can neither replace a header the caller holds nor
 * pass for a new status line. Lines without a token name are dropped. */
static size_t trailer_line(weft_http_response *t, const char *line, size_t l, size_t len)
{
    const char *colon = memchr(line, ':', l);
    if (colon == NULL || !weft__http_token(line, (size_t)(colon - line)))
        return len;
    const char *v = colon + 1;
    while (v < line + l && (*v == ' ' || *v == '\t'))
        v++;
    if (weft__http_hdrs_add(&t->trailers, line, (size_t)(colon - line), v,
                            (size_t)(line + l - v)) != 0) {
        t->cb_error = -ENOMEM;
        return 0;
    }
    return len;
}

/* A status line starts a new header block (after 1xx or a redirect, the
 * previous block is dropped); the empty line ends it. The headers are
 * final unless libcurl will follow a redirect from them. Every line counts
 * against max_header_size, trailers and 1xx blocks included: a server
 * cannot stream headers forever. */
size_t weft__http_header_cb(char *line, size_t size, size_t n, void *arg)
{
    weft_http_response *t = arg;
    size_t len = size * n;
    t->header_bytes += len;
    if (t->header_bytes > t->max_header) {
        t->cb_error = WEFT_ELIMIT;
        return 0;
    }
    if (t->read_ns != UINT64_MAX)
        t->last_activity = weft__now_ns();
    size_t l = len;
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
        l--;
    if (t->headers_done)
        return l == 0 ? len : trailer_line(t, line, l, len);
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        weft__http_hdrs_clear(&t->hdrs);
        t->redirecting = false;
        const char *sp = memchr(line, ' ', l);
        t->status = sp ? atoi(sp + 1) : 0;
        /* "HTTP/1.1 200", "HTTP/2 200": 11, 20 */
        t->version = 10 * atoi(line + 5);
        if (len > 7 && line[6] == '.')
            t->version += line[7] - '0';
        return len;
    }
    if (l == 0) { /* end of the block */
        if (t->status >= 200 && !t->redirecting) {
            t->headers_done = true;
            weft__http_poke(t);
        }
        return len;
    }
    const char *colon = memchr(line, ':', l);
    if (colon == NULL)
        return len; /* a folded or junk line: libcurl has judged it */
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < line + l && (*v == ' ' || *v == '\t'))
        v++;
    if (nlen == 8 && strncasecmp(line, "location", 8) == 0 && is_redirect(t->status) &&
        t->session && t->session->max_redirects >= 0)
        t->redirecting = true;
    if (weft__http_hdrs_add(&t->hdrs, line, nlen, v, (size_t)(line + l - v)) != 0) {
        t->cb_error = -ENOMEM;
        return 0; /* libcurl fails the transfer */
    }
    return len;
}

size_t weft__http_write_cb(char *data, size_t size, size_t n, void *arg)
{
    weft_http_response *t = arg;
    size_t len = size * n;
    if (t->read_ns != UINT64_MAX)
        t->last_activity = weft__now_ns();
    size_t buffered = t->body_len - t->body_off;
    if (t->stream) {
        /* Bounded: when the reader is behind, hold the data in libcurl. */
        if (buffered > 0 && buffered + len > t->stream_limit) {
            t->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        if (t->body_off > 0) { /* compact what the reader has taken */
            memmove(t->body, t->body + t->body_off, buffered);
            t->body_len = buffered;
            t->body_off = 0;
        }
    } else if (len > t->max_body - t->body_len) {
        /* decoded bytes: a compressed bomb stops here too */
        t->cb_error = WEFT_ELIMIT;
        return 0;
    }
    size_t most = t->stream || t->max_body == SIZE_MAX ? SIZE_MAX : t->max_body + 1;
    if (grow(&t->body, &t->body_cap, t->body_len + len + 1, most) != 0) {
        t->cb_error = -ENOMEM;
        return 0;
    }
    memcpy(t->body + t->body_len, data, len);
    t->body_len += len;
    t->body[t->body_len] = '\0';
    if (!t->headers_done) { /* a body without a header block (HTTP/0.9-like) */
        t->headers_done = true;
    }
    weft__http_poke(t);
    return len;
}
