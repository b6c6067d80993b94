/* weft/debug.h: debugging aids (included by weft.h). docs/debugging.md
 * shows each report as a user sees it.
 *
 *   - blocked-loop reports, always on: a task that holds the loop longer
 *     than a threshold (default 100 ms) without waiting is reported with its
 *     name, how long, and a backtrace taken while it is still blocked;
 *   - weft_tasks_dump(): every live task, what it waits on, who awaits it,
 *     where it was spawned, its parked stack; as a tree, like asyncio's
 *     pstree; also on a signal (weft_dump_on_signal);
 *   - weft_loop_stats(): counters of a loop;
 *   - debug mode (WEFT_DEBUG=1 or weft_loop_set_debug): at loop close,
 *     tasks never awaited, errors never retrieved, handles never closed;
 *     stack high-water marks in the dump;
 *   - stack overflow: hitting a task's guard page prints which task
 *     overflowed and how to give it a bigger stack, then the process dies
 *     of the SIGSEGV as it would have.
 * Reports go through the log hook (weft/log.h). */
#ifndef WEFT_DEBUG_H
#define WEFT_DEBUG_H

#include "weft/log.h"

/* ------------------------------------------------------- creation sites */

/* The spawn functions with the caller's file:line, shown by dumps and leak
 * reports. The macros below make every weft_spawn* call pass its own site;
 * the functions of the same names stay exported (take their address, or
 * call them with the name in parentheses, or define WEFT_NO_SITE_MACROS
 * before including weft.h). */
WEFT_API WEFT_MUST_CHECK int weft_spawn_at(weft_fn fn, void *arg, const weft_task_opts *opts,
                                           const char *file, int line, weft_task **out);
WEFT_API WEFT_MUST_CHECK int weft_group_spawn_at(weft_group *group, weft_fn fn, void *arg,
                                                 const weft_task_opts *opts, const char *file,
                                                 int line, weft_task **out);
/* The same for timeout scopes: debug mode names the line that began a
 * scope a task returned without ending. */
WEFT_API WEFT_MUST_CHECK int weft_timeout_begin_site(double seconds, const char *file, int line,
                                                     weft_timeout **out);
WEFT_API WEFT_MUST_CHECK int weft_timeout_begin_at_site(double when, const char *file, int line,
                                                        weft_timeout **out);
#ifndef WEFT_NO_SITE_MACROS
#define weft_timeout_begin(seconds, out)                                                           \
    weft_timeout_begin_site((seconds), __FILE__, __LINE__, (out))
#define weft_timeout_begin_at(when, out)                                                           \
    weft_timeout_begin_at_site((when), __FILE__, __LINE__, (out))
#define weft_spawn(fn, arg, out) weft_spawn_at((fn), (arg), NULL, __FILE__, __LINE__, (out))
#define weft_spawn_opts(fn, arg, opts, out)                                                        \
    weft_spawn_at((fn), (arg), (opts), __FILE__, __LINE__, (out))
#define weft_group_spawn(group, fn, arg, out)                                                      \
    weft_group_spawn_at((group), (fn), (arg), NULL, __FILE__, __LINE__, (out))
#define weft_group_spawn_opts(group, fn, arg, opts, out)                                           \
    weft_group_spawn_at((group), (fn), (arg), (opts), __FILE__, __LINE__, (out))
#endif

/* ---------------------------------------------------------- statistics */

