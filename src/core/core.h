/* core: one weft loop per OS thread and the tasks it runs. The layer's
 * contract, for the layers above (sync, thread, net, http, redis, debug):
 *
 * - A task waits in one way only: it parks on a weft__wait it owns
 *   (weft__park / weft__park_until) and someone calls weft__wake. The
 *   wait's cancel callback unlinks it, so a cancelled task steals no
 *   wakeup. Every wait in the library is built on this (docs/INTERNALS.md).
 * - Timers are embedded weft__timer entries: arming never allocates.
 * - Only loop.c drives libuv's loop; only the ctx layer switches stacks.
 * - Other threads reach a loop through its inbox (weft__inbox_post), never
 *   by touching the loop's fields.
 * - The loop struct is a list of per-subsystem states (the runner's, the
 *   inbox's, gather's scratch, the debug layer's), each owned by its files.
 *
 * Built on base and ctx; the only header of a higher layer it includes is
 * debug/hooks.h (the debug layer's state in each loop, and its hooks). */
#ifndef WEFT__LAYER_CORE_H
#define WEFT__LAYER_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "base/base.h"
#include "core/compact.h"
#include "ctx/ctx.h"
#include "ctx/stack.h"
#include "weft.h"

/* -------------------------------------------------------------- the clock */

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t weft__now_ns(void);
/* Seconds (relative, >= 0; WEFT_FOREVER/NaN handled) to an absolute deadline
 * in ns; UINT64_MAX means never. -EINVAL for NaN. */
int weft__deadline_after(double seconds, uint64_t *deadline);
int weft__deadline_at(double when, uint64_t *deadline);
/* Durations from this many seconds on (about 570 years) mean "never":
 * converting them to nanoseconds would overflow 64 bits. */
#define WEFT__FOREVER_SECONDS 1.8e10
/* An absolute CLOCK_MONOTONIC deadline in ns as a timespec, for
 * pthread_cond_timedwait on a condition set to that clock. */
struct timespec weft__timespec_of(uint64_t ns);

/* ------------------------------------------------------------------ timers */

typedef struct weft__timer weft__timer;
typedef void (*weft__timer_fn)(weft__timer *timer);

/* One entry of the loop's timers. Embed it; arming never allocates and
 * cannot fail. Read `when` if you like; the rest belongs to timer.c. */
struct weft__timer {
    weft__link link; /* in a wheel slot or the due list */
    uint64_t when;   /* ns, CLOCK_MONOTONIC */
    uint64_t seq;    /* arming order: equal deadlines fire first-in first-out */
    weft__timer_fn fn;
    uint8_t where; /* 0 when not armed, else 1 + its wheel level (timer.c) */
};

/* The loop's timers: a hierarchical timing wheel (timer.c says how it
 * works). The fields are timer.c's alone; everyone else goes through the
 * functions below. */
#define WEFT__WHEEL_NEAR_BITS 10 /* level 0: 1024 one-tick slots */
#define WEFT__WHEEL_NEAR      (1u << WEFT__WHEEL_NEAR_BITS)
#define WEFT__WHEEL_UPPER     5 /* levels above 0, of 64 slots each */
typedef struct weft__timers {
    weft__link due;      /* ticks before `elapsed`, sorted by (when, seq) */
    weft__link pending;  /* armed during weft__timers_run for a tick before `elapsed` */
    weft__link overflow; /* beyond the wheel's reach (decades away) */
    uint64_t elapsed;    /* the first tick whose slot is still in the wheel */
    uint64_t next_seq;
    size_t count;
    bool running;
    uint64_t near_words;                           /* a bit per non-zero near_occupied word */
    uint64_t near_occupied[WEFT__WHEEL_NEAR / 64]; /* a bit per non-empty level-0 slot */
    uint64_t near_unsorted[WEFT__WHEEL_NEAR / 64]; /* a bit per level-0 slot out of order */
    uint64_t upper_occupied[WEFT__WHEEL_UPPER];    /* a bit per non-empty slot */
    weft__link upper[WEFT__WHEEL_UPPER][64];
    weft__link near[WEFT__WHEEL_NEAR];
} weft__timers;

static inline void weft__timer_init(weft__timer *t, weft__timer_fn fn)
{
    t->where = 0;
    t->fn = fn;
}
static inline bool weft__timer_armed(const weft__timer *t)
{
    return t->where != 0;
}
/* Arms t for `when` (ns; UINT64_MAX never fires). A timer already armed is
 * moved. */
