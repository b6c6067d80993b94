/* compact: compact tasks — tasks that run on one of a few stacks the loop
 * shares between them, and keep only the bytes they use while parked.
 *
 * A compact task's frames sit on its shared stack while it runs. When
 * another task claims that stack, the bytes between the parked owner's
 * stack pointer and the top are copied into the loop's slab; they are
 * copied back to the same addresses when the owner runs again. A task that
 * parks and resumes with nobody else on its stack in between copies
 * nothing (the owner check). docs/INTERNALS.md has the design and the
 * measurements behind it.
 *
 * The one rule that follows: nothing another task or the loop writes while
 * a compact task is parked may live on its stack. weft's own waits keep
 * their records in the slab (park_record.h); user code must not hand a
 * pointer to a compact task's local to a task that writes it while the
 * owner is parked. Debug mode enforces it: compact tasks then run on
 * private stacks made inaccessible while parked (WEFT__STACK_GUARDED), so
 * such a write faults and is reported (overflow.c). */
#ifndef WEFT_COMPACT_H
#define WEFT_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/slab.h"
#include "ctx/stack.h"

struct weft_task;
struct weft_loop;
struct weft_task_opts;

/* How a task's stack is provided (weft_task.stack_kind). */
enum weft__stack_kind {
    WEFT__STACK_OWN = 0, /* private: its own stack with a guard page */
    WEFT__STACK_SHARED,  /* compact: a shared stack, saved to the slab when evicted */
    WEFT__STACK_GUARDED  /* compact in debug mode: private, inaccessible while parked */
};

/* Shared stacks per loop. Tasks are given one in turn, so that two compact
 * tasks that hand work to each other are on different stacks more often
 * than not, and switch without copying. */
#define WEFT__SHARED_STACKS 4

typedef struct weft__shared_stack {
    weft__stack stack;       /* mapped lazily (first use), guard page below */
    struct weft_task *owner; /* whose frames are on it, or NULL */
} weft__shared_stack;

typedef struct weft__compact {
    uint8_t default_mode; /* weft_stack_mode of WEFT_STACK_DEFAULT spawns (never DEFAULT) */
    unsigned next_shared; /* the shared stack the next compact task gets */
    weft__shared_stack shared[WEFT__SHARED_STACKS];
    weft__slab slab; /* saved stacks and parked tasks' wait records */
    /* statistics (weft_loop_stats, docs/performance.md) */
    uint64_t evictions; /* owners whose bytes were saved */
    size_t saved_bytes; /* bytes of saved stacks now in the slab (before rounding) */
    size_t saved_count; /* tasks whose stack is saved now */
} weft__compact;

void weft__compact_init(struct weft_loop *loop);
void weft__compact_destroy(struct weft_loop *loop);
/* The stack kind of a task about to be spawned with opts. */
uint8_t weft__compact_kind_for(const struct weft_loop *loop, const struct weft_task_opts *opts);
/* First run: give the task its stack (task->stack): the shared one, its
 * owner evicted; or, guarded, a private one. 0 or a negative code. */
int weft__compact_start(struct weft_task *task);
/* Before a parked compact task runs again, on the scheduler's stack: put
 * its bytes back (evicting whoever is on its shared stack), or make its
 * guarded stack accessible. 0, or -ENOMEM when the owner's bytes cannot
 * be saved (the task stays ready and is tried again). */
int weft__compact_enter(struct weft_task *task);
/* A compact task came back to the scheduler: a guarded one that is not
 * running (parked, or ready after a yield) is made inaccessible. */
void weft__compact_left(struct weft_task *task);
/* The task ended (on the scheduler's stack): its shared stack is free, or
 * its guarded stack goes back to the pool. */
void weft__compact_release(struct weft_task *task);
/* May the running task `self` switch straight to `next` (no copy, no
 * protection to change)? The slow half of switch_away's test. */
bool weft__compact_direct_ok(const struct weft_task *self, const struct weft_task *next);
/* For reports: the parked task whose guarded (debug mode) stack holds
 * addr, or NULL. Async-signal-safe (walks the loop's task list). */
const struct weft_task *weft__compact_guarded_owner(const struct weft_loop *loop, uintptr_t addr);

#endif
