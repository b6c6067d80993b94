/* timeout: asyncio.timeout() scopes and wait_for built on them.
 *
 * A scope is a timer; when it fires the task is cancelled, so its current
 * or next wait returns WEFT_ECANCELED. weft_timeout_end() then uncancels,
 * and turns WEFT_ECANCELED into WEFT_ETIMEDOUT only if no other
 * cancellation is pending: an outer scope's or a user's cancel, counted by
 * cancelling(), always gets through (asyncio's rule, so nested scopes and
 * a cancel racing a timeout both come out right). */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

enum { SCOPE_ENTERED, SCOPE_EXPIRING, SCOPE_EXPIRED, SCOPE_EXITED };

struct weft_timeout {
    weft__timer timer;
    weft_task *task;
    weft_timeout *outer;
    uint64_t when; /* ns; UINT64_MAX: no deadline */
    unsigned cancelling_at_entry;
    uint8_t state;
    int *block_rc;         /* WEFT_TIMEOUT's rc, converted when the block ends */
    const char *site_file; /* where it was begun (the site macros), or NULL */
    int site_line;
    /* The outermost scope only: closes those left open when the task ends. */
    weft__done_cb on_task_end;
};

static void close_scopes_left_open(weft__done_cb *cb, weft_task *task);

static void scope_fired(weft__timer *timer)
{
    weft_timeout *scope = WEFT_CONTAINER_OF(timer, weft_timeout, timer);
    scope->state = SCOPE_EXPIRING;
    weft__task_cancel(scope->task);
}

/* (Re)arms the scope's timer; a deadline already past cancels at once, as
 * asyncio's reschedule does. */
static void scope_arm(weft_timeout *scope, uint64_t when)
{
    weft_loop *loop = scope->task->loop;
    scope->when = when;
    weft__timer_stop(loop, &scope->timer);
    if (when == UINT64_MAX)
        return;
    if (when <= weft__now_ns())
        scope_fired(&scope->timer);
    else
        weft__timer_start(loop, &scope->timer, when);
}

static int scope_begin(uint64_t when, const char *file, int line, weft_timeout **out)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    weft_task *task = weft__task_current();
    weft_timeout *scope = weft__malloc(sizeof *scope);
    if (scope == NULL)
        return -ENOMEM;
    weft__timer_init(&scope->timer, scope_fired);
    scope->task = task;
    scope->state = SCOPE_ENTERED;
    scope->block_rc = NULL;
    scope->site_file = file;
    scope->site_line = line;
    /* The cancellations pending at entry, which this scope must let
     * through, are not those of enclosing scopes that have fired and not
     * ended: those are theirs to take back. A scope begun with a deadline
     * already past fires at once (scope_arm), before the scopes nested in
     * it begin; counted at their entry, an inner scope that expired too
     * took the outer's timeout for its own (ETIMEDOUT out of the inner,
     * and the outer's cancellation gone: its body ran on uncut past its
     * deadline; test_wait_storm's scope storm, seed 1998). asyncio fires
     * such a scope with call_soon, so the inner one never counts it. */
    unsigned fired = 0;
    for (const weft_timeout *s = task->scopes; s; s = s->outer)
        fired += s->state == SCOPE_EXPIRING;
    scope->cancelling_at_entry = task->cancel_requests > fired ? task->cancel_requests - fired : 0;
    scope_arm(scope, when);
    scope->outer = task->scopes;
    if (scope->outer == NULL) {
        scope->on_task_end.fn = close_scopes_left_open;
        weft__task_on_done(task, &scope->on_task_end);
    }
    task->scopes = scope;
    *out = scope;
    return 0;
}

int weft_timeout_begin_site(double seconds, const char *file, int line, weft_timeout **out)
{
    uint64_t when;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (weft__deadline_after(seconds, &when) != 0)
        return -EINVAL;
    return scope_begin(when, file, line, out);
}

int weft_timeout_begin_at_site(double when, const char *file, int line, weft_timeout **out)
{
    uint64_t deadline;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (weft__deadline_at(when, &deadline) != 0)
        return -EINVAL;
    return scope_begin(deadline, file, line, out);
}

/* The names in parentheses: weft/debug.h makes them macros that pass the
 * caller's file:line to the _site functions. */
