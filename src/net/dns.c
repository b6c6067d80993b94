/* dns: getaddrinfo without blocking the loop. libuv runs it on its thread
 * pool; a cancelled lookup returns at once and the request frees itself
 * when the worker is done with it. */
#include <errno.h>
#include <stdlib.h>

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
