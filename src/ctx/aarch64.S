/* aarch64 (AAPCS64) context switch.
 *
 * void weft__ctx_swap(void **save_sp, void *new_sp)
 * Stores x19-x30 and d8-d15 (the callee-saved registers) in a 160-byte
 * frame on the current stack, saves sp in *save_sp, loads new_sp and
 * restores the same frame from it; ret jumps to the restored x30. A fresh
 * context's frame (ctx.c) has x30 = weft__ctx_boot_aarch64.
 * weft__ctx_swap_end marks its end (weft__ctx_pc_in_switch): no unwinder
 * can walk a stack interrupted in here.
 */
#if defined(__aarch64__)
    .text
    .globl  weft__ctx_swap
    .hidden weft__ctx_swap
    .type   weft__ctx_swap, %function
    .p2align 2
weft__ctx_swap:
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret
    .globl  weft__ctx_swap_end
    .hidden weft__ctx_swap_end
weft__ctx_swap_end:
    .size   weft__ctx_swap, .-weft__ctx_swap

/* First code of a new context: x19 = arg, x20 = entry. */
    .globl  weft__ctx_boot_aarch64
    .hidden weft__ctx_boot_aarch64
    .type   weft__ctx_boot_aarch64, %function
    .p2align 2
weft__ctx_boot_aarch64:
    mov     x29, #0
    mov     x30, #0
    mov     x0, x19
    blr     x20
    brk     #0
    .size   weft__ctx_boot_aarch64, .-weft__ctx_boot_aarch64
#endif
    .section .note.GNU-stack,"",%progbits
