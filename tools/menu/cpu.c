/* cpu.c: the CPU-bound menu items. Two workers each do one CPU job (the
 * same prime count): one after the other, in two pthreads, in two forked
 * processes, in two weft tasks on the loop's thread, and in two weft tasks
 * that hand the job to weft_to_thread. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"

#include "menu.h"

#define NJOBS 2

long menu_cpu_total(const menu_env *env)
{
    return NJOBS * env->cpu_blocks;
}

/* Every variant reports the same way: each worker did one job. */
static void one_job_each(menu_result *out, int nworkers)
{
    out->nworkers = nworkers;
    out->steps = nworkers;
    out->final = -1;
    for (int i = 0; i < nworkers; i++)
        out->counts[i] = 1;
}

/* ---------------------------------------------------------- sequential */

int menu_cpu_sequential(const menu_env *env, menu_result *out)
{
    out->primes = 0;
    for (int i = 0; i < NJOBS; i++)
        out->primes += menu_cpu_job(env);
    one_job_each(out, NJOBS);
    return 0;
}

/* ------------------------------------------------------------ pthreads */

typedef struct cpu_worker {
    pthread_t id;
    const menu_env *env;
    long primes;
} cpu_worker;

static void *cpu_thread_main(void *arg)
{
    cpu_worker *w = arg;
    w->primes = menu_cpu_job(w->env);
    return NULL;
}

int menu_cpu_pthreads(const menu_env *env, menu_result *out)
{
    cpu_worker w[NJOBS];
    int started = 0, rc = 0;
    for (; started < NJOBS; started++) {
        w[started] = (cpu_worker){.env = env};
        if ((rc = pthread_create(&w[started].id, NULL, cpu_thread_main, &w[started])) != 0)
            break;
    }
    out->primes = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].id, NULL);
        out->primes += w[i].primes;
    }
    one_job_each(out, started);
    return -rc;
}

/* ----------------------------------------------------------- processes */

int menu_cpu_fork(const menu_env *env, menu_result *out)
{
    pid_t pid[NJOBS];
    int started = 0, rc = 0;
    for (; started < NJOBS; started++) {
        env->sh->primes[started] = 0;
        pid[started] = fork();
        if (pid[started] < 0) {
            rc = -errno;
            break;
        }
        if (pid[started] == 0) {
            env->sh->primes[started] = menu_cpu_job(env);
            _exit(0);
        }
    }
    out->primes = 0;
    for (int i = 0; i < started; i++) {
        int status;
        while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = WEFT_ECRASHED;
        out->primes += env->sh->primes[i];
    }
    one_job_each(out, started);
    return rc;
}

/* ---------------------------------------------------------- weft tasks */

typedef struct cpu_task {
    const menu_env *env;
    long primes;
} cpu_task;

/* Asyncio's mistake, kept on purpose: the job never waits, so it holds the
 * loop's only thread until it ends and the other task runs after it. */
static int cpu_task_inline(void *arg)
{
    cpu_task *w = arg;
    w->primes = menu_cpu_job(w->env);
    return 0;
}

static int cpu_job_fn(void *arg)
{
    return cpu_task_inline(arg);
}

/* The right way: the task parks while a pool thread does the job, so the
 * loop stays free and the two jobs use two cores. */
static int cpu_task_to_thread(void *arg)
{
    return weft_to_thread(cpu_job_fn, arg);
}

typedef struct cpu_weft {
    weft_fn fn;
    cpu_task w[NJOBS];
} cpu_weft;

static int cpu_weft_main(void *arg)
{
    cpu_weft *m = arg;
    weft_task *t[NJOBS] = {NULL};
    int rc = 0;
    for (int i = 0; i < NJOBS && rc == 0; i++)
        rc = weft_spawn(m->fn, &m->w[i], &t[i]);
    if (rc == 0)
        rc = weft_gather(t, NJOBS, 0);
    for (int i = 0; i < NJOBS; i++) {
        if (t[i] != NULL) {
            weft_cancel(t[i]);
            weft_await(t[i]);
            weft_task_free(t[i]);
        }
    }
    return rc;
}

static int cpu_weft_run(const menu_env *env, weft_fn fn, menu_result *out)
{
    cpu_weft m = {.fn = fn};
    for (int i = 0; i < NJOBS; i++)
        m.w[i] = (cpu_task){.env = env};
    int rc = weft_run(cpu_weft_main, &m);
    out->primes = 0;
    for (int i = 0; i < NJOBS; i++)
        out->primes += m.w[i].primes;
    one_job_each(out, NJOBS);
    return rc;
}

int menu_cpu_weft(const menu_env *env, menu_result *out)
{
    return cpu_weft_run(env, cpu_task_inline, out);
}

int menu_cpu_to_thread(const menu_env *env, menu_result *out)
{
    return cpu_weft_run(env, cpu_task_to_thread, out);
}
