/* dump: weft_tasks_dump, every live task of a loop with what it waits on,
 * who awaits it, where it was spawned and the backtrace of its parked
 * stack, drawn as a tree of awaiters over what they await (asyncio's
 * pstree). Also the uv_signal_t that runs a dump on the loop's thread when
 * a signal arrives (weft_dump_on_signal). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "debug/debug.h"

#define MAX_FRAMES 32
#define MAX_DEPTH  64

typedef struct edge {
    const weft_task *owner, *child;
} edge;

typedef struct dumper {
    FILE *out;
    weft_loop *loop;
    weft_task **tasks; /* sorted by address, for bsearch */
    bool *printed;
    size_t n;
    edge *edges; /* owner -> awaited task, sorted by owner */
    size_t n_edges;
    uint64_t now;
    void **running_bt; /* the calling task's own frames, taken by the caller */
    int running_n;
} dumper;

/* ---------------------------------------------------------- backtraces */

/* Where a parked task's frames can be read: the stack addresses [lo, hi),
 * found at `bytes`. For most tasks that is the stack itself; an evicted
 * compact task's frames are in its saved copy (the bytes from its stack
 * pointer up to the top of the shared stack, which another task now uses). */
typedef struct stack_view {
    uintptr_t lo, hi;
    const char *bytes;
} stack_view;

__attribute__((no_sanitize_address)) static bool view_word(const stack_view *v, uintptr_t addr,
                                                           uintptr_t *out)
{
    if (addr < v->lo || addr + sizeof(uintptr_t) > v->hi || (addr & (sizeof(uintptr_t) - 1)))
        return false;
    /* A plain load, not memcpy: ASan would check a parked stack's
     * poisoned redzones through the interceptor. */
    *out = *(const uintptr_t *)(const void *)(v->bytes + (addr - v->lo));
    return true;
}

/* The view of a parked task's stack, or false when its frames cannot be
 * read: no stack yet, or a guarded compact task (debug mode), whose stack
 * is inaccessible while parked (opened here, for the walk, by the caller). */
static bool parked_view(const weft_task *task, stack_view *v)
{
    if (task->stack.lo == NULL)
        return false;
    uintptr_t sp = (uintptr_t)weft__ctx_saved_sp(&task->ctx);
    v->hi = (uintptr_t)task->stack.lo + task->stack.size;
    if (task->stack_kind == WEFT__STACK_SHARED && task->shared->owner != task) {
        if (task->saved == NULL)
            return false;
        v->lo = v->hi - task->saved_size;
        v->bytes = task->saved;
    } else {
        v->lo = (uintptr_t)task->stack.lo;
        v->bytes = task->stack.lo;
    }
    /* Words are read in place: the copy keeps the stack's alignment. */
    return sp >= v->lo && sp < v->hi && ((uintptr_t)v->bytes & (sizeof(uintptr_t) - 1)) == 0;
}

/* Walks the frame pointers of a parked task from the frame its context
 * switch saved. The library and weft's examples keep frame pointers; the
 * walk stops at the first frame outside the task's stack. */
__attribute__((no_sanitize_address)) static int
walk_frames(const weft_task *task, const stack_view *v, void **pcs, int max)
{
    uintptr_t sp = (uintptr_t)weft__ctx_saved_sp(&task->ctx), fp, pc;
    if (!weft__ctx_parked_frame(v->bytes + (sp - v->lo), &fp, &pc))
        return 0;
    int n = 0;
    while (n < max && pc != 0) {
        pcs[n++] = (void *)pc;
        uintptr_t next;
        if (!view_word(v, fp, &next) || !view_word(v, fp + sizeof(uintptr_t), &pc) || next <= fp)
            break;
        fp = next;
    }
    return n;
}

/* A parked task's backtrace. A guarded compact task's stack (debug mode)
 * is opened for reading while it is walked: dumps run on the loop's
 * thread, where nothing else runs meanwhile. */
static int parked_frames(const weft_task *task, void **pcs, int max)
{
    stack_view v;
    if (!parked_view(task, &v))
        return 0;
    bool guarded = task->stack_kind == WEFT__STACK_GUARDED;
    if (guarded && mprotect(task->stack.lo, task->stack.size, PROT_READ) != 0)
        return 0;
    int n = walk_frames(task, &v, pcs, max);
    if (guarded)
        (void)mprotect(task->stack.lo, task->stack.size, PROT_NONE);
    return n;
}

