/* ctx backend on POSIX ucontext, for CPUs without an assembly switch.
 * Slower (swapcontext saves the signal mask with a system call) but
 * portable. Chosen at configure time with -DWEFT_CTX=ucontext. */
#ifdef WEFT_CTX_UCONTEXT
#include "ctx.h"

#include <stdint.h>

/* makecontext passes int arguments only: split the pointers in halves. */
static void boot(unsigned e_hi, unsigned e_lo, unsigned a_hi, unsigned a_lo)
{
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
    swapcontext(&from->uc, &to->uc);
}
#endif
