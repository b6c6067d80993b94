/* work.c: the two functions every variant of the menu runs, the same in
 * each: the talk's counter (I/O-bound: one step per sleep) and counting
 * primes (CPU-bound: real work), sized by a quick calibration. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <time.h>

#include "weft.h"

#include "menu.h"

/* A block is WIDTH numbers tested by trial division. Blocks cycle through
 * CYCLE ranges just above BASE so every block costs about the same, which
 * makes the calibration of the first few blocks hold for a whole job. */
#define BASE  4000000L
#define WIDTH 1000L
#define CYCLE 64L

double menu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds used so far by every thread of this process and by its
 * reaped children: over an item, divided by its wall time, the number of
 * cores it kept busy. */
double menu_cpu_seconds(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                    kids.ru_stime.tv_sec) +
           (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                    kids.ru_stime.tv_usec) *
               1e-6;
}

/* time.sleep(): blocks the whole OS thread, resuming after EINTR. */
void menu_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Workers in threads and in forked children bump the shared progress
 * count; the live display reads it from another thread. */
void menu_progress_add(menu_shared *sh, long n)
{
    __atomic_add_fetch(&sh->progress, n, __ATOMIC_RELAXED);
}

/* Atomics on the shared page: forked children count too. */
void menu_busy_enter(menu_shared *sh)
{
    long now = __atomic_add_fetch(&sh->busy, 1, __ATOMIC_RELAXED);
    long seen = __atomic_load_n(&sh->busy_max, __ATOMIC_RELAXED);
    while (now > seen && !__atomic_compare_exchange_n(&sh->busy_max, &seen, now, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void menu_busy_leave(menu_shared *sh)
{
    __atomic_sub_fetch(&sh->busy, 1, __ATOMIC_RELAXED);
}

long menu_progress_get(menu_shared *sh)
{
    return __atomic_load_n(&sh->progress, __ATOMIC_RELAXED);
}

static int is_prime(unsigned n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (unsigned d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* The primes in block i: the unit of CPU work. */
long menu_prime_block(long i)
{
    unsigned lo = (unsigned)(BASE + (i % CYCLE) * WIDTH);
    long found = 0;
    for (unsigned n = lo; n < lo + WIDTH; n++)
        found += is_prime(n);
    return found;
}

/* Nanoseconds this thread has spent runnable but waiting for a core (the
 * second field of Linux's schedstat), or -1. A job that waited long was
 * slowed by other programs, not by its variant: the test tells a busy
 * machine from serialized threads by it. Plain system calls, no stdio:
 * this also runs in forked children of a threaded parent, where malloc
 * could deadlock. */
static long run_delay_ns(void)
{
    char buf[128];
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = buf;
    while (*p >= '0' && *p <= '9') /* skip time on the CPU */
        p++;
    if (*p != ' ')
        return -1;
    long v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

/* One worker's CPU job: env->cpu_blocks blocks, about env->scale seconds
 * on a free core. Returns the primes found (a checksum: equal in every
 * variant, so no variant can skip work). */
long menu_cpu_job(const menu_env *env)
{
    menu_busy_enter(env->sh);
    long found = 0, w0 = run_delay_ns();
    for (long i = 0; i < env->cpu_blocks; i++) {
        found += menu_prime_block(i);
        menu_progress_add(env->sh, 1);
    }
    long w1 = run_delay_ns();
    menu_busy_leave(env->sh);
    if (w0 >= 0 && w1 >= w0)
        __atomic_add_fetch(&env->sh->wait_ns, w1 - w0, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&env->sh->wait_unknown, 1, __ATOMIC_RELAXED);
    return found;
}

/* This thread's CPU time: unlike the wall clock it does not count the time
 * other programs on a shared machine held the core. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds one block takes on a free core: a full cycle of blocks (every
 * block of a job repeats one of them) timed in CPU time, three times; the
 * fastest run is the one least disturbed (caches, frequency). */
double menu_calibrate(void)
{
    double best = 1e9;
    volatile long sink = 0;
    for (int run = 0; run < 3; run++) {
        double t0 = cpu_now();
        for (long i = 0; i < CYCLE; i++)
            sink += menu_prime_block(i);
        double t = (cpu_now() - t0) / (double)CYCLE;
        if (t > 0 && t < best)
            best = t;
    }
    (void)sink;
    return best;
}

/* The talk's my_func with time.sleep: `while times < 10: times += 1;
 * sleep(step)`. Threads share *times; the loads and stores are relaxed
 * atomics so the race is the talk's logical one (check, then increment:
 * two separate steps), not undefined behaviour. Returns the steps this
 * worker took. */
int menu_count_blocking(int *times, double step, menu_shared *sh)
{
    int counted = 0;
    while (__atomic_load_n(times, __ATOMIC_RELAXED) < MENU_TARGET) {
        int seen = __atomic_load_n(times, __ATOMIC_RELAXED);
        __atomic_store_n(times, seen + 1, __ATOMIC_RELAXED);
        counted++;
        menu_progress_add(sh, 1);
        menu_busy_enter(sh);
        menu_sleep(step);
        menu_busy_leave(sh);
    }
    return counted;
}

int menu_end_tasks(weft_task **t, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++)
        weft_cancel(t[i]);
    int grc = weft_gather(t, n, WEFT_RETURN_EXCEPTIONS); /* 0, or WEFT_ECANCELED */
    for (size_t i = 0; i < n; i++)
        weft_task_free(t[i]);
    return rc != 0 ? rc : grc;
}
