/* w8_celery: Celery tasks per second through one Redis: weft's worker
 * beside Celery's own Python worker (prefork and threads pools), on the
 * same redis-server (Debian's, on a Unix socket) in the same run, with the
 * result backend on for both.
 *
 *   w8_celery [N_WEFT [N_PY [N_PARTNER [rss]]]]   (rss: only the third part)
 *
 * 1. N_WEFT (100,000) trivial add tasks queued, then drained by the weft
 *    worker (concurrency 1000); N_PY (10,000: Celery runs a few hundred
 *    a second here) by Celery prefork (-c cores) and threads (-c 16).
 *    The rate is taken from the first task taken off the queue to the last
 *    result stored, so a worker's start-up is not counted.
 * 2. N_PARTNER (10,000) tasks that each wait 100 ms on the partner server
 *    (tests/http_server.c, ?delay=0.1): weft's worker with concurrency
 *    10,000 against Celery's threads pool at 200 threads (what one process
 *    sustains; prefork at that width would need 200 processes).
 * 3. Peak RSS of the weft worker's process with 10,000 tasks in flight (a
 *    fresh process of its own, so nothing else counts).
 * "METRIC" lines are for bench/run.sh; the first is weft's tasks/s. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_server.h" /* tests/support, the weft_partner library */
#include "redis_server.h"
#include "celery/celery_internal.h"
#include "weft.h"

static redis_server srv;
static char url[256];
static long n_weft = 100000, n_py = 10000, n_partner = 10000;

typedef struct run {
    const char *task;
    long n;
    const char *arg;  /* the partner URL, or NULL: add(i, i) */
    const char *pool; /* Python's pool, or NULL: the weft worker */
    int concurrency;
    double rate, wall; /* tasks/s, seconds from the first take to the last result */
} run;

static char (*ids)[37];

/* Queues n messages as Celery's client writes them, pipelined. */
static int preload(weft_redis_pool *pool, run *r)
{
    weft_redis_pipeline *p;
    int rc = weft_redis_pipeline_new(&p);
    for (long i = 0; rc == 0 && i < r->n; i++) {
        weft__celery_uuid(ids[i]);
        json_t *args = r->arg ? json_pack("[s]", r->arg) : json_pack("[ii]", (int)i, (int)i);
        json_t *kwargs = json_object();
        weft__celery_new spec = {
            .id = ids[i], .task = r->task, .args = args, .kwargs = kwargs, .queue = "celery"};
        char *text = weft__celery_msg_build(&spec);
        json_decref(args);
        json_decref(kwargs);
        if (text == NULL)
            return -ENOMEM;
        weft_redis_pipeline_addf(p, "LPUSH celery %s", text);
        free(text);
        if (weft_redis_pipeline_count(p) == 1000 || i == r->n - 1) {
            rc = weft_redis_pool_pipeline_run(pool, p);
            weft_redis_pipeline_reset(p);
        }
    }
    weft_redis_pipeline_free(p);
    return rc;
}

static long long int_reply(weft_redis_pool *pool, const char *fmt, const char *arg)
{
    weft_redis_reply *r = NULL;
    long long n = -1;
    if (weft_redis_pool_commandf(pool, &r, fmt, arg) == 0)
        n = weft_redis_reply_integer(r);
    weft_redis_reply_free(r);
    return n;
}

/* Results stored among the last 100 tasks queued (they finish last). */
static long long last_results(weft_redis_pool *pool, long n)
{
    const char *argv[101];
    char keys[100][64];
    size_t k = 0;
    argv[k++] = "EXISTS";
    for (long i = n > 100 ? n - 100 : 0; i < n; i++, k++) {
        snprintf(keys[k - 1], sizeof keys[0], WEFT__CELERY_META_PREFIX "%s", ids[i]);
        argv[k] = keys[k - 1];
    }
    weft_redis_reply *r = NULL;
    long long got = -1;
    if (weft_redis_pool_command(pool, k, argv, NULL, &r) == 0)
        got = weft_redis_reply_integer(r);
    weft_redis_reply_free(r);
    return got;
}

/* Waits for the first message taken and the last result stored. */
static int measure(weft_redis_pool *pool, run *r)
{
    double t0 = 0, limit = weft_time() + 900;
    long want = r->n < 100 ? r->n : 100;
    while (weft_time() < limit) {
        if (t0 == 0 && int_reply(pool, "LLEN %s", "celery") < r->n)
            t0 = weft_time();
        if (t0 != 0 && last_results(pool, r->n) == want) {
            r->wall = weft_time() - t0;
            r->rate = r->n / r->wall;
            return 0;
        }
        int rc = weft_sleep(t0 == 0 ? 0.001 : 0.02);
        if (rc != 0)
            return rc;
    }
    return WEFT_ETIMEDOUT;
}

/* ------------------------------------------------------- the workers */

