/* client.c: the calling side of Celery from a weft task: send_task()
 * pushes a protocol v2 message on the queue's list as kombu's Redis
 * transport does (LPUSH; the worker BRPOPs the other end), and
 * AsyncResult.get() subscribes to the task's meta channel, then reads the
 * stored meta, so a result stored in between is not missed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

struct weft_celery_client {
    weft_redis_pool *broker, *backend;
};

int weft_celery_client_new(const char *broker_url, const char *backend_url,
                           weft_celery_client **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (broker_url == NULL)
        return -EINVAL;
    weft_celery_client *c = weft__calloc(1, sizeof *c);
    char *broker = weft__celery_url(broker_url);
    char *backend = weft__celery_url(backend_url ? backend_url : broker_url);
    int rc = c && broker && backend
                 ? weft__celery_pools_open(broker, backend, &c->broker, &c->backend)
                 : -ENOMEM;
    free(broker);
    free(backend);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void weft_celery_client_close(weft_celery_client *c)
{
    if (c == NULL)
        return;
    if (c->backend != c->broker)
        weft_redis_pool_close(c->backend);
    weft_redis_pool_close(c->broker);
    free(c);
}

static bool duration_ok(double s)
{
    return s >= 0 && isfinite(s);
}

int weft_celery_send_task(weft_celery_client *c, const char *name, json_t *args, json_t *kwargs,
                          const weft_celery_send_opts *opts, char id_out[37])
{
    weft_celery_send_opts o = opts ? *opts : (weft_celery_send_opts){0};
    if (c == NULL || name == NULL || name[0] == 0 || id_out == NULL ||
        (args != NULL && !json_is_array(args)) || (kwargs != NULL && !json_is_object(kwargs)) ||
        o.priority < 0 || o.priority > 9 || !duration_ok(o.countdown) || !duration_ok(o.expires) ||
        !duration_ok(o.time_limit) || !duration_ok(o.soft_time_limit))
        return -EINVAL;
    json_t *empty_args = args ? NULL : json_array();
    json_t *empty_kwargs = kwargs ? NULL : json_object();
    char id[37];
    weft__celery_uuid(id);
    double now = weft__celery_now();
    weft__celery_new spec = {
        .id = id,
        .task = name,
        .args = args ? args : empty_args,
        .kwargs = kwargs ? kwargs : empty_kwargs,
        .queue = o.queue ? o.queue : "celery",
        .priority = o.priority,
        .eta = o.countdown > 0 ? now + o.countdown : 0,
        .expires = o.expires > 0 ? now + o.expires : 0,
        .time_limit = o.time_limit,
        .soft_time_limit = o.soft_time_limit,
    };
    char *text = spec.args && spec.kwargs ? weft__celery_msg_build(&spec) : NULL;
    json_decref(empty_args);
    json_decref(empty_kwargs);
    if (text == NULL)
        return -ENOMEM;
    char key[512];
    weft__celery_queue_key(spec.queue, o.priority, key, sizeof key);
    int rc = weft_redis_pool_commandf(c->broker, NULL, "LPUSH %s %s", key, text);
    free(text);
    if (rc == 0)
        memcpy(id_out, id, sizeof id);
    return rc;
}

/* The meta's final outcome: 0 (SUCCESS), WEFT_ETASK (FAILURE, REVOKED),
 * or 1 when not final yet (PENDING, STARTED, RETRY). */
static int meta_outcome(const char *text, size_t len, json_t **result)
{
    json_t *meta = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    const char *status = json_string_value(json_object_get(meta, "status"));
    int rc = 1;
    if (status == NULL)
        rc = WEFT_EPROTOCOL;
    else if (strcmp(status, "SUCCESS") == 0)
        rc = 0;
    else if (strcmp(status, "FAILURE") == 0 || strcmp(status, "REVOKED") == 0)
        rc = WEFT_ETASK;
    if (rc <= 0 && rc != WEFT_EPROTOCOL) {
        *result = json_incref(json_object_get(meta, "result"));
        if (*result == NULL)
            *result = json_null();
    }
    json_decref(meta);
    return rc;
}

static int get_stored(weft_celery_client *c, const char *key, json_t **result)
{
    weft_redis_reply *r = NULL;
    int rc = weft_redis_pool_commandf(c->backend, &r, "GET %s", key);
    if (rc != 0)
        return rc;
    size_t len = 0;
    const char *text = weft_redis_reply_string(r, &len);
    rc = text ? meta_outcome(text, len, result) : 1;
    weft_redis_reply_free(r);
    return rc;
}

static int wait_published(weft_celery_client *c, weft_redis_sub *sub, const char *key,
                          json_t **result)
{
    for (;;) {
        weft_redis_msg *m = NULL;
        int rc = weft_redis_sub_next(sub, &m);
        if (rc == WEFT_ECONNLOST) { /* anything published meanwhile is in the key */
            rc = get_stored(c, key, result);
            if (rc <= 0)
                return rc;
            continue;
        }
        if (rc != 0)
            return rc;
        size_t len = 0;
        const char *data = weft_redis_msg_data(m, &len);
        rc = meta_outcome(data, len, result);
        weft_redis_msg_free(m);
        if (rc <= 0 && rc != WEFT_EPROTOCOL)
            return rc;
    }
}

int weft_celery_result_get(weft_celery_client *c, const char *task_id, double timeout,
                           json_t **result)
{
    if (result != NULL)
        *result = NULL;
    if (c == NULL || task_id == NULL || result == NULL || isnan(timeout) || strlen(task_id) > 200)
        return -EINVAL;
    char key[sizeof WEFT__CELERY_META_PREFIX + 256];
    snprintf(key, sizeof key, WEFT__CELERY_META_PREFIX "%s", task_id);
    weft_redis_sub *sub = NULL;
    int rc = 0;
    WEFT_TIMEOUT(timeout, rc) {
        rc = weft_redis_sub_open(c->backend, &sub);
        if (rc == 0)
            rc = weft_redis_sub_subscribe(sub, key);
        if (rc == 0)
            rc = get_stored(c, key, result);
        if (rc == 1)
            rc = wait_published(c, sub, key, result);
    }
    if (sub != NULL)
        weft_redis_sub_close(sub);
    return rc;
}
