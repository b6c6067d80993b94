/* queue: asyncio.Queue, LifoQueue and PriorityQueue of void * items, with
 * Python 3.13's shutdown. Items live in one growable array (a ring for
 * FIFO and LIFO, a binary heap for priority), never one allocation per item.
 * Hand-over is direct: a put finding a getter parked gives it the item, a
 * get freeing a slot moves the first parked putter's item in. A waiter is
 * woken only once its item is given or taken, so a cancel that comes after
 * cannot lose an item, and a cancelled waiter leaves its list at once. */
#include <errno.h>
#include <stdlib.h>

#include "sync/sync.h"

enum { FIFO, LIFO, PRIORITY };

#define QUEUE_INITIAL_CAP 16

struct weft_queue {
    void **buf;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t head; /* ring: index of the oldest item (FIFO, LIFO) */
    size_t count;
    size_t maxsize; /* 0: unbounded */
    size_t unfinished;
    int (*cmp)(const void *a, const void *b);
    weft_loop *loop;
    uint8_t kind;
    bool shutdown;
    weft__waitq getters; /* only while empty */
    weft__waitq putters; /* only while full */
    weft__waitq joiners;
};

/* ----------------------------------------------------------- the storage */

/* Room for one more item: doubles the array, keeping the ring in order. */
static int queue_grow(weft_queue *q)
{
    size_t cap = q->mask + 1, ncap = cap * 2;
    if (ncap < cap || ncap > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    void **nbuf = weft__malloc(ncap * sizeof *nbuf);
    if (nbuf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        nbuf[i] = q->buf[(q->head + i) & q->mask];
    free(q->buf);
    q->buf = nbuf;
    q->head = 0;
    q->mask = ncap - 1;
    return 0;
}

static void heap_push(weft_queue *q, void *item)
{
    size_t i = q->count;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->cmp(q->buf[parent], item) <= 0)
            break;
        q->buf[i] = q->buf[parent];
        i = parent;
    }
    q->buf[i] = item;
}

static void *heap_pop(weft_queue *q)
{
    void *top = q->buf[0], *last = q->buf[q->count]; /* count already lowered */
    size_t i = 0, n = q->count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && q->cmp(q->buf[c + 1], q->buf[c]) < 0)
            c++;
        if (q->cmp(last, q->buf[c]) <= 0)
            break;
        q->buf[i] = q->buf[c];
        i = c;
    }
    q->buf[i] = last;
    return top;
}

/* Stores an item; the caller checked maxsize. 0 or -ENOMEM. */
static inline int queue_push(weft_queue *q, void *item)
{
    if (WEFT_UNLIKELY(q->count > q->mask)) {
        int rc = queue_grow(q);
        if (rc != 0)
            return rc;
    }
    if (WEFT_UNLIKELY(q->kind == PRIORITY))
        heap_push(q, item);
    else
        q->buf[(q->head + q->count) & q->mask] = item;
    q->count++;
    return 0;
}

/* Takes the next item; the queue is not empty. */
static inline void *queue_pop(weft_queue *q)
{
    q->count--;
    if (WEFT_LIKELY(q->kind == FIFO)) {
        void *item = q->buf[q->head];
        q->head = (q->head + 1) & q->mask;
        return item;
    }
    if (q->kind == LIFO)
        return q->buf[(q->head + q->count) & q->mask];
    return heap_pop(q);
}

/* ------------------------------------------------------------- life cycle */

static int queue_new(weft_queue **out, size_t maxsize, int kind,
                     int (*cmp)(const void *, const void *))
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop *loop = weft__sync_loop();
    if (loop == NULL)
        return WEFT_ENOTASK;
    weft_queue *q = weft__malloc(sizeof *q);
    if (q == NULL)
        return -ENOMEM;
    /* A bounded queue smaller than the first array never grows. */
    size_t cap = QUEUE_INITIAL_CAP;
    while (maxsize != 0 && cap / 2 >= maxsize && cap > 1)
        cap /= 2;
    q->buf = weft__malloc(cap * sizeof *q->buf);
    if (q->buf == NULL) {
        free(q);
        return -ENOMEM;
    }
    q->mask = cap - 1;
    q->head = q->count = q->unfinished = 0;
    q->maxsize = maxsize;
    q->cmp = cmp;
    q->loop = loop;
    q->kind = (uint8_t)kind;
    q->shutdown = false;
    weft__waitq_init(&q->getters);
    weft__waitq_init(&q->putters);
    weft__waitq_init(&q->joiners);
    *out = q;
    return 0;
}

int weft_queue_new(size_t maxsize, weft_queue **out)
{
    return queue_new(out, maxsize, FIFO, NULL);
}

int weft_queue_new_lifo(size_t maxsize, weft_queue **out)
{
    return queue_new(out, maxsize, LIFO, NULL);
}

int weft_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b),
                            weft_queue **out)
{
    if (cmp == NULL) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return queue_new(out, maxsize, PRIORITY, cmp);
}

void weft_queue_free(weft_queue *q)
{
    if (q == NULL)
        return;
    weft__waitq_wake_all(&q->getters, WEFT_ECLOSED);
    weft__waitq_wake_all(&q->putters, WEFT_ECLOSED);
    weft__waitq_wake_all(&q->joiners, WEFT_ECLOSED);
    free(q->buf);
    free(q);
}

/* -------------------------------------------------------------------- put */

