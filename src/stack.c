/* stack: mmap'd task stacks with a guard page, and their pool.
 *
 * The guard is installed with MADV_GUARD_INSTALL where the kernel has it
 * (Linux 6.13+): it costs no extra mapping, so a million stacks fit in the
 * default vm.max_map_count. Elsewhere it is an mprotect'd page, which splits
 * the mapping in two, and the map count limits live tasks to about 32,000;
 * WEFT_ESTACK says which setting lifts that. */
#include "stack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"
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
        use = madv_guard_works();
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

void weft__stack_pool_init(weft__stack_pool *pool, size_t size, size_t cap)
{
    pool->items = NULL;
    pool->count = 0;
    pool->cap = cap;
    pool->size = weft__stack_round(size);
    pool->live = 0;
}

int weft__stack_get(weft__stack_pool *pool, size_t size, weft__stack *out)
{
    size = weft__stack_round(size);
    if (size == pool->size && pool->count > 0) {
        *out = pool->items[--pool->count];
        pool->live++;
        return 0;
    }
    int rc = weft__stack_map(out, size);
    if (rc == 0)
        pool->live++;
    return rc;
}

void weft__stack_put(weft__stack_pool *pool, weft__stack *s)
{
    pool->live--;
    if (s->size == pool->size && pool->count < pool->cap) {
        if (pool->items == NULL) {
            pool->items = malloc(pool->cap * sizeof *pool->items);
            if (pool->items == NULL)
                goto unmap;
        }
        pool->items[pool->count++] = *s;
        s->lo = NULL;
        return;
    }
unmap:
    weft__stack_unmap(s);
}

void weft__stack_pool_destroy(weft__stack_pool *pool)
{
    while (pool->count > 0)
        weft__stack_unmap(&pool->items[--pool->count]);
    free(pool->items);
    pool->items = NULL;
}
