/* uvstream: the stream transport over a libuv socket (TCP or Unix). Reading
 * stays started, so libuv reads straight into the stream's own buffer from
 * its callback: no per-read allocation, no extra copy, no epoll_ctl per
 * read; the reader task is woken only once its condition holds. Writes go
 * to the socket at once (uv_try_write) and only what it does not take is
 * copied and queued. */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "stream.h"

typedef struct uvstream {
    weft_stream s;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    weft_task *connector; /* parked in connect */
    int connect_status;
    weft__uv_kind kind;
    bool handle_closed;
} uvstream;

typedef struct wchunk {
    uv_write_t req;
    size_t n;
    char data[];
} wchunk;

static const weft__stream_ops uv_ops;

static inline uvstream *to_uv(weft_stream *s)
{
    return WEFT_CONTAINER_OF(s, uvstream, s);
}

/* ------------------------------------------------------------ reading */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    weft_stream *s = &((uvstream *)h->data)->s;
    size_t want = 1;
    if (s->reader) { /* grow for what the reader needs, not more */
        weft__read_cond *c = s->cond;
        size_t target = c->sep ? c->limit : c->need;
        size_t have = s->rlen - s->rpos;
        if (target > have)
            want = target - have;
    }
    size_t room = weft__stream_reserve(s, want);
    buf->base = s->rbuf + s->rlen;
    buf->len = room; /* 0: libuv reports UV_ENOBUFS, we pause */
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    weft_stream *s = &((uvstream *)h->data)->s;
    if (WEFT_LIKELY(nread > 0)) {
        s->rlen += (size_t)nread;
        if (s->reader)
            weft__stream_wake_reader(s, false);
        return;
    }
    if (nread == 0) /* EAGAIN */
        return;
    uv_read_stop(h);
    if (nread == UV_ENOBUFS) {
        s->rpaused = true; /* the buffer is full: resume once the reader consumes */
        return;
    }
    if (nread == UV_EOF)
        s->reof = true;
    else
        s->rerr = weft__uv_err((int)nread);
    weft__stream_wake_reader(s, true);
}

static void uv_resume(weft_stream *s)
{
    uvstream *u = to_uv(s);
    if (!s->rpaused || s->reof || s->rerr || s->closed)
        return;
    if (uv_read_start(&u->h.stream, alloc_cb, read_cb) == 0)
        s->rpaused = false;
}

static int uv_fill(weft_stream *s, weft__read_cond *cond)
{
    if (s->rpaused)
        uv_resume(s);
    return weft__stream_park_reader(s, cond);
}

/* ------------------------------------------------------------ writing */

static void write_cb(uv_write_t *req, int status)
{
    wchunk *c = WEFT_CONTAINER_OF(req, wchunk, req);
    weft_stream *s = &((uvstream *)req->handle->data)->s;
    s->wqueued -= c->n;
    free(c);
    if (status < 0 && status != UV_ECANCELED && s->werr == 0)
        s->werr = weft__uv_err(status);
    if (!weft__list_empty(&s->drainers))
        weft__stream_wake_drainers(s, s->werr);
}

static int uv_write_op(weft_stream *s, const void *buf, size_t n)
{
    uvstream *u = to_uv(s);
    size_t done = 0;
    if (s->wqueued == 0) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
        int r = uv_try_write(&u->h.stream, &b, 1);
        if (r >= 0) {
            done = (size_t)r;
            if (done == n)
                return 0;
        } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
            return s->werr = weft__uv_err(r);
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
    uv_buf_t b = uv_buf_init(c->data, (unsigned)c->n);
    int r = uv_write(&c->req, &u->h.stream, &b, 1, write_cb);
    if (r != 0) {
        free(c);
        return s->werr = weft__uv_err(r);
    }
    s->wqueued += c->n;
    return 0;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* a failed shutdown shows up as an error of the next read */
}

static int uv_write_eof(weft_stream *s)
{
    uvstream *u = to_uv(s);
    int r = uv_shutdown(&u->shutdown_req, &u->h.stream, shutdown_cb);
    return r == 0 ? 0 : weft__uv_err(r);
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
    u->handle_closed = true;
    if (!u->s.server_owned)
        uv_free(u);
}

static void uv_close_op(weft_stream *s, bool abort)
{
    uvstream *u = to_uv(s);
    if (uv_is_closing(&u->h.handle))
        return;
    if (abort && u->kind == WEFT__UV_TCP && uv_tcp_close_reset(&u->h.tcp, close_cb) == 0)
        return;
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
    u->connector = NULL;
    u->handle_closed = false;
    rc = kind == WEFT__UV_TCP ? uv_tcp_init(&loop->uv, &u->h.tcp)
                              : uv_pipe_init(&loop->uv, &u->h.pipe, 0);
    if (rc != 0) {
        uv_free(u);
        return weft__uv_err(rc);
    }
    u->h.handle.data = u;
    weft__net_ignore_sigpipe();
    *out = &u->s;
    return 0;
}

uv_stream_t *weft__uvstream_handle(weft_stream *s)
{
    return &to_uv(s)->h.stream;
}

int weft__uvstream_start(weft_stream *s, const weft_net_opts *opts)
{
    uvstream *u = to_uv(s);
    if (u->kind == WEFT__UV_TCP) {
        /* Best effort, as asyncio: a socket that refuses an option still works. */
        uv_tcp_nodelay(&u->h.tcp, !(opts && opts->no_delay_off));
        if (opts && opts->keepalive > 0)
            uv_tcp_keepalive(&u->h.tcp, 1, (unsigned)opts->keepalive);
    }
    return weft__uv_err(uv_read_start(&u->h.stream, alloc_cb, read_cb));
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
        uv_close_op(s, true);
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
    u->connector = weft__task_current();
    connect_wait cw = {.w = {.cancel = connect_cancel, .what = "connect", .obj = s}, .u = u};
    return weft__park(&cw.w);
}
