/* response: what a caller reads off a response once its headers are in
 * (status, headers, trailers, version, final URL, the whole body), and how
 * a response is given back: its transfer removed from libcurl if still
 * running, its easy handle back to the pool. Reading a streamed body
 * waits, so it is request.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

void weft__http_response_release(weft_http_response *t)
{
    weft_http_session *s = t->session;
    if (t->in_multi)
        weft__http_finish(t, WEFT_ECANCELED); /* removes it: closes its connection */
    if (s)
        weft__list_remove(&t->link);
    if (t->easy)
        weft__http_easy_put(s, t->easy, t->dirty);
    curl_slist_free_all(t->req_headers);
    weft__http_hdrs_free(&t->hdrs);
    weft__http_hdrs_free(&t->trailers);
    free(t->body);
    free(t);
}

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

void weft_http_response_free(weft_http_response *t)
{
    if (t == NULL)
        return;
    weft__http_response_release(t);
}
