/* slab: a loop's size-classed memory for what compact tasks keep off their
 * stacks — the bytes of a stack saved when another task claims the shared
 * stack, and the wait records the loop writes while a task is parked.
 * One loop thread only. Allocation is a free-list pop; memory comes in
 * chunks mapped with MADV_HUGEPAGE and pre-faulted, so a million parked
 * tasks do not pay a million page faults. Chunks are kept until the loop
 * closes (a free object goes back to its class's list for the next one). */
#ifndef WEFT_SLAB_H
#define WEFT_SLAB_H

#include <stddef.h>
#include <stdint.h>

/* Objects up to this size come from the chunks; bigger ones (the saved
 * stack of a deep recursion) from malloc. */
#define WEFT__SLAB_MAX     (64u * 1024u)
#define WEFT__SLAB_CLASSES 88

typedef struct weft__slab_chunk weft__slab_chunk;

typedef struct weft__slab {
    void *free[WEFT__SLAB_CLASSES]; /* per class: freed objects, linked through their first word */
    char *bump, *bump_end;          /* the unused rest of the newest chunk */
    weft__slab_chunk *chunks;       /* every chunk, newest first (unmapped at destroy) */
    size_t next_chunk;              /* the size of the next chunk: they grow to 4 MiB */
    size_t mapped;                  /* bytes in chunks */
    size_t in_use;                  /* bytes of the objects handed out (class sizes) */
} weft__slab;

void weft__slab_init(weft__slab *slab);
void weft__slab_destroy(weft__slab *slab);
/* An object of at least size bytes (16-byte aligned), or NULL (out of
 * memory; the fault seam's WEFT__FAULT_ALLOC). size 0 is taken as 1. */
void *weft__slab_alloc(weft__slab *slab, size_t size);
/* Gives back an object; size must be the one it was allocated with. */
void weft__slab_free(weft__slab *slab, void *p, size_t size);
/* The bytes an object of this size really takes (its class's size). */
size_t weft__slab_class_bytes(size_t size);

#endif