void weft__timer_start(weft_loop *loop, weft__timer *t, uint64_t when);
/* Disarms t; nothing if it is not armed. */
void weft__timer_stop(weft_loop *loop, weft__timer *t);

/* ------------------------------------------------------------ the ready queue */

/* An entry of the ready queue (a task, a call_soon handle) carries the
 * function that runs it, as libuv's watchers carry their callback: the
 * loop calls fn(r, false) and knows nothing of kinds, so a new kind of
 * runnable touches no scheduler code. fn(r, true) when a closing loop
 * drops what is still queued: release, run nothing. */
typedef struct weft__runnable weft__runnable;
typedef void (*weft__run_fn)(weft__runnable *r, bool drop);
struct weft__runnable {
    weft__runnable *next;
    weft__run_fn fn;
};

/* ------------------------------------------------------------------- waits */

/* A task parks on a weft__wait that the wait site owns (on its stack).
 *
 * cancel: called when the parked task is cancelled, or when it parks with a
 * cancellation pending. It must unlink the task from whatever it waits on,
 * so that it steals no wakeup. Return true to wake the task now with
 * WEFT_ECANCELED; false when the site wakes it later itself (weft_await
 * waits for the awaited task to end). NULL means "wake now".
 *
 * what/obj: for task dumps (what the task waits on, in words).
 * kind: what weft_loop_stats counts the parked task as. */
typedef enum weft__wait_kind {
    WEFT__WAIT_OTHER, /* locks, queues, events, other threads, ... (0: the default) */
    WEFT__WAIT_SLEEP, /* weft_sleep */
    WEFT__WAIT_TASK,  /* other tasks: await, gather, wait, as_completed, a group */
    WEFT__WAIT_IO,    /* sockets, pipes, DNS, processes, HTTP, Redis */
} weft__wait_kind;

typedef struct weft__wait weft__wait;
struct weft__wait {
    bool (*cancel)(weft__wait *w);
    const char *what;
    const void *obj;
    weft__wait_kind kind;
};

/* Parks the current task until weft__wake(task, code); returns code.
 * Must be called from a task (callers check weft__task_current()). */
int weft__park(weft__wait *w);
/* Parks until woken or until deadline (ns; UINT64_MAX: none). On the
 * deadline, w->cancel is called to unlink, then it returns WEFT_ETIMEDOUT. */
int weft__park_until(weft__wait *w, uint64_t deadline);
/* Lets every task that is ready now run, then resumes (asyncio.sleep(0)). */
int weft__task_yield(weft_task *task);
/* Makes a parked task ready; its weft__park returns code. */
void weft__wake(weft_task *task, int code);
/* Wakes a parked task and runs it at once, until it parks or ends, when
 * called from a libuv callback on the scheduler's stack (else as
 * weft__wake). For I/O completions: the task answers while the data is
 * hot, as a plain epoll loop would, instead of after the whole batch. */
void weft__wake_now(weft_task *task, int code);

/* --------------------------------------------------------- completion callbacks */

/* Called, in registration order, when a task ends (asyncio's
 * add_done_callback); must not wait. */
typedef struct weft__done_cb weft__done_cb;
struct weft__done_cb {
    weft__link link;
    void (*fn)(weft__done_cb *cb, weft_task *task);
    weft_task *owner; /* the task that waits through this callback, or NULL (dumps) */
};
/* Registers cb with no owner; _by names the task that waits on it (await,
 * gather, a group's parent), which task dumps show as the awaiter. */
void weft__task_on_done(weft_task *task, weft__done_cb *cb);
void weft__task_on_done_by(weft_task *task, weft__done_cb *cb, weft_task *owner);
void weft__task_on_done_remove(weft__done_cb *cb);

/* ------------------------------------------------------------------- task */

