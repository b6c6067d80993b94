/* group: asyncio.TaskGroup. Children run under a parent task; the first
 * child that fails cancels its siblings and the parent's waits in the
 * body; weft_group_wait waits for all children. Cancellation is counted as
 * in asyncio, so a group never swallows a cancellation meant for an outer
 * scope (CPython gh-116720). */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

typedef struct child {
    weft__done_cb cb;
    weft_group *group;
    weft_task *task;
} child;

struct weft_group {
    weft__wait w;
    weft_loop *loop;
    weft_task *parent;
    child **children;
    size_t count, cap, live;
    int first_error;
    unsigned cancelling_at_entry;
    bool aborting;                /* children are being cancelled */
    bool parent_cancel_requested; /* we cancelled the parent: uncancel at the end */
    bool waiting;                 /* the parent is in weft_group_wait */
    bool parent_cancelled;        /* group_wait itself was cancelled */
    bool done;
};

int weft_group_new(weft_group **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    weft_group *g = weft__calloc(1, sizeof *g);
    if (g == NULL)
        return -ENOMEM;
    g->loop = weft__loop_current();
    g->parent = weft__task_current();
    g->cancelling_at_entry = g->parent->cancel_requests;
    *out = g;
    return 0;
}

static void group_abort(weft_group *g)
{
    g->aborting = true;
    for (size_t i = 0; i < g->count; i++)
        weft__task_cancel(g->children[i]->task);
}

static void child_done(weft__done_cb *cb, weft_task *task)
{
    child *c = WEFT_CONTAINER_OF(cb, child, cb);
    weft_group *g = c->group;
    g->live--;
    if (task->result < 0 && task->result != WEFT_ECANCELED && g->first_error == 0) {
        g->first_error = task->result;
        group_abort(g);
        if (!g->waiting && !g->parent_cancel_requested) { /* interrupt the body */
            g->parent_cancel_requested = true;
            weft__task_cancel(g->parent);
        }
    }
    if (g->waiting && g->live == 0 && g->parent->wait == &g->w)
        weft__wake(g->parent, 0);
}

/* Room for one more child: 0 or -ENOMEM. */
static int children_reserve(weft_group *g)
{
    if (g->count < g->cap)
        return 0;
    size_t cap = g->cap ? g->cap * 2 : 8;
    child **grown = weft__realloc(g->children, cap * sizeof *grown);
    if (grown == NULL)
        return -ENOMEM;
    g->children = grown;
    g->cap = cap;
    return 0;
}

int weft_group_spawn_at(weft_group *g, weft_fn fn, void *arg, const weft_task_opts *opts,
                        const char *file, int line, weft_task **out)
{
    if (out)
        *out = NULL;
    if (g == NULL || fn == NULL)
        return -EINVAL;
    int rc = weft__check_loop(g->loop);
    if (rc != 0)
        return rc;
    if (g->done || g->aborting)
        return WEFT_ECLOSED; /* asyncio: "TaskGroup is shutting down" */
    if ((rc = children_reserve(g)) != 0)
        return rc;
    child *c = weft__malloc(sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    weft_task *task;
    if ((rc = weft__task_spawn_on(g->loop, fn, arg, opts, &task)) != 0) {
        free(c);
        return rc;
    }
    task->site_file = file;
    task->site_line = line;
    c->group = g;
    c->task = task;
    c->cb.fn = child_done;
    weft__task_on_done_by(task, &c->cb, g->parent);
    g->children[g->count++] = c;
    g->live++;
    weft__task_ref(task); /* the group's own reference, dropped by weft_group_free */
    if (out)
        *out = task;
    else
        weft_task_free(task);
    return 0;
}

/* The names in parentheses: weft/debug.h makes them macros that pass the
 * caller's file:line to weft_group_spawn_at. */
int(weft_group_spawn_opts)(weft_group *g, weft_fn fn, void *arg, const weft_task_opts *opts,
                           weft_task **out)
{
    return weft_group_spawn_at(g, fn, arg, opts, NULL, 0, out);
}

int(weft_group_spawn)(weft_group *g, weft_fn fn, void *arg, weft_task **out)
{
    return weft_group_spawn_at(g, fn, arg, NULL, NULL, 0, out);
}

/* Cancelling the parent while it waits cancels every child; the wait goes
 * on until they have all ended. */
static bool group_wait_cancel(weft__wait *w)
{
    weft_group *g = WEFT_CONTAINER_OF(w, weft_group, w);
    g->parent_cancelled = true;
    group_abort(g);
    return false;
}

int weft_group_wait(weft_group *g)
{
    if (g == NULL)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (weft__task_current() != g->parent)
        return WEFT_EFOREIGN;
    if (!g->done) {
        g->waiting = true;
        g->w.cancel = group_wait_cancel;
        g->w.what = "task group";
        g->w.kind = WEFT__WAIT_TASK;
        g->w.obj = g;
        /* Take back our own cancel of the parent first: from here on every
         * cancellation the wait sees comes from outside. */
        if (g->parent_cancel_requested) {
            g->parent_cancel_requested = false;
            weft__task_uncancel(g->parent);
        }
        if (g->parent->cancel_requests > g->cancelling_at_entry)
            group_abort(g); /* the body was cancelled from outside */
        while (g->live > 0)
            weft__park(&g->w);
        g->done = true;
        g->waiting = false;
    }
    if (g->parent_cancelled || g->parent->cancel_requests > g->cancelling_at_entry)
        return WEFT_ECANCELED;
    return g->first_error;
}

void weft_group_free(weft_group *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->count; i++) {
        child *c = g->children[i];
        if (weft__link_linked(&c->cb.link)) { /* still running: cancel and detach */
            weft__task_on_done_remove(&c->cb);
            weft__task_cancel(c->task);
        }
        weft__task_unref(c->task); /* the group's reference */
        free(c);
    }
    if (g->parent_cancel_requested && g->parent->state != WEFT_TASK_DONE)
        weft__task_uncancel(g->parent);
    free(g->children);
    free(g);
}
