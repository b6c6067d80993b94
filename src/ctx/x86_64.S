/* x86_64 System V context switch.
 *
 * void weft__ctx_swap(void **save_sp, void *new_sp)
 * Pushes the callee-saved registers, the x87 control word and MXCSR on the
 * current stack, stores the stack pointer in *save_sp, loads new_sp and pops
 * the same frame from it. A fresh context's frame is built by
 * weft__ctx_make (ctx.c) and "returns" into weft__ctx_boot_x86_64.
 * Its unwind information describes neither the pushes nor the stack swap:
 * weft__ctx_swap_end marks its end, so that a signal handler can tell it
 * was interrupted in here and must not unwind (weft__ctx_pc_in_switch).
 */
#if defined(__x86_64__)
    .text
    .globl  weft__ctx_swap
    .hidden weft__ctx_swap
    .type   weft__ctx_swap, @function
weft__ctx_swap:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .globl  weft__ctx_swap_end
    .hidden weft__ctx_swap_end
weft__ctx_swap_end:
    .cfi_endproc
    .size   weft__ctx_swap, .-weft__ctx_swap

/* First code of a new context: r12 = arg, r13 = entry. The stack is 16-byte
 * aligned here, as a call requires. entry never returns. */
    .globl  weft__ctx_boot_x86_64
    .hidden weft__ctx_boot_x86_64
    .type   weft__ctx_boot_x86_64, @function
weft__ctx_boot_x86_64:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   weft__ctx_boot_x86_64, .-weft__ctx_boot_x86_64
#endif
    .section .note.GNU-stack,"",@progbits
