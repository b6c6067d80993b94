/* machine: what weft reads off the machine's registers, for the debug
 * layer's reports: the frame a parked context saved (the start of a parked
 * task's backtrace), and the pc and sp a signal interrupted. Register
 * layouts are the ctx layer's business (x86_64.S and aarch64.S push them),
 * so the reports stay free of #ifdefs per architecture. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <ucontext.h>

#include "ctx/ctx.h"

__attribute__((no_sanitize_address)) bool weft__ctx_parked_frame(const void *words, uintptr_t *fp,
                                                                 uintptr_t *pc)
{
#if defined(WEFT_CTX_UCONTEXT)
    (void)words, (void)fp, (void)pc;
    return false;
#else
    const uintptr_t *sp = words;
    if (sp == NULL)
        return false;
#if defined(__x86_64__)
    *fp = sp[6]; /* the frame weft__ctx_swap pushed: rbp, then the return address */
    *pc = sp[7];
#elif defined(__aarch64__)
    *fp = sp[10]; /* x29, x30 */
    *pc = sp[11];
#else
    (void)fp, (void)pc;
    return false;
#endif
    return true;
#endif
}

void *weft__ctx_signal_pc(const void *ucontext)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (void *)uc->uc_mcontext.pc;
#else
    (void)uc;
    return NULL;
#endif
}

uintptr_t weft__ctx_signal_sp(const void *ucontext)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}
