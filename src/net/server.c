/* server: asyncio's start_server. The listening socket is ours and polled
 * through libuv; each connection becomes a stream and a handler task. We
 * accept ourselves rather than through uv_listen so that a connection the
 * server cannot serve (no descriptor, no memory, no stack for its handler)
 * is counted and reported, never dropped in silence: libuv's own accept
 * sheds such connections without telling. At the connection limit the
 * server stops accepting and the kernel's backlog holds the rest. Closing
 * stops accepting, waits for the handlers for a grace period, then cancels
 * the rest. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "core/park_record.h"

/* Connections taken per readiness callback: then the loop runs others
 * (the poll is level-triggered and calls again). */
#define ACCEPT_BATCH 64
/* After a failure that shedding cannot cure (out of descriptors without a
 * reserve, the kernel out of buffers), accepting resumes after this. */
#define ACCEPT_RETRY_NS (100u * 1000u * 1000u)

/* Why a connection was dropped: a bit each, for "once per episode". */
enum { DROP_NO_FD = 1, DROP_NO_MEMORY = 2, DROP_NO_STACK = 4 };

typedef struct conn {
    weft__link link;
    weft__done_cb done;
    weft_server *srv;
    weft_stream *s;
    weft_task *task; /* detached: valid while the conn is linked */
    bool started;    /* the handler ran (it got its stack) */
} conn;

struct weft_server {
    weft_loop *loop;
    weft__uv_kind kind;
    int fd;         /* the listening socket */
    int reserve_fd; /* given up to take connections we must shed (-1: none) */
    uv_poll_t poll; /* readable: connections wait in the backlog */
    bool poll_inited;
    bool polling;
    bool closing;
    bool free_on_close; /* the close call returned before the poll closed */
    weft__timer retry;  /* accept again after a transient failure */
    weft_stream_handler handler;
    void *arg;
    weft_net_opts opts;
    char *path;
    char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 8]; /* for the log */
    int port;
    weft__link conns;
    struct weft_server_stats stats;
    unsigned episode;         /* DROP_* causes logged since a handler last ran */
    uint64_t episode_dropped; /* connections dropped in this episode */
    weft_task *closer;        /* parked in weft_server_close until live == 0 */
    /* One acceptor for a group of loops (serve_all.c): handoff gives an
     * accepted socket to another loop's server (true) or leaves it to this
     * one (false). A server made by weft__server_adopter_new has no socket
     * of its own (fd -1) and serves only what is handed to it. */
    bool (*handoff)(void *ctx, int fd);
    bool (*handoff_room)(void *ctx); /* another loop can take one more */
    void *handoff_ctx;
    /* Told when a connection it served ends (an adopter's count of what it
     * was handed, read by the acceptor's thread). */
    void (*conn_ended)(void *ctx);
    void *conn_ended_ctx;
};

static void server_accept(weft_server *srv);
static void server_ready(uv_poll_t *p, int status, int events);

/* ------------------------------------------------------------ drops */

static const char *drop_reason(unsigned cause)
{
    switch (cause) {
    case DROP_NO_FD:
        return "out of file descriptors (EMFILE/ENFILE): raise RLIMIT_NOFILE or lower "
               "max_connections";
    case DROP_NO_MEMORY:
        return "out of memory for the stream or its task";
    default:
        return "no stack for the handler task (WEFT_ESTACK): lower stack_size or "
               "max_connections, or raise vm.max_map_count";
    }
}

/* Counts n connections dropped for cause, and logs the first of each cause
 * in an episode: a server under a flood must not flood the log too. */
static void note_drop(weft_server *srv, unsigned cause, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t *counter = cause == DROP_NO_FD       ? &srv->stats.dropped_no_fd
                        : cause == DROP_NO_MEMORY ? &srv->stats.dropped_no_memory
                                                  : &srv->stats.dropped_no_stack;
    *counter += n;
    if (srv->episode == 0)
        srv->stats.drop_episodes++;
    srv->episode_dropped += n;
    if (srv->episode & cause)
        return;
    srv->episode |= cause;
    weft_log(WEFT_LOG_WARN, "server",
             "%s: dropping connections: %s (counted in weft_server_stats; logged once until a "
             "handler runs again)",
             srv->name, drop_reason(cause));
}

