/* weft's Celery worker as a program: serves a Celery app's tasks from a
 * Redis broker, each task a weft task, up to 1,000 at once.
 *
 *   celery_worker [-c CONCURRENCY] [-Q QUEUE] [--acks-late] [BROKER_URL]
 *
 * BROKER_URL as Celery spells it (redis://host:6379/0,
 * redis+socket:///run/redis.sock; default redis://127.0.0.1:6379/0); the
 * results go to the same Redis, as with Celery's redis backend. From
 * Python: app.send_task("tasks.add", args=(2, 3)).get(). SIGTERM or Ctrl-C:
 * warm shutdown (running tasks finish, the rest go back to the queue); a
 * second one: cold. It runs until then, so the suite builds it without
 * running it; tests/test_celery*.c run the same worker in-process. */
/* weft:no-ctest */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

/* tasks.add(*numbers) */
static int add(weft_celery_request *req, void *user)
{
    (void)user;
    json_int_t sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(weft_celery_args(req), i, v)
    {
        if (!json_is_integer(v))
            return weft_celery_fail(req, "TypeError", "add() takes integers");
        sum += json_integer_value(v);
    }
    return weft_celery_return(req, json_integer(sum));
}

/* tasks.sleep(seconds): waits without holding the loop, returns seconds. */
static int sleep_task(weft_celery_request *req, void *user)
{
    (void)user;
    json_t *seconds = json_array_get(weft_celery_args(req), 0);
    if (!json_is_number(seconds))
        return weft_celery_fail(req, "TypeError", "sleep(seconds)");
    int rc = weft_sleep(json_number_value(seconds));
    if (rc != 0)
        return rc; /* soft time limit or cold shutdown */
    return weft_celery_return(req, json_incref(seconds));
}

/* tasks.echo(*args, **kwargs) -> [args, kwargs] */
static int echo(weft_celery_request *req, void *user)
{
    (void)user;
    return weft_celery_return(req,
                              json_pack("[OO]", weft_celery_args(req), weft_celery_kwargs(req)));
}

typedef struct config {
    const char *broker;
    weft_celery_opts opts;
    weft_celery_task_opts task_opts;
    const char *queue;
} config;

static int serve(void *arg)
{
    config *cf = arg;
    weft_celery_worker *w;
    int rc = weft_celery_worker_new(cf->broker, NULL, &cf->opts, &w);
    if (rc != 0)
        return rc;
    if ((rc = weft_celery_worker_register(w, "tasks.add", add, NULL, &cf->task_opts)) == 0 &&
        (rc = weft_celery_worker_register(w, "tasks.sleep", sleep_task, NULL, &cf->task_opts)) ==
            0 &&
        (rc = weft_celery_worker_register(w, "tasks.echo", echo, NULL, &cf->task_opts)) == 0) {
        fprintf(stderr, "celery_worker: consuming %s on %s, %zu at once\n",
                cf->queue ? cf->queue : "celery", cf->broker, cf->opts.concurrency);
        rc = weft_celery_worker_run(w);
    }
    struct weft_celery_worker_stats st;
    if (weft_celery_worker_stats(w, &st) == 0)
        fprintf(stderr, "celery_worker: %llu succeeded, %llu failed, %llu rejected\n",
                (unsigned long long)st.succeeded, (unsigned long long)st.failed,
                (unsigned long long)st.rejected);
    weft_celery_worker_free(w);
    return rc == WEFT_ECANCELED ? 0 : rc; /* a cold shutdown is a way to stop */
}

int main(int argc, char **argv)
{
    config cf = {.broker = "redis://127.0.0.1:6379/0",
                 .opts = {.concurrency = 1000, .handle_signals = true}};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            cf.opts.concurrency = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-Q") == 0 && i + 1 < argc)
            cf.queue = argv[++i];
        else if (strcmp(argv[i], "--acks-late") == 0)
            cf.task_opts.acks_late = true;
        else if (argv[i][0] != '-')
            cf.broker = argv[i];
        else {
            fprintf(stderr, "usage: %s [-c CONCURRENCY] [-Q QUEUE] [--acks-late] [BROKER_URL]\n",
                    argv[0]);
            return 2;
        }
    }
    if (cf.queue != NULL) {
        cf.opts.queues = &cf.queue;
        cf.opts.n_queues = 1;
    }
    int rc = weft_run(serve, &cf);
    if (rc != 0) {
        fprintf(stderr, "celery_worker: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
