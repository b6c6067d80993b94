/* park_record: where a wait site keeps the record the loop and other tasks
 * write while the task is parked (its weft__wait, a timer entry, a list
 * node, a hand-off slot).
 *
 * A private task keeps it on its stack, as before. A compact task's stack
 * is copied aside while it is parked and another task's frames take its
 * place, so its records live in the loop's slab (compact.h): the same
 * struct, reached through the same pointer, at an address that stays put.
 *
 *     WEFT__PARK_RECORD(sleeper, s);
 *     if (s == NULL)
 *         return -ENOMEM;        (compact tasks only, the slab is out of memory)
 *     *s = (sleeper){.task = task};
 *
 * The record is given back when the variable goes out of scope (a cleanup
 * attribute), on every return path. */
#ifndef WEFT_PARK_RECORD_H
#define WEFT_PARK_RECORD_H

#include "core/core.h"

typedef struct weft__rec_guard {
    void *slab_obj; /* the record, when it came from the slab */
    size_t size;
} weft__rec_guard;

static inline void weft__rec_drop(weft__rec_guard *g)
{
    if (WEFT_UNLIKELY(g->slab_obj != NULL))
        weft__slab_free(&weft__tl_loop->compact.slab, g->slab_obj, g->size);
}

static inline void *weft__rec_place(void *local, size_t size, weft__rec_guard *g)
{
    weft_loop *loop = weft__tl_loop;
    weft_task *t = loop ? loop->current : NULL;
    if (WEFT_LIKELY(t == NULL || t->stack_kind == WEFT__STACK_OWN))
        return local;
    g->size = size;
    g->slab_obj = weft__slab_alloc(&loop->compact.slab, size);
    return g->slab_obj;
}

#define WEFT__PARK_RECORD(type, name)                                                              \
    type name##_local_;                                                                            \
    weft__rec_guard name##_guard_ __attribute__((cleanup(weft__rec_drop))) = {NULL, 0};            \
    type *name = (type *)weft__rec_place(&name##_local_, sizeof(type), &name##_guard_)

/* True when the record is in the slab (a compact task): the site must not
 * hand the loop pointers to its caller's stack either (a read buffer). */
#define WEFT__PARK_RECORD_MOVED(name) (name##_guard_.slab_obj != NULL)

#endif
