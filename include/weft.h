/* weft: Python's asyncio for C.
 *
 * One event loop per thread, stackful tasks that read as straight-line code,
 * and asyncio's toolbox (run, Runner, create_task, gather, wait, timeout,
 * wait_for, shield, task groups, ...) as a C API. See docs/API.md.
 *
 * Conventions (docs/API.md says them at length):
 *   - every call that can wait returns int: 0 (or a count, or a task's
 *     result) on success, a negative error code otherwise; weft_strerror()
 *     names every code;
 *   - a task function returns a result (a non-negative int, asyncio's
 *     `return value`) or a negative error code (its exception);
 *   - durations are seconds as double, WEFT_FOREVER means "no limit";
 *   - whoever creates a thing frees it: each _new has its _free.
 */
#ifndef WEFT_H
#define WEFT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/config.h" /* WEFT_HAVE_TLS, WEFT_HAVE_HTTP, WEFT_HAVE_REDIS: what this build has */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* C has no exceptions: a wait's WEFT_ECANCELED is a return code, and a
 * wait whose code is ignored swallows the cancellation (the task runs on to
 * its end). So every call that can return WEFT_ECANCELED, and every
 * constructor (its out pointer is NULL on failure), warns when its result
 * is dropped; weft's own examples and tests build with
 * -Werror=unused-result. A (void) cast does not silence GCC here: discard a
 * code on purpose with WEFT_IGNORE(weft_sleep(0.1)), which says so. */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_MUST_CHECK __attribute__((warn_unused_result))
#else
#define WEFT_MUST_CHECK
#endif
#define WEFT_IGNORE(call) ((void)!(call))

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* ---------------------------------------------------------------- errors */

/* weft's own error codes. Everything else a call returns is a negated errno
 * value (-EINVAL, -ENOMEM, -EDEADLK, ...). One table makes the enum,
 * weft_strerror() and weft_err_name(). */
#define WEFT_ERRNO_MAP(X)                                                                          \
    X(ECANCELED, -30001, "operation cancelled")                                                    \
    X(ETIMEDOUT, -30002, "timed out")                                                              \
    X(ENOTASK, -30003, "this call must be made from inside a task")                                \
    X(EFOREIGN, -30004, "object belongs to another loop or thread")                                \
    X(ECLOSED, -30005, "object is closed or shutting down")                                        \
    X(ESHUTDOWN, -30006, "queue is shut down")                                                     \
    X(EBROKEN, -30007, "barrier is broken")                                                        \
    X(ELIMIT, -30008,                                                                              \
      "limit overrun: more data than the limit allows (or no separator within it)")                \
    X(EINCOMPLETE, -30009, "stream ended before the requested bytes arrived")                      \
    X(EFORKED, -30010, "loop used in a child process after fork()")                                \
    X(ESTACK, -30011,                                                                              \
      "cannot map a task stack: out of memory, or too many mappings "                              \
      "(raise sysctl vm.max_map_count)")                                                           \
    X(ECRASHED, -30012, "worker process crashed")                                                  \
    X(ETLS, -30013, "TLS handshake or protocol failure")                                           \
    X(ECERT, -30014, "TLS certificate verification failed")                                        \
    X(EHTTP, -30015, "malformed HTTP message")                                                     \
    X(EREDIRECTS, -30016, "too many redirects")                                                    \
    X(EINTERRUPTED, -30017, "interrupted by SIGINT (Ctrl-C)")                                      \
    X(ENONAME, -30030, "host name not found (DNS)")                                                \
    X(EDNS, -30031, "name resolution failed")                                                      \
    X(ECONNLOST, -30040, "connection lost: a request in flight may or may not have been done")     \
    X(EPROTOCOL, -30041, "protocol error: the peer sent a malformed message")                      \
    X(EREDIS, -30042, "the Redis server replied with an error")                                    \
    X(EAUTH, -30043, "authentication refused by the server")                                       \
    X(ETASK, -30050, "the remote task failed or was revoked")

enum weft_errno {
#define WEFT_ERR_ENUM_(name, value, text) WEFT_##name = (value),
    WEFT_ERRNO_MAP(WEFT_ERR_ENUM_)
#undef WEFT_ERR_ENUM_
};

