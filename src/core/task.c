/* task: a stack plus a future. Spawning, the park/wake protocol every wait
 * is built on, cancellation with asyncio's counting rules, awaiting (and
 * shielding) a task, and the ownership of task handles. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/park_record.h"

/* ------------------------------------------------------------ life cycle */

/* A task in the ready queue: the loop resumes it. Dropped (a closing
 * loop), it stays as it is: the runner abandons the tasks left after. */
static void task_ready(weft__runnable *r, bool drop)
{
    if (!drop)
        weft__task_resume((weft_task *)r);
}

static void task_after_end(weft_task *task);

/* The task that just ended at the bottom of its stack may hand that stack
 * to the next ready task, if that one has never run and wants the same
 * kind and size of stack: it then starts right here, without two switches
 * through the scheduler, a stack given back and taken again and a context
 * made (W3: spawn and gather thousands of short tasks). The order is the
 * scheduler's own (the head of the ready queue, within the turn's
 * budget). Not in debug mode, which paints a stack when a task takes it.
 * The next task, or NULL: go back to the scheduler. */
static weft_task *next_on_this_stack(weft_task *task)
{
    weft_loop *loop = task->loop;
    weft__runnable *r = loop->ready_head;
    weft_task *next = (weft_task *)r;
    if (loop->budget == 0 || r == NULL || r->fn != task_ready || next->state != WEFT_TASK_CREATED ||
        next->must_cancel || (task->stack_kind | next->stack_kind) != WEFT__STACK_OWN ||
        next->stack_size != task->stack_size || (WEFT__DEBUG_AIDS && loop->dbg.debug))
        return NULL;
    weft__ready_pop(loop);
    loop->budget--;
    next->stack = task->stack;
    task->stack.lo = NULL;
    weft__ctx_inherit(&next->ctx, &task->ctx);
    next->state = WEFT_TASK_RUNNING;
    loop->current = next;
    weft__counter_bump(&loop->switches);
    task_after_end(task); /* its struct, if nobody holds it (its stack went on) */
    return next;
}

static void task_entry(void *arg)
{
    weft_task *task = arg;
    weft__ctx_started(&task->loop->sched_ctx);
    for (;;) {
        int rc = task->fn(task->arg);
        weft__task_finish(task, rc);
        weft_task *next = next_on_this_stack(task);
        if (next == NULL)
            break;
        task = next;
    }
    weft__ctx_exit(&task->ctx, &task->loop->sched_ctx);
}

static int task_new(weft_loop *loop, weft_fn fn, void *arg, const weft_task_opts *opts,
                    const char *file, int line, weft_task **out)
{
    if (fn == NULL || (opts && (opts->stack_size > WEFT__STACK_SIZE_MAX ||
                                (unsigned)opts->stack_mode > WEFT_STACK_COMPACT)))
        return -EINVAL;
    weft_task *task = weft__task_alloc();
    if (task == NULL)
        return -ENOMEM;
    task->name = NULL;
    if (opts && opts->name) {
        task->name = weft__strdup(opts->name);
        if (task->name == NULL) {
            weft__task_dealloc(task);
            return -ENOMEM;
        }
    }
    task->run.fn = task_ready;
    task->state = WEFT_TASK_CREATED;
    task->must_cancel = false;
    task->handle_held = true;
    task->refs = 1;
    task->result = 0;
    task->wake_code = 0;
    task->cancel_requests = 0;
    task->loop = loop;
    task->wait = NULL;
    task->fn = fn;
    task->arg = arg;
    task->stack.lo = NULL;
    /* Private unless asked otherwise: decided here without a call, on the
     * spawn path W3 measures. */
    task->stack_kind = WEFT_LIKELY(loop->compact.default_mode == WEFT_STACK_PRIVATE &&
                                   (opts == NULL || opts->stack_mode != WEFT_STACK_COMPACT))
                           ? WEFT__STACK_OWN
                           : weft__compact_kind_for(loop, opts);
    task->stack_size = opts && opts->stack_size ? opts->stack_size : WEFT_DEFAULT_STACK_SIZE;
    weft__list_init(&task->done_cbs);
    weft__list_push_back(&loop->tasks, &task->all);
    loop->task_count++;
    task->scopes = NULL;
    task->id = loop->next_task_id++;
    task->observed = false;
    task->site_file = file;
    task->site_line = line;
    if (WEFT__DEBUG_AIDS)
        task->created_ns = loop->now_ns;
    weft__ready_push(loop, &task->run);
    *out = task;
    return 0;
}