/* Does the address resolve to an exported name? weft's internals do not
 * (hidden visibility); the wait call a task is parked in does. */
static bool named_frame(void *pc)
{
    Dl_info info;
    return dladdr((char *)pc - 1, &info) && info.dli_sname != NULL;
}

static void print_frames(dumper *d, const char *prefix, void **pcs, int n)
{
    for (int i = 0; i < n; i++) {
        char sym[256];
        /* A return address points after the call: look up the call itself. */
        weft__symbolize((char *)pcs[i] - 1, sym, sizeof sym);
        fprintf(d->out, "%s  #%-2d %s\n", prefix, i, sym);
    }
}

/* --------------------------------------------------------- what it waits on */

static size_t children_of(const dumper *d, const weft_task *owner, size_t *first)
{
    size_t lo = 0, hi = d->n_edges;
    while (lo < hi) { /* first edge with this owner */
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)d->edges[mid].owner < (uintptr_t)owner)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    size_t n = 0;
    while (lo + n < d->n_edges && d->edges[lo + n].owner == owner)
        n++;
    return n;
}

static void describe_wait(const dumper *d, const weft_task *t, char *buf, size_t len)
{
    const weft__wait *w = t->wait;
    const char *what = w && w->what ? w->what : "?";
    size_t first, kids = children_of(d, t, &first);
    if (strcmp(what, "sleep") == 0) {
        const weft__timer *timer = &t->deadline; /* weft_sleep parks until it */
        double left = timer->when > d->now ? (double)(timer->when - d->now) / 1e9 : 0;
        snprintf(buf, len, "sleep, wakes in %.3f s", left);
    } else if (strcmp(what, "task") == 0 && w->obj) {
        char desc[128];
        weft__task_describe(w->obj, false, desc, sizeof desc);
        snprintf(buf, len, "await %s", desc);
    } else if (strcmp(what, "gather") == 0 || strcmp(what, "wait") == 0 ||
               strcmp(what, "as_completed") == 0) {
        snprintf(buf, len, "%s, %zu task%s pending", what, kids, kids == 1 ? "" : "s");
    } else if (strcmp(what, "task group") == 0) {
        snprintf(buf, len, "task group, %zu child%s running", kids, kids == 1 ? "" : "ren");
    } else if (w && w->obj) {
        snprintf(buf, len, "%s %p", what, w->obj);
    } else {
        snprintf(buf, len, "%s", what);
    }
}

static void describe_state(const dumper *d, const weft_task *t, char *buf, size_t len)
{
    char wait[200];
    int n;
    switch (t->state) {
    case WEFT_TASK_CREATED:
        n = snprintf(buf, len, "new");
        break;
    case WEFT_TASK_READY:
        n = snprintf(buf, len, "ready");
        break;
    case WEFT_TASK_RUNNING:
        n = snprintf(buf, len, "running (this task)");
        break;
    default:
        describe_wait(d, t, wait, sizeof wait);
        n = snprintf(buf, len, "waiting: %s", wait);
        break;
    }
    uint64_t deadline = weft__task_scope_deadline(t);
    if (deadline != UINT64_MAX && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ", timeout in %.3f s",
                      deadline > d->now ? (double)(deadline - d->now) / 1e9 : 0.0);
    if (t->cancel_requests && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", cancelling (%u)", t->cancel_requests);
}

/* --------------------------------------------------------------- the tree */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static size_t index_of(const dumper *d, const weft_task *t)
{
    weft_task **hit = bsearch(&t, d->tasks, d->n, sizeof *d->tasks, cmp_ptr);
    return hit ? (size_t)(hit - d->tasks) : SIZE_MAX;
}

