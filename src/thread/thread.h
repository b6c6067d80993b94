/* thread_internal.h: what the threads layer's files share — the loop's
 * inbox of messages from other threads, and the spin/block knob of
 * weft_cfuture_result (exposed for the W5 benchmark). */
#ifndef WEFT_THREAD_INTERNAL_H
#define WEFT_THREAD_INTERNAL_H

#include "internal.h"

/* A message to a loop from any thread. run() runs on the loop's thread, on
 * the scheduler's stack (it must not park: it wakes or spawns tasks).
 * fail() runs instead when the loop closed before the message could run
 * (on whatever thread closes it or posts to it). */
typedef struct weft__msg weft__msg;
struct weft__msg {
    weft__msg *next;
    void (*run)(weft__msg *m);
    void (*fail)(weft__msg *m, int code);
    bool submission; /* new work: refused once the loop is shutting down */
};

typedef struct weft__inbox weft__inbox;

/* The loop's inbox, with a reference the caller drops with
 * weft__inbox_unref: it outlives the loop while someone holds one (a
 * worker thread that will post a completion), and refuses posts then. */
weft__inbox *weft__inbox_get(weft_loop *loop);
void weft__inbox_unref(weft__inbox *ib);
weft_loop *weft__inbox_loop(weft__inbox *ib);
/* 0, or WEFT_ECLOSED (the message will never run; fail is not called). */
int weft__inbox_post(weft__inbox *ib, weft__msg *m);
/* True in a child of fork(): the loop's thread is not there. */
bool weft__inbox_forked(weft__inbox *ib);
/* True from weft__inbox_shutdown on. */
bool weft__inbox_refusing(weft__inbox *ib);

/* Objects record weft__fork_gen() when made and refuse service with
 * WEFT_EFORKED in a child of fork(), where the threads that would serve
 * them do not exist. The executor's own fork handler (called in the child): */
void weft__executor_atfork_child(void);

/* Writing to a pipe or socket whose reader died must fail with EPIPE, not
 * kill us: ignores SIGPIPE if it is at its default action (process.c). */
void weft__ignore_sigpipe(void);

/* Nanoseconds weft_cfuture_result spins on the future before it blocks
 * (default WEFT__CFUTURE_SPIN_NS). */
#define WEFT__CFUTURE_SPIN_NS 20000
extern long weft__cfuture_spin_ns;

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
