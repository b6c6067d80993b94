/* message.c: Celery's task message, protocol v2, as kombu's Redis transport
 * stores it: a JSON envelope {body, content-type, content-encoding,
 * headers, properties} whose body is base64 of the JSON [args, kwargs,
 * embed] (celery/app/amqp.py as_task_v2, docs/internals/protocol.rst).
 * Parsing refuses whatever the worker could not run faithfully, with a
 * reason; building writes what Celery 5.2 writes. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return WEFT_EPROTOCOL;
}

/* A string member, or NULL when absent or null; -1 through *bad if it is
 * there with another type. */
static const char *opt_string(json_t *obj, const char *key, bool *bad)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v))
        *bad = true;
    return json_string_value(v);
}

/* A time limit: a number of seconds, or null. */
static int limit_value(json_t *v, double *out)
{
    if (v == NULL || json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v)))
        return -EINVAL;
    *out = json_number_value(v);
    return 0;
}

static int parse_headers(weft__celery_msg *m, json_t *headers, char *why, size_t whylen)
{
    bool bad = false;
    m->task = opt_string(headers, "task", &bad);
    m->id = opt_string(headers, "id", &bad);
    if (bad || m->task == NULL || m->id == NULL || m->id[0] == 0)
        return refuse(why, whylen, "headers.task or headers.id missing or not a string");
    json_t *retries = json_object_get(headers, "retries");
    if (retries != NULL && !json_is_null(retries)) {
        if (!json_is_integer(retries) || json_integer_value(retries) < 0 ||
            json_integer_value(retries) > 1000000)
            return refuse(why, whylen, "headers.retries is not a count");
        m->retries = (int)json_integer_value(retries);
    }
    const char *eta = opt_string(headers, "eta", &bad);
    const char *expires = opt_string(headers, "expires", &bad);
    if (bad || (eta != NULL && weft__iso_parse(eta, &m->eta) != 0) ||
        (expires != NULL && weft__iso_parse(expires, &m->expires) != 0))
        return refuse(why, whylen, "headers.eta or headers.expires is not an ISO 8601 time");
    json_t *tl = json_object_get(headers, "timelimit");
    if (tl != NULL && !json_is_null(tl)) {
        if (!json_is_array(tl) || json_array_size(tl) != 2 ||
            limit_value(json_array_get(tl, 0), &m->time_limit) != 0 ||
            limit_value(json_array_get(tl, 1), &m->soft_time_limit) != 0)
            return refuse(why, whylen, "headers.timelimit is not [hard, soft]");
    }
    m->ignore_result = json_is_true(json_object_get(headers, "ignore_result"));
    return 0;
}

static int parse_properties(weft__celery_msg *m, json_t *props, char *why, size_t whylen)
{
    bool bad = false;
    if (!json_is_object(props))
        return refuse(why, whylen, "properties missing");
    m->delivery_tag = opt_string(props, "delivery_tag", &bad);
    const char *enc = opt_string(props, "body_encoding", &bad);
    json_t *info = json_object_get(props, "delivery_info");
    if (json_is_object(info)) {
        m->exchange = opt_string(info, "exchange", &bad);
        m->routing_key = opt_string(info, "routing_key", &bad);
    }
    if (bad || m->delivery_tag == NULL)
        return refuse(why, whylen, "properties.delivery_tag missing or not a string");
    if (enc == NULL || strcmp(enc, "base64") != 0)
        return refuse(why, whylen, "body encoding %s is not base64", enc ? enc : "(none)");
    json_t *pri = json_object_get(props, "priority");
    if (json_is_integer(pri))
        m->priority = (int)(json_integer_value(pri) < 0   ? 0
                            : json_integer_value(pri) > 9 ? 9
                                                          : json_integer_value(pri));
    return 0;
}

static int parse_body(weft__celery_msg *m, json_t *body, char *why, size_t whylen)
{
    if (!json_is_string(body))
        return refuse(why, whylen, "body is not a string");
    char *text = NULL;
    size_t len = 0;
    int rc = weft__b64_decode(json_string_value(body), json_string_length(body), &text, &len);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0)
        return refuse(why, whylen, "body is not valid base64");
    json_error_t err;
    m->body = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    free(text);
    if (m->body == NULL)
        return refuse(why, whylen, "body is not JSON: %s", err.text);
    /* Protocol v2: [args, kwargs, embed]; v1 put a dict with "task" here. */
    if (!json_is_array(m->body) || json_array_size(m->body) != 3 ||
        !json_is_array(json_array_get(m->body, 0)) || !json_is_object(json_array_get(m->body, 1)))
        return refuse(why, whylen, "body is not [args, kwargs, embed] (not protocol v2)");
    m->args = json_array_get(m->body, 0);
    m->kwargs = json_array_get(m->body, 1);
    return 0;
}

