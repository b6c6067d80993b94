/* sync: the layer of asyncio's primitives (lock, event, condition,
 * semaphore, barrier, queues), built on core alone. Its contract is the
 * wait queue (waitq.c): the FIFO list of parked tasks that every primitive
 * keeps, and the hand-off rule they share: the waker unlinks a waiter, gives it what it
 * waits for (stored in the waiter or in the object), then wakes it. A
 * cancelled waiter unlinks itself, so it never takes a wakeup from another. */
#ifndef WEFT__LAYER_SYNC_H
#define WEFT__LAYER_SYNC_H

#include "core/core.h"

typedef struct weft__waitq {
    weft__link head;
} weft__waitq;

typedef struct weft__waiter {
    weft__wait w;
    weft__link link;
    weft_task *task;
    void *item;     /* what a hand-off carries (a queue item), either way */
    bool shielded;  /* a cancel is recorded, not delivered (cond re-acquire) */
    bool cancelled; /* a shielded waiter was cancelled */
} weft__waiter;

static inline void weft__waitq_init(weft__waitq *q)
{
    weft__list_init(&q->head);
}

static inline bool weft__waitq_empty(const weft__waitq *q)
{
    return weft__list_empty(&q->head);
}

/* Unlinks the waiter that came first, or returns NULL. */
static inline weft__waiter *weft__waitq_pop(weft__waitq *q)
{
    weft__link *l = weft__list_pop_front(&q->head);
    return l ? WEFT_CONTAINER_OF(l, weft__waiter, link) : NULL;
}

/* Wakes a waiter already unlinked (by weft__waitq_pop); its park returns
 * code. */
static inline void weft__waiter_wake(weft__waiter *wt, int code)
{
    weft__wake(wt->task, code);
}

bool weft__waiter_cancel(weft__wait *w);
/* weft__waitq_park for a compact task: its waiter moves to the slab while
 * it is parked (compact.h: nothing others write may stay on its stack),
 * and what the waker left in it is copied back. -ENOMEM if the slab has
 * no room. */
int weft__waitq_park_moved(weft__waitq *q, weft__waiter *wt, const char *what, const void *obj);

/* Links the current task at the back of q and parks it; returns the wake
 * code, or WEFT_ECANCELED once unlinked (WEFT_EFORKED in a forked child,
 * without parking). wt lives on the caller's stack (a compact task's is
 * moved while it is parked, see below); wt->item and wt->shielded are the
 * caller's to set before, wt->item and wt->cancelled to read after. Inline: one call less
 * between a wait site and the stack switch, one return less mispredicted
 * when the task resumes. */
static inline int weft__waitq_park(weft__waitq *q, weft__waiter *wt, const char *what,
                                   const void *obj)
{
    int rc = weft__check_task();
    if (WEFT_UNLIKELY(rc != 0))
        return rc;
    if (WEFT_UNLIKELY(weft__task_current()->stack_kind != WEFT__STACK_OWN))
        return weft__waitq_park_moved(q, wt, what, obj);
    wt->w.cancel = weft__waiter_cancel;
    wt->w.what = what;
    wt->w.kind = WEFT__WAIT_OTHER;
    wt->w.obj = obj;
    wt->task = weft__task_current();
    wt->cancelled = false;
    weft__list_push_back(&q->head, &wt->link);
    return weft__park(&wt->w);
}

/* Wakes every waiter with code; returns how many. */
size_t weft__waitq_wake_all(weft__waitq *q, int code);

/* The checks every sync call starts with. A call that may wait must come
 * from a task of the object's loop; one that never waits (release, set,
 * put_nowait) from anything running on that loop, callbacks included.
 * The fast path reads the thread's loop once; the slow path names the
 * error. (A forked child is refused where it would park: weft__waitq_park.) */
static inline int weft__sync_check_wait(const weft_loop *obj_loop)
{
    weft_loop *loop = weft__loop_current();
    if (WEFT_LIKELY(loop == obj_loop && loop->current != NULL))
        return 0;
    int rc = weft__check_task();
    return rc != 0 ? rc : WEFT_EFOREIGN;
}
static inline int weft__sync_check_call(const weft_loop *obj_loop)
{
    return weft__check_loop(obj_loop);
}
/* The loop a new object belongs to: the one running here, or NULL. */
static inline weft_loop *weft__sync_loop(void)
{
    return weft__loop_current();
}

/* The lock's internals the condition needs (lock.c). */
weft_task *weft__lock_owner(const weft_lock *lock);
weft_loop *weft__lock_loop(const weft_lock *lock);
/* Acquires without letting a cancel cut the wait short: *cancelled tells
 * whether one came. 0, or WEFT_ECLOSED if the lock was freed. */
int weft__lock_acquire_shielded(weft_lock *lock, bool *cancelled);
/* Release by its owner, checks done. */
void weft__lock_release_owned(weft_lock *lock);

#endif
