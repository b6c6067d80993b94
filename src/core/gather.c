/* gather: the combinators that wait on several tasks at once —
 * asyncio.gather, asyncio.wait and asyncio.as_completed. Each registers a
 * completion callback on the tasks it waits for and parks once. */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/park_record.h"

/* Checks a task array: the caller may wait, and every task is of its loop. */
static int check_tasks(weft_task **tasks, size_t n)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (tasks == NULL && n > 0)
        return -EINVAL;
    weft_loop *loop = weft__loop_current();
    for (size_t i = 0; i < n; i++) {
        if (tasks[i] == NULL)
            return -EINVAL;
        if (tasks[i]->loop != loop)
            return WEFT_EFOREIGN;
        if (tasks[i] == loop->current)
            return -EDEADLK;
        tasks[i]->observed = true; /* its code is seen (debug-mode reports) */
    }
    return 0;
}

/* One watcher per task, all sharing a collector. */
typedef struct collector collector;
typedef struct watch {
    weft__done_cb cb;
    collector *c;
    weft_task *task; /* a copy: the caller's array may be on a parked compact task's stack */
} watch;

struct collector {
    weft__wait w;
    weft_task *self;
    watch *watches;
    size_t watches_bytes; /* their buffer's size */
    weft_task **tasks;
    size_t n, pending;
    int flags, return_when;
    int first_error;
    bool cancelled, woken;
    /* as_completed: tasks in the order they ended */
    weft_task **order;
    size_t order_head, order_tail;
};

static void collector_wake(collector *c)
{
    if (c->self && !c->woken && c->self->state == WEFT_TASK_WAITING && c->self->wait == &c->w) {
        c->woken = true;
        weft__wake(c->self, 0);
    }
}

static void unwatch_all(collector *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (weft__link_linked(&c->watches[i].cb.link))
            weft__task_on_done_remove(&c->watches[i].cb);
}

/* The watches' buffer: the loop keeps the last one for the next call, so
 * that gathering batch after batch of thousands of tasks does not make
 * malloc hand memory back to the kernel and fault it in again each time. */
#define SCRATCH_MAX (2u << 20)

static int watches_take(collector *c)
{
    weft_loop *loop = weft__loop_current();
    size_t bytes = (c->n ? c->n : 1) * sizeof *c->watches;
    if (loop->gather.scratch != NULL && loop->gather.scratch_size >= bytes) {
        c->watches = loop->gather.scratch;
        c->watches_bytes = loop->gather.scratch_size;
        loop->gather.scratch = NULL;
        return 0;
    }
    c->watches = weft__malloc(bytes);
    c->watches_bytes = bytes;
    return c->watches ? 0 : -ENOMEM;
}

static void watches_give_back(collector *c)
{
    weft_loop *loop = weft__loop_current();
    if (loop != NULL && c->watches_bytes <= SCRATCH_MAX &&
        (loop->gather.scratch == NULL || loop->gather.scratch_size < c->watches_bytes)) {
        free(loop->gather.scratch);
        loop->gather.scratch = c->watches;
        loop->gather.scratch_size = c->watches_bytes;
    } else {
        free(c->watches);
    }
    c->watches = NULL;
}

static int watch_all(collector *c, void (*fn)(weft__done_cb *, weft_task *))
{
    if (watches_take(c) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        watch *w = &c->watches[i];
        w->c = c;
        w->task = c->tasks[i];
        w->cb.fn = fn;
        weft__list_init(&w->cb.link);
        if (c->tasks[i]->state == WEFT_TASK_DONE)
            continue;
        /* The same task twice in the array is counted twice, as asyncio's
         * gather returns its result twice. */
        c->pending++;
        weft__task_on_done_by(c->tasks[i], &w->cb, weft__task_current());
    }
    return 0;
}

/* ----------------------------------------------------------------- gather */

static void gather_done(weft__done_cb *cb, weft_task *task)
{
    collector *c = ((watch *)cb)->c;
    c->pending--;
    if (task->result < 0 && c->first_error == 0 && !(c->flags & WEFT_RETURN_EXCEPTIONS)) {
        c->first_error = task->result;
        collector_wake(c);
    }
    if (c->pending == 0)
        collector_wake(c);
}

/* Cancelling a gather cancels every child; it returns when they end (or
 * at the first one that ends in error, in the default mode). */
static bool gather_cancel(weft__wait *w)
{
    collector *c = WEFT_CONTAINER_OF(w, collector, w);
    c->cancelled = true;
    for (size_t i = 0; i < c->n; i++)
        weft__task_cancel(c->watches[i].task);
    return false;
}

static int first_error_of(weft_task **tasks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tasks[i]->state == WEFT_TASK_DONE && tasks[i]->result < 0)
            return tasks[i]->result;
    return 0;
}

int weft_gather(weft_task **tasks, size_t n, int flags)
{
    int rc = check_tasks(tasks, n);
    if (rc != 0)
        return rc;
    if (flags & ~WEFT_RETURN_EXCEPTIONS)
        return -EINVAL;
    bool collect = flags & WEFT_RETURN_EXCEPTIONS;
    if (!collect && (rc = first_error_of(tasks, n)) != 0)
        return rc;
    WEFT__PARK_RECORD(collector, c);
    if (c == NULL)
        return -ENOMEM;
    *c = (collector){.self = weft__task_current(), .tasks = tasks, .n = n, .flags = flags};
    c->w.cancel = gather_cancel;
    c->w.what = "gather";
    c->w.kind = WEFT__WAIT_TASK;
    c->w.obj = tasks;
    if ((rc = watch_all(c, gather_done)) != 0)
        return rc;
    if (c->pending > 0)
        weft__park(&c->w);
    unwatch_all(c);
    watches_give_back(c);
    if (c->cancelled)
        return WEFT_ECANCELED;
    return collect ? 0 : c->first_error;
}

