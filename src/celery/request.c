/* request.c: one task message's life in the worker, as Celery's worker
 * handles a request: refuse what cannot run (logged), wait for its ETA
 * without holding a slot, revoke it when expired, ack early or late, run
 * the task function as a child task under the soft and hard time limits,
 * store the outcome in the result backend, and give the message back to
 * its queue when a shutdown stops it. Also the functions a task calls on
 * its request (arguments, result, failure, retry). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

/* ------------------------------------------------------ task's view */

json_t *weft_celery_args(const weft_celery_request *req)
{
    return req ? req->msg.args : NULL;
}

json_t *weft_celery_kwargs(const weft_celery_request *req)
{
    return req ? req->msg.kwargs : NULL;
}

const char *weft_celery_task_id(const weft_celery_request *req)
{
    return req ? req->msg.id : NULL;
}

const char *weft_celery_task_name(const weft_celery_request *req)
{
    return req ? req->msg.task : NULL;
}

int weft_celery_retries(const weft_celery_request *req)
{
    return req ? req->msg.retries : -EINVAL;
}

int weft_celery_soft_limit_passed(const weft_celery_request *req)
{
    return req ? req->soft_passed : -EINVAL;
}

int weft_celery_return(weft_celery_request *req, json_t *result)
{
    if (req == NULL) {
        json_decref(result);
        return -EINVAL;
    }
    json_decref(req->result);
    req->result = result;
    return 0;
}

static int set_exception(weft_celery_request *req, const char *exc_type, const char *message)
{
    json_t *exc = weft__celery_exception(exc_type, message);
    if (exc == NULL)
        return -ENOMEM;
    json_decref(req->exc);
    req->exc = exc;
    return 0;
}

int weft_celery_fail(weft_celery_request *req, const char *exc_type, const char *fmt, ...)
{
    if (req == NULL || exc_type == NULL || exc_type[0] == 0 || fmt == NULL)
        return -EINVAL;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    int rc = set_exception(req, exc_type, message);
    return rc != 0 ? rc : -EPERM;
}

int weft_celery_retry(weft_celery_request *req, double countdown, int max_retries,
                      const char *exc_type, const char *message)
{
    if (req == NULL || isnan(countdown))
        return -EINVAL;
    const weft_celery_task_opts *o = &req->entry->opts;
    if (countdown < 0)
        countdown = o->default_retry_delay;
    if (max_retries < 0)
        max_retries = o->max_retries;
    if (max_retries >= 0 && req->msg.retries + 1 > max_retries) {
        /* Celery re-raises the task's exception, or MaxRetriesExceededError. */
        char text[512];
        snprintf(text, sizeof text, "Can't retry %s[%s] args:%s kwargs:%s", req->msg.task,
                 req->msg.id, "...", "...");
        int rc = exc_type ? set_exception(req, exc_type, message)
                          : set_exception(req, "celery.exceptions.MaxRetriesExceededError", text);
        return rc != 0 ? rc : -EPERM;
    }
    char *text = weft__celery_msg_retry(&req->msg, weft__celery_now() + countdown);
    if (text == NULL)
        return -ENOMEM;
    char key[512];
    weft__celery_queue_key(req->msg.routing_key ? req->msg.routing_key : "celery",
                           req->msg.priority, key, sizeof key);
    int rc = weft_redis_pool_commandf(req->w->broker, NULL, "LPUSH %s %s", key, text);
    free(text);
    if (rc != 0)
        return rc;
    char why[128];
    snprintf(why, sizeof why, "Retry in %gs", countdown);
    rc = set_exception(req, "celery.exceptions.Retry", message ? message : why);
    req->retry_sent = rc == 0;
    return rc != 0 ? rc : -EAGAIN;
}

/* ------------------------------------------------------- the request */

void weft__celery_request_free(struct weft_celery_request *req)
{
    weft_celery_worker *w = req->w;
    if (req->holds_slot)
        weft_sem_release(w->slots);
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        w->requests = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    if (--w->alive == 0)
        weft_event_set(w->quiet);
    weft__celery_msg_clear(&req->msg);
    json_decref(req->result);
    json_decref(req->exc);
    free(req->data);
    weft_task_free(req->task); /* our own handle: the task ends right after */
    free(req);
}

