/* encode: commands in RESP, appended to a connection's output buffer or a
 * pipeline. argv is written straight into the buffer (no allocation per
 * command); the printf-like form goes through hiredis's formatter. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis/redis_internal.h"

/* Room for `more` bytes; 0 or -ENOMEM. */
static int reserve(weft__redis_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    if (more > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    char *p = weft__realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* "<c><n>\r\n" at the end (room reserved). By hand: sprintf was a third
 * of a command's cost. */
static void put_header(weft__redis_buf *b, char c, size_t n)
{
    char digits[24];
    size_t k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    char *p = b->data + b->len;
    *p++ = c;
    while (k > 0)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
}

int weft__redis_encode(weft__redis_buf *b, size_t argc, const char *const *argv,
                       const size_t *argvlen)
{
    /* One pass for the size, so that the append cannot fail half way. */
    size_t total = 24;
    for (size_t i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        if (n > SIZE_MAX / 2 - total)
            return -ENOMEM;
        total += n + 24 + 2;
    }
    if (reserve(b, total) != 0)
        return -ENOMEM;
    put_header(b, '*', argc);
    for (size_t i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        put_header(b, '$', n);
        memcpy(b->data + b->len, argv[i], n);
        b->len += n;
        b->data[b->len++] = '\r';
        b->data[b->len++] = '\n';
    }
    return 0;
}

int weft__redis_buf_append(weft__redis_buf *b, const void *data, size_t n)
{
    if (reserve(b, n) != 0)
        return -ENOMEM;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int weft__redis_encodev(weft__redis_buf *b, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int n = redisvFormatCommand(&cmd, fmt, ap);
    if (n == -2)
        return -EINVAL;
    if (n < 0 || cmd == NULL)
        return -ENOMEM;
    int rc = weft__redis_buf_append(b, cmd, (size_t)n);
    free(cmd);
    return rc;
}

/* The bulk string at *p (RESP framing of our own making): its bytes, and
 * *p moved past it. */
static const char *bulk(const char **p, const char *end, size_t *n)
{
    const char *s = *p;
    if (s >= end || *s != '$')
        return NULL;
    char *stop;
    unsigned long long v = strtoull(s + 1, &stop, 10);
    if (stop + 2 > end || v > (size_t)(end - stop - 2))
        return NULL;
    *n = (size_t)v;
    *p = stop + 2 + v + 2;
    return stop + 2;
}

static bool word_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* Commands that break "one reply per command" on a command connection:
 * the pub/sub family (confirmations per channel, then unsolicited
 * messages), MONITOR and replication (streams of unsolicited data), CLIENT
 * REPLY OFF/SKIP (no replies at all). They would make the replies of
 * others go astray. */
static const char *const forbidden[] = {
    "subscribe",    "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
    "sunsubscribe", "monitor",    "sync",       "psync",
};

/* name (n bytes) and its first argument (sub, m bytes; NULL if none). */
static int check_name(const char *name, size_t n, const char *sub, size_t m)
{
    for (size_t i = 0; i < sizeof forbidden / sizeof *forbidden; i++)
        if (word_is(name, n, forbidden[i]))
            return -EINVAL;
    if (sub && word_is(name, n, "client") && word_is(sub, m, "reply"))
        return -EINVAL;
    return 0;
}

int weft__redis_check_command(const weft__redis_buf *b, size_t start)
{
    const char *p = b->data + start, *end = b->data + b->len;
    /* an empty command: Redis answers nothing */
    if (end - p < 4 || p[0] != '*' || p[1] == '0' || p[1] == '-')
        return -EINVAL;
    p = memchr(p, '\n', (size_t)(end - p));
    if (p == NULL)
        return -EINVAL;
    p++;
    size_t n, m = 0;
    const char *name = bulk(&p, end, &n);
    if (name == NULL)
        return -EINVAL;
    const char *sub = bulk(&p, end, &m);
    return check_name(name, n, sub, m);
}

void weft__redis_buf_free(weft__redis_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int weft__redis_cmd_encode(weft__redis_buf *b, const weft__redis_cmd *cmd)
{
    size_t start = b->len;
    if (cmd->fmt) {
        int rc = weft__redis_encodev(b, cmd->fmt, *cmd->ap);
        if (rc == 0 && (rc = weft__redis_check_command(b, start)) != 0)
            b->len = start;
        return rc;
    }
    /* argv: the name is at hand, no need to read it back */
    size_t n = cmd->argvlen ? cmd->argvlen[0] : strlen(cmd->argv[0]);
    size_t m = cmd->argc < 2 ? 0 : cmd->argvlen ? cmd->argvlen[1] : strlen(cmd->argv[1]);
    int rc = check_name(cmd->argv[0], n, cmd->argc < 2 ? NULL : cmd->argv[1], m);
    return rc != 0 ? rc : weft__redis_encode(b, cmd->argc, cmd->argv, cmd->argvlen);
}
