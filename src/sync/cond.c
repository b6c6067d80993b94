/* cond: asyncio.Condition. wait releases the lock, parks until notified,
 * and re-acquires the lock however it ends: the re-acquire cannot be cut
 * short by a cancel (it is recorded and reported after), and a notification
 * that a cancelled waiter can no longer use is passed on to the next. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "sync/sync.h"

struct weft_cond {
    weft_loop *loop;
    weft_lock *lock;
    bool own_lock;
    weft__waitq waiters;
};

int weft_cond_new(weft_lock *lock, weft_cond **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_cond *cond = weft__malloc(sizeof *cond);
    if (cond == NULL)
        return -ENOMEM;
    cond->own_lock = lock == NULL;
    if (lock == NULL) {
        int rc = weft_lock_new(&lock);
        if (rc != 0) {
            free(cond);
            return rc;
        }
    } else if (weft__sync_check_call(weft__lock_loop(lock)) != 0) {
        free(cond);
        return WEFT_EFOREIGN;
    }
    cond->loop = loop;
    cond->lock = lock;
    weft__waitq_init(&cond->waiters);
    *out = cond;
    return 0;
}

weft_lock *weft_cond_lock(weft_cond *cond)
{
    return cond ? cond->lock : NULL;
}

/* 0 when the caller is a task of the condition's loop holding its lock. */
static int check_holder(weft_cond *cond, bool wait)
{
    if (cond == NULL)
        return -EINVAL;
    int rc = wait ? weft__sync_check_wait(cond->loop) : weft__sync_check_call(cond->loop);
    if (rc != 0)
        return rc;
    weft_task *self = weft__task_current();
    return self != NULL && weft__lock_owner(cond->lock) == self ? 0 : -EPERM;
}

static int cond_notify(weft_cond *cond, size_t n)
{
    int woken = 0;
    weft__waiter *wt;
    while ((size_t)woken < n && woken < INT32_MAX && (wt = weft__waitq_pop(&cond->waiters))) {
        weft__waiter_wake(wt, 0);
        woken++;
    }
    return woken;
}

int weft_cond_wait(weft_cond *cond)
{
    int rc = check_holder(cond, true);
    if (rc != 0)
        return rc;
    weft_lock *lock = cond->lock;
    weft__lock_release_owned(lock);
    weft__waiter wt = {.shielded = false};
    rc = weft__waitq_park(&cond->waiters, &wt, "condition", cond);
    if (rc == WEFT_ECLOSED)
        return rc; /* the condition was freed under us: touch nothing */
    bool cancelled;
    int arc = weft__lock_acquire_shielded(lock, &cancelled);
    if (arc != 0)
        return arc;
    if (cancelled) {
        if (rc == 0)
            cond_notify(cond, 1); /* the notification we got, unused */
        rc = WEFT_ECANCELED;
    }
    return rc;
}

int weft_cond_wait_for(weft_cond *cond, int (*pred)(void *arg), void *arg)
{
    if (pred == NULL)
        return -EINVAL;
    int rc = check_holder(cond, true);
    while (rc == 0 && !pred(arg))
        rc = weft_cond_wait(cond);
    return rc;
}

int weft_cond_notify(weft_cond *cond, size_t n)
{
    int rc = check_holder(cond, false);
    return rc != 0 ? rc : cond_notify(cond, n);
}

int weft_cond_notify_all(weft_cond *cond)
{
    return weft_cond_notify(cond, SIZE_MAX);
}

void weft_cond_free(weft_cond *cond)
{
    if (cond == NULL)
        return;
    weft__waitq_wake_all(&cond->waiters, WEFT_ECLOSED);
    if (cond->own_lock)
        weft_lock_free(cond->lock);
    free(cond);
}
