/* url: redis:// and unix:// URLs as redis-py and Celery write them, parsed
 * into what a connection needs (address, credentials, database, client
 * name). Strict: anything not understood is -EINVAL, never a guess. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "redis/redis_internal.h"

#define DEFAULT_PORT 6379

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A %-decoded copy of [s, s+n) into *out. -EINVAL for a bad escape, a
 * decoded NUL or a control character; -ENOMEM. */
static int decode(const char *s, size_t n, char **out)
{
    char *d = weft__malloc(n + 1);
    if (d == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval(s[i + 1]) : -1;
            int l = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(d);
                return -EINVAL;
            }
            c = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            free(d);
            return -EINVAL;
        }
        d[k++] = (char)c;
    }
    d[k] = '\0';
    *out = d;
    return 0;
}

/* A decimal number in [min, max] spelled by exactly [s, s+n). */
static int number(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 10)
        return -EINVAL;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

/* "[user][:password]" before the '@'. */
static int parse_userinfo(const char *s, size_t n, weft__redis_url *u)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    int rc = 0;
    if (ulen > 0)
        rc = decode(s, ulen, &u->username);
    if (rc == 0 && colon)
        rc = decode(colon + 1, n - ulen - 1, &u->password);
    return rc;
}

/* "host[:port]" or "[v6]:port"; an empty host is localhost. */
static int parse_hostport(const char *s, size_t n, weft__redis_url *u)
{
    const char *host = s, *port = NULL;
    size_t hlen = n;
    if (n > 0 && s[0] == '[') {
        const char *end = memchr(s, ']', n);
        if (end == NULL || end == s + 1)
            return -EINVAL;
        host = s + 1;
        hlen = (size_t)(end - host);
        const char *rest = end + 1;
        if (rest < s + n) {
            if (*rest != ':')
                return -EINVAL;
            port = rest + 1;
        }
        for (size_t i = 0; i < hlen; i++)
            if (hexval(host[i]) < 0 && host[i] != ':' && host[i] != '.')
                return -EINVAL;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
        for (size_t i = 0; i < hlen; i++) {
            char c = host[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
            if (!ok)
                return -EINVAL;
        }
    }
    u->port = DEFAULT_PORT;
    if (port && number(port, (size_t)(s + n - port), 1, 65535, &u->port) != 0)
        return -EINVAL;
    if (hlen == 0) {
        host = "localhost";
        hlen = strlen(host);
    }
    u->host = weft__malloc(hlen + 1);
    if (u->host == NULL)
        return -ENOMEM;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    return 0;
}

/* "?db=N&name=x&password=y&username=z" */
static int parse_query(const char *s, size_t n, weft__redis_url *u)
{
    while (n > 0) {
        const char *amp = memchr(s, '&', n);
        size_t plen = amp ? (size_t)(amp - s) : n;
        const char *eq = memchr(s, '=', plen);
        if (eq == NULL)
            return -EINVAL;
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        size_t vlen = plen - klen - 1;
        int rc;
        char **target = NULL;
        if (klen == 2 && memcmp(s, "db", 2) == 0)
            rc = number(v, vlen, 0, INT_MAX, &u->db);
        else if (klen == 4 && memcmp(s, "name", 4) == 0)
            target = &u->client_name;
        else if (klen == 8 && memcmp(s, "password", 8) == 0)
            target = &u->password;
        else if (klen == 8 && memcmp(s, "username", 8) == 0)
            target = &u->username;
        else
            return -EINVAL; /* an option we do not know: refuse, do not ignore */
        if (target) {
            if (*target != NULL || vlen == 0)
                return -EINVAL; /* given twice, or empty */
            rc = decode(v, vlen, target);
        }
        if (rc != 0)
            return rc;
        if (amp == NULL)
            break;
        n -= plen + 1;
        s = amp + 1;
        if (n == 0)
            return -EINVAL; /* a trailing '&' */
    }
    return 0;
}

static int parse(const char *url, weft__redis_url *u)
{
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        rest = url + 8;
    } else if (strncmp(url, "unix://", 7) == 0) {
        rest = url + 7;
        u->is_unix = true;
    } else {
        return -EINVAL;
    }
    for (const char *p = rest; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            return -EINVAL; /* spaces, controls, fragments */
    const char *query = strchr(rest, '?');
    size_t len = query ? (size_t)(query - rest) : strlen(rest);
    int rc;
    if (u->is_unix) {
        /* [userinfo@]/path: the path starts at the first '/' */
        const char *slash = memchr(rest, '/', len);
        if (slash == NULL)
            return -EINVAL;
        if (slash > rest) {
            if (slash[-1] != '@')
                return -EINVAL;
            if ((rc = parse_userinfo(rest, (size_t)(slash - rest) - 1, u)) != 0)
                return rc;
        }
        if ((rc = decode(slash, (size_t)(rest + len - slash), &u->path)) != 0)
            return rc;
        if (strlen(u->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return -ENAMETOOLONG;
        if (strcmp(u->path, "/") == 0)
            return -EINVAL;
    } else {
        const char *slash = memchr(rest, '/', len);
        size_t alen = slash ? (size_t)(slash - rest) : len;
        const char *at = NULL;
        for (const char *p = rest; p < rest + alen; p++)
            if (*p == '@')
                at = p; /* the last '@': a password may hold one, %-escaped or not */
        const char *hp = rest;
        if (at) {
            if ((rc = parse_userinfo(rest, (size_t)(at - rest), u)) != 0)
                return rc;
            hp = at + 1;
        }
        if ((rc = parse_hostport(hp, (size_t)(rest + alen - hp), u)) != 0)
            return rc;
        if (slash && slash + 1 < rest + len &&
            (rc = number(slash + 1, (size_t)(rest + len - slash - 1), 0, INT_MAX, &u->db)) != 0)
            return rc;
    }
    if (query && (rc = parse_query(query + 1, strlen(query + 1), u)) != 0)
        return rc;
    if (u->username && u->password == NULL)
        return -EINVAL; /* AUTH takes a user name only with a password */
    return 0;
}

int weft__redis_url_parse(const char *url, weft__redis_url *out)
{
    if (url == NULL || out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    int rc = parse(url, out);
    if (rc != 0)
        weft__redis_url_free(out);
    return rc;
}

void weft__redis_url_free(weft__redis_url *u)
{
    if (u == NULL)
        return;
    free(u->host);
    free(u->path);
    free(u->username);
    free(u->password);
    free(u->client_name);
    memset(u, 0, sizeof *u);
}
