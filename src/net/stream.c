/* stream: asyncio's StreamReader/StreamWriter over any transport. The read
 * side is one buffer per stream that the transport fills and the reader
 * drains; a reader parks with a condition (n bytes, or a separator) and is
 * woken only when it holds. Nothing is consumed by a read that fails, so a
 * cancelled or over-limit read leaves the stream usable. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "net/net.h"
#include "core/park_record.h"

/* ------------------------------------------------------------ internals */

int weft__net_opts_check(const weft_net_opts *o)
{
    if (o == NULL)
        return 0;
    if (o->keepalive < 0 || o->backlog < 0 || o->max_connections < 0 || (unsigned)o->reuse_port > 1)
        return -EINVAL;
    if (o->read_buffer > INT_MAX || o->read_limit > INT_MAX)
        return -EINVAL; /* reads count in int */
    if (o->write_high > 0 && o->write_low > o->write_high)
        return -EINVAL;
    if (!(o->read_timeout >= 0)) /* negative or NaN */
        return -EINVAL;
    if ((unsigned)o->stack_mode > WEFT_STACK_COMPACT)
        return -EINVAL;
    return o->stack_size > WEFT__STACK_SIZE_MAX ? -EINVAL : 0;
}

/* Seconds to ns; 0 (no limit) for 0 and for durations too long to count. */
static uint64_t timeout_ns(double seconds)
{
    if (!(seconds > 0) || seconds >= WEFT__FOREVER_SECONDS)
        return 0;
    uint64_t ns = (uint64_t)(seconds * 1e9);
    return ns > 0 ? ns : 1;
}

int weft__stream_init(weft_stream *s, const weft__stream_ops *ops, const weft_net_opts *opts)
{
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->loop = weft__loop_current();
    s->rcap = opts && opts->read_buffer ? opts->read_buffer : WEFT__READ_BUFFER;
    /* A larger initial buffer than the default limit raises the limit. */
    s->rlimit = opts && opts->read_limit     ? opts->read_limit
                : s->rcap > WEFT__READ_LIMIT ? s->rcap
                                             : WEFT__READ_LIMIT;
    s->rtimeout = opts ? timeout_ns(opts->read_timeout) : 0;
    s->whigh = opts && opts->write_high ? opts->write_high : WEFT__WRITE_HIGH;
    s->wlow = opts && opts->write_low ? opts->write_low : WEFT__WRITE_LOW;
    if (s->wlow > s->whigh)
        s->wlow = s->whigh;
    weft__list_init(&s->drainers);
    s->rbuf = weft__malloc(s->rcap);
    return s->rbuf ? 0 : -ENOMEM;
}

void weft__stream_free_buffers(weft_stream *s)
{
    free(s->rbuf);
    s->rbuf = NULL;
}

static inline size_t buffered(const weft_stream *s)
{
    return s->rlen - s->rpos;
}

/* Searches the separator in the first c->limit buffered bytes, from where
 * the last search stopped. On success *end is the count up to and
 * including it. */
static bool find_sep(weft_stream *s, weft__read_cond *c, size_t *end)
{
    size_t lim = buffered(s) < c->limit ? buffered(s) : c->limit;
    if (lim < c->seplen || c->scanned > lim - c->seplen)
        return false;
    const char *base = s->rbuf + s->rpos;
    const char *hit = memmem(base + c->scanned, lim - c->scanned, c->sep, c->seplen);
    if (hit) {
        *end = (size_t)(hit - base) + c->seplen;
        return true;
    }
    c->scanned = lim - c->seplen + 1;
    return false;
}

char *weft__stream_direct(weft_stream *s, size_t *cap)
{
    /* Kept in the stream (hot) rather than read from the cond on the
     * parked task's stack (cold until the task runs). */
    if (s->direct == NULL || s->rpos != s->rlen)
        return NULL;
    *cap = s->direct_cap;
    return s->direct;
}

void weft__stream_direct_done(weft_stream *s, size_t n)
{
    s->cond->direct_got = n;
    weft__stream_wake_reader(s, true);
}

size_t weft__stream_read_ceiling(const weft_stream *s)
{
    const weft__read_cond *c = s->reader ? s->cond : NULL;
    size_t need = c == NULL ? 0 : c->sep ? c->limit : c->need;
    return need > s->rlimit ? need : s->rlimit;
}

bool weft__read_cond_met(weft_stream *s, weft__read_cond *c)
{
    if (c->direct_got > 0 || s->reof || s->rerr || s->closed)
        return true;
    if (c->sep == NULL)
        return buffered(s) >= c->need;
    size_t end;
    return find_sep(s, c, &end) || buffered(s) >= c->limit;
}

