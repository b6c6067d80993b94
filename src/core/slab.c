/* slab: size classes over huge-page chunks (slab.h says what for).
 *
 * Classes: every multiple of 16 bytes up to 1 KiB (a parked sleeper's
 * saved stack and the wait records are a few hundred bytes: 16-byte steps
 * waste at most 15 of them), then four steps per doubling up to 64 KiB
 * (at most a quarter wasted). */
#define _GNU_SOURCE
#include "core/slab.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/fault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SMALL_STEP  16u
#define SMALL_MAX   1024u                    /* classes 0..63: 16..1024 */
#define SMALL_COUNT (SMALL_MAX / SMALL_STEP) /* 64 */
#define FIRST_CHUNK (256u * 1024u)
#define MAX_CHUNK   (4u << 20)

struct weft__slab_chunk {
    weft__slab_chunk *next;
    size_t size;
};

_Static_assert(SMALL_COUNT + 6 * 4 == WEFT__SLAB_CLASSES,
               "classes: 64 small, 4 per doubling to 64 KiB");

/* The class of a size (1..WEFT__SLAB_MAX). */
static unsigned class_of(size_t size)
{
    if (size <= SMALL_MAX)
        return (unsigned)((size + SMALL_STEP - 1) / SMALL_STEP) - 1;
    /* 1 KiB < size <= 64 KiB: which doubling (0 for (1, 2] KiB), then which quarter of it */
    unsigned log = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1)); /* 10..15 */
    size_t base = (size_t)1 << log;
    unsigned quarter = (unsigned)((size - 1 - base) / (base / 4)); /* 0..3 */
    return SMALL_COUNT + (log - 10) * 4 + quarter;
}

static size_t class_size(unsigned c)
{
    if (c < SMALL_COUNT)
        return (size_t)(c + 1) * SMALL_STEP;
    unsigned log = 10 + (c - SMALL_COUNT) / 4, quarter = (c - SMALL_COUNT) % 4;
    size_t base = (size_t)1 << log;
    return base + (quarter + 1) * (base / 4);
}

size_t weft__slab_class_bytes(size_t size)
{
    if (size == 0)
        size = 1;
    return size > WEFT__SLAB_MAX ? size : class_size(class_of(size));
}

void weft__slab_init(weft__slab *slab)
{
    memset(slab, 0, sizeof *slab);
    slab->next_chunk = FIRST_CHUNK;
}

void weft__slab_destroy(weft__slab *slab)
{
    while (slab->chunks) {
        weft__slab_chunk *c = slab->chunks;
        slab->chunks = c->next;
        munmap(c, c->size);
    }
    weft__slab_init(slab);
}

/* A new chunk for the bump allocator. The chunks grow from 256 KiB to
 * 4 MiB, so a loop with a handful of compact tasks maps little, and one
 * with a million maps a few hundred chunks. From 2 MiB on they are asked
 * for as transparent huge pages (one fault per 2 MiB instead of 512);
 * every chunk is pre-faulted at once (MADV_POPULATE_WRITE, Linux 5.14+;
 * elsewhere the pages fault on first use, as before). */
static bool chunk_new(weft__slab *slab)
{
    size_t size = slab->next_chunk;
    if (weft__fault_hit(WEFT__FAULT_ALLOC))
        return false;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (size >= (2u << 20))
        (void)madvise(p, size, MADV_HUGEPAGE);
    (void)madvise(p, size, MADV_POPULATE_WRITE);
    weft__slab_chunk *c = p;
    c->size = size;
    c->next = slab->chunks;
    slab->chunks = c;
    slab->mapped += size;
    slab->bump = (char *)p + 64; /* the header, rounded to a cache line */
    slab->bump_end = (char *)p + size;
    if (slab->next_chunk < MAX_CHUNK)
        slab->next_chunk *= 2;
    return true;
}

void *weft__slab_alloc(weft__slab *slab, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > WEFT__SLAB_MAX)
        return weft__malloc(size);
    unsigned c = class_of(size);
    void *p = slab->free[c];
    size_t bytes = class_size(c);
    if (p != NULL) {
        slab->free[c] = *(void **)p;
    } else {
        if ((size_t)(slab->bump_end - slab->bump) < bytes) {
            /* The rest of the old chunk is left unused: it is smaller
             * than this object, and at most 64 KiB of a chunk of 4 MiB. */
            if (!chunk_new(slab))
                return NULL;
        }
        p = slab->bump;
        slab->bump += bytes;
    }
    slab->in_use += bytes;
    return p;
}

void weft__slab_free(weft__slab *slab, void *p, size_t size)
{
    if (p == NULL)
        return;
    if (size == 0)
        size = 1;
    if (size > WEFT__SLAB_MAX) {
        free(p);
        return;
    }
    unsigned c = class_of(size);
    *(void **)p = slab->free[c];
    slab->free[c] = p;
    slab->in_use -= class_size(c);
}
