/* ctx backend on POSIX ucontext, for CPUs without an assembly switch.
 * Slower (swapcontext saves the signal mask with a system call) but
 * portable. Chosen at configure time with -DWEFT_CTX=ucontext. */
#ifdef WEFT_CTX_UCONTEXT
#define _GNU_SOURCE /* REG_RSP */
#include "ctx/ctx.h"

#include <signal.h>
#include <stdint.h>

/* Set while swapcontext runs on this thread: its code is libc's, so the
 * switch cannot be found by address (weft__ctx_pc_in_switch). Cleared
 * where a switch lands: after swapcontext returns, or in boot. */
static __thread volatile sig_atomic_t tl_switching;

/* makecontext passes int arguments only: split the pointers in halves. */
static void boot(unsigned e_hi, unsigned e_lo, unsigned a_hi, unsigned a_lo)
{
    tl_switching = 0;
    weft__ctx_entry entry = (weft__ctx_entry)(uintptr_t)(((uint64_t)e_hi << 32) | (uint64_t)e_lo);
    void *arg = (void *)(uintptr_t)(((uint64_t)a_hi << 32) | (uint64_t)a_lo);
    entry(arg);
}

void weft__ctx_make_impl(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry, void *arg)
{
    uint64_t e = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))boot, 4, (unsigned)(e >> 32), (unsigned)e,
                (unsigned)(a >> 32), (unsigned)a);
}

void weft__ctx_swap_impl(weft__ctx *from, weft__ctx *to)
{
    tl_switching = 1;
    swapcontext(&from->uc, &to->uc);
    tl_switching = 0;
}

/* swapcontext saved the caller's stack pointer in the context (on x86_64
 * the one after its return address: setcontext pushes that address back
 * below it, a write, never a read of what was there). */
void *weft__ctx_saved_sp(const weft__ctx *ctx)
{
#if defined(__x86_64__)
    return (void *)(uintptr_t)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (void *)(uintptr_t)ctx->uc.uc_mcontext.sp;
#else
#error "compact tasks need the saved stack pointer of a ucontext on this CPU"
#endif
}

bool weft__ctx_pc_in_switch(const void *pc)
{
    (void)pc;
    return tl_switching != 0;
}
#endif
