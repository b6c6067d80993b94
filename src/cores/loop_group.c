/* loop_group: every core in one process. A group is N loop threads (one
 * per core by default, optionally pinned); a run starts a main task on
 * each and waits for all of them with a task group's rule (the first main
 * to fail cancels the others) and asyncio.run's Ctrl-C (SIGINT or SIGTERM
 * cancels every main; the run returns WEFT_EINTERRUPTED). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "cores/cores.h"

/* Which group, and which of its loops, this thread runs (set on each loop
 * thread when the group is made; the thread ends with the group). */
static __thread weft_loop_group *tl_group;
static __thread int tl_index;

weft_loop_group *weft_loop_group_current(void)
{
    return tl_group;
}

int weft_loop_group_index(void)
{
    return tl_group ? tl_index : WEFT_ENOTASK;
}

int weft_loop_group_size(const weft_loop_group *g)
{
    return g ? g->n : -EINVAL;
}

weft_loop *weft_loop_group_loop(weft_loop_group *g, int index)
{
    return g && index >= 0 && index < g->n ? g->loops[index] : NULL;
}

/* ------------------------------------------------------------ new, free */

static int cpus_allowed(cpu_set_t *set)
{
    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof *set, set) != 0 || CPU_COUNT(set) == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < (n > 0 ? n : 1) && i < CPU_SETSIZE; i++)
            CPU_SET((int)i, set);
    }
    return CPU_COUNT(set);
}

/* Loop i goes on the i-th allowed CPU, wrapping round. */
static int pin(weft_loop *loop, int i, const cpu_set_t *allowed)
{
    int want = i % CPU_COUNT(allowed), cpu = 0;
    for (int seen = -1; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, allowed) && ++seen == want)
            break;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return -pthread_setaffinity_np(loop->thread, sizeof one, &one);
}

/* On each loop's own thread: who it is, and the group's debug mode. */
static int setup_on_loop(int index, void *arg)
{
    weft_loop_group *g = arg;
    tl_group = g;
    tl_index = index;
    return g->opts.debug ? weft_loop_set_debug(NULL, 1) : 0;
}

static int check_opts(const weft_loop_group_opts *o)
{
    if (o->loops < 0 || o->loops > WEFT_LOOP_GROUP_MAX || o->stack_size > WEFT__STACK_SIZE_MAX)
        return -EINVAL;
    if (!(o->block_threshold >= 0)) /* negative or NaN */
        return -EINVAL;
    return 0;
}

static int start_loops(weft_loop_group *g)
{
    cpu_set_t allowed;
    int cpus = cpus_allowed(&allowed);
    if (g->n == 0)
        g->n = cpus;
    if ((g->threads = weft__calloc((size_t)g->n, sizeof *g->threads)) == NULL ||
        (g->loops = weft__calloc((size_t)g->n, sizeof *g->loops)) == NULL)
        return -ENOMEM;
    for (int i = 0; i < g->n; i++) {
        int rc = weft_loop_thread_start(&g->threads[i]);
        if (rc != 0)
            return rc;
        g->loops[i] = weft_loop_thread_loop(g->threads[i]);
        if (g->opts.pin_threads && (rc = pin(g->loops[i], i, &allowed)) != 0)
            return rc;
        if (g->opts.block_threshold > 0)
            weft_set_block_threshold(g->loops[i], g->opts.block_threshold);
    }
    int *rcs = weft__calloc((size_t)g->n, sizeof *rcs);
    if (rcs == NULL)
        return -ENOMEM;
    int rc = weft__group_on_loops(g, -1, false, setup_on_loop, g, 0, rcs);
    for (int i = 0; rc == 0 && i < g->n; i++)
        rc = rcs[i];
    free(rcs);
    return rc;
}

