/* celery_internal.h: what the Celery layer's files share — the parsed task
 * message, base64 and ISO 8601 codecs, kombu's Redis transport (queue keys,
 * the unacked hash and index, restore), the result backend, and the
 * worker's and client's structs. Built on the public Redis and thread APIs;
 * the only lower internal it uses is the fault seam (fault.h). */
#ifndef WEFT_CELERY_INTERNAL_H
#define WEFT_CELERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/fault.h"
#include "weft.h"

/* ------------------------------------------------------------ limits */

#define WEFT__CELERY_CONCURRENCY        1000u
#define WEFT__CELERY_VISIBILITY_TIMEOUT 3600.0 /* kombu's default */
#define WEFT__CELERY_RESTORE_INTERVAL   10.0
#define WEFT__CELERY_RESULT_EXPIRES     86400.0 /* Celery's result_expires */
#define WEFT__CELERY_SHUTDOWN_GRACE     30.0
#define WEFT__CELERY_POLL_TIMEOUT       1.0           /* kombu's BRPOP timeout */
#define WEFT__CELERY_MAX_RETRIES        3             /* Task.max_retries */
#define WEFT__CELERY_RETRY_DELAY        180.0         /* Task.default_retry_delay */
#define WEFT__CELERY_MUTEX_EXPIRE       300           /* kombu's unacked_mutex_expire, seconds */
#define WEFT__CELERY_RESTORE_BATCH      10            /* kombu's restore_visible num */
#define WEFT__CELERY_ID_LEN             36            /* a uuid4's text */
#define WEFT__CELERY_THREAD_PARSE       (64u * 1024u) /* larger messages parse on a thread */

/* kombu's Redis key names and separator. */
#define WEFT__CELERY_SEP           "\x06\x16"
#define WEFT__CELERY_UNACKED       "unacked"
#define WEFT__CELERY_UNACKED_INDEX "unacked_index"
#define WEFT__CELERY_UNACKED_MUTEX "unacked_mutex"
#define WEFT__CELERY_META_PREFIX   "celery-task-meta-"

/* ------------------------------------------------------------ codecs */

/* Standard base64 with padding. decode: -EINVAL for anything else (the
 * caller frees *out, NUL-terminated, on success); encode: a NUL-terminated
 * string or NULL (no memory). */
int weft__b64_decode(const char *in, size_t len, char **out, size_t *outlen);
char *weft__b64_encode(const char *in, size_t len);

/* ISO 8601 as Celery writes it ("2026-12-02T09:31:04.423604+00:00", also
 * without fraction or offset, or with "Z") to seconds since the epoch;
 * -EINVAL if malformed. A time without offset is UTC. */
int weft__iso_parse(const char *s, double *out);
/* "YYYY-MM-DDTHH:MM:SS.ffffff" + suffix ("+00:00" or "" for Celery's naive
 * utcnow()); buf of 40 bytes. */
void weft__iso_format(double epoch, const char *suffix, char buf[64]);
/* The wall clock, seconds since the epoch. */
double weft__celery_now(void);
/* A random uuid4 into buf (37 bytes). */
void weft__celery_uuid(char buf[37]);

/* ----------------------------------------------------------- message */

/* A task message (protocol v2) as kombu stores it in a Redis list. */
typedef struct weft__celery_msg {
    json_t *raw;           /* the envelope, kept to store in unacked and to restore */
    json_t *body;          /* the decoded body: [args, kwargs, embed] */
    const char *id, *task; /* headers; borrowed from raw */
    const char *delivery_tag, *exchange, *routing_key; /* properties */
    json_t *args, *kwargs;                             /* borrowed from body */
    int retries;
    int priority;
    double eta, expires;                /* epoch seconds, 0: none */
    double time_limit, soft_time_limit; /* seconds, 0: none */
    bool ignore_result;
} weft__celery_msg;

/* Parses one message. 0, or WEFT_EPROTOCOL with why (a sentence) filled:
 * not JSON, not protocol v2, a content type or body encoding other than
 * JSON in base64, a body that is not [args, kwargs, embed], bad dates.
 * -ENOMEM. On failure *m holds nothing to free. */
int weft__celery_msg_parse(const char *data, size_t len, weft__celery_msg *m, char *why,
                           size_t whylen);
void weft__celery_msg_clear(weft__celery_msg *m);

/* What a new message says (the client's send_task, and a retry). */
typedef struct weft__celery_new {
    const char *id, *task;
    json_t *args, *kwargs; /* borrowed */
    const char *queue;
    int priority, retries;
    double eta, expires; /* epoch, 0: none */
    double time_limit, soft_time_limit;
    const char *root_id, *parent_id; /* NULL: the id, none */
} weft__celery_new;

/* The envelope of a new message, JSON text the caller frees; NULL if out
 * of memory. */
char *weft__celery_msg_build(const weft__celery_new *spec);
/* A retry of m: the same envelope with retries + 1, the new eta, a new
 * delivery tag, redelivered dropped. NULL if out of memory. */