static weft_http_session *partner_session;

static int weft_add(weft_celery_request *req, void *user)
{
    (void)user;
    json_t *a = weft_celery_args(req);
    return weft_celery_return(req, json_integer(json_integer_value(json_array_get(a, 0)) +
                                                json_integer_value(json_array_get(a, 1))));
}

static int weft_partner(weft_celery_request *req, void *user)
{
    (void)user;
    weft_http_response *resp = NULL;
    int rc = weft_http_get(partner_session,
                           json_string_value(json_array_get(weft_celery_args(req), 0)), &resp);
    if (rc != 0)
        return rc;
    rc = weft_celery_return(req, json_integer(weft_http_response_status(resp)));
    weft_http_response_free(resp);
    return rc;
}

static int serve(void *arg)
{
    return weft_celery_worker_run(arg);
}

static int run_weft(weft_redis_pool *pool, run *r)
{
    weft_celery_worker *w;
    weft_celery_opts o = {.concurrency = (size_t)r->concurrency};
    int rc = weft_celery_worker_new(url, NULL, &o, &w);
    if (rc != 0)
        return rc;
    WEFT_IGNORE(weft_celery_worker_register(w, "bench.add", weft_add, NULL, NULL));
    WEFT_IGNORE(weft_celery_worker_register(w, "bench.partner", weft_partner, NULL, NULL));
    weft_task *t;
    rc = weft_spawn(serve, w, &t);
    if (rc == 0) {
        rc = measure(pool, r);
        weft_celery_worker_shutdown(w, false);
        WEFT_IGNORE(weft_await(t));
        weft_task_free(t);
    }
    weft_celery_worker_free(w);
    return rc;
}

static int run_python(weft_redis_pool *pool, run *r)
{
    char here[1024], conc[16];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(conc, sizeof conc, "%d", r->concurrency);
    setenv("WEFT_CELERY_URL", url, 1);
    char *argv[] = {"/usr/bin/python3",
                    "-m",
                    "celery",
                    "-A",
                    "w8_celery",
                    "worker",
                    "-P",
                    (char *)r->pool,
                    "-c",
                    conc,
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "error",
                    NULL};
    weft_process_opts po = {.argv = argv,
                            .cwd = dirname(here),
                            .stdio = {WEFT_STDIO_NULL, WEFT_STDIO_NULL, WEFT_STDIO_NULL}};
    weft_process *p;
    int rc = weft_process_spawn(&po, &p);
    if (rc != 0)
        return rc;
    rc = measure(pool, r);
    weft_process_kill(p, SIGKILL);
    int status;
    WEFT_IGNORE(weft_process_wait(p, 30, &status));
    weft_process_free(p);
    return rc;
}

static int run_one(weft_redis_pool *pool, run *r)
{
    int rc = weft_redis_pool_commandf(pool, NULL, "FLUSHALL");
    if (rc == 0)
        rc = preload(pool, r);
    if (rc == 0)
        rc = r->pool ? run_python(pool, r) : run_weft(pool, r);
    printf("%-34s %7ld tasks %9.0f tasks/s %8.2f s%s%s\n",
           r->pool ? (strcmp(r->pool, "prefork") == 0 ? "Celery prefork" : "Celery threads")
                   : "weft worker",
           r->n, r->rate, r->wall, rc ? "  FAILED: " : "", rc ? weft_strerror(rc) : "");
    fflush(stdout);
    return rc;
}

static int bench(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    http_server *hs = NULL;
    int rc = weft_redis_pool_new(srv.unix_url, NULL, &pool);
    if (rc == 0)
        rc = http_server_start(NULL, &hs);
    if (rc == 0) {
        /* 1,000 connections to the partner at most: 10,000 connects at once overflow
         * its listen backlog, and a dropped SYN costs a 1 s retransmission */
        weft_http_opts ho = {.max_host_connections = 1000};
        rc = weft_http_session_new(&ho, &partner_session);
    }
    if (rc != 0)
        return rc;
    long most = n_weft > n_partner ? n_weft : n_partner;
    ids = calloc((size_t)most, sizeof *ids);
    char partner_url[128];
    const char *query = getenv("W8_PARTNER_QUERY"); /* to probe the server: "" has no delay */
    snprintf(partner_url, sizeof partner_url, "%s/ping%s", http_server_url(hs),
             query ? query : "?delay=0.1");
    printf("# 1. trivial add tasks, result backend on\n");
    run w = {"bench.add", n_weft, NULL, NULL, 1000, 0, 0};
    run pre = {"bench.add", n_py, NULL, "prefork", (int)sysconf(_SC_NPROCESSORS_ONLN), 0, 0};
    run thr = {"bench.add", n_py, NULL, "threads", 16, 0, 0};
    run_one(pool, &w);
    run_one(pool, &pre);
    run_one(pool, &thr);
    double best_py = pre.rate > thr.rate ? pre.rate : thr.rate;
    printf("METRIC %.0f tasks/s\n", w.rate);
    if (best_py > 0)
        printf("ratio weft / best Celery pool: %.1fx (floor 10x)\n", w.rate / best_py);
    printf("# 2. tasks waiting 100 ms on the partner server\n");
    run wp = {"bench.partner", n_partner, partner_url, NULL, (int)n_partner, 0, 0};
    run tp = {"bench.partner", n_partner, partner_url, "threads", 200, 0, 0};
    run_one(pool, &wp);
    run_one(pool, &tp);
    if (wp.wall > 0 && tp.wall > 0)
        printf(
            "completion time: weft %.2f s (10,000 at once), Celery threads -c 200 %.2f s: %.1fx\n",
            wp.wall, tp.wall, tp.wall / wp.wall);
    free(ids);
    weft_http_session_free(partner_session);
    /* Let the connections the killed Python worker left end first: closing
     * the server under them crashed once in three runs (a task resumed after
     * its exit, ctx.c's unreachable; reported with the repro) */
    WEFT_IGNORE(weft_sleep(1));
    http_server_stop(hs);
    weft_redis_pool_close(pool);
    return 0;
}