/* Human-readable text for any code weft returns (weft's own or -errno). */
WEFT_API const char *weft_strerror(int code);
/* The symbolic name: "WEFT_ECANCELED", "EINVAL", ... ("0" for 0). */
WEFT_API const char *weft_err_name(int code);

/* ---------------------------------------------------------------- types */

typedef struct weft_loop weft_loop;
typedef struct weft_runner weft_runner;
typedef struct weft_task weft_task;
typedef struct weft_handle weft_handle;
typedef struct weft_timeout weft_timeout;
typedef struct weft_group weft_group;
typedef struct weft_as_completed weft_as_completed;

/* A task function (asyncio's `async def`): returns its result, a
 * non-negative int (`return a + b`), or a negative error code (an
 * exception: -errno values, WEFT_ECANCELED, ...). Await, gather, groups,
 * cfutures and weft_run hand the result back; bigger results go out
 * through arg. */
typedef int (*weft_fn)(void *arg);
/* A plain callback run by the loop (call_soon & co.); it must not wait. */
typedef void (*weft_cb)(void *arg);

/* "No time limit" for every call that takes a duration or a deadline. */
#define WEFT_FOREVER HUGE_VAL

/* Default stack size of a task: virtual memory, touched lazily. */
#define WEFT_DEFAULT_STACK_SIZE (256u * 1024u)

/* --------------------------------------------------------- loop & runner */

/* asyncio.run(main()): makes a loop, runs main(arg) as a task until it ends,
 * cancels what is left, closes the loop. Returns main's own code (its
 * result, or its error), or a negative error if the loop could not be made
 * or ran into a deadlock (-EDEADLK: every task waits and nothing, on this
 * thread or another, can ever wake one; docs/API.md says when that is
 * certain). */
WEFT_API WEFT_MUST_CHECK int weft_run(weft_fn main, void *arg);

/* asyncio.Runner: one loop reused by several weft_runner_run() calls.
 * weft_runner_new: 0 and *out, or -EINVAL, -ENOMEM, libuv's error. The
 * runner (and its loop) belongs to the thread that made it. */
WEFT_API WEFT_MUST_CHECK int weft_runner_new(weft_runner **out);
/* runner.get_loop(). A loop whose pointer the program holds (from here or
 * weft_loop_current) may be posted to by any thread: with nothing else to
 * do it waits for them instead of reporting a deadlock (docs/API.md). */
WEFT_API weft_loop *weft_runner_loop(weft_runner *runner);
WEFT_API WEFT_MUST_CHECK int weft_runner_run(weft_runner *runner, weft_fn main, void *arg);
/* Cancels the tasks still alive, lets them finish, closes the loop. */
WEFT_API void weft_runner_free(weft_runner *runner);

/* The loop running on this thread, or NULL. */
WEFT_API weft_loop *weft_loop_current(void);

/* Monotonic clock in seconds (the loop's clock, asyncio's loop.time()). */
WEFT_API double weft_time(void);

/* loop.call_soon / call_later / call_at. cb runs on the loop's thread, not
 * in a task. If out is not NULL it receives a handle the caller owns (cancel
 * it any time, free it with weft_handle_free); pass NULL to fire and forget.
 * loop NULL means the current loop. */
WEFT_API int weft_call_soon(weft_loop *loop, weft_cb cb, void *arg, weft_handle **out);
WEFT_API int weft_call_later(weft_loop *loop, double delay, weft_cb cb, void *arg,
                             weft_handle **out);
WEFT_API int weft_call_at(weft_loop *loop, double when, weft_cb cb, void *arg, weft_handle **out);
/* Returns 1 if the callback will now never run, 0 if it already ran or was
 * cancelled before. */
WEFT_API int weft_handle_cancel(weft_handle *handle);
WEFT_API void weft_handle_free(weft_handle *handle);

/* ---------------------------------------------------------------- tasks */

typedef enum weft_task_state {
    WEFT_TASK_CREATED = 0, /* spawned, has not run yet */
    WEFT_TASK_READY,       /* waiting for its turn on the loop */
    WEFT_TASK_RUNNING,     /* this is the current task */
    WEFT_TASK_WAITING,     /* parked in a wait */
    WEFT_TASK_DONE         /* finished: weft_task_result() is its code */
} weft_task_state;

