/* net: the layer of streams, servers, UDP and DNS, built on core. Its
 * contract: a weft_stream is a read buffer plus a small table of transport
 * operations (weft__stream_ops), so a new transport touches no stream
 * code. libuv sockets (uvstream.c) fill the buffer from libuv's read
 * callback, TLS (tls.c) fills it by decrypting what it reads from another
 * stream. stream.c holds the buffered read/write API common to both. */
#ifndef WEFT__LAYER_NET_H
#define WEFT__LAYER_NET_H

#include "core/core.h"

#define WEFT__READ_BUFFER (64u * 1024u)
#define WEFT__READ_LIMIT  (256u * 1024u)
#define WEFT__WRITE_HIGH  (64u * 1024u)
#define WEFT__WRITE_LOW   (16u * 1024u)

/* What a parked reader waits for: `need` bytes buffered, or (sep) the
 * separator within the first `limit` bytes, or `limit` bytes without it.
 * End of stream and errors always satisfy it. */
typedef struct weft__read_cond {
    size_t need;
    const char *sep;
    size_t seplen;
    size_t limit;
    size_t scanned; /* sep: bytes already searched without finding it */
    /* When the read gives up (the stream's read_timeout, or a caller's
     * such as a TLS read below its own); UINT64_MAX: never. */
    uint64_t deadline;
    /* A plain read with nothing buffered: the transport may put the bytes
     * straight into the caller's buffer (and set direct_got), saving a copy. */
    char *direct;
    size_t direct_cap, direct_got;
} weft__read_cond;

typedef struct weft__stream_ops {
    /* Wait until cond holds (or EOF/error are recorded in the stream). */
    int (*fill)(weft_stream *s, weft__read_cond *cond);
    /* The buffer has room again after the reader consumed (may be NULL). */
    void (*resume)(weft_stream *s);
    /* Send or queue n bytes (all or error). */
    int (*write)(weft_stream *s, const void *buf, size_t n);
    /* Wait for the queue to go down to the low watermark (NULL: the
     * stream's own wqueued). */
    int (*drain)(weft_stream *s);
    int (*write_eof)(weft_stream *s);
    /* Close the transport; free the stream unless `keep` (server-owned). */
    void (*close)(weft_stream *s, bool abort);
    int (*peername)(const weft_stream *s, struct sockaddr_storage *addr);
    int (*sockname)(const weft_stream *s, struct sockaddr_storage *addr);
    int (*nodelay)(weft_stream *s, int on);
    int (*keepalive)(weft_stream *s, int delay);
} weft__stream_ops;

struct weft_stream {
    const weft__stream_ops *ops;
    weft_loop *loop;
    /* read side: bytes [rpos, rlen) of rbuf are buffered */
    char *rbuf;
    size_t rpos, rlen, rcap;
    size_t rlimit;     /* buffered at most while no reader needs more */
    uint64_t rtimeout; /* ns a read may wait; 0: no limit */
    int rerr;          /* sticky read error */
    bool reof;         /* the peer sent EOF */
    bool rpaused;      /* the transport stopped reading: at the limit (or no memory) */
    weft_task *reader; /* the one task parked in a read */
    char *direct;      /* its buffer, for a plain read of an empty stream */
    size_t direct_cap;
    weft__read_cond *cond; /* what it waits for */
    /* write side */
    size_t wqueued; /* bytes queued, not yet taken by the kernel */
    size_t whigh, wlow;
    int werr;            /* sticky write error */
    bool wshut;          /* write_eof was called */
    bool closed;         /* close was called (server-owned streams linger) */
    bool server_owned;   /* a server frees it after the handler returns */
    weft__link drainers; /* tasks parked until wqueued <= wlow (or 0) */
};

/* -EINVAL for options out of range (negative counts, NaN durations,
 * low > high watermark, sizes past INT_MAX or WEFT__STACK_SIZE_MAX). */
int weft__net_opts_check(const weft_net_opts *opts);
/* Initialises the common part; 0 or -ENOMEM (read buffer). */
int weft__stream_init(weft_stream *s, const weft__stream_ops *ops, const weft_net_opts *opts);
/* The most the transport may buffer now: the limit, or more if the parked
 * reader needs more (read_exactly(n), read_until with a large cap). */
