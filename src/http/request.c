/* request: one request and its response — setting up the easy handle
 * for what differs from one request to the next (URL, headers, method and
 * body, timeouts), starting the transfer, and the task-side waits (for the
 * headers, the whole body, or the next piece of a streamed one): a
 * cancelled wait removes the transfer from libcurl, which closes its
 * connection. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

/* ------------------------------------------------------ building a request */

static uint64_t seconds_ns(double s, double dflt)
{
    if (s == 0)
        s = dflt;
    if (s >= 1.8e10 || isinf(s))
        return UINT64_MAX;
    return (uint64_t)(s * 1e9);
}

static long ms_opt(uint64_t ns)
{
    if (ns == UINT64_MAX)
        return 0; /* no limit */
    long ms = (long)((ns + 999999) / 1000000);
    return ms > 0 ? ms : 1;
}

/* The method and the body; anything but a bodiless GET marks the handle
 * for a reset before its next use. */
static int set_method(weft_http_response *t, const weft_http_req *req)
{
    const char *m = req->method ? req->method : req->body ? "POST" : "GET";
    if (m[0] == '\0' || strpbrk(m, " \r\n"))
        return -EINVAL;
    if (strcmp(m, "GET") == 0 && req->body == NULL)
        return 0;
    t->dirty = true;
    if (strcmp(m, "HEAD") == 0)
        curl_easy_setopt(t->easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
        curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, m);
    if (req->body || strcmp(m, "POST") == 0) {
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (curl_easy_setopt(t->easy, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "") !=
            CURLE_OK)
            return -ENOMEM;
    }
    return 0;
}

static int set_timeouts(weft_http_response *t, const weft_http_timeout *to)
{
    if (!weft__http_timeout_valid(to))
        return -EINVAL;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms_opt(seconds_ns(to->total, 300)));
    /* libcurl's default connect timeout is 300 s; ours is the total */
    double connect = to->connect == 0 ? to->total : to->connect;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     ms_opt(seconds_ns(connect, to->connect == 0 ? 300 : WEFT_FOREVER)));
    t->read_ns = seconds_ns(to->read, WEFT_FOREVER);
    return 0;
}

/* What differs from one request to the next; the rest is easy.c's. */
static int setup(weft_http_response *t, weft_http_session *s, const weft_http_req *req)
{
    CURL *e = t->easy;
    bool https = false;
    int rc = weft__http_set_url(t, s, req, &https);
    if (rc == 0)
        rc = weft__http_build_headers(s, req, &t->req_headers);
    if (rc == 0)
        rc = set_method(t, req);
    if (rc == 0)
        rc = set_timeouts(t, req->timeout ? req->timeout : &s->timeout);
    if (rc != 0)
        return rc;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    /* a Content-Length over the limit fails before any byte is stored */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)(t->stream || t->max_body > INT64_MAX ? 0 : t->max_body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers ? t->req_headers : s->default_headers);
    /* Waiting for a connection that may multiplex only pays over TLS (h2
     * is negotiated there); on plain HTTP it would hold every request of a
     * burst until the first connection is known to be HTTP/1.1. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, https ? 1L : 0L);
    return 0;
}

static int response_new(weft_http_session *s, const weft_http_req *req, weft_http_response **out)
{
    weft_http_response *t = weft__calloc(1, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    t->session = s;
    t->stream = req->stream != 0;
    t->stream_limit = s->stream_buffer;
    t->max_header = s->max_header_size;
    t->max_body = s->max_body_size;
    weft__list_push_back(&s->transfers, &t->link);
    t->easy = weft__http_easy_get(s);
    int rc = t->easy ? setup(t, s, req) : -ENOMEM;
    if (rc != 0) {
        weft__http_response_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* --------------------------------------------------------------- waits */

static bool transfer_cancel(weft__wait *w)
{
    weft_http_response *t = WEFT_CONTAINER_OF(w, weft_http_response, w);
    int kind = t->wait_kind;
    t->waiter = NULL;
    t->wait_kind = WAIT_NONE;
    /* A request's wait takes the transfer down with it; a streamed read
     * leaves it (the response is still the caller's). */
    if (t->in_multi && kind != WAIT_DATA)
        weft__http_finish(t, WEFT_ECANCELED);
    return true;
}

static int transfer_wait(weft_http_response *t, int kind, const char *what)
{
    t->waiter = weft__task_current();
    t->wait_kind = kind;
    t->w.cancel = transfer_cancel;
    t->w.what = what;
    t->w.kind = WEFT__WAIT_IO;
    t->w.obj = t;
    weft__http_poke(t); /* it may be there already */
    if (t->waiter == NULL)
        return 0;
    return weft__park(&t->w);
}

static int check_session(weft_http_session *s)
{
    int rc = weft__check_task();
    return rc != 0 ? rc : weft__check_loop(s->loop);
}

int weft_http_request(weft_http_session *s, const weft_http_req *req, weft_http_response **out)
{
    if (s == NULL || req == NULL || req->url == NULL || out == NULL ||
        (req->n_params && req->params == NULL) || (req->body_len && req->body == NULL))
        return -EINVAL;
    int rc = check_session(s);
    if (rc != 0)
        return rc;
    weft_http_response *t = NULL;
    rc = response_new(s, req, &t);
    if (rc != 0)
        return rc;
    rc = weft__http_start(s, t);
    if (rc == 0)
        rc = transfer_wait(t, t->stream ? WAIT_HEADERS : WAIT_DONE, "http request");
    if (rc == 0 && t->done && t->rc != 0 && !(t->stream && t->headers_done))
        rc = t->rc;
    if (rc != 0) {
        weft__http_response_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

int weft_http_get(weft_http_session *s, const char *url, weft_http_response **out)
{
    weft_http_req req = {.url = url};
    return weft_http_request(s, &req, out);
}

int weft_http_response_read(weft_http_response *t, void *buf, size_t n)
{
    if (t == NULL || (buf == NULL && n > 0) || !t->stream)
        return -EINVAL;
    if (n > INT32_MAX)
        n = INT32_MAX;
    if (t->session) {
        int rc = check_session(t->session);
        if (rc != 0)
            return rc;
    }
    for (;;) {
        size_t avail = t->body_len - t->body_off;
        if (avail > 0 || n == 0) {
            size_t k = avail < n ? avail : n;
            if (k > 0) /* buf may be NULL when n is 0 */
                memcpy(buf, t->body + t->body_off, k);
            t->body_off += k;
            if (t->body_off == t->body_len)
                t->body_off = t->body_len = 0;
            if (t->paused && t->in_multi && t->body_len - t->body_off <= t->stream_limit / 2) {
                /* may deliver held data right here, through weft__http_write_cb */
                t->paused = false;
                t->last_activity = weft__now_ns();
                curl_easy_pause(t->easy, CURLPAUSE_CONT);
            }
            return (int)k;
        }
        if (t->done)
            return t->rc;
        int rc = transfer_wait(t, WAIT_DATA, "read http body");
        if (rc != 0)
            return rc;
    }
}