/* ------------------------------------------------ RSS at 10k in flight */

static int sleepy(weft_celery_request *req, void *user)
{
    (void)user;
    int rc = weft_sleep(3);
    return rc != 0 ? rc : weft_celery_return(req, NULL);
}

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kb = atol(line + strlen(field) + 1);
    if (f != NULL)
        fclose(f);
    return kb;
}

static int in_flight(void *arg)
{
    (void)arg;
    weft_redis_pool *pool;
    int rc = weft_redis_pool_new(srv.unix_url, NULL, &pool);
    if (rc != 0)
        return rc;
    ids = calloc(10000, sizeof *ids);
    run r = {"bench.sleep", 10000, NULL, NULL, 10000, 0, 0};
    rc = weft_redis_pool_commandf(pool, NULL, "FLUSHALL");
    if (rc == 0)
        rc = preload(pool, &r);
    long before = status_kb("VmRSS:");
    weft_celery_worker *w = NULL;
    weft_celery_opts o = {.concurrency = 10000};
    if (rc == 0)
        rc = weft_celery_worker_new(url, NULL, &o, &w);
    weft_task *t = NULL;
    if (rc == 0) {
        WEFT_IGNORE(weft_celery_worker_register(w, "bench.sleep", sleepy, NULL, NULL));
        rc = weft_spawn(serve, w, &t);
    }
    struct weft_celery_worker_stats st = {0};
    double t0 = weft_time();
    for (int i = 0; rc == 0 && i < 3000 && st.running < 10000; i++) {
        rc = weft_sleep(0.01);
        weft_celery_worker_stats(w, &st);
        if (getenv("W8_TRACE") && i % 50 == 0)
            fprintf(stderr, "%.2f s: received %llu running %zu\n", weft_time() - t0,
                    (unsigned long long)st.received, st.running);
    }
    long peak = status_kb("VmHWM:");
    printf("# 3. the weft worker's process with %zu tasks in flight: peak RSS %ld KiB "
           "(%ld KiB before the worker started)\n",
           st.running, peak, before);
    printf("METRIC_RSS %ld KiB\n", peak);
    fflush(stdout); /* the child leaves with _exit */
    if (t != NULL) {
        weft_celery_worker_shutdown(w, true);
        WEFT_IGNORE(weft_await(t));
        weft_task_free(t);
    }
    weft_celery_worker_free(w);
    weft_redis_pool_close(pool);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_weft = atol(argv[1]);
    if (argc > 2)
        n_py = atol(argv[2]);
    if (argc > 3)
        n_partner = atol(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in order with stderr's, also in a file */
    if (redis_server_start(&srv) != 0)
        return 1;
    snprintf(url, sizeof url, "redis+socket://%s", srv.sock);
    printf("w8_celery: redis-server on a Unix socket; Celery 5.2 from Debian\n");
    fflush(stdout);
    bool rss_only = argc > 4 && strcmp(argv[4], "rss") == 0;
    int rc = rss_only ? 0 : weft_run(bench, NULL);
    if (rss_only) {
        rc = weft_run(in_flight, NULL);
        redis_server_stop(&srv);
        return rc == 0 ? 0 : 1;
    }
    redis_server_stop(&srv);
    /* The third part in a fresh process of its own: a forked child would
     * count the pages it shares with this one. */
    fflush(stdout);
    char *child_argv[] = {argv[0], "1", "1", "1", "rss", NULL};
    pid_t pid;
    int status = 1;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) == 0)
        waitpid(pid, &status, 0);
    return rc == 0 && status == 0 ? 0 : 1;
}
