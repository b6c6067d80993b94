/* weft/celery.h: a Celery worker and client in C, over Redis. Speaks
 * Celery's task protocol v2 on kombu's Redis transport exactly as Celery 5.2
 * writes it (queue lists with kombu's priority lists, the unacked hash and
 * index, the visibility-timeout restore), and stores results in Celery's
 * Redis result backend, so Python's send_task()/delay() and
 * AsyncResult.get() talk to a weft process, and a weft task can call a
 * Python worker. Each Celery task runs as a weft task. Included by weft.h
 * when weft is built with hiredis and jansson (WEFT_HAVE_CELERY); do not
 * include it on its own. docs/celery.md explains the whole of it.
 *
 * Arguments and results are jansson values (json_t): jansson is Debian's
 * libjansson-dev, small and stable, with explicit reference counts. */
#ifndef WEFT_CELERY_H
#define WEFT_CELERY_H

#include <jansson.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_celery_worker weft_celery_worker;
typedef struct weft_celery_request weft_celery_request; /* one task being run */
typedef struct weft_celery_client weft_celery_client;

/* ------------------------------------------------------------- tasks */

/* A task function. Runs as a weft task: it may wait (HTTP, Redis, sleep),
 * and its waits return WEFT_ECANCELED when the soft time limit passes or
 * the worker shuts down cold. It returns 0 after weft_celery_return (or
 * with no result: None), or a negative code: after weft_celery_fail the
 * failure it describes, after weft_celery_retry a retry, otherwise a
 * FAILURE named after the code. */
typedef int (*weft_celery_fn)(weft_celery_request *req, void *user);

/* Per-task options; a zeroed struct (or NULL) gives the defaults. */
typedef struct weft_celery_task_opts {
    bool acks_late;             /* ack after the task ran, not before it starts */
    int max_retries;            /* retries weft_celery_retry may make; 0: 3, -1: no limit */
    double default_retry_delay; /* countdown of a retry that gives none (< 0); 0: 180 s */
    double time_limit;          /* hard limit when the message has none; 0: none */
    double soft_time_limit;     /* soft limit when the message has none; 0: none */
} weft_celery_task_opts;

/* The request's positional arguments (a JSON array) and keyword arguments
 * (a JSON object); borrowed, valid while the task runs. */
WEFT_API json_t *weft_celery_args(const weft_celery_request *req);
WEFT_API json_t *weft_celery_kwargs(const weft_celery_request *req);
/* The task's id (uuid), name, and how many times it was retried. */
WEFT_API const char *weft_celery_task_id(const weft_celery_request *req);
WEFT_API const char *weft_celery_task_name(const weft_celery_request *req);
WEFT_API int weft_celery_retries(const weft_celery_request *req);
/* 1 once the soft time limit has passed (the task was cancelled for it). */
WEFT_API int weft_celery_soft_limit_passed(const weft_celery_request *req);

/* The task's result (the reference is stolen, also on error; NULL: None).
 * Returns 0 or -ENOMEM. */
WEFT_API int weft_celery_return(weft_celery_request *req, json_t *result);
/* Describes the task's failure: exc_type is a Python exception name,
 * "ValueError" (a builtin) or "module.Name"; the message is formatted.
 * Returns a negative code for the task to return (-EPERM). */
