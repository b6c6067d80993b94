/* ctx: the machine context switch between a task's stack and the loop's,
 * and (ctx/stack.h) the task stacks. The layer's contract: the only code in
 * weft that switches stacks or knows the machine; everything
 * architecture-specific lives here, behind these functions. Backends:
 * x86_64.S and aarch64.S (hand-written, callee-saved registers only),
 * ucontext.c. Built on base only (the fault seam), and on nothing of weft's
 * in the ctx self-test (tests/ctx_selftest.c). */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef WEFT_CTX_UCONTEXT
#include <ucontext.h>
#endif

typedef struct weft__ctx {
#ifdef WEFT_CTX_UCONTEXT
    ucontext_t uc;
#else
    void *sp; /* saved stack pointer; the registers live on the stack */
#endif
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
    /* The stack this context runs on (NULL/0 for a thread's own stack until
     * ASan tells us), for the sanitizer's fiber annotations. Only there:
     * a million parked tasks are memory first. */
    const void *stack_lo;
    size_t stack_size;
    void *asan_fake_stack;
#endif
} weft__ctx;

typedef void (*weft__ctx_entry)(void *arg);

/* Prepares ctx to run entry(arg) on [lo, lo+size) at its first switch.
 * entry must never return: it ends with weft__ctx_exit. */
void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry, void *arg);

/* A context that goes on running on the stack `from` ran on (a task that
 * starts where one just ended): what the sanitizer knows of that stack
 * goes with it. */
static inline void weft__ctx_inherit(weft__ctx *to, const weft__ctx *from)
{
#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
    to->stack_lo = from->stack_lo;
    to->stack_size = from->stack_size;
    to->asan_fake_stack = from->asan_fake_stack;
#else
    (void)to, (void)from;
#endif
}

/* Saves the running context into from and resumes to. */
void weft__ctx_switch(weft__ctx *from, weft__ctx *to);

/* Like switch, for a context that will never be resumed (its stack is about
 * to be released): lets ASan drop its fake stack. */
void weft__ctx_exit(weft__ctx *from, weft__ctx *to);

/* True when a signal interrupted the running thread at pc inside a stack
 * switch: the switch's frame is half built, or already on the other
 * stack, and its unwind information cannot say which, so a handler must
 * not unwind (backtrace() crashes there). */
bool weft__ctx_pc_in_switch(const void *pc);

/* The stack pointer a parked context will resume with: the bytes from it
 * up to the top of its stack are all it needs (compact tasks save them). */
void *weft__ctx_saved_sp(const weft__ctx *ctx);

/* First thing an entry function calls: completes the switch that started
 * it (ASan learns the stack it came from and stores it in from). */
void weft__ctx_started(weft__ctx *from);

/* The frame a parked context's switch saved: its frame pointer and return
 * address, where a backtrace of the parked stack starts (machine.c).
 * `words` is where the bytes at the saved stack pointer can be read now:
 * the context's own stack (weft__ctx_saved_sp), or a copy of them (a
 * compact task's saved stack). False when the backend cannot say
 * (ucontext). */
bool weft__ctx_parked_frame(const void *words, uintptr_t *fp, uintptr_t *pc);
/* The pc and sp a signal interrupted, from its handler's ucontext. */
void *weft__ctx_signal_pc(const void *ucontext);
uintptr_t weft__ctx_signal_sp(const void *ucontext);

/* A spin-wait hint to the CPU (pause / yield) between two looks at a value
 * another thread will change. */
static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
