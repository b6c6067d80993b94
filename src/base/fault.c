/* fault: countdowns that make the nth allocation or stack mapping fail,
 * for tests of error paths. Relaxed atomics keep TSan quiet when other
 * threads allocate; the cost when disarmed is one load. */
#include "base/fault.h"

#include <string.h>

long weft__fault_countdown[WEFT__FAULT_SITES];

void weft__fault_arm(enum weft__fault_site site, long nth)
{
    __atomic_store_n(&weft__fault_countdown[site], nth, __ATOMIC_RELAXED);
}

/* Armed: this call counts down, and the one that reaches 0 fails. */
int weft__fault_hit_armed(enum weft__fault_site site)
{
    return __atomic_sub_fetch(&weft__fault_countdown[site], 1, __ATOMIC_RELAXED) == 0;
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
