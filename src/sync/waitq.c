/* waitq: parking on a sync primitive's FIFO list of waiters. One cancel
 * rule for all of them: a cancelled waiter leaves the list at once, so the
 * next waker finds only tasks that still want what it hands over. */
#include "sync/sync.h"

#include <errno.h>

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

int weft__waitq_park_moved(weft__waitq *q, weft__waiter *wt, const char *what, const void *obj)
{
    weft_loop *loop = weft__loop_current();
    weft__waiter *moved = weft__slab_alloc(&loop->compact.slab, sizeof *moved);
    if (moved == NULL)
        return -ENOMEM;
    *moved = *wt;
    moved->w.cancel = weft__waiter_cancel;
    moved->w.what = what;
    moved->w.kind = WEFT__WAIT_OTHER;
    moved->w.obj = obj;
    moved->task = loop->current;
    moved->cancelled = false;
    weft__list_push_back(&q->head, &moved->link);
    int rc = weft__park(&moved->w);
    /* Unlinked by now: by the waker, or by its cancel (a shielded waiter
     * stays until the hand-off). */
    *wt = *moved;
    weft__list_init(&wt->link);
    weft__slab_free(&loop->compact.slab, moved, sizeof *moved);
    return rc;
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
