/* session: aiohttp's ClientSession — a libcurl multi handle (which
 * owns the connection pool: keep-alive, connection limits, HTTP/2
 * multiplexing) plus the defaults every request starts from (base URL,
 * headers, user agent, timeouts, TLS trust). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe in older libcurls: once, process-wide,
 * never undone (other users of libcurl in the process may rely on it). */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool weft__http_timeout_valid(const weft_http_timeout *t)
{
    return !isnan(t->total) && !isnan(t->connect) && !isnan(t->read) && t->total >= 0 &&
           t->connect >= 0 && t->read >= 0;
}

static int copy_headers(weft_http_session *s, const weft_http_opts *o)
{
    if (o->n_headers == 0)
        return 0;
    if (o->headers == NULL)
        return -EINVAL;
    s->headers = weft__calloc(o->n_headers, sizeof *s->headers);
    if (s->headers == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_headers; i++) {
        const weft_http_header *h = &o->headers[i];
        if (!weft__http_header_valid(h))
            return -EINVAL;
        s->n_headers = i + 1;
        s->headers[i].name = weft__strdup(h->name);
        s->headers[i].value = h->value ? weft__strdup(h->value) : NULL;
        if (s->headers[i].name == NULL || (h->value && s->headers[i].value == NULL))
            return -ENOMEM;
    }
    /* the list a request without headers of its own sends */
    for (size_t i = 0; i < s->n_headers; i++) {
        int rc = weft__http_append_header(&s->default_headers, &s->headers[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int dup_opt(const char *in, char **out)
{
    if (in == NULL)
        return 0;
    *out = weft__strdup(in);
    return *out ? 0 : -ENOMEM;
}

static void free_defaults(weft_http_session *s)
{
    for (size_t i = 0; i < s->n_headers; i++) {
        free((char *)s->headers[i].name);
        free((char *)s->headers[i].value);
    }
    free(s->headers);
    curl_slist_free_all(s->default_headers);
    free(s->base_url);
    free(s->user_agent);
    free(s->ca_file);
    free(s->ca_pem);
}

/* A base URL must parse as an absolute URL: "::not a url::" would make
 * every relative request fail later, far from the mistake. */
static int check_base_url(const char *url)
{
    if (url == NULL)
        return 0;
    CURLU *u = curl_url();
    if (u == NULL)
        return -ENOMEM;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    curl_url_cleanup(u);
    return uc == CURLUE_OK ? 0 : uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

static int set_defaults(weft_http_session *s, const weft_http_opts *o)
{
    if (!weft__http_timeout_valid(&o->timeout) || o->max_connections < 0 ||
        o->max_host_connections < 0 || o->max_redirects < -1)
        return -EINVAL;
    int rc = check_base_url(o->base_url);
    if (rc == 0)
        rc = copy_headers(s, o);
    if (rc == 0)
        rc = dup_opt(o->base_url, &s->base_url);
    if (rc == 0)
        rc = dup_opt(o->user_agent ? o->user_agent : "weft/0.1", &s->user_agent);
    if (rc == 0)
        rc = dup_opt(o->ca_file, &s->ca_file);
    if (rc == 0)
        rc = dup_opt(o->ca_pem, &s->ca_pem);
    s->timeout = o->timeout;
    s->max_redirects = o->max_redirects == 0 ? 10 : o->max_redirects;
    s->insecure = o->insecure != 0;
    s->verbose = getenv("WEFT_HTTP_VERBOSE") != NULL;
    s->stream_buffer = o->stream_buffer ? o->stream_buffer : 64 * 1024;
    s->max_header_size = o->max_header_size ? o->max_header_size : 256 * 1024;
    s->max_body_size = o->max_body_size ? o->max_body_size : 32 * 1024 * 1024;
    s->keep_encoding = o->keep_encoding != 0;
    return rc;
}

int weft_http_session_new(const weft_http_opts *opts, weft_http_session **out)
{
    static const weft_http_opts defaults;
    if (out == NULL)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -ENOMEM;
    const weft_http_opts *o = opts ? opts : &defaults;
    weft_http_session *s = weft__calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->loop = weft__loop_current();
    rc = set_defaults(s, o);
    if (rc == 0)
        rc = weft__http_multi_init(s);
    if (rc != 0) {
        free_defaults(s);
        free(s);
        return rc;
    }
    if (o->max_connections > 0)
        curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->max_connections);
    if (o->max_host_connections > 0)
        curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_host_connections);
    /* Keep as many idle connections as a busy session uses (libcurl's
     * default cache is 4 per easy handle added, shrinking as they go). */
    long cache = o->max_connections > 0 ? o->max_connections : 256;
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, cache);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = s;
    return 0;
}

void weft_http_session_free(weft_http_session *s)
{
    if (s == NULL)
        return;
    weft__http_multi_cleanup(s);
    for (size_t i = 0; i < s->n_easy_pool; i++)
        curl_easy_cleanup(s->easy_pool[i]);
    free_defaults(s);
    free(s);
}