struct weft_task {
    /* Line 0: what spawning, gathering, ending and freeing touch (a batch
     * of thousands is out of cache; W3 then pays for each line a pass
     * touches). */
    weft__runnable run; /* first: the ready queue links tasks through it */
    uint8_t state;      /* weft_task_state */
    bool must_cancel;   /* a cancellation waits to be delivered at the next park */
    bool handle_held;   /* the spawner's handle is still held (weft_task_free drops it) */
    uint8_t refs;       /* holders: the spawner's handle, a group; freed at 0 once ended */
    bool observed;      /* awaited, gathered or its result read (debug-mode reports) */
    uint8_t stack_kind; /* weft__stack_kind (compact.h) */
    int result;
    int wake_code;
    weft_loop *loop;
    weft__wait *wait;    /* what it is parked on, or NULL */
    weft__link done_cbs; /* weft__done_cb, run when the task ends */
    /* Line 1: what starting and running it read. */
    weft_fn fn;
    void *arg;
    weft__ctx ctx;
    weft__stack stack; /* compact: the shared stack's bounds while it owns them */
    size_t stack_size;
    /* Then the rest a spawn writes. */
    weft__link all;           /* the loop's list of live tasks */
    unsigned cancel_requests; /* asyncio's cancelling() */
    uint32_t saved_size;      /* compact: bytes of its stack saved in `saved` */
    /* compact tasks (compact.h): their shared stack, and their bytes while
     * another task has it */
    weft__shared_stack *shared;
    void *saved;
    struct weft_timeout *scopes; /* innermost open timeout scope */
    weft__timer deadline;        /* weft__park_until's (and so weft_sleep's) */
    uint64_t id;
    char *name;          /* NULL: "Task-<id>", made on demand (weft_task_name) */
    uint64_t created_ns; /* the loop's clock at the turn it was spawned (dumps) */
    /* Below, what only the spawn macros and the reports touch. */
    const char *site_file; /* where it was spawned (the spawn macros), or NULL */
    int site_line;
};

/* ------------------------------------------------------------------- loop */

#include "debug/hooks.h"

/* Per-loop state of the runner (runner.c): the task weft_runner_run runs,
 * which SIGINT cancels (sigint.c). */
typedef struct weft__loop_runner {
    weft_task *main_task;
} weft__loop_runner;

/* Per-loop state of gather (gather.c): a buffer reused between calls. */
typedef struct weft__loop_gather {
    void *scratch;
    size_t scratch_size;
} weft__loop_gather;

/* Per-loop state of the inbox (inbox.c) and of the wakeups that can come
 * from outside the loop's thread, which the deadlock check must respect. */
typedef struct weft__loop_inbox {
    struct weft__inbox *box; /* calls from other threads */
    unsigned external_holds; /* pending wakeups from outside the loop (threads) */
    bool reachable;          /* its pointer was handed to user code (atomic) */
} weft__loop_inbox;

struct weft_loop {
    uv_loop_t uv;
    pthread_t thread;
    unsigned fork_gen; /* weft__fork_generation when made: differs in a forked child */
    bool running;
    bool closing;
    bool deadlocked;
    weft__ctx sched_ctx; /* the loop's own (thread) stack */
    weft__runnable *ready_head, *ready_tail;
    size_t ready_count;
    uv_timer_t wake_timer;   /* fires at the earliest weft__timer */
    uint64_t wake_armed_for; /* deadline wake_timer is armed for, or 0 */
    uint64_t last_poll_ns;   /* when libuv last polled for I/O */
    unsigned budget;         /* tasks left to run before timers and I/O get a look */
    unsigned idle_yields;    /* sched_yield + poll rounds before sleeping (loop.c) */
    weft__stack_pool stacks;
    weft__link tasks; /* every task that has not ended */
    size_t task_count;
    uint64_t next_task_id;
    weft__link handles; /* call_soon/later handles still scheduled */
    weft_task *current;
    /* statistics (weft_loop_stats); the watchdog thread reads switches
     * and iterations, so they are stored with relaxed atomics (plain moves) */
    uint64_t switches, iterations;
    uint64_t now_ns; /* the clock at the start of the current turn (task ages) */
    weft__loop_runner runner;
    weft__loop_gather gather;
    weft__loop_inbox inbox;
    weft__loop_debug dbg;
    weft__compact compact; /* shared stacks and the slab (compact tasks) */
    weft__timers timers;   /* last: 21 KiB of wheel slots, away from the hot fields */
};

