/* weft/thread.h: threads and processes. Thread-safe submission to a loop
 * (asyncio.run_coroutine_threadsafe, call_soon_threadsafe) with
 * concurrent.futures-style futures, thread-safe queues (janus), loops in
 * background threads, to_thread and executors, subprocesses, signals and a
 * process pool. Included by weft.h; see docs/threads.md. */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------ thread-safe submission */

typedef struct weft_cfuture weft_cfuture;
typedef struct weft_loop_thread weft_loop_thread;

/* loop.call_soon_threadsafe: from any thread, cb(arg) runs soon on loop's
 * thread (not in a task; it must not wait). 0, -EINVAL, -ENOMEM, or
 * WEFT_ECLOSED when the loop is closing (cb will never run). */
WEFT_API int weft_call_soon_threadsafe(weft_loop *loop, weft_cb cb, void *arg);

/* asyncio.run_coroutine_threadsafe: from any thread, runs fn(arg) as a task
 * on loop. If out is not NULL it receives a future the caller owns
 * (weft_cfuture_free); the task's code becomes its result. 0, -EINVAL,
 * -ENOMEM, or WEFT_ECLOSED (the loop is closing: nothing was scheduled). A
 * submission accepted just before the loop closes completes with
 * WEFT_ECLOSED without running: none is dropped silently. */
WEFT_API WEFT_MUST_CHECK int weft_submit(weft_loop *loop, weft_fn fn, void *arg,
                                         weft_cfuture **out);

/* concurrent.futures.Future.result(timeout): blocks the calling OS thread
 * until the future is done and returns its result (the task's code,
 * WEFT_ECANCELED if cancelled, WEFT_ECLOSED if the loop closed first), or
 * WEFT_ETIMEDOUT. -EDEADLK when called on the thread of the loop that must
 * complete it (inside a task, use weft_cfuture_await). */
WEFT_API WEFT_MUST_CHECK int weft_cfuture_result(weft_cfuture *cf, double timeout);
/* await asyncio.wrap_future(cf): from a task of any loop, parks that task
 * (not its thread) until the future is done; returns its result.
 * Cancelling the awaiting task cancels the future, as asyncio does. */
WEFT_API WEFT_MUST_CHECK int weft_cfuture_await(weft_cfuture *cf);
/* Future.cancel(): the future completes with WEFT_ECANCELED now and the
 * task is cancelled on its loop (its own code is then dropped). 1 if this
 * call cancelled it, 0 if it was already done. Any thread. */
WEFT_API int weft_cfuture_cancel(weft_cfuture *cf);
/* 1 when done (result, cancel or close), else 0. Any thread. */
WEFT_API int weft_cfuture_done(const weft_cfuture *cf);
/* Future.add_done_callback: cb(cf, arg) runs once the future is done, on
 * the thread that completes it (at once on the caller's thread if it is
 * done already). cb must not block; weft_cfuture_result(cf, 0) reads the
 * result there. 0 or -ENOMEM. */
typedef void (*weft_cfuture_cb)(weft_cfuture *cf, void *arg);
WEFT_API int weft_cfuture_add_done_callback(weft_cfuture *cf, weft_cfuture_cb cb, void *arg);
/* Drops the caller's reference (the task goes on). Once per future. */
WEFT_API void weft_cfuture_free(weft_cfuture *cf);

/* ------------------------------------------------ loops in other threads */

/* The talk's start_background_event_loop: a new thread running a loop
 * until weft_loop_thread_stop. 0, -ENOMEM, -EAGAIN (no thread). */
WEFT_API WEFT_MUST_CHECK int weft_loop_thread_start(weft_loop_thread **out);
WEFT_API weft_loop *weft_loop_thread_loop(weft_loop_thread *lt);
/* Refuses new submissions (WEFT_ECLOSED), cancels every task on that loop,
 * waits for them to end and joins the thread. The handle and its loop stay
 * valid (submissions fail with WEFT_ECLOSED) until weft_loop_thread_free.
 * -EDEADLK from the loop's own thread; 0 if already stopped. */
WEFT_API int weft_loop_thread_stop(weft_loop_thread *lt);
/* Stops (if needed) and frees. */
WEFT_API void weft_loop_thread_free(weft_loop_thread *lt);

/* The talk's @async_task: a plain blocking call that runs fn(arg) as a task
 * on loop, which another thread owns (a loop thread's, a weft_run loop, a
 * Runner's), and returns its code: its result or its error (or
 * WEFT_ECLOSED, -ENOMEM, -EINVAL). -EDEADLK on the loop's own thread,
 * where nothing could run the task while this call blocks. */
WEFT_API WEFT_MUST_CHECK int weft_call_sync(weft_loop *loop, weft_fn fn, void *arg);

