/* weft/sync.h: asyncio's synchronization primitives and queues — Lock,
 * Event, Condition, Semaphore/BoundedSemaphore, Barrier, Queue/LifoQueue/
 * PriorityQueue. Included by weft.h; see docs/sync.md.
 *
 * Every object belongs to the loop it was made on (make it from a task or a
 * callback of a running loop); using it from another loop or thread returns
 * WEFT_EFOREIGN and changes nothing. Waits return 0, WEFT_ECANCELED when the
 * task is cancelled (or a timeout scope fires), or the code named below.
 * Handing over is direct: what a waiter is woken with (the lock, a unit of
 * the semaphore, a queue item) is its own even if a cancel arrives before it
 * runs; that cancel is delivered at its next wait. Freeing an object that
 * tasks still wait on wakes them with WEFT_ECLOSED. */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_lock weft_lock;
typedef struct weft_event weft_event;
typedef struct weft_cond weft_cond;
typedef struct weft_sem weft_sem;
typedef struct weft_barrier weft_barrier;
typedef struct weft_queue weft_queue;

/* ------------------------------------------------------------------ lock */

/* asyncio.Lock: not reentrant, FIFO: release hands the lock to the task
 * that waited longest. Owned by the task that acquired it. */
WEFT_API WEFT_MUST_CHECK int weft_lock_new(weft_lock **out);
/* Waits for the lock. -EDEADLK if the caller already holds it. */
WEFT_API WEFT_MUST_CHECK int weft_lock_acquire(weft_lock *lock);
/* 0 and the lock is held, or -EAGAIN (held, or other tasks wait first). */
WEFT_API int weft_lock_try_acquire(weft_lock *lock);
/* -EPERM if the calling task does not hold the lock. */
WEFT_API int weft_lock_release(weft_lock *lock);
/* 1 if held, 0 if not (-EINVAL for NULL). */
WEFT_API int weft_lock_locked(const weft_lock *lock);
WEFT_API void weft_lock_free(weft_lock *lock);

/* ----------------------------------------------------------------- event */

/* asyncio.Event: set() wakes every waiter; wait() returns at once while
 * the event is set. set and clear may be called from callbacks too. */
WEFT_API WEFT_MUST_CHECK int weft_event_new(weft_event **out);
WEFT_API int weft_event_set(weft_event *ev);
WEFT_API int weft_event_clear(weft_event *ev);
WEFT_API int weft_event_is_set(const weft_event *ev);
WEFT_API WEFT_MUST_CHECK int weft_event_wait(weft_event *ev);
WEFT_API void weft_event_free(weft_event *ev);

/* ------------------------------------------------------------- condition */

/* asyncio.Condition on lock (NULL: the condition makes and owns its own,
 * reachable with weft_cond_lock). A lock passed in stays the caller's and
 * must outlive the condition. */
WEFT_API WEFT_MUST_CHECK int weft_cond_new(weft_lock *lock, weft_cond **out);
WEFT_API weft_lock *weft_cond_lock(weft_cond *cond);
/* The caller holds the lock (-EPERM otherwise). Releases it, waits for a
 * notify, re-acquires it; the lock is held again on return, WEFT_ECANCELED
 * included (re-acquiring is never cut short; a notification that arrived
 * with the cancel is passed on to another waiter). */
WEFT_API WEFT_MUST_CHECK int weft_cond_wait(weft_cond *cond);
/* Waits until pred(arg) returns nonzero (checked first, then after each
 * wakeup, with the lock held). 0 once it holds, or wait's error. */
WEFT_API WEFT_MUST_CHECK int weft_cond_wait_for(weft_cond *cond, int (*pred)(void *arg), void *arg);
/* Wake up to n waiters / all of them; the caller holds the lock (-EPERM).
 * Returns the number woken. */
WEFT_API int weft_cond_notify(weft_cond *cond, size_t n);
WEFT_API int weft_cond_notify_all(weft_cond *cond);
WEFT_API void weft_cond_free(weft_cond *cond);

/* ------------------------------------------------------------- semaphore */

/* asyncio.Semaphore(value) and asyncio.BoundedSemaphore(value): a bounded
 * semaphore refuses a release past its initial value with -EOVERFLOW.
 * Acquirers are served FIFO. release may be called from callbacks. */
