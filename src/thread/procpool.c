/* procpool: multiprocessing.Pool for isolated work. Workers are forked
 * copies of this process that know a table of named functions; a job is a
 * name and bytes in, a code and bytes out, framed on a socketpair that the
 * parent drives as a uv_pipe_t. A worker that dies fails its job with
 * WEFT_ECRASHED; one past its job's deadline (or whose task is cancelled)
 * is killed; either way it is reaped and replaced. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "thread/thread.h"
#include "core/park_record.h"

typedef struct worker {
    weft__link link; /* in pool->idle while idle */
    uv_pipe_t pipe;
    int pid;
    bool reaped; /* waitpid already collected it: never kill that pid again */
    uv_write_t wreq;
    uint32_t hdr_out[2]; /* name length, input length */
    int32_t reply[2];    /* the reply's header (here, not on a compact caller's stack) */
    /* the read in progress */
    weft_task *reader;
    weft__wait w;
    char *buf;
    size_t need, got;
} worker;

typedef struct pool_waiter {
    weft__link link;
    weft__wait w;
    weft_task *task;
    worker *given;
} pool_waiter;

struct weft_procpool {
    weft_loop *loop;
    weft_procpool_entry *fns;
    size_t nfns;
    size_t alive;     /* workers that exist (idle or busy) */
    weft__link idle;  /* worker.link */
    weft__link queue; /* pool_waiter.link: tasks waiting for a worker */
};

/* ------------------------------------------------ the worker process */

static bool read_full(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r == 0 || (r < 0 && errno != EINTR))
            return false;
        got += r > 0 ? (size_t)r : 0;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0 && errno != EINTR)
            return false;
        done += r > 0 ? (size_t)r : 0;
    }
    return true;
}

static weft_procpool_fn lookup(const weft_procpool *pool, const char *name)
{
    for (size_t i = 0; i < pool->nfns; i++)
        if (strcmp(pool->fns[i].name, name) == 0)
            return pool->fns[i].fn;
    return NULL;
}

/* Runs in the child after fork: plain blocking I/O, no loop. It exits on
 * EOF (the pool closed its end) and never returns. */
static void worker_main(const weft_procpool *pool, int fd)
{
    if (dup2(fd, 3) < 0) /* keep only 0-2 and the socket, as fd 3 */
        _exit(127);
    fd = 3;
    if (close_range(4, ~0U, 0) != 0)
        for (int i = 4; i < 1024; i++)
            close(i);
    /* The parent's handlers (libuv's, a test framework's SIGSEGV catcher)
     * mean nothing here: a crash must kill the worker. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (;;) {
        uint32_t hdr[2];
        if (!read_full(fd, hdr, sizeof hdr))
            _exit(0);
        char *name = malloc((size_t)hdr[0] + 1);
        char *in = malloc(hdr[1] ? hdr[1] : 1);
        if (name == NULL || in == NULL || !read_full(fd, name, hdr[0]) ||
            !read_full(fd, in, hdr[1]))
            _exit(1);
        name[hdr[0]] = 0;
        weft_procpool_fn fn = lookup(pool, name);
        void *out = NULL;
        size_t out_len = 0;
        int32_t rc = fn ? fn(in, hdr[1], &out, &out_len) : -ENOENT;
        if (out == NULL || out_len > UINT32_MAX)
            out_len = 0;
        int32_t reply[2] = {rc, (int32_t)(uint32_t)out_len};
        if (!write_full(fd, reply, sizeof reply) || !write_full(fd, out, out_len))
            _exit(1);
        free(out);
        free(name);
        free(in);
    }
}

/* ------------------------------------------------ workers, parent side */

static void worker_closed(uv_handle_t *h)
{
    free(h->data);
}

static int worker_spawn(weft_procpool *pool)
{
    worker *w = weft__calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(w);
        return -errno;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(sv[0]);
        close(sv[1]);
        free(w);
        return rc;
    }
    if (pid == 0) {
        close(sv[0]);
        worker_main(pool, sv[1]);
    }
    close(sv[1]);
    w->pid = pid;
    w->pipe.data = w;
    uv_pipe_init(&pool->loop->uv, &w->pipe, 0);
    uv_pipe_open(&w->pipe, sv[0]);
    pool->alive++;
    weft__list_push_back(&pool->idle, &w->link);
    return 0;
}

