/* server: asyncio's start_server. A listening libuv handle; each
 * connection becomes a stream and a handler task. At the connection limit
 * the accepted socket is left with libuv, which stops polling the listener
 * until a handler ends. Closing stops accepting, waits for the handlers for
 * a grace period, then cancels the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "stream.h"

typedef union uvsock {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} uvsock;

typedef struct conn {
    weft__link link;
    weft__done_cb done;
    weft_server *srv;
    weft_stream *s;
    weft_task *task; /* detached: valid while the conn is linked */
} conn;

struct weft_server {
    weft_loop *loop;
    weft__uv_kind kind;
    uvsock h;
    uvsock reject;    /* takes a connection we cannot serve, to close it */
    bool reject_busy; /* reject is closing */
    bool pending;     /* libuv holds an accepted socket for us */
    bool closing;
    bool handle_closed;
    bool free_on_close; /* the close call returned before the handles closed */
    weft_stream_handler handler;
    void *arg;
    weft_net_opts opts;
    char *path;
    int port;
    weft__link conns;
    size_t live;
    uint64_t accepted;
    weft_task *closer; /* parked in weft_server_close until live == 0 */
};

static void server_accept(weft_server *srv);

/* ------------------------------------------------------------ handlers */

static int conn_main(void *arg)
{
    conn *c = arg;
    int rc = c->srv->handler(c->s, c->srv->arg);
    /* Flush what the handler wrote; a cancellation (server closing) drops it. */
    WEFT_IGNORE(weft_stream_close(c->s));
    return rc;
}

static void server_maybe_free(weft_server *srv)
{
    if (srv->free_on_close && srv->handle_closed && !srv->reject_busy) {
        free(srv->path);
        free(srv);
    }
}

/* Runs when the handler task ends, even if it never started (cancelled
 * first): the bookkeeping must not depend on conn_main running. */
static void conn_done(weft__done_cb *cb, weft_task *task)
{
    (void)task;
    conn *c = WEFT_CONTAINER_OF(cb, conn, done);
    weft_server *srv = c->srv;
    weft__list_remove(&c->link);
    weft__uvstream_release(c->s);
    free(c);
    srv->live--;
    if (srv->closer && srv->live == 0) {
        weft_task *t = srv->closer;
        srv->closer = NULL;
        weft__wake(t, 0);
    }
    server_accept(srv);
}

/* ------------------------------------------------------------ accepting */

static void reject_closed(uv_handle_t *h)
{
    weft_server *srv = h->data;
    srv->reject_busy = false;
    if (srv->closing)
        server_maybe_free(srv);
    else
        server_accept(srv);
}

/* No memory for this connection: take it and close it, so that libuv goes
 * on accepting the next ones. */
static void server_reject(weft_server *srv)
{
    if (srv->reject_busy)
        return; /* retried when the previous one has closed */
    int r = srv->kind == WEFT__UV_TCP ? uv_tcp_init(&srv->loop->uv, &srv->reject.tcp)
                                      : uv_pipe_init(&srv->loop->uv, &srv->reject.pipe, 0);
    if (r != 0)
        return;
    srv->reject.handle.data = srv;
    uv_accept(&srv->h.stream, &srv->reject.stream);
    srv->pending = false;
    srv->reject_busy = true;
    uv_close(&srv->reject.handle, reject_closed);
}

