/* io.c: the talk's I/O-bound menu items. One function, a counter raised to
 * 10 with one sleep per step, run by one worker, two pthreads, two forked
 * processes and two weft tasks; and the race between check and increment
 * shown up close, with threads and with tasks. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"

#include "menu.h"

long menu_io_total(const menu_env *env)
{
    (void)env;
    return MENU_TARGET;
}

/* Two processes each count to 10 on their own copy of the counter. */
long menu_io_total2(const menu_env *env)
{
    (void)env;
    return 2 * MENU_TARGET;
}

static void sum_counts(menu_result *out)
{
    out->steps = 0;
    for (int i = 0; i < out->nworkers; i++)
        out->steps += out->counts[i];
}

/* ---------------------------------------------------------- sequential */

/* default.py: one worker, ten sleeps in a row. */
int menu_io_sequential(const menu_env *env, menu_result *out)
{
    int times = 0;
    out->nworkers = 1;
    out->counts[0] = menu_count_blocking(&times, env->step, env->sh);
    out->final = times;
    sum_counts(out);
    return 0;
}

/* ------------------------------------------------------------ pthreads */

typedef struct io_thread {
    pthread_t id;
    int *times;
    const menu_env *env;
    int counted;
} io_thread;

static void *io_thread_main(void *arg)
{
    io_thread *w = arg;
    w->counted = menu_count_blocking(w->times, w->env->step, w->env->sh);
    return NULL;
}

