/* debug: debug mode (WEFT_DEBUG=1, weft_loop_set_debug) and its reports
 * at loop close — tasks never awaited, errors never retrieved, task handles
 * never freed, libuv handles left open — plus the hooks the core calls at
 * loop init and close. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "debug/debug.h"

/* -------------------------------------------------------- hooks */

static bool env_debug(void)
{
    const char *v = getenv("WEFT_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

void weft__debug_loop_init(weft_loop *loop)
{
    weft__loop_debug *d = &loop->dbg;
    d->debug = env_debug();
    weft__list_init(&d->ended);
    weft__list_init(&d->zombies);
    weft__list_init(&d->quarantine);
    weft__list_init(&d->registry);
    d->threshold_ns = UINT64_MAX;
    if (!WEFT__DEBUG_AIDS)
        return;
    weft__watchdog_register(loop);
    weft__overflow_thread_init(loop);
}

int weft_loop_set_debug(weft_loop *loop, int on)
{
    if (loop == NULL && (loop = weft__loop_current()) == NULL)
        return WEFT_ENOTASK;
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    loop->dbg.debug = on != 0;
    return 0;
}

void weft__debug_stack_taken(weft_task *task)
{
    /* A stack from the pool still holds the pages its last task touched:
     * drop them so that the high-water mark is this task's own. */
    madvise(task->stack.lo, task->stack.size, MADV_DONTNEED);
}

static bool error_unretrieved(const weft_task *task)
{
    return !task->observed && task->result < 0 && task->result != WEFT_ECANCELED;
}

void weft__debug_task_ended(weft_task *task)
{
    weft_loop *loop = task->loop;
    size_t used = weft__stack_used(task);
    if (used > loop->dbg.stack_hw_max) {
        loop->dbg.stack_hw_max = used;
        loop->dbg.stack_hw_task = task->id;
    }
    /* Until its handle is freed, the loop knows it: reported if never freed. */
    weft__list_push_back(&loop->dbg.ended, &task->all);
}

/* Freed tasks debug mode keeps (not reused) so that a second
 * weft_task_free of the same handle reads a live struct and is reported. */
#define QUARANTINE_MAX 1024

bool weft__debug_task_freed(weft_task *task)
{
    weft__loop_debug *d = &task->loop->dbg;
    weft__list_remove(&task->all); /* off the ended list (a no-op if not on it) */
    if (error_unretrieved(task)) {
        /* Nobody can read its code now: keep it for the report at close. */
        weft__list_push_back(&d->zombies, &task->all);
        return true;
    }
    weft__list_push_back(&d->quarantine, &task->all);
    if (++d->quarantined > QUARANTINE_MAX) {
        weft_task *old = WEFT_CONTAINER_OF(weft__list_pop_front(&d->quarantine), weft_task, all);
        d->quarantined--;
        weft__task_free_ended(old); /* unlinked: freed for good */
    }
    return true;
}

static void report_task_as(const weft_task *task, const char *topic, const char *what);

void weft__debug_task_freed_twice(weft_task *task)
{
    /* Linked: its loop is alive (a running task, or one debug mode keeps). */
    if (weft__link_linked(&task->all) && task->loop->dbg.debug && weft_log_enabled(WEFT_LOG_WARN))
        report_task_as(task, "handle",
                       "handle was freed twice (weft_task_free): the second free is ignored");
}

void weft__debug_scope_left_open(const weft_task *task, const char *file, int line)
{
    if (!weft_log_enabled(WEFT_LOG_WARN))
        return;
    char site[300];
    if (file)
        snprintf(site, sizeof site, "begun at %s:%d", file, line);
    else
        snprintf(site, sizeof site, "begun where the site macros were off");
    char what[600];
    snprintf(what, sizeof what,
             "returned with a timeout scope still open (%s): every wait after the place it should "
             "have ended was under its deadline. End it with weft_timeout_end on every path, or "
             "use WEFT_TIMEOUT(seconds, rc) { ... }, which cannot be left open",
             site);
    report_task_as(task, "scope", what);
}

/* ------------------------------------------------------- leak reports */

static void report_task_as(const weft_task *task, const char *topic, const char *what)
{
    char desc[512];
    weft__task_describe(task, true, desc, sizeof desc);
    weft_log(WEFT_LOG_WARN, topic, "task %s %s", desc, what);
}

static void report_task(const weft_task *task, const char *what)
{
    report_task_as(task, "leak", what);
}

static void report_error(const weft_task *task)
{
    char what[200];
    snprintf(what, sizeof what,
             "ended with %s (%s) and nobody retrieved it (weft_await, weft_gather, "
             "weft_task_result)",
             weft_err_name(task->result), weft_strerror(task->result));
    report_task(task, what);
}

/* Called by the runner as it closes, before it cancels what is left. */
void weft__debug_loop_closing(weft_loop *loop)
{
    if (!loop->dbg.debug || !weft_log_enabled(WEFT_LOG_WARN))
        return;
    for (weft__link *l = loop->tasks.next; l != &loop->tasks; l = l->next) {
        weft_task *task = WEFT_CONTAINER_OF(l, weft_task, all);
        report_task(task, "was never awaited: still pending when the loop closed "
                          "(it is cancelled now)");
    }
}

static void report_uv_handle(uv_handle_t *h, void *arg)
{
    weft_loop *loop = arg;
    if (uv_is_closing(h) || h == (uv_handle_t *)&loop->wake_timer ||
        h == (uv_handle_t *)loop->dbg.dump_signal)
        return;
    weft_log(WEFT_LOG_WARN, "leak", "libuv %s handle %p still open when the loop closed",
             uv_handle_type_name(h->type), (void *)h);
}

static void free_dump_signal(uv_handle_t *h)
{
    free(h);
}

/* At loop close: report what debug mode found, then forget the ended tasks
 * (their handles stay valid after the loop is gone, so they must no longer
 * point into it). */
void weft__debug_loop_close(weft_loop *loop)
{
    weft__loop_debug *d = &loop->dbg;
    bool report = d->debug && weft_log_enabled(WEFT_LOG_WARN);
    weft__link *l;
    if (report)
        uv_walk(&loop->uv, report_uv_handle, loop);
    while ((l = weft__list_pop_front(&d->ended)) != NULL) {
        weft_task *task = WEFT_CONTAINER_OF(l, weft_task, all);
        if (!report)
            continue;
        if (error_unretrieved(task))
            report_error(task);
        report_task(task, task->handle_held
                              ? "handle was never freed (weft_task_free)"
                              : "is a child of a group never freed (weft_group_free)");
    }
    if (d->debug && d->stack_hw_max) /* for sizing stacks: INFO, not a problem */
        weft_log(WEFT_LOG_INFO, "stack",
                 "deepest stack use of an ended task: %zu KiB (task #%" PRIu64 ")",
                 d->stack_hw_max / 1024, d->stack_hw_task);
    while ((l = weft__list_pop_front(&d->zombies)) != NULL) {
        weft_task *task = WEFT_CONTAINER_OF(l, weft_task, all);
        if (report)
            report_error(task);
        weft__task_free_ended(task); /* unlinked: freed for good */
    }
    while ((l = weft__list_pop_front(&d->quarantine)) != NULL)
        weft__task_free_ended(WEFT_CONTAINER_OF(l, weft_task, all));
    d->quarantined = 0;
    if (d->dump_signal) {
        uv_close((uv_handle_t *)d->dump_signal, free_dump_signal);
        d->dump_signal = NULL;
    }
    weft__watchdog_unregister(loop);
    weft__overflow_thread_fini(loop);
}