size_t weft__stream_read_ceiling(const weft_stream *s);
/* weft_stream_read with a deadline of the caller's (the earlier of it and
 * the stream's own read_timeout applies). */
int weft__stream_read_by(weft_stream *s, void *buf, size_t n, uint64_t deadline);
void weft__stream_free_buffers(weft_stream *s);
/* true when the parked reader's condition holds. */
bool weft__read_cond_met(weft_stream *s, weft__read_cond *c);
/* The parked reader takes bytes straight into its buffer: where, how many. */
char *weft__stream_direct(weft_stream *s, size_t *cap);
void weft__stream_direct_done(weft_stream *s, size_t n);
/* Makes room for at least `want` more bytes at rbuf + rlen (compacting or
 * growing up to what a reader needs). Returns the free space. */
size_t weft__stream_reserve(weft_stream *s, size_t want);
/* Wakes the reader if its condition holds now (or always, when force). */
void weft__stream_wake_reader(weft_stream *s, bool force);
/* Wakes drainers when wqueued dropped to their mark, or with code. */
void weft__stream_wake_drainers(weft_stream *s, int code);
/* Parks until wqueued <= mark; 0 or the error. */
int weft__stream_wait_queue(weft_stream *s, size_t mark);
/* Common parked read (used by transports whose fill is event driven). */
int weft__stream_park_reader(weft_stream *s, weft__read_cond *cond);

/* libuv's codes are -errno on Unix except the resolver's (UV_EAI_*) and
 * UV_EOF; this maps those. */
int weft__uv_err(int uv_code);

/* libuv-socket streams (uvstream.c). */
typedef enum { WEFT__UV_TCP, WEFT__UV_PIPE } weft__uv_kind;
/* A new stream around an initialised (not yet connected) handle of kind;
 * the handle lives in the stream. */
int weft__uvstream_new(weft_loop *loop, weft__uv_kind kind, const weft_net_opts *opts,
                       weft_stream **out);
/* Takes an accepted socket into the stream and starts it (the stream owns
 * fd from here on, also on error: then discard the stream). */
int weft__uvstream_adopt(weft_stream *s, int fd, const weft_net_opts *opts);
/* Starts reading (after connect/accept) and applies the socket options. */
int weft__uvstream_start(weft_stream *s, const weft_net_opts *opts);
/* Frees a stream that never became usable (closes the handle). */
void weft__uvstream_discard(weft_stream *s);
/* Connects (TCP: addr, Unix: path) and parks until done; 0 or an error
 * (then discard the stream). */
int weft__uvstream_connect(weft_stream *s, const struct sockaddr *addr, const char *path);
/* new + connect (to addr, or to the Unix path) + start on the current loop;
 * on failure nothing is left and *out is untouched. */
int weft__uvstream_dial(weft__uv_kind kind, const struct sockaddr *addr, const char *path,
                        const weft_net_opts *opts, weft_stream **out);
/* The server is done with a stream it owned: close it if needed, free it. */
void weft__uvstream_release(weft_stream *s);

/* One acceptor for a group of loops (server.c, used by serve_all.c): an
 * adopter is a server without a socket, on the current loop, that serves
 * the sockets weft__server_adopt hands it (on its loop's thread), and
 * calls ended(ctx) when each of them is done with (served and ended, or
 * refused). A server with a handoff gives each accepted socket to
 * handoff(ctx, fd), which returns false to leave it to this server; at
 * its own max_connections it goes on accepting while room(ctx) says
 * another loop is below its own. */
int weft__server_adopter_new(weft__uv_kind kind, const char *name, weft_stream_handler handler,
                             void *arg, const weft_net_opts *opts, weft_server **out);
void weft__server_adopt(weft_server *srv, int fd);
void weft__server_on_conn_end(weft_server *srv, void (*ended)(void *ctx), void *ctx);
void weft__server_set_handoff(weft_server *srv, bool (*handoff)(void *ctx, int fd),
                              bool (*room)(void *ctx), void *ctx);
/* Servers (server.c): addr for TCP, path for Unix. */
int weft__server_start(weft__uv_kind kind, const struct sockaddr *addr, const char *path,
                       weft_stream_handler handler, void *arg, const weft_net_opts *opts,
                       weft_server **out);

#endif