/* put without waiting: 0, -EAGAIN when full, WEFT_ESHUTDOWN, -ENOMEM. */
static inline int queue_put_now(weft_queue *q, void *item)
{
    if (WEFT_UNLIKELY(q->shutdown))
        return WEFT_ESHUTDOWN;
    weft__waiter *getter = weft__waitq_pop(&q->getters);
    if (getter != NULL) { /* then the queue is empty: straight to the getter */
        getter->item = item;
        q->unfinished++;
        weft__waiter_wake(getter, 0);
        return 0;
    }
    if (q->maxsize != 0 && q->count >= q->maxsize)
        return -EAGAIN;
    int rc = queue_push(q, item);
    if (WEFT_LIKELY(rc == 0))
        q->unfinished++;
    return rc;
}

int weft_queue_put(weft_queue *q, void *item)
{
    if (WEFT_UNLIKELY(q == NULL))
        return -EINVAL;
    int rc = weft__sync_check_wait(q->loop);
    if (WEFT_UNLIKELY(rc != 0))
        return rc;
    rc = queue_put_now(q, item);
    if (WEFT_LIKELY(rc != -EAGAIN))
        return rc;
    /* Full: park with the item; a get moves it in before waking us. */
    weft__waiter wt = {.item = item, .shielded = false};
    return weft__waitq_park(&q->putters, &wt, "queue put", q);
}

int weft_queue_put_nowait(weft_queue *q, void *item)
{
    if (q == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(q->loop);
    return rc != 0 ? rc : queue_put_now(q, item);
}

/* -------------------------------------------------------------------- get */

/* get without waiting: 0, -EAGAIN when empty, WEFT_ESHUTDOWN when empty and
 * shut down. */
static inline int queue_get_now(weft_queue *q, void **item)
{
    if (WEFT_UNLIKELY(q->count == 0))
        return q->shutdown ? WEFT_ESHUTDOWN : -EAGAIN;
    *item = queue_pop(q);
    weft__waiter *putter = weft__waitq_pop(&q->putters);
    if (WEFT_UNLIKELY(putter != NULL)) {
        /* The slot just freed is the putter's; a slot existed, so no
         * allocation can fail here. */
        queue_push(q, putter->item);
        q->unfinished++;
        weft__waiter_wake(putter, 0);
    }
    return 0;
}

int weft_queue_get(weft_queue *q, void **item)
{
    if (WEFT_UNLIKELY(q == NULL || item == NULL))
        return -EINVAL;
    int rc = weft__sync_check_wait(q->loop);
    if (WEFT_UNLIKELY(rc != 0))
        return rc;
    rc = queue_get_now(q, item);
    if (WEFT_LIKELY(rc != -EAGAIN))
        return rc;
    /* Empty: park; a put hands its item to us before waking us. */
    weft__waiter wt = {.item = NULL, .shielded = false};
    rc = weft__waitq_park(&q->getters, &wt, "queue get", q);
    if (WEFT_LIKELY(rc == 0))
        *item = wt.item;
    return rc;
}

int weft_queue_get_nowait(weft_queue *q, void **item)
{
    if (q == NULL || item == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(q->loop);
    return rc != 0 ? rc : queue_get_now(q, item);
}

/* ------------------------------------------------------- task_done & join */

int weft_queue_task_done(weft_queue *q)
{
    if (q == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(q->loop);
    if (rc != 0)
        return rc;
    if (q->unfinished == 0)
        return -EINVAL; /* asyncio: "task_done() called too many times" */
    if (--q->unfinished == 0)
        weft__waitq_wake_all(&q->joiners, 0);
    return 0;
}

int weft_queue_join(weft_queue *q)
{
    if (q == NULL)
        return -EINVAL;
    int rc = weft__sync_check_wait(q->loop);
    if (rc != 0)
        return rc;
    if (q->unfinished == 0)
        return 0;
    weft__waiter wt = {.shielded = false};
    return weft__waitq_park(&q->joiners, &wt, "queue join", q);
}

/* ------------------------------------------------------ size and shutdown */

size_t weft_queue_size(const weft_queue *q)
{
    return q ? q->count : 0;
}

int weft_queue_empty(const weft_queue *q)
{
    return q ? q->count == 0 : -EINVAL;
}

int weft_queue_full(const weft_queue *q)
{
    return q ? q->maxsize != 0 && q->count >= q->maxsize : -EINVAL;
}

size_t weft_queue_maxsize(const weft_queue *q)
{
    return q ? q->maxsize : 0;
}

int weft_queue_shutdown(weft_queue *q, int immediate)
{
    if (q == NULL)
        return -EINVAL;
    int rc = weft__sync_check_call(q->loop);
    if (rc != 0)
        return rc;
    q->shutdown = true;
    if (immediate && q->count > 0) {
        q->unfinished = q->unfinished > q->count ? q->unfinished - q->count : 0;
        q->count = 0;
        q->head = 0;
        if (q->unfinished == 0)
            weft__waitq_wake_all(&q->joiners, 0);
    }
    /* Getters wait only on an empty queue, putters only on a full one
     * (never the case after an immediate shutdown): both are refused. */
    weft__waitq_wake_all(&q->getters, WEFT_ESHUTDOWN);
    weft__waitq_wake_all(&q->putters, WEFT_ESHUTDOWN);
    return 0;
}