struct weft_loop_stats {
    size_t tasks_alive;       /* spawned and not ended: the sum of the next four */
    size_t tasks_new;         /* not started yet */
    size_t tasks_ready;       /* waiting for their turn */
    size_t tasks_running;     /* 1 when called from a task */
    size_t tasks_waiting;     /* parked: the sum of the next four */
    size_t tasks_sleeping;    /* in weft_sleep */
    size_t tasks_awaiting;    /* on other tasks: await, gather, wait, as_completed, group */
    size_t tasks_io;          /* on sockets, pipes, DNS, processes, HTTP */
    size_t tasks_other;       /* locks, queues, events, threads, ... */
    uint64_t tasks_spawned;   /* since the loop was made */
    uint64_t switches;        /* task switches */
    uint64_t iterations;      /* turns of the loop */
    uint64_t blocked_reports; /* episodes of a task holding the loop past the threshold */
    double longest_block;     /* seconds, the longest such episode seen (at least) */
    double block_threshold;   /* seconds in force for this loop; 0: detection off */
    size_t stacks_live;       /* task stacks in use */
    size_t stacks_pooled;     /* kept for reuse */
    size_t timers;            /* armed timers (sleeps, deadlines, call_later) */
    int debug;                /* debug mode is on */
    /* compact tasks (weft_stack_mode) */
    size_t compact_saved;       /* parked compact tasks whose bytes are saved aside */
    size_t compact_saved_bytes; /* those bytes (before rounding to the slab's classes) */
    uint64_t compact_evictions; /* stacks saved since the loop was made */
    size_t compact_slab_in_use; /* slab bytes handed out: saved stacks and wait records */
    size_t compact_slab_mapped; /* slab bytes mapped (kept until the loop closes) */
};

/* Fills *out for loop (NULL: the current loop); the struct is named by its
 * tag, as `struct stat` is for stat(). Call it on the loop's thread (from
 * a task or a callback, or between runs). -EINVAL, WEFT_ENOTASK (NULL and
 * no loop runs here), WEFT_EFOREIGN. */
WEFT_API int weft_loop_stats(weft_loop *loop, struct weft_loop_stats *out);

/* --------------------------------------------------------------- dumps */

/* Writes every live task of the current loop to out, awaiters above what
 * they await: id, name, state, age, what it waits on, where it was spawned,
 * and the backtrace of its parked stack. Returns the number of tasks, or
 * WEFT_ENOTASK (no loop runs on this thread), -EINVAL (out NULL). */
WEFT_API int weft_tasks_dump(FILE *out);
/* The same for a loop of this thread that is not running (between runs). */
WEFT_API int weft_loop_tasks_dump(weft_loop *loop, FILE *out);

/* Dumps the loop's tasks to out (NULL: stderr) each time signum arrives
 * (0 turns it off; SIGQUIT is the usual choice). The dump runs on the loop's
 * thread between tasks, never in the signal handler; a loop blocked by a
 * task dumps once that task yields (the blocked-loop report covers that
 * case). loop NULL: the current loop. 0, -EINVAL, WEFT_ENOTASK,
 * WEFT_EFOREIGN, -ENOMEM, or libuv's error. */
WEFT_API int weft_dump_on_signal(weft_loop *loop, int signum, FILE *out);

/* --------------------------------------------------- blocked-loop reports */

/* How long a task may hold a loop before it is reported, in seconds; 0
 * (or WEFT_FOREVER, or any value too long to count in 64-bit ns: from
 * about 570 years) turns the reports off. loop NULL sets the process default (100 ms, or
 * WEFT_BLOCK_THRESHOLD_MS from the environment), used by every loop that
 * has not set its own. -EINVAL for a negative or NaN value. */
WEFT_API int weft_set_block_threshold(weft_loop *loop, double seconds);

/* The signal weft's watchdog sends to a blocked loop's thread to take the
 * backtrace (default SIGURG, ignored by default everywhere else). Set it
 * before the first loop is made; 0 on success, -EINVAL, -EBUSY once the
 * watchdog runs. The interrupted call may return EINTR early (a sleep(),
 * say): it happens once per report, in code that blocks the loop anyway. */
WEFT_API int weft_set_block_signal(int signum);

/* ----------------------------------------------------------- debug mode */

/* Debug mode for loop (NULL: the current loop): on for every loop when
 * WEFT_DEBUG=1 is in the environment. Applies to tasks spawned after the
 * call. At loop close it reports, through the log hook at WEFT_LOG_WARN,
 * tasks never awaited, errors never retrieved, task handles never freed and
 * libuv handles left open, each with its creation site; dumps show each
 * task's stack high-water mark. -EINVAL, WEFT_ENOTASK, WEFT_EFOREIGN. */
WEFT_API int weft_loop_set_debug(weft_loop *loop, int on);

#endif
