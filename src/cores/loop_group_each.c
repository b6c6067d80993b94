/* loop_group_each: asking the loops of a group to do something and waiting
 * for all of them — the latch a task or a thread waits on, "run fn on
 * every loop", and what is built on it: statistics per loop and summed,
 * and a dump of every loop's task tree. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cores/cores.h"

/* ------------------------------------------------------------ the latch */

void weft__latch_init(weft__latch *l, int count)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    sem_init(&l->sem, 0, 0);
    l->pending = count;
}

void weft__latch_destroy(weft__latch *l)
{
    sem_destroy(&l->sem);
    pthread_mutex_destroy(&l->mu);
}

void weft__latch_count_down(weft__latch *l)
{
    pthread_mutex_lock(&l->mu);
    bool zero = --l->pending == 0;
    weft__inbox *inbox = zero ? l->inbox : NULL;
    pthread_mutex_unlock(&l->mu);
    if (!zero)
        return;
    /* The waiter returns, and the latch goes, once woken: we touch nothing
     * of it after the post. A thread waits on the semaphore (or has not
     * come to it yet: it will not block); a task is woken by a message on
     * its loop, which cannot run before it is posted. */
    if (inbox != NULL)
        weft__inbox_post(inbox, &l->wake.msg);
    else
        sem_post(&l->sem);
}

bool weft__latch_add(weft__latch *l, int k)
{
    pthread_mutex_lock(&l->mu);
    bool alive = l->pending > 0;
    if (alive)
        l->pending += k;
    pthread_mutex_unlock(&l->mu);
    return alive;
}

/* The work on the other loops goes on and points into this latch: the
 * task keeps waiting, and says it was cancelled once the work is done. */
static bool latch_cancel(weft__wait *w)
{
    WEFT_CONTAINER_OF(w, weft__latch, w)->cancelled = true;
    return false;
}

static int latch_park(weft__latch *l, weft_loop *loop)
{
    pthread_mutex_lock(&l->mu);
    if (l->pending == 0) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    l->inbox = loop->inbox.box;
    weft__wake_msg_init(&l->wake, loop->current);
    l->w = (weft__wait){.cancel = latch_cancel, .what = "loop group", .obj = l};
    pthread_mutex_unlock(&l->mu);
    weft__loop_hold(loop);
    weft__park(&l->w);
    weft__loop_unhold(loop);
    return l->cancelled ? WEFT_ECANCELED : 0;
}

int weft__latch_wait(weft__latch *l)
{
    weft_loop *loop = weft__loop_current();
    if (loop != NULL) {
        if (loop->current == NULL)
            return -EDEADLK; /* a callback cannot wait, nor block its loop */
        return latch_park(l, loop);
    }
    while (sem_wait(&l->sem) != 0) /* EINTR */
        ;
    return 0;
}

/* ------------------------------------------------------------ fn on loops */

typedef struct loop_job {
    weft__msg msg;
    weft__done_cb done;
    weft__latch *latch;
    weft__on_loop_fn fn;
    void *arg;
    int index;
    bool as_task;
    int rc;
} loop_job;

static int job_task(void *arg)
{
    loop_job *job = arg;
    return job->fn(job->index, job->arg);
}

static void job_task_done(weft__done_cb *cb, weft_task *task)
{
    loop_job *job = WEFT_CONTAINER_OF(cb, loop_job, done);
    task->observed = true; /* its code is read here */
    job->rc = task->result;
    weft__latch_count_down(job->latch);
}

static void job_run(weft__msg *m)
{
    loop_job *job = WEFT_CONTAINER_OF(m, loop_job, msg);
    if (!job->as_task) {
        job->rc = job->fn(job->index, job->arg);
        weft__latch_count_down(job->latch);
        return;
    }
    weft_task *task;
    weft_task_opts topts = {.name = "loop group job"};
    int rc = weft__task_spawn_on(weft__loop_current(), job_task, job, &topts, &task);
    if (rc != 0) {
        job->rc = rc;
        weft__latch_count_down(job->latch);
        return;
    }
    job->done.fn = job_task_done;
    weft__task_on_done(task, &job->done);
    weft_task_free(task); /* detached: job_task_done reports its end */
}

static void job_fail(weft__msg *m, int code)
{
    loop_job *job = WEFT_CONTAINER_OF(m, loop_job, msg);
    job->rc = code;
    weft__latch_count_down(job->latch);
}