/* A handler runs: resources are back, the episode (if any) is over. */
static void note_served(weft_server *srv)
{
    if (WEFT_LIKELY(srv->episode == 0))
        return;
    weft_log(WEFT_LOG_INFO, "server", "%s: serving again after dropping %" PRIu64 " connections",
             srv->name, srv->episode_dropped);
    srv->episode = 0;
    srv->episode_dropped = 0;
}

/* ------------------------------------------------------------ handlers */

static int conn_main(void *arg)
{
    conn *c = arg;
    c->started = true;
    note_served(c->srv);
    int rc = c->srv->handler(c->s, c->srv->arg);
    /* Flush what the handler wrote; a cancellation (server closing) drops it. */
    WEFT_IGNORE(weft_stream_close(c->s));
    return rc;
}

static void server_maybe_free(weft_server *srv)
{
    if (srv->free_on_close && !srv->poll_inited) {
        free(srv->path);
        free(srv);
    }
}

/* Runs when the handler task ends, even if it never started (cancelled
 * first, or no stack): the bookkeeping must not depend on conn_main. */
static void conn_done(weft__done_cb *cb, weft_task *task)
{
    conn *c = WEFT_CONTAINER_OF(cb, conn, done);
    weft_server *srv = c->srv;
    if (!c->started && weft_task_result(task) == WEFT_ESTACK)
        note_drop(srv, DROP_NO_STACK, 1);
    weft__list_remove(&c->link);
    weft__uvstream_release(c->s);
    free(c);
    srv->stats.live--;
    if (srv->conn_ended)
        srv->conn_ended(srv->conn_ended_ctx);
    if (srv->closer && srv->stats.live == 0) {
        weft_task *t = srv->closer;
        srv->closer = NULL;
        weft__wake(t, 0);
    }
    server_accept(srv);
}

/* ------------------------------------------------------------ accepting */

/* Turns an accepted socket into a stream and a handler task; on failure
 * the connection is closed and counted. */
static bool conn_start(weft_server *srv, int fd)
{
    srv->stats.accepted++;
    conn *c = weft__malloc(sizeof *c);
    if (c == NULL || weft__uvstream_new(srv->loop, srv->kind, &srv->opts, &c->s) != 0) {
        free(c);
        close(fd);
        note_drop(srv, DROP_NO_MEMORY, 1);
        return false;
    }
    weft_task_opts topts = {.name = srv->kind == WEFT__UV_TCP ? "tcp handler" : "unix handler",
                            .stack_size = srv->opts.stack_size,
                            .stack_mode = srv->opts.stack_mode};
    if (weft__uvstream_adopt(c->s, fd, &srv->opts) != 0 ||
        weft__task_spawn_on(srv->loop, conn_main, c, &topts, &c->task) != 0) {
        weft__uvstream_discard(c->s);
        free(c);
        note_drop(srv, DROP_NO_MEMORY, 1);
        return false;
    }
    c->srv = srv;
    c->started = false;
    c->s->server_owned = true;
    c->done.fn = conn_done;
    weft__task_on_done(c->task, &c->done);
    weft_task_free(c->task); /* detached; conn_done runs before it is freed */
    weft__list_push_back(&srv->conns, &c->link);
    if (++srv->stats.live > srv->stats.peak_live)
        srv->stats.peak_live = srv->stats.live;
    return true;
}

/* The descriptor kept in reserve (-1 if none can be had: the server then
 * waits for descriptors instead of shedding). */
static int open_reserve(void)
{
    if (weft__fault_hit(WEFT__FAULT_SYSCALL)) /* tests: as if none could be had */
        return -1;
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of descriptors: give up the reserve one, take every waiting
 * connection and close it (the peers see a reset or EOF at once rather
 * than hanging in the backlog), then take the reserve back. false if
 * there was no reserve to give up, or nothing could be taken. */
static bool shed(weft_server *srv)
{
    if (srv->reserve_fd < 0)
        return false;
    close(srv->reserve_fd);
    uint64_t n = 0;
    for (;;) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        close(fd);
        n++;
    }
    srv->reserve_fd = open_reserve();
    srv->stats.accepted += n;
    note_drop(srv, DROP_NO_FD, n);
    return n > 0;
}

static void retry_fired(weft__timer *t)
{
    server_accept(WEFT_CONTAINER_OF(t, weft_server, retry));
}

static void retry_later(weft_server *srv)
{
    weft__timer_start(srv->loop, &srv->retry, weft__now_ns() + ACCEPT_RETRY_NS);
}