/* A broker or backend that went away (restarted, failed over). */
static bool transient(int rc)
{
    return rc == WEFT_ECONNLOST || rc == -ECONNREFUSED || rc == -ENOENT || rc == -ECONNRESET ||
           rc == -EPIPE || rc == WEFT_ETIMEDOUT;
}

/* Celery's backend retries a store that met a connection error (ensure():
 * up to 20 times, backing off); acks are retried the same way, so that a
 * broker restart loses neither. Stops early when the worker goes cold. */
#define RETRY_ATTEMPTS 20

static void store(struct weft_celery_request *req, const char *status, json_t *result,
                  const char *traceback)
{
    if (req->msg.ignore_result && strcmp(status, "SUCCESS") == 0)
        return;
    int rc = 0;
    double backoff = 0.05;
    for (int attempt = 0; attempt < RETRY_ATTEMPTS; attempt++, backoff = fmin(backoff * 2, 1)) {
        rc = weft__celery_store(req->w->backend, req->w->opts.result_expires, req->msg.id, status,
                                result, traceback);
        if (!transient(rc) || weft_sleep(backoff) != 0)
            break;
    }
    if (rc != 0)
        weft_log(WEFT_LOG_WARN, "celery", "task %s[%s]: result not stored: %s", req->msg.task,
                 req->msg.id, weft_strerror(rc));
}

static void ack(struct weft_celery_request *req)
{
    if (req->acked)
        return;
    int rc = 0;
    double backoff = 0.05;
    for (int attempt = 0; attempt < RETRY_ATTEMPTS; attempt++, backoff = fmin(backoff * 2, 1)) {
        rc = weft__celery_ack(req->w->broker, req->msg.delivery_tag);
        if (!transient(rc) || weft_sleep(backoff) != 0)
            break;
    }
    if (rc != 0) /* it stays in unacked: the sweep will run it again */
        weft_log(WEFT_LOG_WARN, "celery", "task %s[%s]: ack failed: %s", req->msg.task, req->msg.id,
                 weft_strerror(rc));
    req->acked = rc == 0;
}

/* Puts an unacked message back on its queue (kombu's restore_unacked at
 * shutdown), to be served next. */
static void give_back(struct weft_celery_request *req)
{
    if (req->acked || req->given_back)
        return;
    int rc = weft__celery_restore(req->w->broker, req->msg.delivery_tag, false);
    if (rc < 0)
        weft_log(WEFT_LOG_WARN, "celery", "task %s[%s]: not given back (%s): the sweep will",
                 req->msg.task, req->msg.id, weft_strerror(rc));
    else
        req->w->stats.restored += (uint64_t)rc;
    req->given_back = true;
}

/* A parse on a thread: decoding megabytes of JSON would hold the loop.
 * The thread is driven by a child task the request shields: a request
 * cancelled meanwhile (cold shutdown) returns at once and leaves the job
 * to the child, which frees it once the thread is done with it. */
typedef struct parse_job {
    char *data; /* the request's, until it abandons the job with it */
    bool owns_data;
    size_t len;
    weft__celery_msg msg;
    char why[256];
    int rc;
    bool abandoned;
} parse_job;

static void parse_job_free(parse_job *job)
{
    weft__celery_msg_clear(&job->msg);
    if (job->owns_data)
        free(job->data);
    free(job);
}

static int parse_on_thread(void *arg)
{
    parse_job *job = arg;
    return weft__celery_msg_parse(job->data, job->len, &job->msg, job->why, sizeof job->why);
}

static int parse_child(void *arg)
{
    parse_job *job = arg;
    job->rc = weft_to_thread(parse_on_thread, job);
    if (job->rc == WEFT_ECANCELED)
        return 0; /* only when the loop itself closes: the thread may still write to the job */
    if (job->abandoned)
        parse_job_free(job);
    return 0;
}