size_t weft__stream_reserve(weft_stream *s, size_t want)
{
    if (s->rpos == s->rlen) {
        s->rpos = s->rlen = 0;
    } else if (s->rpos > 0 && (s->rcap - s->rlen < want || s->rcap - s->rlen < 4096)) {
        memmove(s->rbuf, s->rbuf + s->rpos, buffered(s));
        s->rlen -= s->rpos;
        s->rpos = 0;
    }
    if (s->rcap - s->rlen < want) {
        size_t cap = s->rcap;
        while (cap - s->rlen < want)
            cap *= 2;
        char *p = weft__realloc(s->rbuf, cap);
        if (p) {
            s->rbuf = p;
            s->rcap = cap;
        }
    }
    return s->rcap - s->rlen;
}

void weft__stream_wake_reader(weft_stream *s, bool force)
{
    weft_task *t = s->reader;
    if (t && (force || weft__read_cond_met(s, s->cond))) {
        s->reader = NULL;
        s->cond = NULL;
        s->direct = NULL;
        if (s->closed)
            weft__wake(t, WEFT_ECLOSED);
        else
            weft__wake_now(t, 0);
    }
}

typedef struct reader_wait {
    weft__wait w;
    weft_stream *s;
    weft__read_cond cond; /* a compact task's condition, off its stack */
} reader_wait;

static bool reader_cancel(weft__wait *w)
{
    reader_wait *rw = WEFT_CONTAINER_OF(w, reader_wait, w);
    rw->s->reader = NULL;
    rw->s->cond = NULL;
    rw->s->direct = NULL;
    return true;
}

int weft__stream_park_reader(weft_stream *s, weft__read_cond *cond)
{
    WEFT__PARK_RECORD(reader_wait, rw);
    if (rw == NULL)
        return -ENOMEM;
    rw->w = (weft__wait){
        .cancel = reader_cancel, .what = "stream read", .obj = s, .kind = WEFT__WAIT_IO};
    rw->s = s;
    weft__read_cond *c = cond;
    if (WEFT__PARK_RECORD_MOVED(rw)) {
        /* A compact task: the loop reads the condition while it is parked,
         * and its buffer may be one of its locals: no direct read. */
        rw->cond = *cond;
        rw->cond.direct = NULL;
        rw->cond.direct_cap = 0;
        c = &rw->cond;
    }
    s->reader = weft__task_current();
    s->cond = c;
    s->direct = c->direct;
    s->direct_cap = c->direct_cap;
    /* On WEFT_ECLOSED s may be gone: do not touch it. */
    int rc = weft__park_until(&rw->w, c->deadline);
    if (c != cond)
        cond->scanned = c->scanned; /* direct_got stays 0: the bytes are buffered */
    return rc;
}

typedef struct drainer {
    weft__wait w;
    weft__link link;
    weft_task *task;
    size_t mark;
} drainer;

static bool drainer_cancel(weft__wait *w)
{
    drainer *d = WEFT_CONTAINER_OF(w, drainer, w);
    weft__list_remove(&d->link);
    return true;
}

void weft__stream_wake_drainers(weft_stream *s, int code)
{
    weft__link *l = s->drainers.next;
    while (l != &s->drainers) {
        drainer *d = WEFT_CONTAINER_OF(l, drainer, link);
        l = l->next;
        if (code != 0 || s->wqueued <= d->mark) {
            weft__list_remove(&d->link);
            weft__wake(d->task, code);
        }
    }
}

int weft__stream_wait_queue(weft_stream *s, size_t mark)
{
    if (s->werr)
        return s->werr;
    if (s->wqueued <= mark)
        return 0;
    WEFT__PARK_RECORD(drainer, d);
    if (d == NULL)
        return -ENOMEM;
    *d = (drainer){
        .w = {.cancel = drainer_cancel, .what = "stream drain", .obj = s, .kind = WEFT__WAIT_IO},
        .task = weft__task_current(),
        .mark = mark};
    weft__list_push_back(&s->drainers, &d->link);
    return weft__park(&d->w);
}

static int check_stream(const weft_stream *s)
{
    if (s == NULL)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    if (s->loop != weft__loop_current())
        return WEFT_EFOREIGN;
    return s->closed ? WEFT_ECLOSED : 0;
}

static void consume(weft_stream *s, void *buf, size_t n)
{
    memcpy(buf, s->rbuf + s->rpos, n);
    s->rpos += n;
    if (s->rpos == s->rlen)
        s->rpos = s->rlen = 0;
    if (WEFT_UNLIKELY(s->rpaused) && buffered(s) < s->rlimit && s->ops->resume)
        s->ops->resume(s);
}