static void print_task(dumper *d, const weft_task *t, const char *prefix, const char *branch,
                       const char *below, int depth)
{
    size_t idx = index_of(d, t);
    char desc[200], state[320];
    weft__task_describe(t, false, desc, sizeof desc);
    if (d->printed[idx]) {
        fprintf(d->out, "%s%s%s (shown above)\n", prefix, branch, desc);
        return;
    }
    d->printed[idx] = true;
    describe_state(d, t, state, sizeof state);
    fprintf(d->out, "%s%s%s %s; age %.3f s\n", prefix, branch, desc, state,
            d->now > t->created_ns ? (double)(d->now - t->created_ns) / 1e9 : 0.0);

    char inner[4 * MAX_DEPTH + 64]; /* the prefix of lines that belong to this task */
    snprintf(inner, sizeof inner, "%s%s", prefix, below);
    size_t first, kids = children_of(d, t, &first);
    char detail[sizeof inner + 8];
    snprintf(detail, sizeof detail, "%s%s  ", inner, kids ? "│" : " ");

    char full[512];
    weft__task_describe(t, true, full, sizeof full);
    const char *paren = strchr(full + strlen(desc), '(');
    fprintf(d->out, "%s %s\n", detail, paren ? paren : "(spawned by the runner)");
    if (t->loop->dbg.debug && t->stack.lo)
        fprintf(d->out, "%s stack: %zu KiB used of %zu KiB\n", detail, weft__stack_used(t) / 1024,
                t->stack.size / 1024);
    void *pcs[MAX_FRAMES];
    int n = 0;
    int skip = 0;
    void **frames = pcs;
    if (t->state == WEFT_TASK_RUNNING && d->running_bt) {
        frames = d->running_bt;
        n = d->running_n;
    } else if ((n = parked_frames(t, pcs, MAX_FRAMES)) > 0) {
        while (skip < n - 1 && !named_frame(pcs[skip]))
            skip++; /* weft's own frames above the wait call: park, switch */
    }
    while (n - 1 > skip && weft__frame_is_entry(frames[n - 1]))
        n--; /* the task's entry and the context's boot, below the task function */
    if (n > skip)
        print_frames(d, detail, frames + skip, n - skip);
    if (depth >= MAX_DEPTH)
        return;
    for (size_t i = 0; i < kids; i++) {
        bool last = i + 1 == kids;
        print_task(d, d->edges[first + i].child, inner, last ? "└── " : "├── ",
                   last ? "    " : "│   ", depth + 1);
    }
}

static int cmp_edge(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    if (x->owner != y->owner)
        return (uintptr_t)x->owner < (uintptr_t)y->owner ? -1 : 1;
    const weft_task *cx = x->child, *cy = y->child;
    return cx->id < cy->id ? -1 : cx->id > cy->id;
}

