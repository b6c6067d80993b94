/* sem: asyncio.Semaphore and BoundedSemaphore. A release with tasks waiting
 * hands its unit straight to the first of them (the value stays 0), so a
 * newcomer cannot take it first and a waiter cancelled after the hand-over
 * keeps it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "sync/sync.h"

struct weft_sem {
    weft_loop *loop;
    unsigned value;
    unsigned bound;
    bool bounded;
    weft__waitq waiters; /* never empty while value > 0 */
};

static int sem_new(weft_sem **out, unsigned value, bool bounded)
{
    if (out == NULL || value > INT_MAX)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_sem *sem = weft__malloc(sizeof *sem);
    if (sem == NULL)
        return -ENOMEM;
    sem->loop = loop;
    sem->value = value;
    sem->bound = value;
    sem->bounded = bounded;
    weft__waitq_init(&sem->waiters);
    *out = sem;
    return 0;
}

int weft_sem_new(unsigned value, weft_sem **out)
{
    return sem_new(out, value, false);
}

int weft_sem_new_bounded(weft_sem **out, unsigned value)
{
    return sem_new(out, value, true);
}

int weft_sem_acquire(weft_sem *sem)
{
    if (sem == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(sem->loop);
    if (rc != 0)
        return rc;
    if (sem->value > 0) {
        sem->value--;
        return 0;
    }
    weft__waiter wt = {.shielded = false};
    return weft__waitq_park(&sem->waiters, &wt, "semaphore", sem);
}

int weft_sem_try_acquire(weft_sem *sem)
{
    if (sem == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(sem->loop);
    if (rc != 0)
        return rc;
    if (sem->value == 0)
        return -EAGAIN;
    sem->value--;
    return 0;
}

int weft_sem_release(weft_sem *sem)
{
    if (sem == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(sem->loop);
    if (rc != 0)
        return rc;
    if (sem->bounded ? sem->value >= sem->bound : sem->value >= INT_MAX)
        return -EOVERFLOW; /* asyncio: "BoundedSemaphore released too many times" */
    weft__waiter *wt = weft__waitq_pop(&sem->waiters);
    if (wt != NULL)
        weft__waiter_wake(wt, 0);
    else
        sem->value++;
    return 0;
}

int weft_sem_value(const weft_sem *sem)
{
    return sem ? (int)sem->value : -EINVAL;
}

void weft_sem_free(weft_sem *sem)
{
    if (sem == NULL)
        return;
    weft__waitq_wake_all(&sem->waiters, WEFT_ECLOSED);
    free(sem);
}
