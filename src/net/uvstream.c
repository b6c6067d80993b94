/* uvstream: the stream transport over a socket that libuv connected or
 * accepted (TCP or Unix). The data path is recv/send on the socket itself,
 * driven by a uv_poll_t that stays armed for reading: recv goes straight
 * into the stream's own buffer (no per-read allocation, no extra copy, no
 * epoll_ctl per read), the reader task is woken only once its condition
 * holds, and a write is one send(MSG_NOSIGNAL) (no SIGPIPE); only what the
 * socket does not take is copied and queued. This is the system calls of a
 * plain epoll server: libuv's uv_read_start path costs a read(2)/write(2)
 * through the VFS layer, measurably dearer than recv/send. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "core/park_record.h"

typedef struct uvstream {
    weft_stream s;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;            /* owns the socket: connect, accept, close */
    uv_poll_t poll; /* drives the data path once connected */
    int fd;
    int poll_events; /* UV_READABLE / UV_WRITABLE armed now */
    bool poll_inited;
    int closes_pending; /* handles whose close callback has not run */
    weft__link wq;      /* wchunk: bytes the socket did not take yet */
    size_t wq_off;      /* sent from the first chunk */
    bool shut_pending;  /* write_eof once the queue is empty */
    uv_connect_t connect_req;
    weft_task *connector; /* parked in connect */
    weft__uv_kind kind;
    bool handle_closed;
} uvstream;

typedef struct wchunk {
    weft__link link;
    size_t n;
    char data[];
} wchunk;

static const weft__stream_ops uv_ops;

static inline uvstream *to_uv(weft_stream *s)
{
    return WEFT_CONTAINER_OF(s, uvstream, s);
}

static void poll_cb(uv_poll_t *p, int status, int events);

/* Arms the poll for what the stream needs now: reading unless paused or
 * ended, writing while bytes are queued. */
static void poll_update(uvstream *u)
{
    weft_stream *s = &u->s;
    if (!u->poll_inited || s->closed)
        return;
    int ev = 0;
    if (!s->rpaused && !s->reof && !s->rerr)
        ev |= UV_READABLE;
    if (!weft__list_empty(&u->wq))
        ev |= UV_WRITABLE;
    if (ev == u->poll_events)
        return;
    if (ev == 0 ? uv_poll_stop(&u->poll) == 0 : uv_poll_start(&u->poll, ev, poll_cb) == 0)
        u->poll_events = ev;
}

/* ------------------------------------------------------------ reading */

/* A recv that got no data: nothing yet (EAGAIN), the end, or an error the
 * reader must see. */
static void read_ended(weft_stream *s, ssize_t n)
{
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0)
        s->reof = true;
    else
        s->rerr = -errno;
    weft__stream_wake_reader(s, true);
}

static void do_read(uvstream *u)
{
    weft_stream *s = &u->s;
    size_t cap;
    char *direct = s->reader ? weft__stream_direct(s, &cap) : NULL;
    if (direct) { /* the reader's own buffer: no copy, no touching ours */
        ssize_t n = recv(u->fd, direct, cap, 0);
        if (WEFT_LIKELY(n > 0)) {
            weft__stream_direct_done(s, (size_t)n);
            return;
        }
        read_ended(s, n);
        return;
    }
    /* Buffer up to the read limit, or what the parked reader needs if
     * more; at that point stop reading (the kernel's window then pushes
     * back on the peer) until a reader consumes or asks for more. */
    size_t have = s->rlen - s->rpos, ceiling = weft__stream_read_ceiling(s);
    if (have >= ceiling) {
        s->rpaused = true;
        return;
    }
    size_t want = 1;
    if (s->reader) { /* grow for what the reader needs, not more */
        weft__read_cond *c = s->cond;
        size_t target = c->sep ? c->limit : c->need;
        if (target > have)
            want = target - have;
    }
    size_t room = weft__stream_reserve(s, want);
    if (room == 0) {
        s->rpaused = true; /* no memory to grow: resume once the reader consumes */
        return;
    }
    if (room > ceiling - have)
        room = ceiling - have;
    ssize_t n = recv(u->fd, s->rbuf + s->rlen, room, 0);
    if (WEFT_LIKELY(n > 0)) {
        s->rlen += (size_t)n;
        if (s->reader)
            weft__stream_wake_reader(s, false);
        return;
    }
    read_ended(s, n);
}

