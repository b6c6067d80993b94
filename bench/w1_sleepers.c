/* W1: N tasks that each sleep 1.0 s, and the main task waits for all (as in
 * ../shared/peers: Tokio awaits every JoinHandle, Go a WaitGroup). Prints
 * "METRIC <s> s_inprog", the time inside the program; run.sh adds wall time
 * and peak RSS from /usr/bin/time -v.
 *
 *   w1_sleepers [N [MODE] [STACK_KB]]
 *       N defaults to 10000; MODE is private (the default) or compact, the
 *       tasks' weft_stack_mode; STACK_KB (for experiments) sets their stack
 *       size, default WEFT_DEFAULT_STACK_SIZE.
 *
 * While the sleepers are parked (0.9 s in) it also prints
 * "PARKED <VmRSS kB> <VmPTE kB>" from /proc/self/status: the page tables
 * are part of what a parked task costs.
 *
 * With W1_MASS_WAKE=S every sleeper sleeps until the same moment (S s in)
 * and it prints "WAKE <ns> ns/task": from that moment to the last one's end,
 * per task: the cost of waking them all at once.
 *
 * Exit 0 on success, 3 if some task could not get a stack (WEFT_ESTACK: the
 * kernel's map count; the message names the sysctl), 1 on any other error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
#include <weft/debug.h>

typedef struct w1 {
    size_t n;
    weft_task_opts opts;
    size_t no_stack; /* tasks that ended with WEFT_ESTACK */
    int first_error;
    double seconds;
} w1;

/* W1_MASS_WAKE=S: every sleeper sleeps until the same moment (S seconds
 * after the start), so that WAKE measures waking them all at once. */
static double wake_at;

static int sleeper(void *arg)
{
    (void)arg;
    return weft_sleep(wake_at > 0 ? wake_at - weft_time() : 1.0);
}

/* VmRSS and VmPTE (kB) of this process, or -1. */
static void vm_status(long *rss, long *pte)
{
    char line[128];
    *rss = *pte = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmPTE:", 6) == 0)
            *pte = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* Samples the memory while every sleeper is parked (they wake at 1.0 s). */
static int probe(void *arg)
{
    (void)arg;
    int rc = weft_sleep(0.9);
    long rss, pte;
    vm_status(&rss, &pte);
    struct weft_loop_stats st;
    if (weft_loop_stats(NULL, &st) != 0)
        return -EINVAL;
    printf(
        "PARKED rss_kb=%ld pte_kb=%ld saved=%zu saved_bytes=%zu slab_in_use=%zu slab_mapped=%zu\n",
        rss, pte, st.compact_saved, st.compact_saved_bytes, st.compact_slab_in_use,
        st.compact_slab_mapped);
    return rc;
}

static long map_count_limit(void)
{
    long v = -1;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int w1_main(void *arg)
{
    w1 *b = arg;
    weft_task **tasks = malloc(b->n * sizeof *tasks);
    if (tasks == NULL)
        return -ENOMEM;
    double t0 = weft_time();
    const char *mass = getenv("W1_MASS_WAKE");
    if (mass && atof(mass) > 0)
        wake_at = t0 + atof(mass);
    weft_task *prober;
    int prc = weft_spawn(probe, NULL, &prober);
    if (prc != 0) {
        free(tasks);
        return prc;
    }
    size_t spawned = 0;
    for (; spawned < b->n; spawned++) {
        int rc = weft_spawn_opts(sleeper, NULL, &b->opts, &tasks[spawned]);
        if (rc != 0) {
            b->first_error = rc;
            break;
        }
    }
    for (size_t i = 0; i < spawned; i++) {
        int rc = weft_await(tasks[i]);
        weft_task_free(tasks[i]);
        if (rc == WEFT_ESTACK)
            b->no_stack++;
        else if (rc != 0 && b->first_error == 0)
            b->first_error = rc;
    }
    b->seconds = weft_time() - t0;
    /* The mass wake: from the moment they all sleep until to the last
     * one's end, per task (each is woken, resumed, ended and awaited). */
    if (wake_at > 0 && spawned > 0)
        printf("WAKE %.1f ns/task\n", (weft_time() - wake_at) * 1e9 / (double)spawned);
    prc = weft_await(prober);
    weft_task_free(prober);
    free(tasks);
    if (prc != 0 && b->first_error == 0)
        b->first_error = prc;
    return 0;
}

int main(int argc, char **argv)
{
    w1 b = {.n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000};
    int arg = 2;
    if (argc > arg && strcmp(argv[arg], "compact") == 0)
        b.opts.stack_mode = WEFT_STACK_COMPACT, arg++;
    else if (argc > arg && strcmp(argv[arg], "private") == 0)
        b.opts.stack_mode = WEFT_STACK_PRIVATE, arg++;
    if (argc > arg)
        b.opts.stack_size = strtoul(argv[arg], NULL, 10) * 1024;
    if (b.n == 0) {
        fprintf(stderr, "usage: %s [N>0 [private|compact] [STACK_KB]]\n", argv[0]);
        return 2;
    }
    int rc = weft_run(w1_main, &b);
    if (rc == 0 && b.no_stack > 0) {
        fprintf(stderr,
                "w1: %zu of %zu tasks could not map a stack: %s (%s)\n"
                "w1: vm.max_map_count is %ld; lift it with: sysctl -w vm.max_map_count=%zu\n",
                b.no_stack, b.n, weft_err_name(WEFT_ESTACK), weft_strerror(WEFT_ESTACK),
                map_count_limit(), 2 * b.n + 65536);
        return 3;
    }
    if (rc == 0)
        rc = b.first_error;
    if (rc != 0) {
        fprintf(stderr, "w1: %s: %s\n", weft_err_name(rc), weft_strerror(rc));
        return 1;
    }
    printf("METRIC %.3f s_inprog\n", b.seconds);
    return 0;
}