/* threading.py: two threads share the counter. */
int menu_io_pthreads(const menu_env *env, menu_result *out)
{
    int times = 0;
    io_thread w[2];
    int started = 0, rc = 0;
    for (; started < 2; started++) {
        w[started] = (io_thread){.times = &times, .env = env};
        if ((rc = pthread_create(&w[started].id, NULL, io_thread_main, &w[started])) != 0)
            break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(w[i].id, NULL);
    out->nworkers = started;
    for (int i = 0; i < started; i++)
        out->counts[i] = w[i].counted;
    out->final = __atomic_load_n(&times, __ATOMIC_RELAXED);
    sum_counts(out);
    return -rc;
}

/* ----------------------------------------------------------- processes */

/* mp.py: each child gets its own copy of `times`, counts it to 10 and
 * reports through the shared page. _exit: the child must not run the
 * parent's atexit handlers or flush its stdio buffers. */
int menu_io_fork(const menu_env *env, menu_result *out)
{
    static int times; /* the talk's global: copied into each child */
    pid_t pid[2];
    int started = 0, rc = 0;
    times = 0;
    for (; started < 2; started++) {
        env->sh->counts[started] = 0;
        pid[started] = fork();
        if (pid[started] < 0) {
            rc = -errno;
            break;
        }
        if (pid[started] == 0) {
            env->sh->counts[started] = menu_count_blocking(&times, env->step, env->sh);
            env->sh->finals[started] = times;
            _exit(0);
        }
    }
    for (int i = 0; i < started; i++) {
        int status;
        while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = WEFT_ECRASHED;
    }
    out->nworkers = started;
    for (int i = 0; i < started; i++)
        out->counts[i] = env->sh->counts[i];
    out->final = started > 0 ? env->sh->finals[0] : -1;
    sum_counts(out);
    return rc;
}

/* ---------------------------------------------------------- weft tasks */

typedef struct io_task {
    int *times;
    const menu_env *env;
    int counted;
} io_task;

/* async.py's my_func: between the check and the increment there is no
 * wait, so no other task can run there; only weft_sleep lets one in. */
static int io_task_main(void *arg)
{
    io_task *w = arg;
    while (*w->times < MENU_TARGET) {
        ++*w->times;
        w->counted++;
        menu_progress_add(w->env->sh, 1);
        menu_busy_enter(w->env->sh);
        int rc = weft_sleep(w->env->step);
        menu_busy_leave(w->env->sh);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct io_weft {
    const menu_env *env;
    io_task w[2];
    int times;
} io_weft;

/* async.py's main: asyncio.gather(my_func(), my_func()). */
static int io_weft_main(void *arg)
{
    io_weft *m = arg;
    weft_task *t[2];
    int n = 0, rc = 0;
    for (int i = 0; i < 2; i++)
        m->w[i] = (io_task){.times = &m->times, .env = m->env};
    while (n < 2 && (rc = weft_spawn(io_task_main, &m->w[n], &t[n])) == 0)
        n++;
    if (rc == 0)
        rc = weft_gather(t, 2, 0);
    return menu_end_tasks(t, (size_t)n, rc);
}

int menu_io_weft(const menu_env *env, menu_result *out)
{
    io_weft m = {.env = env};
    int rc = weft_run(io_weft_main, &m);
    out->nworkers = 2;
    out->counts[0] = m.w[0].counted;
    out->counts[1] = m.w[1].counted;
    out->final = m.times;
    sum_counts(out);
    return rc;
}

/* ------------------------------------------------------- the race probe */

/* The same loop with the sleep taken out and a short spin between the check
 * and the increment (the time a real program spends deciding), run many
 * times: threads that run at once on two cores both pass the check at 9
 * (final 11) or both read the same value (a step lost). Tasks cannot: the
 * spin does not wait, so nothing else runs inside it. */
#define GAP_SPINS 10000 /* a few microseconds */

static void gap(void)
{
    for (volatile int i = 0; i < GAP_SPINS; i++)
        ;
}

typedef struct race_thread {
    pthread_t id;
    int *times;
    int *go;
    int counted;
} race_thread;

static void *race_thread_main(void *arg)
{
    race_thread *w = arg;
    /* Start together, or one thread would finish before the other began;
     * yield so that on a busy machine the spin does not hold up main. */
    while (!__atomic_load_n(w->go, __ATOMIC_ACQUIRE))
        sched_yield();
    while (__atomic_load_n(w->times, __ATOMIC_RELAXED) < MENU_TARGET) {
        gap();
        int seen = __atomic_load_n(w->times, __ATOMIC_RELAXED);
        __atomic_store_n(w->times, seen + 1, __ATOMIC_RELAXED);
        w->counted++;
        sched_yield();
    }
    return NULL;
}

static void race_tally(int final, int counted, int *over, int *max, int *lost)
{
    if (final > MENU_TARGET)
        ++*over;
    if (final > *max)
        *max = final;
    if (counted > final)
        ++*lost;
}

static int race_threads_round(menu_race *r)
{
    int times = 0, go = 0;
    race_thread w[2] = {{.times = &times, .go = &go}, {.times = &times, .go = &go}};
    for (int i = 0; i < 2; i++) {
        int rc = pthread_create(&w[i].id, NULL, race_thread_main, &w[i]);
        if (rc != 0) {
            __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
            if (i == 1)
                pthread_join(w[0].id, NULL);
            return -rc;
        }
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    pthread_join(w[0].id, NULL);
    pthread_join(w[1].id, NULL);
    race_tally(times, w[0].counted + w[1].counted, &r->threads_over, &r->threads_max,
               &r->threads_lost);
    return 0;
}

typedef struct race_task {
    int *times;
    int counted;
} race_task;

static int race_task_main(void *arg)
{
    race_task *w = arg;
    while (*w->times < MENU_TARGET) {
        gap();
        int seen = *w->times;
        *w->times = seen + 1;
        w->counted++;
        int rc = weft_sleep(0); /* yield: the other task runs here, and only here */
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int race_weft_main(void *arg)
{
    menu_race *r = arg;
    for (int round = 0; round < r->rounds; round++) {
        int times = 0;
        race_task w[2] = {{.times = &times}, {.times = &times}};
        weft_task *t[2];
        int n = 0, rc = 0;
        while (n < 2 && (rc = weft_spawn(race_task_main, &w[n], &t[n])) == 0)
            n++;
        if (rc == 0)
            rc = weft_gather(t, 2, 0);
        rc = menu_end_tasks(t, (size_t)n, rc);
        if (rc != 0)
            return rc;
        race_tally(times, w[0].counted + w[1].counted, &r->weft_over, &r->weft_max, &r->weft_lost);
    }
    return 0;
}

int menu_race_probe(int rounds, menu_race *out)
{
    memset(out, 0, sizeof(*out));
    out->rounds = rounds;
    double t0 = menu_now();
    for (int i = 0; i < 100; i++)
        gap();
    out->gap_us = (menu_now() - t0) * 1e6 / 100;
    for (int i = 0; i < rounds; i++) {
        int rc = race_threads_round(out);
        if (rc != 0)
            return rc;
    }
    return weft_run(race_weft_main, out);
}