/* ------------------------------------------------- thread-safe queues */

/* A FIFO of void * items (never owned or freed by the queue) that any
 * thread may use: janus, or queue.Queue and asyncio.Queue in one. Made
 * and used without a loop; maxsize 0 means unbounded. 0, -EINVAL,
 * -ENOMEM. */
typedef struct weft_tsqueue weft_tsqueue;
WEFT_API WEFT_MUST_CHECK int weft_tsqueue_new(size_t maxsize, weft_tsqueue **out);
/* Waits while the queue is full, at most timeout seconds (WEFT_FOREVER;
 * 0: do not wait): called from a task it parks the task, from a plain
 * thread it blocks the thread. 0, WEFT_ETIMEDOUT, WEFT_ESHUTDOWN (shut down),
 * WEFT_ECANCELED (the task was cancelled: the item was not put), -ENOMEM
 * (growing an unbounded queue), WEFT_ENOTASK (in a loop's callback, where
 * it cannot wait), -EINVAL. */
WEFT_API WEFT_MUST_CHECK int weft_tsqueue_put(weft_tsqueue *q, void *item, double timeout);
/* Waits while the queue is empty, as put does. WEFT_ESHUTDOWN once shut down
 * and drained. An item handed to a task is its own even if a cancel
 * arrives meanwhile: the get returns 0 and the cancel comes at the task's
 * next wait. */
WEFT_API WEFT_MUST_CHECK int weft_tsqueue_get(weft_tsqueue *q, void **item, double timeout);
/* Without waiting: -EAGAIN when full (empty), else as above. Any thread,
 * loop callbacks included. */
WEFT_API int weft_tsqueue_put_nowait(weft_tsqueue *q, void *item);
WEFT_API int weft_tsqueue_get_nowait(weft_tsqueue *q, void **item);
/* Items in the queue now (a snapshot). */
WEFT_API size_t weft_tsqueue_size(const weft_tsqueue *q);
/* Shuts the queue down for good, without freeing it: puts fail with
 * WEFT_ESHUTDOWN, gets drain what is left then fail with WEFT_ESHUTDOWN;
 * every waiter is woken. 0 or -EINVAL. */
WEFT_API int weft_tsqueue_shutdown(weft_tsqueue *q);
/* Frees the queue (not its items). Only once no thread or task uses it. */
WEFT_API void weft_tsqueue_free(weft_tsqueue *q);

/* ------------------------------------------------ to_thread and executors */

typedef struct weft_executor weft_executor;

/* A pool of up to nthreads OS threads (0: one per core), started on
 * demand. 0, -EINVAL, -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_executor_new(size_t nthreads, weft_executor **out);
/* loop.run_in_executor: from a task, runs fn(arg) on one of ex's threads
 * and parks the task until it returns; returns fn's code (its result, a
 * non-negative int, or its negative error), as a task's. fn is a plain
 * function: it may block, it must not use the loop. If the task is
 * cancelled it returns WEFT_ECANCELED at once; fn still runs to its end and
 * its code is dropped (arg must stay valid until then). WEFT_ECLOSED after
 * shutdown. */
WEFT_API WEFT_MUST_CHECK int weft_executor_submit(weft_executor *ex, weft_fn fn, void *arg);
/* Refuses new work; with wait, blocks the calling thread until every
 * queued and running job has ended and the threads have exited. */
WEFT_API int weft_executor_shutdown(weft_executor *ex, int wait);
/* Shuts down, waits, frees. */
WEFT_API void weft_executor_free(weft_executor *ex);
/* asyncio.to_thread, for blocking calls (file I/O, a blocking library, a
 * sleep): weft_executor_submit on the default executor, sized like
 * asyncio's, min(32, cores + 4) threads, started as jobs need them. Made on
 * first use, lives until exit. */
WEFT_API WEFT_MUST_CHECK int weft_to_thread(weft_fn fn, void *arg);
/* The same for CPU-bound work (C has no GIL: it runs in parallel): a
 * second default executor with one thread per core, so that more jobs
 * than cores queue instead of time-slicing. */
WEFT_API WEFT_MUST_CHECK int weft_to_thread_cpu(weft_fn fn, void *arg);

/* ---------------------------------------------------------- subprocesses */

typedef struct weft_process weft_process;

enum weft_stdio {
    WEFT_STDIO_INHERIT = 0, /* the child uses the parent's fd */
    WEFT_STDIO_PIPE = 1,    /* a pipe: weft_process_write / weft_process_read */
    WEFT_STDIO_NULL = 2     /* /dev/null */
};

