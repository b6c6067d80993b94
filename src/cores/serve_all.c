/* serve_all: one call serves a handler on every loop of a group. TCP
 * servers bind the same port on each loop with SO_REUSEPORT and the kernel
 * spreads the connections. Where that is refused (and for Unix sockets,
 * which recent kernels refuse it for) the first loop's server is the only
 * acceptor and hands each accepted socket to the loops in turn; the
 * others run socketless servers ("adopters") that serve what they get. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cores/cores.h"

/* An adopter's end of the count the acceptor reads (ended() gets it). */
typedef struct handed_count {
    weft_spread_server *ss;
    int loop;
} handed_count;

struct weft_spread_server {
    weft_loop_group *g;
    weft_server **servers; /* loop i's, each used on its own thread only */
    bool reuse_port;
    int port;
    unsigned next; /* the acceptor's thread only: the loop that gets the next socket */
    /* Round-robin mode: connections handed to loop i and not yet ended
     * there (atomic: the acceptor adds, loop i takes away), so that the
     * acceptor keeps each loop within max_connections. */
    unsigned *handed;
    handed_count *counts;
    /* the setup's inputs */
    weft__uv_kind kind;
    const char *host, *path;
    weft_stream_handler handler;
    void *arg;
    weft_net_opts opts;
    double grace;
};

/* ------------------------------------------------------------ handoff */

typedef struct handoff_msg {
    weft__msg msg;
    weft_server *to;
    int fd;
} handoff_msg;

static unsigned handed_to(const weft_spread_server *ss, int loop)
{
    return __atomic_load_n(&ss->handed[loop], __ATOMIC_RELAXED);
}

/* Loop i's server may take one more: it is below max_connections (the
 * acceptor counts its own; the others, what it handed them). */
static bool loop_has_room(const weft_spread_server *ss, int loop)
{
    int max = ss->opts.max_connections;
    if (max == 0)
        return true;
    size_t live = loop == 0 ? weft_server_live(ss->servers[0]) : handed_to(ss, loop);
    return live < (size_t)max;
}

/* The acceptor at its own limit: is another loop below its own? */
static bool other_loop_has_room(void *ctx)
{
    weft_spread_server *ss = ctx;
    for (int i = 1; i < ss->g->n; i++)
        if (loop_has_room(ss, i))
            return true;
    return false;
}

/* On loop i: a connection it was handed is done with. */
static void handed_ended(void *ctx)
{
    handed_count *c = ctx;
    __atomic_sub_fetch(&c->ss->handed[c->loop], 1, __ATOMIC_RELAXED);
}

static void handoff_run(weft__msg *m)
{
    handoff_msg *h = WEFT_CONTAINER_OF(m, handoff_msg, msg);
    weft__server_adopt(h->to, h->fd);
    free(h);
}

static void handoff_fail(weft__msg *m, int code)
{
    (void)code;
    handoff_msg *h = WEFT_CONTAINER_OF(m, handoff_msg, msg);
    close(h->fd); /* the loop is gone (and its count with it): the peer reads EOF */
    free(h);
}

/* On the acceptor's loop. Its own turn, or no memory for the message, or
 * a loop that refuses: the acceptor serves the socket itself. */
