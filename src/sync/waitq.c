/* waitq: parking on a sync primitive's FIFO list of waiters. One cancel
 * rule for all of them: a cancelled waiter leaves the list at once, so the
 * next waker finds only tasks that still want what it hands over. */
#include "sync/sync.h"

bool weft__waiter_cancel(weft__wait *w)
{
    weft__waiter *wt = WEFT_CONTAINER_OF(w, weft__waiter, w);
    if (wt->shielded) {
        /* Keeps its place; the site finishes the wait and reports it. */
        wt->cancelled = true;
        return false;
    }
    weft__list_remove(&wt->link);
    return true;
}

size_t weft__waitq_wake_all(weft__waitq *q, int code)
{
    size_t n = 0;
    weft__waiter *wt;
    while ((wt = weft__waitq_pop(q)) != NULL) {
        weft__waiter_wake(wt, code);
        n++;
    }
    return n;
}
