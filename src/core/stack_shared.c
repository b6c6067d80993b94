/* stack_shared: compact tasks' stacks (compact.h says what they are).
 *
 * Everything here runs on the scheduler's stack, between two tasks: the
 * shared stack is never copied while a task runs on it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/core.h"

#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* The frames of a parked task carry ASan's poisoned redzones, and another
 * task's frames left theirs where a restored task's frames go: copying
 * reads and writes across them. Unpoisoned, the copy is clean, at the cost
 * of ASan not checking the redzones of the frames that were moved (those
 * made after a resume are checked as usual). */
#define unpoison(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define unpoison(p, n) ((void)(p), (void)(n))
#endif

#ifdef WEFT_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
/* Memcheck marks a stack's bytes below the stack pointer of the last
 * frames that ran there as inaccessible; the restored frames go there.
 * Made addressable, they take the definedness of the bytes copied in. */
#define vg_addressable(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#else
#define vg_addressable(p, n) ((void)(p), (void)(n))
#endif

static const char *mode_env_names[] = {
    [WEFT_STACK_PRIVATE] = "private", [WEFT_STACK_COMPACT] = "compact"};

/* WEFT_STACK_MODE=compact|private: the loop's default (so that a whole
 * test suite or program can be run in either mode). Anything else is
 * ignored: the default stays private. */
static uint8_t env_default_mode(void)
{
    const char *v = getenv("WEFT_STACK_MODE");
    if (v != NULL && strcmp(v, mode_env_names[WEFT_STACK_COMPACT]) == 0)
        return WEFT_STACK_COMPACT;
    return WEFT_STACK_PRIVATE;
}

void weft__compact_init(weft_loop *loop)
{
    weft__compact *cp = &loop->compact;
    memset(cp, 0, sizeof *cp);
    cp->default_mode = env_default_mode();
    weft__slab_init(&cp->slab);
}

void weft__compact_destroy(weft_loop *loop)
{
    weft__compact *cp = &loop->compact;
    for (unsigned i = 0; i < WEFT__SHARED_STACKS; i++)
        weft__stack_unmap(&cp->shared[i].stack);
    /* Saved stacks of tasks abandoned at a deadlock go with the slab. */
    weft__slab_destroy(&cp->slab);
}

int weft_loop_set_stack_mode(weft_loop *loop, weft_stack_mode mode)
{
    if (loop == NULL)
        loop = weft__loop_current();
    if (loop == NULL)
        return WEFT_ENOTASK;
    int rc = weft__check_loop(loop);
    if (rc != 0)
        return rc;
    if (mode != WEFT_STACK_PRIVATE && mode != WEFT_STACK_COMPACT)
        return -EINVAL;
    loop->compact.default_mode = (uint8_t)mode;
    return 0;
}

int weft_loop_stack_mode(const weft_loop *loop)
{
    if (loop == NULL)
        loop = weft__loop_current();
    return loop ? loop->compact.default_mode : WEFT_ENOTASK;
}

uint8_t weft__compact_kind_for(const weft_loop *loop, const weft_task_opts *opts)
{
    unsigned mode =
        opts && opts->stack_mode ? (unsigned)opts->stack_mode : loop->compact.default_mode;
    if (mode != WEFT_STACK_COMPACT)
        return WEFT__STACK_OWN;
    /* A compact task that asks for a bigger stack than the shared ones
     * (WEFT_DEFAULT_STACK_SIZE) gets a private stack of that size. */
    if (opts && opts->stack_size > WEFT_DEFAULT_STACK_SIZE)
        return WEFT__STACK_OWN;
    return WEFT__DEBUG_AIDS && loop->dbg.debug ? WEFT__STACK_GUARDED : WEFT__STACK_SHARED;
}

/* ----------------------------------------------------------- shared stacks */

static char *stack_top(const weft__stack *s)
{
    return (char *)s->lo + s->size;
}

/* Copies the parked owner's used bytes into the slab: the stack is about
 * to be someone else's. */
static int evict(weft__compact *cp, weft_task *owner)
{
    char *sp = weft__ctx_saved_sp(&owner->ctx), *top = stack_top(&owner->stack);
    size_t n = (size_t)(top - sp);
    void *copy = weft__slab_alloc(&cp->slab, n);
    if (copy == NULL)
        return -ENOMEM;
    unpoison(sp, n);
    memcpy(copy, sp, n);
    owner->saved = copy;
    owner->saved_size = (uint32_t)n;
    cp->evictions++;
    cp->saved_bytes += n;
    cp->saved_count++;
    return 0;
}

