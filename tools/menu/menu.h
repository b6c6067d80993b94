/* menu.h: the pieces of weft-menu, the talk's live comparison in C. One
 * table of items (items.c), the work every variant runs (work.c), the
 * variants (io.c, cpu.c) and the ways to show results (report.c, export.c). */
#ifndef WEFT_MENU_H
#define WEFT_MENU_H

#include <stdbool.h>
#include <stdio.h>

#define MENU_TARGET      10 /* the talk's counter goes to 10 */
#define MENU_MAX_WORKERS 4

/* Everything a variant needs to run, fixed before the first item. */
typedef struct menu_env {
    double scale;           /* 0 < scale <= 1; 1 is the talk's own timings */
    double step;            /* seconds one counter step sleeps: scale * 1 s */
    long cpu_blocks;        /* prime-counting blocks in one CPU job (~scale s) */
    double block_seconds;   /* one block, as calibrated */
    int ncpu;               /* online cores */
    struct menu_shared *sh; /* shared with forked children (MAP_SHARED) */
} menu_env;

/* A page shared across fork(): progress for the live display, and what the
 * children report back (their counter is theirs alone, as in the talk). */
typedef struct menu_shared {
    long progress;    /* steps or blocks done in the running item; atomic */
    long wait_ns;     /* time CPU jobs were runnable but had no core; atomic */
    long busy;        /* workers inside their work now (a sleep, a job, a request) */
    long busy_max;    /* the most at once during the item: the overlap fact */
    int wait_unknown; /* set when a job could not read its schedstat */
    int counts[MENU_MAX_WORKERS];
    int finals[MENU_MAX_WORKERS];
    long primes[MENU_MAX_WORKERS];
} menu_shared;

/* What one item measured. I/O items fill counts/final; CPU items fill
 * counts (jobs per worker) and primes. */
typedef struct menu_result {
    bool ran;       /* false: left out by --only */
    double elapsed; /* wall seconds */
    int rc;         /* 0, or a negative code (weft_strerror) */
    int nworkers;
    int counts[MENU_MAX_WORKERS]; /* steps (I/O) or jobs (CPU) per worker */
    int steps;                    /* sum of counts */
    int final;                    /* I/O: the counter at the end; -1 if none */
    long primes;                  /* CPU: primes found by all jobs (a checksum) */
    double cpu_seconds;           /* CPU time this process and its children used */
    double wait_seconds;          /* CPU jobs waiting for a core; -1: unknown */
    /* The most workers inside their work (a sleep, a CPU job, a request) at
     * the same time: 1 when the variant runs them one after another,
     * whatever the machine's load. The tests check it, not timings. */
    int concurrent;
    int connections; /* HTTP: connections the server accepted in the item; -1: n/a */
} menu_result;

typedef int (*menu_run_fn)(const menu_env *env, menu_result *out);

/* One row of the menu. Adding a row (issue 7's HTTP requests through
 * weft's client, say) is one entry in menu_items[] and its run function. */
typedef struct menu_item {
    const char *id;      /* stable name for --json and tests: "io-threads" */
    const char *kind;    /* "I/O", "CPU" */
    const char *variant; /* "sequential", "pthreads", ... */
    const char *how;     /* "2 pthreads" */
    menu_run_fn run;
    double python;                      /* the talk's Python figure at full scale; 0: none */
    double est1, est2;                  /* seconds at full scale on 1 core, on 2 or more */
    long (*total)(const menu_env *env); /* progress units the item does */
    const char *why;                    /* one line: why this result */
    const char *why_1;                  /* the same on a single core; NULL: why */
} menu_item;

extern const menu_item menu_items[];
extern const int menu_nitems;

/* --only: marks in sel[] the items a comma-separated list names, by id
 * ("cpu-weft") or group ("io", "cpu": the id up to its '-'). Returns NULL,
 * or the first name that matches nothing (in a static buffer). */
const char *menu_select(const char *list, bool *sel);

/* work.c */
double menu_now(void);
double menu_cpu_seconds(void);
void menu_sleep(double seconds);
void menu_progress_add(menu_shared *sh, long n);
/* Around each piece of a worker's work: counts how many overlap. */
void menu_busy_enter(menu_shared *sh);
void menu_busy_leave(menu_shared *sh);
long menu_progress_get(menu_shared *sh);
long menu_prime_block(long i);
long menu_cpu_job(const menu_env *env);
double menu_calibrate(void);
int menu_count_blocking(int *times, double step, menu_shared *sh);
/* A weft variant's end: cancels the n tasks it spawned (those that already
 * ended are not touched), waits until every one has ended, frees them.
 * Returns rc, or WEFT_ECANCELED if the caller was cancelled meanwhile. */
struct weft_task;
int menu_end_tasks(struct weft_task **t, size_t n, int rc);

/* io.c: the four I/O-bound variants, and the race shown up close */
int menu_io_sequential(const menu_env *env, menu_result *out);
int menu_io_pthreads(const menu_env *env, menu_result *out);
int menu_io_fork(const menu_env *env, menu_result *out);
int menu_io_weft(const menu_env *env, menu_result *out);
long menu_io_total(const menu_env *env);
long menu_io_total2(const menu_env *env);

typedef struct menu_race {
    int rounds;
    int threads_over, threads_max, threads_lost; /* rounds above 10, max, rounds losing a step */
    int weft_over, weft_max, weft_lost;
    double gap_us; /* the spin between check and increment */
} menu_race;
int menu_race_probe(int rounds, menu_race *out);

/* cpu.c: the five CPU-bound variants */
int menu_cpu_sequential(const menu_env *env, menu_result *out);
int menu_cpu_pthreads(const menu_env *env, menu_result *out);
int menu_cpu_fork(const menu_env *env, menu_result *out);
int menu_cpu_weft(const menu_env *env, menu_result *out);
int menu_cpu_to_thread(const menu_env *env, menu_result *out);
long menu_cpu_total(const menu_env *env);

/* http.c: ten delayed requests to the partner server (issue 7) */
int menu_http_sequential(const menu_env *env, menu_result *out);
int menu_http_pthreads(const menu_env *env, menu_result *out);
int menu_http_weft(const menu_env *env, menu_result *out);
long menu_http_total(const menu_env *env);
/* Stops the partner server if a row started it. */
void menu_http_shutdown(void);

/* report.c: what a person reads */
typedef struct menu_report menu_report;
menu_report *menu_report_new(FILE *out, bool live, const menu_env *env);
void menu_report_header(menu_report *r, const char *why_scale);
void menu_report_begin(menu_report *r, int index);
void menu_report_end(menu_report *r, int index, const menu_result *res);
void menu_report_table(menu_report *r, const menu_result *results, const menu_race *race,
                       double total);
void menu_report_free(menu_report *r);

/* export.c: what a program or a browser reads */
void menu_json(FILE *out, const menu_env *env, const menu_result *results, const menu_race *race,
               double total);
int menu_svg(FILE *out, const menu_env *env, const menu_result *results);

#endif
