/* task_mem: where task structs come from.
 *
 * Each thread carves them from chunks of 2 MiB, asked for as transparent
 * huge pages and pre-faulted, and keeps freed ones for its next spawns. A
 * million tasks then cost a few hundred page faults instead of a hundred
 * thousand (malloc grows its heap a 4 KiB page at a time, and a fault
 * costs microseconds on a VM). As Go keeps its goroutine structs, a
 * thread keeps the structs it made for reuse; its chunks are unmapped when
 * the thread ends with every struct back. Under ASan they come from malloc,
 * so that a use of a freed task handle is caught. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "core/core.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
weft_task *weft__task_alloc_slow(void)
{
    return weft__malloc(sizeof(weft_task));
}

void weft__task_dealloc(weft_task *t)
{
    free(t);
}
#else

#define CHUNK_BYTES  (2u << 20)
#define FIRST_CHUNK  (64u * 1024u) /* a thread with a few tasks maps little */

typedef struct chunk {
    struct chunk *next;
    size_t size;
} chunk;

__thread weft__task_free_list weft__tl_free_tasks __attribute__((tls_model("initial-exec")));

typedef struct task_mem {
    size_t carved; /* structs made, in use or free (weft__tl_free_tasks) */
    char *bump, *end;
    chunk *chunks;
    size_t next_size;
} task_mem;

static __thread task_mem tl_mem __attribute__((tls_model("initial-exec")));
static pthread_key_t mem_key;
static pthread_once_t mem_key_once = PTHREAD_ONCE_INIT;

/* At thread exit: the chunks go if every struct came back (a handle still
 * held elsewhere keeps them: leaked rather than freed under its owner). */
static void mem_drain(void *unused)
{
    (void)unused;
    if (weft__tl_free_tasks.count != tl_mem.carved)
        return;
    while (tl_mem.chunks) {
        chunk *c = tl_mem.chunks;
        tl_mem.chunks = c->next;
        munmap(c, c->size);
    }
    tl_mem = (task_mem){0};
    weft__tl_free_tasks = (weft__task_free_list){0};
}

static void mem_key_make(void)
{
    pthread_key_create(&mem_key, mem_drain);
}

static bool chunk_new(task_mem *m)
{
    size_t size = m->next_size ? m->next_size : FIRST_CHUNK;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (size >= CHUNK_BYTES)
        (void)madvise(p, size, MADV_HUGEPAGE);
    (void)madvise(p, size, MADV_POPULATE_WRITE);
    if (m->chunks == NULL) { /* (re)registers this thread's destructor */
        pthread_once(&mem_key_once, mem_key_make);
        pthread_setspecific(mem_key, &tl_mem);
    }
    chunk *c = p;
    c->size = size;
    c->next = m->chunks;
    m->chunks = c;
    m->bump = (char *)p + 64;
    m->end = (char *)p + size;
    m->next_size = size < CHUNK_BYTES ? size * 2 : CHUNK_BYTES;
    return true;
}

/* Rounded to 16 bytes only: a million parked tasks are memory first. */
#define STRUCT_BYTES ((sizeof(weft_task) + 15) & ~(size_t)15)

/* The free list is empty (or the fault seam says fail): carve a new one. */
weft_task *weft__task_alloc_slow(void)
{
    task_mem *m = &tl_mem;
    if (weft__tl_free_tasks.head != NULL || weft__fault_hit(WEFT__FAULT_ALLOC))
        return NULL; /* the fault seam's turn (checked in the fast path, or here) */
    if ((size_t)(m->end - m->bump) < STRUCT_BYTES && !chunk_new(m))
        return NULL;
    weft_task *t = (weft_task *)m->bump;
    m->bump += STRUCT_BYTES;
    m->carved++;
    return t;
}

/* On the thread that frees it (the loop's): its free list takes it. */
void weft__task_dealloc(weft_task *t)
{
    t->run.next = (weft__runnable *)weft__tl_free_tasks.head; /* run is first */
    weft__tl_free_tasks.head = t;
    weft__tl_free_tasks.count++;
}
#endif
