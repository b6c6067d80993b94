/* runner: asyncio.run and asyncio.Runner. A runner owns one loop and runs
 * top-level tasks on it one after another; tasks left running between two
 * runs go on in the next. Closing cancels what is left and lets it end. */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

struct weft_runner {
    weft_loop loop;
    bool closed;
};

int weft_runner_new(weft_runner **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_runner *runner = weft__malloc(sizeof *runner);
    if (runner == NULL)
        return -ENOMEM;
    int rc = weft__loop_init(&runner->loop);
    if (rc != 0) {
        free(runner);
        return rc;
    }
    runner->closed = false;
    *out = runner;
    return 0;
}

weft_loop *weft_runner_loop(weft_runner *runner)
{
    return runner ? weft__loop_expose(&runner->loop) : NULL;
}

weft_loop *weft__runner_loop(weft_runner *runner)
{
    return &runner->loop;
}

static bool task_ended(void *arg)
{
    return ((weft_task *)arg)->state == WEFT_TASK_DONE;
}

static bool no_tasks_left(void *arg)
{
    return ((weft_loop *)arg)->task_count == 0;
}

int weft_runner_run(weft_runner *runner, weft_fn main, void *arg)
{
    if (runner == NULL || main == NULL)
        return -EINVAL;
    if (runner->closed)
        return WEFT_ECLOSED;
    weft_loop *loop = &runner->loop;
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    if (loop->running || weft__loop_current() != NULL)
        return -EBUSY;
    weft_task *task;
    /* Private whatever the loop's default: main's locals are the program's
     * to share with its children, as a thread's are. */
    const weft_task_opts main_opts = {.stack_mode = WEFT_STACK_PRIVATE};
    int rc = weft__task_spawn_on(loop, main, arg, &main_opts, &task);
    if (rc != 0)
        return rc;
    loop->deadlocked = false;
    loop->runner.main_task = task;
    rc = weft__loop_run_until(loop, task_ended, task);
    loop->runner.main_task = NULL;
    if (rc == 0) {
        task->observed = true; /* its code is returned to the caller */
        rc = task->result;
        if (loop->deadlocked && rc == WEFT_ECANCELED)
            rc = -EDEADLK;
    }
    loop->deadlocked = false;
    weft_task_free(task); /* still parked after a deadlock: detached */
    return rc;
}

/* Tasks that could not be made to end (a deadlock, or a loop used from the
 * wrong thread): their stacks are released without unwinding them. */
static void abandon_tasks(weft_loop *loop)
{
    weft__link *l;
    while ((l = weft__list_pop_front(&loop->tasks)) != NULL) {
        weft_task *task = WEFT_CONTAINER_OF(l, weft_task, all);
        weft__list_init(&task->done_cbs); /* their waiters are abandoned too */
        task->state = WEFT_TASK_DONE;
        task->result = WEFT_ECANCELED;
        task->scopes = NULL;
        weft__task_release_stack(task);
        if (task->refs == 0)
            weft__task_free_ended(task);
    }
    loop->task_count = 0;
}

static void drain_ready(weft_loop *loop)
{
    weft__runnable *r;
    while ((r = loop->ready_head) != NULL) {
        loop->ready_head = r->next;
        r->fn(r, true);
    }
    loop->ready_tail = NULL;
    loop->ready_count = 0;
}

void weft_runner_free(weft_runner *runner)
{
    if (runner == NULL)
        return;
    weft_loop *loop = &runner->loop;
    runner->closed = true;
    weft__inbox_shutdown(loop); /* other threads' submissions now fail */
    weft__debug_loop_closing(loop);
    if (loop->task_count > 0 && pthread_equal(loop->thread, pthread_self()) &&
        weft__loop_current() == NULL) {
        weft__loop_cancel_all(loop);
        weft__loop_run_until(loop, no_tasks_left, loop);
    }
    loop->closing = true;
    /* In this order: handles out of the timers and the queue while every
     * armed timer still points to live memory, then the tasks; the timers
     * left (on abandoned tasks' stacks) are forgotten untouched. */
    weft__handles_close(loop);
    drain_ready(loop);
    abandon_tasks(loop);
    weft__timers_init(loop, loop->now_ns);
    weft__loop_close(loop);
    free(runner);
}

/* A test's assertion failed inside a task and long-jumped out of the
 * task's stack (cmocka), and so out of weft_runner_run: the loop still
 * counts as running on this thread, its current task stopped half-way.
 * Nothing of it can be resumed. Frees the runner the way a deadlock's
 * leftovers are freed: every task abandoned as it is, its stack released,
 * and freed, handles and all, since the code that held them is gone; then
 * the thread may run a loop again. For tests/support (the next test must
 * not fail with -EBUSY, nor the file leak what the failed one made). */
void weft__runner_abandon(weft_runner *runner)
{
    weft_loop *loop = &runner->loop;
    if (weft__tl_loop != loop) { /* it was not left running */
        weft_runner_free(runner);
        return;
    }
    for (weft__link *l = loop->tasks.next; l != &loop->tasks; l = l->next) {
        weft_task *task = WEFT_CONTAINER_OF(l, weft_task, all);
        task->handle_held = false; /* nobody will give it back */
        task->refs = 0;
    }
    loop->runner.main_task = NULL;
    loop->current = NULL;
    weft_runner_free(runner); /* a loop current on this thread: nothing is resumed */
    weft__tl_loop = NULL;
}

int weft_run(weft_fn main, void *arg)
{
    if (main == NULL)
        return -EINVAL;
    weft_runner *runner;
    int rc = weft_runner_new(&runner);
    if (rc != 0)
        return rc;
    void *sigint = weft__sigint_install(&runner->loop); /* NULL: not watched */
    rc = weft_runner_run(runner, main, arg);
    rc = weft__sigint_remove(sigint, rc);
    weft_runner_free(runner);
    return rc;
}
