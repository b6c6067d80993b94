/* debug: the layer that watches the others: the task registry and
 * dumps (dump.c), debug mode's reports of leaks and misuse (debug.c), the
 * blocked-loop watchdog (watchdog.c), stack overflow reports
 * (overflow.c), weft_loop_stats (stats.c). Its contract: lower layers
 * reach it only through debug/hooks.h; it reads core's structures but
 * changes nothing a task can observe, and with debug mode off it costs a
 * branch per hook. Built on core (and ctx, base). */
#ifndef WEFT__LAYER_DEBUG_H
#define WEFT__LAYER_DEBUG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* The watchdog's list of loops and each loop thread's alternate signal
 * stack, set up and torn down with the loop (debug.c calls them). */
void weft__watchdog_register(weft_loop *loop);
void weft__watchdog_unregister(weft_loop *loop);
void weft__overflow_thread_init(weft_loop *loop);
void weft__overflow_thread_fini(weft_loop *loop);

/* How the reports name things (describe.c). */
/* `#3 "name"`, then " (fn, spawned at file:line)" when detail is set. */
void weft__task_describe(const weft_task *task, bool detail, char *buf, size_t len);
/* "sym+0x1c (module)" or "module+0x1234" for a code address. */
void weft__symbolize(const void *pc, char *buf, size_t len);
/* Bytes of the task's stack touched so far (resident pages), 0 if unknown. */
size_t weft__stack_used(const weft_task *task);

/* An unnamed frame of weft's own module (the task entry, the context
 * boot) that backtraces leave out below the task function. */
bool weft__frame_is_entry(void *pc);

/* The blocked-loop threshold in effect for loop, in seconds (watchdog.c). */
double weft__block_threshold_of(const weft_loop *loop);

#endif
