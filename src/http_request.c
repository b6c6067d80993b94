/* http_request: one request and its response — building the libcurl easy
 * handle from the session's defaults and the request, collecting headers
 * and body as they arrive (pausing a streamed transfer when its reader is
 * behind), and the task-side waits: a cancelled wait removes the transfer
 * from libcurl, which closes its connection. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

/* ------------------------------------------------- libcurl's callbacks */

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
static size_t header_cb(char *line, size_t size, size_t n, void *arg)
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

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
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

/* A URL libcurl can take as it is: absolute http(s), nothing to resolve or
 * append, no byte that URL parsing would reject. Most requests are like
 * this, and skipping our own parse and rebuild halves the URL work. */
static bool url_is_plain(const weft_http_session *s, const weft_http_req *req)
{
    if (s->base_url || req->n_params)
        return false;
    const char *u = req->url;
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        return false;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || *u == 0x7f)
            return false;
    return true;
}

/* The URL: the request's, resolved against the base URL, with the query
 * parameters escaped and appended. Returns a curl_free'd string. */
static int build_url(weft_http_session *s, const weft_http_req *req, char **out)
{
    CURLU *u = curl_url();
    if (u == NULL)
        return -ENOMEM;
    int rc = 0;
    if (s->base_url && curl_url_set(u, CURLUPART_URL, s->base_url, 0) != CURLUE_OK)
        rc = -EINVAL;
    if (rc == 0 && curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK)
        rc = -EINVAL;
    for (size_t i = 0; rc == 0 && i < req->n_params; i++) {
        const weft_http_param *p = &req->params[i];
        if (p->name == NULL) {
            rc = -EINVAL;
            break;
        }
        /* "name=value", each side escaped (%XX, as aiohttp's yarl does) */
        char *name = curl_easy_escape(NULL, p->name, 0);
        char *value = curl_easy_escape(NULL, p->value ? p->value : "", 0);
        size_t cap = (name ? strlen(name) : 0) + (value ? strlen(value) : 0) + 2;
        char *pair = name && value ? weft__malloc(cap) : NULL;
        if (pair)
            snprintf(pair, cap, "%s=%s", name, value);
        curl_free(name);
        curl_free(value);
        if (pair == NULL) {
            rc = -ENOMEM;
            break;
        }
        CURLUcode uc = curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY);
        free(pair);
        if (uc != CURLUE_OK)
            rc = uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    }
    if (rc == 0 && curl_url_get(u, CURLUPART_URL, out, 0) != CURLUE_OK)
        rc = -EINVAL;
    curl_url_cleanup(u);
    return rc;
}

static bool header_overridden(const weft_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return true;
    return false;
}

bool weft__http_header_valid(const weft_http_header *h)
{
    return h->name != NULL && h->name[0] != '\0' && !strpbrk(h->name, ":\r\n") &&
           !(h->value && strpbrk(h->value, "\r\n"));
}

int weft__http_append_header(struct curl_slist **list, const weft_http_header *h)
{
    if (!weft__http_header_valid(h))
        return -EINVAL;
    size_t cap = strlen(h->name) + (h->value ? strlen(h->value) : 0) + 3;
    char *line = weft__malloc(cap);
    if (line == NULL)
        return -ENOMEM;
    /* "Name:" removes a header libcurl would add; "Name;" sends it empty */
    if (h->value == NULL)
        snprintf(line, cap, "%s:", h->name);
    else if (h->value[0] == '\0')
        snprintf(line, cap, "%s;", h->name);
    else
        snprintf(line, cap, "%s: %s", h->name, h->value);
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (l == NULL)
        return -ENOMEM;
    *list = l;
    return 0;
}

/* Defaults not overridden, then the request's own. A request without
 * headers of its own sends the session's list (*out stays NULL). */
static int build_headers(weft_http_session *s, const weft_http_req *req, struct curl_slist **out)
{
    if (req->n_headers == 0)
        return 0;
    if (req->headers == NULL)
        return -EINVAL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name == NULL)
            return -EINVAL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_headers; i++)
        if (!header_overridden(req, s->headers[i].name))
            rc = weft__http_append_header(out, &s->headers[i]);
    for (size_t i = 0; rc == 0 && i < req->n_headers; i++)
        rc = weft__http_append_header(out, &req->headers[i]);
    return rc;
}

/* The options every request of the session shares, set once per easy
 * handle: a pooled handle keeps them from one request to the next. */
static int easy_configure(weft_http_session *s, CURL *e)
{
    bool ok = true;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent) == CURLE_OK;
    if (!s->keep_encoding) /* every encoding libcurl decodes, decoded */
        ok &= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    if (s->max_redirects >= 0) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, s->max_redirects);
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
    if (s->ca_file)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file) == CURLE_OK;
    if (s->ca_pem) {
        struct curl_blob blob = {s->ca_pem, strlen(s->ca_pem), CURL_BLOB_COPY};
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK;
    }
    /* aiohttp's trust_env=False: no proxy from the environment, and no
     * getenv of no_proxy/NO_PROXY per request either */
    ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOPROXY, "") == CURLE_OK;
    if (s->verbose)
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    weft__http_easy_hooks(s, e);
    return ok ? 0 : -ENOMEM;
}

