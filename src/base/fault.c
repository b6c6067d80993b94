/* fault: countdowns that make the nth allocation or stack mapping fail,
 * for tests of error paths. Relaxed atomics keep TSan quiet when other
 * threads allocate; the cost when disarmed is one load. */
#include "base/fault.h"

#include <string.h>

static long countdown[WEFT__FAULT_SITES];

void weft__fault_arm(enum weft__fault_site site, long nth)
{
    __atomic_store_n(&countdown[site], nth, __ATOMIC_RELAXED);
}

int weft__fault_hit(enum weft__fault_site site)
{
    if (__builtin_expect(__atomic_load_n(&countdown[site], __ATOMIC_RELAXED) == 0, 1))
        return 0;
    return __atomic_sub_fetch(&countdown[site], 1, __ATOMIC_RELAXED) == 0;
}

void *weft__malloc(size_t size)
{
    return weft__fault_hit(WEFT__FAULT_ALLOC) ? NULL : malloc(size);
}

void *weft__calloc(size_t n, size_t size)
{
    return weft__fault_hit(WEFT__FAULT_ALLOC) ? NULL : calloc(n, size);
}

void *weft__realloc(void *p, size_t size)
{
    return weft__fault_hit(WEFT__FAULT_ALLOC) ? NULL : realloc(p, size);
}

char *weft__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}