/* What the other loops touch while the caller waits, in one heap block. */
typedef struct on_loops {
    weft__latch latch;
    void *arg; /* the caller's, or the copy after the jobs */
    loop_job jobs[];
} on_loops;

int weft__group_on_loops(weft_loop_group *g, int index, bool as_task, weft__on_loop_fn fn,
                         void *arg, size_t arg_size, int *rcs)
{
    weft_loop *here = weft__loop_current();
    if (here != NULL && here->current == NULL)
        return -EDEADLK;
    int first = index < 0 ? 0 : index, count = index < 0 ? g->n : 1;
    size_t jobs_size = sizeof(on_loops) + (size_t)count * sizeof(loop_job);
    on_loops *ol = weft__calloc(1, jobs_size + arg_size);
    if (ol == NULL)
        return -ENOMEM;
    ol->arg = arg;
    if (arg_size > 0)
        ol->arg = memcpy((char *)ol + jobs_size, arg, arg_size);
    weft__latch_init(&ol->latch, count);
    for (int k = 0; k < count; k++) {
        loop_job *job = &ol->jobs[k];
        *job = (loop_job){.msg = {.run = job_run, .fail = job_fail},
                          .latch = &ol->latch,
                          .fn = fn,
                          .arg = ol->arg,
                          .index = first + k,
                          .as_task = as_task};
        int rc = weft__inbox_post(g->loops[first + k]->inbox.box, &job->msg);
        if (rc != 0)
            job_fail(&job->msg, rc);
    }
    int rc = weft__latch_wait(&ol->latch);
    weft__latch_destroy(&ol->latch);
    for (int k = 0; k < count; k++)
        rcs[k] = ol->jobs[k].rc;
    free(ol);
    return rc;
}

/* ------------------------------------------------------------ statistics */

static int stats_on_loop(int index, void *arg)
{
    struct weft_loop_stats *all = arg;
    return weft_loop_stats(NULL, &all[index]);
}

static void stats_add(struct weft_loop_stats *sum, const struct weft_loop_stats *s)
{
    sum->tasks_alive += s->tasks_alive;
    sum->tasks_new += s->tasks_new;
    sum->tasks_ready += s->tasks_ready;
    sum->tasks_running += s->tasks_running;
    sum->tasks_waiting += s->tasks_waiting;
    sum->tasks_sleeping += s->tasks_sleeping;
    sum->tasks_awaiting += s->tasks_awaiting;
    sum->tasks_io += s->tasks_io;
    sum->tasks_other += s->tasks_other;
    sum->tasks_spawned += s->tasks_spawned;
    sum->switches += s->switches;
    sum->iterations += s->iterations;
    sum->blocked_reports += s->blocked_reports;
    if (s->longest_block > sum->longest_block)
        sum->longest_block = s->longest_block;
    if (s->block_threshold > sum->block_threshold)
        sum->block_threshold = s->block_threshold;
    sum->stacks_live += s->stacks_live;
    sum->stacks_pooled += s->stacks_pooled;
    sum->timers += s->timers;
    sum->debug |= s->debug;
}

int weft_loop_group_stats(weft_loop_group *g, int index, struct weft_loop_stats *out)
{
    if (g == NULL || out == NULL || index < -1 || index >= g->n)
        return -EINVAL;
    struct weft_loop_stats *all = weft__calloc((size_t)g->n, sizeof *all);
    int *rcs = weft__calloc((size_t)g->n, sizeof *rcs);
    int rc = all && rcs ? weft__group_on_loops(g, -1, false, stats_on_loop, all, 0, rcs) : -ENOMEM;
    for (int i = 0; rc == 0 && i < g->n; i++)
        rc = rcs[i];
    if (rc == 0 && index >= 0) {
        *out = all[index];
    } else if (rc == 0) {
        memset(out, 0, sizeof *out);
        for (int i = 0; i < g->n; i++)
            stats_add(out, &all[i]);
    }
    free(all);
    free(rcs);
    return rc;
}

/* ------------------------------------------------------------ dumps */

typedef struct dump_req {
    FILE *out;
    int n;
} dump_req;

static int dump_on_loop(int index, void *arg)
{
    dump_req *req = arg;
    fprintf(req->out, "--- loop %d of %d ---\n", index, req->n);
    return weft_loop_tasks_dump(weft__loop_current(), req->out);
}

