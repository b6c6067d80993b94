/* event: asyncio.Event. set wakes every waiter at once; a waiter woken
 * keeps its success even if the event is cleared before it runs, as in
 * asyncio. */
#include <errno.h>
#include <stdlib.h>

#include "sync/sync.h"

struct weft_event {
    weft_loop *loop;
    bool set;
    weft__waitq waiters;
};

int weft_event_new(weft_event **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_event *ev = weft__malloc(sizeof *ev);
    if (ev == NULL)
        return -ENOMEM;
    ev->loop = loop;
    ev->set = false;
    weft__waitq_init(&ev->waiters);
    *out = ev;
    return 0;
}

int weft_event_set(weft_event *ev)
{
    if (ev == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(ev->loop);
    if (rc != 0)
        return rc;
    if (!ev->set) {
        ev->set = true;
        weft__waitq_wake_all(&ev->waiters, 0);
    }
    return 0;
}

int weft_event_clear(weft_event *ev)
{
    if (ev == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(ev->loop);
    if (rc != 0)
        return rc;
    ev->set = false;
    return 0;
}

int weft_event_is_set(const weft_event *ev)
{
    if (ev == NULL)
        return -EINVAL;
    return ev->set;
}

int weft_event_wait(weft_event *ev)
{
    if (ev == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(ev->loop);
    if (rc != 0)
        return rc;
    if (ev->set)
        return 0;
    weft__waiter wt = {.shielded = false};
    return weft__waitq_park(&ev->waiters, &wt, "event", ev);
}

void weft_event_free(weft_event *ev)
{
    if (ev == NULL)
        return;
    weft__waitq_wake_all(&ev->waiters, WEFT_ECLOSED);
    free(ev);
}