int weft__task_spawn_on(weft_loop *loop, weft_fn fn, void *arg, const weft_task_opts *opts,
                        weft_task **out)
{
    return task_new(loop, fn, arg, opts, NULL, 0, out);
}

/* Spawns on the current loop. The handle goes to *out, or is given back
 * at once when out is NULL: the task runs detached. */
int weft_spawn_at(weft_fn fn, void *arg, const weft_task_opts *opts, const char *file, int line,
                  weft_task **out)
{
    if (out)
        *out = NULL;
    weft_loop *loop = weft__loop_current();
    if (loop == NULL)
        return WEFT_ENOTASK;
    if (weft__loop_forked(loop))
        return WEFT_EFORKED;
    weft_task *task;
    int rc = task_new(loop, fn, arg, opts, file, line, &task);
    if (rc != 0)
        return rc;
    if (out)
        *out = task;
    else
        weft_task_free(task);
    return 0;
}

/* The names in parentheses: weft/debug.h makes weft_spawn & co macros that
 * pass the caller's file:line to the _at functions. */
int(weft_spawn_opts)(weft_fn fn, void *arg, const weft_task_opts *opts, weft_task **out)
{
    return weft_spawn_at(fn, arg, opts, NULL, 0, out);
}

int(weft_spawn)(weft_fn fn, void *arg, weft_task **out)
{
    return weft_spawn_at(fn, arg, NULL, NULL, 0, out);
}

void weft__task_finish(weft_task *task, int code)
{
    weft_loop *loop = task->loop;
    task->state = WEFT_TASK_DONE;
    task->result = code;
    task->wait = NULL;
    task->must_cancel = false;
    weft__list_remove(&task->all);
    loop->task_count--;
    weft__link *l;
    while ((l = weft__list_pop_front(&task->done_cbs)) != NULL) {
        weft__done_cb *cb = WEFT_CONTAINER_OF(l, weft__done_cb, link);
        cb->fn(cb, task);
    }
    if (WEFT__DEBUG_AIDS && WEFT_UNLIKELY(loop->dbg.debug))
        weft__debug_task_ended(task);
}

void weft__task_release_stack(weft_task *task)
{
    if (WEFT_UNLIKELY(task->stack_kind != WEFT__STACK_OWN))
        weft__compact_release(task);
    else if (task->stack.lo != NULL)
        weft__stack_put(&task->loop->stacks, &task->stack);
}

void weft__task_free_ended(weft_task *task)
{
    /* Linked after its end only on debug mode's list of ended tasks (and
     * never once its loop is closed, which may be gone by now). */
    if (WEFT_UNLIKELY(weft__link_linked(&task->all)) && weft__debug_task_freed(task))
        return; /* kept for the report at loop close */
    free(task->name);
    weft__task_dealloc(task);
}

/* After a task ended: its stack goes back to the pool (never while running
 * on it, hence here on the loop's stack), and a task nobody holds is freed. */
static void task_after_end(weft_task *task)
{
    weft__task_release_stack(task);
    if (task->refs == 0)
        weft__task_free_ended(task);
}