/* One loop after the other, so that the trees do not interleave. */
int weft_loop_group_dump(weft_loop_group *g, FILE *out)
{
    if (g == NULL || out == NULL)
        return -EINVAL;
    dump_req req = {.out = out, .n = g->n};
    int total = 0, cancelled = 0;
    for (int i = 0; i < g->n; i++) {
        int rc, code = weft__group_on_loops(g, i, false, dump_on_loop, &req, sizeof req, &rc);
        if (code == WEFT_ECANCELED)
            cancelled = code; /* the dump goes on: it is short */
        else if (code != 0)
            return code;
        if (rc < 0)
            return rc;
        total += rc;
    }
    return cancelled ? cancelled : total;
}

/* ------------------------------------------------ dumps on a signal */

/* On loop 0: a signal watcher whose callback starts a task that dumps
 * every loop (a callback cannot wait for the other loops; a task can). */
struct group_dump_signal {
    uv_signal_t sig; /* first: freed from its close callback */
    weft_loop_group *g;
    FILE *out;
    bool dumping; /* a dump task runs (signals meanwhile are merged into it) */
    bool dropped; /* replaced or stopped while dumping: the dump task closes it */
};

typedef struct dump_signal_req {
    weft_loop_group *g;
    int signum;
    FILE *out;
} dump_signal_req;

static void free_on_close(uv_handle_t *h)
{
    free(h);
}

static void dump_signal_close(struct group_dump_signal *ds)
{
    uv_close((uv_handle_t *)&ds->sig, free_on_close);
}

static int dump_task(void *arg)
{
    struct group_dump_signal *ds = arg;
    int rc = weft_loop_group_dump(ds->g, ds->out ? ds->out : stderr);
    ds->dumping = false;
    if (ds->dropped)
        dump_signal_close(ds);
    return rc < 0 && rc != WEFT_ECANCELED ? rc : 0;
}

static void dump_signal_cb(uv_signal_t *sig, int signum)
{
    (void)signum;
    struct group_dump_signal *ds = sig->data;
    weft_task_opts topts = {.name = "loop group dump"};
    weft_task *t;
    if (!ds->dumping && weft__task_spawn_on(weft__loop_current(), dump_task, ds, &topts, &t) == 0) {
        ds->dumping = true;
        weft_task_free(t); /* detached */
    }
}

static void dump_signal_drop(struct group_dump_signal *ds)
{
    if (ds == NULL)
        return;
    uv_signal_stop(&ds->sig);
    if (ds->dumping)
        ds->dropped = true;
    else
        dump_signal_close(ds);
}

/* On loop 0's thread: replace (or stop) the watcher. */
static int dump_signal_set(int index, void *arg)
{
    (void)index;
    dump_signal_req *req = arg;
    weft_loop_group *g = req->g;
    dump_signal_drop(g->dump_signal);
    g->dump_signal = NULL;
    if (req->signum == 0)
        return 0;
    struct group_dump_signal *ds = weft__calloc(1, sizeof *ds);
    if (ds == NULL)
        return -ENOMEM;
    ds->g = g;
    ds->out = req->out;
    ds->sig.data = ds;
    int rc = uv_signal_init(&weft__loop_current()->uv, &ds->sig);
    if (rc != 0) {
        free(ds);
        return rc;
    }
    if ((rc = uv_signal_start(&ds->sig, dump_signal_cb, req->signum)) != 0) {
        dump_signal_close(ds);
        return rc;
    }
    uv_unref((uv_handle_t *)&ds->sig); /* a dump on request keeps no loop alive */
    g->dump_signal = ds;
    return 0;
}

int weft_loop_group_dump_on_signal(weft_loop_group *g, int signum, FILE *out)
{
    if (g == NULL || signum < 0 || signum >= NSIG)
        return -EINVAL;
    dump_signal_req req = {.g = g, .signum = signum, .out = out};
    int rc, code = weft__group_on_loops(g, 0, false, dump_signal_set, &req, sizeof req, &rc);
    return code != 0 ? code : rc;
}

void weft__group_dump_signal_stop(weft_loop_group *g)
{
    if (g->dump_signal != NULL)
        WEFT_IGNORE(weft_loop_group_dump_on_signal(g, 0, NULL));
}
