/* cores: every core in one process — groups of loops (loop_group.c),
 * asking every loop of a group for something (loop_group_each.c), a server
 * on every loop (serve_all.c). Built on thread (loop threads, futures) and
 * net (servers), and on debug for the statistics and dumps it gathers.
 * This header: the group itself, a latch that a task or a plain thread
 * waits on while other loops work, and "run this on loop i (or every loop)
 * and wait". */
#ifndef WEFT__LAYER_CORES_H
#define WEFT__LAYER_CORES_H

#include <semaphore.h>

#include "net/net.h"
#include "thread/thread.h"

struct weft_loop_group {
    int n;
    weft_loop_thread **threads;
    weft_loop **loops;
    weft_loop_group_opts opts;
    bool running;                          /* atomic: a weft_loop_group_run is under way */
    struct group_dump_signal *dump_signal; /* loop 0's thread only */
};

/* Stops the group's dump on a signal (loop_group_each.c), before free. */
void weft__group_dump_signal_stop(weft_loop_group *g);

/* A count of outstanding pieces of work on other loops, waited for by one
 * task (parked, and not cancellable: a cancel is noted and reported once
 * the work is done, as weft_await does) or one plain thread (blocked on a
 * semaphore, which a signal handler may also post). */
typedef struct weft__latch {
    pthread_mutex_t mu;
    int pending;        /* under mu */
    sem_t sem;          /* thread mode: posted when pending reaches 0 */
    weft__inbox *inbox; /* task mode: the waiter's loop's, which wake is posted to */
    weft__wake_msg wake;
    weft__wait w;
    bool cancelled;
} weft__latch;

void weft__latch_init(weft__latch *l, int count);
void weft__latch_destroy(weft__latch *l);
/* Any thread. The waiter may return as soon as this brings the count to 0:
 * the caller must not touch what the latch guards after it. */
void weft__latch_count_down(weft__latch *l);
/* Adds k pieces of work; false (nothing added) once the count is 0. */
bool weft__latch_add(weft__latch *l, int k);
/* Waits until the count is 0. In a task: 0, or WEFT_ECANCELED if the task
 * was cancelled meanwhile (the work is done either way). On a thread
 * running a loop outside a task: -EDEADLK. */
int weft__latch_wait(weft__latch *l);

/* Runs fn(index, arg) on loop index's thread (index -1: on every loop at
 * once) and waits as weft__latch_wait. as_task: as a task of that loop (fn
 * may wait), else in a callback between tasks (fn must not wait). rcs[i]
 * receives loop i's code (WEFT_ECLOSED if the loop refused, the spawn's
 * error, WEFT_ECANCELED if the task was cancelled first). Returns 0,
 * WEFT_ECANCELED (the caller was cancelled; the work was done), -EDEADLK,
 * -ENOMEM. */
/* Nothing the other loops touch may be on the caller's stack: a compact
 * task's stack is another task's while it waits (docs/guide.md, "A million
 * tasks"). The latch and the jobs are on the heap; arg is passed as it is
 * when arg_size is 0 (it is then the caller's to keep off its stack), or
 * copied to the heap for the jobs to read when arg_size is its size. */
typedef int (*weft__on_loop_fn)(int index, void *arg);
int weft__group_on_loops(weft_loop_group *g, int index, bool as_task, weft__on_loop_fn fn,
                         void *arg, size_t arg_size, int *rcs);

#endif