/* Parses the message, on a thread when it is large. */
static int parse(struct weft_celery_request *req, char *why, size_t whylen)
{
    if (req->len < WEFT__CELERY_THREAD_PARSE)
        return weft__celery_msg_parse(req->data, req->len, &req->msg, why, whylen);
    parse_job *job = weft__calloc(1, sizeof *job);
    if (job == NULL)
        return -ENOMEM;
    job->data = req->data;
    job->len = req->len;
    weft_task *child;
    int rc = weft_spawn(parse_child, job, &child);
    if (rc != 0) {
        parse_job_free(job);
        return rc;
    }
    rc = weft_shield(child);
    weft_task_free(child);
    if (rc != 0) {
        job->abandoned = true;
        job->owns_data = true; /* the thread may still read it */
        req->data = NULL;
        return rc;
    }
    rc = job->rc;
    req->msg = job->msg; /* moved */
    memset(&job->msg, 0, sizeof job->msg);
    snprintf(why, whylen, "%s", job->why);
    parse_job_free(job);
    return rc;
}

/* Parsing and the checks Celery's consumer makes before running: 0 to go
 * on; otherwise the message was dropped (malformed, unknown) or revoked. */
static int admit(struct weft_celery_request *req)
{
    weft_celery_worker *w = req->w;
    char why[256];
    int rc = parse(req, why, sizeof why);
    if (rc == WEFT_ECANCELED)
        return rc;
    if (rc != 0) {
        w->stats.rejected++;
        weft_log(WEFT_LOG_WARN, "celery", "rejected a message: %s",
                 rc == WEFT_EPROTOCOL ? why : weft_strerror(rc));
        return rc;
    }
    rc = weft__celery_unacked_add(w->broker, &req->msg, req->data, req->len);
    if (rc != 0)
        weft_log(WEFT_LOG_WARN, "celery", "task %s[%s]: not recorded as unacked: %s", req->msg.task,
                 req->msg.id, weft_strerror(rc));
    req->entry = weft__celery_find_task(w, req->msg.task);
    if (req->entry == NULL) {
        w->stats.rejected++;
        weft_log(WEFT_LOG_WARN, "celery", "rejected task %s[%s]: not registered", req->msg.task,
                 req->msg.id);
        ack(req);
        return -ENOENT;
    }
    return 0;
}

static bool expired(struct weft_celery_request *req)
{
    if (req->msg.expires <= 0 || weft__celery_now() < req->msg.expires)
        return false;
    json_t *exc = weft__celery_exception("celery.exceptions.TaskRevokedError", "expired");
    store(req, "REVOKED", exc, NULL);
    json_decref(exc);
    req->w->stats.revoked++;
    ack(req);
    return true;
}

/* Waits for the ETA with no slot held, then for a slot. */
static int wait_eta(struct weft_celery_request *req)
{
    double delay = req->msg.eta - weft__celery_now();
    if (req->msg.eta <= 0 || delay <= 0)
        return 0;
    if (req->w->state != WEFT__CELERY_RUNNING)
        return WEFT_ECANCELED; /* shutting down: give it back now */
    req->holds_slot = false;
    weft_sem_release(req->w->slots);
    int rc = weft_sleep(delay);
    if (rc == 0 && req->w->state == WEFT__CELERY_RUNNING)
        rc = weft_sem_acquire(req->w->slots);
    else if (rc == 0)
        rc = WEFT_ECANCELED; /* shutting down: give it back */
    req->holds_slot = rc == 0;
    return rc;
}

static int run_task_fn(void *arg)
{
    struct weft_celery_request *req = arg;
    return req->entry->fn(req, req->entry->user);
}

/* Waits for the child until deadline; true if it ended. */
static int wait_child(weft_task *child, double deadline, bool *ended)
{
    double left = deadline - weft_time();
    int rc = weft_wait(&child, 1, WEFT_ALL_COMPLETED, left > 0 ? left : 0);
    *ended = weft_task_done(child);
    return rc < 0 ? rc : 0;
}

static void report(struct weft_celery_request *req, int code, bool hard);
static void ack(struct weft_celery_request *req);

/* Runs the task function under its limits and returns its code. At the
 * hard limit the failure is reported (and a late ack made) at once, the
 * task is cancelled, and *hard is set; the slot is kept until the task has
 * really ended. WEFT_ECANCELED when the request itself was cancelled (cold
 * shutdown): the child has then ended too. */