static void uv_resume(weft_stream *s)
{
    if (!s->rpaused)
        return;
    s->rpaused = false;
    poll_update(to_uv(s));
}

static int uv_fill(weft_stream *s, weft__read_cond *cond)
{
    if (s->rpaused)
        uv_resume(s);
    return weft__stream_park_reader(s, cond);
}

/* ------------------------------------------------------------ writing */

static void wq_clear(uvstream *u)
{
    weft__link *l;
    while ((l = weft__list_pop_front(&u->wq)) != NULL)
        free(WEFT_CONTAINER_OF(l, wchunk, link));
    u->wq_off = 0;
    u->s.wqueued = 0;
}

/* The socket is writable: send what is queued, in order. */
static void flush_queue(uvstream *u)
{
    weft_stream *s = &u->s;
    while (!weft__list_empty(&u->wq)) {
        wchunk *c = WEFT_CONTAINER_OF(u->wq.next, wchunk, link);
        ssize_t r = send(u->fd, c->data + u->wq_off, c->n - u->wq_off, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            s->werr = -errno;
            wq_clear(u);
            break;
        }
        u->wq_off += (size_t)r;
        s->wqueued -= (size_t)r;
        if (u->wq_off < c->n)
            break;
        weft__list_remove(&c->link);
        free(c);
        u->wq_off = 0;
    }
    if (weft__list_empty(&u->wq) && u->shut_pending) {
        u->shut_pending = false;
        shutdown(u->fd, SHUT_WR);
    }
    if (!weft__list_empty(&s->drainers))
        weft__stream_wake_drainers(s, s->werr);
}

static int uv_write_op(weft_stream *s, const void *buf, size_t n)
{
    uvstream *u = to_uv(s);
    size_t done = 0;
    if (weft__list_empty(&u->wq)) {
        ssize_t r = send(u->fd, buf, n, MSG_NOSIGNAL);
        if (WEFT_LIKELY(r >= 0)) {
            done = (size_t)r;
            if (WEFT_LIKELY(done == n))
                return 0;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return s->werr = -errno;
        }
    }
    wchunk *c = weft__malloc(sizeof *c + (n - done));
    if (c == NULL) {
        if (done > 0) /* part went out: the byte stream is broken now */
            s->werr = -ENOMEM;
        return -ENOMEM;
    }
    c->n = n - done;
    memcpy(c->data, (const char *)buf + done, c->n);
    weft__list_push_back(&u->wq, &c->link);
    s->wqueued += c->n;
    poll_update(u);
    return 0;
}

