/* pipeline: commands queued by the caller, sent together and awaited with
 * one wait (one slot for all their replies), on a connection or a pool.
 * MULTI/EXEC inside a pipeline is a transaction: the whole batch is
 * appended to the connection's output at once, so no other caller's
 * command can fall between MULTI and EXEC. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_internal.h"

struct weft_redis_pipeline {
    weft__redis_buf cmds;
    size_t count;
    weft_redis_reply **replies; /* count of them once run */
    size_t cap;
    int error; /* the first add that failed: run returns it, sends nothing */
};

int weft_redis_pipeline_new(weft_redis_pipeline **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = weft__calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

static void drop_replies(weft_redis_pipeline *p)
{
    for (size_t i = 0; i < p->count && p->replies; i++) {
        weft_redis_reply_free(p->replies[i]);
        p->replies[i] = NULL;
    }
}

static int add_cmd(weft_redis_pipeline *p, const weft__redis_cmd *cmd)
{
    int rc = weft__redis_cmd_check(cmd);
    if (rc != 0)
        return rc;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        weft_redis_reply **r = weft__realloc(p->replies, cap * sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        memset(r + p->cap, 0, (cap - p->cap) * sizeof *r);
        p->replies = r;
        p->cap = cap;
    }
    if ((rc = weft__redis_cmd_encode(&p->cmds, cmd)) != 0)
        return rc;
    p->count++;
    return 0;
}

/* A command that cannot be queued spoils the batch: it is remembered, and
 * run refuses the pipeline, so that callers need not check every add. */
static int add(weft_redis_pipeline *p, const weft__redis_cmd *cmd)
{
    if (p == NULL)
        return -EINVAL;
    int rc = add_cmd(p, cmd);
    if (rc != 0 && p->error == 0)
        p->error = rc;
    return rc;
}

int weft_redis_pipeline_add(weft_redis_pipeline *p, size_t argc, const char *const *argv,
                            const size_t *argvlen)
{
    weft__redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = argvlen};
    return add(p, &cmd);
}

int weft_redis_pipeline_addf(weft_redis_pipeline *p, const char *fmt, ...)
{
    if (fmt == NULL) {
        if (p != NULL && p->error == 0)
            p->error = -EINVAL;
        return -EINVAL;
    }
    va_list ap;
    va_start(ap, fmt);
    weft__redis_cmd cmd = {.fmt = fmt, .ap = &ap};
    int rc = add(p, &cmd);
    va_end(ap);
    return rc;
}

size_t weft_redis_pipeline_count(const weft_redis_pipeline *p)
{
    return p ? p->count : 0;
}

int weft__redis_pipeline_run(weft_redis *c, weft_redis_pipeline *p)
{
    int rc = weft__redis_check(c);
    if (rc != 0)
        return rc;
    drop_replies(p);
    if (p->error != 0)
        return p->error;
    if (p->count == 0)
        return 0;
    return weft__redis_send(c, &p->cmds, p->count, p->replies);
}

int weft_redis_pipeline_run(weft_redis *conn, weft_redis_pipeline *p)
{
    if (p == NULL)
        return -EINVAL;
    return weft__redis_pipeline_run(conn, p);
}

const weft_redis_reply *weft_redis_pipeline_reply(const weft_redis_pipeline *p, size_t i)
{
    return p && i < p->count ? p->replies[i] : NULL;
}

void weft_redis_pipeline_reset(weft_redis_pipeline *p)
{
    if (p == NULL)
        return;
    drop_replies(p);
    p->count = 0;
    p->cmds.len = 0;
    p->error = 0;
}

void weft_redis_pipeline_free(weft_redis_pipeline *p)
{
    if (p == NULL)
        return;
    drop_replies(p);
    weft__redis_buf_free(&p->cmds);
    free(p->replies);
    free(p);
}