/* Where a task's stack lives (docs/guide.md, "Compact tasks").
 * PRIVATE: its own stack with a guard page (a touched page or more per
 * parked task). COMPACT: one of the loop's shared stacks, its used bytes
 * (a few hundred) copied aside when another task needs that stack. The
 * one rule of compact tasks: never let another task write to a compact
 * task's locals while it waits (pass heap memory to children instead);
 * debug mode (WEFT_DEBUG=1) turns a breach into a report naming both. */
typedef enum weft_stack_mode {
    WEFT_STACK_DEFAULT = 0, /* the loop's (weft_loop_set_stack_mode; WEFT_STACK_MODE) */
    WEFT_STACK_PRIVATE,
    WEFT_STACK_COMPACT
} weft_stack_mode;

typedef struct weft_task_opts {
    const char *name;           /* copied; NULL gives "Task-<id>" */
    size_t stack_size;          /* bytes; 0 gives WEFT_DEFAULT_STACK_SIZE */
    weft_stack_mode stack_mode; /* compact with stack_size above the default: private */
} weft_task_opts;

/* The stack mode of tasks spawned with WEFT_STACK_DEFAULT on loop (NULL:
 * the current one): PRIVATE unless the environment has
 * WEFT_STACK_MODE=compact. The runner's main task is always private.
 * 0, or -EINVAL (mode), WEFT_ENOTASK, WEFT_EFOREIGN (another thread). */
WEFT_API int weft_loop_set_stack_mode(weft_loop *loop, weft_stack_mode mode);
/* The loop's default mode (PRIVATE or COMPACT), or WEFT_ENOTASK. */
WEFT_API int weft_loop_stack_mode(const weft_loop *loop);

/* asyncio.create_task: schedule fn(arg) as a task on the current loop.
 * 0, or -EINVAL (fn NULL, opts->stack_size above SIZE_MAX / 2, stack_mode
 * not one of weft_stack_mode), -ENOMEM,
 * WEFT_ENOTASK (no loop runs on this thread), WEFT_EFORKED; on failure
 * nothing was scheduled.
 *
 * One ownership rule for every task handle: a handle received through out
 * is the caller's, to give back once with weft_task_free. With out NULL the
 * task runs detached (an asyncio task nobody keeps): it is freed when it
 * ends, and debug mode still reports an error it ended with.
 *
 * The task's stack is taken when it first runs; if that fails the task
 * ends with WEFT_ESTACK without running fn. */
WEFT_API WEFT_MUST_CHECK int weft_spawn(weft_fn fn, void *arg, weft_task **out);
WEFT_API WEFT_MUST_CHECK int weft_spawn_opts(weft_fn fn, void *arg, const weft_task_opts *opts,
                                             weft_task **out);

/* Gives back the caller's handle (from weft_spawn*, weft_group_spawn*).
 * A task still running goes on and is freed when it ends (and, for a
 * group's child, when its group is freed too). Exactly once per handle:
 * debug mode reports a second free. */
WEFT_API void weft_task_free(weft_task *task);

/* `await task`: waits until the task ends and returns its code, its result
 * or its error (at once if it has ended). Cancelling the awaiter cancels the awaited task too, as
 * in asyncio; the awaiter then returns WEFT_ECANCELED once that task has ended. -EDEADLK for
 * awaiting yourself. */
WEFT_API WEFT_MUST_CHECK int weft_await(weft_task *task);

/* task.cancel(): asks the task to stop; its current or next wait returns
 * WEFT_ECANCELED (a task that has not started ends without running).
 * Returns 1 if the request was made, 0 if the task had already ended. */
WEFT_API int weft_cancel(weft_task *task);
/* task.cancelling() and task.uncancel(): pending cancellation requests. */
WEFT_API int weft_cancelling(const weft_task *task);
WEFT_API int weft_uncancel(weft_task *task);

WEFT_API weft_task *weft_task_current(void);
WEFT_API weft_task_state weft_task_state_of(const weft_task *task);
WEFT_API int weft_task_done(const weft_task *task);
/* The code of an ended task (its result, or its error); -EAGAIN if it has
 * not ended. */
