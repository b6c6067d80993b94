/* loop: one weft loop per thread — the scheduler that runs ready tasks and
 * callbacks, and the only code that drives libuv's loop. Tasks run on their
 * own stacks and always switch back here when they park or end; from here
 * the loop picks the next one, or sleeps in libuv until a timer or an event
 * makes one ready. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* While tasks stay ready, the loop looks at timers after every 61 of them
 * (Tokio's and Go's interval) and polls for I/O when that also means at
 * least WEFT_POLL_INTERVAL_NS have passed since the last poll: a poll is a
 * system call that costs as much as dozens of task switches, and 50 us is
 * far below any latency a socket would notice (Go's sysmon polls every
 * 10 ms when the scheduler is busy). */
#define WEFT_TASKS_PER_POLL   61
#define WEFT_POLL_INTERVAL_NS 50000
/* Stacks kept per loop for reuse. */
#define WEFT_STACK_POOL_CAP 1024

/* While held, the inbox's uv_async_t is referenced, so that uv_run sleeps
 * until another thread posts instead of returning at once. */
void weft__loop_hold(weft_loop *loop)
{
    if (loop->inbox.external_holds++ == 0)
        weft__inbox_ref(loop, true);
}

void weft__loop_unhold(weft_loop *loop)
{
    if (--loop->inbox.external_holds == 0)
        weft__inbox_ref(loop, false);
}

/* libuv runs due timers first in uv_run and only then computes how long to
 * poll, from its own timers: if this one fired there, the poll would block
 * with no timeout while weft's timers wait. uv_stop makes that poll return at
 * once, so the loop gets back to weft__timers_run. */
void weft__loop_wake_timer_cb(uv_timer_t *timer)
{
    weft_loop *loop = WEFT_CONTAINER_OF(timer, weft_loop, wake_timer);
    loop->wake_armed_for = 0;
    uv_stop(&loop->uv);
}

/* How many times a loop with nothing ready gives its core away and looks
 * again before it sleeps in the kernel: WEFT_IDLE_YIELDS (0-16, default 1). */
#define WEFT_IDLE_YIELDS_DEFAULT 1
#define WEFT_IDLE_YIELDS_MAX     16

static unsigned env_idle_yields(void)
{
    const char *v = getenv("WEFT_IDLE_YIELDS");
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    if (v == NULL || end == v || *end != '\0' || n < 0 || n > WEFT_IDLE_YIELDS_MAX)
        return WEFT_IDLE_YIELDS_DEFAULT;
    return (unsigned)n;
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
    loop->idle_yields = env_idle_yields();
    loop->fork_gen = weft__fork_gen();
    weft__stack_pool_init(&loop->stacks, WEFT_DEFAULT_STACK_SIZE, WEFT_STACK_POOL_CAP);
    weft__compact_init(loop);
    weft__list_init(&loop->tasks);
    weft__list_init(&loop->handles);
    loop->next_task_id = 1;
    loop->now_ns = weft__now_ns();
    weft__timers_init(loop, loop->now_ns);
    rc = weft__inbox_init(loop);
    if (rc != 0) {
        uv_close((uv_handle_t *)&loop->wake_timer, NULL);
        uv_run(&loop->uv, UV_RUN_DEFAULT);
        uv_loop_close(&loop->uv);
        return rc;
    }
    weft__debug_loop_init(loop);
    return 0;
}

/* Runs what is ready, at most `budget` entries: tasks until they park or
 * end, callbacks to their end. */
static void run_ready(weft_loop *loop, unsigned budget)
{
    loop->budget = budget;
    while (loop->budget > 0) {
        loop->budget--;
        weft__runnable *r = weft__ready_pop(loop);
        if (r == NULL)
            return;
        r->fn(r, false);
    }
}

/* Arms libuv's timer for the earliest weft timer (or the earlier time the
 * timing wheel asks to be woken at), so that uv_run returns in time. libuv
 * counts whole milliseconds: round up, never early. */
static void arm_wake_timer(weft_loop *loop, uint64_t now)
{
    uint64_t when = weft__timers_next(loop);
    if (when == UINT64_MAX) {
        if (loop->wake_armed_for) {
            uv_timer_stop(&loop->wake_timer);
            loop->wake_armed_for = 0;
        }
        return;
    }
    if (loop->wake_armed_for == when)
        return;
    uint64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
    uv_update_time(&loop->uv);
    uv_timer_start(&loop->wake_timer, weft__loop_wake_timer_cb, ms, 0);
    loop->wake_armed_for = when;
}

/* Nothing is ready, no timer is armed, libuv has nothing that could fire
 * and nothing a layer waits for holds the loop (a cfuture, a thread-safe
 * queue, an executor job, ...). */
