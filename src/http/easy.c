/* easy: the session's pool of libcurl easy handles. A handle carries the
 * options every request of the session shares, set once; a handle that
 * carried more than a plain GET is reset and configured again before it
 * serves another request, so no option leaks from one to the next. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

/* The options every request of the session shares, set once per easy
 * handle: a pooled handle keeps them from one request to the next. */
static int easy_configure(weft_http_session *s, CURL *e)
{
    bool ok = true;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, weft__http_header_cb);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, weft__http_write_cb);
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

CURL *weft__http_easy_get(weft_http_session *s)
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
void weft__http_easy_put(weft_http_session *s, CURL *e, bool dirty)
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
