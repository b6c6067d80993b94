/* weft-menu: the talk's live-coding menu in C. The same I/O-bound function
 * (a counter raised to 10, one sleep per step) and CPU-bound function (a
 * prime count) run sequentially, in pthreads, in forked processes and as
 * weft tasks, plus the CPU work handed to weft_to_thread; then the talk's
 * results table, and optionally JSON and an SVG chart. See docs/menu.md.
 *
 *   weft-menu [--demo | --full | --scale X] [--only LIST] [--json] [--chart FILE]
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weft.h"

#include "menu/menu.h"

#define DEMO_BUDGET 25.0 /* seconds --demo aims at: under 30 with room to spare */
#define RACE_ROUNDS 500

typedef struct options {
    double scale; /* 0: not given, pick the demo scale */
    bool json;
    const char *chart;
    const char *only; /* NULL: every item */
} options;

static void usage(FILE *o)
{
    fprintf(o, "usage: weft-menu [--demo | --full | --scale X] [--only LIST] [--json] [--chart "
               "FILE]\n"
               "  --demo        pick a scale that ends in under 30 s (the default)\n"
               "  --full        the talk's own timings: 1 s per step, ~1 s per CPU job\n"
               "  --scale X     shorten every sleep and CPU job to X times (0 < X <= 1)\n"
               "  --only LIST   run only these items, comma-separated: ids (io-weft,\n"
               "                cpu-to-thread, ...) or groups (io, cpu)\n"
               "  --json        print machine-readable results on stdout (progress on a\n"
               "                terminal's stderr)\n"
               "  --chart FILE  also write the results as an SVG bar chart\n");
}

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "weft-menu: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

/* A scale must be a plain number in (0, 1]: "0", "-1", "abc", "1.5",
 * "0.5x", "nan" and "" are refused. */
static int parse_scale(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 || v > 1)
        return -1;
    *out = v;
    return 0;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--demo") == 0) {
            opt->scale = 0;
        } else if (strcmp(a, "--full") == 0) {
            opt->scale = 1;
        } else if (strcmp(a, "--json") == 0) {
            opt->json = true;
        } else if (strcmp(a, "--scale") == 0 || strncmp(a, "--scale=", 8) == 0) {
            val = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (val == NULL)
                return bad_usage("%s needs a number: --scale 0.5", a);
            if (parse_scale(val, &opt->scale) != 0)
                return bad_usage("--scale wants a number greater than 0 and at most 1, "
                                 "got \"%s\"",
                                 val);
        } else if (strcmp(a, "--only") == 0 || strncmp(a, "--only=", 7) == 0) {
            val = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (val == NULL || *val == '\0')
                return bad_usage("%s needs a list: --only io,cpu-weft", a);
            opt->only = val;
        } else if (strcmp(a, "--chart") == 0 || strncmp(a, "--chart=", 8) == 0) {
            val = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (val == NULL || *val == '\0')
                return bad_usage("%s needs a file name: --chart menu.svg", a);
            opt->chart = val;
        } else {
            return bad_usage("unknown argument \"%s\"", a);
        }
    }
    return -1;
}

/* Seconds the chosen items take at scale 1 (each item says for itself). */
static double full_seconds(const bool *sel, int ncpu)
{
    double sum = 0;
    for (int i = 0; i < menu_nitems; i++)
        if (sel[i])
            sum += ncpu >= 2 ? menu_items[i].est2 : menu_items[i].est1;
    return sum;
}

static void pick_scale(options *opt, const bool *sel, int ncpu, char *why, size_t cap)
{
    double full = full_seconds(sel, ncpu);
    if (opt->scale == 1) {
        snprintf(why, cap, "--full: the talk's own timings, about %.0f s in all.", full);
    } else if (opt->scale > 0) {
        snprintf(why, cap, "--scale %.2f: every sleep and CPU job x%.2f, about %.0f s in all.",
                 opt->scale, opt->scale, full * opt->scale);
    } else {
        opt->scale = fmin(1.0, floor(DEMO_BUDGET / full * 10) / 10);
        snprintf(why, cap,
                 "demo: scale %.2f (every sleep and CPU job x%.2f) so the menu ends in about "
                 "%.0f s,\nunder 30 s; --full runs the talk's own timings (about %.0f s).",
                 opt->scale, opt->scale, full * opt->scale, full);
    }
}