static int conn_start(weft_server *srv)
{
    conn *c = weft__malloc(sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    int rc = weft__uvstream_new(srv->loop, srv->kind, &srv->opts, &c->s);
    if (rc != 0) {
        free(c);
        return rc;
    }
    if ((rc = uv_accept(&srv->h.stream, weft__uvstream_handle(c->s))) != 0 ||
        (rc = weft__uvstream_start(c->s, &srv->opts)) != 0) {
        srv->pending = false; /* the socket is ours now (or gone): close it */
        weft__uvstream_discard(c->s);
        free(c);
        return 0;
    }
    srv->pending = false;
    weft_task_opts topts = {.name = "tcp handler", .stack_size = srv->opts.stack_size};
    if (srv->kind == WEFT__UV_PIPE)
        topts.name = "unix handler";
    rc = weft__task_spawn_on(srv->loop, conn_main, c, &topts, &c->task);
    if (rc != 0) {
        weft__uvstream_discard(c->s);
        free(c);
        return 0; /* the connection is closed, the server goes on */
    }
    c->srv = srv;
    c->s->server_owned = true;
    c->done.fn = conn_done;
    weft__task_on_done(c->task, &c->done);
    weft_task_free(c->task); /* detached; conn_done runs before it is freed */
    weft__list_push_back(&srv->conns, &c->link);
    srv->live++;
    srv->accepted++;
    return 0;
}

static void server_accept(weft_server *srv)
{
    if (!srv->pending || srv->closing)
        return;
    int max = srv->opts.max_connections;
    if (max > 0 && srv->live >= (size_t)max)
        return; /* libuv keeps the socket and stops polling until we take it */
    if (conn_start(srv) != 0)
        server_reject(srv);
}

static void connection_cb(uv_stream_t *h, int status)
{
    weft_server *srv = h->data;
    /* Errors (EMFILE: libuv has already accepted and closed the waiting
     * connections to make room) leave the listener polling: go on. */
    if (status < 0)
        return;
    srv->pending = true;
    server_accept(srv);
}

/* ------------------------------------------------------------ start */

static void listener_closed(uv_handle_t *h)
{
    weft_server *srv = h->data;
    srv->handle_closed = true;
    server_maybe_free(srv);
}

static int server_bind(weft_server *srv, const struct sockaddr *addr, const char *path,
                       bool *inited)
{
    int r = srv->kind == WEFT__UV_TCP ? uv_tcp_init(&srv->loop->uv, &srv->h.tcp)
                                      : uv_pipe_init(&srv->loop->uv, &srv->h.pipe, 0);
    if (r != 0)
        return r;
    *inited = true;
    srv->h.handle.data = srv;
    r = srv->kind == WEFT__UV_TCP ? uv_tcp_bind(&srv->h.tcp, addr, 0)
                                  : uv_pipe_bind(&srv->h.pipe, path);
    if (r == 0)
        r = uv_listen(&srv->h.stream, srv->opts.backlog > 0 ? srv->opts.backlog : 511,
                      connection_cb);
    if (r == 0 && srv->kind == WEFT__UV_TCP) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        r = uv_tcp_getsockname(&srv->h.tcp, (struct sockaddr *)&ss, &len);
        srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return r;
}

int weft__server_start(weft__uv_kind kind, const struct sockaddr *addr, const char *path,
                       weft_stream_handler handler, void *arg, const weft_net_opts *opts,
                       weft_server **out)
{
    weft_server *srv = weft__calloc(1, sizeof *srv);
    if (srv == NULL)
        return -ENOMEM;
    if (path && (srv->path = weft__strdup(path)) == NULL) {
        free(srv);
        return -ENOMEM;
    }
    srv->loop = weft__loop_current();
    srv->kind = kind;
    srv->handler = handler;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    srv->port = -EINVAL;
    weft__list_init(&srv->conns);
    bool inited = false;
    int r = server_bind(srv, addr, path, &inited);
    if (r != 0) {
        srv->closing = true;
        srv->free_on_close = true;
        srv->handle_closed = !inited;
        if (inited) /* the handle is on the loop now: freed in its close callback */
            uv_close(&srv->h.handle, listener_closed);
        else
            server_maybe_free(srv);
        return weft__uv_err(r);
    }
    *out = srv;
    return 0;
}

/* ------------------------------------------------------------ accessors */

int weft_server_port(const weft_server *srv)
{
    return srv ? srv->port : -EINVAL;
}

size_t weft_server_live(const weft_server *srv)
{
    return srv ? srv->live : 0;
}

uint64_t weft_server_accepted(const weft_server *srv)
{
    return srv ? srv->accepted : 0;
}

/* ------------------------------------------------------------ close */

typedef struct close_wait {
    weft__wait w;
    weft_server *srv;
} close_wait;

static bool close_wait_cancel(weft__wait *w)
{
    close_wait *cw = WEFT_CONTAINER_OF(w, close_wait, w);
    cw->srv->closer = NULL;
    return true;
}

static void cancel_handlers(weft_server *srv)
{
    for (weft__link *l = srv->conns.next; l != &srv->conns; l = l->next)
        weft__task_cancel(WEFT_CONTAINER_OF(l, conn, link)->task);
}

/* Parks until every handler has ended, or the deadline passes. */
static int wait_handlers(weft_server *srv, uint64_t deadline)
{
    if (srv->live == 0)
        return 0;
    close_wait cw = {.w = {.cancel = close_wait_cancel, .what = "server close", .obj = srv},
                     .srv = srv};
    srv->closer = weft__task_current();
    return weft__park_until(&cw.w, deadline);
}

int weft_server_close(weft_server *srv, double grace)
{
    if (srv == NULL || isnan(grace))
        return -EINVAL;
    int rc = weft__check_task();
    if (rc == 0)
        rc = weft__check_loop(srv->loop);
    if (rc != 0 || srv->closing)
        return rc != 0 ? rc : -EINVAL;
    srv->closing = true;
    uv_close(&srv->h.handle, listener_closed);
    if (srv->kind == WEFT__UV_PIPE && srv->path)
        unlink(srv->path);
    uint64_t deadline;
    weft__deadline_after(grace < 0 ? 0 : grace, &deadline);
    rc = wait_handlers(srv, deadline);
    int result = rc == WEFT_ECANCELED ? rc : 0;
    /* Past the grace period (or cancelled): cancel the handlers and wait
     * for them to end; the server must outlive every one of them. */
    while (srv->live > 0) {
        cancel_handlers(srv);
        if (wait_handlers(srv, UINT64_MAX) == WEFT_ECANCELED)
            result = WEFT_ECANCELED;
    }
    srv->free_on_close = true;
    server_maybe_free(srv);
    return result;
}