/* ------------------------------------------------------------------- wait */

/* A negative code is an error (a non-negative one is a result); asyncio's
 * FIRST_EXCEPTION does not count a cancelled task as failed. */
static bool is_exception(const weft_task *task)
{
    return task->state == WEFT_TASK_DONE && task->result < 0 && task->result != WEFT_ECANCELED;
}

static bool any_exception(weft_task **tasks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_exception(tasks[i]))
            return true;
    return false;
}

static bool wait_satisfied(collector *c, weft_task *ended)
{
    switch (c->return_when) {
    case WEFT_FIRST_COMPLETED:
        return true;
    case WEFT_FIRST_EXCEPTION:
        return c->pending == 0 || (ended && is_exception(ended));
    default:
        return c->pending == 0;
    }
}

static void wait_done(weft__done_cb *cb, weft_task *task)
{
    collector *c = ((watch *)cb)->c;
    c->pending--;
    if (wait_satisfied(c, task))
        collector_wake(c);
}

static bool wait_cancel(weft__wait *w)
{
    collector *c = WEFT_CONTAINER_OF(w, collector, w);
    c->cancelled = true;
    unwatch_all(c);
    return true;
}

static int count_done(weft_task **tasks, size_t n)
{
    int done = 0;
    for (size_t i = 0; i < n; i++)
        done += tasks[i]->state == WEFT_TASK_DONE;
    return done;
}

int weft_wait(weft_task **tasks, size_t n, int return_when, double timeout)
{
    int rc = check_tasks(tasks, n);
    if (rc != 0)
        return rc;
    if (n == 0 || return_when < WEFT_FIRST_COMPLETED || return_when > WEFT_ALL_COMPLETED)
        return -EINVAL; /* asyncio: "Set of awaitables is empty" */
    uint64_t deadline;
    if (weft__deadline_after(timeout, &deadline) != 0)
        return -EINVAL;
    WEFT__PARK_RECORD(collector, c);
    if (c == NULL)
        return -ENOMEM;
    *c = (collector){
        .self = weft__task_current(), .tasks = tasks, .n = n, .return_when = return_when};
    c->w.cancel = wait_cancel;
    c->w.what = "wait";
    c->w.kind = WEFT__WAIT_TASK;
    c->w.obj = tasks;
    if ((rc = watch_all(c, wait_done)) != 0)
        return rc;
    bool ready =
        c->pending < n && (return_when == WEFT_FIRST_COMPLETED ||
                           (return_when == WEFT_FIRST_EXCEPTION && any_exception(tasks, n)));
    rc = 0;
    if (c->pending > 0 && !ready)
        rc = weft__park_until(&c->w, deadline);
    unwatch_all(c);
    watches_give_back(c);
    if (rc == WEFT_ECANCELED || rc == -ENOMEM)
        return rc;
    return count_done(tasks, n); /* a timeout is not an error for asyncio.wait */
}

/* ----------------------------------------------------------- as_completed */

struct weft_as_completed {
    collector c;
    uint64_t deadline;
    size_t given;
};

static void as_completed_done(weft__done_cb *cb, weft_task *task)
{
    collector *c = ((watch *)cb)->c;
    c->pending--;
    c->order[c->order_tail++] = task;
    collector_wake(c);
}

static bool as_completed_cancel(weft__wait *w)
{
    (void)w; /* the watches stay: next() may be called again */
    return true;
}

int weft_as_completed_new(weft_task **tasks, size_t n, double timeout, weft_as_completed **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = check_tasks(tasks, n);
    if (rc != 0)
        return rc;
    weft_as_completed *it = weft__calloc(1, sizeof *it);
    if (it == NULL)
        return -ENOMEM;
    if (weft__deadline_after(timeout, &it->deadline) != 0) {
        free(it);
        return -EINVAL;
    }
    collector *c = &it->c;
    c->tasks = tasks;
    c->n = n;
    c->w.cancel = as_completed_cancel;
    c->w.what = "as_completed";
    c->w.kind = WEFT__WAIT_TASK;
    c->w.obj = tasks;
    c->order = weft__calloc(n ? n : 1, sizeof *c->order);
    if (c->order == NULL || (rc = watch_all(c, as_completed_done)) != 0) {
        free(c->order);
        free(it);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) /* those already ended come first */
        if (tasks[i]->state == WEFT_TASK_DONE)
            c->order[c->order_tail++] = tasks[i];
    *out = it;
    return 0;
}

int weft_as_completed_next(weft_as_completed *it, weft_task **out)
{
    if (it == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    collector *c = &it->c;
    if (it->given == c->n)
        return 0;
    if (c->order_head == c->order_tail) {
        c->self = weft__task_current();
        c->woken = false;
        rc = weft__park_until(&c->w, it->deadline);
        if (rc != 0)
            return rc;
    }
    *out = c->order[c->order_head++];
    it->given++;
    return 1;
}

void weft_as_completed_free(weft_as_completed *it)
{
    if (it == NULL)
        return;
    unwatch_all(&it->c);
    watches_give_back(&it->c);
    free(it->c.order);
    free(it);
}
