/* inbox: how other threads reach a loop. A mutex-protected FIFO of
 * messages and one uv_async_t; a post that finds the FIFO empty wakes the
 * loop, later ones ride on that wake-up (a burst costs one wake). The
 * inbox is reference-counted so that a worker still holding a completion
 * for a closed loop posts into a closed inbox instead of freed memory. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"

enum { INBOX_OPEN, INBOX_SHUTDOWN, INBOX_CLOSED };

struct weft__inbox {
    pthread_mutex_t mu;
    weft__msg *head, *tail; /* under mu */
    int state;              /* under mu; read racily only as a hint */
    unsigned refs;          /* atomic */
    uv_async_t async;
    weft_loop *loop;
    unsigned fork_gen; /* a child of fork() must not post: nobody would read it */
};

weft__inbox *weft__inbox_get(weft_loop *loop)
{
    weft__inbox *ib = loop->inbox.box;
    __atomic_add_fetch(&ib->refs, 1, __ATOMIC_RELAXED);
    return ib;
}

void weft__inbox_unref(weft__inbox *ib)
{
    if (__atomic_sub_fetch(&ib->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_mutex_destroy(&ib->mu);
        free(ib);
    }
}

weft_loop *weft__inbox_loop(weft__inbox *ib)
{
    return ib->loop;
}

bool weft__inbox_forked(weft__inbox *ib)
{
    return ib->fork_gen != weft__fork_gen();
}

bool weft__inbox_refusing(weft__inbox *ib)
{
    return __atomic_load_n(&ib->state, __ATOMIC_RELAXED) != INBOX_OPEN;
}

int weft__inbox_post(weft__inbox *ib, weft__msg *m)
{
    m->next = NULL;
    if (WEFT_UNLIKELY(ib->fork_gen != weft__fork_gen()))
        return WEFT_EFORKED; /* and its mutex may be held by a thread that is gone */
    pthread_mutex_lock(&ib->mu);
    if (ib->state == INBOX_CLOSED || (ib->state == INBOX_SHUTDOWN && m->submission)) {
        pthread_mutex_unlock(&ib->mu);
        return WEFT_ECLOSED;
    }
    bool was_empty = ib->head == NULL;
    if (was_empty)
        ib->head = m;
    else
        ib->tail->next = m;
    ib->tail = m;
    /* Under the mutex: the handle cannot be closed meanwhile. */
    if (was_empty)
        uv_async_send(&ib->async);
    pthread_mutex_unlock(&ib->mu);
    return 0;
}

static weft__msg *take_all(weft__inbox *ib)
{
    pthread_mutex_lock(&ib->mu);
    weft__msg *m = ib->head;
    ib->head = ib->tail = NULL;
    pthread_mutex_unlock(&ib->mu);
    return m;
}

/* On the loop's thread, scheduler stack: run what arrived, in order. */
static void inbox_async_cb(uv_async_t *async)
{
    weft__inbox *ib = WEFT_CONTAINER_OF(async, weft__inbox, async);
    weft__msg *m = take_all(ib);
    while (m) {
        weft__msg *next = m->next;
        m->run(m);
        m = next;
    }
}

int weft__inbox_init(weft_loop *loop)
{
    weft__inbox *ib = weft__calloc(1, sizeof *ib);
    if (ib == NULL)
        return -ENOMEM;
    int rc = uv_async_init(&loop->uv, &ib->async, inbox_async_cb);
    if (rc != 0) {
        free(ib);
        return rc;
    }
    pthread_mutex_init(&ib->mu, NULL);
    /* Unreferenced unless a task holds the loop: an idle inbox must not
     * hide a deadlock, nor keep uv_run from returning. */
    uv_unref((uv_handle_t *)&ib->async);
    ib->refs = 1;
    ib->loop = loop;
    ib->fork_gen = weft__fork_gen();
    loop->inbox.box = ib;
    return 0;
}

void weft__inbox_ref(weft_loop *loop, bool ref)
{
    if (loop->inbox.box == NULL)
        return;
    if (ref)
        uv_ref((uv_handle_t *)&loop->inbox.box->async);
    else
        uv_unref((uv_handle_t *)&loop->inbox.box->async);
}

bool weft__inbox_open(const weft_loop *loop)
{
    return loop->inbox.box != NULL && !weft__inbox_refusing(loop->inbox.box);
}

void weft__inbox_shutdown(weft_loop *loop)
{
    weft__inbox *ib = loop->inbox.box;
    pthread_mutex_lock(&ib->mu);
    if (ib->state == INBOX_OPEN)
        __atomic_store_n(&ib->state, INBOX_SHUTDOWN, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ib->mu);
}

static void inbox_closed_cb(uv_handle_t *handle)
{
    weft__inbox_unref(WEFT_CONTAINER_OF(handle, weft__inbox, async));
}

/* The loop closes: from now on every post fails, and what is queued fails
 * with WEFT_ECLOSED (a submission's future completes with it). */
void weft__inbox_close(weft_loop *loop)
{
    weft__inbox *ib = loop->inbox.box;
    if (ib == NULL)
        return;
    pthread_mutex_lock(&ib->mu);
    __atomic_store_n(&ib->state, INBOX_CLOSED, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ib->mu);
    weft__msg *m = take_all(ib);
    while (m) {
        weft__msg *next = m->next;
        m->fail(m, WEFT_ECLOSED);
        m = next;
    }
    loop->inbox.box = NULL;
    uv_close((uv_handle_t *)&ib->async, inbox_closed_cb);
}

/* ------------------------------------------------ call_soon_threadsafe */

typedef struct soon_msg {
    weft__msg msg;
    weft_cb cb;
    void *arg;
} soon_msg;

static void soon_run(weft__msg *m)
{
    soon_msg *s = (soon_msg *)m;
    s->cb(s->arg);
    free(s);
}

static void soon_fail(weft__msg *m, int code)
{
    (void)code;
    free(m);
}

int weft_call_soon_threadsafe(weft_loop *loop, weft_cb cb, void *arg)
{
    if (loop == NULL || cb == NULL)
        return -EINVAL;
    if (loop->inbox.box == NULL)
        return WEFT_ECLOSED;
    if (weft__loop_forked(loop))
        return WEFT_EFORKED;
    soon_msg *s = weft__malloc(sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->msg.run = soon_run;
    s->msg.fail = soon_fail;
    s->msg.submission = true;
    s->cb = cb;
    s->arg = arg;
    int rc = weft__inbox_post(loop->inbox.box, &s->msg);
    if (rc != 0)
        free(s);
    return rc;
}