/* Everything after the options; returns the exit status. */
static int menu_main(const options *opt_, bool *sel, menu_result *results)
{
    options opt = *opt_;
    int rc;
    const char *bad = opt.only != NULL ? menu_select(opt.only, sel) : NULL;
    if (bad != NULL) {
        fprintf(stderr, "weft-menu: --only: no item or group is called \"%s\"; the items:", bad);
        for (int i = 0; i < menu_nitems; i++)
            fprintf(stderr, " %s", menu_items[i].id);
        fprintf(stderr, "; the groups: the part before the '-'\n");
        return 2;
    }
    for (int i = 0; opt.only == NULL && i < menu_nitems; i++)
        sel[i] = true;

    /* Open the chart now: a bad path should fail before a 20 s run. */
    FILE *chart = NULL;
    if (opt.chart != NULL && (chart = fopen(opt.chart, "w")) == NULL) {
        fprintf(stderr, "weft-menu: cannot write the chart to \"%s\": %s\n", opt.chart,
                strerror(errno));
        return 2;
    }

    menu_env env = {0};
    env.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (env.ncpu < 1)
        env.ncpu = 1;
    char why[256];
    pick_scale(&opt, sel, env.ncpu, why, sizeof(why));
    env.scale = opt.scale;
    env.step = opt.scale * 1.0;
    env.sh =
        mmap(NULL, sizeof(menu_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (env.sh == MAP_FAILED) {
        fprintf(stderr, "weft-menu: mmap: %s\n", strerror(errno));
        if (chart != NULL)
            fclose(chart);
        return 1;
    }
    env.block_seconds = menu_calibrate();
    env.cpu_blocks = lround(opt.scale / env.block_seconds);
    if (env.cpu_blocks < 1)
        env.cpu_blocks = 1;

    /* People read stdout, unless it carries the JSON; then a terminal on
     * stderr still gets the live line, and a pipe gets nothing. */
    FILE *human = opt.json ? stderr : stdout;
    bool live = isatty(fileno(human));
    menu_report *rep = menu_report_new(opt.json && !live ? NULL : human, live, &env);
    if (rep == NULL) {
        fprintf(stderr, "weft-menu: out of memory\n");
        if (chart != NULL)
            fclose(chart);
        munmap(env.sh, sizeof(menu_shared));
        return 1;
    }
    menu_report_header(rep, why);

    double t0 = menu_now();
    int status = 0;
    bool race_wanted = false;
    for (int i = 0; i < menu_nitems; i++) {
        menu_result *res = &results[i];
        res->final = -1;
        if (!sel[i])
            continue;
        res->ran = true;
        /* The race probe belongs to row 2, the threads sharing the counter. */
        race_wanted |= strcmp(menu_items[i].id, "io-pthreads") == 0;
        menu_report_begin(rep, i);
        env.sh->wait_ns = 0;
        env.sh->wait_unknown = 0;
        env.sh->busy = env.sh->busy_max = 0;
        res->connections = -1;
        double start = menu_now(), cpu = menu_cpu_seconds();
        res->rc = menu_items[i].run(&env, res);
        res->elapsed = menu_now() - start;
        res->cpu_seconds = menu_cpu_seconds() - cpu;
        res->wait_seconds = env.sh->wait_unknown ? -1 : (double)env.sh->wait_ns * 1e-9;
        res->concurrent = (int)env.sh->busy_max;
        menu_report_end(rep, i, res);
        if (res->rc != 0) {
            fprintf(stderr, "weft-menu: %s: %s\n", menu_items[i].id, weft_strerror(res->rc));
            status = 1;
        }
    }
    menu_http_shutdown();
    menu_race race = {0};
    if (race_wanted && (rc = menu_race_probe(RACE_ROUNDS, &race)) != 0) {
        fprintf(stderr, "weft-menu: race probe: %s\n", weft_strerror(rc));
        status = 1;
    }
    double total = menu_now() - t0;
    menu_report_table(rep, results, &race, total);
    menu_report_free(rep);

    if (opt.json) {
        menu_json(stdout, &env, results, &race, total);
        fflush(stdout);
    }
    if (chart != NULL) {
        int failed = menu_svg(chart, &env, results);
        if (fclose(chart) != 0 || failed != 0) {
            fprintf(stderr, "weft-menu: writing the chart \"%s\" failed: %s\n", opt.chart,
                    strerror(errno));
            status = 1;
        } else if (!opt.json) {
            printf("Chart written to %s\n", opt.chart);
        }
    }
    munmap(env.sh, sizeof(menu_shared));
    return status;
}

int main(int argc, char **argv)
{
    options opt = {0};
    int rc = parse_args(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    bool *sel = calloc((size_t)menu_nitems, sizeof(*sel));
    menu_result *results = calloc((size_t)menu_nitems, sizeof(*results));
    if (sel == NULL || results == NULL) {
        fprintf(stderr, "weft-menu: out of memory\n");
        rc = 1;
    } else {
        rc = menu_main(&opt, sel, results);
    }
    free(results);
    free(sel);
    return rc;
}
