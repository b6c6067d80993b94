/* thread: the layer that lets other threads and processes work with a
 * loop: thread-safe futures (cfuture.c), loop threads and groups
 * (loop_thread.c), executors and to_thread (executor.c), the process pool
 * and subprocesses, signals, the thread-safe queue. Its contract for the
 * layers above: a thread that is not the loop's never touches the loop; it
 * posts a weft__msg to the loop's inbox (core), and a task that waits for
 * another thread holds the loop (weft__loop_hold) so that the deadlock
 * check does not conclude early. Built on core, base and ctx. This header
 * also carries the spin/block knob of weft_cfuture_result (exposed for the
 * W5 benchmark). */
#ifndef WEFT__LAYER_THREAD_H
#define WEFT__LAYER_THREAD_H

#include "core/core.h"

/* Objects record weft__fork_gen() when made and refuse service with
 * WEFT_EFORKED in a child of fork(), where the threads that would serve
 * them do not exist. */

/* Writing to a pipe or socket whose reader died must fail with EPIPE, not
 * kill us: ignores SIGPIPE if it is at its default action (process.c). */
void weft__ignore_sigpipe(void);

/* Nanoseconds weft_cfuture_result spins on the future before it blocks
 * (default WEFT__CFUTURE_SPIN_NS). */
#define WEFT__CFUTURE_SPIN_NS 20000
extern long weft__cfuture_spin_ns;

#endif
