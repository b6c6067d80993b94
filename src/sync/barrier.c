/* barrier: asyncio.Barrier. A round fills until the last party arrives,
 * then drains: the parties leave one by one, and tasks that arrive for the
 * next round wait until the last has left. abort breaks it for good; reset
 * breaks the current round only. Each waiter is woken with its outcome
 * (0 or WEFT_EBROKEN), fixed when it is woken. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "sync/sync.h"

enum { FILLING, DRAINING, RESETTING, BROKEN };

struct weft_barrier {
    weft_loop *loop;
    unsigned parties;
    unsigned count; /* arrived this round and not left yet */
    int state;
    weft__waitq filling; /* arrived, waiting for the round to complete */
    weft__waitq blocked; /* came while the last round drained or reset */
};

int weft_barrier_new(unsigned parties, weft_barrier **out)
{
    if (out == NULL || parties == 0 || parties > INT_MAX)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_barrier *b = weft__malloc(sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    b->loop = loop;
    b->parties = parties;
    b->count = 0;
    b->state = FILLING;
    weft__waitq_init(&b->filling);
    weft__waitq_init(&b->blocked);
    *out = b;
    return 0;
}

/* A party leaves; the last one out opens the barrier for the next round. */
static void barrier_leave(weft_barrier *b)
{
    if (--b->count > 0)
        return;
    if (b->state == DRAINING || b->state == RESETTING)
        b->state = FILLING;
    weft__waitq_wake_all(&b->blocked, 0);
}

/* The parties parked in the filling round (cancelled ones have left the
 * queue). */
static unsigned barrier_queued(const weft_barrier *b)
{
    unsigned n = 0;
    for (const weft__link *l = b->filling.head.next; l != &b->filling.head; l = l->next)
        n++;
    return n;
}

int weft_barrier_wait(weft_barrier *b)
{
    if (b == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(b->loop);
    if (rc != 0)
        return rc;
    while (b->state == DRAINING || b->state == RESETTING) {
        weft__waiter wt = {.shielded = false};
        rc = weft__waitq_park(&b->blocked, &wt, "barrier (draining)", b);
        if (rc != 0)
            return rc;
    }
    if (b->state == BROKEN)
        return WEFT_EBROKEN;
    /* Two things are settled when the round completes, not at arrival
     * (both found by test_wait_storm's barrier storm, seed 8080):
     * - Who is in it. A waiter cancelled while the round fills leaves the
     *   queue at once, but count drops only when it runs again: an arrival
     *   in between that brought count to parties opened the barrier with a
     *   party short. The round completes when the parties still queued
     *   and this one make parties (count, which includes the leavers, is
     *   only the cue to count them).
     * - The arrival indices. Given at arrival, a leaver's index went to
     *   the next to come while another party still held the index that
     *   one would have had: one index twice in a round and one never
     *   (asyncio's Barrier has the same flaw). The queued parties, in
     *   arrival order, are woken with 0 .. parties-2 as their wake code;
     *   this one, the last, is parties-1. */
    b->count++;
    if (b->count >= b->parties && barrier_queued(b) + 1 == b->parties) {
        b->state = DRAINING;
        int index = 0;
        weft__waiter *wt;
        while ((wt = weft__waitq_pop(&b->filling)) != NULL)
            weft__waiter_wake(wt, index++);
        rc = index; /* parties - 1 */
    } else {
        weft__waiter wt = {.shielded = false};
        rc = weft__waitq_park(&b->filling, &wt, "barrier", b);
        if (rc == WEFT_ECLOSED)
            return rc;
    }
    barrier_leave(b);
    return rc; /* the index, or WEFT_EBROKEN / WEFT_ECANCELED */
}

int weft_barrier_abort(weft_barrier *b)
{
    if (b == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(b->loop);
    if (rc != 0)
        return rc;
    b->state = BROKEN;
    weft__waitq_wake_all(&b->filling, WEFT_EBROKEN);
    weft__waitq_wake_all(&b->blocked, 0); /* they will find it broken */
    return 0;
}

int weft_barrier_reset(weft_barrier *b)
{
    if (b == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(b->loop);
    if (rc != 0)
        return rc;
    if (b->count > 0) {
        /* Waiters of this round leave broken; the last one out refills. */
        if (b->state != DRAINING)
            b->state = RESETTING;
        weft__waitq_wake_all(&b->filling, WEFT_EBROKEN);
    } else {
        b->state = FILLING;
        weft__waitq_wake_all(&b->blocked, 0);
    }
    return 0;
}

int weft_barrier_parties(const weft_barrier *b)
{
    return b ? (int)b->parties : -EINVAL;
}

int weft_barrier_n_waiting(const weft_barrier *b)
{
    if (b == NULL)
        return -EINVAL;
    /* The queued ones: count also has cancelled waiters yet to leave. */
    return b->state == FILLING ? (int)barrier_queued(b) : 0;
}

int weft_barrier_broken(const weft_barrier *b)
{
    if (b == NULL)
        return -EINVAL;
    return b->state == BROKEN;
}

void weft_barrier_free(weft_barrier *b)
{
    if (b == NULL)
        return;
    weft__waitq_wake_all(&b->filling, WEFT_ECLOSED);
    weft__waitq_wake_all(&b->blocked, WEFT_ECLOSED);
    free(b);
}
