/* report.c: what a person reads. On a terminal a ticker thread redraws one
 * progress line while an item runs; piped, each item gets plain lines. At
 * the end, the talk's results table with a line of why under each row, and
 * the race between check and increment up close. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "menu.h"

struct menu_report {
    FILE *out;
    bool live;
    const menu_env *env;
    pthread_t ticker;
    bool ticking;
    pthread_mutex_t mu; /* guards the fields below and writes to out */
    pthread_cond_t cv;
    int current; /* index of the running item, -1 between items */
    double start;
    long total;
    bool stop;
};

/* ------------------------------------------------------------ the ticker */

static void draw(menu_report *r)
{
    const menu_item *it = &menu_items[r->current];
    long done = menu_progress_get(r->env->sh);
    int width = 20, filled = r->total > 0 ? (int)(done * width / r->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(r->out, "\r\033[K  [%d/%d] %-3s %-14s %-16s %6.2f s  [%s] %3d%%", r->current + 1,
            menu_nitems, it->kind, it->variant, it->how, menu_now() - r->start, bar,
            r->total > 0 ? (int)(done * 100 / r->total) : 0);
    fflush(r->out);
}

static void *ticker_main(void *arg)
{
    menu_report *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (r->current >= 0)
            draw(r);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

menu_report *menu_report_new(FILE *out, bool live, const menu_env *env)
{
    menu_report *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->out = out;
    r->live = live;
    r->env = env;
    r->current = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    /* No ticker, no live line: the plain lines still say everything. */
    if (live && out != NULL && pthread_create(&r->ticker, NULL, ticker_main, r) == 0)
        r->ticking = true;
    r->live = r->ticking;
    return r;
}

void menu_report_free(menu_report *r)
{
    if (r == NULL)
        return;
    if (r->ticking) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->ticker, NULL);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ------------------------------------------------------ lines per item */

void menu_report_header(menu_report *r, const char *why_scale)
{
    const menu_env *e = r->env;
    if (r->out == NULL)
        return;
    fprintf(r->out, "weft-menu: the talk's menu in C, on %d core%s\n", e->ncpu,
            e->ncpu == 1 ? "" : "s");
    fprintf(r->out, "%s\n", why_scale);
    fprintf(r->out,
            "I/O-bound: a counter raised to %d, one step per %.2f s sleep. CPU-bound: two jobs,\n"
            "each %ld blocks of prime counting (calibrated: ~%.2f s on one free core).\n"
            "HTTP: ten requests to a local partner server that answers each after %.2f s.\n\n",
            MENU_TARGET, e->step, e->cpu_blocks, (double)e->cpu_blocks * e->block_seconds, e->step);
    fflush(r->out);
}

/* "counted 5 + 6, final 11": what the workers did. */
static void detail(const menu_item *it, const menu_result *res, char *buf, size_t cap)
{
    size_t n = 0;
    if (res->rc != 0) {
        snprintf(buf, cap, "failed (code %d)", res->rc);
        return;
    }
    if (strcmp(it->kind, "HTTP") == 0) { /* "10 answered (5 + 5)" */
        n += (size_t)snprintf(buf + n, cap - n, "%d answered", res->steps);
        for (int i = 0; res->nworkers > 1 && i < res->nworkers && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? " + " : " (", res->counts[i]);
        if (res->nworkers > 1 && n < cap)
            snprintf(buf + n, cap - n, ")");
        return;
    }
    if (res->final < 0) {
        snprintf(buf, cap, "%.1f cores busy, %ld primes",
                 res->elapsed > 0 ? res->cpu_seconds / res->elapsed : 0.0, res->primes);
        return;
    }
    n += (size_t)snprintf(buf + n, cap - n, "counted ");
    for (int i = 0; i < res->nworkers && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? " + " : "", res->counts[i]);
    if (n >= cap)
        return;
    if (strcmp(it->variant, "processes") == 0)
        snprintf(buf + n, cap - n, " (own counters)");
    else
        snprintf(buf + n, cap - n, ", final %d", res->final);
}

void menu_report_begin(menu_report *r, int index)
{
    const menu_item *it = &menu_items[index];
    pthread_mutex_lock(&r->mu);
    __atomic_store_n(&r->env->sh->progress, 0, __ATOMIC_RELAXED);
    r->total = it->total(r->env);
    r->start = menu_now();
    if (r->out == NULL) {
        /* quiet: --json into a pipe */
    } else if (r->live) {
        r->current = index;
        draw(r);
    } else {
        fprintf(r->out, "  [%d/%d] %-3s %-14s %-16s running...\n", index + 1, menu_nitems, it->kind,
                it->variant, it->how);
        fflush(r->out);
    }
    pthread_mutex_unlock(&r->mu);
}

void menu_report_end(menu_report *r, int index, const menu_result *res)
{
    const menu_item *it = &menu_items[index];
    char buf[128];
    detail(it, res, buf, sizeof(buf));
    pthread_mutex_lock(&r->mu);
    r->current = -1;
    if (r->out != NULL) {
        fprintf(r->out, "%s  [%d/%d] %-3s %-14s %-16s %6.2f s  %s\n", r->live ? "\r\033[K" : "",
                index + 1, menu_nitems, it->kind, it->variant, it->how, res->elapsed, buf);
        fflush(r->out);
    }
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------ the table */

static void race_text(menu_report *r, const menu_result *threads, const menu_race *race)
{
    FILE *o = r->out;
    fprintf(o, "\nThe race (row 2). The threads run the talk's loop on one shared int:\n"
               "`while times < 10: times += 1`. The check and the increment are separate\n"
               "steps, so two threads can both pass the check at 9 (final 11), or both read\n"
               "the same value (a step lost). ");
    if (threads != NULL && threads->rc == 0) {
        if (threads->final > MENU_TARGET || threads->steps > threads->final)
            fprintf(o, "This run it struck: counted %d + %d, final %d.\n", threads->counts[0],
                    threads->counts[1], threads->final);
        else
            fprintf(o,
                    "This run it did not strike (counted %d + %d, final %d):\nthe "
                    "threads woke microseconds apart.\n",
                    threads->counts[0], threads->counts[1], threads->final);
    } else {
        fprintf(o, "\n");
    }
    if (race == NULL || race->rounds == 0)
        return;
    fprintf(o,
            "Up close: %d rounds of the same loop without the sleep, %.1f us between check\n"
            "and increment:\n",
            race->rounds, race->gap_us);
    fprintf(o, "  pthreads:   final above 10 in %d round%s (max %d), a step lost in %d\n",
            race->threads_over, race->threads_over == 1 ? "" : "s", race->threads_max,
            race->threads_lost);
    if (race->threads_over == 0 && race->threads_lost == 0)
        fprintf(o, "              (the threads never ran at the same moment: %s)\n",
                r->env->ncpu < 2 ? "one core" : "other programs kept a core busy");
    if (race->weft_over == 0 && race->weft_lost == 0)
        fprintf(o,
                "  weft tasks: final exactly 10 in all %d rounds: a task is only ever\n"
                "              interrupted where it waits, never between check and +1\n",
                race->rounds);
    else
        fprintf(o, "  weft tasks: final above 10 in %d rounds (max %d), a step lost in %d: BUG\n",
                race->weft_over, race->weft_max, race->weft_lost);
}

void menu_report_table(menu_report *r, const menu_result *results, const menu_race *race,
                       double total)
{
    FILE *o = r->out;
    const menu_env *e = r->env;
    char talk[32], buf[128];
    if (o == NULL)
        return;
    if (e->scale == 1.0)
        snprintf(talk, sizeof(talk), "talk (Python)");
    else
        snprintf(talk, sizeof(talk), "talk x%.2f", e->scale);
    fprintf(o, "\n%3s  %-18s %-16s %9s  %-13s  %s\n", "#", "item", "workers", "C, weft", talk,
            "result");
    const menu_result *threads = NULL;
    bool forked = false;
    for (int i = 0; i < menu_nitems; i++) {
        const menu_item *it = &menu_items[i];
        const menu_result *res = &results[i];
        if (!res->ran)
            continue;
        if (strcmp(it->id, "io-pthreads") == 0)
            threads = res;
        forked |= strcmp(it->id, "io-fork") == 0;
        detail(it, res, buf, sizeof(buf));
        if (it->python > 0)
            snprintf(talk, sizeof(talk), "%7.2f s%s", it->python * e->scale,
                     strcmp(it->variant, "processes") == 0 ? " *" : "");
        else
            snprintf(talk, sizeof(talk), "%7s", "-");
        fprintf(o, "%3d  %-3s %-14s %-16s %7.2f s  %-13s  %s\n", i + 1, it->kind, it->variant,
                it->how, res->elapsed, talk, buf);
        const char *why = e->ncpu < 2 && it->why_1 != NULL ? it->why_1 : it->why;
        fprintf(o, "     %s\n", why);
    }
    if (forked)
        fprintf(o, "\n  * the talk: \"it was actually doing double the work!\"\n");
    if (threads != NULL)
        race_text(r, threads, race);
    fprintf(o, "\nTotal %.1f s at scale %.2f.%s\n", total, e->scale,
            e->scale < 1.0 ? " --full runs the talk's own timings." : "");
    fflush(o);
}
