/* ctx: what every backend shares — building a fresh context's first frame
 * for the assembly backends, and the AddressSanitizer fiber annotations
 * around each switch (ASan must know which stack it is on, or it reports
 * false stack-buffer errors and loses fake stacks). */
#include "ctx/ctx.h"

#include <stdint.h>

#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__)
#define WEFT_CTX_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef WEFT_CTX_UCONTEXT
void weft__ctx_make_impl(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry, void *arg);
void weft__ctx_swap_impl(weft__ctx *from, weft__ctx *to);
#else
void weft__ctx_swap(void **save_sp, void *new_sp);
extern const char weft__ctx_swap_end[];
#define weft__ctx_swap_impl(from, to) weft__ctx_swap(&(from)->sp, (to)->sp)

void *weft__ctx_saved_sp(const weft__ctx *ctx)
{
    return ctx->sp; /* the frame weft__ctx_swap pushed is the lowest data */
}

bool weft__ctx_pc_in_switch(const void *pc)
{
    const char *p = pc;
    return p >= (const char *)(uintptr_t)weft__ctx_swap && p <= weft__ctx_swap_end;
}

#if defined(__x86_64__)
void weft__ctx_boot_x86_64(void);
/* Frame popped by weft__ctx_swap, lowest address first: MXCSR + x87 control
 * word, r15, r14, r13 (entry), r12 (arg), rbx, rbp, return address. */
static void weft__ctx_make_impl(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry,
                                void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 24); /* the return slot: after ret, rsp % 16 == 0 */
    *sp = (uint64_t)(uintptr_t)weft__ctx_boot_x86_64;
    *--sp = 0;                          /* rbp */
    *--sp = 0;                          /* rbx */
    *--sp = (uint64_t)(uintptr_t)arg;   /* r12 */
    *--sp = (uint64_t)(uintptr_t)entry; /* r13 */
    *--sp = 0;                          /* r14 */
    *--sp = 0;                          /* r15 */
    *--sp = 0x037F00001F80ull;          /* fpu control word 0x37F at +4, MXCSR 0x1F80 at +0 */
    ctx->sp = sp;
}
#elif defined(__aarch64__)
void weft__ctx_boot_aarch64(void);
/* Frame restored by weft__ctx_swap: x19..x30 then d8..d15, 160 bytes. */
static void weft__ctx_make_impl(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry,
                                void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 160);
    for (int i = 0; i < 20; i++)
        frame[i] = 0;
    frame[0] = (uint64_t)(uintptr_t)arg;                     /* x19 */
    frame[1] = (uint64_t)(uintptr_t)entry;                   /* x20 */
    frame[11] = (uint64_t)(uintptr_t)weft__ctx_boot_aarch64; /* x30 */
    ctx->sp = frame;
}
#else
#error "no assembly context switch for this CPU: configure with -DWEFT_CTX=ucontext"
#endif
#endif

void weft__ctx_make(weft__ctx *ctx, void *lo, size_t size, weft__ctx_entry entry, void *arg)
{
#ifdef WEFT_CTX_ASAN
    ctx->stack_lo = lo;
    ctx->stack_size = size;
    ctx->asan_fake_stack = NULL;
    /* A reused stack still carries the poisoned redzones of the frames of
     * the context that last ran on it and never returned. */
    __asan_unpoison_memory_region(lo, size);
#endif
    weft__ctx_make_impl(ctx, lo, size, entry, arg);
}

#ifdef WEFT_CTX_ASAN
void weft__ctx_switch(weft__ctx *from, weft__ctx *to)
{
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo, to->stack_size);
    weft__ctx_swap_impl(from, to);
    /* Back in from: the context that switched here is not known here, and
     * its stack bounds are already recorded, so they are not needed. */
    __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
}

void weft__ctx_exit(weft__ctx *from, weft__ctx *to)
{
    __sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
    weft__ctx_swap_impl(from, to);
    __builtin_unreachable();
}

void weft__ctx_started(weft__ctx *from)
{
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    if (from->stack_lo == NULL) { /* a thread's own stack, learnt on first use */
        from->stack_lo = lo;
        from->stack_size = size;
    }
}
#else
void weft__ctx_switch(weft__ctx *from, weft__ctx *to)
{
    weft__ctx_swap_impl(from, to);
}

void weft__ctx_exit(weft__ctx *from, weft__ctx *to)
{
    weft__ctx_swap_impl(from, to);
    __builtin_unreachable();
}

void weft__ctx_started(weft__ctx *from)
{
    (void)from;
}
#endif