static int uv_write_eof(weft_stream *s)
{
    uvstream *u = to_uv(s);
    if (!weft__list_empty(&u->wq)) {
        u->shut_pending = true; /* after the queued bytes */
        return 0;
    }
    return shutdown(u->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    uvstream *u = p->data;
    if (status < 0) {
        /* POLLERR: libuv stopped the poll; recv/send tell the error. */
        u->poll_events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if ((events & UV_WRITABLE) && !weft__list_empty(&u->wq))
        flush_queue(u);
    if ((events & UV_READABLE) && !u->s.rpaused && !u->s.reof && !u->s.rerr)
        do_read(u); /* may run the reader, which may close the stream */
    poll_update(u);
}

/* ------------------------------------------------------------ closing */

static void uv_free(uvstream *u)
{
    weft__stream_free_buffers(&u->s);
    free(u);
}

static void close_cb(uv_handle_t *h)
{
    uvstream *u = h->data;
    if (--u->closes_pending > 0)
        return;
    u->handle_closed = true;
    if (!u->s.server_owned)
        uv_free(u);
}

static void uv_close_op(weft_stream *s, bool abort)
{
    uvstream *u = to_uv(s);
    if (uv_is_closing(&u->h.handle))
        return;
    wq_clear(u);
    if (abort && u->kind == WEFT__UV_TCP && u->fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends a reset */
        setsockopt(u->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (u->poll_inited) { /* first: the socket is still open */
        u->closes_pending++;
        uv_close((uv_handle_t *)&u->poll, close_cb);
    }
    u->closes_pending++;
    uv_close(&u->h.handle, close_cb);
}

/* ------------------------------------------------------------ addresses */

static int pipe_name(const uvstream *u, struct sockaddr_storage *addr, bool peer)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)addr;
    memset(addr, 0, sizeof *addr);
    sun->sun_family = AF_UNIX;
    size_t len = sizeof sun->sun_path;
    int r = peer ? uv_pipe_getpeername(&u->h.pipe, sun->sun_path, &len)
                 : uv_pipe_getsockname(&u->h.pipe, sun->sun_path, &len);
    return r == 0 || r == UV_ENOBUFS ? 0 : weft__uv_err(r);
}

static int uv_peername(const weft_stream *s, struct sockaddr_storage *addr)
{
    const uvstream *u = WEFT_CONTAINER_OF(s, uvstream, s);
    if (u->kind == WEFT__UV_PIPE)
        return pipe_name(u, addr, true);
    int len = sizeof *addr;
    int r = uv_tcp_getpeername(&u->h.tcp, (struct sockaddr *)addr, &len);
    return r == 0 ? 0 : weft__uv_err(r);
}

static int uv_sockname(const weft_stream *s, struct sockaddr_storage *addr)
{
    const uvstream *u = WEFT_CONTAINER_OF(s, uvstream, s);
    if (u->kind == WEFT__UV_PIPE)
        return pipe_name(u, addr, false);
    int len = sizeof *addr;
    int r = uv_tcp_getsockname(&u->h.tcp, (struct sockaddr *)addr, &len);
    return r == 0 ? 0 : weft__uv_err(r);
}

static int uv_nodelay(weft_stream *s, int on)
{
    uvstream *u = to_uv(s);
    if (u->kind != WEFT__UV_TCP)
        return -ENOTSUP;
    return weft__uv_err(uv_tcp_nodelay(&u->h.tcp, on != 0));
}

static int uv_keepalive(weft_stream *s, int delay)
{
    uvstream *u = to_uv(s);
    if (u->kind != WEFT__UV_TCP)
        return -ENOTSUP;
    return weft__uv_err(uv_tcp_keepalive(&u->h.tcp, delay > 0, (unsigned)delay));
}

static const weft__stream_ops uv_ops = {
    .fill = uv_fill,
    .resume = uv_resume,
    .write = uv_write_op,
    .write_eof = uv_write_eof,
    .close = uv_close_op,
    .peername = uv_peername,
    .sockname = uv_sockname,
    .nodelay = uv_nodelay,
    .keepalive = uv_keepalive,
};

/* ------------------------------------------------------------ life cycle */

int weft__uvstream_new(weft_loop *loop, weft__uv_kind kind, const weft_net_opts *opts,
                       weft_stream **out)
{
    uvstream *u = weft__malloc(sizeof *u);
    if (u == NULL)
        return -ENOMEM;
    int rc = weft__stream_init(&u->s, &uv_ops, opts);
    if (rc != 0) {
        free(u);
        return rc;
    }
    u->s.loop = loop;
    u->kind = kind;
    u->fd = -1;
    u->poll_events = 0;
    u->poll_inited = false;
    u->closes_pending = 0;
    weft__list_init(&u->wq);
    u->wq_off = 0;
    u->shut_pending = false;
    u->connector = NULL;
    u->handle_closed = false;
    rc = kind == WEFT__UV_TCP ? uv_tcp_init(&loop->uv, &u->h.tcp)
                              : uv_pipe_init(&loop->uv, &u->h.pipe, 0);
    if (rc != 0) {
        uv_free(u);
        return weft__uv_err(rc);
    }
    u->h.handle.data = u;
    *out = &u->s;
    return 0;
}

int weft__uvstream_adopt(weft_stream *s, int fd, const weft_net_opts *opts)
{
    uvstream *u = to_uv(s);
    int r = u->kind == WEFT__UV_TCP ? uv_tcp_open(&u->h.tcp, fd) : uv_pipe_open(&u->h.pipe, fd);
    if (r != 0) {
        close(fd); /* the handle did not take it */
        return weft__uv_err(r);
    }
    return weft__uvstream_start(s, opts);
}

int weft__uvstream_start(weft_stream *s, const weft_net_opts *opts)
{
    uvstream *u = to_uv(s);
    uv_os_fd_t fd;
    int r = uv_fileno(&u->h.handle, &fd);
    if (r != 0)
        return weft__uv_err(r);
    u->fd = fd;
    if (u->kind == WEFT__UV_TCP) {
        /* Best effort, as asyncio: a socket that refuses an option still works. */
        uv_tcp_nodelay(&u->h.tcp, !(opts && opts->nagle));
        if (opts && opts->keepalive > 0)
            uv_tcp_keepalive(&u->h.tcp, 1, (unsigned)opts->keepalive);
    }
    if ((r = uv_poll_init_socket(u->h.handle.loop, &u->poll, fd)) != 0)
        return weft__uv_err(r);
    u->poll.data = u;
    u->poll_inited = true;
    poll_update(u);
    return u->poll_events ? 0 : -ENOMEM;
}

void weft__uvstream_discard(weft_stream *s)
{
    s->closed = true;
    uv_close_op(s, false);
}

/* Hands a server-owned stream over: freed now if its handle is closed,
 * else closed (without waiting) and freed by the close callback. */
void weft__uvstream_release(weft_stream *s)
{
    uvstream *u = to_uv(s);
    s->server_owned = false;
    if (u->handle_closed) {
        uv_free(u);
        return;
    }
    if (!s->closed) {
        s->closed = true;
        weft__stream_wake_reader(s, true);
        weft__stream_wake_drainers(s, WEFT_ECLOSED);
        uv_close_op(s, false);
    }
}

/* ------------------------------------------------------------ connecting */

typedef struct connect_wait {
    weft__wait w;
    uvstream *u;
} connect_wait;

static bool connect_cancel(weft__wait *w)
{
    connect_wait *cw = WEFT_CONTAINER_OF(w, connect_wait, w);
    cw->u->connector = NULL; /* the caller closes the handle: libuv then cancels the request */
    return true;
}

static void connect_cb(uv_connect_t *req, int status)
{
    uvstream *u = req->data;
    weft_task *t = u->connector;
    if (t) {
        u->connector = NULL;
        weft__wake(t, status == 0 ? 0 : weft__uv_err(status));
    }
}

int weft__uvstream_connect(weft_stream *s, const struct sockaddr *addr, const char *path)
{
    uvstream *u = to_uv(s);
    u->connect_req.data = u;
    if (u->kind == WEFT__UV_TCP) {
        int r = uv_tcp_connect(&u->connect_req, &u->h.tcp, addr, connect_cb);
        if (r != 0)
            return weft__uv_err(r);
    } else {
        uv_pipe_connect(&u->connect_req, &u->h.pipe, path, connect_cb);
    }
    WEFT__PARK_RECORD(connect_wait, cw);
    if (cw == NULL)
        return -ENOMEM; /* the caller closes the handle: libuv cancels the request */
    *cw = (connect_wait){
        .w = {.cancel = connect_cancel, .what = "connect", .obj = s, .kind = WEFT__WAIT_IO},
        .u = u};
    u->connector = weft__task_current();
    return weft__park(&cw->w);
}

int weft__uvstream_dial(weft__uv_kind kind, const struct sockaddr *addr, const char *path,
                        const weft_net_opts *opts, weft_stream **out)
{
    weft_stream *s;
    int rc = weft__uvstream_new(weft__loop_current(), kind, opts, &s);
    if (rc != 0)
        return rc;
    rc = weft__uvstream_connect(s, addr, path);
    if (rc == 0)
        rc = weft__uvstream_start(s, opts);
    if (rc != 0) {
        weft__uvstream_discard(s);
        return rc;
    }
    *out = s;
    return 0;
}
