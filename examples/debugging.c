/* weft's debugging aids, each report as a user sees it (docs/debugging.md).
 *
 *   ./debugging            task dump, dump on SIGQUIT, loop statistics,
 *                          a blocked-loop report, debug mode's leak report
 *   ./debugging overflow   a stack overflow report (the process then dies
 *                          of SIGSEGV, as it would have)
 *
 * The task functions are not static, and the program is linked with
 * -rdynamic, so that backtraces name them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

int sleeper(void *arg)
{
    return weft_sleep(*(double *)arg);
}

int fetch_all(void *arg)
{
    (void)arg;
    double s = 10;
    weft_task *parts[2] = {NULL, NULL};
    int rc = weft_spawn(sleeper, &s, &parts[0]);
    if (rc == 0)
        rc = weft_spawn(sleeper, &s, &parts[1]);
    if (rc == 0)
        rc = weft_gather(parts, 2, 0);
    else
        weft_cancel(parts[0]); /* cancelled before it starts: it never runs */
    weft_task_free(parts[0]);
    weft_task_free(parts[1]);
    return rc;
}

int with_deadline(void *arg)
{
    return weft_wait_for(arg, 5.0); /* await a task, under a timeout */
}

int workers(void *arg)
{
    (void)arg;
    double s = 10;
    weft_group *g;
    int rc = weft_group_new(&g);
    if (rc != 0)
        return rc;
    weft_task_opts opts = {.name = "worker"};
    rc = weft_group_spawn_opts(g, sleeper, &s, &opts, NULL); /* the group keeps them */
    if (rc == 0)
        rc = weft_group_spawn_opts(g, sleeper, &s, &opts, NULL);
    int wrc = weft_group_wait(g); /* after a failed spawn, waits for the one spawned */
    rc = rc != 0 ? rc : wrc;
    weft_group_free(g);
    return rc;
}

/* 1. A dump of tasks waiting on each kind of wait, then the same on SIGQUIT. */
int show_dump(void *arg)
{
    (void)arg;
    double s = 10;
    weft_task_opts named = {.name = "fetch_all"};
    weft_task *t[4] = {NULL};
    int rc = weft_spawn_opts(fetch_all, NULL, &named, &t[0]);
    if (rc == 0)
        rc = weft_spawn(sleeper, &s, &t[1]);
    if (rc == 0)
        rc = weft_spawn(with_deadline, t[1], &t[2]);
    if (rc == 0)
        rc = weft_spawn(workers, NULL, &t[3]);
    if (rc != 0) {
        for (int i = 0; i < 4; i++) {
            if (t[i] != NULL)
                weft_cancel(t[i]); /* cancelled before they start: they never run */
            weft_task_free(t[i]);
        }
        return rc;
    }
    weft_sleep(0.01); /* let them all start and park */

    printf("--- weft_tasks_dump(stdout):\n");
    weft_tasks_dump(stdout);

    printf("--- the same on SIGQUIT (kill -QUIT %d):\n", (int)getpid());
    fflush(stdout);
    weft_dump_on_signal(NULL, SIGQUIT, stdout);
    kill(getpid(), SIGQUIT);
    weft_sleep(0.05); /* the dump runs on the loop's thread, between tasks */
    weft_dump_on_signal(NULL, 0, NULL);

    struct weft_loop_stats st;
    weft_loop_stats(NULL, &st);
    printf("--- weft_loop_stats: %zu alive, %zu waiting (%zu sleeping, %zu on tasks), "
           "%llu switches, %llu turns\n",
           st.tasks_alive, st.tasks_waiting, st.tasks_sleeping, st.tasks_awaiting,
           (unsigned long long)st.switches, (unsigned long long)st.iterations);
    fflush(stdout);
    for (int i = 0; i < 4; i++)
        weft_cancel(t[i]);
    weft_gather(t, 4, WEFT_RETURN_EXCEPTIONS);
    for (int i = 0; i < 4; i++)
        weft_task_free(t[i]);
    return 0;
}

/* 2. "Accidentally blocking": sleep(3) instead of weft_sleep(). */
int crunch(void *arg)
{
    (void)arg;
    usleep(250 * 1000); /* the bug */
    return 0;
}

int show_blocked(void *arg)
{
    (void)arg;
    weft_task_opts opts = {.name = "crunch"};
    weft_task *t;
    int rc = weft_spawn_opts(crunch, NULL, &opts, &t);
    if (rc != 0)
        return rc;
    rc = weft_await(t);
    weft_task_free(t);
    weft_sleep(0.05); /* the watchdog thread writes the report meanwhile */
    struct weft_loop_stats st;
    weft_loop_stats(NULL, &st);
    fprintf(stderr, "--- blocked-loop reports so far: %llu\n",
            (unsigned long long)st.blocked_reports);
    return rc;
}

/* 3. Debug mode: what the program leaked, reported at loop close. */
int forgotten(void *arg)
{
    (void)arg;
    return weft_sleep(WEFT_FOREVER);
}

int fails(void *arg)
{
    (void)arg;
    return -ECONNREFUSED;
}

int show_leaks(void *arg)
{
    (void)arg;
    int rc = weft_spawn(forgotten, NULL, NULL); /* detached, never awaited */
    if (rc == 0)
        rc = weft_spawn(fails, NULL, NULL); /* detached: its error is never read */
    return rc != 0 ? rc : weft_sleep(0.01);
}

/* 4. Stack overflow. */
static volatile int sink;

int recurse(int depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    if (sink >= 0)
        sink = recurse(depth + 1) + frame[0];
    return sink;
}

int deep(void *arg)
{
    (void)arg;
    return recurse(0);
}

int show_overflow(void *arg)
{
    (void)arg;
    weft_task_opts opts = {.name = "parser", .stack_size = 64 * 1024};
    weft_task *t;
    int rc = weft_spawn_opts(deep, NULL, &opts, &t);
    if (rc != 0)
        return rc;
    rc = weft_await(t);
    weft_task_free(t);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "overflow") == 0)
        return weft_run(show_overflow, NULL);
    if (weft_run(show_dump, NULL) != 0)
        return 1;
    if (weft_run(show_blocked, NULL) != 0)
        return 1;
    fprintf(stderr, "--- debug mode (WEFT_DEBUG=1 does the same for every loop):\n");
    weft_runner *runner;
    if (weft_runner_new(&runner) != 0)
        return 1;
    weft_loop_set_debug(weft_runner_loop(runner), 1);
    int rc = weft_runner_run(runner, show_leaks, NULL);
    weft_runner_free(runner); /* the report comes here */
    return rc == 0 ? 0 : 1;
}
