/* w8_redis: commands per second of weft's Redis client, beside hiredis's
 * own async client on libuv and redis-benchmark, on one redis-server
 * (Debian's, started here on a Unix socket) in the same run.
 *
 *   w8_redis [N [ONLY]]   N commands per measurement (default 200000);
 *                         ONLY: run the lines whose name holds this word
 *
 * Each line is the best of 3 runs: commands/s, and the client's CPU time
 * per command (user + system, so that a busy machine does not flatter or
 * blame anyone). weft runs T tasks on one connection (each sends a command
 * and waits for its reply: the connection pipelines them), the pool with
 * T tasks, and explicit pipelines; hiredis keeps D commands in flight from
 * its callbacks; redis-benchmark runs -c 1 -P D (one connection, D deep)
 * and -c 50 (fifty connections, one command each). The last lines give
 * weft's ratios. "METRIC" lines are for bench/run.sh. */
#define _GNU_SOURCE
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "redis_server.h" /* tests/support, the weft_partner library */
#include "weft.h"

static redis_server srv;
static long total = 200000;
static const char *only; /* run only the lines whose name holds this */

static bool wanted(const char *name)
{
    return only == NULL || strstr(name, only) != NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

typedef struct result {
    double rate;   /* commands/s */
    double cpu_ns; /* client CPU per command */
} result;

static void keep_best(result *best, double wall, double cpu)
{
    result r = {total / wall, cpu * 1e9 / total};
    if (r.rate > best->rate)
        *best = r;
}

static void report(const char *name, result r)
{
    printf("%-44s %10.0f cmd/s %8.0f ns CPU/cmd\n", name, r.rate, r.cpu_ns);
    printf("METRIC %s %.0f cmd/s\n", name, r.rate);
    fflush(stdout);
}

/* ------------------------------------------------------------ weft */

typedef struct job {
    weft_redis *conn;
    weft_redis_pool *pool;
    int tasks;
    long left; /* commands still to send, shared by the tasks */
    int batch; /* >0: explicit pipelines of this many */
    int rc;
} job;

static int one_command(job *j)
{
    static const char *argv[] = {"SET", "k:bench", "value-of-sixteen"};
    static const size_t lens[] = {3, 7, 16};
    if (j->pool)
        return weft_redis_pool_command(j->pool, 3, argv, lens, NULL);
    return weft_redis_command(j->conn, 3, argv, lens, NULL);
}

static int worker(void *arg)
{
    job *j = arg;
    while (j->left > 0) {
        j->left--;
        int rc = one_command(j);
        if (rc != 0) {
            j->rc = rc;
            return rc;
        }
    }
    return 0;
}

static int pipeliner(void *arg)
{
    job *j = arg;
    weft_redis_pipeline *p = NULL;
    int rc = weft_redis_pipeline_new(&p);
    for (int i = 0; rc == 0 && i < j->batch; i++)
        rc = weft_redis_pipeline_addf(p, "SET k:bench value-of-sixteen");
    if (rc != 0) {
        weft_redis_pipeline_free(p);
        return j->rc = rc;
    }
    while (j->left > 0) {
        j->left -= j->batch;
        int rc = weft_redis_pipeline_run(j->conn, p);
        if (rc != 0) {
            j->rc = rc;
            break;
        }
    }
    weft_redis_pipeline_free(p);
    return j->rc;
}

static int weft_main(void *arg)
{
    job *j = arg;
    j->rc = j->pool ? 0 : weft_redis_connect(srv.unix_url, NULL, &j->conn);
    if (j->rc != 0)
        return j->rc;
    weft_task **t = calloc((size_t)j->tasks, sizeof *t);
    for (int i = 0; i < j->tasks; i++)
        if (weft_spawn(j->batch ? pipeliner : worker, j, &t[i]) != 0) {
            fprintf(stderr, "w8_redis: cannot spawn\n");
            exit(1);
        }
    int rc = weft_gather(t, (size_t)j->tasks, WEFT_RETURN_EXCEPTIONS);
    if (rc != 0 && j->rc == 0)
        j->rc = rc; /* the gather itself was cancelled */
    for (int i = 0; i < j->tasks; i++)
        weft_task_free(t[i]);
    free(t);
    if (j->conn)
        weft_redis_close(j->conn);
    return j->rc;
}

static int pool_main(void *arg)
{
    job *j = arg;
    weft_redis_opts o = {.shared_connections = (size_t)j->batch};
    int rc = weft_redis_pool_new(srv.unix_url, &o, &j->pool);
    if (rc != 0)
        return rc;
    j->batch = 0;
    rc = weft_main(j);
    weft_redis_pool_close(j->pool);
    return rc;
}

static result run_weft(int tasks, int batch, bool pool)
{
    result best = {0};
    for (int round = 0; round < 3; round++) {
        job j = {.tasks = tasks, .left = total, .batch = batch};
        double t0 = now_s(), c0 = cpu_s();
        int rc = weft_run(pool ? pool_main : weft_main, &j);
        double wall = now_s() - t0, cpu = cpu_s() - c0;
        if (rc != 0) {
            fprintf(stderr, "w8_redis: weft run failed: %s\n", weft_strerror(rc));
            exit(1);
        }
        keep_best(&best, wall, cpu);
    }
    return best;
}

/* ------------------------------------------------------------ hiredis on libuv */

/* argv, as weft's side sends it (hiredis's format parser would cost it) */
static const char *set_argv[] = {"SET", "k:bench", "value-of-sixteen"};
static const size_t set_lens[] = {3, 7, 16};

typedef struct hjob {
    long sent, done;
} hjob;

static void h_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    hjob *h = priv;
    if (reply == NULL) {
        fprintf(stderr, "w8_redis: hiredis: %s\n", ac->errstr);
        exit(1);
    }
    h->done++;
    if (h->sent < total) {
        h->sent++;
        redisAsyncCommandArgv(ac, h_reply, h, 3, set_argv, set_lens);
    } else if (h->done == total) {
        redisAsyncDisconnect(ac);
    }
}