int(weft_timeout_begin)(double seconds, weft_timeout **out)
{
    return weft_timeout_begin_site(seconds, NULL, 0, out);
}

int(weft_timeout_begin_at)(double when, weft_timeout **out)
{
    return weft_timeout_begin_at_site(when, NULL, 0, out);
}

/* WEFT_TIMEOUT's entry: the scope remembers the block's rc, so that its
 * exit (the loop's last clause, or the variable's cleanup on a break,
 * return or goto) can convert it. On failure *rc is the error and the
 * block's body does not run. */
int weft_timeout_block_begin(double when, int *rc, const char *file, int line, weft_timeout **out)
{
    if (rc == NULL) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    int err = weft_timeout_begin_at_site(when, file, line, out);
    if (err != 0)
        *rc = err;
    else
        (*out)->block_rc = rc;
    return err;
}

void weft_timeout_block_end(weft_timeout **scope)
{
    weft_timeout *s = scope ? *scope : NULL;
    if (s == NULL)
        return;
    *scope = NULL;
    int *rc = s->block_rc;
    int end = weft_timeout_end(s, *rc);
    *rc = end;
}

int weft_timeout_reschedule(weft_timeout *scope, double when)
{
    uint64_t deadline;
    if (scope == NULL || weft__deadline_at(when, &deadline) != 0)
        return -EINVAL;
    if (scope->task != weft__task_current())
        return WEFT_EFOREIGN;
    if (scope->state != SCOPE_ENTERED)
        return -EINVAL; /* asyncio: "Cannot change state of expiring Timeout" */
    scope_arm(scope, deadline);
    return 0;
}

double weft_timeout_when(const weft_timeout *scope)
{
    if (scope == NULL || scope->when == UINT64_MAX)
        return WEFT_FOREVER;
    return (double)scope->when / 1e9;
}

int weft_timeout_expired(const weft_timeout *scope)
{
    return scope && (scope->state == SCOPE_EXPIRING || scope->state == SCOPE_EXPIRED);
}

int weft_timeout_end(weft_timeout *scope, int rc)
{
    if (scope == NULL)
        return -EINVAL;
    weft_task *task = scope->task;
    if (task != weft__task_current())
        return WEFT_EFOREIGN;
    if (task->scopes != scope)
        return -EINVAL; /* not the innermost open scope */
    weft__timer_stop(task->loop, &scope->timer);
    task->scopes = scope->outer;
    if (scope->outer == NULL)
        weft__task_on_done_remove(&scope->on_task_end);
    if (scope->state == SCOPE_EXPIRING) {
        scope->state = SCOPE_EXPIRED;
        if ((unsigned)weft__task_uncancel(task) <= scope->cancelling_at_entry &&
            rc == WEFT_ECANCELED)
            rc = WEFT_ETIMEDOUT;
    }
    free(scope);
    return rc;
}

/* A task that ends with scopes still open (the outermost scope's done
 * callback): their timers must not fire on a task that is gone. Debug mode
 * says where each was begun: until the task returned, any wait after the
 * place it should have ended was cut short. */
static void close_scopes_left_open(weft__done_cb *cb, weft_task *task)
{
    (void)cb; /* in the outermost scope, freed last */
    while (task->scopes) {
        weft_timeout *scope = task->scopes;
        if (WEFT__DEBUG_AIDS && WEFT_UNLIKELY(task->loop->dbg.debug))
            weft__debug_scope_left_open(task, scope->site_file, scope->site_line);
        task->scopes = scope->outer;
        weft__timer_stop(task->loop, &scope->timer);
        free(scope);
    }
}

uint64_t weft__task_scope_deadline(const weft_task *task)
{
    uint64_t when = UINT64_MAX;
    for (const weft_timeout *s = task->scopes; s; s = s->outer)
        if (s->when < when)
            when = s->when;
    return when;
}

int weft_wait_for(weft_task *task, double seconds)
{
    if (task == NULL)
        return -EINVAL;
    uint64_t when;
    if (weft__deadline_after(seconds, &when) != 0)
        return -EINVAL;
    weft_timeout *scope;
    int rc = scope_begin(when, NULL, 0, &scope);
    if (rc != 0)
        return rc;
    rc = weft_await(task);
    return weft_timeout_end(scope, rc);
}