typedef struct weft_process_opts {
    const char *file;  /* program (PATH is searched); NULL: argv[0] */
    char *const *argv; /* NULL-terminated, argv[0] required */
    char *const *env;  /* NULL-terminated "K=V"; NULL: inherit */
    const char *cwd;   /* NULL: inherit */
    int stdio[3];      /* enum weft_stdio for stdin, stdout, stderr */
} weft_process_opts;

/* asyncio.create_subprocess_exec, from a task. 0, -EINVAL, -ENOMEM, or the
 * spawn's error (-ENOENT, -EACCES, ...). */
WEFT_API WEFT_MUST_CHECK int weft_process_spawn(const weft_process_opts *opts, weft_process **out);
WEFT_API int weft_process_pid(const weft_process *p);
/* Writes all of buf to the child's stdin pipe; parks until written.
 * -EPIPE if the child closed it, -EBADF without a stdin pipe. */
WEFT_API WEFT_MUST_CHECK int weft_process_write(weft_process *p, const void *buf, size_t len);
/* Closes the stdin pipe (the child reads EOF). */
WEFT_API int weft_process_close_stdin(weft_process *p);
/* Reads at most cap bytes from stdout (fd 1) or stderr (fd 2); returns the
 * count, 0 at end of file. */
WEFT_API WEFT_MUST_CHECK int weft_process_read(weft_process *p, int fd, void *buf, size_t cap);
/* Waits until the child exits (or timeout: WEFT_ETIMEDOUT, the child runs
 * on). *returncode: exit status, or -signal as Python's returncode. */
WEFT_API WEFT_MUST_CHECK int weft_process_wait(weft_process *p, double timeout, int *returncode);
/* Sends signum (SIGTERM, SIGKILL, ...). -ESRCH once it has exited. */
WEFT_API int weft_process_kill(weft_process *p, int signum);
/* Closes the pipes; a child still running is killed (SIGKILL) and reaped
 * first, so no zombie is left. From the loop's thread. */
WEFT_API void weft_process_free(weft_process *p);

/* --------------------------------------------------------------- signals */

/* Parks the task until signum is delivered to the process; returns signum.
 * Several tasks may wait for the same signal; each delivery wakes all. */
WEFT_API WEFT_MUST_CHECK int weft_signal_wait(int signum);

/* loop.add_signal_handler: cb(arg, signum) runs on the loop's thread (not
 * in a task: it must not wait, it may spawn tasks) each time signum is
 * delivered, until weft_signal_handler_free. loop NULL means the current
 * loop; from the loop's own thread. -EINVAL, WEFT_ENOTASK (no loop),
 * WEFT_EFOREIGN, -ENOMEM. */
typedef struct weft_signal_handler weft_signal_handler;
typedef void (*weft_signal_cb)(void *arg, int signum);
WEFT_API WEFT_MUST_CHECK int weft_signal_handle(weft_loop *loop, int signum, weft_signal_cb cb,
                                                void *arg, weft_signal_handler **out);
/* Removes the handler (also after its loop was closed). */
WEFT_API void weft_signal_handler_free(weft_signal_handler *h);

/* ---------------------------------------------------------- process pool */

typedef struct weft_procpool weft_procpool;

/* A job function, run in a worker process: reads in[0..in_len), may set
 * *out to a malloc'd buffer of *out_len bytes (freed by the worker after
 * sending); returns a result (a non-negative int) or a negative error
 * code, passed back to the submitter with the output. */
typedef int (*weft_procpool_fn)(const void *in, size_t in_len, void **out, size_t *out_len);

typedef struct weft_procpool_entry {
    const char *name;
    weft_procpool_fn fn;
} weft_procpool_entry;

/* multiprocessing.Pool: forks nworkers (0: one per core) worker processes
 * that know the n registered functions. From a task. */
WEFT_API WEFT_MUST_CHECK int weft_procpool_new(const weft_procpool_entry *fns, size_t n,
                                               size_t nworkers, weft_procpool **out);
/* Runs fns[name](in) in a free worker (parks until one is free and the job
 * is done). On success *out is a malloc'd buffer the caller frees (NULL if
 * empty). Returns the function's code (its result or its error, with its
 * output either way); WEFT_ECRASHED if the worker died
 * (it is replaced); WEFT_ETIMEDOUT after timeout (the worker is killed and
 * replaced); -ENOENT for an unknown name; WEFT_ECANCELED (the worker is
 * killed and replaced). */
WEFT_API WEFT_MUST_CHECK int weft_procpool_submit(weft_procpool *pool, const char *name,
                                                  const void *in, size_t in_len, void **out,
                                                  size_t *out_len, double timeout);
/* Ends the workers (EOF, then SIGKILL for busy ones) and reaps them all:
 * no zombie. No job may be in flight. From the loop's thread. */
WEFT_API void weft_procpool_free(weft_procpool *pool);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_THREAD_H */