/* Below max_connections, or (one acceptor for a group) another loop is. */
static bool has_room(const weft_server *srv)
{
    int max = srv->opts.max_connections;
    return max == 0 || srv->stats.live < (size_t)max ||
           (srv->handoff_room != NULL && srv->handoff_room(srv->handoff_ctx));
}

static bool can_accept(const weft_server *srv)
{
    return !srv->closing && !weft__timer_armed(&srv->retry) && has_room(srv);
}

/* Polls the listening socket while the server can take a connection; at
 * the limit the kernel keeps them in the backlog. */
static void listen_update(weft_server *srv)
{
    bool want = can_accept(srv);
    /* An acceptor for a group whose loops are all full: their connections
     * end on other threads, so look again later (its own end look now). */
    if (!want && srv->handoff_room != NULL && !srv->closing && !weft__timer_armed(&srv->retry))
        retry_later(srv);
    if (want == srv->polling || srv->closing) /* closing: uv_close stopped it */
        return;
    if (want ? uv_poll_start(&srv->poll, UV_READABLE, server_ready) == 0
             : uv_poll_stop(&srv->poll) == 0)
        srv->polling = want;
}

static int accept_one(weft_server *srv)
{
    if (weft__fault_hit(WEFT__FAULT_SYSCALL)) { /* tests: as if out of descriptors */
        errno = EMFILE;
        return -1;
    }
    return accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static void server_accept(weft_server *srv)
{
    if (srv->fd < 0)
        return; /* an adopter: nothing to accept */
    for (int i = 0; i < ACCEPT_BATCH && can_accept(srv); i++) {
        int fd = accept_one(srv);
        if (fd >= 0) {
            if (srv->handoff == NULL || !srv->handoff(srv->handoff_ctx, fd))
                conn_start(srv, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno == EMFILE || errno == ENFILE) {
            if (!shed(srv))
                retry_later(srv); /* they wait in the backlog meanwhile */
            break;
        }
        if (errno == ENOBUFS || errno == ENOMEM) {
            retry_later(srv);
            break;
        }
        /* EINTR, ECONNABORTED, and the errors of a connection that failed
         * while it waited (Linux reports them through accept): the next. */
    }
    listen_update(srv);
}

static void server_ready(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    server_accept(p->data);
}

/* ------------------------------------------------------------ start */

static int listen_socket(weft_server *srv, const struct sockaddr *addr, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    if (srv->kind == WEFT__UV_PIPE) {
        memcpy(sun.sun_path, path, strlen(path) + 1); /* checked by the caller */
        addr = (const struct sockaddr *)&sun;
        len = sizeof sun;
    } else {
        len =
            addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    }
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1; /* as libuv does: a restarted server rebinds at once */
    if (srv->kind == WEFT__UV_TCP)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Before bind, as gRPC's libuv server does: several sockets (loops,
     * processes) then listen on one port and the kernel spreads the
     * connections. Refused for Unix sockets by recent kernels. */
    if (srv->opts.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int backlog = srv->opts.backlog > 0 ? srv->opts.backlog : 511;
    if (bind(fd, addr, len) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (listen(fd, backlog) != 0) {
        int rc = -errno;
        close(fd);
        if (path)
            unlink(path); /* we made it: do not leave the file behind */
        return rc;
    }
    srv->fd = fd;
    return 0;
}

/* The port and the name reports use: "127.0.0.1:8080", or the path. */
static void server_name(weft_server *srv, const char *path)
{
    if (srv->kind == WEFT__UV_PIPE) {
        snprintf(srv->name, sizeof srv->name, "%s", path);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(srv->fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    weft_addr_format(&ss, srv->name, sizeof srv->name);
}

/* A server on the current loop, with no socket yet. */
static weft_server *server_new(weft__uv_kind kind, weft_stream_handler handler, void *arg,
                               const weft_net_opts *opts)
{
    weft_server *srv = weft__calloc(1, sizeof *srv);
    if (srv == NULL)
        return NULL;
    srv->loop = weft__loop_current();
    srv->kind = kind;
    srv->handler = handler;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    srv->port = -EINVAL;
    srv->fd = srv->reserve_fd = -1;
    weft__list_init(&srv->conns);
    weft__timer_init(&srv->retry, retry_fired);
    return srv;
}

int weft__server_start(weft__uv_kind kind, const struct sockaddr *addr, const char *path,
                       weft_stream_handler handler, void *arg, const weft_net_opts *opts,
                       weft_server **out)
{
    weft_server *srv = server_new(kind, handler, arg, opts);
    if (srv == NULL)
        return -ENOMEM;
    if (path && (srv->path = weft__strdup(path)) == NULL) {
        free(srv);
        return -ENOMEM;
    }
    int rc = listen_socket(srv, addr, path);
    if (rc == 0 &&
        (rc = weft__uv_err(uv_poll_init_socket(&srv->loop->uv, &srv->poll, srv->fd))) != 0) {
        close(srv->fd);
        if (path)
            unlink(path);
    }
    if (rc != 0) {
        free(srv->path);
        free(srv);
        return rc;
    }
    srv->poll.data = srv;
    srv->poll_inited = true;
    srv->reserve_fd = open_reserve(); /* best effort */
    server_name(srv, path);
    listen_update(srv);
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
    return srv ? srv->stats.live : 0;
}

uint64_t weft_server_accepted(const weft_server *srv)
{
    return srv ? srv->stats.accepted : 0;
}

int weft_server_stats(const weft_server *srv, struct weft_server_stats *out)
{
    if (srv == NULL || out == NULL)
        return -EINVAL;
    *out = srv->stats;
    return 0;
}

/* ------------------------------------------------------------ close */

static void poll_closed(uv_handle_t *h)
{
    weft_server *srv = h->data;
    srv->poll_inited = false;
    server_maybe_free(srv);
}

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
    if (srv->stats.live == 0)
        return 0;
    WEFT__PARK_RECORD(close_wait, cw);
    if (cw == NULL)
        return -ENOMEM;
    *cw = (close_wait){.w = {.cancel = close_wait_cancel, .what = "server close", .obj = srv},
                       .srv = srv};
    srv->closer = weft__task_current();
    return weft__park_until(&cw->w, deadline);
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
    weft__timer_stop(srv->loop, &srv->retry);
    /* uv_close stops the poll at once, so the socket can go now: new
     * connections are refused from here on. */
    if (srv->fd >= 0) {
        uv_close((uv_handle_t *)&srv->poll, poll_closed);
        close(srv->fd);
    }
    if (srv->reserve_fd >= 0)
        close(srv->reserve_fd);
    if (srv->kind == WEFT__UV_PIPE && srv->path)
        unlink(srv->path);
    uint64_t deadline;
    weft__deadline_after(grace < 0 ? 0 : grace, &deadline);
    rc = wait_handlers(srv, deadline);
    int result = rc == WEFT_ECANCELED ? rc : 0;
    /* Past the grace period (or cancelled): cancel the handlers and wait
     * for them to end; the server must outlive every one of them. */
    while (srv->stats.live > 0) {
        cancel_handlers(srv);
        if (wait_handlers(srv, UINT64_MAX) == WEFT_ECANCELED)
            result = WEFT_ECANCELED;
    }
    srv->free_on_close = true;
    server_maybe_free(srv);
    return result;
}

/* ------------------------------------------------------------ handoff */

int weft__server_adopter_new(weft__uv_kind kind, const char *name, weft_stream_handler handler,
                             void *arg, const weft_net_opts *opts, weft_server **out)
{
    weft_server *srv = server_new(kind, handler, arg, opts);
    if (srv == NULL)
        return -ENOMEM;
    snprintf(srv->name, sizeof srv->name, "%s", name);
    *out = srv;
    return 0;
}

void weft__server_adopt(weft_server *srv, int fd)
{
    if (srv->closing) { /* refused, and seen as refused: the peer reads EOF */
        srv->stats.accepted++;
        close(fd);
    } else if (conn_start(srv, fd)) {
        return; /* conn_done tells when it ends */
    }
    if (srv->conn_ended)
        srv->conn_ended(srv->conn_ended_ctx);
}

void weft__server_set_handoff(weft_server *srv, bool (*handoff)(void *ctx, int fd),
                              bool (*room)(void *ctx), void *ctx)
{
    srv->handoff = handoff;
    srv->handoff_room = room;
    srv->handoff_ctx = ctx;
    listen_update(srv); /* the room it has may have changed */
}

void weft__server_on_conn_end(weft_server *srv, void (*ended)(void *ctx), void *ctx)
{
    srv->conn_ended = ended;
    srv->conn_ended_ctx = ctx;
}
