/* http_server: the partner API of the HTTP tests and examples — a small
 * HTTP/1.1 server on weft's streams that answers as the query string asks
 * (status, delay, slow or malformed bodies, resets, redirect loops) and
 * counts what it sees. See http_server.h for the knobs. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_server.h"

struct http_server {
    weft_server *srv;
    weft_tls_ctx *tls;
    int port;
    unsigned requests, connections;
    int fail_left, fail_status;
    char url[64];
};

int http_server_port(const http_server *s)
{
    return s->port;
}
const char *http_server_url(const http_server *s)
{
    return s->url;
}
unsigned http_server_requests(const http_server *s)
{
    return s->requests;
}
unsigned http_server_connections(const http_server *s)
{
    return s->connections;
}
void http_server_fail_next(http_server *s, int n, int status)
{
    s->fail_left = n;
    s->fail_status = status;
}

/* The value of key in a query string ("a=1&b=2"), copied into out
 * (truncated to cap - 1 bytes), or NULL. */
const char *http_query_get(const char *query, const char *key, char *out, size_t cap)
{
    if (cap == 0)
        return NULL;
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = len - klen - 1;
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return out;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

#define qget http_query_get

static double qnum(const char *query, const char *key, double dflt)
{
    char v[32];
    return qget(query, key, v, sizeof v) ? atof(v) : dflt;
}

static int send_all(weft_stream *io, const void *buf, size_t n)
{
    return weft_stream_write(io, buf, n);
}

static int send_head(weft_stream *io, const char *status_line, const char *extra, long len,
                     int close)
{
    char head[1024];
    int n =
        snprintf(head, sizeof head, "%s\r\nServer: weft-partner\r\nContent-Length: %ld\r\n%s%s\r\n",
                 status_line, len, close ? "Connection: close\r\n" : "", extra ? extra : "");
    return send_all(io, head, (size_t)n);
}

static int send_body(weft_stream *io, const char *body, size_t len, double slow, size_t chunk)
{
    if (slow <= 0)
        return send_all(io, body, len);
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        int rc = send_all(io, body + off, k);
        if (rc == 0)
            rc = weft_stream_drain(io);
        if (rc == 0 && off + k < len)
            rc = weft_sleep(slow);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct request {
    char pre;
    char head[16384];
    http_request_head h;
    char *body;
    size_t body_len;
} request;

/* A Content-Length value: digits only (optional blanks around them), at
 * most HTTP_SERVER_MAX_BODY; -1 for anything else. */
static long parse_length(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    long n = 0;
    const char *d = v;
    for (; *d >= '0' && *d <= '9'; d++) {
        n = n * 10 + (*d - '0');
        if (n > HTTP_SERVER_MAX_BODY)
            return -1;
    }
    while (*d == ' ' || *d == '\t')
        d++;
    return d > v && (*d == '\r' || *d == '\0') ? n : -1;
}

int http_request_parse(const char *head, http_request_head *h)
{
    if (sscanf(head, "%15s %4095s", h->method, h->target) != 2)
        return -EPROTO;
    char *q = strchr(h->target, '?');
    h->query = q ? q + 1 : "";
    h->content_length = 0;
    bool seen = false;
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) != 0)
            continue;
        long n = parse_length(line + 17);
        /* a bad or second, different length: how requests get smuggled */
        if (n < 0 || (seen && n != h->content_length))
            return -EPROTO;
        h->content_length = n;
        seen = true;
    }
    return 0;
}

