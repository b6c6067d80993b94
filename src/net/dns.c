/* dns: names and addresses. getaddrinfo without blocking the loop (libuv
 * runs it on its thread pool; a cancelled lookup returns at once and the
 * request frees itself when the worker is done with it), and an address
 * as text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "net/net.h"

typedef struct dns_op {
    uv_getaddrinfo_t req;
    weft__wait w;
    weft_task *task; /* NULL once the caller gave up */
    int status;
    struct addrinfo *res;
} dns_op;

static void dns_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    dns_op *op = WEFT_CONTAINER_OF(req, dns_op, req);
    if (op->task == NULL) { /* abandoned by a cancelled caller */
        uv_freeaddrinfo(res);
        free(op);
        return;
    }
    op->status = status;
    op->res = res;
    weft_task *t = op->task;
    op->task = NULL;
    weft__wake(t, 0);
}

static bool dns_cancel(weft__wait *w)
{
    dns_op *op = WEFT_CONTAINER_OF(w, dns_op, w);
    op->task = NULL;
    uv_cancel((uv_req_t *)&op->req); /* may fail if running: dns_cb frees op either way */
    return true;
}

int weft_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                     struct addrinfo **out)
{
    if (out == NULL || (host == NULL && service == NULL))
        return -EINVAL;
    *out = NULL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    weft_loop *loop = weft__loop_current();
    dns_op *op = weft__calloc(1, sizeof *op);
    if (op == NULL)
        return -ENOMEM;
    int r = uv_getaddrinfo(&loop->uv, &op->req, dns_cb, host, service, hints);
    if (r != 0) {
        free(op);
        return weft__uv_err(r);
    }
    op->task = weft__task_current();
    op->w.cancel = dns_cancel;
    op->w.what = "getaddrinfo";
    op->w.kind = WEFT__WAIT_IO;
    op->w.obj = op;
    rc = weft__park(&op->w);
    if (rc != 0)
        return rc; /* op belongs to dns_cb now */
    if (op->status != 0) {
        rc = weft__uv_err(op->status);
        uv_freeaddrinfo(op->res);
    } else {
        *out = op->res;
    }
    free(op);
    return rc;
}

void weft_freeaddrinfo(struct addrinfo *ai)
{
    uv_freeaddrinfo(ai);
}

char *weft_addr_format(const struct sockaddr_storage *addr, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return buf;
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr == NULL) {
        snprintf(buf, cap, "?");
    } else if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (addr->ss_family == AF_UNIX) {
        /* The kernel does not NUL-terminate a path that fills sun_path. */
        const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
        snprintf(buf, cap, "%.*s", (int)strnlen(un->sun_path, sizeof un->sun_path), un->sun_path);
    } else {
        snprintf(buf, cap, "?");
    }
    return buf;
}