static CURL *easy_get(weft_http_session *s)
{
    if (s->n_easy_pool > 0)
        return s->easy_pool[--s->n_easy_pool];
    CURL *e = curl_easy_init();
    if (e && easy_configure(s, e) != 0) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

/* Back to the pool: a handle that carried more than a plain GET (a method,
 * a body) is reset and configured again, so no option leaks into the next
 * request. */
static void easy_put(weft_http_session *s, CURL *e, bool dirty)
{
    if (s && s->n_easy_pool < WEFT__HTTP_EASY_POOL) {
        if (dirty) {
            curl_easy_reset(e);
            if (easy_configure(s, e) != 0) {
                curl_easy_cleanup(e);
                return;
            }
        } else {
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL); /* it is freed with us */
        }
        s->easy_pool[s->n_easy_pool++] = e;
    } else {
        curl_easy_cleanup(e);
    }
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

static int set_url(weft_http_response *t, weft_http_session *s, const weft_http_req *req,
                   bool *https)
{
    if (url_is_plain(s, req)) {
        *https = strncasecmp(req->url, "https:", 6) == 0;
        return curl_easy_setopt(t->easy, CURLOPT_URL, req->url) == CURLE_OK ? 0 : -ENOMEM;
    }
    char *url = NULL;
    int rc = build_url(s, req, &url);
    if (rc == 0 && curl_easy_setopt(t->easy, CURLOPT_URL, url) != CURLE_OK)
        rc = -ENOMEM;
    *https = rc == 0 && strncasecmp(url, "https:", 6) == 0;
    curl_free(url);
    return rc;
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

/* What differs from one request to the next; the rest is easy_configure's. */
static int setup(weft_http_response *t, weft_http_session *s, const weft_http_req *req)
{
    CURL *e = t->easy;
    bool https = false;
    int rc = set_url(t, s, req, &https);
    if (rc == 0)
        rc = build_headers(s, req, &t->req_headers);
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

static void response_release(weft_http_response *t)
{
    weft_http_session *s = t->session;
    if (t->in_multi)
        weft__http_finish(t, WEFT_ECANCELED); /* removes it: closes its connection */
    if (s)
        weft__list_remove(&t->link);
    if (t->easy)
        easy_put(s, t->easy, t->dirty);
    curl_slist_free_all(t->req_headers);
    weft__http_hdrs_free(&t->hdrs);
    weft__http_hdrs_free(&t->trailers);
    free(t->body);
    free(t);
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
    t->easy = easy_get(s);
    int rc = t->easy ? setup(t, s, req) : -ENOMEM;
    if (rc != 0) {
        response_release(t);
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
        response_release(t);
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

/* ------------------------------------------------------------ responses */

int weft_http_response_status(const weft_http_response *t)
{
    return t ? t->status : -EINVAL;
}

int weft_http_response_header_at(const weft_http_response *t, size_t i, const char **name,
                                 const char **value)
{
    if (t == NULL)
        return -EINVAL;
    return weft__http_hdrs_at(&t->hdrs, i, name, value);
}

const char *weft_http_response_header(const weft_http_response *t, const char *name)
{
    if (t == NULL || name == NULL)
        return NULL;
    return weft__http_hdrs_get(&t->hdrs, name);
}

const char *weft_http_response_trailer(const weft_http_response *t, const char *name)
{
    if (t == NULL || name == NULL)
        return NULL;
    return weft__http_hdrs_get(&t->trailers, name);
}

int weft_http_response_trailer_at(const weft_http_response *t, size_t i, const char **name,
                                  const char **value)
{
    if (t == NULL)
        return -EINVAL;
    return weft__http_hdrs_at(&t->trailers, i, name, value);
}

int weft_http_response_version(const weft_http_response *t)
{
    if (t == NULL)
        return -EINVAL;
    return t->version;
}

const char *weft_http_response_url(const weft_http_response *t)
{
    if (t == NULL)
        return NULL;
    /* the response keeps its easy handle, and libcurl its info, until freed */
    char *u = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &u);
    return u;
}

const char *weft_http_response_body(const weft_http_response *t, size_t *len)
{
    if (len)
        *len = 0;
    if (t == NULL)
        return NULL;
    if (t->stream || t->body == NULL)
        return "";
    if (len)
        *len = t->body_len;
    return t->body;
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
                /* may deliver held data right here, through write_cb */
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

void weft_http_response_free(weft_http_response *t)
{
    if (t == NULL)
        return;
    response_release(t);
}
