/* stack: task stacks. Each is its own anonymous mapping with a guard page
 * below it, so that an overflow faults instead of corrupting a neighbour;
 * a per-loop pool keeps released stacks for reuse. */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stddef.h>

typedef struct weft__stack {
    void *lo;       /* lowest usable byte (just above the guard page) */
    size_t size;    /* usable bytes */
    unsigned vg_id; /* Valgrind's id for the registered stack */
} weft__stack;

typedef struct weft__stack_pool {
    weft__stack *items;
    size_t count, cap; /* cap: most stacks kept for reuse */
    size_t size;       /* the size this pool serves */
    size_t live;       /* stacks handed out and not yet returned (for stats) */
} weft__stack_pool;

size_t weft__page_size(void);
/* Rounds a requested size up to whole pages, at least a minimum. */
size_t weft__stack_round(size_t size);

/* 0, or WEFT_ESTACK when the mapping or its guard cannot be made. */
int weft__stack_map(weft__stack *s, size_t size);
void weft__stack_unmap(weft__stack *s);

void weft__stack_pool_init(weft__stack_pool *pool, size_t size, size_t cap);
int weft__stack_get(weft__stack_pool *pool, size_t size, weft__stack *out);
void weft__stack_put(weft__stack_pool *pool, weft__stack *s);
void weft__stack_pool_destroy(weft__stack_pool *pool);

#endif
