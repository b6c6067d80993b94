/* udp: datagram sockets. libuv receives only while a task waits in
 * recv_from, straight into that task's buffer; the kernel keeps the
 * datagrams that arrive meanwhile. Sending tries the socket at once and
 * copies the datagram only if it must wait. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "core/park_record.h"

struct weft_udp {
    uv_udp_t h;
    weft_loop *loop;
    weft_task *receiver;
    void *buf;
    size_t cap;
    struct sockaddr_storage *from;
    int result;
    bool closed;
};

typedef struct udp_send {
    uv_udp_send_t req;
    char data[];
} udp_send;

int weft_udp_bind(const char *host, int port, weft_udp **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (port < 0 || port > 65535)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    /* Numeric addresses skip the resolver (and libuv's thread pool). */
    struct sockaddr_storage ss;
    struct addrinfo numeric = {.ai_addr = (struct sockaddr *)&ss};
    struct addrinfo *ai = &numeric;
    if (host == NULL)
        host = "0.0.0.0";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        char service[8];
        snprintf(service, sizeof service, "%d", port);
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE};
        if ((rc = weft_getaddrinfo(host, service, &hints, &ai)) != 0)
            return rc;
    }
    weft_udp *u = weft__calloc(1, sizeof *u);
    if (u == NULL) {
        if (ai != &numeric)
            weft_freeaddrinfo(ai);
        return -ENOMEM;
    }
    u->loop = weft__loop_current();
    int r = uv_udp_init(&u->loop->uv, &u->h);
    if (r == 0) {
        u->h.data = u;
        r = uv_udp_bind(&u->h, ai->ai_addr, 0);
        if (r != 0)
            weft_udp_close(u); /* frees in the close callback */
    } else {
        free(u);
    }
    if (ai != &numeric)
        weft_freeaddrinfo(ai);
    if (r != 0)
        return weft__uv_err(r);
    *out = u;
    return 0;
}

int weft_udp_sockname(const weft_udp *u, struct sockaddr_storage *addr)
{
    if (u == NULL || addr == NULL)
        return -EINVAL;
    int len = sizeof *addr;
    return weft__uv_err(uv_udp_getsockname(&u->h, (struct sockaddr *)addr, &len));
}

static void send_cb(uv_udp_send_t *req, int status)
{
    (void)status; /* datagrams are fire and forget, as sendto(2) */
    free(WEFT_CONTAINER_OF(req, udp_send, req));
}

int weft_udp_send_to(weft_udp *u, const void *buf, size_t n, const struct sockaddr *to)
{
    if (u == NULL || to == NULL || (buf == NULL && n > 0) || n > INT_MAX)
        return -EINVAL;
    int rc = weft__check_loop(u->loop);
    if (rc != 0)
        return rc;
    if (u->closed)
        return WEFT_ECLOSED;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
    int r = uv_udp_try_send(&u->h, &b, 1, to);
    if (r >= 0)
        return 0;
    if (r != UV_EAGAIN)
        return weft__uv_err(r);
    udp_send *s = weft__malloc(sizeof *s + n);
    if (s == NULL)
        return -ENOMEM;
    memcpy(s->data, buf, n);
    b = uv_buf_init(s->data, (unsigned)n);
    r = uv_udp_send(&s->req, &u->h, &b, 1, to, send_cb);
    if (r != 0) {
        free(s);
        return weft__uv_err(r);
    }
    return 0;
}

static void recv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    weft_udp *u = h->data;
    buf->base = u->buf;
    buf->len = u->cap;
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)buf;
    (void)flags; /* UV_UDP_PARTIAL: truncated to the caller's buffer, as recvfrom(2) */
    weft_udp *u = h->data;
    if (nread == 0 && addr == NULL)
        return; /* nothing more to read now */
    if (u->receiver == NULL)
        return;
    if (nread >= 0 && addr && u->from) {
        size_t len =
            addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        memset(u->from, 0, sizeof *u->from);
        memcpy(u->from, addr, len);
    }
    uv_udp_recv_stop(h);
    weft_task *t = u->receiver;
    u->receiver = NULL;
    weft__wake(t, nread >= 0 ? (int)nread : weft__uv_err((int)nread));
}

typedef struct recv_wait {
    weft__wait w;
    weft_udp *u;
    struct sockaddr_storage from; /* a compact task's, off its stack */
} recv_wait;

static bool recv_cancel(weft__wait *w)
{
    weft_udp *u = WEFT_CONTAINER_OF(w, recv_wait, w)->u;
    u->receiver = NULL;
    uv_udp_recv_stop(&u->h);
    return true;
}

int weft_udp_recv_from(weft_udp *u, void *buf, size_t n, struct sockaddr_storage *from)
{
    if (u == NULL || buf == NULL || n == 0 || n > INT_MAX)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc == 0)
        rc = weft__check_loop(u->loop);
    if (rc != 0)
        return rc;
    if (u->closed)
        return WEFT_ECLOSED;
    if (u->receiver)
        return -EBUSY;
    WEFT__PARK_RECORD(recv_wait, rw);
    if (rw == NULL)
        return -ENOMEM;
    rw->w =
        (weft__wait){.cancel = recv_cancel, .what = "udp recv", .obj = u, .kind = WEFT__WAIT_IO};
    rw->u = u;
    /* A compact task's buffers may be its locals, which move while it is
     * parked: the datagram lands in a bounce buffer of the slab. */
    bool bounce = WEFT__PARK_RECORD_MOVED(rw);
    weft__slab *slab = &u->loop->compact.slab;
    char *bounce_buf = bounce ? weft__slab_alloc(slab, n) : NULL;
    if (bounce && bounce_buf == NULL)
        return -ENOMEM;
    u->buf = bounce ? bounce_buf : buf;
    u->cap = n;
    u->from = bounce && from ? &rw->from : from;
    int r = uv_udp_recv_start(&u->h, recv_alloc, recv_cb);
    if (r != 0) {
        weft__slab_free(slab, bounce_buf, n);
        return weft__uv_err(r);
    }
    u->receiver = weft__task_current();
    rc = weft__park(&rw->w);
    if (bounce) { /* u may be gone (closed): only the bounce buffer is read */
        if (rc > 0)
            memcpy(buf, bounce_buf, (size_t)rc);
        if (rc >= 0 && from)
            *from = rw->from;
        weft__slab_free(slab, bounce_buf, n);
    }
    return rc;
}

static void udp_closed(uv_handle_t *h)
{
    free(h->data);
}

void weft_udp_close(weft_udp *u)
{
    if (u == NULL || u->closed)
        return;
    u->closed = true;
    if (u->receiver) {
        weft_task *t = u->receiver;
        u->receiver = NULL;
        weft__wake(t, WEFT_ECLOSED);
    }
    uv_close((uv_handle_t *)&u->h, udp_closed);
}
