/* overflow: stack overflow reports. A task that runs off the bottom of its
 * stack hits the guard page below it; a SIGSEGV handler, on an alternate
 * signal stack (the task's own is exhausted), says which task overflowed,
 * its stack size and how to raise it, then lets the fault kill the
 * process as it would have (or passes it to the handler that was there).
 * Under AddressSanitizer none of this is installed: ASan owns SIGSEGV and
 * reports stack overflows itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "debug/debug.h"

#if defined(WEFT_ASAN) || defined(__SANITIZE_ADDRESS__) || defined(WEFT_TSAN)
void weft__overflow_thread_init(weft_loop *loop)
{
    (void)loop;
}
void weft__overflow_thread_fini(weft_loop *loop)
{
    (void)loop;
}
#else

#define ALTSTACK_SIZE  (64u * 1024u)
/* A frame bigger than the guard jumps over it: a stack pointer this far
 * below the stack still counts as an overflow of that task. */
#define OVERFLOW_SLACK (1u << 20)

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
static struct sigaction old_action;

/* This thread's alternate stack, shared by the loops it runs. */
static __thread void *tl_altstack;
static __thread unsigned tl_altstack_users;

/* ------------------------------------------- async-signal-safe formatting */

typedef struct out {
    char buf[768];
    size_t len;
} out;

static void put(out *o, const char *s)
{
    while (s && *s && o->len + 1 < sizeof o->buf)
        o->buf[o->len++] = *s++;
}

static void put_u(out *o, uint64_t v)
{
    char d[24];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 20);
    while (n > 0 && o->len + 1 < sizeof o->buf)
        o->buf[o->len++] = d[--n];
}

static void put_hex(out *o, uintptr_t v)
{
    char d[20];
    int n = 0;
    do
        d[n++] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) && n < 16);
    put(o, "0x");
    while (n > 0 && o->len + 1 < sizeof o->buf)
        o->buf[o->len++] = d[--n];
}

/* task #<id> "<name>" (spawned at <file>:<line>) */
static void put_task(out *o, const weft_task *t)
{
    put(o, "task #");
    put_u(o, t->id);
    put(o, " \"");
    if (t->name)
        put(o, t->name);
    else {
        put(o, "Task-");
        put_u(o, t->id);
    }
    put(o, "\"");
    if (t->site_file) {
        put(o, " (spawned at ");
        put(o, t->site_file);
        put(o, ":");
        put_u(o, (uint64_t)t->site_line);
        put(o, ")");
    }
}

static void put_out(const out *o)
{
    const char *p = o->buf;
    size_t left = o->len;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
}

static void write_report(const weft_task *t, uintptr_t addr)
{
    out o = {.len = 0};
    put(&o, "weft: error: overflow: ");
    put_task(&o, t);
    put(&o, " overflowed its stack of ");
    put_u(&o, t->stack.size);
    put(&o, " bytes (fault at ");
    put_hex(&o, addr);
    put(&o, ", the stack starts at ");
    put_hex(&o, (uintptr_t)t->stack.lo);
    put(&o, "). Give it a bigger stack: weft_task_opts.stack_size = ");
    /* Four times as much, never a wrapped (smaller) figure. */
    size_t bigger =
        t->stack.size <= WEFT__STACK_SIZE_MAX / 4 ? t->stack.size * 4 : WEFT__STACK_SIZE_MAX;
    put_u(&o, (uint64_t)bigger);
    put(&o, " with weft_spawn_opts(), or recurse less.\n");
    put_out(&o);
}

/* Debug mode: a compact task's stack is inaccessible while it is parked
 * (compact.h). A fault there is the one rule of compact tasks broken: the
 * running task (or a callback) touched a parked compact task's locals
 * through a pointer it was given. */
