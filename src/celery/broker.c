/* broker.c: kombu's Redis transport as kombu 5.2 runs it
 * (kombu/transport/redis.py): a queue is a list, one more per priority
 * step ("queue\x06\x16N"), consumed by BRPOP in priority order; a
 * delivered message waits in the "unacked" hash (tag -> [message,
 * exchange, routing_key]) and the "unacked_index" sorted set (tag ->
 * delivery time) until acked; messages older than the visibility timeout
 * are put back on their queue by whichever worker holds "unacked_mutex". */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

static const int priority_steps[] = {0, 3, 6, 9};
#define N_STEPS (sizeof priority_steps / sizeof priority_steps[0])

size_t weft__celery_queue_key(const char *queue, int priority, char *buf, size_t size)
{
    int step = 0; /* kombu's priority(): the largest step <= priority */
    for (size_t i = 0; i < N_STEPS; i++)
        if (priority >= priority_steps[i])
            step = priority_steps[i];
    int n = step == 0 ? snprintf(buf, size, "%s", queue)
                      : snprintf(buf, size, "%s" WEFT__CELERY_SEP "%d", queue, step);
    return n < 0 ? 0 : (size_t)n;
}

int weft__celery_keys_new(const char *const *queues, size_t n, char ***out, size_t *count)
{
    char **keys = weft__calloc(n * N_STEPS, sizeof *keys);
    if (keys == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t s = 0; s < N_STEPS; s++)
        for (size_t q = 0; q < n; q++) {
            size_t len = strlen(queues[q]) + 8;
            keys[k] = weft__malloc(len);
            if (keys[k] == NULL) {
                weft__celery_keys_free(keys, k);
                return -ENOMEM;
            }
            weft__celery_queue_key(queues[q], priority_steps[s], keys[k], len);
            k++;
        }
    *out = keys;
    *count = k;
    return 0;
}

void weft__celery_keys_free(char **keys, size_t count)
{
    for (size_t i = 0; keys != NULL && i < count; i++)
        free(keys[i]);
    free(keys);
}

char *weft__celery_url(const char *url)
{
    static const char celery_unix[] = "redis+socket://";
    if (url == NULL)
        return NULL;
    if (strncmp(url, celery_unix, sizeof celery_unix - 1) != 0)
        return weft__strdup(url);
    const char *rest = url + sizeof celery_unix - 1;
    char *out = weft__malloc(strlen(rest) + sizeof "unix://");
    if (out != NULL)
        sprintf(out, "unix://%s", rest);
    return out;
}

/* A JSON string's text, quotes and escapes included; NULL without memory. */
static char *json_quoted(const char *s)
{
    json_t *str = json_string(s ? s : "");
    char *text = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    return text;
}

int weft__celery_unacked_add(weft_redis_pool *pool, const weft__celery_msg *m, const char *data,
                             size_t len)
{
    /* kombu stores dumps([message, exchange, routing_key]); the message is
     * spliced in as it came rather than encoded again (the same JSON). */
    char *ex = json_quoted(m->exchange), *rk = json_quoted(m->routing_key);
    size_t size = len + (ex ? strlen(ex) : 0) + (rk ? strlen(rk) : 0) + 5; /* [,,] and NUL */
    char *entry = ex && rk ? weft__malloc(size) : NULL;
    int rc = entry ? 0 : -ENOMEM;
    if (entry != NULL) {
        entry[0] = '[';
        memcpy(entry + 1, data, len);
        snprintf(entry + 1 + len, size - 1 - len, ",%s,%s]", ex, rk);
    }
    free(ex);
    free(rk);
    weft_redis_pipeline *p = NULL;
    if (rc == 0)
        rc = weft_redis_pipeline_new(&p);
    if (rc == 0) {
        char score[32];
        snprintf(score, sizeof score, "%.6f", weft__celery_now());
        weft_redis_pipeline_addf(p, "ZADD %s %s %s", WEFT__CELERY_UNACKED_INDEX, score,
                                 m->delivery_tag);
        weft_redis_pipeline_addf(p, "HSET %s %s %b", WEFT__CELERY_UNACKED, m->delivery_tag, entry,
                                 size - 1);
        rc = weft_redis_pool_pipeline_run(pool, p);
        for (size_t i = 0; rc == 0 && i < 2; i++)
            if (weft_redis_reply_error(weft_redis_pipeline_reply(p, i)) != NULL)
                rc = WEFT_EREDIS;
        weft_redis_pipeline_free(p);
    }
    free(entry);
    return rc;
}

