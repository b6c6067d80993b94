/* process: asyncio.create_subprocess_exec on uv_process_t, with the
 * child's stdin/stdout/stderr as uv_pipe_t read and written by parking
 * tasks. Reads go straight into the caller's buffer (no copy, no internal
 * buffer). Freeing a running child kills and reaps it: no zombie. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "thread/thread.h"
#include "core/park_record.h"

typedef struct pipe_end {
    uv_pipe_t pipe;
    bool open; /* the handle is initialised and not closed */
    bool eof;
    weft_task *reader; /* a task parked in weft_process_read */
    weft__wait w;
    char *buf;
    size_t cap;
    ssize_t got;
} pipe_end;

struct weft_process {
    uv_process_t proc;
    weft_loop *loop;
    pipe_end io[3];
    bool spawned, exited;
    int returncode;
    int pid;
    weft__link waiters; /* exit_waiter.link */
    unsigned closing;   /* pending close callbacks, +1 until weft_process_free */
};

typedef struct exit_waiter {
    weft__link link;
    weft__wait w;
    weft_task *task;
} exit_waiter;

/* ------------------------------------------------ lifetime */

static void handle_closed(uv_handle_t *h)
{
    weft_process *p = h->data;
    if (--p->closing == 0)
        free(p);
}

static void close_handle(weft_process *p, uv_handle_t *h)
{
    p->closing++;
    uv_close(h, handle_closed);
}

/* Closes every handle; p is freed by the last close callback. */
static void close_all(weft_process *p)
{
    for (int i = 0; i < 3; i++) {
        if (p->io[i].open) {
            p->io[i].open = false;
            close_handle(p, (uv_handle_t *)&p->io[i].pipe);
        }
    }
    close_handle(p, (uv_handle_t *)&p->proc);
    if (--p->closing == 0)
        free(p);
}

static void exit_cb(uv_process_t *proc, int64_t status, int term_signal)
{
    weft_process *p = proc->data;
    p->exited = true;
    p->returncode = term_signal ? -term_signal : (int)status;
    weft__link *l;
    while ((l = weft__list_pop_front(&p->waiters)) != NULL)
        weft__wake(WEFT_CONTAINER_OF(l, exit_waiter, link)->task, 0);
}

/* The write end of a closed pipe must not kill us: ignore SIGPIPE as
 * Python does (libuv resets it to the default in the child). */
void weft__ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}

int weft_process_spawn(const weft_process_opts *opts, weft_process **out)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (out == NULL || opts == NULL || opts->argv == NULL || opts->argv[0] == NULL)
        return -EINVAL;
    *out = NULL;
    for (int i = 0; i < 3; i++)
        if (opts->stdio[i] < WEFT_STDIO_INHERIT || opts->stdio[i] > WEFT_STDIO_NULL)
            return -EINVAL;
    weft_process *p = weft__calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    weft__ignore_sigpipe();
    p->loop = weft__loop_current();
    p->closing = 1; /* the caller's: dropped by close_all */
    weft__list_init(&p->waiters);
    p->proc.data = p;
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; i++) {
        if (opts->stdio[i] == WEFT_STDIO_PIPE) {
            uv_pipe_init(&p->loop->uv, &p->io[i].pipe, 0);
            p->io[i].pipe.data = p;
            p->io[i].open = true;
            stdio[i].flags = UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
            stdio[i].data.stream = (uv_stream_t *)&p->io[i].pipe;
        } else if (opts->stdio[i] == WEFT_STDIO_NULL) {
            stdio[i].flags = UV_IGNORE; /* libuv opens /dev/null for 0-2 */
        } else {
            stdio[i].flags = UV_INHERIT_FD;
            stdio[i].data.fd = i;
        }
    }
    uv_process_options_t o = {
        .exit_cb = exit_cb,
        .file = opts->file ? opts->file : opts->argv[0],
        .args = (char **)opts->argv,
        .env = (char **)opts->env,
        .cwd = opts->cwd,
        .stdio_count = 3,
        .stdio = stdio,
    };
    rc = uv_spawn(&p->loop->uv, &p->proc, &o);
    if (rc != 0) { /* libuv wants the handles closed even so */
        p->exited = true;
        close_all(p);
        return rc;
    }
    p->spawned = true;
    p->pid = p->proc.pid;
    *out = p;
    return 0;
}