WEFT_API int weft_task_result(const weft_task *task);
/* 1 if the task ended by cancellation (its code is WEFT_ECANCELED). */
WEFT_API int weft_task_cancelled(const weft_task *task);
WEFT_API const char *weft_task_name(const weft_task *task);
WEFT_API int weft_task_set_name(weft_task *task, const char *name);
WEFT_API uint64_t weft_task_id(const weft_task *task);

/* ---------------------------------------------------------- combinators */

/* asyncio.sleep: parks the task; weft_sleep(0) yields to the other ready
 * tasks. */
WEFT_API WEFT_MUST_CHECK int weft_sleep(double seconds);

/* asyncio.gather. Returns 0 once every task has ended with a result (a
 * non-negative code): read each with weft_task_result(tasks[i]). By default
 * returns at the first task that fails (a negative code) with its code, and
 * the others keep running. With WEFT_RETURN_EXCEPTIONS it waits for all and
 * returns 0; each task's result or error is then in weft_task_result().
 * Cancelling the caller cancels every task and returns WEFT_ECANCELED. */
#define WEFT_RETURN_EXCEPTIONS 1
WEFT_API WEFT_MUST_CHECK int weft_gather(weft_task **tasks, size_t n, int flags);

/* asyncio.wait: returns the number of tasks done when the condition holds
 * or the timeout passes (never cancels the tasks); tell done from pending
 * with weft_task_done(). WEFT_FIRST_EXCEPTION: a task ended with a negative
 * code other than WEFT_ECANCELED. */
enum { WEFT_FIRST_COMPLETED = 1, WEFT_FIRST_EXCEPTION = 2, WEFT_ALL_COMPLETED = 3 };
WEFT_API WEFT_MUST_CHECK int weft_wait(weft_task **tasks, size_t n, int return_when,
                                       double timeout);

/* asyncio.as_completed: next() gives the tasks in the order they end.
 * Returns 1 and sets *out, 0 when every task was given, WEFT_ETIMEDOUT when
 * the timeout (counted from _new) passes first. */
WEFT_API WEFT_MUST_CHECK int weft_as_completed_new(weft_task **tasks, size_t n, double timeout,
                                                   weft_as_completed **out);
WEFT_API WEFT_MUST_CHECK int weft_as_completed_next(weft_as_completed *it, weft_task **out);
WEFT_API void weft_as_completed_free(weft_as_completed *it);

/* asyncio.wait_for: on timeout, cancels the task, waits for it to end and
 * returns WEFT_ETIMEDOUT. A cancellation of the caller is never turned into
 * a timeout. */
WEFT_API WEFT_MUST_CHECK int weft_wait_for(weft_task *task, double seconds);

/* asyncio.shield: awaits the task; cancelling the caller returns
 * WEFT_ECANCELED at once and leaves the task running. */
WEFT_API WEFT_MUST_CHECK int weft_shield(weft_task *task);

/* `async with asyncio.timeout(seconds):` as a block that cannot be left
 * open. rc is an int variable of the caller's; the body runs once, under
 * the deadline, and the block's exit turns a WEFT_ECANCELED it caused in rc
 * into WEFT_ETIMEDOUT:
 *
 *     int rc = 0;
 *     WEFT_TIMEOUT(10, rc) {
 *         rc = long_running_call();
 *     }
 *     if (rc == WEFT_ETIMEDOUT) ...
 *
 * If the scope cannot begin, rc is the error and the body does not run.
 * Leaving the body with break, continue, return or goto ends the scope too
 * (with GCC and Clang, through __attribute__((cleanup))). WEFT_TIMEOUT_AT
 * takes an absolute deadline on weft_time()'s clock (asyncio.timeout_at). */
#define WEFT_TIMEOUT(seconds, rc) WEFT_TIMEOUT_AT(weft_time() + (seconds), rc)
#define WEFT_TIMEOUT_AT(when, rc)                                                                  \
    WEFT__TIMEOUT_BLOCK((when), rc, WEFT__CAT(weft_scope_, __LINE__),                              \
                        WEFT__CAT(weft_scope_once_, __LINE__))
