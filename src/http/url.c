/* url: the URL a request goes to — the request's, resolved against the
 * session's base URL, with its query parameters escaped and appended; a
 * plain absolute URL goes to libcurl untouched. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

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

int weft__http_set_url(weft_http_response *t, weft_http_session *s, const weft_http_req *req,
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