static void write_parked_report(const weft_loop *loop, const weft_task *parked, uintptr_t addr)
{
    out o = {.len = 0};
    put(&o, "weft: error: compact: ");
    if (loop->current) {
        put_task(&o, loop->current);
        put(&o, " touched the stack");
    } else {
        put(&o, "a callback of the loop touched the stack");
    }
    put(&o, " of parked compact ");
    put_task(&o, parked);
    put(&o, " at ");
    put_hex(&o, addr);
    put(&o, ". A compact task's locals move while it waits: give other tasks heap memory, "
            "not pointers to its locals, or spawn it with .stack_mode = WEFT_STACK_PRIVATE "
            "(docs/guide.md, \"A million tasks\").\n");
    put_out(&o);
}

/* Is this fault the current task running off its stack? */
static const weft_task *overflowed_task(siginfo_t *si, void *uc)
{
    weft_loop *loop = weft__loop_current();
    const weft_task *t = loop ? loop->current : NULL;
    if (t == NULL || t->stack.lo == NULL)
        return NULL;
    uintptr_t lo = (uintptr_t)t->stack.lo, page = weft__page_size();
    uintptr_t addr = (uintptr_t)si->si_addr, sp = weft__ctx_signal_sp(uc);
    if (addr >= lo - page && addr < lo)
        return t; /* in the guard page */
    if (sp < lo && sp + OVERFLOW_SLACK >= lo && addr < lo && addr + OVERFLOW_SLACK >= lo)
        return t; /* a frame larger than the guard jumped over it */
    return NULL;
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    const weft_task *t = overflowed_task(si, uc);
    weft_loop *loop = weft__loop_current();
    const weft_task *parked =
        t == NULL && loop ? weft__compact_guarded_owner(loop, (uintptr_t)si->si_addr) : NULL;
    if (parked != NULL) {
        if (weft_log_enabled(WEFT_LOG_ERROR))
            write_parked_report(loop, parked, (uintptr_t)si->si_addr);
    } else if (t == NULL) { /* not ours: whoever handled SIGSEGV before us does */
        if (old_action.sa_flags & SA_SIGINFO) {
            if (old_action.sa_sigaction) {
                old_action.sa_sigaction(sig, si, uc);
                return;
            }
        } else if (old_action.sa_handler != SIG_DFL && old_action.sa_handler != SIG_IGN) {
            old_action.sa_handler(sig);
            return;
        }
    } else if (weft_log_enabled(WEFT_LOG_ERROR)) {
        write_report(t, (uintptr_t)si->si_addr);
    }
    /* Returning re-runs the faulting instruction: it faults again, now with
     * the previous disposition (the default one kills with a core dump). */
    struct sigaction again = old_action;
    if (!(again.sa_flags & SA_SIGINFO) && again.sa_handler == SIG_IGN)
        again.sa_handler = SIG_DFL;
    sigaction(SIGSEGV, &again, NULL);
}

/* At every loop's start: ours unless someone installed a handler since
 * (a test harness does, per test); then ours again, passing on to theirs
 * what is not ours. */
static void install_once(void)
{
    pthread_mutex_lock(&install_lock);
    struct sigaction cur;
    if (installed && sigaction(SIGSEGV, NULL, &cur) == 0 &&
        !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler))
        installed = false;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = segv_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &old_action) == 0)
            installed = true;
    }
    pthread_mutex_unlock(&install_lock);
}

void weft__overflow_thread_init(weft_loop *loop)
{
    (void)loop;
    if (tl_altstack_users++ == 0) {
        stack_t cur;
        /* A thread that has its own alternate stack keeps it. */
        if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
            void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            stack_t ss = {.ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
            if (mem != MAP_FAILED && sigaltstack(&ss, NULL) == 0)
                tl_altstack = mem;
            else if (mem != MAP_FAILED)
                munmap(mem, ALTSTACK_SIZE);
        }
    }
    install_once();
}

void weft__overflow_thread_fini(weft_loop *loop)
{
    /* A loop closed from another thread than its own leaves that thread's
     * alternate stack in place (it cannot be removed from here). */
    if (!pthread_equal(loop->thread, pthread_self()) || tl_altstack_users == 0)
        return;
    if (--tl_altstack_users == 0 && tl_altstack) {
        stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&ss, NULL) == 0)
            munmap(tl_altstack, ALTSTACK_SIZE);
        tl_altstack = NULL;
    }
}
#endif