/* Reads one request; 1 when one came, 0 at the end of the connection. */
static int read_request(weft_stream *io, request *r)
{
    size_t pre = r->pre ? 1 : 0; /* a first byte already read */
    r->head[0] = r->pre;
    r->pre = 0;
    int n = weft_stream_read_until(io, "\r\n\r\n", 4, r->head + pre, sizeof r->head - 1 - pre);
    if (n <= 0)
        return n == WEFT_EINCOMPLETE ? 0 : n;
    n += (int)pre;
    r->head[n] = '\0';
    int rc = http_request_parse(r->head, &r->h);
    if (rc != 0)
        return rc;
    long clen = r->h.content_length;
    r->body = NULL;
    r->body_len = 0;
    if (clen > 0) {
        r->body = malloc((size_t)clen + 1);
        if (r->body == NULL)
            return -ENOMEM;
        rc = weft_stream_read_exactly(io, r->body, (size_t)clen);
        if (rc < 0) {
            free(r->body);
            return rc;
        }
        r->body_len = (size_t)clen;
    }
    return 1;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 302:
        return "Found";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* Closes a connection this server drops on purpose: 1 says it is closed,
 * WEFT_ECANCELED that the server itself is closing. */
static int drop(weft_stream *io)
{
    int rc = weft_stream_close(io);
    return rc == WEFT_ECANCELED ? rc : 1;
}

/* Answers one request. Returns 0 to keep the connection, 1 when the
 * connection is gone (closed or aborted here), or an error. */
static int answer(http_server *s, weft_stream *io, request *r)
{
    const char *q = r->h.query;
    char v[64], line[128], extra[4200] = "";
    int status = (int)qnum(q, "status", 200);
    int close = qget(q, "close", v, sizeof v) != NULL;
    if (s->fail_left > 0) {
        s->fail_left--;
        snprintf(line, sizeof line, "HTTP/1.1 %d %s", s->fail_status, reason(s->fail_status));
        return send_head(io, line, NULL, 4, 0) || send_all(io, "fail", 4);
    }
    double delay = qnum(q, "delay", 0);
    if (delay > 0 && weft_sleep(delay) != 0)
        return WEFT_ECANCELED;
    if (qget(q, "never", v, sizeof v)) {
        int rc = weft_sleep(WEFT_FOREVER);
        return rc ? rc : WEFT_ECANCELED;
    }
    if (qget(q, "drop", v, sizeof v))
        return drop(io);
    const char *bad = qget(q, "bad", v, sizeof v);
    if (bad && strcmp(bad, "status") == 0) {
        const char *m = "HTTP/1.1 two-hundred OK\r\nContent-Length: 2\r\n\r\nok";
        send_all(io, m, strlen(m));
        return drop(io);
    }
    if (bad && strcmp(bad, "excess") == 0) {
        const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok and then some more";
        return send_all(io, m, strlen(m));
    }
    if (bad && strcmp(bad, "short") == 0) {
        const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok";
        send_all(io, m, strlen(m));
        return drop(io);
    }
    char rv[32];
    const char *redirect = qget(q, "redirect", rv, sizeof rv);
    if (redirect) {
        int left = strcmp(redirect, "loop") == 0 ? -1 : atoi(redirect);
        if (left != 0) {
            char path[64];
            if (left < 0)
                snprintf(path, sizeof path, "/loop?redirect=loop");
            else
                snprintf(path, sizeof path, "/hop?redirect=%d", left - 1);
            snprintf(extra, sizeof extra, "Location: %s\r\n", path);
            return send_head(io, "HTTP/1.1 302 Found", extra, 0, 0);
        }
    }
    /* the body */
    char *body = NULL;
    size_t len = 0;
    if (qget(q, "echo", v, sizeof v)) { /* the request's head, then its body */
        size_t hl = strlen(r->head);
        len = hl + r->body_len;
        body = malloc(len + 1);
        if (body) {
            memcpy(body, r->head, hl);
            if (r->body_len)
                memcpy(body + hl, r->body, r->body_len);
        }
    } else if (qget(q, "len", v, sizeof v)) {
        len = (size_t)atol(v);
        body = malloc(len + 1);
        if (body)
            memset(body, 'x', len);
    } else {
        body = malloc(3);
        if (body)
            memcpy(body, "ok", len = 2);
    }
    if (body == NULL)
        return -ENOMEM;
    snprintf(line, sizeof line, "HTTP/1.1 %d %s", status, reason(status));
    int rc = send_head(io, line, "Content-Type: text/plain\r\n", (long)len, close);
    if (rc == 0 && qget(q, "reset", v, sizeof v)) {
        send_all(io, body, len / 2);
        free(body);
        rc = weft_stream_drain(io);
        if (rc == 0)
            rc = weft_sleep(0.05);
        weft_stream_abort(io);
        return rc == WEFT_ECANCELED ? rc : 1;
    }
    if (rc == 0)
        rc = send_body(io, body, len, qnum(q, "slow", 0), (size_t)qnum(q, "chunk", 1024));
    free(body);
    if (rc == 0 && close)
        return drop(io);
    return rc;
}

static int handler(weft_stream *stream, void *arg)
{
    http_server *s = arg;
    s->connections++;
    weft_stream *io = stream;
    if (s->tls) {
        int rc = weft_tls_accept(stream, s->tls, &io);
        if (rc != 0)
            return rc;
    }
    request *r = malloc(sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->pre = 0;
    int rc;
    if (!s->tls) {
        /* A TLS ClientHello sent to plain HTTP: answer 400 and close, as
         * nginx does, so that the client sees a protocol error at once. */
        rc = weft_stream_read_exactly(io, &r->pre, 1);
        if (rc == 0 && r->pre == 0x16) {
            const char *m = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
            send_all(io, m, strlen(m));
            free(r);
            return 0;
        }
        if (rc != 0) {
            free(r);
            return 0;
        }
    }
    for (;;) {
        rc = read_request(io, r);
        if (rc <= 0)
            break;
        s->requests++;
        rc = answer(s, io, r);
        free(r->body);
        if (rc != 0)
            break;
    }
    free(r);
    if (rc != 1 && io != stream) {
        int crc = weft_stream_close(io); /* the TLS stream, and its transport */
        rc = rc < 0 ? rc : crc;
    }
    return rc < 0 ? rc : 0;
}

int http_server_start(weft_tls_ctx *tls, http_server **out)
{
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->tls = tls;
    int rc = weft_tcp_serve("127.0.0.1", 0, handler, s, NULL, &s->srv);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->port = weft_server_port(s->srv);
    snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", tls ? "https" : "http", s->port);
    *out = s;
    return 0;
}

int http_server_stop(http_server *s)
{
    int rc = weft_server_close(s->srv, 0.05);
    free(s);
    return rc;
}
