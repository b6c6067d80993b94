/* stack: mmap'd task stacks with a guard page, and their pool.
 *
 * The guard is installed with MADV_GUARD_INSTALL where the kernel has it
 * (Linux 6.13+): it costs no extra mapping, so a million stacks fit in the
 * default vm.max_map_count. Elsewhere it is an mprotect'd page, which splits
 * the mapping in two, and the map count limits live tasks to about 32,000;
 * WEFT_ESTACK says which setting lifts that (compact tasks take no mapping
 * each: a million of them fit either way). WEFT_STACK_GUARD=mprotect
 * forces the old path. */
#include "ctx/stack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fault.h"
#include "weft.h"

#ifdef WEFT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id)   ((void)(id))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define WEFT_MIN_STACK (16u * 1024u)

size_t weft__page_size(void)
{
    static size_t page;
    if (page == 0)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

size_t weft__stack_round(size_t size)
{
    size_t page = weft__page_size();
    if (size < WEFT_MIN_STACK)
        size = WEFT_MIN_STACK;
    return (size + page - 1) & ~(page - 1);
}

/* Does MADV_GUARD_INSTALL really guard? Older kernels refuse it (EINVAL),
 * and emulators such as qemu-user accept and ignore it. A write(2) from a
 * guarded page fails with EFAULT instead of raising a signal, which tells
 * the two apart safely. */
static bool madv_guard_works(void)
{
    size_t page = weft__page_size();
    bool works = false;
    int fds[2];
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        works = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, 2 * page);
    return works;
}

static int install_guard(void *base, size_t page)
{
    static int use_madv_guard = -1; /* -1: not probed yet; loops on other threads may race */
    int use = __atomic_load_n(&use_madv_guard, __ATOMIC_RELAXED);
    if (use < 0) {
        /* WEFT_STACK_GUARD=mprotect takes the path of kernels before 6.13
         * on any kernel, so that it can be tested where the new one exists. */
        const char *env = getenv("WEFT_STACK_GUARD");
        use = env != NULL && strcmp(env, "mprotect") == 0 ? 0 : madv_guard_works();
        __atomic_store_n(&use_madv_guard, use, __ATOMIC_RELAXED);
    }
    if (use)
        return madvise(base, page, MADV_GUARD_INSTALL);
    return mprotect(base, page, PROT_NONE);
}

int weft__stack_map(weft__stack *s, size_t size)
{
    size_t page = weft__page_size();
    size = weft__stack_round(size);
    if (weft__fault_hit(WEFT__FAULT_STACK))
        return WEFT_ESTACK;
    void *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return WEFT_ESTACK;
    if (install_guard(base, page) != 0) {
        munmap(base, size + page);
        return WEFT_ESTACK;
    }
    s->lo = (char *)base + page;
    s->size = size;
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + size);
    return 0;
}

void weft__stack_unmap(weft__stack *s)
{
    if (s->lo == NULL)
        return;
    size_t page = weft__page_size();
    VALGRIND_STACK_DEREGISTER(s->vg_id);
    munmap((char *)s->lo - page, s->size + page);
    s->lo = NULL;
}

/* ------------------------------------------------------------------ arenas
 *
 * An arena is one mapping holding per_arena stacks, each with its guard page
 * below it: one mmap and one munmap for all of them instead of one each (a
 * million sleeping tasks spent most of their time in munmap). Free stacks
 * stay in their arena; an arena whose stacks are all free is unmapped once
 * the pool holds more than cap free stacks elsewhere. */

struct weft__stack_arena {
    weft__stack_arena *prev, *next;           /* in pool->partial while it has free stacks */
    weft__stack_arena *all_next, **all_pprev; /* in pool->arenas */
    char *base;
    size_t span; /* bytes per stack, guard included */
    unsigned nfree;
    unsigned *vg_ids;      /* Valgrind's ids of the stacks, registered once */
    unsigned free_slots[]; /* a stack of free slot numbers */
};

#define ARENA_BYTES (16u << 20)

static void partial_push(weft__stack_pool *pool, weft__stack_arena *a)
{
    a->prev = NULL;
    a->next = pool->partial;
    if (pool->partial)
        pool->partial->prev = a;
    pool->partial = a;
}

static void partial_remove(weft__stack_pool *pool, weft__stack_arena *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        pool->partial = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
}