/* A counter another thread samples: a relaxed store is a plain move. */
static inline void weft__counter_bump(uint64_t *c)
{
    __atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

/* Bumped in the child of every fork() (a pthread_atfork handler), so that
 * a loop can tell it was inherited without a getpid() system call. */
extern unsigned weft__fork_generation;
static inline unsigned weft__fork_gen(void)
{
    return __atomic_load_n(&weft__fork_generation, __ATOMIC_RELAXED);
}
static inline bool weft__loop_forked(const weft_loop *loop)
{
    return weft__fork_gen() != loop->fork_gen;
}

static inline void weft__ready_push(weft_loop *loop, weft__runnable *r)
{
    r->next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->next = r;
    else
        loop->ready_head = r;
    loop->ready_tail = r;
    loop->ready_count++;
}

static inline weft__runnable *weft__ready_pop(weft_loop *loop)
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

/* The loop running on this thread (NULL outside). Inline: every wait reads
 * it, and initial-exec TLS is one instruction. */
extern __thread weft_loop *weft__tl_loop __attribute__((tls_model("initial-exec")));

static inline weft_loop *weft__loop_current(void)
{
    return weft__tl_loop;
}

/* The running task, NULL in a callback or outside the loop. */
static inline weft_task *weft__task_current(void)
{
    weft_loop *loop = weft__tl_loop;
    return loop ? loop->current : NULL;
}

/* A wait from outside a task, or in a forked child, is refused with a code:
 * WEFT_ENOTASK or WEFT_EFORKED. 0 when the caller may wait. */
static inline int weft__check_task(void)
{
    weft_loop *loop = weft__tl_loop;
    if (WEFT_UNLIKELY(loop == NULL || loop->current == NULL))
        return WEFT_ENOTASK;
    if (WEFT_UNLIKELY(weft__loop_forked(loop)))
        return WEFT_EFORKED;
    return 0;
}

/* 0 when obj_loop is the loop running on this thread, else an error. */
int weft__check_loop(const weft_loop *obj_loop);

/* Spawns on a given loop (the runner's main task, thread submissions).
 * *out is a handle the caller holds, given back with weft_task_free. */
int weft__task_spawn_on(weft_loop *loop, weft_fn fn, void *arg, const weft_task_opts *opts,
                        weft_task **out);
/* A reference besides the spawner's handle (a group's to its children);
 * the task is freed once it has ended and every reference is dropped. */
void weft__task_ref(weft_task *task);
void weft__task_unref(weft_task *task);
/* weft_cancel without the caller checks (the loop's own use). */
int weft__task_cancel(weft_task *task);
/* weft_uncancel without the caller checks: the count left. */
int weft__task_uncancel(weft_task *task);
/* Ends the task with code (runs its done callbacks). */
void weft__task_finish(weft_task *task, int code);
/* Runs a task until it parks or ends; called by the scheduler. */
void weft__task_resume(weft_task *task);
/* Cancel every live task of the loop (closing). */
void weft__loop_cancel_all(weft_loop *loop);
void weft__task_release_stack(weft_task *task);
/* Task structs (task_mem.c): per thread, from pre-faulted huge-page chunks,
 * freed ones kept on a list for the next spawns (inline: W3's spawn path). */
weft_task *weft__task_alloc_slow(void);
void weft__task_dealloc(weft_task *task);
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
static inline weft_task *weft__task_alloc(void)
{
    return weft__task_alloc_slow();
}
#else
typedef struct weft__task_free_list {
    weft_task *head; /* linked through run.next: line 0, which a free touches anyway */
    size_t count;
} weft__task_free_list;
extern __thread weft__task_free_list weft__tl_free_tasks __attribute__((tls_model("initial-exec")));
static inline weft_task *weft__task_alloc(void)
{
    weft_task *t = weft__tl_free_tasks.head;
    if (WEFT_UNLIKELY(t == NULL) || weft__fault_hit(WEFT__FAULT_ALLOC))
        return weft__task_alloc_slow();
    weft__tl_free_tasks.head = (weft_task *)t->run.next;
    weft__tl_free_tasks.count--;
    return t;
}
#endif
void weft__task_free_ended(weft_task *task);

/* Keep the loop from concluding "deadlock" while a wakeup can come from
 * another thread or process (threads layer). */
void weft__loop_hold(weft_loop *loop);
void weft__loop_unhold(weft_loop *loop);
/* The loop's pointer went to user code (weft_loop_current, weft_runner_loop,
 * weft_loop_thread_loop): any thread may post to it from now on, so it never
 * concludes "deadlock" while its inbox is open. Internal code passes loops
 * around without calling this. Any thread. */
static inline weft_loop *weft__loop_expose(weft_loop *loop)
{
    if (loop != NULL && !__atomic_load_n(&loop->inbox.reachable, __ATOMIC_RELAXED))
        __atomic_store_n(&loop->inbox.reachable, true, __ATOMIC_RELAXED);
    return loop;
}

/* The runner's loop, for weft's own code (not exposed). */
weft_loop *weft__runner_loop(weft_runner *runner);
/* Frees a runner whose run a test's failed assertion long-jumped out of,
 * without resuming anything (tests/support/run.c). */
void weft__runner_abandon(weft_runner *runner);

/* Runs the loop until done(arg) is true. */
int weft__loop_run_until(weft_loop *loop, bool (*done)(void *arg), void *arg);
int weft__loop_init(weft_loop *loop);
void weft__loop_close(weft_loop *loop);

/* The loop's side of the timers (timer.c). init also forgets every armed
 * timer without touching it (a runner whose tasks were abandoned). run
 * fires, in (deadline, arming order), the timers armed before it began
 * whose deadline is <= now; those a callback arms wait for the next run.
 * next is when the loop must look again: the earliest deadline, or a time
 * before it (the start of the wheel slot that holds it); UINT64_MAX when
 * nothing is armed. */
void weft__timers_init(weft_loop *loop, uint64_t now);
void weft__timers_run(weft_loop *loop, uint64_t now);
uint64_t weft__timers_next(weft_loop *loop);
size_t weft__timers_count(const weft_loop *loop);
/* libuv's timer that wakes the loop for the earliest weft timer (loop.c;
 * declared for the test that arms it the way libuv's clock can). */
void weft__loop_wake_timer_cb(uv_timer_t *timer);

/* ------------------------------------------------------------------ inbox */

/* A message to a loop from any thread. run() runs on the loop's thread, on
 * the scheduler's stack (it must not park: it wakes or spawns tasks).
 * fail() runs instead when the loop closed before the message could run
 * (on whatever thread closes it or posts to it). */
typedef struct weft__msg weft__msg;
struct weft__msg {
    weft__msg *next;
    void (*run)(weft__msg *m);
    void (*fail)(weft__msg *m, int code);
    bool submission; /* new work: refused once the loop is shutting down */
};

typedef struct weft__inbox weft__inbox;

/* The loop's inbox (inbox.c): other threads post weft__msg to it and one
 * uv_async_t wakes the loop. init at loop init; shutdown refuses new
 * submissions (runner_free); close fails what is left (loop close); the
 * ref is taken while holds > 0 so the loop sleeps until a post arrives. */
int weft__inbox_init(weft_loop *loop);
void weft__inbox_shutdown(weft_loop *loop);
void weft__inbox_close(weft_loop *loop);
void weft__inbox_ref(weft_loop *loop, bool ref);
/* True while other threads' calls are accepted (until the runner closes). */
bool weft__inbox_open(const weft_loop *loop);

/* The loop's inbox, with a reference the caller drops with
 * weft__inbox_unref: it outlives the loop while someone holds one (a
 * worker thread that will post a completion), and refuses posts then. */
weft__inbox *weft__inbox_get(weft_loop *loop);
void weft__inbox_unref(weft__inbox *ib);
weft_loop *weft__inbox_loop(weft__inbox *ib);
/* 0, or WEFT_ECLOSED (the message will never run; fail is not called). */
int weft__inbox_post(weft__inbox *ib, weft__msg *m);
/* True in a child of fork(): the loop's thread is not there. */
bool weft__inbox_forked(weft__inbox *ib);
/* True from weft__inbox_shutdown on. */
bool weft__inbox_refusing(weft__inbox *ib);

/* A message that wakes a parked task on its own loop (weft__wake with 0),
 * for a wait that another thread ends. Its fail does nothing: a loop that
 * closed first abandoned the task with it. */
typedef struct weft__wake_msg {
    weft__msg msg;
    weft_task *task;
} weft__wake_msg;
void weft__wake_msg_init(weft__wake_msg *m, weft_task *task);

/* SIGINT in weft_run (sigint.c): cancel the main task, report it. */
void *weft__sigint_install(weft_loop *loop);
int weft__sigint_remove(void *watch, int rc);

/* The earliest deadline of the task's open timeout scopes (ns), UINT64_MAX
 * if none (timeout.c, for task dumps). */
uint64_t weft__task_scope_deadline(const weft_task *task);

/* The loop is closing: the call_soon/later handles still scheduled will
 * never run (handle.c, for the runner's close). */
void weft__handles_close(weft_loop *loop);

#endif