char *weft__celery_msg_retry(const weft__celery_msg *m, double eta);

/* ----------------------------------------------------------- broker */

/* kombu's name for the list of queue at a priority (0..9 folded to 0, 3,
 * 6, 9; 0 is the queue's own name) into buf; its length. */
size_t weft__celery_queue_key(const char *queue, int priority, char *buf, size_t size);
/* The BRPOP argument list for queues, kombu's order: each priority step,
 * each queue in it. The caller frees the array and its strings with
 * weft__celery_keys_free. */
int weft__celery_keys_new(const char *const *queues, size_t n, char ***out, size_t *count);
void weft__celery_keys_free(char **keys, size_t count);

/* QoS.append: the message goes to the unacked hash and its index. */
int weft__celery_unacked_add(weft_redis_pool *pool, const weft__celery_msg *m, const char *data,
                             size_t len);
/* QoS.ack: removes it from both. */
int weft__celery_ack(weft_redis_pool *pool, const char *delivery_tag);
/* QoS.restore_by_tag: in a WATCH transaction, takes the message out of
 * unacked and pushes it back on its queue (marked redelivered): on the
 * right end, served next, or the left with leftmost. 1 if restored, 0 if
 * it was no longer there. */
int weft__celery_restore(weft_redis_pool *pool, const char *delivery_tag, bool leftmost);
/* QoS.restore_visible: under kombu's unacked_mutex, restores up to
 * WEFT__CELERY_RESTORE_BATCH messages older than visibility seconds.
 * Returns how many, or 0 if another worker holds the mutex. */
int weft__celery_restore_visible(weft_redis_pool *pool, double visibility);
/* A Celery URL to weft's: redis+socket:///p -> unix:///p; copies. */
char *weft__celery_url(const char *url);

/* ----------------------------------------------------------- results */

/* The backend's meta {"status", "result", "traceback", "children",
 * "date_done", "task_id"} stored with SETEX and PUBLISHed on
 * celery-task-meta-<id>. result is borrowed. */
int weft__celery_store(weft_redis_pool *pool, double expires, const char *task_id,
                       const char *status, json_t *result, const char *traceback);
/* {"exc_type", "exc_message": [message], "exc_module"} from "module.Type"
 * or a builtin's name; NULL if out of memory. */
json_t *weft__celery_exception(const char *exc_type, const char *message);

#endif

/* ------------------------------------------------------------ worker */

typedef struct weft__celery_entry {
    char *name;
    weft_celery_fn fn;
    void *user;
    weft_celery_task_opts opts; /* defaults filled in */
} weft__celery_entry;

enum weft__celery_state {
    WEFT__CELERY_NEW,
    WEFT__CELERY_RUNNING,
    WEFT__CELERY_WARM, /* stop consuming, let running tasks finish */
    WEFT__CELERY_COLD, /* cancel running tasks */
};

struct weft_celery_worker {
    char *broker_url, *backend_url;
    weft_celery_opts opts; /* defaults filled in; queues point into queues */
    char **queues;
    char **keys; /* BRPOP's keys */
    size_t n_keys;
    weft__celery_entry *tasks;
    size_t n_tasks, cap_tasks;
    weft_redis_pool *broker, *backend; /* backend may be broker */
    weft_sem *slots;                   /* concurrency */
    weft_event *quiet;                 /* set when no request is alive */
    weft_loop *loop;
    enum weft__celery_state state;
    bool in_brpop;  /* the consumer waits for the broker: never cancel it there */
    bool consuming; /* the consumer task is alive */
    weft_task *consumer, *sweeper;
    struct weft_celery_request *requests; /* alive ones, a doubly linked list */
    size_t alive;
    struct weft_celery_worker_stats stats;
    weft_signal_handler *sigterm, *sigint;
};

struct weft_celery_request {
    weft_celery_worker *w;
    struct weft_celery_request *prev, *next;
    char *data; /* the message as popped */
    size_t len;
    weft__celery_msg msg;
    const weft__celery_entry *entry;
    weft_task *task; /* the request's own task (supervisor) */
    json_t *result;  /* weft_celery_return's */
    json_t *exc;     /* weft_celery_fail's or the retry's */
    bool holds_slot, acked, retry_sent, soft_passed, given_back;
    bool admitted; /* parsed and recorded as unacked: a shutdown may cancel it now */
};

/* The broker's pool and the backend's (the same pool for the same URL). */
int weft__celery_pools_open(const char *broker, const char *backend, weft_redis_pool **bp,
                            weft_redis_pool **rp);
/* The registered task of that name, or NULL. */
const weft__celery_entry *weft__celery_find_task(const weft_celery_worker *w, const char *name);

/* The request's task: parse, account, run with limits, store, ack. */
int weft__celery_request_main(void *arg);
/* Unlinks and frees a request (its task has ended or never ran). */
void weft__celery_request_free(struct weft_celery_request *req);
