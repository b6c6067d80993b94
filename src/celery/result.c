/* result.c: Celery's Redis result backend as Celery 5.2 writes it
 * (celery/backends/base.py _get_result_meta, celery/backends/redis.py
 * _set): the meta JSON under celery-task-meta-<id>, written with SETEX and
 * PUBLISHed on a channel of the same name, which AsyncResult.get()
 * subscribes to. Exceptions are {exc_type, exc_message, exc_module}, as
 * prepare_exception encodes them for JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

json_t *weft__celery_exception(const char *exc_type, const char *message)
{
    const char *dot = strrchr(exc_type, '.');
    json_t *module =
        dot ? json_stringn(exc_type, (size_t)(dot - exc_type)) : json_string("builtins");
    return json_pack("{s:s,s:[s],s:o}", "exc_type", dot ? dot + 1 : exc_type, "exc_message",
                     message ? message : "", "exc_module", module);
}

static bool is_ready(const char *status)
{
    return strcmp(status, "SUCCESS") == 0 || strcmp(status, "FAILURE") == 0 ||
           strcmp(status, "REVOKED") == 0;
}

int weft__celery_store(weft_redis_pool *pool, double expires, const char *task_id,
                       const char *status, json_t *result, const char *traceback)
{
    char date[64];
    weft__iso_format(weft__celery_now(), "", date); /* datetime.utcnow().isoformat() */
    json_t *meta = json_pack("{s:s,s:O,s:s?,s:[],s:s?,s:s}", "status", status, "result",
                             result ? result : json_null(), "traceback", traceback, "children",
                             "date_done", is_ready(status) ? date : NULL, "task_id", task_id);
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (text == NULL)
        return -ENOMEM;
    char key[sizeof WEFT__CELERY_META_PREFIX + 256];
    snprintf(key, sizeof key, WEFT__CELERY_META_PREFIX "%s", task_id);
    weft_redis_pipeline *p;
    int rc = weft_redis_pipeline_new(&p);
    if (rc == 0) {
        weft_redis_pipeline_addf(p, "SETEX %s %lld %s", key, (long long)expires, text);
        weft_redis_pipeline_addf(p, "PUBLISH %s %s", key, text);
        rc = weft_redis_pool_pipeline_run(pool, p);
        if (rc == 0 && weft_redis_reply_error(weft_redis_pipeline_reply(p, 0)) != NULL)
            rc = WEFT_EREDIS;
        weft_redis_pipeline_free(p);
    }
    free(text);
    return rc;
}
