/* stack: task stacks. Each has a guard page below it, so that an overflow
 * faults instead of corrupting a neighbour. Stacks of the loop's default
 * size come from arenas of many stacks (one mmap for all of them), cached
 * per loop for reuse; other sizes are mapped one by one. */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct weft__stack_arena weft__stack_arena;

typedef struct weft__stack {
    void *lo;                 /* lowest usable byte (just above the guard page) */
    size_t size;              /* usable bytes */
    weft__stack_arena *arena; /* where it came from; NULL: its own mapping */
    unsigned vg_id;           /* Valgrind's id for the registered stack */
    unsigned slot;            /* its place in the arena */
} weft__stack;

typedef struct weft__stack_pool {
    /* The stack given back last, kept aside (hot.lo != NULL): the next
     * get takes it without the arenas' bookkeeping. A task that ends and a
     * task that starts (W3, a server's short handlers) pass it on. */
    weft__stack hot;
    weft__stack_arena *partial; /* arenas with free stacks, most recently used first */
    weft__stack_arena *arenas;  /* every arena, linked through all_next */
    size_t count, cap;          /* free stacks kept; cap: most kept beyond one arena */
    size_t size;                /* the size this pool serves from arenas */
    size_t live;                /* stacks handed out and not yet returned */
    unsigned per_arena;         /* stacks in one arena */
    size_t page;                /* the guard's size */
} weft__stack_pool;

size_t weft__page_size(void);
/* Rounds a requested size up to whole pages, at least a minimum. */
size_t weft__stack_round(size_t size);
/* Larger stack sizes are refused (-EINVAL): no machine maps half its
 * address space for one stack, and rounding such a size to pages (plus the
 * guard page) would wrap around to a tiny stack. */
#define WEFT__STACK_SIZE_MAX (SIZE_MAX / 2)

/* 0, or WEFT_ESTACK when the mapping or its guard cannot be made. */
int weft__stack_map(weft__stack *s, size_t size);
void weft__stack_unmap(weft__stack *s);

void weft__stack_pool_init(weft__stack_pool *pool, size_t size, size_t cap);
int weft__stack_get(weft__stack_pool *pool, size_t size, weft__stack *out);
void weft__stack_put(weft__stack_pool *pool, weft__stack *s);
void weft__stack_pool_destroy(weft__stack_pool *pool);

#endif
