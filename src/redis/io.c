/* io: the two tasks that move a connection's bytes, so that no caller ever
 * does I/O for another. The writer sends what callers appended since it
 * last ran: every command written in one turn of the loop goes out in one
 * send. The reader feeds hiredis's parser and hands each reply to the
 * caller it belongs to (command.c), or to the subscription (pubsub.c). */
#include <errno.h>
#include <stdlib.h>

#include "redis/redis_internal.h"
#include "core/park_record.h"

#define IO_STACK    (64u * 1024u)
#define SPARE_KEEP  (1u << 20)  /* a write buffer grown past this is given back */
#define WRITE_CHUNK (64u << 20) /* weft_stream_write takes at most INT_MAX bytes */
#define YIELD_EVERY (1u << 20)  /* bytes the reader takes before it lets others run */

/* ------------------------------------------------------------ parking */

/* A wait that only needs the task to be findable: *slot holds it while it
 * is parked, and is cleared by whoever wakes it (or by a cancel). */
typedef struct slot_wait {
    weft__wait w;
    weft_task **slot;
} slot_wait;

static bool slot_wait_cancel(weft__wait *w)
{
    *WEFT_CONTAINER_OF(w, slot_wait, w)->slot = NULL;
    return true;
}

int weft__redis_park_in(weft_task **slot, const char *what, const void *obj)
{
    WEFT__PARK_RECORD(slot_wait, sw);
    if (sw == NULL)
        return -ENOMEM;
    *sw = (slot_wait){
        .w = {.cancel = slot_wait_cancel, .what = what, .obj = obj, .kind = WEFT__WAIT_IO},
        .slot = slot};
    *slot = weft__task_current();
    return weft__park(&sw->w);
}

void weft__redis_wake_in(weft_task **slot, int code)
{
    weft_task *t = *slot;
    if (t) {
        *slot = NULL;
        weft__wake(t, code);
    }
}

/* ------------------------------------------------------------ writer */

void weft__redis_kick_writer(weft_redis *c)
{
    weft__redis_wake_in(&c->writer_idle, 0);
}

/* Sends the spare buffer; 0 or the stream's error. */
static int send_spare(weft_redis *c)
{
    size_t off = 0;
    while (off < c->spare.len && c->err == 0) {
        size_t n = c->spare.len - off < WRITE_CHUNK ? c->spare.len - off : WRITE_CHUNK;
        int rc = weft_stream_write(c->stream, c->spare.data + off, n);
        if (rc != 0)
            return rc;
        off += n;
    }
    c->spare.len = 0;
    if (c->spare.cap > SPARE_KEEP)
        weft__redis_buf_free(&c->spare);
    return 0;
}

static int writer_main(void *arg)
{
    weft_redis *c = arg;
    while (c->err == 0) {
        int rc;
        if (c->out.len == 0) {
            rc = weft__redis_park_in(&c->writer_idle, "redis write (idle)", c);
        } else {
            /* Swap: callers append to a fresh buffer while this one goes out. */
            weft__redis_buf b = c->spare;
            c->spare = c->out;
            c->out = b;
            rc = send_spare(c);
        }
        if (rc != 0 && c->err == 0)
            weft__redis_shutdown(c, rc == WEFT_ECANCELED ? WEFT_ECLOSED : WEFT_ECONNLOST);
    }
    return 0;
}

/* ------------------------------------------------------------ reader */

/* Hands out every reply complete in the parser's buffer (until a full
 * subscription says stop). 0 or the error that ends the connection. */
static int parse_buffered(weft_redis *c)
{
    while (c->err == 0) {
        if (c->sub && weft__redis_sub_full(c->sub))
            return 0;
        weft_redis_reply *reply;
        int rc = weft__redis_reader_next(c->reader, &c->lim, &reply);
        if (rc <= 0)
            return rc;
        if (c->sub && (rc = weft__redis_sub_take(c->sub, reply)) != 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        if ((rc = weft__redis_deliver(c, reply)) != 0)
            return rc;
    }
    return 0;
}

static int reader_main(void *arg)
{
    weft_redis *c = arg;
    int rc = 0;
    size_t unparked = 0; /* bytes read since the reader last let others run */
    while (c->err == 0) {
        if ((rc = parse_buffered(c)) != 0 || c->err != 0)
            break;
        if (c->sub && weft__redis_sub_full(c->sub)) {
            /* Leave the bytes in the socket: the server buffers, then
             * applies its own pub/sub output limit. */
            rc = weft__redis_park_in(&c->reader_paused, "redis read (paused)", c);
            if (rc != 0)
                break;
            continue;
        }
        int n = weft_stream_read(c->stream, c->rbuf, WEFT__REDIS_RBUF);
        if (c->err != 0)
            break; /* shut down meanwhile: the stream is gone */
        if (n <= 0) {
            rc = n == WEFT_ECANCELED ? WEFT_ECLOSED : n == -ENOMEM ? -ENOMEM : WEFT_ECONNLOST;
            break;
        }
        if (redisReaderFeed(c->reader, c->rbuf, (size_t)n) != REDIS_OK) {
            rc = weft__redis_reader_error(c->reader, &c->lim);
            break;
        }
        /* A big reply streaming in never makes the read wait: let the
         * other tasks (and the callers just woken) run now and then. */
        if ((unparked += (size_t)n) >= YIELD_EVERY) {
            unparked = 0;
            if ((rc = weft_sleep(0)) != 0)
                break;
        }
    }
    if (rc != 0 && c->err == 0)
        weft__redis_shutdown(c, rc == WEFT_ECANCELED ? WEFT_ECLOSED : rc);
    return 0;
}

/* ------------------------------------------------------------ starting */

static void reader_ended(weft__done_cb *cb, weft_task *task)
{
    (void)task;
    weft__redis_io_ended(WEFT_CONTAINER_OF(cb, weft_redis, reader_done));
}

static void writer_ended(weft__done_cb *cb, weft_task *task)
{
    (void)task;
    weft__redis_io_ended(WEFT_CONTAINER_OF(cb, weft_redis, writer_done));
}

static int spawn_io(weft_redis *c, weft_fn fn, weft__done_cb *done, const char *name)
{
    weft_task_opts to = {.name = name, .stack_size = IO_STACK};
    weft_task *t;
    int rc = weft_spawn_opts(fn, c, &to, &t);
    if (rc != 0)
        return rc;
    done->fn = fn == reader_main ? reader_ended : writer_ended;
    weft__task_on_done(t, done);
    c->tasks++;
    weft_task_free(t); /* detached: done tells when it ends */
    return 0;
}

int weft__redis_io_start(weft_redis *c)
{
    int rc = spawn_io(c, reader_main, &c->reader_done, "redis-reader");
    return rc != 0 ? rc : spawn_io(c, writer_main, &c->writer_done, "redis-writer");
}