void weft__task_resume(weft_task *task)
{
    weft_loop *loop = task->loop;
    if (task->state == WEFT_TASK_CREATED) {
        if (task->must_cancel) { /* cancelled before it ever ran */
            weft__task_finish(task, WEFT_ECANCELED);
            task_after_end(task);
            return;
        }
        int rc = task->stack_kind == WEFT__STACK_OWN
                     ? weft__stack_get(&loop->stacks, task->stack_size, &task->stack)
                     : weft__compact_start(task);
        if (rc != 0) {
            task->stack.lo = NULL;
            weft__task_finish(task, rc);
            task_after_end(task);
            return;
        }
        if (WEFT__DEBUG_AIDS && WEFT_UNLIKELY(loop->dbg.debug))
            weft__debug_stack_taken(task);
        weft__ctx_make(&task->ctx, task->stack.lo, task->stack.size, task_entry, task);
    } else if (WEFT_UNLIKELY(task->stack_kind != WEFT__STACK_OWN) &&
               weft__compact_enter(task) != 0) {
        /* Out of memory for the bytes of the task on its shared stack:
         * try again after the others (they may free some). */
        weft__ready_push(loop, &task->run);
        return;
    }
    task->state = WEFT_TASK_RUNNING;
    loop->current = task;
    weft__counter_bump(&loop->switches);
    weft__ctx_switch(&loop->sched_ctx, &task->ctx);
    /* Tasks may have handed the CPU to each other (switch_away): the one
     * that came back here is the current one, not necessarily `task`. */
    weft_task *back = loop->current;
    loop->current = NULL;
    if (back->state == WEFT_TASK_DONE)
        task_after_end(back);
    else if (WEFT_UNLIKELY(back->stack_kind != WEFT__STACK_OWN))
        weft__compact_left(back);
}

/* Leaves the running task (already parked, or queued by a yield) for the
 * next one. While the budget lasts and the next ready entry is a task that
 * has started, switch straight to it: one switch instead of two through the
 * scheduler, which is what a ping-pong between tasks costs. Otherwise (a
 * callback, a task that needs its first stack, timers or I/O due) go back
 * to the scheduler. */
static void switch_away(weft_loop *loop, weft_task *self)
{
    weft__runnable *r = loop->ready_head;
    weft_task *next = (weft_task *)r;
    if (loop->budget > 0 && r != NULL && r->fn == task_ready && next->state == WEFT_TASK_READY &&
        (WEFT_LIKELY((self->stack_kind | next->stack_kind) == WEFT__STACK_OWN) ||
         weft__compact_direct_ok(self, next))) {
        weft__ready_pop(loop);
        loop->budget--;
        next->state = WEFT_TASK_RUNNING;
        loop->current = next;
        weft__counter_bump(&loop->switches);
        if (next != self)
            weft__ctx_switch(&self->ctx, &next->ctx);
        return;
    }
    weft__ctx_switch(&self->ctx, &loop->sched_ctx);
}

void weft__task_ref(weft_task *task)
{
    task->refs++;
}

void weft__task_unref(weft_task *task)
{
    if (--task->refs == 0 && task->state == WEFT_TASK_DONE)
        weft__task_free_ended(task);
}

void weft_task_free(weft_task *task)
{
    if (task == NULL)
        return;
    if (WEFT_UNLIKELY(!task->handle_held)) {
        /* The struct is alive (still running, held by a group, or kept by
         * debug mode): the second free is caught, and ignored. */
        weft__debug_task_freed_twice(task);
        return;
    }
    task->handle_held = false;
    weft__task_unref(task);
}

/* --------------------------------------------------------- park and wake */

int weft__park(weft__wait *w)
{
    weft_loop *loop = weft__loop_current();
    weft_task *task = loop->current;
    if (WEFT_UNLIKELY(task->must_cancel)) {
        task->must_cancel = false;
        if (w->cancel == NULL || w->cancel(w))
            return WEFT_ECANCELED;
    }
    task->wait = w;
    task->state = WEFT_TASK_WAITING;
    switch_away(loop, task);
    return task->wake_code;
}