/* Kills (no-op if already dead), reaps: no zombie. */
static void worker_destroy(weft_procpool *pool, worker *w)
{
    if (!w->reaped) {
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    uv_close((uv_handle_t *)&w->pipe, worker_closed);
    pool->alive--;
}

/* A worker is free: hand it to the first waiting task, or park it idle. */
static void worker_release(weft_procpool *pool, worker *w)
{
    weft__link *l = weft__list_pop_front(&pool->queue);
    if (l == NULL) {
        weft__list_push_back(&pool->idle, &w->link);
        return;
    }
    pool_waiter *pw = WEFT_CONTAINER_OF(l, pool_waiter, link);
    pw->given = w;
    weft__wake(pw->task, 0);
}

/* ------------------------------------------------ reading a reply */

static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    worker *w = h->data;
    *buf = uv_buf_init(w->buf + w->got, (unsigned)(w->need - w->got));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    worker *w = s->data;
    if (nread == 0 || w->reader == NULL)
        return;
    if (nread > 0) {
        w->got += (size_t)nread;
        if (w->got < w->need)
            return;
    }
    uv_read_stop(s);
    weft_task *t = w->reader;
    w->reader = NULL;
    weft__wake(t, nread > 0 ? 0 : WEFT_ECRASHED); /* EOF or error: it died */
}

static bool read_cancel(weft__wait *wait)
{
    worker *w = WEFT_CONTAINER_OF(wait, worker, w);
    uv_read_stop((uv_stream_t *)&w->pipe);
    w->reader = NULL;
    return true;
}

static int read_exact(worker *w, void *buf, size_t n, uint64_t deadline)
{
    if (n == 0)
        return 0;
    w->buf = buf;
    w->need = n;
    w->got = 0;
    int rc = uv_read_start((uv_stream_t *)&w->pipe, read_alloc, read_cb);
    if (rc != 0)
        return WEFT_ECRASHED;
    w->reader = weft__task_current();
    w->w = (weft__wait){.cancel = read_cancel, .what = "procpool job", .obj = w};
    return weft__park_until(&w->w, deadline);
}

static void write_cb(uv_write_t *req, int status)
{
    (void)req;
    (void)status; /* a failed write shows as EOF on the read */
}

/* ------------------------------------------------ public */

