/* loop: one weft loop per thread — the scheduler that runs ready tasks and
 * callbacks, and the only code that drives libuv's loop. Tasks run on their
 * own stacks and always switch back here when they park or end; from here
 * the loop picks the next one, or sleeps in libuv until a timer or an event
 * makes one ready. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Tasks run between two looks at timers and I/O while tasks stay ready.
 * Tokio and Go use 61: enough to make the poll's system call cheap per task,
 * few enough that sockets and timers are never starved. */
#define WEFT_TASKS_PER_POLL 61
/* Stacks kept per loop for reuse. */
#define WEFT_STACK_POOL_CAP 1024

static __thread weft_loop *tl_loop __attribute__((tls_model("initial-exec")));

weft_loop *weft__loop_current(void)
{
    return tl_loop;
}

weft_loop *weft_loop_current(void)
{
    return tl_loop;
}

weft_task *weft__task_current(void)
{
    return tl_loop ? tl_loop->current : NULL;
}

weft_task *weft_current(void)
{
    return weft__task_current();
}

/* The process id, refreshed in the child after fork(): getpid() is a real
 * system call on current glibc, too dear for every wait (two per echoed
 * message in a TCP server). */
static pid_t cached_pid;
static pthread_once_t cached_pid_once = PTHREAD_ONCE_INIT;

static void cached_pid_refresh(void)
{
    cached_pid = getpid();
}

static void cached_pid_init(void)
{
    cached_pid = getpid();
    pthread_atfork(NULL, NULL, cached_pid_refresh);
}

pid_t weft__getpid(void)
{
    pthread_once(&cached_pid_once, cached_pid_init);
    return cached_pid;
}

int weft__check_task(void)
{
    weft_loop *loop = tl_loop;
    if (WEFT_UNLIKELY(loop == NULL || loop->current == NULL))
        return WEFT_ENOTASK;
    /* cached_pid is set: a loop runs, so weft__loop_init called weft__getpid */
    if (WEFT_UNLIKELY(loop->pid != cached_pid))
        return WEFT_EFORKED;
    return 0;
}

int weft__check_loop(const weft_loop *obj_loop)
{
    if (WEFT_UNLIKELY(obj_loop != tl_loop))
        return tl_loop == NULL && obj_loop != NULL && pthread_equal(obj_loop->thread, pthread_self())
                   ? WEFT_ENOTASK
                   : WEFT_EFOREIGN;
    return 0;
}

void weft__ready_push(weft_loop *loop, weft__runnable *r)
{
    r->next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->next = r;
    else
        loop->ready_head = r;
    loop->ready_tail = r;
    loop->ready_count++;
}

static weft__runnable *ready_pop(weft_loop *loop)
{
    weft__runnable *r = loop->ready_head;
    if (r) {
        loop->ready_head = r->next;
        if (loop->ready_head == NULL)
            loop->ready_tail = NULL;
        loop->ready_count--;
    }
    return r;
}

void weft__loop_hold(weft_loop *loop)
{
    loop->external_holds++;
}

void weft__loop_unhold(weft_loop *loop)
{
    loop->external_holds--;
}

static void wake_timer_cb(uv_timer_t *timer)
{
    weft_loop *loop = WEFT_CONTAINER_OF(timer, weft_loop, wake_timer);
    loop->wake_armed_for = 0;
}

int weft__loop_init(weft_loop *loop)
{
    memset(loop, 0, sizeof *loop);
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0)
        return rc;
    /* Referenced while armed, so that uv_run(UV_RUN_ONCE) sleeps until it. */
    uv_timer_init(&loop->uv, &loop->wake_timer);
    loop->thread = pthread_self();
    loop->pid = weft__getpid();
    weft__stack_pool_init(&loop->stacks, WEFT_DEFAULT_STACK_SIZE, WEFT_STACK_POOL_CAP);
    weft__list_init(&loop->tasks);
    weft__list_init(&loop->handles);
    loop->next_task_id = 1;
    return 0;
}

/* Runs what is ready, at most `budget` entries: tasks until they park or
 * end, callbacks to their end. */
static void run_ready(weft_loop *loop, size_t budget)
{
    while (budget-- > 0) {
        weft__runnable *r = ready_pop(loop);
        if (r == NULL)
            return;
        if (r->kind == WEFT__RUN_TASK)
            weft__task_resume((weft_task *)r);
        else
            weft__handle_run((weft_handle *)r);
    }
}

/* Arms libuv's timer for the earliest weft timer, so that uv_run returns
 * in time. libuv counts whole milliseconds: round up, never early. */
static void arm_wake_timer(weft_loop *loop, uint64_t now)
{
    if (loop->timers.count == 0) {
        if (loop->wake_armed_for) {
            uv_timer_stop(&loop->wake_timer);
            loop->wake_armed_for = 0;
        }
        return;
    }
    uint64_t when = loop->timers.items[0]->when;
    if (loop->wake_armed_for == when)
        return;
    uint64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
    uv_update_time(&loop->uv);
    uv_timer_start(&loop->wake_timer, wake_timer_cb, ms, 0);
    loop->wake_armed_for = when;
}

/* Nothing is ready, no timer is armed, libuv has nothing that could fire
 * and no other thread holds the loop: no task can ever be woken again. */
static bool is_deadlocked(weft_loop *loop)
{
    return loop->ready_head == NULL && loop->timers.count == 0 && loop->external_holds == 0 &&
           !uv_loop_alive(&loop->uv);
}

/* One turn: run ready tasks, then timers and I/O. Returns false when the
 * loop can make no more progress (a deadlock). */
static bool loop_turn(weft_loop *loop)
{
    loop->iterations++;
    run_ready(loop, WEFT_TASKS_PER_POLL);
    uint64_t now = weft__now_ns();
    weft__timers_run(loop, now);
    if (loop->ready_head != NULL) {
        uv_run(&loop->uv, UV_RUN_NOWAIT);
        return true;
    }
    if (is_deadlocked(loop))
        return false;
    arm_wake_timer(loop, now);
    uv_run(&loop->uv, UV_RUN_ONCE);
    weft__timers_run(loop, weft__now_ns());
    return true;
}

int weft__loop_run_until(weft_loop *loop, bool (*done)(void *arg), void *arg)
{
    if (loop->running)
        return -EBUSY;
    if (tl_loop != NULL)
        return -EBUSY; /* another loop runs on this thread: asyncio refuses too */
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    if (loop->pid != weft__getpid())
        return WEFT_EFORKED;
    loop->running = true;
    tl_loop = loop;
    int rc = 0;
    while (!done(arg)) {
        if (!loop_turn(loop)) {
            /* Every task waits on something that cannot happen. Cancel them
             * all so they can clean up; report the deadlock if that does
             * not end the wait either. */
            if (loop->deadlocked) {
                rc = -EDEADLK;
                break;
            }
            loop->deadlocked = true;
            weft__loop_cancel_all(loop);
        }
    }
    tl_loop = NULL;
    loop->running = false;
    return rc;
}

void weft__loop_cancel_all(weft_loop *loop)
{
    /* weft_cancel only marks or readies tasks; none runs here, so the list
     * stays intact while we walk it. */
    for (weft__link *l = loop->tasks.next; l != &loop->tasks; l = l->next)
        weft__task_cancel(WEFT_CONTAINER_OF(l, weft_task, all));
}

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

void weft__loop_close(weft_loop *loop)
{
    uv_walk(&loop->uv, close_walk_cb, NULL);
    while (uv_run(&loop->uv, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&loop->uv);
    weft__stack_pool_destroy(&loop->stacks);
    free(loop->timers.items);
    loop->timers.items = NULL;
}
