/* loop_thread: a loop running in its own thread (the talk's
 * start_background_event_loop). The
 * loop's main task only waits for the stop message; stopping refuses new
 * submissions, cancels every task, lets them end and joins the thread. */
#include <errno.h>
#include <stdlib.h>

#include "thread/thread.h"

struct weft_loop_thread {
    pthread_t thread;
    weft_runner *runner;
    weft_loop *loop;
    pthread_mutex_t mu; /* start handshake and stop */
    pthread_cond_t cv;
    bool started, joined;
    int start_rc;
    weft__msg stop_msg;
    weft__wait w;
    weft_task *main;     /* loop thread only */
    bool stop_requested; /* loop thread only */
};

static void stop_run(weft__msg *m)
{
    weft_loop_thread *lt = WEFT_CONTAINER_OF(m, weft_loop_thread, stop_msg);
    lt->stop_requested = true;
    if (lt->main)
        weft__wake(lt->main, 0);
}

static void stop_fail(weft__msg *m, int code)
{
    (void)m;
    (void)code;
}

static bool main_cancel(weft__wait *w)
{
    WEFT_CONTAINER_OF(w, weft_loop_thread, w)->main = NULL;
    return true;
}

/* The loop's main task: hold the loop (other threads will post) until the
 * stop message arrives, or until someone cancels it. */
static int lt_main(void *arg)
{
    weft_loop_thread *lt = arg;
    weft_loop *loop = weft__loop_current();
    if (!lt->stop_requested) {
        lt->main = loop->current;
        lt->w = (weft__wait){.cancel = main_cancel, .what = "loop thread stop"};
        weft__loop_hold(loop);
        weft__park(&lt->w);
        weft__loop_unhold(loop);
        lt->main = NULL;
    }
    weft__inbox_shutdown(loop);
    return 0;
}

static bool no_tasks_left(void *arg)
{
    return ((weft_loop *)arg)->task_count == 0;
}

static void *lt_thread(void *arg)
{
    weft_loop_thread *lt = arg;
    weft_runner *runner;
    int rc = weft_runner_new(&runner);
    pthread_mutex_lock(&lt->mu);
    lt->runner = runner;
    lt->loop = runner ? weft__runner_loop(runner) : NULL;
    lt->start_rc = rc;
    lt->started = true;
    pthread_cond_signal(&lt->cv);
    pthread_mutex_unlock(&lt->mu);
    if (runner == NULL)
        return NULL;
    /* lt_main ends when stopped or cancelled: nobody reads its code. */
    WEFT_IGNORE(weft_runner_run(runner, lt_main, lt));
    /* What weft_runner_free does first, here on the loop's own thread. */
    weft__loop_cancel_all(lt->loop);
    weft__loop_run_until(lt->loop, no_tasks_left, lt->loop);
    return NULL;
}

int weft_loop_thread_start(weft_loop_thread **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_loop_thread *lt = weft__calloc(1, sizeof *lt);
    if (lt == NULL)
        return -ENOMEM;
    pthread_mutex_init(&lt->mu, NULL);
    pthread_cond_init(&lt->cv, NULL);
    lt->stop_msg = (weft__msg){.run = stop_run, .fail = stop_fail};
    int rc = pthread_create(&lt->thread, NULL, lt_thread, lt);
    if (rc != 0) {
        free(lt);
        return -rc;
    }
    pthread_mutex_lock(&lt->mu);
    while (!lt->started)
        pthread_cond_wait(&lt->cv, &lt->mu);
    pthread_mutex_unlock(&lt->mu);
    if (lt->start_rc != 0) {
        rc = lt->start_rc;
        pthread_join(lt->thread, NULL);
        free(lt);
        return rc;
    }
    *out = lt;
    return 0;
}

weft_loop *weft_loop_thread_loop(weft_loop_thread *lt)
{
    return lt ? weft__loop_expose(lt->loop) : NULL;
}

int weft_loop_thread_stop(weft_loop_thread *lt)
{
    if (lt == NULL)
        return -EINVAL;
    if (pthread_equal(lt->thread, pthread_self()))
        return -EDEADLK;
    if (weft__loop_forked(lt->loop))
        return WEFT_EFORKED; /* its thread is in the parent */
    pthread_mutex_lock(&lt->mu);
    if (!lt->joined) {
        weft__inbox_shutdown(lt->loop); /* refuse from now, not from when it is read */
        weft__inbox_post(lt->loop->inbox.box, &lt->stop_msg);
        pthread_join(lt->thread, NULL);
        lt->joined = true;
    }
    pthread_mutex_unlock(&lt->mu);
    return 0;
}

void weft_loop_thread_free(weft_loop_thread *lt)
{
    if (lt == NULL || weft_loop_thread_stop(lt) != 0)
        return;
    weft_runner_free(lt->runner); /* the thread has ended: ours to close */
    pthread_cond_destroy(&lt->cv);
    pthread_mutex_destroy(&lt->mu);
    free(lt);
}