int weft__celery_ack(weft_redis_pool *pool, const char *delivery_tag)
{
    weft_redis_pipeline *p;
    int rc = weft_redis_pipeline_new(&p);
    if (rc != 0)
        return rc;
    weft_redis_pipeline_addf(p, "ZREM %s %s", WEFT__CELERY_UNACKED_INDEX, delivery_tag);
    weft_redis_pipeline_addf(p, "HDEL %s %s", WEFT__CELERY_UNACKED, delivery_tag);
    rc = weft_redis_pool_pipeline_run(pool, p);
    weft_redis_pipeline_free(p);
    return rc;
}

/* kombu's _lookup for the exchanges Celery uses on Redis: the anonymous
 * exchange routes to the queue named by the routing key; a direct one
 * through its bindings ("_kombu.binding.<exchange>": "rk\x06\x16pattern
 * \x06\x16queue"). Falls back on the routing key, where kombu would use
 * its dead-letter queue, so that a message is never parked where no
 * worker reads. The queue is copied into buf. */
static int lookup_queue(weft_redis_pool *pool, const char *exchange, const char *rk, char *buf,
                        size_t size)
{
    snprintf(buf, size, "%s", rk);
    if (exchange == NULL || exchange[0] == 0)
        return 0;
    weft_redis_reply *r = NULL;
    int rc = weft_redis_pool_commandf(pool, &r, "SMEMBERS _kombu.binding.%s", exchange);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < weft_redis_reply_count(r); i++) {
        size_t len;
        const char *b = weft_redis_reply_string(weft_redis_reply_at(r, i), &len);
        const char *sep1 = b ? strstr(b, WEFT__CELERY_SEP) : NULL;
        const char *sep2 = sep1 ? strstr(sep1 + 2, WEFT__CELERY_SEP) : NULL;
        if (sep2 != NULL && (size_t)(sep1 - b) == strlen(rk) && memcmp(b, rk, strlen(rk)) == 0) {
            snprintf(buf, size, "%s", sep2 + 2);
            break;
        }
    }
    weft_redis_reply_free(r);
    return 0;
}

/* The unacked entry [message, exchange, rk] as kombu's _do_restore_message
 * pushes it back: the message marked redelivered, on its queue's own list
 * (kombu 5.2 drops the priority on restore, and so does this). */
static char *restored_message(const char *entry, size_t len, char **exchange, char **rk)
{
    json_t *e = json_loadb(entry, len, JSON_ALLOW_NUL, NULL);
    json_t *msg = json_array_get(e, 0);
    const char *ex = json_string_value(json_array_get(e, 1));
    const char *key = json_string_value(json_array_get(e, 2));
    char *text = NULL;
    if (json_is_object(msg) && ex != NULL && key != NULL) {
        json_t *headers = json_object_get(msg, "headers");
        json_t *info = json_object_get(json_object_get(msg, "properties"), "delivery_info");
        if (json_is_object(headers))
            json_object_set_new(headers, "redelivered", json_true());
        if (json_is_object(info))
            json_object_set_new(info, "redelivered", json_true());
        text = json_dumps(msg, JSON_COMPACT);
        *exchange = weft__strdup(ex);
        *rk = weft__strdup(key);
        if (*exchange == NULL || *rk == NULL) {
            free(text);
            free(*exchange);
            free(*rk);
            text = NULL;
        }
    }
    json_decref(e);
    return text;
}

/* kombu's restore transaction (WATCH unacked; HGET; MULTI; ZREM; HDEL;
 * push; EXEC) as one compare-and-swap script: the entry is taken out and
 * its message pushed only if the entry is still the one read. Atomic like
 * the transaction, without WATCH's retries: thousands of restores at once
 * (a cold shutdown) would invalidate each other's WATCH. */
static const char restore_script[] =
    "if redis.call('hget', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end "
    "redis.call('zrem', KEYS[2], ARGV[1]) redis.call('hdel', KEYS[1], ARGV[1]) "
    "redis.call(ARGV[4], KEYS[3], ARGV[3]) return 1";