int weft_procpool_new(const weft_procpool_entry *fns, size_t n, size_t nworkers,
                      weft_procpool **out)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (out == NULL || (fns == NULL && n > 0))
        return -EINVAL;
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (fns[i].name == NULL || fns[i].fn == NULL)
            return -EINVAL;
    if (nworkers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = cores > 0 ? (size_t)cores : 1;
    }
    weft_procpool *pool = weft__calloc(1, sizeof *pool);
    weft_procpool_entry *copy = weft__calloc(n ? n : 1, sizeof *copy);
    if (pool == NULL || copy == NULL) {
        free(pool);
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, fns, n * sizeof *fns); /* names must outlive the pool */
    pool->fns = copy;
    pool->nfns = n;
    pool->loop = weft__loop_current();
    weft__ignore_sigpipe(); /* a worker may die before we write to it */
    weft__list_init(&pool->idle);
    weft__list_init(&pool->queue);
    for (size_t i = 0; i < nworkers && rc == 0; i++)
        rc = worker_spawn(pool);
    if (rc != 0) {
        weft_procpool_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

static bool pool_waiter_cancel(weft__wait *w)
{
    weft__list_remove(&WEFT_CONTAINER_OF(w, pool_waiter, w)->link);
    return true;
}

/* An idle worker can have died meanwhile (killed from outside, the OOM
 * killer): reap it and start another, so that the job does not pay for it. */
static bool idle_worker_alive(weft_procpool *pool, worker *w)
{
    if (waitpid(w->pid, NULL, WNOHANG) != w->pid)
        return true;
    w->reaped = true;
    worker_destroy(pool, w);
    worker_spawn(pool); /* on failure the pool has one worker less */
    return false;
}

static int acquire(weft_procpool *pool, uint64_t deadline, worker **out)
{
    weft__link *l;
    while ((l = weft__list_pop_front(&pool->idle)) != NULL) {
        worker *w = WEFT_CONTAINER_OF(l, worker, link);
        if (idle_worker_alive(pool, w)) {
            *out = w;
            return 0;
        }
    }
    if (pool->alive == 0)
        return -EAGAIN; /* every replacement failed */
    WEFT__PARK_RECORD(pool_waiter, pw);
    if (pw == NULL)
        return -ENOMEM;
    *pw = (pool_waiter){.task = weft__task_current()};
    pw->w = (weft__wait){.cancel = pool_waiter_cancel, .what = "procpool worker", .obj = pool};
    weft__list_push_back(&pool->queue, &pw->link);
    int rc = weft__park_until(&pw->w, deadline);
    if (rc != 0)
        return rc;
    *out = pw->given;
    return 0;
}

int weft_procpool_submit(weft_procpool *pool, const char *name, const void *in, size_t in_len,
                         void **out, size_t *out_len, double timeout)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (pool == NULL || name == NULL || (in == NULL && in_len > 0) || out == NULL ||
        out_len == NULL || in_len > UINT32_MAX || strlen(name) > UINT32_MAX)
        return -EINVAL;
    if ((rc = weft__check_loop(pool->loop)) != 0)
        return rc;
    uint64_t deadline;
    if (weft__deadline_after(timeout, &deadline) != 0)
        return -EINVAL;
    *out = NULL;
    *out_len = 0;
    worker *w = NULL; /* set by acquire when it returns 0 */
    if ((rc = acquire(pool, deadline, &w)) != 0)
        return rc;
    /* The request's buffers stay valid: we wait for the reply, and a
     * worker we give up on has its pipe closed, which ends the write. */
    w->hdr_out[0] = (uint32_t)strlen(name);
    w->hdr_out[1] = (uint32_t)in_len;
    /* A compact task's buffers may be its locals, which move while it is
     * parked and libuv writes them: they go from a copy. */
    char *copy = NULL;
    if (weft__task_current()->stack_kind != WEFT__STACK_OWN) {
        if ((copy = weft__malloc((size_t)w->hdr_out[0] + in_len + 1)) == NULL) {
            worker_release(pool, w);
            return -ENOMEM;
        }
        memcpy(copy, name, w->hdr_out[0]);
        if (in_len)
            memcpy(copy + w->hdr_out[0], in, in_len);
        name = copy;
        in = copy + w->hdr_out[0];
    }
    uv_buf_t bufs[3] = {uv_buf_init((char *)w->hdr_out, sizeof w->hdr_out),
                        uv_buf_init((char *)name, w->hdr_out[0]),
                        uv_buf_init((char *)in, (unsigned)in_len)};
    unsigned nbufs = in_len ? 3 : 2; /* libuv would write an empty one on its own */
    rc = uv_write(&w->wreq, (uv_stream_t *)&w->pipe, bufs, nbufs, write_cb);
    int32_t *reply = w->reply;
    char *body = NULL;
    if (rc == 0)
        rc = read_exact(w, reply, sizeof w->reply, deadline);
    else
        rc = WEFT_ECRASHED;
    if (rc == 0 && reply[1] != 0) {
        body = weft__malloc((uint32_t)reply[1]);
        rc = body ? read_exact(w, body, (uint32_t)reply[1], deadline) : -ENOMEM;
    }
    free(copy);
    if (rc != 0) { /* died, timed out, cancelled: its state is unknown */
        free(body);
        worker_destroy(pool, w);
        int rc2 = worker_spawn(pool);
        if (rc2 == 0)
            worker_release(pool,
                           WEFT_CONTAINER_OF(weft__list_pop_front(&pool->idle), worker, link));
        return rc;
    }
    *out = body;
    *out_len = (uint32_t)reply[1];
    int code = reply[0];
    worker_release(pool, w); /* (it may take the next job at once) */
    return code;
}

void weft_procpool_free(weft_procpool *pool)
{
    if (pool == NULL)
        return;
    weft__link *l;
    while ((l = weft__list_pop_front(&pool->idle)) != NULL)
        worker_destroy(pool, WEFT_CONTAINER_OF(l, worker, link));
    free(pool->fns);
    free(pool);
}