int weft_process_pid(const weft_process *p)
{
    return p ? p->pid : -EINVAL;
}

void weft_process_free(weft_process *p)
{
    if (p == NULL)
        return;
    if (!p->exited) {
        /* SIGKILL cannot be caught: the blocking reap is short. We run on
         * the loop's thread, so libuv's SIGCHLD handler is not racing us. */
        uv_process_kill(&p->proc, SIGKILL);
        int status;
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    close_all(p);
}

/* ------------------------------------------------ wait and kill */

static bool exit_waiter_cancel(weft__wait *w)
{
    weft__list_remove(&WEFT_CONTAINER_OF(w, exit_waiter, w)->link);
    return true;
}

static int check_process(const weft_process *p)
{
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (p == NULL)
        return -EINVAL;
    return weft__check_loop(p->loop);
}

int weft_process_wait(weft_process *p, double timeout, int *returncode)
{
    int rc = check_process(p);
    if (rc != 0)
        return rc;
    uint64_t deadline;
    if (weft__deadline_after(timeout, &deadline) != 0)
        return -EINVAL;
    if (!p->exited) {
        WEFT__PARK_RECORD(exit_waiter, ew);
        if (ew == NULL)
            return -ENOMEM;
        *ew = (exit_waiter){.task = weft__task_current()};
        ew->w = (weft__wait){
            .cancel = exit_waiter_cancel, .what = "process exit", .obj = p, .kind = WEFT__WAIT_IO};
        weft__list_push_back(&p->waiters, &ew->link);
        rc = weft__park_until(&ew->w, deadline);
        if (rc != 0)
            return rc;
    }
    if (returncode)
        *returncode = p->returncode;
    return 0;
}

int weft_process_kill(weft_process *p, int signum)
{
    if (p == NULL || signum < 0 || signum >= NSIG)
        return -EINVAL;
    if (p->exited)
        return -ESRCH;
    return uv_process_kill(&p->proc, signum);
}

/* ------------------------------------------------ pipes */

static int pipe_of(weft_process *p, int fd, pipe_end **out)
{
    int rc = check_process(p);
    if (rc != 0)
        return rc;
    if (fd < 0 || fd > 2)
        return -EINVAL;
    if (!p->io[fd].open)
        return -EBADF;
    *out = &p->io[fd];
    return 0;
}

static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    pipe_end *pe = WEFT_CONTAINER_OF((uv_pipe_t *)h, pipe_end, pipe);
    *buf = uv_buf_init(pe->buf, (unsigned)(pe->cap > UINT32_MAX ? UINT32_MAX : pe->cap));
}

static void read_done(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    pipe_end *pe = WEFT_CONTAINER_OF((uv_pipe_t *)s, pipe_end, pipe);
    if (nread == 0 || pe->reader == NULL)
        return; /* nothing this time (EAGAIN) */
    uv_read_stop(s);
    if (nread == UV_EOF) {
        pe->eof = true;
        nread = 0;
    }
    pe->got = nread;
    weft_task *t = pe->reader;
    pe->reader = NULL;
    weft__wake(t, 0);
}

static bool read_cancel(weft__wait *w)
{
    pipe_end *pe = WEFT_CONTAINER_OF(w, pipe_end, w);
    uv_read_stop((uv_stream_t *)&pe->pipe);
    pe->reader = NULL;
    return true;
}

