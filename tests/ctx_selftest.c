/* ctx selftest: the context switch and task stacks on their own, without
 * libuv or a test framework, so that it also runs on aarch64 under
 * qemu-user. Checks switching back and forth, callee-saved integer and
 * floating-point registers, stack alignment for the ABI, many live
 * contexts, and that the guard page below a stack faults. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx/ctx.h"
#include "ctx/stack.h"

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void run(const char *name, int (*fn)(void))
{
    int rc = fn();
    printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", name);
    if (rc == 0)
        passed++;
    else
        failed++;
}

static weft__ctx main_ctx, fiber_ctx;
static volatile long counter;

static void pingpong_entry(void *arg)
{
    weft__ctx_started(&main_ctx);
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        counter++;
        weft__ctx_switch(&fiber_ctx, &main_ctx);
    }
    counter = -1;
    weft__ctx_exit(&fiber_ctx, &main_ctx);
}

static int test_pingpong(void)
{
    weft__stack s;
    CHECK(weft__stack_map(&s, 64 * 1024) == 0);
    counter = 0;
    weft__ctx_make(&fiber_ctx, s.lo, s.size, pingpong_entry, (void *)(intptr_t)100000);
    for (long i = 0; i < 100000; i++) {
        weft__ctx_switch(&main_ctx, &fiber_ctx);
        CHECK(counter == i + 1);
    }
    weft__ctx_switch(&main_ctx, &fiber_ctx);
    CHECK(counter == -1);
    weft__stack_unmap(&s);
    return 0;
}

/* Values the compiler keeps in callee-saved registers across the switch. */
static void clobber_entry(void *arg)
{
    (void)arg;
    weft__ctx_started(&main_ctx);
    for (;;) {
        volatile double d[8];
        register long a = 0x1111, b = 0x2222, c = 0x3333;
        for (int i = 0; i < 8; i++)
            d[i] = i * 1.5;
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c));
        counter = a + b + c + (long)d[7];
        weft__ctx_switch(&fiber_ctx, &main_ctx);
    }
}

static int test_registers_preserved(void)
{
    weft__stack s;
    CHECK(weft__stack_map(&s, 64 * 1024) == 0);
    weft__ctx_make(&fiber_ctx, s.lo, s.size, clobber_entry, NULL);
    double x = 3.25, y = -7.5;
    long acc = 0;
    for (int i = 0; i < 1000; i++) {
        double before = x * y;
        long keep = acc + i;
        weft__ctx_switch(&main_ctx, &fiber_ctx);
        CHECK(x * y == before);
        CHECK(keep == acc + i);
        acc += counter;
        x += 1.0;
    }
    CHECK(acc == 1000L * (0x1111 + 0x2222 + 0x3333 + 10));
    weft__stack_unmap(&s);
    return 0;
}

static uintptr_t seen_sp_mod16;

static __attribute__((noinline)) void probe_alignment(void)
{
    /* A 16-byte aligned local: the ABI guarantees it only if the stack was
     * aligned at the call. */
    _Alignas(16) volatile char buf[16];
    seen_sp_mod16 = (uintptr_t)buf % 16;
}

static void align_entry(void *arg)
{
    (void)arg;
    weft__ctx_started(&main_ctx);
    probe_alignment();
    weft__ctx_exit(&fiber_ctx, &main_ctx);
}

static int test_alignment(void)
{
    weft__stack s;
    CHECK(weft__stack_map(&s, 64 * 1024) == 0);
    seen_sp_mod16 = 99;
    weft__ctx_make(&fiber_ctx, s.lo, s.size, align_entry, NULL);
    weft__ctx_switch(&main_ctx, &fiber_ctx);
    CHECK(seen_sp_mod16 == 0);
    weft__stack_unmap(&s);
    return 0;
}

#define MANY 1000
static weft__ctx many_ctx[MANY];
static int many_done;

static void many_entry(void *arg)
{
    int i = (int)(intptr_t)arg;
    weft__ctx_started(&main_ctx);
    weft__ctx_switch(&many_ctx[i], &main_ctx);
    many_done++;
    weft__ctx_exit(&many_ctx[i], &main_ctx);
}

static int test_many_contexts(void)
{
    static weft__stack stacks[MANY];
    weft__stack_pool pool;
    weft__stack_pool_init(&pool, 32 * 1024, 64);
    for (int i = 0; i < MANY; i++) {
        CHECK(weft__stack_get(&pool, 32 * 1024, &stacks[i]) == 0);
        weft__ctx_make(&many_ctx[i], stacks[i].lo, stacks[i].size, many_entry, (void *)(intptr_t)i);
        weft__ctx_switch(&main_ctx, &many_ctx[i]); /* each parks once */
    }
    for (int i = MANY - 1; i >= 0; i--)
        weft__ctx_switch(&main_ctx, &many_ctx[i]);
    CHECK(many_done == MANY);
    for (int i = 0; i < MANY; i++)
        weft__stack_put(&pool, &stacks[i]);
    /* all back; arenas beyond the cap were unmapped, one arena's worth kept */
    CHECK(pool.live == 0);
    CHECK(pool.count >= pool.cap && pool.count <= pool.cap + 2 * pool.per_arena);
    weft__stack_pool_destroy(&pool);
    return 0;
}

static int test_guard_page_faults(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        weft__stack s;
        if (weft__stack_map(&s, 64 * 1024) != 0)
            _exit(2);
        volatile char *below = (char *)s.lo - 1;
        *below = 1; /* must fault */
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    return 0;
}

int main(void)
{
    run("pingpong", test_pingpong);
    run("registers_preserved", test_registers_preserved);
    run("alignment", test_alignment);
    run("many_contexts", test_many_contexts);
#if !defined(WEFT_ASAN) && !defined(__SANITIZE_ADDRESS__)
    if (getenv("WEFT_TEST_NO_FORK")) /* qemu-user: a forked child hangs before it runs */
        printf("skip guard_page_faults (WEFT_TEST_NO_FORK)\n");
    else
        run("guard_page_faults", test_guard_page_faults);
#endif
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