static bool nothing_to_wait_for(weft_loop *loop)
{
    return loop->ready_head == NULL && weft__timers_count(loop) == 0 &&
           loop->inbox.external_holds == 0 && !uv_loop_alive(&loop->uv);
}

/* A deadlock is certain only if no other thread can post either: the loop's
 * pointer never reached user code, or its inbox refuses new calls (the
 * runner is closing: only held completions can arrive then). */
static bool unreachable(weft_loop *loop)
{
    return !__atomic_load_n(&loop->inbox.reachable, __ATOMIC_RELAXED) || !weft__inbox_open(loop);
}

/* Nothing is ready: before sleeping in the kernel, give the core away
 * (sched_yield) and look for I/O again. Where threads outnumber cores (a
 * loop per core beside a client on the same machine, or other busy
 * processes), the thread that runs meanwhile is often the one about to
 * send this loop work, and finding that work without sleeping saves a
 * sleep and a wakeup: on a VM, an inter-processor interrupt and an exit to
 * the hypervisor. W4 on every core of 2 vCPUs, beside its load generator:
 * 207-222k round trips/s without, 266-297k with one yield, and one loop's
 * context switches fall from ~50k/s to ~1k/s (docs/performance.md). On an
 * idle core sched_yield returns at once: one system call and one
 * non-blocking poll before the sleep, nothing on the wakeup path. */
static bool work_after_yield(weft_loop *loop)
{
    /* A callback may also have run a task to its next wait, or to its end
     * (weft__wake_now), and so have changed what the loop waits for, or
     * ended the runner's main task: a new turn then, never a sleep. */
    uint64_t switches = loop->switches;
    for (unsigned i = 0; i < loop->idle_yields; i++) {
        sched_yield();
        uv_run(&loop->uv, UV_RUN_NOWAIT);
        if (loop->ready_head != NULL || loop->switches != switches)
            return true;
    }
    return false;
}

/* One turn: run ready tasks, then timers and I/O. Returns false when the
 * loop can make no more progress (a deadlock). Never sleeps once done()
 * holds: the caller's condition may have come true in the tasks it ran. */
static bool loop_turn(weft_loop *loop, bool (*done)(void *arg), void *arg)
{
    weft__counter_bump(&loop->iterations);
    run_ready(loop, WEFT_TASKS_PER_POLL);
    if (done(arg))
        return true;
    uint64_t now = weft__now_ns();
    loop->now_ns = now;
    weft__timers_run(loop, now);
    if (loop->ready_head != NULL) {
        if (now - loop->last_poll_ns >= WEFT_POLL_INTERVAL_NS) {
            loop->last_poll_ns = now;
            uv_run(&loop->uv, UV_RUN_NOWAIT);
        }
        return true;
    }
    loop->last_poll_ns = now;
    /* With nothing else to wait for, a loop other threads can reach waits
     * for its inbox, as asyncio's loop waits forever; one they cannot reach
     * is deadlocked (Go's "all goroutines are asleep"). */
    bool idle = nothing_to_wait_for(loop);
    if (idle && unreachable(loop))
        return false;
    if (!idle && work_after_yield(loop)) {
        loop->now_ns = weft__now_ns();
        weft__timers_run(loop, loop->now_ns);
        return true;
    }
    if (idle)
        weft__loop_hold(loop);
    arm_wake_timer(loop, now);
    uv_run(&loop->uv, UV_RUN_ONCE);
    if (idle)
        weft__loop_unhold(loop);
    loop->now_ns = weft__now_ns();
    weft__timers_run(loop, loop->now_ns);
    return true;
}

int weft__loop_run_until(weft_loop *loop, bool (*done)(void *arg), void *arg)
{
    if (loop->running)
        return -EBUSY;
    if (weft__tl_loop != NULL)
        return -EBUSY; /* another loop runs on this thread: asyncio refuses too */
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    if (weft__loop_forked(loop))
        return WEFT_EFORKED;
    loop->running = true;
    weft__tl_loop = loop;
    int rc = 0;
    while (!done(arg)) {
        if (!loop_turn(loop, done, arg)) {
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
    weft__tl_loop = NULL;
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
    /* The inbox's handle first: it is weft's own, and debug mode's walk
     * reports every handle still open as a leak of the program's. */
    weft__inbox_close(loop);
    weft__debug_loop_close(loop);
    uv_walk(&loop->uv, close_walk_cb, NULL);
    while (uv_run(&loop->uv, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&loop->uv);
    weft__compact_destroy(loop);
    weft__stack_pool_destroy(&loop->stacks);
    free(loop->gather.scratch);
    loop->gather.scratch = NULL;
}