int weft_loop_group_new(const weft_loop_group_opts *opts, weft_loop_group **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop_group_opts o = opts ? *opts : (weft_loop_group_opts){0};
    if (check_opts(&o) != 0)
        return -EINVAL;
    weft_loop_group *g = weft__calloc(1, sizeof *g);
    if (g == NULL)
        return -ENOMEM;
    g->opts = o;
    g->n = o.loops;
    int rc = start_loops(g);
    if (rc != 0) {
        weft_loop_group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void weft_loop_group_free(weft_loop_group *g)
{
    if (g == NULL)
        return;
    if (g->threads != NULL && g->threads[0] != NULL)
        weft__group_dump_signal_stop(g);
    /* Each stop cancels every task of its loop and lets them end; they
     * stop one after the other, so a task may still await another loop's
     * task meanwhile (that one ends with WEFT_ECLOSED or WEFT_ECANCELED). */
    for (int i = 0; g->threads && i < g->n; i++)
        if (g->threads[i])
            WEFT_IGNORE(weft_loop_thread_stop(g->threads[i]));
    for (int i = 0; g->threads && i < g->n; i++)
        weft_loop_thread_free(g->threads[i]);
    free(g->threads);
    free(g->loops);
    free(g);
}

/* ------------------------------------------------------------ run */

typedef struct run_state run_state;

/* One loop's main: started and cancelled by messages to that loop. */
typedef struct main_slot {
    weft__msg start, cancel;
    weft__done_cb done;
    run_state *run;
    weft_loop *loop;
    weft_task *task; /* the loop's thread only: the live main, or NULL */
    int rc;
} main_slot;

struct run_state {
    weft_loop_group *g;
    weft_fn main;
    void *arg;
    main_slot *slots;
    weft__latch latch; /* the mains, and the cancel messages in flight */
    pthread_mutex_t mu;
    int first_error; /* under mu */
    int cancelling;  /* atomic: the cancel messages went out */
};

static void cancel_all(run_state *run);

static void slot_ended(main_slot *s, int rc)
{
    s->rc = rc;
    if (rc < 0 && rc != WEFT_ECANCELED) {
        pthread_mutex_lock(&s->run->mu);
        if (s->run->first_error == 0)
            s->run->first_error = rc;
        pthread_mutex_unlock(&s->run->mu);
        cancel_all(s->run);
    }
    weft__latch_count_down(&s->run->latch);
}

static void main_done(weft__done_cb *cb, weft_task *task)
{
    main_slot *s = WEFT_CONTAINER_OF(cb, main_slot, done);
    task->observed = true; /* its code is the run's */
    s->task = NULL;
    slot_ended(s, task->result);
}

static void start_run(weft__msg *m)
{
    main_slot *s = WEFT_CONTAINER_OF(m, main_slot, start);
    run_state *run = s->run;
    /* Cancelled before it started (its cancel message may have come
     * first): it ends as a task cancelled before it runs does. */
    if (__atomic_load_n(&run->cancelling, __ATOMIC_ACQUIRE)) {
        slot_ended(s, WEFT_ECANCELED);
        return;
    }
    char name[32]; /* copied: dumps and blocked-loop reports say which loop */
    snprintf(name, sizeof name, "main of loop %d", weft_loop_group_index());
    weft_task_opts topts = {.name = name, .stack_size = run->g->opts.stack_size};
    weft_task *task;
    int rc = weft__task_spawn_on(s->loop, run->main, run->arg, &topts, &task);
    if (rc != 0) {
        slot_ended(s, rc);
        return;
    }
    s->task = task;
    s->done.fn = main_done;
    weft__task_on_done(task, &s->done);
    weft_task_free(task); /* detached: main_done clears s->task */
}

static void start_fail(weft__msg *m, int code)
{
    slot_ended(WEFT_CONTAINER_OF(m, main_slot, start), code);
}

/* After its start in the loop's FIFO: the main was spawned (or failed). */
static void cancel_run(weft__msg *m)
{
    main_slot *s = WEFT_CONTAINER_OF(m, main_slot, cancel);
    if (s->task)
        weft__task_cancel(s->task);
    weft__latch_count_down(&s->run->latch);
}

static void cancel_fail(weft__msg *m, int code)
{
    (void)code;
    weft__latch_count_down(&WEFT_CONTAINER_OF(m, main_slot, cancel)->run->latch);
}

/* Once per run, from a loop (a main failed) or the running thread (a
 * signal). The latch counts the messages, so the run outlives them; it is
 * above zero here (the failing main has not counted down yet, or the run
 * is still waiting), unless everything ended meanwhile. */
static void cancel_all(run_state *run)
{
    if (__atomic_exchange_n(&run->cancelling, 1, __ATOMIC_ACQ_REL))
        return;
    int n = run->g->n;
    if (!weft__latch_add(&run->latch, n))
        return;
    for (int i = 0; i < n; i++) {
        main_slot *s = &run->slots[i];
        s->cancel = (weft__msg){.run = cancel_run, .fail = cancel_fail};
        if (weft__inbox_post(s->loop->inbox.box, &s->cancel) != 0)
            cancel_fail(&s->cancel, WEFT_ECLOSED);
    }
}

/* ------------------------------------------------ SIGINT and SIGTERM */

/* The run that catches the signals (one at a time: a second run finds
 * the handlers taken and leaves them alone). The handler only notes the
 * signal and posts the semaphore the run waits on. */
static sem_t *volatile sig_sem;
static volatile sig_atomic_t sig_hits;
static struct sigaction sig_old[2];
static const int sig_nums[2] = {SIGINT, SIGTERM};

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    sig_hits++;
    sem_t *sem = sig_sem;
    if (sem)
        sem_post(sem);
    errno = saved;
}

/* As asyncio.run: only on the main thread, only over default actions. */
static bool signals_install(run_state *run)
{
    if (getpid() != (pid_t)syscall(SYS_gettid))
        return false;
    for (int i = 0; i < 2; i++) {
        struct sigaction cur;
        if (sigaction(sig_nums[i], NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
            return false;
    }
    sig_hits = 0;
    sig_sem = &run->latch.sem;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 2; i++)
        sigaction(sig_nums[i], &sa, &sig_old[i]);
    return true;
}

static void signals_remove(void)
{
    for (int i = 0; i < 2; i++)
        sigaction(sig_nums[i], &sig_old[i], NULL);
    sig_sem = NULL;
}

/* The running thread waits for the mains; a signal wakes it too. */
static bool wait_mains(run_state *run)
{
    bool interrupted = false;
    for (;;) {
        while (sem_wait(&run->latch.sem) != 0) /* EINTR */
            ;
        if (sig_hits > 0 && sig_sem == &run->latch.sem && !interrupted) {
            interrupted = true;
            cancel_all(run);
        }
        pthread_mutex_lock(&run->latch.mu);
        bool done = run->latch.pending == 0;
        pthread_mutex_unlock(&run->latch.mu);
        if (done)
            return interrupted;
    }
}

static int run_result(const run_state *run)
{
    if (run->first_error != 0)
        return run->first_error;
    for (int i = 0; i < run->g->n; i++)
        if (run->slots[i].rc == WEFT_ECANCELED)
            return WEFT_ECANCELED;
    return 0;
}

int weft_loop_group_run(weft_loop_group *g, weft_fn main, void *arg)
{
    if (g == NULL || main == NULL)
        return -EINVAL;
    if (weft__loop_current() != NULL)
        return -EBUSY; /* it would block that loop */
    if (__atomic_exchange_n(&g->running, true, __ATOMIC_ACQ_REL))
        return -EBUSY;
    run_state run = {.g = g, .main = main, .arg = arg};
    run.slots = weft__calloc((size_t)g->n, sizeof *run.slots);
    if (run.slots == NULL) {
        __atomic_store_n(&g->running, false, __ATOMIC_RELEASE);
        return -ENOMEM;
    }
    pthread_mutex_init(&run.mu, NULL);
    weft__latch_init(&run.latch, g->n);
    bool catching = signals_install(&run);
    /* Every slot is ready before the first main can fail and cancel them. */
    for (int i = 0; i < g->n; i++)
        run.slots[i] =
            (main_slot){.start = {.run = start_run, .fail = start_fail, .submission = true},
                        .run = &run,
                        .loop = g->loops[i]};
    for (int i = 0; i < g->n; i++)
        if (weft__inbox_post(run.slots[i].loop->inbox.box, &run.slots[i].start) != 0)
            start_fail(&run.slots[i].start, WEFT_ECLOSED);
    bool interrupted = wait_mains(&run);
    if (catching)
        signals_remove();
    int rc = interrupted ? WEFT_EINTERRUPTED : run_result(&run);
    weft__latch_destroy(&run.latch);
    pthread_mutex_destroy(&run.mu);
    free(run.slots);
    __atomic_store_n(&g->running, false, __ATOMIC_RELEASE);
    return rc;
}

int weft_run_loops(weft_fn main, void *arg, const weft_loop_group_opts *opts)
{
    if (main == NULL)
        return -EINVAL;
    weft_loop_group *g;
    int rc = weft_loop_group_new(opts, &g);
    if (rc != 0)
        return rc;
    rc = weft_loop_group_run(g, main, arg);
    weft_loop_group_free(g);
    return rc;
}

/* ------------------------------------------------------------ work between loops */

int weft_loop_group_submit(weft_loop_group *g, int index, weft_fn fn, void *arg, weft_cfuture **out)
{
    if (out)
        *out = NULL;
    if (g == NULL || index < 0 || index >= g->n)
        return -EINVAL;
    return weft_submit(g->loops[index], fn, arg, out);
}

int weft_loop_group_call(weft_loop_group *g, int index, weft_fn fn, void *arg)
{
    weft_cfuture *cf;
    int rc = weft_loop_group_submit(g, index, fn, arg, &cf);
    if (rc != 0)
        return rc;
    rc = weft__task_current() ? weft_cfuture_await(cf) : weft_cfuture_result(cf, WEFT_FOREVER);
    weft_cfuture_free(cf);
    return rc;
}