/* The pieces of WEFT_TIMEOUT: a loop that runs once (the outer one) around
 * a loop that begins the scope, runs the body and ends the scope (the
 * inner one), on a scope variable whose cleanup ends the scope however the
 * body is left. The names carry the line, so that blocks nest without
 * shadowing. */
#define WEFT__CAT2(a, b) a##b
#define WEFT__CAT(a, b)  WEFT__CAT2(a, b)
#if defined(__GNUC__) || defined(__clang__)
#define WEFT__SCOPE_CLEANUP __attribute__((cleanup(weft_timeout_block_end)))
#else
#define WEFT__SCOPE_CLEANUP
#endif
#define WEFT__TIMEOUT_BLOCK(when, rc, var, once)                                                   \
    for (weft_timeout *var WEFT__SCOPE_CLEANUP = NULL, **once = &var; once != NULL; once = NULL)   \
        for (weft_timeout_block_begin((when), &(rc), __FILE__, __LINE__, &var); var != NULL;       \
             weft_timeout_block_end(&var))
/* WEFT_TIMEOUT's entry and exit. begin: 0, or the error, which it also
 * stores in *rc; end: *rc = weft_timeout_end(*scope, *rc), *scope = NULL
 * (nothing if *scope is NULL). */
WEFT_API int weft_timeout_block_begin(double when, int *rc, const char *file, int line,
                                      weft_timeout **out);
WEFT_API void weft_timeout_block_end(weft_timeout **scope);

/* asyncio.timeout() as two calls: begin a scope; when its deadline passes,
 * the task is cancelled (its waits return WEFT_ECANCELED);
 * weft_timeout_end(scope, rc) turns that cancellation into WEFT_ETIMEDOUT
 * and frees the scope. Scopes nest; end them in reverse order, on every
 * path: a scope left open cuts short every later wait of the task, and
 * debug mode reports it, with the line that began it, when the task
 * returns. WEFT_TIMEOUT above ends itself. */
WEFT_API WEFT_MUST_CHECK int weft_timeout_begin(double seconds, weft_timeout **out);
WEFT_API WEFT_MUST_CHECK int weft_timeout_begin_at(double when, weft_timeout **out);
WEFT_API int weft_timeout_reschedule(weft_timeout *scope, double when);
WEFT_API double weft_timeout_when(const weft_timeout *scope);
WEFT_API int weft_timeout_expired(const weft_timeout *scope);
WEFT_API WEFT_MUST_CHECK int weft_timeout_end(weft_timeout *scope, int rc);

/* asyncio.TaskGroup. The first child that fails (a negative code other
 * than WEFT_ECANCELED; a result is no failure) cancels the others (and the
 * parent's waits in the body); weft_group_wait waits for every child
 * and returns WEFT_ECANCELED if the parent was cancelled from outside,
 * else the first child's error, else 0.
 *
 * weft_group_spawn: 0, -EINVAL, WEFT_EFOREIGN, WEFT_ENOTASK, -ENOMEM, or
 * WEFT_ECLOSED (the group is shutting down). The group keeps its own
 * reference to each child; a handle received through out is the caller's
 * as with weft_spawn (free it with weft_task_free, before or after
 * weft_group_free); pass out NULL to leave the child to the group. */
WEFT_API WEFT_MUST_CHECK int weft_group_new(weft_group **out);
WEFT_API WEFT_MUST_CHECK int weft_group_spawn(weft_group *group, weft_fn fn, void *arg,
                                              weft_task **out);
WEFT_API WEFT_MUST_CHECK int weft_group_spawn_opts(weft_group *group, weft_fn fn, void *arg,
                                                   const weft_task_opts *opts, weft_task **out);
WEFT_API WEFT_MUST_CHECK int weft_group_wait(weft_group *group);
WEFT_API void weft_group_free(weft_group *group);

#include "weft/sync.h"
#include "weft/thread.h"
#include "weft/debug.h"
#include "weft/net.h"
#include "weft/cores.h"
#ifdef WEFT_HAVE_HTTP
#include "weft/http.h"
#endif
#ifdef WEFT_HAVE_REDIS
#include "weft/redis.h"
#endif
#ifdef WEFT_HAVE_CELERY
#include "weft/celery.h"
#endif

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
