/* compact_scale: what a loop of compact tasks holds at once, on the guard
 * path of kernels before 6.13 (run it with WEFT_STACK_GUARD=mprotect: each
 * private stack would then take two of the default 65,530 mappings).
 *
 *   compact_scale [SLEEPERS [QUEUED [CONNS]]]
 *       defaults 1000000, 100000, and as many Unix-socket connections as
 *       the descriptor limit allows (raised to its hard limit; two
 *       descriptors each)
 *
 * Phase 1: SLEEPERS compact tasks sleep 1 s at once, all woken and counted.
 * Phase 2: CONNS connections, each with a compact handler task and a
 * compact client task parked on a socket read, beside QUEUED compact tasks
 * parked on one queue; then every one is woken (a byte each way, an item
 * each) and counted. Prints what was parked and the memory, exit 0 when
 * every task was accounted for. ctest runs it small (compact_scale). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <weft.h>
#include <weft/debug.h>
#include <weft/net.h>
#include <weft/sync.h>

typedef struct scale {
    size_t sleepers, queued, conns;
    size_t slept, got, served, echoed;
    weft_queue *q;
    char path[64];
} scale;

static scale S;

static long vm_kb(const char *key)
{
    char line[128];
    long v = -1;
    size_t n = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0)
            v = strtol(line + n, NULL, 10);
    fclose(f);
    return v;
}

static void report(const char *phase)
{
    struct weft_loop_stats st;
    if (weft_loop_stats(NULL, &st) != 0)
        return;
    printf("%s: %zu tasks waiting (%zu on I/O, %zu sleeping), %zu saved aside in %zu KiB; "
           "VmRSS %ld kB, VmPTE %ld kB, stacks of their own %zu\n",
           phase, st.tasks_waiting, st.tasks_io, st.tasks_sleeping, st.compact_saved,
           st.compact_slab_in_use / 1024, vm_kb("VmRSS:"), vm_kb("VmPTE:"), st.stacks_live);
    fflush(stdout);
}

static int sleeper(void *arg)
{
    (void)arg;
    int rc = weft_sleep(1.0);
    if (rc == 0)
        S.slept++;
    return rc;
}

static int getter(void *arg)
{
    (void)arg;
    void *item;
    int rc = weft_queue_get(S.q, &item);
    if (rc == 0 && item == &S)
        S.got++;
    return rc;
}

static int handler(weft_stream *s, void *arg)
{
    (void)arg;
    char c;
    int rc = weft_stream_read_exactly(s, &c, 1);
    if (rc == 0 && c == 'x' && weft_stream_write(s, "y", 1) == 0 && weft_stream_drain(s) == 0)
        S.served++;
    return rc;
}

static int client(void *arg)
{
    weft_stream *s = arg;
    char c;
    int rc = weft_stream_read_exactly(s, &c, 1);
    if (rc == 0 && c == 'y')
        S.echoed++;
    return rc;
}

static int spawn_all(size_t n, weft_fn fn, void **args, weft_task **out)
{
    const weft_task_opts compact = {.stack_mode = WEFT_STACK_COMPACT};
    for (size_t i = 0; i < n; i++) {
        int rc = weft_spawn_opts(fn, args ? args[i] : NULL, &compact, &out[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int await_all(weft_task **t, size_t n)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = weft_await(t[i]);
        weft_task_free(t[i]);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

static int phase_sleepers(void)
{
    weft_task **t = malloc(S.sleepers * sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    double t0 = weft_time();
    int rc = spawn_all(S.sleepers, sleeper, NULL, t);
    if (rc == 0) {
        rc = weft_sleep(0.8); /* they are all parked by now (or still spawning: see the count) */
        report("sleepers parked");
    }
    int rc2 = await_all(t, S.sleepers);
    printf("sleepers: %zu of %zu woken in %.3f s\n", S.slept, S.sleepers, weft_time() - t0);
    free(t);
    return rc ? rc : rc2;
}

static int phase_sockets_and_queue(void)
{
    weft_net_opts o = {.read_buffer = 256, .stack_mode = WEFT_STACK_COMPACT};
    weft_server *srv;
    snprintf(S.path, sizeof S.path, "/tmp/weft-compact-scale-%d.sock", (int)getpid());
    int rc = weft_unix_serve(S.path, handler, NULL, &o, &srv);
    if (rc != 0)
        return rc;
    weft_stream **streams = calloc(S.conns ? S.conns : 1, sizeof *streams);
    weft_task **clients = calloc(S.conns ? S.conns : 1, sizeof *clients);
    weft_task **getters = calloc(S.queued ? S.queued : 1, sizeof *getters);
    if (streams == NULL || clients == NULL || getters == NULL)
        rc = -ENOMEM;
    size_t made = 0;
    for (; rc == 0 && made < S.conns; made++)
        rc = weft_unix_connect(S.path, &o, &streams[made]);
    if (rc == 0)
        rc = spawn_all(S.conns, client, (void **)streams, clients);
    if (rc == 0 && (rc = weft_queue_new(0, &S.q)) == 0)
        rc = spawn_all(S.queued, getter, NULL, getters);
    for (int i = 0; rc == 0 && i < 500 && weft_server_live(srv) < S.conns; i++)
        rc = weft_sleep(0.01);
    if (rc == 0)
        rc = weft_sleep(0.05); /* the handlers reach their reads */
    if (rc == 0) {
        report("sockets and queue parked");
        for (size_t i = 0; rc == 0 && i < S.conns; i++)
            rc = weft_stream_write(streams[i], "x", 1);
        for (size_t i = 0; rc == 0 && i < S.queued; i++)
            rc = weft_queue_put(S.q, &S);
    }
    int rc2 = await_all(clients, rc == 0 ? S.conns : 0);
    int rc3 = await_all(getters, rc == 0 ? S.queued : 0);
    for (size_t i = 0; i < made; i++)
        if (streams[i] && weft_stream_close(streams[i]) != 0 && rc == 0)
            rc = -EIO;
    int rc4 = weft_server_close(srv, 5.0);
    printf("sockets: %zu served, %zu echoed of %zu; queue: %zu of %zu got their item\n", S.served,
           S.echoed, S.conns, S.got, S.queued);
    weft_queue_free(S.q);
    free(streams);
    free(clients);
    free(getters);
    return rc ? rc : rc2 ? rc2 : rc3 ? rc3 : rc4;
}

static int scale_main(void *arg)
{
    (void)arg;
    int rc = phase_sleepers();
    if (rc == 0)
        rc = phase_sockets_and_queue();
    return rc;
}

static size_t conns_for_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 128)
        return 0;
    return (size_t)(rl.rlim_cur - 64) / 2; /* a client and a server descriptor each */
}

int main(int argc, char **argv)
{
    S.sleepers = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    S.queued = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    size_t fit = conns_for_fd_limit();
    S.conns = argc > 3 ? strtoul(argv[3], NULL, 10) : fit;
    if (S.conns > fit)
        S.conns = fit;
    const char *guard = getenv("WEFT_STACK_GUARD");
    printf("compact_scale: %zu sleepers, then %zu connections (%zu tasks on socket reads) "
           "beside %zu on a queue; guard path: %s\n",
           S.sleepers, S.conns, 2 * S.conns, S.queued, guard ? guard : "default");
    int rc = weft_run(scale_main, NULL);
    bool all =
        S.slept == S.sleepers && S.served == S.conns && S.echoed == S.conns && S.got == S.queued;
    if (rc != 0)
        fprintf(stderr, "compact_scale: %s: %s\n", weft_err_name(rc), weft_strerror(rc));
    return rc == 0 && all ? 0 : 1;
}