static int cmp_id(const void *a, const void *b)
{
    const weft_task *x = *(weft_task *const *)a, *y = *(weft_task *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Collects the live tasks and the "awaits" edges from their completion
 * callbacks (an awaiter, a gather, a group parent registered as owner). */
static int collect(dumper *d)
{
    weft_loop *loop = d->loop;
    d->n = loop->task_count;
    d->tasks = weft__calloc(d->n ? d->n : 1, sizeof *d->tasks);
    d->printed = weft__calloc(d->n ? d->n : 1, sizeof *d->printed);
    if (d->tasks == NULL || d->printed == NULL)
        return -ENOMEM;
    size_t i = 0, n_edges = 0;
    for (weft__link *l = loop->tasks.next; l != &loop->tasks && i < d->n; l = l->next) {
        weft_task *t = WEFT_CONTAINER_OF(l, weft_task, all);
        d->tasks[i++] = t;
        for (weft__link *c = t->done_cbs.next; c != &t->done_cbs; c = c->next)
            n_edges++;
    }
    d->n = i;
    qsort(d->tasks, d->n, sizeof *d->tasks, cmp_ptr);
    d->edges = weft__calloc(n_edges ? n_edges : 1, sizeof *d->edges);
    if (d->edges == NULL)
        return -ENOMEM;
    for (i = 0; i < d->n; i++) {
        weft_task *t = d->tasks[i];
        for (weft__link *c = t->done_cbs.next; c != &t->done_cbs; c = c->next) {
            weft__done_cb *cb = WEFT_CONTAINER_OF(c, weft__done_cb, link);
            if (cb->owner && cb->owner != t && index_of(d, cb->owner) != SIZE_MAX)
                d->edges[d->n_edges++] = (edge){cb->owner, t};
        }
    }
    qsort(d->edges, d->n_edges, sizeof *d->edges, cmp_edge);
    return 0;
}

static bool has_owner(const dumper *d, const weft_task *t)
{
    for (size_t i = 0; i < d->n_edges; i++)
        if (d->edges[i].child == t)
            return true;
    return false;
}

static int dump(weft_loop *loop, FILE *out, void **running_bt, int running_n)
{
    dumper d = {.out = out,
                .loop = loop,
                .now = weft__now_ns(),
                .running_bt = running_bt,
                .running_n = running_n};
    int rc = collect(&d);
    if (rc == 0) {
        struct weft_loop_stats st;
        weft_loop_stats(loop, &st);
        fprintf(out,
                "weft: %zu task%s alive (%zu new, %zu ready, %zu running, %zu waiting); "
                "%" PRIu64 " switches, %" PRIu64 " loop turns\n",
                st.tasks_alive, st.tasks_alive == 1 ? "" : "s", st.tasks_new, st.tasks_ready,
                st.tasks_running, st.tasks_waiting, st.switches, st.iterations);
        /* Roots first in spawn order, then whatever a cycle kept out. */
        weft_task **order = weft__malloc((d.n ? d.n : 1) * sizeof *order);
        if (order == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(order, d.tasks, d.n * sizeof *order);
            qsort(order, d.n, sizeof *order, cmp_id);
            for (size_t i = 0; i < d.n; i++)
                if (!has_owner(&d, order[i]))
                    print_task(&d, order[i], "", "", "", 0);
            for (size_t i = 0; i < d.n; i++)
                if (!d.printed[index_of(&d, order[i])])
                    print_task(&d, order[i], "", "", "", 0);
            free(order);
            fflush(out);
            rc = (int)d.n;
        }
    }
    free(d.tasks);
    free(d.printed);
    free(d.edges);
    return rc;
}

/* ------------------------------------------------------------ public */

static int check_dump_loop(weft_loop *loop)
{
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    weft_loop *cur = weft__loop_current();
    if (cur != NULL && cur != loop)
        return WEFT_EFOREIGN;
    return 0;
}

/* The running task's frames from its call to the dump on (the dump's own
 * frames, and a sanitizer's backtrace interceptor, are dropped). */
static int dump_running(weft_loop *loop, FILE *out)
{
    void *bt[MAX_FRAMES + 4];
    int n = loop->current ? backtrace(bt, MAX_FRAMES + 4) : 0, first = 0;
    for (int i = 0; i < n && i < 6; i++) {
        Dl_info info;
        if (dladdr(bt[i], &info) && info.dli_sname &&
            (strcmp(info.dli_sname, "weft_tasks_dump") == 0 ||
             strcmp(info.dli_sname, "weft_loop_tasks_dump") == 0))
            first = i + 1;
    }
    return dump(loop, out, first < n ? bt + first : NULL, n - first);
}

int weft_loop_tasks_dump(weft_loop *loop, FILE *out)
{
    if (loop == NULL || out == NULL)
        return -EINVAL;
    int rc = check_dump_loop(loop);
    if (rc != 0)
        return rc;
    return dump_running(loop, out);
}

int weft_tasks_dump(FILE *out)
{
    weft_loop *loop = weft__loop_current();
    if (loop == NULL)
        return WEFT_ENOTASK;
    if (out == NULL)
        return -EINVAL;
    return dump_running(loop, out);
}

static void dump_signal_cb(uv_signal_t *sig, int signum)
{
    (void)signum;
    weft_loop *loop = sig->data;
    weft_loop_tasks_dump(loop, loop->dbg.dump_out ? loop->dbg.dump_out : stderr);
}

static void free_signal(uv_handle_t *h)
{
    free(h);
}

int weft_dump_on_signal(weft_loop *loop, int signum, FILE *out)
{
    if (signum < 0 || signum >= NSIG)
        return -EINVAL;
    if (loop == NULL && (loop = weft__loop_current()) == NULL)
        return WEFT_ENOTASK;
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    weft__loop_debug *dbg = &loop->dbg;
    if (signum == 0) {
        if (dbg->dump_signal) {
            uv_close((uv_handle_t *)dbg->dump_signal, free_signal);
            dbg->dump_signal = NULL;
        }
        return 0;
    }
    uv_signal_t *sig = dbg->dump_signal;
    bool fresh = sig == NULL;
    if (fresh) {
        if ((sig = weft__malloc(sizeof *sig)) == NULL)
            return -ENOMEM;
        int rc = uv_signal_init(&loop->uv, sig);
        if (rc != 0) {
            free(sig);
            return rc;
        }
        sig->data = loop;
    }
    int rc = uv_signal_start(sig, dump_signal_cb, signum);
    if (rc != 0) {
        if (fresh)
            uv_close((uv_handle_t *)sig, free_signal);
        return rc;
    }
    /* A dump on request must not keep the loop alive, nor hide a deadlock. */
    uv_unref((uv_handle_t *)sig);
    dbg->dump_signal = sig;
    dbg->dump_out = out;
    return 0;
}