int weft__celery_msg_parse(const char *data, size_t len, weft__celery_msg *m, char *why,
                           size_t whylen)
{
    memset(m, 0, sizeof *m);
    json_error_t err;
    m->raw = json_loadb(data, len, JSON_ALLOW_NUL, &err);
    if (m->raw == NULL)
        return refuse(why, whylen, "not JSON: %s", err.text);
    int rc = 0;
    json_t *headers = json_object_get(m->raw, "headers");
    const char *ctype = json_string_value(json_object_get(m->raw, "content-type"));
    if (!json_is_object(headers) || json_object_get(headers, "task") == NULL)
        rc = refuse(why, whylen, "no headers.task: not a protocol v2 task message");
    else if (ctype == NULL || strcmp(ctype, "application/json") != 0)
        rc = refuse(why, whylen, "content-type %s is not application/json",
                    ctype ? ctype : "(none)");
    if (rc == 0)
        rc = parse_headers(m, headers, why, whylen);
    if (rc == 0)
        rc = parse_properties(m, json_object_get(m->raw, "properties"), why, whylen);
    if (rc == 0)
        rc = parse_body(m, json_object_get(m->raw, "body"), why, whylen);
    if (rc != 0)
        weft__celery_msg_clear(m);
    return rc;
}

void weft__celery_msg_clear(weft__celery_msg *m)
{
    json_decref(m->raw);
    json_decref(m->body);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------ building */

static json_t *iso_or_null(double epoch)
{
    if (epoch <= 0)
        return json_null();
    char buf[64];
    weft__iso_format(epoch, "+00:00", buf);
    return json_string(buf);
}

static json_t *limit_or_null(double seconds)
{
    return seconds > 0 ? json_real(seconds) : json_null();
}

static char *encode_body(json_t *args, json_t *kwargs)
{
    json_t *body =
        json_pack("[OO{s:n,s:n,s:n,s:n}]", args, kwargs, "callbacks", "errbacks", "chain", "chord");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char *b64 = text ? weft__b64_encode(text, strlen(text)) : NULL;
    free(text);
    return b64;
}

char *weft__celery_msg_build(const weft__celery_new *s)
{
    char tag[37];
    weft__celery_uuid(tag);
    char *body = encode_body(s->args, s->kwargs);
    if (body == NULL)
        return NULL;
    json_t *headers =
        json_pack("{s:s,s:s,s:s,s:n,s:o,s:o,s:n,s:n,s:i,s:[oo],s:s,s:s?,s:s,s:s,s:s,s:b}", "lang",
                  "py", "task", s->task, "id", s->id, "shadow", "eta", iso_or_null(s->eta),
                  "expires", iso_or_null(s->expires), "group", "group_index", "retries", s->retries,
                  "timelimit", limit_or_null(s->time_limit), limit_or_null(s->soft_time_limit),
                  "root_id", s->root_id ? s->root_id : s->id, "parent_id", s->parent_id, "argsrepr",
                  "", "kwargsrepr", "", "origin", "weft", "ignore_result", 0);
    json_t *env =
        headers == NULL
            ? NULL
            : json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:s,s:i,s:{s:s,s:s},s:i,s:s,s:s}}", "body", body,
                        "content-encoding", "utf-8", "content-type", "application/json", "headers",
                        headers, "properties", "correlation_id", s->id, "reply_to", "",
                        "delivery_mode", 2, "delivery_info", "exchange", "", "routing_key",
                        s->queue, "priority", s->priority, "body_encoding", "base64",
                        "delivery_tag", tag);
    free(body);
    char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    return text;
}

char *weft__celery_msg_retry(const weft__celery_msg *m, double eta)
{
    json_t *env = json_deep_copy(m->raw);
    if (env == NULL)
        return NULL;
    char tag[37];
    weft__celery_uuid(tag);
    json_t *headers = json_object_get(env, "headers");
    json_t *props = json_object_get(env, "properties");
    json_t *info = json_object_get(props, "delivery_info");
    int rc = json_object_set_new(headers, "retries", json_integer(m->retries + 1));
    rc |= json_object_set_new(headers, "eta", iso_or_null(eta));
    rc |= json_object_set_new(props, "delivery_tag", json_string(tag));
    json_object_del(headers, "redelivered");
    if (json_is_object(info))
        json_object_del(info, "redelivered");
    char *text = rc == 0 ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    return text;
}