static int arena_new(weft__stack_pool *pool)
{
    size_t page = weft__page_size();
    size_t span = pool->size + page, n = pool->per_arena;
    weft__stack_arena *a = weft__malloc(sizeof *a + 2 * n * sizeof a->free_slots[0]);
    if (a == NULL)
        return WEFT_ESTACK;
    a->vg_ids = a->free_slots + n;
    if (weft__fault_hit(WEFT__FAULT_STACK))
        goto fail;
    a->base = mmap(NULL, span * n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (a->base == MAP_FAILED)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (install_guard(a->base + i * span, page) != 0) {
            munmap(a->base, span * n);
            goto fail;
        }
        a->free_slots[i] = (unsigned)(n - 1 - i); /* slot 0 is handed out first */
    }
    for (size_t i = 0; i < n; i++) {
        char *lo = a->base + i * span + page;
        a->vg_ids[i] = VALGRIND_STACK_REGISTER(lo, lo + pool->size);
    }
    a->span = span;
    a->nfree = (unsigned)n;
    pool->count += n;
    partial_push(pool, a);
    a->all_next = pool->arenas;
    a->all_pprev = &pool->arenas;
    if (pool->arenas)
        pool->arenas->all_pprev = &a->all_next;
    pool->arenas = a;
    return 0;
fail:
    free(a);
    return WEFT_ESTACK;
}

static void arena_free(weft__stack_pool *pool, weft__stack_arena *a)
{
    if (a->nfree > 0)
        partial_remove(pool, a);
    *a->all_pprev = a->all_next;
    if (a->all_next)
        a->all_next->all_pprev = a->all_pprev;
    pool->count -= a->nfree;
    for (unsigned i = 0; i < pool->per_arena; i++)
        VALGRIND_STACK_DEREGISTER(a->vg_ids[i]);
    munmap(a->base, a->span * pool->per_arena);
    free(a);
}

void weft__stack_pool_init(weft__stack_pool *pool, size_t size, size_t cap)
{
    pool->hot.lo = NULL;
    pool->partial = NULL;
    pool->arenas = NULL;
    pool->count = 0;
    pool->cap = cap;
    pool->size = weft__stack_round(size);
    pool->live = 0;
    pool->page = weft__page_size();
    size_t per = ARENA_BYTES / (pool->size + weft__page_size());
    pool->per_arena = per < 1 ? 1 : (unsigned)per;
}

int weft__stack_get(weft__stack_pool *pool, size_t size, weft__stack *out)
{
    if (__builtin_expect(pool->hot.lo != NULL, 1) && size == pool->size) {
        *out = pool->hot;
        pool->hot.lo = NULL;
        pool->count--;
        pool->live++;
        return 0;
    }
    size = weft__stack_round(size);
    if (size != pool->size) {
        int rc = weft__stack_map(out, size);
        if (rc == 0) {
            out->arena = NULL;
            pool->live++;
        }
        return rc;
    }
    if (pool->partial == NULL) {
        int rc = arena_new(pool);
        if (rc != 0)
            return rc;
    }
    weft__stack_arena *a = pool->partial;
    unsigned slot = a->free_slots[--a->nfree];
    if (a->nfree == 0)
        partial_remove(pool, a);
    pool->count--;
    pool->live++;
    out->lo = a->base + (size_t)slot * a->span + pool->page;
    out->size = size;
    out->arena = a;
    out->slot = slot;
    out->vg_id = a->vg_ids[slot];
    return 0;
}

/* An arena's stack back among its free slots. */
static void arena_put(weft__stack_pool *pool, weft__stack *s)
{
    weft__stack_arena *a = s->arena;
    if (a->nfree == 0)
        partial_push(pool, a);
    else if (pool->partial != a) { /* most recently used first: its pages are warm */
        partial_remove(pool, a);
        partial_push(pool, a);
    }
    a->free_slots[a->nfree++] = s->slot;
    if (a->nfree == pool->per_arena && pool->count > pool->cap + pool->per_arena)
        arena_free(pool, a);
}

void weft__stack_put(weft__stack_pool *pool, weft__stack *s)
{
    pool->live--;
    if (s->arena == NULL) {
        weft__stack_unmap(s);
        return;
    }
    pool->count++;
    /* The one kept aside goes back to its arena; this one is kept. */
    if (pool->hot.lo != NULL)
        arena_put(pool, &pool->hot);
    pool->hot = *s;
    s->lo = NULL;
}

void weft__stack_pool_destroy(weft__stack_pool *pool)
{
    /* Every stack is normally back by now; an arena with stacks still out
     * (tasks abandoned at a deadlock) goes with the loop all the same. */
    pool->hot.lo = NULL; /* its arena goes below */
    while (pool->arenas)
        arena_free(pool, pool->arenas);
}
