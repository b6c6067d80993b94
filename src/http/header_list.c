/* header_list: the request headers as libcurl takes them (a curl_slist):
 * the session's defaults that the request does not override, then the
 * request's own, each checked (no CR, LF or ':' where they would split a
 * header). The session builds its default list with the same functions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

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
int weft__http_build_headers(weft_http_session *s, const weft_http_req *req,
                             struct curl_slist **out)
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
