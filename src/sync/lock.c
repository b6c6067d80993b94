/* lock: asyncio.Lock. The lock belongs to a task; release hands it straight
 * to the task that waited longest, so a newcomer never barges in (FIFO) and
 * a waiter cancelled after the hand-over still holds it (it returns 0 and
 * meets the cancel at its next wait). */
#include <errno.h>
#include <stdlib.h>

#include "sync/sync.h"

struct weft_lock {
    weft_loop *loop;
    weft_task *owner; /* NULL: free */
    weft__waitq waiters;
};

int weft_lock_new(weft_lock **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_lock *lock = weft__malloc(sizeof *lock);
    if (lock == NULL)
        return -ENOMEM;
    lock->loop = loop;
    lock->owner = NULL;
    weft__waitq_init(&lock->waiters);
    *out = lock;
    return 0;
}

/* Free and nobody queued: a waiter always gets the lock before anyone
 * else, since release hands it over without ever leaving it free. */
static bool lock_take(weft_lock *lock, weft_task *self)
{
    if (lock->owner != NULL)
        return false;
    lock->owner = self;
    return true;
}

int weft_lock_acquire(weft_lock *lock)
{
    if (lock == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(lock->loop);
    if (rc != 0)
        return rc;
    weft_task *self = weft__task_current();
    if (lock_take(lock, self))
        return 0;
    if (lock->owner == self)
        return -EDEADLK;
    weft__waiter wt = {.shielded = false};
    return weft__waitq_park(&lock->waiters, &wt, "lock", lock);
}

int weft__lock_acquire_shielded(weft_lock *lock, bool *cancelled)
{
    *cancelled = false;
    if (lock_take(lock, weft__task_current()))
        return 0;
    weft__waiter wt = {.shielded = true};
    int rc = weft__waitq_park(&lock->waiters, &wt, "lock", lock);
    *cancelled = wt.cancelled;
    return rc;
}

int weft_lock_try_acquire(weft_lock *lock)
{
    if (lock == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(lock->loop);
    if (rc != 0)
        return rc;
    return lock_take(lock, weft__task_current()) ? 0 : -EAGAIN;
}

void weft__lock_release_owned(weft_lock *lock)
{
    weft__waiter *wt = weft__waitq_pop(&lock->waiters);
    if (wt == NULL) {
        lock->owner = NULL;
        return;
    }
    lock->owner = wt->task; /* handed over before the wake: see the header */
    weft__waiter_wake(wt, 0);
}

int weft_lock_release(weft_lock *lock)
{
    if (lock == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(lock->loop);
    if (rc != 0)
        return rc;
    if (lock->owner == NULL || lock->owner != weft__task_current())
        return -EPERM;
    weft__lock_release_owned(lock);
    return 0;
}

int weft_lock_locked(const weft_lock *lock)
{
    if (lock == NULL)
        return -EINVAL;
    return lock->owner != NULL;
}

weft_task *weft__lock_owner(const weft_lock *lock)
{
    return lock->owner;
}

weft_loop *weft__lock_loop(const weft_lock *lock)
{
    return lock->loop;
}

void weft_lock_free(weft_lock *lock)
{
    if (lock == NULL)
        return;
    weft__waitq_wake_all(&lock->waiters, WEFT_ECLOSED);
    free(lock);
}