static result run_hiredis(int depth)
{
    result best = {0};
    for (int round = 0; round < 3; round++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        redisAsyncContext *ac = redisAsyncConnectUnix(srv.sock);
        if (ac == NULL || ac->err || redisLibuvAttach(ac, &loop) != REDIS_OK) {
            fprintf(stderr, "w8_redis: hiredis could not connect\n");
            exit(1);
        }
        hjob h = {0};
        double t0 = now_s(), c0 = cpu_s();
        for (int i = 0; i < depth && h.sent < total; i++) {
            h.sent++;
            redisAsyncCommandArgv(ac, h_reply, &h, 3, set_argv, set_lens);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        double wall = now_s() - t0, cpu = cpu_s() - c0;
        uv_loop_close(&loop);
        keep_best(&best, wall, cpu);
    }
    return best;
}

/* ------------------------------------------------------------ redis-benchmark */

static result run_redis_benchmark(const char *args)
{
    result best = {0};
    for (int round = 0; round < 3; round++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "redis-benchmark -s %s -n %ld %s -t set -q 2>/dev/null | tr '\\r' '\\n'", srv.sock,
                 total, args);
        FILE *f = popen(cmd, "r");
        char line[256];
        double rate = 0;
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "SET: ");
            if (p)
                rate = strtod(p + 5, NULL);
        }
        if (f)
            pclose(f);
        if (rate > best.rate)
            best.rate = rate;
    }
    if (best.rate == 0) {
        fprintf(stderr, "w8_redis: redis-benchmark gave no figure\n");
        exit(1);
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        total = atol(argv[1]);
    if (argc > 2)
        only = argv[2];
    if (redis_server_start(&srv) != 0)
        return 1;
    printf("w8_redis: %ld SET commands per run, best of 3, redis-server on a Unix socket\n", total);
    result w1 = {0}, w256 = {0}, wp = {0}, h1 = {0}, h256 = {0}, rb1 = {0}, rb = {0}, rb50 = {0};
    if (wanted("weft 1 task, 1 connection"))
        report("weft 1 task, 1 connection", w1 = run_weft(1, 0, false));
    if (wanted("weft 16 tasks, 1 connection"))
        report("weft 16 tasks, 1 connection", run_weft(16, 0, false));
    if (wanted("weft 256 tasks, 1 connection"))
        report("weft 256 tasks, 1 connection", w256 = run_weft(256, 0, false));
    if (wanted("weft 256 tasks, pool (1 shared)"))
        report("weft 256 tasks, pool (1 shared)", wp = run_weft(256, 1, true));
    if (wanted("weft 256 tasks, pool (4 shared)"))
        report("weft 256 tasks, pool (4 shared)", run_weft(256, 4, true));
    if (wanted("weft 1 task, pipelines of 256"))
        report("weft 1 task, pipelines of 256", run_weft(1, 256, false));
    if (wanted("hiredis async on libuv, 1 in flight"))
        report("hiredis async on libuv, 1 in flight", h1 = run_hiredis(1));
    if (wanted("hiredis async on libuv, 256 in flight"))
        report("hiredis async on libuv, 256 in flight", h256 = run_hiredis(256));
    if (wanted("redis-benchmark -c 1"))
        report("redis-benchmark -c 1", rb1 = run_redis_benchmark("-c 1"));
    if (wanted("redis-benchmark -c 1 -P 256"))
        report("redis-benchmark -c 1 -P 256", rb = run_redis_benchmark("-c 1 -P 256"));
    if (wanted("redis-benchmark -c 50"))
        report("redis-benchmark -c 50", rb50 = run_redis_benchmark("-c 50"));
    if (w1.rate && h1.rate)
        printf("ratio weft 1 task / hiredis 1 in flight:        %.2f\n", w1.rate / h1.rate);
    if (w1.rate && rb1.rate)
        printf("ratio weft 1 task / redis-benchmark -c 1:       %.2f\n", w1.rate / rb1.rate);
    if (w256.rate && h256.rate)
        printf("ratio weft 256 tasks / hiredis 256 in flight:   %.2f (CPU per command %.2f)\n",
               w256.rate / h256.rate, w256.cpu_ns / h256.cpu_ns);
    if (w256.rate && rb.rate)
        printf("ratio weft 256 tasks / redis-benchmark -P 256:  %.2f\n", w256.rate / rb.rate);
    if (wp.rate && rb50.rate)
        printf("ratio weft pool / redis-benchmark -c 50:        %.2f\n", wp.rate / rb50.rate);
    redis_server_stop(&srv);
    return 0;
}