int weft_process_read(weft_process *p, int fd, void *buf, size_t cap)
{
    pipe_end *pe;
    if (fd == 0)
        return -EINVAL;
    int rc = pipe_of(p, fd, &pe);
    if (rc != 0)
        return rc;
    if (buf == NULL || cap == 0)
        return -EINVAL;
    if (pe->eof)
        return 0;
    if (pe->reader)
        return -EBUSY;
    if (cap > INT32_MAX)
        cap = INT32_MAX; /* the count must fit the int we return */
    /* A compact task's buffer may be one of its locals, which move while
     * it is parked: the bytes land in a bounce buffer (a short read). */
    weft_loop *loop = weft__loop_current();
    bool bounce = loop->current->stack_kind != WEFT__STACK_OWN;
    if (bounce && cap > WEFT__SLAB_MAX)
        cap = WEFT__SLAB_MAX;
    char *bounce_buf = bounce ? weft__slab_alloc(&loop->compact.slab, cap) : NULL;
    if (bounce && bounce_buf == NULL)
        return -ENOMEM;
    pe->buf = bounce ? bounce_buf : buf;
    pe->cap = cap;
    rc = uv_read_start((uv_stream_t *)&pe->pipe, read_alloc, read_done);
    if (rc == 0) {
        pe->reader = weft__task_current();
        pe->w = (weft__wait){
            .cancel = read_cancel, .what = "process read", .obj = p, .kind = WEFT__WAIT_IO};
        rc = weft__park(&pe->w);
        if (rc == 0 && bounce && pe->got > 0)
            memcpy(buf, bounce_buf, (size_t)pe->got);
    }
    weft__slab_free(&loop->compact.slab, bounce_buf, cap);
    return rc != 0 ? rc : (int)pe->got;
}

typedef struct writer {
    uv_write_t req;
    weft__wait w;
    weft_task *task;
    weft_process *p;
    bool cancelled;
} writer;

static void write_done(uv_write_t *req, int status)
{
    writer *wr = WEFT_CONTAINER_OF(req, writer, req);
    weft__wake(wr->task, status);
}

/* libuv cannot take back a write it started, and a child that does not
 * read would keep it pending forever: close stdin (a partly written pipe
 * is of no further use), which makes the callback come with UV_ECANCELED,
 * and wait for it — it points into our stack. */
static bool write_cancel(weft__wait *w)
{
    writer *wr = WEFT_CONTAINER_OF(w, writer, w);
    wr->cancelled = true;
    if (wr->p->io[0].open) { /* (from any context: no caller checks here) */
        wr->p->io[0].open = false;
        close_handle(wr->p, (uv_handle_t *)&wr->p->io[0].pipe);
    }
    return false;
}

int weft_process_write(weft_process *p, const void *buf, size_t len)
{
    pipe_end *pe;
    int rc = pipe_of(p, 0, &pe);
    if (rc != 0)
        return rc;
    if (buf == NULL && len > 0)
        return -EINVAL;
    if (len == 0)
        return 0;
    if (len > UINT32_MAX)
        return -EINVAL;
    WEFT__PARK_RECORD(writer, wr);
    if (wr == NULL)
        return -ENOMEM;
    *wr = (writer){.task = weft__task_current(), .p = p};
    wr->w = (weft__wait){
        .cancel = write_cancel, .what = "process write", .obj = p, .kind = WEFT__WAIT_IO};
    /* libuv reads the bytes while the task is parked: a compact task's
     * may be its locals, which move then. They go from a copy. */
    weft__slab *slab = &weft__loop_current()->compact.slab;
    char *copy = NULL;
    if (WEFT__PARK_RECORD_MOVED(wr)) {
        if ((copy = weft__slab_alloc(slab, len)) == NULL)
            return -ENOMEM;
        memcpy(copy, buf, len);
    }
    uv_buf_t b = uv_buf_init(copy ? copy : (char *)buf, (unsigned)len);
    rc = uv_write(&wr->req, (uv_stream_t *)&pe->pipe, &b, 1, write_done);
    if (rc == 0)
        rc = weft__park(&wr->w);
    weft__slab_free(slab, copy, len);
    return wr->cancelled ? WEFT_ECANCELED : rc;
}

int weft_process_close_stdin(weft_process *p)
{
    pipe_end *pe;
    int rc = pipe_of(p, 0, &pe);
    if (rc != 0)
        return rc;
    pe->open = false;
    close_handle(p, (uv_handle_t *)&pe->pipe);
    return 0;
}
