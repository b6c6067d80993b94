/* debug/hooks.h: the one header of a higher layer that lower layers
 * include (scripts/layers.sh allows it and nothing else). It holds what
 * the debug layer keeps in each loop (embedded in struct weft_loop, so that
 * making a loop allocates nothing more) and the hooks the core calls at the
 * moments debug mode and the always-on aids watch: a loop made or closed, a
 * task ended or freed, a timeout scope left open, a stack taken. The
 * hooks are cheap no-ops when debug mode is off. Included by core/core.h
 * once weft_loop and weft_task are declared. */
#ifndef WEFT__DEBUG_HOOKS_H
#define WEFT__DEBUG_HOOKS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "base/base.h"

#define WEFT__BT_MAX 48

typedef struct weft__loop_debug {
    bool debug;            /* debug mode (WEFT_DEBUG=1, weft_loop_set_debug) */
    weft__link ended;      /* debug mode: ended tasks whose handle is still held */
    weft__link zombies;    /* debug mode: freed tasks kept to report at close */
    weft__link quarantine; /* debug mode: the last freed tasks, kept to catch a double free */
    size_t quarantined;
    uv_signal_t *dump_signal; /* weft_dump_on_signal, or NULL */
    FILE *dump_out;
    size_t stack_hw_max; /* debug mode: deepest stack use of an ended task */
    uint64_t stack_hw_task;

    /* Blocked-loop watchdog (another thread reads these: atomics). */
    weft__link registry; /* in the watchdog's list of loops */
    bool registered;
    uint64_t threshold_ns; /* UINT64_MAX: the process default */
    uint64_t blocked_reports;
    uint64_t longest_block_ns;
    /* The watchdog's own view, touched only under its lock. */
    uint64_t wd_switches, wd_iterations;
    void *wd_task;
    uint64_t wd_since_ns;
    bool wd_reported;
    /* Filled by the signal handler on the loop's thread, read by the
     * watchdog once state says so: 0 idle, 1 requested, 2 captured. */
    int sample_state;
    uint64_t sample_switches;
    int bt_n;
    void *bt[WEFT__BT_MAX];
    void *bt_pc; /* the interrupted instruction */
    uint64_t bt_task_id;
    char bt_task_name[64];
    const char *bt_file;
    int bt_line;

    /* Stack overflow reports: this loop thread's alternate signal stack. */
    void *altstack;
    size_t altstack_size;
} weft__loop_debug;

/* Hooks the core calls (debug.c). */
void weft__debug_loop_init(weft_loop *loop);
void weft__debug_loop_closing(weft_loop *loop);     /* runner close, before cancelling */
void weft__debug_loop_close(weft_loop *loop);       /* before libuv's handles are closed */
void weft__debug_task_ended(weft_task *task);       /* debug mode only */
bool weft__debug_task_freed(weft_task *task);       /* debug mode only; true: kept */
void weft__debug_task_freed_twice(weft_task *task); /* a handle given back twice */
/* debug mode only: the task returned with a timeout scope still open,
 * begun at file:line (NULL: not known). */
void weft__debug_scope_left_open(const weft_task *task, const char *file, int line);
void weft__debug_stack_taken(weft_task *task); /* debug mode only */

#endif
