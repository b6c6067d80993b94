/* headers: the header list of a response (and, apart, its trailers).
 * Entries are copied into blocks that are never moved or reallocated, so a
 * pointer the caller got from weft_http_response_header stays valid until
 * the response is freed, whatever arrives later; an index of (name, value)
 * pointers makes access by position O(1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

struct weft__http_hblock {
    struct weft__http_hblock *next; /* older blocks */
    size_t cap, used;
    char data[];
};

/* Room for need bytes: in the newest block, or in a new one (twice the
 * size of the last, so a long list costs few allocations). */
static char *room(weft__http_hdrs *h, size_t need)
{
    weft__http_hblock *b = h->blocks;
    if (b && b->cap - b->used >= need)
        return b->data + b->used;
    size_t cap = b ? 2 * b->cap : 512;
    if (cap < need)
        cap = need;
    weft__http_hblock *nb = weft__malloc(sizeof *nb + cap);
    if (nb == NULL)
        return NULL;
    nb->next = b;
    nb->cap = cap;
    nb->used = 0;
    h->blocks = nb;
    return nb->data;
}

static int index_grow(weft__http_hdrs *h)
{
    if (h->n < h->cap)
        return 0;
    size_t cap = h->cap ? 2 * h->cap : 16;
    weft_http_header *at = weft__realloc(h->at, cap * sizeof *at);
    if (at == NULL)
        return -ENOMEM;
    h->at = at;
    h->cap = cap;
    return 0;
}

int weft__http_hdrs_add(weft__http_hdrs *h, const char *name, size_t nlen, const char *value,
                        size_t vlen)
{
    if (index_grow(h) != 0)
        return -ENOMEM;
    char *p = room(h, nlen + vlen + 2);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, name, nlen);
    p[nlen] = '\0';
    memcpy(p + nlen + 1, value, vlen);
    p[nlen + 1 + vlen] = '\0';
    h->blocks->used += nlen + vlen + 2;
    h->at[h->n].name = p;
    h->at[h->n].value = p + nlen + 1;
    h->n++;
    return 0;
}

/* Only before anyone has seen the entries (a 1xx or redirect block is
 * dropped before the final one): keeps the newest block for reuse. */
void weft__http_hdrs_clear(weft__http_hdrs *h)
{
    weft__http_hblock *b = h->blocks;
    if (b == NULL)
        return;
    for (weft__http_hblock *old = b->next; old;) {
        weft__http_hblock *next = old->next;
        free(old);
        old = next;
    }
    b->next = NULL;
    b->used = 0;
    h->n = 0;
}

void weft__http_hdrs_free(weft__http_hdrs *h)
{
    for (weft__http_hblock *b = h->blocks; b;) {
        weft__http_hblock *next = b->next;
        free(b);
        b = next;
    }
    free(h->at);
    memset(h, 0, sizeof *h);
}

const char *weft__http_hdrs_get(const weft__http_hdrs *h, const char *name)
{
    for (size_t i = h->n; i-- > 0;)
        if (strcasecmp(h->at[i].name, name) == 0)
            return h->at[i].value;
    return NULL;
}

int weft__http_hdrs_at(const weft__http_hdrs *h, size_t i, const char **name, const char **value)
{
    if (i >= h->n)
        return -ENOENT;
    if (name)
        *name = h->at[i].name;
    if (value)
        *value = h->at[i].value;
    return 0;
}

/* RFC 9110's token characters: what a field name is made of. A trailer
 * line whose name is not a token (a status line, junk) is dropped. */
bool weft__http_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    return true;
}
