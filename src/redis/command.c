/* command: callers and their replies. Redis answers a connection's commands
 * in order, so each caller waits in a FIFO slot (on its own stack) for the
 * next replies. A caller that gives up (cancelled, timed out) cannot take
 * its command back: it unlinks its slot and leaves a count of replies to
 * skip to the slot behind it, so its reply is dropped when it arrives and
 * never given to anyone else. max_pending bounds the replies awaited; more
 * callers wait their turn, first come first served. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"
#include "core/park_record.h"

/* ------------------------------------------------------------ room */

static bool fits(const weft_redis *c, size_t n)
{
    /* A batch larger than the limit goes alone. */
    return c->in_flight == 0 || (c->in_flight + n <= c->max_pending && n <= c->max_pending);
}

static void room_wake(weft_redis *c)
{
    while (!weft__waitq_empty(&c->room)) {
        weft__waiter *wt = WEFT_CONTAINER_OF(c->room.head.next, weft__waiter, link);
        size_t n = (size_t)(uintptr_t)wt->item;
        if (!fits(c, n))
            return;
        weft__waitq_pop(&c->room);
        c->in_flight += n; /* handed over: the woken caller owns its place */
        weft__waiter_wake(wt, 0);
    }
}

/* Reserves n replies' worth of room, waiting behind earlier callers (until
 * deadline, ns). */
static int admit(weft_redis *c, size_t n, uint64_t deadline)
{
    if (weft__waitq_empty(&c->room) && fits(c, n)) {
        c->in_flight += n;
        return 0;
    }
    WEFT__PARK_RECORD(weft__waiter, wt);
    if (wt == NULL)
        return -ENOMEM;
    *wt = (weft__waiter){.w = {.cancel = weft__waiter_cancel,
                               .what = "redis wait for room",
                               .obj = c,
                               .kind = WEFT__WAIT_IO},
                         .task = weft__task_current(),
                         .item = (void *)(uintptr_t)n};
    weft__list_push_back(&c->room.head, &wt->link);
    int rc = weft__park_until(&wt->w, deadline);
    if (rc != 0 && c->err == 0)
        room_wake(c); /* a big batch that left may have held back smaller ones */
    return rc;
}

/* When the caller's command_timeout runs out (ns), UINT64_MAX for never. */
static uint64_t deadline_of(const weft_redis *c)
{
    return c->command_timeout_ns ? weft__now_ns() + c->command_timeout_ns : UINT64_MAX;
}

static void unadmit(weft_redis *c, size_t n)
{
    c->in_flight -= n;
    room_wake(c);
}

/* ------------------------------------------------------------ slots */

static bool slot_cancel(weft__wait *w)
{
    weft__redis_slot *s = WEFT_CONTAINER_OF(w, weft__redis_slot, w);
    weft_redis *c = s->conn;
    size_t left = s->skip + (s->want - s->got);
    weft__link *next = s->link.next;
    weft__list_remove(&s->link);
    if (next != &c->pending)
        WEFT_CONTAINER_OF(next, weft__redis_slot, link)->skip += left;
    else
        c->skip_tail += left;
    return true;
}

/* Links a slot for n replies (their commands are in c->out) and waits. */
static int await_replies(weft_redis *c, size_t n, weft_redis_reply **replies, uint64_t deadline)
{
    WEFT__PARK_RECORD(weft__redis_slot, s);
    if (s == NULL)
        return -ENOMEM;
    /* The reader fills the replies while the caller is parked: a compact
     * caller's array may be its local, which moves then. They go to a
     * copy in the slab, handed over after. */
    weft__slab *slab = &weft__loop_current()->compact.slab;
    weft_redis_reply **out = replies;
    if (WEFT__PARK_RECORD_MOVED(s)) {
        if ((out = weft__slab_alloc(slab, n * sizeof *out)) == NULL)
            return -ENOMEM;
        memcpy(out, replies, n * sizeof *out);
    }
    *s = (weft__redis_slot){
        .w = {.cancel = slot_cancel, .what = "redis read reply", .obj = c, .kind = WEFT__WAIT_IO},
        .task = weft__task_current(),
        .conn = c,
        .replies = out,
        .want = n,
        .skip = c->skip_tail,
    };
    c->skip_tail = 0;
    weft__list_push_back(&c->pending, &s->link);
    weft__redis_kick_writer(c);
    /* a reader paused by a full subscription must read on to this reply */
    weft__redis_wake_in(&c->reader_paused, 0);
    int rc = weft__park_until(&s->w, deadline);
    if (out != replies) {
        memcpy(replies, out, n * sizeof *out);
        weft__slab_free(slab, out, n * sizeof *out);
    }
    return rc;
}