static bool hand_off(void *ctx, int fd)
{
    weft_spread_server *ss = ctx;
    int n = ss->g->n, to = -1;
    /* The next loop in turn that has room; the acceptor accepted because
     * one had (counts only fall meanwhile), else it keeps the socket. */
    for (int k = 0; k < n && to < 0; k++) {
        int i = (int)(ss->next++ % (unsigned)n);
        if (loop_has_room(ss, i))
            to = i;
    }
    if (to <= 0)
        return false;
    handoff_msg *h = weft__malloc(sizeof *h);
    if (h == NULL)
        return false;
    *h = (handoff_msg){
        .msg = {.run = handoff_run, .fail = handoff_fail}, .to = ss->servers[to], .fd = fd};
    __atomic_add_fetch(&ss->handed[to], 1, __ATOMIC_RELAXED);
    if (weft__inbox_post(ss->g->loops[to]->inbox.box, &h->msg) != 0) {
        __atomic_sub_fetch(&ss->handed[to], 1, __ATOMIC_RELAXED);
        free(h);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ on each loop */

static int serve_here(weft_spread_server *ss, int port, weft_server **out)
{
    weft_net_opts o = ss->opts;
    o.reuse_port = ss->reuse_port;
    if (ss->kind == WEFT__UV_PIPE)
        return weft_unix_serve(ss->path, ss->handler, ss->arg, &o, out);
    return weft_tcp_serve(ss->host, port, ss->handler, ss->arg, &o, out);
}

/* Loop 0 first: it picks the port (port 0) and finds out whether the
 * system takes SO_REUSEPORT. */
static int start_first(int index, void *arg)
{
    (void)index;
    weft_spread_server *ss = arg;
    int rc = serve_here(ss, ss->port, &ss->servers[0]);
    if (ss->reuse_port && (rc == -ENOPROTOOPT || rc == -EOPNOTSUPP || rc == -EINVAL)) {
        ss->reuse_port = false; /* no SO_REUSEPORT here: one acceptor */
        rc = serve_here(ss, ss->port, &ss->servers[0]);
    }
    if (rc == 0 && ss->kind == WEFT__UV_TCP)
        ss->port = weft_server_port(ss->servers[0]);
    return rc;
}

static int start_rest(int index, void *arg)
{
    weft_spread_server *ss = arg;
    if (index == 0)
        return 0;
    if (ss->reuse_port)
        return serve_here(ss, ss->port, &ss->servers[index]);
    int rc = weft__server_adopter_new(ss->kind, "handed-off connections", ss->handler, ss->arg,
                                      &ss->opts, &ss->servers[index]);
    if (rc == 0) {
        ss->counts[index] = (handed_count){.ss = ss, .loop = index};
        weft__server_on_conn_end(ss->servers[index], handed_ended, &ss->counts[index]);
    }
    return rc;
}

static int set_handoff(int index, void *arg)
{
    (void)index;
    weft_spread_server *ss = arg;
    weft__server_set_handoff(ss->servers[0], hand_off, other_loop_has_room, ss);
    return 0;
}

static int stop_handoff(int index, void *arg)
{
    (void)index;
    weft_spread_server *ss = arg;
    weft__server_set_handoff(ss->servers[0], NULL, NULL, NULL);
    return 0;
}

static int close_here(int index, void *arg)
{
    weft_spread_server *ss = arg;
    weft_server *srv = ss->servers[index];
    ss->servers[index] = NULL;
    return srv ? weft_server_close(srv, ss->grace) : 0;
}

/* ------------------------------------------------------------ public */

static int first_error(const int *rcs, int n)
{
    for (int i = 0; i < n; i++)
        if (rcs[i] != 0)
            return rcs[i];
    return 0;
}

/* Every loop's server closes at once, each with the grace period. Handoffs
 * stop first: those already sent are ahead of the close in each loop's
 * FIFO, so no socket reaches a freed server. */
static int spread_close(weft_spread_server *ss, int *rcs)
{
    int n = ss->g->n, rc = 0, code;
    if (!ss->reuse_port && ss->servers[0] != NULL &&
        (code = weft__group_on_loops(ss->g, 0, false, stop_handoff, ss, 0, rcs)) != 0)
        rc = code;
    code = weft__group_on_loops(ss->g, -1, true, close_here, ss, 0, rcs);
    if (rc == 0)
        rc = code != 0 ? code : first_error(rcs, n);
    free(ss->servers);
    free(ss->handed);
    free(ss->counts);
    free(ss);
    return rc;
}

static int spread_start(weft_spread_server *ss, weft_spread_server **out)
{
    int n = ss->g->n;
    int *rcs = weft__calloc((size_t)n, sizeof *rcs);
    if (rcs == NULL || (ss->servers = weft__calloc((size_t)n, sizeof *ss->servers)) == NULL ||
        (ss->handed = weft__calloc((size_t)n, sizeof *ss->handed)) == NULL ||
        (ss->counts = weft__calloc((size_t)n, sizeof *ss->counts)) == NULL) {
        free(rcs);
        free(ss->servers);
        free(ss->handed);
        free(ss);
        return -ENOMEM;
    }
    int rc = weft__group_on_loops(ss->g, 0, true, start_first, ss, 0, rcs);
    int cancelled = rc == WEFT_ECANCELED ? rc : 0;
    if (rc == 0 || cancelled)
        rc = rcs[0];
    if (rc == 0) {
        rc = weft__group_on_loops(ss->g, -1, true, start_rest, ss, 0, rcs);
        cancelled = rc == WEFT_ECANCELED ? rc : cancelled;
        if (rc == 0 || rc == WEFT_ECANCELED)
            rc = first_error(rcs, n);
    }
    if (rc == 0 && !ss->reuse_port) {
        rc = weft__group_on_loops(ss->g, 0, false, set_handoff, ss, 0, rcs);
        cancelled = rc == WEFT_ECANCELED ? rc : cancelled;
    }
    if (rc != 0 || cancelled) {
        spread_close(ss, rcs); /* nothing left listening */
        free(rcs);
        return rc != 0 && rc != WEFT_ECANCELED ? rc : WEFT_ECANCELED;
    }
    free(rcs);
    *out = ss;
    return 0;
}

/* The checks both kinds share, and the server, not started yet. */
static int spread_new(weft_loop_group *g, weft_stream_handler handler, void *arg,
                      const weft_net_opts *opts, weft_spread_server **out, weft_spread_server **ssp)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (g == NULL || handler == NULL || weft__net_opts_check(opts) != 0)
        return -EINVAL;
    weft_loop *here = weft__loop_current();
    if (here != NULL && here->current == NULL)
        return WEFT_ENOTASK; /* a callback cannot wait */
    weft_spread_server *ss = weft__calloc(1, sizeof *ss);
    if (ss == NULL)
        return -ENOMEM;
    ss->g = g;
    ss->handler = handler;
    ss->arg = arg;
    if (opts)
        ss->opts = *opts;
    *ssp = ss;
    return 0;
}

int weft_loop_group_serve_tcp(weft_loop_group *g, const char *host, int port,
                              weft_stream_handler handler, void *arg, const weft_net_opts *opts,
                              weft_spread_server **out)
{
    weft_spread_server *ss;
    int rc = spread_new(g, handler, arg, opts, out, &ss);
    if (rc != 0)
        return rc;
    if (port < 0 || port > 65535) {
        free(ss);
        return -EINVAL;
    }
    ss->kind = WEFT__UV_TCP;
    ss->host = host;
    ss->port = port;
    ss->reuse_port = true;
    return spread_start(ss, out);
}

int weft_loop_group_serve_unix(weft_loop_group *g, const char *path, weft_stream_handler handler,
                               void *arg, const weft_net_opts *opts, weft_spread_server **out)
{
    weft_spread_server *ss;
    int rc = spread_new(g, handler, arg, opts, out, &ss);
    if (rc != 0)
        return rc;
    if (path == NULL || (opts && opts->reuse_port)) {
        free(ss);
        return -EINVAL;
    }
    ss->kind = WEFT__UV_PIPE;
    ss->path = path;
    ss->port = -EINVAL;
    ss->reuse_port = false;
    return spread_start(ss, out);
}

int weft_spread_server_port(const weft_spread_server *ss)
{
    return ss ? ss->port : -EINVAL;
}

int weft_spread_server_reuses_port(const weft_spread_server *ss)
{
    return ss ? ss->reuse_port : -EINVAL;
}

static int stats_here(int index, void *arg)
{
    weft_spread_server *ss = ((void **)arg)[0];
    struct weft_server_stats *all = ((void **)arg)[1];
    return weft_server_stats(ss->servers[index], &all[index]);
}

int weft_spread_server_stats(weft_spread_server *ss, int index, struct weft_server_stats *out)
{
    if (ss == NULL || out == NULL || index < -1 || index >= ss->g->n)
        return -EINVAL;
    int n = ss->g->n;
    struct weft_server_stats *all = weft__calloc((size_t)n, sizeof *all);
    int *rcs = weft__calloc((size_t)n, sizeof *rcs);
    void *args[2] = {ss, all};
    int rc = all && rcs ? weft__group_on_loops(ss->g, -1, false, stats_here, args, sizeof args, rcs)
                        : -ENOMEM;
    if (rc == 0)
        rc = first_error(rcs, n);
    if (rc == 0 && index >= 0) {
        *out = all[index];
    } else if (rc == 0) {
        memset(out, 0, sizeof *out);
        for (int i = 0; i < n; i++) {
            out->live += all[i].live;
            if (all[i].peak_live > out->peak_live)
                out->peak_live = all[i].peak_live;
            out->accepted += all[i].accepted;
            out->dropped_no_fd += all[i].dropped_no_fd;
            out->dropped_no_memory += all[i].dropped_no_memory;
            out->dropped_no_stack += all[i].dropped_no_stack;
            out->drop_episodes += all[i].drop_episodes;
        }
    }
    free(all);
    free(rcs);
    return rc;
}

int weft_spread_server_close(weft_spread_server *ss, double grace)
{
    if (ss == NULL || isnan(grace))
        return -EINVAL;
    weft_loop *here = weft__loop_current();
    if (here != NULL && here->current == NULL)
        return WEFT_ENOTASK;
    int *rcs = weft__calloc((size_t)ss->g->n, sizeof *rcs);
    if (rcs == NULL)
        return -ENOMEM;
    ss->grace = grace;
    int rc = spread_close(ss, rcs);
    free(rcs);
    return rc;
}