/* When a read that starts now gives up: the stream's read_timeout from
 * now, or the caller's deadline if earlier. */
static uint64_t read_deadline(const weft_stream *s, uint64_t deadline)
{
    if (s->rtimeout == 0)
        return deadline;
    uint64_t own = weft__now_ns() + s->rtimeout;
    return own < deadline ? own : deadline;
}

/* Waits for cond unless it holds; 0 once it does. */
static int wait_for(weft_stream *s, weft__read_cond *cond)
{
    if (weft__read_cond_met(s, cond))
        return 0;
    return s->ops->fill(s, cond);
}

static int read_prologue(weft_stream *s, const void *buf, size_t n)
{
    int rc = check_stream(s);
    if (rc != 0)
        return rc;
    if (buf == NULL && n > 0)
        return -EINVAL;
    if (n > INT_MAX)
        return -EINVAL;
    return s->reader ? -EBUSY : 0;
}

/* ------------------------------------------------------------ reading */

static int read_some(weft_stream *s, void *buf, size_t n, uint64_t deadline)
{
    int rc;
    weft__read_cond cond = {.need = 1, .deadline = read_deadline(s, deadline)};
    if (buffered(s) == 0) { /* let the transport recv straight into buf */
        cond.direct = buf;
        cond.direct_cap = n;
    }
    if ((rc = wait_for(s, &cond)) != 0)
        return rc;
    if (cond.direct_got > 0)
        return (int)cond.direct_got;
    size_t k = buffered(s);
    if (k == 0)
        return s->rerr; /* 0 at end of stream */
    if (k > n)
        k = n;
    consume(s, buf, k);
    return (int)k;
}

int weft_stream_read(weft_stream *s, void *buf, size_t n)
{
    int rc = read_prologue(s, buf, n);
    if (rc != 0 || n == 0)
        return rc;
    return read_some(s, buf, n, UINT64_MAX);
}

int weft__stream_read_by(weft_stream *s, void *buf, size_t n, uint64_t deadline)
{
    int rc = read_prologue(s, buf, n);
    if (rc != 0 || n == 0)
        return rc;
    return read_some(s, buf, n, deadline);
}

int weft_stream_read_exactly(weft_stream *s, void *buf, size_t n)
{
    int rc = read_prologue(s, buf, n);
    if (rc != 0 || n == 0)
        return rc;
    weft__read_cond cond = {.need = n, .deadline = read_deadline(s, UINT64_MAX)};
    if ((rc = wait_for(s, &cond)) != 0)
        return rc;
    if (buffered(s) < n)
        return s->rerr ? s->rerr : WEFT_EINCOMPLETE;
    consume(s, buf, n);
    return 0;
}

static int read_until(weft_stream *s, const void *sep, size_t seplen, void *buf, size_t cap,
                      bool line)
{
    int rc = read_prologue(s, buf, cap);
    if (rc != 0)
        return rc;
    if (sep == NULL || seplen == 0 || cap == 0)
        return -EINVAL;
    weft__read_cond cond = {
        .sep = sep, .seplen = seplen, .limit = cap, .deadline = read_deadline(s, UINT64_MAX)};
    size_t end;
    for (;;) {
        if (find_sep(s, &cond, &end)) {
            consume(s, buf, end);
            return (int)end;
        }
        if (buffered(s) >= cap)
            return WEFT_ELIMIT;
        if (s->rerr)
            return s->rerr;
        if (s->reof) {
            if (!line)
                return WEFT_EINCOMPLETE;
            end = buffered(s);
            consume(s, buf, end);
            return (int)end;
        }
        if ((rc = s->ops->fill(s, &cond)) != 0)
            return rc;
    }
}

int weft_stream_read_until(weft_stream *s, const void *sep, size_t seplen, void *buf, size_t cap)
{
    return read_until(s, sep, seplen, buf, cap, false);
}

int weft_stream_readline(weft_stream *s, char *buf, size_t cap)
{
    return read_until(s, "\n", 1, buf, cap, true);
}

size_t weft_stream_buffered(const weft_stream *s)
{
    return s ? buffered(s) : 0;
}

/* ------------------------------------------------------------ writing */

