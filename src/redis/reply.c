/* reply: the reply objects. hiredis's reader parses RESP and calls our
 * create functions, which build weft_redis_reply trees directly (one
 * allocation per node, the bytes inline) and count them against the
 * connection's limits: a reply larger than max_reply or nested deeper than
 * max_depth is refused while it is parsed, not after. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

/* ------------------------------------------------------------ building */

static void reply_free(weft_redis_reply *r)
{
    if (r == NULL)
        return;
    if (r->type == WEFT_REDIS_ARRAY)
        for (size_t i = 0; i < r->len; i++)
            reply_free(r->v.elem[i]);
    free(r);
}

/* Charges size bytes to the reply being parsed; false if over the limit.
 * The root of a reply starts the count again. */
static bool charge(const redisReadTask *task, size_t size)
{
    weft__redis_limits *lim = task->privdata;
    if (lim == NULL)
        return true;
    if (task->parent == NULL)
        lim->building = 0;
    if (size > lim->max_reply || lim->building > lim->max_reply - size) {
        lim->exceeded = true;
        return false;
    }
    lim->building += size;
    return true;
}

/* Hangs a new node under its parent array (hiredis builds depth first). */
static void *attach(const redisReadTask *task, weft_redis_reply *r)
{
    if (task->parent) {
        weft_redis_reply *parent = task->parent->obj;
        parent->v.elem[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    size_t size = sizeof(weft_redis_reply) + len + 1;
    if (len > SIZE_MAX - sizeof(weft_redis_reply) - 1 || !charge(task, size))
        return NULL;
    weft_redis_reply *r = weft__malloc(size);
    if (r == NULL)
        return NULL;
    r->type = task->type == REDIS_REPLY_ERROR    ? WEFT_REDIS_ERROR
              : task->type == REDIS_REPLY_STATUS ? WEFT_REDIS_STATUS
                                                 : WEFT_REDIS_STRING;
    r->len = len;
    r->v.str = (char *)(r + 1);
    memcpy(r->v.str, str, len);
    r->v.str[len] = '\0';
    return attach(task, r);
}

static int nesting(const redisReadTask *task)
{
    int depth = 1;
    for (const redisReadTask *p = task->parent; p; p = p->parent)
        depth++;
    return depth;
}

static void *create_array(const redisReadTask *task, int elements)
{
    weft__redis_limits *lim = task->privdata;
    if (lim && nesting(task) > lim->max_depth) {
        lim->exceeded = true;
        return NULL;
    }
    size_t n = elements > 0 ? (size_t)elements : 0;
    size_t size = sizeof(weft_redis_reply) + n * sizeof(weft_redis_reply *);
    if (!charge(task, size)) /* before allocating: "*2147483647" costs nothing */
        return NULL;
    weft_redis_reply *r = weft__calloc(1, size);
    if (r == NULL)
        return NULL;
    r->type = WEFT_REDIS_ARRAY;
    r->len = n;
    r->v.elem = (weft_redis_reply **)(r + 1);
    return attach(task, r);
}

static void *create_scalar(const redisReadTask *task, uint8_t type, long long value)
{
    if (!charge(task, sizeof(weft_redis_reply)))
        return NULL;
    weft_redis_reply *r = weft__malloc(sizeof *r);
    if (r == NULL)
        return NULL;
    r->type = type;
    r->len = 0;
    r->v.integer = value;
    return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    return create_scalar(task, WEFT_REDIS_INTEGER, value);
}

static void *create_nil(const redisReadTask *task)
{
    return create_scalar(task, WEFT_REDIS_NIL, 0);
}

static void free_object(void *obj)
{
    reply_free(obj);
}

static redisReplyObjectFunctions functions = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = free_object,
};

redisReader *weft__redis_reader_new(weft__redis_limits *lim)
{
    redisReader *r = redisReaderCreateWithFunctions(&functions);
    if (r)
        r->privdata = lim;
    return r;
}

/* After the replies buffered were taken: WEFT_ELIMIT if the one being
 * received already exceeds max_reply, else 0. */
static int reader_check(redisReader *r, weft__redis_limits *lim)
{
    /* hiredis waits for a whole bulk string before creating it: what is
     * buffered of it counts already, or a huge one would be buffered
     * entirely before being refused. 64 bytes cover the RESP framing. */
    size_t buffered = r->len - r->pos;
    size_t built = r->ridx >= 0 ? lim->building : 0;
    if (buffered > lim->max_reply + 64 || built + buffered > lim->max_reply + 64) {
        lim->exceeded = true;
        return WEFT_ELIMIT;
    }
    return 0;
}

int weft__redis_reader_error(redisReader *r, const weft__redis_limits *lim)
{
    if (lim->exceeded)
        return WEFT_ELIMIT;
    return r->err == REDIS_ERR_OOM ? -ENOMEM : WEFT_EPROTOCOL;
}

int weft__redis_reader_next(redisReader *r, weft__redis_limits *lim, weft_redis_reply **out)
{
    void *obj;
    if (redisReaderGetReply(r, &obj) != REDIS_OK)
        return weft__redis_reader_error(r, lim);
    if (obj == NULL)
        return reader_check(r, lim);
    lim->building = 0; /* until the next reply's root is made */
    *out = obj;
    return 1;
}

bool weft__redis_reply_is(const weft_redis_reply *r, const char *word)
{
    if (r == NULL || r->type != WEFT_REDIS_ARRAY || r->len == 0)
        return false;
    const weft_redis_reply *w = r->v.elem[0];
    size_t n = strlen(word);
    return w && w->type == WEFT_REDIS_STRING && w->len == n && memcmp(w->v.str, word, n) == 0;
}

/* ------------------------------------------------------------ accessors */

weft_redis_type weft_redis_reply_type(const weft_redis_reply *reply)
{
    return reply ? (weft_redis_type)reply->type : WEFT_REDIS_NIL;
}

long long weft_redis_reply_integer(const weft_redis_reply *reply)
{
    return reply && reply->type == WEFT_REDIS_INTEGER ? reply->v.integer : 0;
}

const char *weft_redis_reply_string(const weft_redis_reply *reply, size_t *len)
{
    bool text = reply && (reply->type == WEFT_REDIS_STRING || reply->type == WEFT_REDIS_STATUS ||
                          reply->type == WEFT_REDIS_ERROR);
    if (len)
        *len = text ? reply->len : 0;
    return text ? reply->v.str : NULL;
}

const char *weft_redis_reply_error(const weft_redis_reply *reply)
{
    return reply && reply->type == WEFT_REDIS_ERROR ? reply->v.str : NULL;
}

size_t weft_redis_reply_count(const weft_redis_reply *reply)
{
    return reply && reply->type == WEFT_REDIS_ARRAY ? reply->len : 0;
}

const weft_redis_reply *weft_redis_reply_at(const weft_redis_reply *reply, size_t i)
{
    if (reply == NULL || reply->type != WEFT_REDIS_ARRAY || i >= reply->len)
        return NULL;
    return reply->v.elem[i];
}

void weft_redis_reply_free(weft_redis_reply *reply)
{
    reply_free(reply);
}
