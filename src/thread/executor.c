/* executor: asyncio.to_thread and loop.run_in_executor. A pool of OS
 * threads (started on demand, up to a maximum) takes jobs from a FIFO; the
 * task that submitted one parks, and the worker posts the result back to
 * the task's loop through its inbox. A cancelled task leaves at once: a job
 * still queued is dropped, a running one finishes and its result is
 * dropped (the job is refcounted between the task and the worker). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "thread/thread.h"

struct weft_executor {
    pthread_mutex_t mu;
    pthread_cond_t work; /* jobs queued, or shutdown */
    weft__link queue;    /* job.link, under mu */
    size_t queued, idle, nthreads, max;
    bool shutdown, joined;
    pthread_t *threads;
    unsigned fork_gen; /* its threads exist only in this process */
};

typedef struct job {
    weft__msg msg; /* the completion, posted by the worker */
    weft__wait w;
    weft__link link; /* in the executor's queue until a worker takes it */
    weft_fn fn;
    void *arg;
    int result;
    weft_executor *ex;
    weft_task *task; /* loop thread: NULL once the awaiter has left */
    weft__inbox *inbox;
    unsigned refs; /* atomic: the awaiter's, the worker's */
} job;

static void job_unref(job *j)
{
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        weft__inbox_unref(j->inbox);
        free(j);
    }
}

/* ------------------------------------------------ worker threads */

static void *worker_main(void *arg)
{
    weft_executor *ex = arg;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        while (ex->queued == 0 && !ex->shutdown) {
            ex->idle++;
            pthread_cond_wait(&ex->work, &ex->mu);
            ex->idle--;
        }
        if (ex->queued == 0) /* shut down and drained */
            break;
        job *j = WEFT_CONTAINER_OF(weft__list_pop_front(&ex->queue), job, link);
        ex->queued--;
        pthread_mutex_unlock(&ex->mu);
        j->result = j->fn(j->arg);
        if (weft__inbox_post(j->inbox, &j->msg) != 0)
            job_unref(j); /* the loop is gone, and the awaiter with it */
        pthread_mutex_lock(&ex->mu);
    }
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* On the loop's thread: hand the result to the task, if it still waits. */
static void job_done_run(weft__msg *m)
{
    job *j = WEFT_CONTAINER_OF(m, job, msg);
    if (j->task)
        weft__wake(j->task, 0);
    job_unref(j);
}

static void job_done_fail(weft__msg *m, int code)
{
    (void)code;
    job_unref(WEFT_CONTAINER_OF(m, job, msg));
}

static bool job_cancel(weft__wait *w)
{
    job *j = WEFT_CONTAINER_OF(w, job, w);
    weft_executor *ex = j->ex;
    j->task = NULL;
    pthread_mutex_lock(&ex->mu);
    bool queued = weft__link_linked(&j->link);
    if (queued) { /* never started: it never will */
        weft__list_remove(&j->link);
        ex->queued--;
    }
    pthread_mutex_unlock(&ex->mu);
    if (queued)
        job_unref(j); /* the worker's reference */
    return true;
}

/* ------------------------------------------------ public */

static size_t online_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (size_t)cores : 1;
}

int weft_executor_new(size_t nthreads, weft_executor **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (nthreads == 0)
        nthreads = online_cores();
    weft_executor *ex = weft__calloc(1, sizeof *ex);
    pthread_t *threads = weft__calloc(nthreads, sizeof *threads);
    if (ex == NULL || threads == NULL) {
        free(ex);
        free(threads);
        return -ENOMEM;
    }
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->work, NULL);
    weft__list_init(&ex->queue);
    ex->max = nthreads;
    ex->threads = threads;
    ex->fork_gen = weft__fork_gen();
    *out = ex;
    return 0;
}

/* Under ex->mu: one more thread if the queue outgrows the idle ones. */
static int maybe_start_thread(weft_executor *ex)
{
    if (ex->idle >= ex->queued || ex->nthreads == ex->max)
        return 0;
    int rc = pthread_create(&ex->threads[ex->nthreads], NULL, worker_main, ex);
    if (rc != 0)
        return ex->nthreads == 0 ? -rc : 0; /* the others will get to it */
    ex->nthreads++;
    return 0;
}