int weft_stream_write(weft_stream *s, const void *buf, size_t n)
{
    int rc = check_stream(s);
    if (rc != 0)
        return rc;
    if ((buf == NULL && n > 0) || n > INT_MAX)
        return -EINVAL;
    if (s->werr)
        return s->werr;
    if (s->wshut)
        return WEFT_ECLOSED;
    if (n == 0)
        return 0;
    if ((rc = s->ops->write(s, buf, n)) != 0)
        return rc;
    if (s->wqueued > s->whigh)
        return weft__stream_wait_queue(s, s->wlow);
    return 0;
}

int weft_stream_drain(weft_stream *s)
{
    int rc = check_stream(s);
    if (rc != 0)
        return rc;
    if (s->ops->drain)
        return s->ops->drain(s);
    return weft__stream_wait_queue(s, s->wlow);
}

size_t weft_stream_write_queued(const weft_stream *s)
{
    return s ? s->wqueued : 0;
}

int weft_stream_set_watermarks(weft_stream *s, size_t high, size_t low)
{
    if (s == NULL || low > high || high == 0)
        return -EINVAL;
    s->whigh = high;
    s->wlow = low;
    return 0;
}

int weft_stream_write_eof(weft_stream *s)
{
    int rc = check_stream(s);
    if (rc != 0)
        return rc;
    if (s->wshut)
        return 0;
    if (s->werr)
        return s->werr;
    s->wshut = true;
    return s->ops->write_eof(s);
}

/* ------------------------------------------------------------ closing */

/* Marks the stream closed and releases the tasks parked on it. */
static void close_waiters(weft_stream *s)
{
    s->closed = true;
    weft__stream_wake_reader(s, true);
    weft__stream_wake_drainers(s, WEFT_ECLOSED);
}

int weft_stream_close(weft_stream *s)
{
    if (s == NULL)
        return -EINVAL;
    if (s->closed)
        return 0; /* a server-owned stream the handler closed already */
    int rc = 0;
    bool may_wait = weft__check_task() == 0 && s->loop == weft__loop_current();
    if (may_wait && s->ops->drain) {
        rc = s->ops->drain(s);
    } else if (may_wait && s->wqueued > 0) {
        rc = weft__stream_wait_queue(s, 0);
        if (rc == 0)
            rc = s->werr;
    }
    if (rc == WEFT_ECLOSED) /* closed by another task while we drained */
        return 0;
    close_waiters(s);
    s->ops->close(s, rc != 0);
    return rc;
}

void weft_stream_abort(weft_stream *s)
{
    if (s == NULL || s->closed)
        return;
    close_waiters(s);
    s->ops->close(s, true);
}

/* ------------------------------------------------------------ options */

int weft_stream_peername(const weft_stream *s, struct sockaddr_storage *addr)
{
    if (s == NULL || addr == NULL)
        return -EINVAL;
    if (s->closed)
        return WEFT_ECLOSED;
    return s->ops->peername ? s->ops->peername(s, addr) : -ENOTSUP;
}

int weft_stream_sockname(const weft_stream *s, struct sockaddr_storage *addr)
{
    if (s == NULL || addr == NULL)
        return -EINVAL;
    if (s->closed)
        return WEFT_ECLOSED;
    return s->ops->sockname ? s->ops->sockname(s, addr) : -ENOTSUP;
}

int weft_stream_set_nodelay(weft_stream *s, int on)
{
    if (s == NULL)
        return -EINVAL;
    if (s->closed)
        return WEFT_ECLOSED;
    return s->ops->nodelay ? s->ops->nodelay(s, on) : -ENOTSUP;
}

int weft_stream_set_keepalive(weft_stream *s, int delay)
{
    if (s == NULL || delay < 0)
        return -EINVAL;
    if (s->closed)
        return WEFT_ECLOSED;
    return s->ops->keepalive ? s->ops->keepalive(s, delay) : -ENOTSUP;
}

/* ------------------------------------------------------------ misc */

int weft__uv_err(int code)
{
    switch (code) {
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_ADDRFAMILY:
        return WEFT_ENONAME;
    case UV_EAI_MEMORY:
        return -ENOMEM;
    case UV_EAI_CANCELED:
    case UV_ECANCELED:
        return WEFT_ECANCELED;
    case UV_EAI_BADFLAGS:
    case UV_EAI_FAMILY:
    case UV_EAI_SERVICE:
    case UV_EAI_SOCKTYPE:
    case UV_EAI_PROTOCOL:
    case UV_EAI_BADHINTS:
        return -EINVAL;
    case UV_EOF:
        return -EPIPE;
    default:
        if (code <= UV_EAI_ADDRFAMILY && code >= UV_EAI_SOCKTYPE - 20)
            return WEFT_EDNS;
        return code; /* -errno on Unix */
    }
}