WEFT_API int weft_celery_fail(weft_celery_request *req, const char *exc_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Task.retry(countdown=..., max_retries=...): schedules the task again
 * with retries + 1 after countdown seconds (< 0: the task's
 * default_retry_delay), with max_retries (< 0: the task's). Returns a
 * negative code for the task to return: -EAGAIN when the retry was sent
 * (the result becomes RETRY), or, past max_retries, -EPERM: the task
 * fails with exc_type/message if given (the exception Celery re-raises),
 * else with MaxRetriesExceededError. */
WEFT_API int weft_celery_retry(weft_celery_request *req, double countdown, int max_retries,
                               const char *exc_type, const char *message);

/* ------------------------------------------------------------ worker */

/* Options; a zeroed struct (or NULL) gives the defaults. */
typedef struct weft_celery_opts {
    const char *const *queues; /* queues consumed, in order; NULL: {"celery"} */
    size_t n_queues;
    size_t concurrency;        /* tasks running at once (the prefetch limit); 0: 1000 */
    double visibility_timeout; /* unacked messages older than this are restored; 0: 3600 s */
    double restore_interval;   /* how often the restore sweep runs; 0: 10 s */
    double result_expires;     /* SETEX time of results; 0: 86400 s (Celery's default) */
    double shutdown_grace;     /* warm shutdown: in-flight tasks get this long; 0: 30 s */
    double poll_timeout;       /* BRPOP timeout between checks for shutdown; 0: 1 s */
    bool handle_signals;       /* SIGTERM/SIGINT: warm shutdown, a second: cold */
} weft_celery_opts;

/* A worker for one broker (redis://, rediss is not supported, unix://,
 * and Celery's redis+socket:// spelling); results go to backend_url (NULL:
 * the broker's). Checks the URLs and options now; connects in run.
 * Errors: -EINVAL, WEFT_ENOTASK (no loop on this thread), -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_celery_worker_new(const char *broker_url, const char *backend_url,
                                                    const weft_celery_opts *opts,
                                                    weft_celery_worker **out);
/* Registers fn under a Celery task name ("tasks.add"), before run.
 * -EINVAL, -EEXIST (the name is taken), -EBUSY (running), -ENOMEM. */
WEFT_API int weft_celery_worker_register(weft_celery_worker *w, const char *name, weft_celery_fn fn,
                                         void *user, const weft_celery_task_opts *opts);
/* Consumes and runs tasks until a shutdown; returns 0 after a warm one,
 * WEFT_ECANCELED after a cold one (or the calling task's cancellation),
 * or the broker's error if it cannot connect at first. Must be called
 * from a task; once per worker. */
WEFT_API WEFT_MUST_CHECK int weft_celery_worker_run(weft_celery_worker *w);
/* Warm shutdown: stop consuming, give back messages not started, let the
 * running tasks finish for up to shutdown_grace, then stop. A second call
 * (or cold) is a cold shutdown: running tasks are cancelled, and their
 * messages are given back unless acked (early ack). Callable from any
 * task or callback of the worker's loop; never waits. */
WEFT_API int weft_celery_worker_shutdown(weft_celery_worker *w, bool cold);
WEFT_API void weft_celery_worker_free(weft_celery_worker *w);

struct weft_celery_worker_stats {
    uint64_t received;  /* messages taken from the queues */
    uint64_t succeeded; /* SUCCESS stored */
    uint64_t failed;    /* FAILURE stored */
    uint64_t retried;   /* RETRY: a new message sent */
    uint64_t revoked;   /* expired: REVOKED stored */
    uint64_t rejected;  /* malformed or unknown: dropped with a log line */
    uint64_t restored;  /* messages given back to a queue by this worker */
    size_t running;     /* tasks running now */
    size_t scheduled;   /* ETA tasks waiting for their time (no slot held) */
};
WEFT_API int weft_celery_worker_stats(const weft_celery_worker *w,
                                      struct weft_celery_worker_stats *out);

/* ------------------------------------------------------------ client */

/* A client: sends tasks through the broker and reads their results from
 * the backend. Errors as weft_celery_worker_new. */
WEFT_API WEFT_MUST_CHECK int weft_celery_client_new(const char *broker_url, const char *backend_url,
                                                    weft_celery_client **out);
WEFT_API void weft_celery_client_close(weft_celery_client *c);

/* What send_task sends besides the name and arguments; zeroed: defaults. */
typedef struct weft_celery_send_opts {
    const char *queue;      /* NULL: "celery" */
    int priority;           /* 0..9, kombu's Redis order: 0 is served first */
    double countdown;       /* seconds before it may run; 0: none */
    double expires;         /* seconds until it is revoked unrun; 0: never */
    double time_limit;      /* hard limit; 0: the worker's */
    double soft_time_limit; /* soft limit; 0: the worker's */
} weft_celery_send_opts;

/* send_task(name, args, kwargs): args a JSON array (NULL: []), kwargs an
 * object (NULL: {}), both borrowed. id_out (37 bytes) receives the task id.
 * Errors: -EINVAL, the broker's (weft_redis_pool_command), -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_celery_send_task(weft_celery_client *c, const char *name,
                                                   json_t *args, json_t *kwargs,
                                                   const weft_celery_send_opts *opts,
                                                   char id_out[37]);
/* AsyncResult(id).get(timeout): waits for the task's final state. On
 * SUCCESS returns 0 and *result (the caller's, may be JSON null); on
 * FAILURE or REVOKED returns WEFT_ETASK and *result holds the stored
 * exception ({"exc_type", "exc_message", ...}); WEFT_ETIMEDOUT after
 * timeout seconds (WEFT_FOREVER: none); the backend's errors. */
WEFT_API WEFT_MUST_CHECK int weft_celery_result_get(weft_celery_client *c, const char *task_id,
                                                    double timeout, json_t **result);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CELERY_H */