WEFT_API WEFT_MUST_CHECK int weft_sem_new(unsigned value, weft_sem **out);
WEFT_API WEFT_MUST_CHECK int weft_sem_new_bounded(weft_sem **out, unsigned value);
WEFT_API WEFT_MUST_CHECK int weft_sem_acquire(weft_sem *sem);
/* 0, or -EAGAIN when acquire would wait. */
WEFT_API int weft_sem_try_acquire(weft_sem *sem);
WEFT_API int weft_sem_release(weft_sem *sem);
/* The current value (-EINVAL for NULL). */
WEFT_API int weft_sem_value(const weft_sem *sem);
WEFT_API void weft_sem_free(weft_sem *sem);

/* --------------------------------------------------------------- barrier */

/* asyncio.Barrier(parties). wait() returns the caller's arrival index
 * (0 .. parties-1) once parties tasks have arrived, WEFT_EBROKEN if the
 * barrier is aborted or reset while it waits or is broken when it comes.
 * A cancelled waiter just leaves (the barrier waits for another party). */
WEFT_API WEFT_MUST_CHECK int weft_barrier_new(unsigned parties, weft_barrier **out);
WEFT_API WEFT_MUST_CHECK int weft_barrier_wait(weft_barrier *barrier);
/* Breaks the barrier: current and future waits return WEFT_EBROKEN. */
WEFT_API int weft_barrier_abort(weft_barrier *barrier);
/* Back to the empty state; current waiters get WEFT_EBROKEN. */
WEFT_API int weft_barrier_reset(weft_barrier *barrier);
WEFT_API int weft_barrier_parties(const weft_barrier *barrier);
WEFT_API int weft_barrier_n_waiting(const weft_barrier *barrier);
WEFT_API int weft_barrier_broken(const weft_barrier *barrier);
WEFT_API void weft_barrier_free(weft_barrier *barrier);

/* ----------------------------------------------------------------- queue */

/* asyncio.Queue / LifoQueue / PriorityQueue of void * items (the queue
 * never owns or frees them). maxsize 0 means unbounded. A priority queue
 * gives the smallest item first by cmp(item_a, item_b) (items passed as
 * they were put, not pointers to them; order among equals unspecified). */
WEFT_API WEFT_MUST_CHECK int weft_queue_new(size_t maxsize, weft_queue **out);
WEFT_API WEFT_MUST_CHECK int weft_queue_new_lifo(size_t maxsize, weft_queue **out);
WEFT_API WEFT_MUST_CHECK int
weft_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b), weft_queue **out);
/* Waits while the queue is full. WEFT_ESHUTDOWN once shut down; -ENOMEM if
 * the buffer could not grow. */
WEFT_API WEFT_MUST_CHECK int weft_queue_put(weft_queue *q, void *item);
/* Waits while the queue is empty. WEFT_ESHUTDOWN when shut down and empty. */
WEFT_API WEFT_MUST_CHECK int weft_queue_get(weft_queue *q, void **item);
/* As put/get, -EAGAIN instead of waiting; usable from callbacks. */
WEFT_API int weft_queue_put_nowait(weft_queue *q, void *item);
WEFT_API int weft_queue_get_nowait(weft_queue *q, void **item);
/* One item got earlier is processed; -EINVAL if called more often than
 * items were put. join waits until every item put is done. */
WEFT_API int weft_queue_task_done(weft_queue *q);
WEFT_API WEFT_MUST_CHECK int weft_queue_join(weft_queue *q);
WEFT_API size_t weft_queue_size(const weft_queue *q);
WEFT_API int weft_queue_empty(const weft_queue *q);
WEFT_API int weft_queue_full(const weft_queue *q);
WEFT_API size_t weft_queue_maxsize(const weft_queue *q);
/* Python 3.13's Queue.shutdown: puts fail with WEFT_ESHUTDOWN from now on,
 * and so do gets once the queue is empty; waiting putters and getters are
 * woken with it. immediate: the items left are forgotten (counted as done
 * for join) — get_nowait them first if they need freeing. */
WEFT_API int weft_queue_shutdown(weft_queue *q, int immediate);
WEFT_API void weft_queue_free(weft_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SYNC_H */