void weft__wake(weft_task *task, int code)
{
#ifndef NDEBUG
    /* A task is woken once per park: a second wake would queue it twice,
     * and a wake after its end would switch to a finished context (ctx.c's
     * unreachable). Debug builds name the culprit's victim and drop it. */
    if (WEFT_UNLIKELY(task->state != WEFT_TASK_WAITING)) {
        weft_log(WEFT_LOG_ERROR, "task",
                 "bug: task #%" PRIu64 " \"%s\" woken while not parked (state %d, code %d): "
                 "wake ignored",
                 (uint64_t)task->id, task->name ? task->name : "", (int)task->state, code);
        return;
    }
#endif
    task->wait = NULL;
    task->wake_code = code;
    task->state = WEFT_TASK_READY;
    weft__ready_push(task->loop, &task->run);
}

void weft__wake_now(weft_task *task, int code)
{
    weft_loop *loop = task->loop;
    if (loop->current != NULL || !loop->running || weft__loop_current() != loop) {
        weft__wake(task, code);
        return;
    }
    task->wait = NULL;
    task->wake_code = code;
    weft__task_resume(task);
}

int weft__task_yield(weft_task *task)
{
    if (task->must_cancel) {
        task->must_cancel = false;
        return WEFT_ECANCELED;
    }
    task->state = WEFT_TASK_READY;
    weft__ready_push(task->loop, &task->run);
    switch_away(task->loop, task);
    return 0;
}

/* The deadline of weft__park_until is a timer in the task itself: a task
 * parks in one place at a time, and nothing of it is on the task's stack
 * (compact tasks, compact.h), nor needs allocating. */
static void park_deadline_fired(weft__timer *timer)
{
    weft_task *task = WEFT_CONTAINER_OF(timer, weft_task, deadline);
    if (task->state != WEFT_TASK_WAITING)
        return; /* woken already (a cancel): it stops this timer when it runs */
    weft__wait *w = task->wait;
    if (w->cancel)
        w->cancel(w);
    weft__wake(task, WEFT_ETIMEDOUT);
}

int weft__park_until(weft__wait *w, uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return weft__park(w);
    weft_loop *loop = weft__loop_current();
    weft__timer *timer = &loop->current->deadline;
    weft__timer_init(timer, park_deadline_fired);
    weft__timer_start(loop, timer, deadline);
    int rc = weft__park(w);
    weft__timer_stop(loop, timer);
    return rc;
}

void weft__task_on_done(weft_task *task, weft__done_cb *cb)
{
    weft__task_on_done_by(task, cb, NULL);
}

void weft__task_on_done_by(weft_task *task, weft__done_cb *cb, weft_task *owner)
{
    cb->owner = owner;
    task->observed = true; /* someone will see how it ended */
    weft__list_push_back(&task->done_cbs, &cb->link);
}

void weft__task_on_done_remove(weft__done_cb *cb)
{
    weft__list_remove(&cb->link);
}

/* ---------------------------------------------------------- cancellation */

int weft__task_cancel(weft_task *task)
{
    if (task->state == WEFT_TASK_DONE)
        return 0;
    task->cancel_requests++;
    if (task->state == WEFT_TASK_WAITING) {
        weft__wait *w = task->wait;
        if (w->cancel == NULL || w->cancel(w))
            weft__wake(task, WEFT_ECANCELED);
    } else {
        /* Created, ready or running: the next park delivers it. A task made
         * ready by a wakeup keeps what it was given (an item, a lock). */
        task->must_cancel = true;
    }
    return 1;
}

int weft_cancel(weft_task *task)
{
    if (task == NULL)
        return -EINVAL;
    int rc = weft__check_loop(task->loop);
    if (rc != 0)
        return task->state == WEFT_TASK_DONE ? 0 : rc;
    return weft__task_cancel(task);
}

int weft_cancelling(const weft_task *task)
{
    return task ? (int)task->cancel_requests : -EINVAL;
}

int weft__task_uncancel(weft_task *task)
{
    if (task->cancel_requests > 0 && --task->cancel_requests == 0)
        task->must_cancel = false;
    return (int)task->cancel_requests;
}