/* Puts a task's saved bytes back where they were. */
static void restore(weft__compact *cp, weft_task *task)
{
    size_t n = task->saved_size;
    char *top = stack_top(&task->stack);
    unpoison(task->stack.lo, task->stack.size);
    vg_addressable(top - n, n);
    memcpy(top - n, task->saved, n);
    weft__slab_free(&cp->slab, task->saved, n);
    task->saved = NULL;
    cp->saved_bytes -= n;
    cp->saved_count--;
}

/* Makes task the owner of its shared stack, saving the one there. */
static int claim(weft__compact *cp, weft_task *task)
{
    weft__shared_stack *s = task->shared;
    if (s->owner == task)
        return 0; /* nobody ran on it since: nothing to copy */
    if (s->owner != NULL) {
        int rc = evict(cp, s->owner);
        if (rc != 0)
            return rc;
    }
    s->owner = task;
    return 0;
}

int weft__compact_start(weft_task *task)
{
    weft_loop *loop = task->loop;
    weft__compact *cp = &loop->compact;
    if (task->stack_kind == WEFT__STACK_GUARDED)
        return weft__stack_get(&loop->stacks, task->stack_size, &task->stack);
    weft__shared_stack *s = &cp->shared[cp->next_shared];
    cp->next_shared = (cp->next_shared + 1) % WEFT__SHARED_STACKS;
    if (s->stack.lo == NULL) {
        int rc = weft__stack_map(&s->stack, WEFT_DEFAULT_STACK_SIZE);
        if (rc != 0)
            return rc;
        s->stack.arena = NULL;
    }
    task->shared = s;
    task->saved = NULL;
    int rc = claim(cp, task);
    if (rc != 0)
        return rc;
    task->stack = s->stack;
    return 0;
}

int weft__compact_enter(weft_task *task)
{
    if (task->stack_kind == WEFT__STACK_GUARDED) {
        if (mprotect(task->stack.lo, task->stack.size, PROT_READ | PROT_WRITE) != 0)
            return -errno;
        return 0;
    }
    weft__compact *cp = &task->loop->compact;
    if (task->shared->owner == task)
        return 0;
    int rc = claim(cp, task);
    if (rc == 0 && task->saved != NULL)
        restore(cp, task);
    return rc;
}

void weft__compact_left(weft_task *task)
{
    if (task->stack_kind != WEFT__STACK_GUARDED || task->state == WEFT_TASK_DONE)
        return;
    /* Best effort: if the kernel refuses (out of mappings), the task runs
     * unguarded, as in release mode. */
    (void)mprotect(task->stack.lo, task->stack.size, PROT_NONE);
}

void weft__compact_release(weft_task *task)
{
    if (task->stack_kind == WEFT__STACK_GUARDED) {
        if (task->stack.lo != NULL)
            weft__stack_put(&task->loop->stacks, &task->stack);
        return;
    }
    if (task->stack.lo == NULL)
        return; /* never ran */
    if (task->shared->owner == task)
        task->shared->owner = NULL;
    if (task->saved != NULL) { /* ended without running again: cannot happen, but be tidy */
        weft__compact *cp = &task->loop->compact;
        weft__slab_free(&cp->slab, task->saved, task->saved_size);
        cp->saved_bytes -= task->saved_size;
        cp->saved_count--;
        task->saved = NULL;
    }
    task->stack.lo = NULL;
}

bool weft__compact_direct_ok(const weft_task *self, const weft_task *next)
{
    if (self->stack_kind == WEFT__STACK_GUARDED)
        return false; /* the scheduler makes it inaccessible */
    switch (next->stack_kind) {
    case WEFT__STACK_OWN:
        return true;
    case WEFT__STACK_SHARED:
        return next->shared->owner == next;
    default:
        return false;
    }
}

const weft_task *weft__compact_guarded_owner(const weft_loop *loop, uintptr_t addr)
{
    for (const weft__link *l = loop->tasks.next; l != &loop->tasks; l = l->next) {
        const weft_task *t = WEFT_CONTAINER_OF(l, weft_task, all);
        uintptr_t lo = (uintptr_t)t->stack.lo;
        if (t->stack_kind == WEFT__STACK_GUARDED && lo != 0 && addr >= lo &&
            addr < lo + t->stack.size && t != loop->current)
            return t;
    }
    return NULL;
}