/* One attempt: 1 restored, 0 gone (its index entry removed, as kombu
 * does), -EAGAIN when the entry changed between the read and the script. */
static int restore_once(weft_redis_pool *pool, const char *tag, bool leftmost)
{
    weft_redis_reply *entry = NULL;
    int rc = weft_redis_pool_commandf(pool, &entry, "HGET %s %s", WEFT__CELERY_UNACKED, tag);
    if (rc != 0)
        return rc;
    size_t len = 0;
    const char *text = weft_redis_reply_string(entry, &len);
    char *msg = NULL, *exchange = NULL, *rk = NULL;
    char queue[512];
    if (text == NULL || (msg = restored_message(text, len, &exchange, &rk)) == NULL) {
        /* gone (or not kombu's): drop what is left of it */
        weft_redis_reply_free(entry);
        rc = weft_redis_pool_commandf(pool, NULL, "ZREM %s %s", WEFT__CELERY_UNACKED_INDEX, tag);
        if (rc == 0 && text != NULL)
            rc = weft_redis_pool_commandf(pool, NULL, "HDEL %s %s", WEFT__CELERY_UNACKED, tag);
        return rc;
    }
    rc = lookup_queue(pool, exchange, rk, queue, sizeof queue);
    weft_redis_reply *r = NULL;
    if (rc == 0)
        rc = weft_redis_pool_commandf(pool, &r, "EVAL %s 3 %s %s %s %s %b %s %s", restore_script,
                                      WEFT__CELERY_UNACKED, WEFT__CELERY_UNACKED_INDEX, queue, tag,
                                      text, len, msg, leftmost ? "lpush" : "rpush");
    if (rc == 0)
        rc = weft_redis_reply_error(r)          ? WEFT_EREDIS
             : weft_redis_reply_integer(r) == 1 ? 1
                                                : -EAGAIN;
    weft_redis_reply_free(r);
    weft_redis_reply_free(entry);
    free(msg);
    free(exchange);
    free(rk);
    return rc;
}

int weft__celery_restore(weft_redis_pool *pool, const char *delivery_tag, bool leftmost)
{
    int rc = -EAGAIN;
    for (int attempt = 0; attempt < 100 && rc == -EAGAIN; attempt++)
        rc = restore_once(pool, delivery_tag, leftmost);
    return rc;
}

/* redis-py's Lock.release: delete the mutex only if it is still ours. */
static const char release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

int weft__celery_restore_visible(weft_redis_pool *pool, double visibility)
{
    char token[37];
    weft__celery_uuid(token);
    weft_redis_reply *r = NULL;
    int rc = weft_redis_pool_commandf(pool, &r, "SET %s %s NX EX %d", WEFT__CELERY_UNACKED_MUTEX,
                                      token, WEFT__CELERY_MUTEX_EXPIRE);
    if (rc != 0)
        return rc;
    bool held = weft_redis_reply_type(r) == WEFT_REDIS_STATUS;
    weft_redis_reply_free(r);
    if (!held)
        return 0; /* kombu's MutexHeld: another worker sweeps */
    char ceil[32];
    snprintf(ceil, sizeof ceil, "%.6f", weft__celery_now() - visibility);
    rc = weft_redis_pool_commandf(pool, &r, "ZREVRANGEBYSCORE %s %s 0 LIMIT 0 %d",
                                  WEFT__CELERY_UNACKED_INDEX, ceil, WEFT__CELERY_RESTORE_BATCH);
    int restored = 0;
    for (size_t i = 0; rc == 0 && i < weft_redis_reply_count(r); i++) {
        const char *tag = weft_redis_reply_string(weft_redis_reply_at(r, i), NULL);
        int one = tag ? weft__celery_restore(pool, tag, false) : 0;
        if (one < 0)
            rc = one;
        else
            restored += one;
    }
    weft_redis_reply_free(r);
    int release = weft_redis_pool_commandf(pool, NULL, "EVAL %s 1 %s %s", release_script,
                                           WEFT__CELERY_UNACKED_MUTEX, token);
    if (rc == 0)
        rc = release;
    return rc < 0 ? rc : restored;
}
