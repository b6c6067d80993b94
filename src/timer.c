/* timer: the loop's clock and its timer heap. Sleeps, timeout scopes,
 * call_later and waits with deadlines all embed a weft__timer; one libuv
 * timer wakes the loop for the earliest of them. A binary heap keyed by
 * (deadline, insertion order) keeps equal deadlines first-in first-out. */
#include <errno.h>
#include <math.h>
#include <time.h>

#include "internal.h"

uint64_t weft__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec weft__timespec_of(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
                             .tv_nsec = (long)(ns % 1000000000u)};
}

double weft_time(void)
{
    return (double)weft__now_ns() / 1e9;
}

int weft__deadline_at(double when, uint64_t *deadline)
{
    if (isnan(when))
        return -EINVAL;
    if (when >= WEFT__FOREVER_SECONDS)
        *deadline = UINT64_MAX;
    else if (when <= 0)
        *deadline = 0;
    else
        *deadline = (uint64_t)(when * 1e9);
    return 0;
}

int weft__deadline_after(double seconds, uint64_t *deadline)
{
    if (isnan(seconds))
        return -EINVAL;
    if (seconds >= WEFT__FOREVER_SECONDS) {
        *deadline = UINT64_MAX;
        return 0;
    }
    uint64_t now = weft__now_ns();
    *deadline = seconds <= 0 ? now : now + (uint64_t)(seconds * 1e9);
    return 0;
}

static bool before(const weft__timer *a, const weft__timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(weft__timer_heap *h, size_t i, weft__timer *t)
{
    h->items[i] = t;
    t->index = i;
}

static void sift_up(weft__timer_heap *h, size_t i)
{
    weft__timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(weft__timer_heap *h, size_t i)
{
    weft__timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && before(h->items[child + 1], h->items[child]))
            child++;
        if (!before(h->items[child], t))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

int weft__timer_start(weft_loop *loop, weft__timer *t, uint64_t when)
{
    weft__timer_heap *h = &loop->timers;
    if (weft__timer_armed(t))
        weft__timer_stop(loop, t);
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        weft__timer **items = weft__realloc(h->items, cap * sizeof *items);
        if (items == NULL)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    t->when = when;
    t->seq = h->next_seq++;
    place(h, h->count++, t);
    sift_up(h, t->index);
    return 0;
}

void weft__timer_stop(weft_loop *loop, weft__timer *t)
{
    weft__timer_heap *h = &loop->timers;
    size_t i = t->index;
    if (i == SIZE_MAX)
        return;
    t->index = SIZE_MAX;
    weft__timer *last = h->items[--h->count];
    if (i == h->count)
        return;
    place(h, i, last);
    if (i > 0 && before(last, h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

/* Fires the timers due at now. Timers armed by a callback for a time that
 * has already passed wait for the next round, so a callback that re-arms
 * itself cannot starve the loop. */
void weft__timers_run(weft_loop *loop, uint64_t now)
{
    weft__timer_heap *h = &loop->timers;
    uint64_t seq_limit = h->next_seq;
    while (h->count > 0) {
        weft__timer *t = h->items[0];
        if (t->when > now || t->seq >= seq_limit)
            break;
        weft__timer_stop(loop, t);
        t->fn(t);
    }
}