static int run_limited(struct weft_celery_request *req, bool *hard)
{
    double soft =
        req->msg.soft_time_limit > 0 ? req->msg.soft_time_limit : req->entry->opts.soft_time_limit;
    double hardl = req->msg.time_limit > 0 ? req->msg.time_limit : req->entry->opts.time_limit;
    double start = weft_time();
    weft_task *child;
    int rc = weft_spawn(run_task_fn, req, &child);
    if (rc != 0)
        return rc;
    bool ended = false;
    *hard = false;
    rc = wait_child(child,
                    soft > 0    ? start + soft
                    : hardl > 0 ? start + hardl
                                : WEFT_FOREVER,
                    &ended);
    if (rc == 0 && !ended && soft > 0 && (hardl <= 0 || soft < hardl)) {
        req->soft_passed = true; /* SoftTimeLimitExceeded: the task sees a cancellation */
        weft_cancel(child);
        rc = wait_child(child, hardl > 0 ? start + hardl : WEFT_FOREVER, &ended);
    }
    if (rc == 0 && !ended) {
        *hard = true; /* TimeLimitExceeded: reported now, the task cancelled */
        weft_cancel(child);
        report(req, WEFT_ETIMEDOUT, true);
        ack(req);
    }
    if (rc != 0)
        weft_cancel(child); /* the request was cancelled: so is the task */
    int code = weft_await(child);
    while (code == WEFT_ECANCELED && !weft_task_done(child))
        code = weft_await(child); /* cancelled again while waiting: the child still ends */
    code = weft_task_result(child);
    weft_task_free(child);
    return rc != 0 ? rc : code;
}

static void report(struct weft_celery_request *req, int code, bool hard)
{
    weft_celery_worker *w = req->w;
    if (code >= 0) {
        store(req, "SUCCESS", req->result, NULL);
        w->stats.succeeded++;
        return;
    }
    if (req->retry_sent) {
        store(req, "RETRY", req->exc, NULL);
        w->stats.retried++;
        return;
    }
    char text[256];
    if (hard) {
        snprintf(text, sizeof text, "TimeLimitExceeded(%g,)",
                 req->msg.time_limit > 0 ? req->msg.time_limit : req->entry->opts.time_limit);
        set_exception(req, "billiard.exceptions.TimeLimitExceeded", text);
    } else if (req->exc == NULL && req->soft_passed) {
        set_exception(req, "billiard.exceptions.SoftTimeLimitExceeded", "SoftTimeLimitExceeded()");
    } else if (req->exc == NULL) {
        snprintf(text, sizeof text, "%s: %s", weft_err_name(code), weft_strerror(code));
        set_exception(req, "RuntimeError", text);
    }
    snprintf(text, sizeof text, "weft task %s[%s] failed in C (no Python traceback)", req->msg.task,
             req->msg.id);
    store(req, "FAILURE", req->exc, text);
    w->stats.failed++;
}

int weft__celery_request_main(void *arg)
{
    struct weft_celery_request *req = arg;
    weft_celery_worker *w = req->w;
    int rc = admit(req);
    req->admitted = true;
    if (rc == 0 && !expired(req)) {
        rc = w->state == WEFT__CELERY_COLD ? WEFT_ECANCELED : wait_eta(req);
        if (rc != 0) {
            give_back(req);
        } else if (!expired(req)) {
            bool acks_late = req->entry->opts.acks_late;
            if (!acks_late)
                ack(req);
            bool hard = false;
            int code = run_limited(req, &hard);
            if (hard) {
                /* reported when the limit passed */
            } else if (code == WEFT_ECANCELED && w->state == WEFT__CELERY_COLD &&
                       !req->soft_passed && !req->retry_sent) {
                while (weft_uncancel(weft_task_current()) > 0)
                    ; /* the cold shutdown's: clean up below */
                give_back(req);
            } else {
                report(req, code, hard);
                if (acks_late)
                    ack(req);
            }
        }
    }
    weft__celery_request_free(req);
    return 0;
}