int weft_uncancel(weft_task *task)
{
    if (task == NULL)
        return -EINVAL;
    /* The count and the pending flag belong to the task's loop: another
     * thread would race with its scheduler. */
    int rc = weft__check_loop(task->loop);
    return rc != 0 ? rc : weft__task_uncancel(task);
}

/* --------------------------------------------------------- await, shield */

typedef struct awaiter {
    weft__done_cb done;
    weft__wait w;
    weft_task *self;
    weft_task *target;
    int result;
    bool cancelled;
    bool shield;
} awaiter;

static void awaiter_done(weft__done_cb *cb, weft_task *target)
{
    awaiter *a = WEFT_CONTAINER_OF(cb, awaiter, done);
    a->result = target->result;
    weft__wake(a->self, 0);
}

/* Cancelling an awaiter cancels what it awaits and waits for it to end, as
 * asyncio does; a shield returns at once and leaves the target running. */
static bool awaiter_cancel(weft__wait *w)
{
    awaiter *a = WEFT_CONTAINER_OF(w, awaiter, w);
    a->cancelled = true;
    if (a->shield) {
        weft__task_on_done_remove(&a->done);
        return true;
    }
    weft__task_cancel(a->target);
    return false;
}

static int await_task(weft_task *task, bool shield)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (task == NULL)
        return -EINVAL;
    if (task->loop != weft__loop_current())
        return WEFT_EFOREIGN;
    task->observed = true;
    if (task->state == WEFT_TASK_DONE)
        return task->result;
    if (task == weft__task_current())
        return -EDEADLK;
    WEFT__PARK_RECORD(awaiter, a);
    if (a == NULL)
        return -ENOMEM;
    *a = (awaiter){.self = weft__task_current(), .target = task, .shield = shield};
    a->w.cancel = awaiter_cancel;
    a->w.what = "task";
    a->w.kind = WEFT__WAIT_TASK;
    a->w.obj = task;
    a->done.fn = awaiter_done;
    weft__task_on_done_by(task, &a->done, a->self);
    weft__park(&a->w);
    return a->cancelled ? WEFT_ECANCELED : a->result;
}

int weft_await(weft_task *task)
{
    return await_task(task, false);
}

int weft_shield(weft_task *task)
{
    return await_task(task, true);
}

/* ------------------------------------------------------------- accessors */

weft_task_state weft_task_state_of(const weft_task *task)
{
    return task ? (weft_task_state)task->state : WEFT_TASK_DONE;
}

int weft_task_done(const weft_task *task)
{
    return task && task->state == WEFT_TASK_DONE;
}

int weft_task_result(const weft_task *task)
{
    if (task == NULL)
        return -EINVAL;
    if (task->state != WEFT_TASK_DONE)
        return -EAGAIN;
    ((weft_task *)task)->observed = true; /* the error, if any, was retrieved */
    return task->result;
}

int weft_task_cancelled(const weft_task *task)
{
    return task && task->state == WEFT_TASK_DONE && task->result == WEFT_ECANCELED;
}

const char *weft_task_name(const weft_task *task)
{
    if (task == NULL)
        return NULL;
    if (task->name)
        return task->name;
    /* The default name is made on first use, on the heap: a million parked
     * tasks nobody names should not carry a buffer each. Out of memory,
     * the generic name is all there is. */
    weft_task *t = (weft_task *)task;
    char buf[32];
    snprintf(buf, sizeof buf, "Task-%" PRIu64, t->id);
    t->name = weft__strdup(buf);
    return t->name ? t->name : "Task";
}

int weft_task_set_name(weft_task *task, const char *name)
{
    if (task == NULL || name == NULL)
        return -EINVAL;
    char *copy = weft__strdup(name);
    if (copy == NULL)
        return -ENOMEM;
    free(task->name);
    task->name = copy;
    return 0;
}

uint64_t weft_task_id(const weft_task *task)
{
    return task ? task->id : 0;
}
