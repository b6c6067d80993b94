/* The worker's registry of tasks by name: what weft_celery_worker_register
 * adds before the worker runs, and what a request looks its task up in. A
 * file of its own so that requests (request.c) and the worker (worker.c)
 * do not call each other: the worker starts requests, requests find their
 * task here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

const weft__celery_entry *weft__celery_find_task(const weft_celery_worker *w, const char *name)
{
    for (size_t i = 0; i < w->n_tasks; i++)
        if (strcmp(w->tasks[i].name, name) == 0)
            return &w->tasks[i];
    return NULL;
}

int weft_celery_worker_register(weft_celery_worker *w, const char *name, weft_celery_fn fn,
                                void *user, const weft_celery_task_opts *opts)
{
    if (w == NULL || name == NULL || name[0] == 0 || fn == NULL)
        return -EINVAL;
    weft_celery_task_opts o = opts ? *opts : (weft_celery_task_opts){0};
    if (o.max_retries < -1 || !(o.default_retry_delay >= 0) || !(o.time_limit >= 0) ||
        !(o.soft_time_limit >= 0))
        return -EINVAL;
    if (w->state != WEFT__CELERY_NEW)
        return -EBUSY;
    if (weft__celery_find_task(w, name) != NULL)
        return -EEXIST;
    if (o.max_retries == 0)
        o.max_retries = WEFT__CELERY_MAX_RETRIES;
    if (o.default_retry_delay == 0)
        o.default_retry_delay = WEFT__CELERY_RETRY_DELAY;
    if (w->n_tasks == w->cap_tasks) {
        size_t cap = w->cap_tasks ? w->cap_tasks * 2 : 8;
        weft__celery_entry *t = weft__realloc(w->tasks, cap * sizeof *t);
        if (t == NULL)
            return -ENOMEM;
        w->tasks = t;
        w->cap_tasks = cap;
    }
    char *copy = weft__strdup(name);
    if (copy == NULL)
        return -ENOMEM;
    w->tasks[w->n_tasks++] = (weft__celery_entry){copy, fn, user, o};
    return 0;
}
