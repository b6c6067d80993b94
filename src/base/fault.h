/* fault: the one seam through which allocations and system calls that can
 * fail are made to fail on purpose, so that tests reach every error path
 * (neco's malloc0, curl's torture mode). Off unless a test arms it. */
#ifndef WEFT_FAULT_H
#define WEFT_FAULT_H

#include <stddef.h>
#include <stdlib.h>

enum weft__fault_site {
    WEFT__FAULT_ALLOC,   /* weft__malloc / weft__calloc / weft__realloc */
    WEFT__FAULT_STACK,   /* mapping a task stack */
    WEFT__FAULT_SYSCALL, /* other system calls that go through the seam */
    WEFT__FAULT_SITES
};

/* Makes the nth call at site from now fail (1 = the next one); 0 disarms. */
void weft__fault_arm(enum weft__fault_site site, long nth);
/* 1 if this call must fail. Inline: every spawn asks, and when disarmed
 * the answer is one load. */
extern long weft__fault_countdown[WEFT__FAULT_SITES];
int weft__fault_hit_armed(enum weft__fault_site site);
static inline int weft__fault_hit(enum weft__fault_site site)
{
    if (__builtin_expect(__atomic_load_n(&weft__fault_countdown[site], __ATOMIC_RELAXED) == 0, 1))
        return 0;
    return weft__fault_hit_armed(site);
}

void *weft__malloc(size_t size);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *p, size_t size);
char *weft__strdup(const char *s);

#endif