int weft_executor_submit(weft_executor *ex, weft_fn fn, void *arg)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (ex == NULL || fn == NULL)
        return -EINVAL;
    if (ex->fork_gen != weft__fork_gen())
        return WEFT_EFORKED;
    weft_loop *loop = weft__loop_current();
    job *j = weft__malloc(sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    *j = (job){.fn = fn, .arg = arg, .ex = ex, .task = loop->current, .refs = 2};
    j->msg = (weft__msg){.run = job_done_run, .fail = job_done_fail};
    j->w = (weft__wait){.cancel = job_cancel, .what = "executor job", .obj = ex};
    j->inbox = weft__inbox_get(loop); /* before a worker can see the job */
    pthread_mutex_lock(&ex->mu);
    rc = ex->shutdown ? WEFT_ECLOSED : 0;
    if (rc == 0) {
        weft__list_push_back(&ex->queue, &j->link);
        ex->queued++;
        rc = maybe_start_thread(ex);
        if (rc != 0) {
            weft__list_remove(&j->link);
            ex->queued--;
        } else {
            pthread_cond_signal(&ex->work);
        }
    }
    pthread_mutex_unlock(&ex->mu);
    if (rc != 0) {
        weft__inbox_unref(j->inbox);
        free(j);
        return rc;
    }
    weft__loop_hold(loop);
    rc = weft__park(&j->w);
    weft__loop_unhold(loop);
    if (rc == 0)
        rc = j->result;
    job_unref(j);
    return rc;
}

int weft_executor_shutdown(weft_executor *ex, int wait)
{
    if (ex == NULL)
        return -EINVAL;
    if (ex->fork_gen != weft__fork_gen())
        return WEFT_EFORKED; /* no threads to join here; its locks may be held */
    pthread_mutex_lock(&ex->mu);
    ex->shutdown = true;
    pthread_cond_broadcast(&ex->work);
    bool join = wait && !ex->joined;
    if (join)
        ex->joined = true;
    size_t n = ex->nthreads;
    pthread_mutex_unlock(&ex->mu);
    /* No thread starts after shutdown: the first n are all there is. */
    for (size_t i = 0; join && i < n; i++)
        pthread_join(ex->threads[i], NULL);
    return 0;
}

void weft_executor_free(weft_executor *ex)
{
    if (ex == NULL || weft_executor_shutdown(ex, 1) != 0)
        return; /* in a child of fork(): left as it is */
    pthread_cond_destroy(&ex->work);
    pthread_mutex_destroy(&ex->mu);
    free(ex->threads);
    free(ex);
}

/* ------------------------------------------------ the default executors */

/* Two pools, made on first use and kept until exit; their threads start one
 * by one, as jobs outgrow the idle ones. to_thread's is sized like
 * asyncio's default executor, min(32, cores + 4): its jobs mostly wait (a
 * blocking read, a sleep), so more threads than cores pay off. The CPU
 * pool has one thread per core: more would only time-slice. */
static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_executor *blocking_ex, *cpu_ex;

static size_t blocking_threads(void)
{
    size_t n = online_cores() + 4;
    return n < 32 ? n : 32;
}

/* In a child of fork() the default executors' threads are gone and their
 * mutex may be held: start afresh (the parent's copies are left behind). */
static void atfork_child(void)
{
    pthread_mutex_init(&default_mu, NULL);
    blocking_ex = NULL;
    cpu_ex = NULL;
}

__attribute__((constructor)) static void install_fork_hook(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

static int submit_default(weft_executor **pool, size_t (*size)(void), weft_fn fn, void *arg)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&default_mu);
    if (*pool == NULL)
        rc = weft_executor_new(size(), pool);
    weft_executor *ex = *pool;
    pthread_mutex_unlock(&default_mu);
    return rc != 0 ? rc : weft_executor_submit(ex, fn, arg);
}

int weft_to_thread(weft_fn fn, void *arg)
{
    return submit_default(&blocking_ex, blocking_threads, fn, arg);
}

int weft_to_thread_cpu(weft_fn fn, void *arg)
{
    return submit_default(&cpu_ex, online_cores, fn, arg);
}