int weft__redis_deliver(weft_redis *c, weft_redis_reply *reply)
{
    if (c->in_flight == 0) {
        weft_redis_reply_free(reply);
        return WEFT_EPROTOCOL; /* a reply to no command */
    }
    c->in_flight--;
    if (!weft__waitq_empty(&c->room))
        room_wake(c);
    if (weft__list_empty(&c->pending)) {
        weft_redis_reply_free(reply);
        if (c->skip_tail == 0) /* only callers not yet sent are in flight */
            return WEFT_EPROTOCOL;
        c->skip_tail--; /* a reply of a caller that gave up */
        return 0;
    }
    weft__redis_slot *s = WEFT_CONTAINER_OF(c->pending.next, weft__redis_slot, link);
    if (s->skip > 0) {
        s->skip--;
        weft_redis_reply_free(reply);
        return 0;
    }
    s->replies[s->got++] = reply;
    if (c->sub && reply->type == WEFT_REDIS_ERROR && s->got < s->want) {
        /* In subscriber mode an error answers the whole (P)SUBSCRIBE, however
         * many confirmations it would have had. */
        c->in_flight -= s->want - s->got;
        s->got = s->want;
    }
    if (s->got == s->want) {
        weft__list_remove(&s->link);
        weft__wake(s->task, 0);
    }
    return 0;
}

void weft__redis_fail_waiters(weft_redis *c, int head_code, int rest_code)
{
    weft__link *l;
    bool head = true;
    while ((l = weft__list_pop_front(&c->pending)) != NULL) {
        weft__redis_slot *s = WEFT_CONTAINER_OF(l, weft__redis_slot, link);
        weft__wake(s->task, head && s->skip == 0 ? head_code : rest_code);
        head = false;
    }
    c->skip_tail = 0;
    c->in_flight = 0;
    weft__waitq_wake_all(&c->room, rest_code);
}

int weft__redis_send(weft_redis *c, const weft__redis_buf *cmds, size_t n,
                     weft_redis_reply **replies)
{
    c->refs++; /* c stays allocated until we are done with it */
    uint64_t deadline = deadline_of(c);
    int rc = admit(c, n, deadline);
    if (rc == 0 && (rc = c->err) == 0) {
        if ((rc = weft__redis_buf_append(&c->out, cmds->data, cmds->len)) == 0)
            rc = await_replies(c, n, replies, deadline);
        else
            unadmit(c, n);
    }
    weft__redis_unref(c);
    return rc;
}

/* ------------------------------------------------------------ commands */

/* One command, encoded straight into the connection's output. */
static int call(weft_redis *c, const weft__redis_cmd *cmd, weft_redis_reply **reply)
{
    uint64_t deadline = deadline_of(c);
    int rc = admit(c, 1, deadline);
    if (rc != 0 || (rc = c->err) != 0)
        return rc;
    if ((rc = weft__redis_cmd_encode(&c->out, cmd)) != 0) {
        unadmit(c, 1);
        return rc;
    }
    return await_replies(c, 1, reply, deadline);
}

int weft__redis_call(weft_redis *c, const weft__redis_cmd *cmd, weft_redis_reply **out)
{
    int rc = weft__redis_check(c);
    if (rc != 0)
        return rc;
    weft_redis_reply *reply = NULL;
    c->refs++;
    rc = call(c, cmd, &reply);
    weft__redis_unref(c);
    if (rc != 0)
        return rc;
    if (out) {
        *out = reply;
        return 0;
    }
    if (reply->type == WEFT_REDIS_ERROR) {
        weft_log(WEFT_LOG_DEBUG, "redis", "error reply: %s", reply->v.str);
        rc = WEFT_EREDIS;
    }
    weft_redis_reply_free(reply);
    return rc;
}

int weft__redis_cmd_check(const weft__redis_cmd *cmd)
{
    if (cmd->fmt)
        return 0;
    if (cmd->argc == 0 || cmd->argv == NULL)
        return -EINVAL;
    for (size_t i = 0; i < cmd->argc; i++)
        if (cmd->argv[i] == NULL)
            return -EINVAL;
    return 0;
}

int weft_redis_command(weft_redis *conn, size_t argc, const char *const *argv,
                       const size_t *argvlen, weft_redis_reply **out)
{
    if (out)
        *out = NULL;
    weft__redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = argvlen};
    int rc = weft__redis_cmd_check(&cmd);
    return rc != 0 ? rc : weft__redis_call(conn, &cmd, out);
}

int weft_redis_vcommandf(weft_redis *conn, const char *fmt, va_list ap, weft_redis_reply **out)
{
    if (out)
        *out = NULL;
    if (fmt == NULL)
        return -EINVAL;
    va_list copy;
    va_copy(copy, ap);
    weft__redis_cmd cmd = {.fmt = fmt, .ap = &copy};
    int rc = weft__redis_call(conn, &cmd, out);
    va_end(copy);
    return rc;
}

int weft_redis_commandf(weft_redis *conn, weft_redis_reply **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = weft_redis_vcommandf(conn, fmt, ap, out);
    va_end(ap);
    return rc;
}
