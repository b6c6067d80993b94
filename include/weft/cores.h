/* weft/cores.h: every core in one process. A group of loops, one per core
 * by default, each in its own thread with a main task (asyncio.run on
 * every core, TaskGroup semantics between the mains); work sent between
 * the loops; a server on every loop of a group (SO_REUSEPORT, or one
 * acceptor handing connections round-robin). Included by weft.h (after
 * weft/thread.h, weft/debug.h and weft/net.h); see docs/cores.md. */
#ifndef WEFT_CORES_H
#define WEFT_CORES_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loop_group weft_loop_group;

/* A zeroed struct (or NULL) gives the defaults. */
typedef struct weft_loop_group_opts {
    int loops;              /* loop threads; 0: one per CPU this process may run on */
    int pin_threads;        /* 1: pin loop i to the i-th CPU of the process's set (wrapping) */
    size_t stack_size;      /* the mains' stacks; 0: WEFT_DEFAULT_STACK_SIZE */
    int debug;              /* 1: debug mode on every loop (WEFT_DEBUG=1 does it too) */
    double block_threshold; /* seconds for every loop's blocked-loop reports; 0: the process's */
} weft_loop_group_opts;

/* Loops at most in a group (WEFT_LOOP_GROUP_MAX); more is -EINVAL. */
#define WEFT_LOOP_GROUP_MAX 1024

/* Starts the loop threads (pinned if asked), idle until a run. 0, -EINVAL,
 * -ENOMEM, -EAGAIN (no thread), or pthread_setaffinity_np's error. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_new(const weft_loop_group_opts *opts,
                                                 weft_loop_group **out);
/* Runs main(arg) as a task on every loop and blocks the calling thread
 * until every main has ended. Returns 0 when each returned a result (>= 0),
 * else the first failure's code: the first main to fail (a negative code
 * other than WEFT_ECANCELED) cancels the others, as in a task group. On
 * the main thread, with SIGINT and SIGTERM at their default action, either
 * signal cancels every main and the call returns WEFT_EINTERRUPTED once
 * they have ended. Tasks the mains leave running go on in the next run,
 * as with a Runner. -EINVAL, -EBUSY (a loop runs on this thread, or a run
 * is under way), WEFT_ECLOSED, -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_run(weft_loop_group *g, weft_fn main, void *arg);
/* Cancels every task on every loop, lets them end, joins the threads and
 * frees. From a thread that is not one of the group's. */
WEFT_API void weft_loop_group_free(weft_loop_group *g);
/* new + run + free: asyncio.run on every core. */
WEFT_API WEFT_MUST_CHECK int weft_run_loops(weft_fn main, void *arg,
                                            const weft_loop_group_opts *opts);

/* The group the calling thread's loop belongs to, or NULL. */
WEFT_API weft_loop_group *weft_loop_group_current(void);
/* The index (0 .. size-1) of the calling thread's loop in its group, or
 * WEFT_ENOTASK outside a group's loop. */
WEFT_API int weft_loop_group_index(void);
/* Loops in the group; -EINVAL for NULL. */
WEFT_API int weft_loop_group_size(const weft_loop_group *g);
/* Loop i, for weft_submit, weft_call_soon_threadsafe & co; NULL if out of
 * range. */
WEFT_API weft_loop *weft_loop_group_loop(weft_loop_group *g, int index);

/* Runs fn(arg) as a task on loop index (any thread, any loop): a
 * weft_submit there. Await the future with weft_cfuture_await from a task
 * (cancelling the awaiter cancels the task) or weft_cfuture_result from a
 * plain thread; a task cancelled on its loop completes it with
 * WEFT_ECANCELED. -EINVAL (index out of range), as weft_submit otherwise. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_submit(weft_loop_group *g, int index, weft_fn fn,
                                                    void *arg, weft_cfuture **out);
/* Submits and waits the caller's way (parks a task, blocks a thread) and
 * returns the task's code. Cancelling the waiting task cancels the remote
 * one and returns WEFT_ECANCELED. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_call(weft_loop_group *g, int index, weft_fn fn,
                                                  void *arg);

/* Statistics of loop index, or with index -1 the sum over the loops
 * (longest_block the largest, debug set if any loop's is). Read on each
 * loop's thread: from a task it parks the task, from a plain thread it
 * blocks. -EINVAL, WEFT_ECLOSED. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_stats(weft_loop_group *g, int index,
                                                   struct weft_loop_stats *out);
/* Writes each loop's task tree to out, one loop after the other under a
 * "loop i of n" heading. Returns the number of tasks. From a task (parks)
 * or a thread (blocks). */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_dump(weft_loop_group *g, FILE *out);

/* weft_dump_on_signal for a group: each time signum arrives, every loop's
 * tree is written to out (NULL: stderr) as weft_loop_group_dump does, one
 * loop after the other (a task on loop 0 asks them in turn). 0 turns it
 * off. 0, -EINVAL, -ENOMEM, or libuv's error. Any thread but the
 * group's. */
WEFT_API int weft_loop_group_dump_on_signal(weft_loop_group *g, int signum, FILE *out);

/* ------------------------------------------------ a server on every loop */

typedef struct weft_spread_server weft_spread_server;

/* Serves handler on every loop of g: each loop runs its own server and its
 * own handler tasks. TCP: every loop binds host:port with SO_REUSEPORT
 * (port 0: the first loop's port) and the kernel spreads connections over
 * them; where the system refuses SO_REUSEPORT, and for Unix sockets, the
 * first loop accepts and hands each connection to the loops in turn.
 * opts as weft_tcp_serve's (limits apply per loop). From a task (parks) or
 * a thread (blocks) that is not one of g's loops' threads. On error
 * nothing is left listening. */
WEFT_API WEFT_MUST_CHECK int weft_loop_group_serve_tcp(weft_loop_group *g, const char *host,
                                                       int port, weft_stream_handler handler,
                                                       void *arg, const weft_net_opts *opts,
                                                       weft_spread_server **out);
WEFT_API WEFT_MUST_CHECK int weft_loop_group_serve_unix(weft_loop_group *g, const char *path,
                                                        weft_stream_handler handler, void *arg,
                                                        const weft_net_opts *opts,
                                                        weft_spread_server **out);
/* The port (TCP), -EINVAL for a Unix server. */
WEFT_API int weft_spread_server_port(const weft_spread_server *s);
/* 1 when each loop has its own listening socket (SO_REUSEPORT), 0 when
 * one acceptor hands connections round. */
WEFT_API int weft_spread_server_reuses_port(const weft_spread_server *s);
/* Counters of loop index's server, or with -1 summed (peak_live: the
 * largest). Parks or blocks as weft_loop_group_stats. */
WEFT_API WEFT_MUST_CHECK int weft_spread_server_stats(weft_spread_server *s, int index,
                                                      struct weft_server_stats *out);
/* Graceful close of every loop's server (weft_server_close with grace on
 * each, at once) and free. Parks or blocks until all have closed; always
 * frees. 0, or the first error. */
WEFT_API WEFT_MUST_CHECK int weft_spread_server_close(weft_spread_server *s, double grace);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CORES_H */
