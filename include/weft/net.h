/* weft/net.h: streams (TCP, Unix-domain sockets, TLS), UDP and DNS —
 * asyncio's open_connection / start_server / StreamReader / StreamWriter.
 * Included by weft.h; do not include it on its own.
 *
 * Every call that can wait must be made from a task, honours cancellation
 * and timeout scopes (weft_timeout_begin), and returns 0 (or a count) or a
 * negative code. Streams and servers belong to the loop that made them. */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <netdb.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_stream weft_stream;
typedef struct weft_server weft_server;
typedef struct weft_udp weft_udp;
typedef struct weft_tls_ctx weft_tls_ctx;

/* Options for connect and serve; a zeroed struct (or NULL) gives the
 * defaults. */
typedef struct weft_net_opts {
    size_t read_buffer; /* initial read buffer per stream; 0: 64 KiB */
    /* Bytes a stream buffers while no read asks for more: reading from the
     * socket pauses there (the peer then waits on TCP flow control) and
     * resumes when a read consumes. A read that needs more (read_exactly
     * of a larger n, read_until with a larger cap) may buffer that much.
     * 0: 256 KiB, or read_buffer if larger. At most INT_MAX. */
    size_t read_limit;
    /* Seconds a read call (read, read_exactly, read_until, readline) may
     * wait before it fails with WEFT_ETIMEDOUT, however many bytes trickle
     * in meanwhile: the idle and first-byte timeout, and what stops a
     * slowloris peer (see docs/net.md). 0: no limit. */
    double read_timeout;
    size_t write_high; /* write() waits when more is queued; 0: 64 KiB */
    size_t write_low;  /* ...until the queue is down to this; 0: 16 KiB */
    int nagle;         /* 1: leave Nagle's algorithm on (TCP_NODELAY is set by default) */
    int keepalive;     /* seconds of idle before TCP keepalive probes; 0: off */
    /* serve only */
    int backlog;                /* listen() backlog; 0: 511 */
    int max_connections;        /* live handlers at most; more wait in the backlog; 0: no limit */
    size_t stack_size;          /* handler task stack; 0: WEFT_DEFAULT_STACK_SIZE */
    weft_stack_mode stack_mode; /* handler tasks'; WEFT_STACK_DEFAULT: the loop's */
    /* 1: SO_REUSEPORT, set before bind: several servers (on the loops of
     * a group, or in several processes) listen on one TCP port and the
     * kernel spreads connections over them. Where the system refuses it
     * the serve fails with its error (-ENOPROTOOPT, -EOPNOTSUPP). */
    int reuse_port;
} weft_net_opts;

/* A connection handler (asyncio's client_connected_cb): runs as its own
 * task. The server owns the stream and closes it when the handler returns
 * (the handler may close it earlier with weft_stream_close). */
typedef int (*weft_stream_handler)(weft_stream *stream, void *arg);

/* ------------------------------------------------------------------ TCP */

/* asyncio.open_connection: resolves host (asynchronously) and tries each
 * address in turn until one connects. Errors: -ECONNREFUSED & co (the
 * last address's), WEFT_ENONAME / WEFT_EDNS for names that do not
 * resolve, WEFT_ECANCELED / WEFT_ETIMEDOUT (timeout scope). */
WEFT_API WEFT_MUST_CHECK int weft_tcp_connect(const char *host, int port, const weft_net_opts *opts,
                                              weft_stream **out);

/* asyncio.start_server: binds host:port (host NULL: every interface; port
 * 0: a free port, see weft_server_port), listens, and runs
 * handler(stream, arg) as a new task for each connection. Returns once
 * listening; the server then accepts in the background until
 * weft_server_close. */
WEFT_API WEFT_MUST_CHECK int weft_tcp_serve(const char *host, int port, weft_stream_handler handler,
                                            void *arg, const weft_net_opts *opts,
                                            weft_server **out);

/* The port the server is bound to (useful after binding port 0); -EINVAL
 * for a Unix-domain server. */
WEFT_API int weft_server_port(const weft_server *server);
/* Connections handled now, and accepted in all (dropped ones included). */
WEFT_API size_t weft_server_live(const weft_server *server);
WEFT_API uint64_t weft_server_accepted(const weft_server *server);

/* A server's counters. A connection the server cannot serve is closed at
 * once and counted here; the first drop of an episode (until a handler
 * runs again) is logged through the log hook (topic "server", level
 * WEFT_LOG_WARN). */
struct weft_server_stats {
    size_t live;                /* handlers running now */
    size_t peak_live;           /* the most handlers that ran at once */
    uint64_t accepted;          /* connections taken from the listening socket */
    uint64_t dropped_no_fd;     /* closed: out of file descriptors (EMFILE, ENFILE) */
    uint64_t dropped_no_memory; /* closed: no memory for the stream or its task */
    uint64_t dropped_no_stack;  /* closed: no stack for the handler (WEFT_ESTACK) */
    uint64_t drop_episodes;     /* times the server began to drop (one log line each) */
};
/* Fills *out (the struct is named by its tag, as weft_loop_stats's).
 * -EINVAL if an argument is NULL. Does not wait; call it on the server's
 * loop. */
WEFT_API int weft_server_stats(const weft_server *server, struct weft_server_stats *out);

/* Graceful close: stops accepting, waits up to grace seconds for the
 * handlers to return, cancels those still running, waits for them to end,
 * and frees the server. Always frees it, even when the wait is cancelled
 * (then the handlers are cancelled at once and the call returns
 * WEFT_ECANCELED once they have ended). Must be called from a task of the
 * server's loop. */
WEFT_API WEFT_MUST_CHECK int weft_server_close(weft_server *server, double grace);

/* ---------------------------------------------------- Unix-domain sockets */

WEFT_API WEFT_MUST_CHECK int weft_unix_connect(const char *path, const weft_net_opts *opts,
                                               weft_stream **out);
/* Binds path (which must not exist), listens, serves as weft_tcp_serve. The
 * socket file is removed by weft_server_close. */
WEFT_API WEFT_MUST_CHECK int weft_unix_serve(const char *path, weft_stream_handler handler,
                                             void *arg, const weft_net_opts *opts,
                                             weft_server **out);

/* -------------------------------------------------------------- streams */

/* Reads what is buffered, up to n bytes, waiting for at least one byte.
 * Returns the count, 0 at end of stream, or an error (-ECONNRESET, ...;
 * bytes received before an error are returned first). */
WEFT_API WEFT_MUST_CHECK int weft_stream_read(weft_stream *s, void *buf, size_t n);
/* Reads exactly n bytes (n <= INT_MAX). WEFT_EINCOMPLETE if the stream
 * ends first: the bytes that did arrive stay buffered (weft_stream_read
 * gets them). */
WEFT_API WEFT_MUST_CHECK int weft_stream_read_exactly(weft_stream *s, void *buf, size_t n);
/* Reads up to and including the separator into buf (cap bytes at most) and
 * returns the count. WEFT_ELIMIT when cap bytes arrive without the
 * separator; WEFT_EINCOMPLETE when the stream ends without it. In both
 * cases nothing is consumed: the bytes stay buffered and the stream stays
 * usable (asyncio's LimitOverrunError / IncompleteReadError). */
WEFT_API WEFT_MUST_CHECK int weft_stream_read_until(weft_stream *s, const void *sep, size_t seplen,
                                                    void *buf, size_t cap);
/* asyncio's readline: read_until "\n", except that at the end of the
 * stream it returns what is left (0 when nothing is). */
WEFT_API WEFT_MUST_CHECK int weft_stream_readline(weft_stream *s, char *buf, size_t cap);
/* Bytes buffered and readable without waiting. */
WEFT_API size_t weft_stream_buffered(const weft_stream *s);

/* Sends n bytes, or queues what the socket does not take at once (the
 * data is copied). If the queue then exceeds the high watermark, waits
 * until it is down to the low watermark (write + drain). If that wait is
 * cancelled (or times out) the call returns WEFT_ECANCELED
 * (WEFT_ETIMEDOUT) with all n bytes queued: they are still sent unless
 * the stream is closed with weft_stream_abort. This is the one call that
 * may have acted when it returns an error.
 * Errors: WEFT_ECLOSED after write_eof or close, -EPIPE / -ECONNRESET
 * when the peer is gone (sticky: later writes return it too). */
WEFT_API WEFT_MUST_CHECK int weft_stream_write(weft_stream *s, const void *buf, size_t n);
/* Waits until the queue is down to the low watermark. */
WEFT_API WEFT_MUST_CHECK int weft_stream_drain(weft_stream *s);
/* Bytes queued and not yet handed to the kernel. */
WEFT_API size_t weft_stream_write_queued(const weft_stream *s);
/* Changes the watermarks (low <= high). */
WEFT_API int weft_stream_set_watermarks(weft_stream *s, size_t high, size_t low);
/* Half-close: sends EOF after the queued data; reading goes on. */
WEFT_API int weft_stream_write_eof(weft_stream *s);

/* Closes the stream: inside a task, first waits for the queued data to be
 * sent (a cancellation of that wait drops it); then closes the socket and
 * frees the stream (for a stream a server gave to a handler: closes the
 * socket; the server frees it when the handler returns). A task parked in
 * a read or write on it returns WEFT_ECLOSED. Returns 0, or the error
 * that stopped the queued data from going out (the stream is closed
 * anyway). */
WEFT_API WEFT_MUST_CHECK int weft_stream_close(weft_stream *s);
/* Closes at once, dropping queued data; a TCP peer gets a reset (RST). */
WEFT_API void weft_stream_abort(weft_stream *s);

/* Peer and local addresses; -ENOTSUP for streams that have none (TLS
 * answers for its transport). */
WEFT_API int weft_stream_peername(const weft_stream *s, struct sockaddr_storage *addr);
WEFT_API int weft_stream_sockname(const weft_stream *s, struct sockaddr_storage *addr);
/* TCP only (-ENOTSUP otherwise). keepalive: delay in seconds, 0 turns it
 * off. */
WEFT_API int weft_stream_set_nodelay(weft_stream *s, int on);
WEFT_API int weft_stream_set_keepalive(weft_stream *s, int delay);

/* Formats an IPv4/IPv6 address as "1.2.3.4:80" or "[::1]:80" (a Unix
 * address as its path) into buf; returns buf. */
WEFT_API char *weft_addr_format(const struct sockaddr_storage *addr, char *buf, size_t cap);

/* ------------------------------------------------------------------ DNS */

/* getaddrinfo(3) without blocking the loop (runs on libuv's thread pool).
 * *out is freed with weft_freeaddrinfo. WEFT_ENONAME when the name does
 * not exist, WEFT_EDNS for other resolver failures. */
WEFT_API WEFT_MUST_CHECK int weft_getaddrinfo(const char *host, const char *service,
                                              const struct addrinfo *hints, struct addrinfo **out);
WEFT_API void weft_freeaddrinfo(struct addrinfo *ai);

/* ------------------------------------------------------------------ UDP */

/* Binds a UDP socket to host:port (port 0: any free port). host NULL:
 * 0.0.0.0. */
WEFT_API WEFT_MUST_CHECK int weft_udp_bind(const char *host, int port, weft_udp **out);
/* The bound address. */
WEFT_API int weft_udp_sockname(const weft_udp *u, struct sockaddr_storage *addr);
/* Sends one datagram (copied if it must wait for the socket; the call
 * itself does not wait). */
WEFT_API int weft_udp_send_to(weft_udp *u, const void *buf, size_t n, const struct sockaddr *to);
/* Waits for one datagram; returns its size (truncated to n), the sender in
 * *from (may be NULL). */
WEFT_API WEFT_MUST_CHECK int weft_udp_recv_from(weft_udp *u, void *buf, size_t n,
                                                struct sockaddr_storage *from);
/* Closes; a task parked in recv_from returns WEFT_ECLOSED. */
WEFT_API void weft_udp_close(weft_udp *u);

/* ------------------------------------------------------------------ TLS */

/* Options for a TLS context; zeroed gives the defaults. */
typedef struct weft_tls_opts {
    /* client */
    const char *ca_file; /* trust these CAs; NULL: the system's store */
    const char *ca_pem;  /* ...or these, PEM in memory */
    int insecure;        /* 1: skip certificate verification (tests only!) */
    /* server */
    const char *cert_file; /* certificate chain, PEM */
    const char *key_file;  /* private key, PEM */
    const char *cert_pem;  /* ...or both in memory */
    const char *key_pem;
    /* both: seconds weft_tls_connect / weft_tls_accept may take before
     * they fail with WEFT_ETIMEDOUT (a peer that stalls mid-handshake);
     * 0: 60 (asyncio's ssl_handshake_timeout); WEFT_FOREVER: no limit. */
    double handshake_timeout;
} weft_tls_opts;

/* A client context verifies the server's certificate and name by default. */
WEFT_API WEFT_MUST_CHECK int weft_tls_client_ctx_new(const weft_tls_opts *opts, weft_tls_ctx **out);
/* A server context needs a certificate and its key. -EINVAL if missing,
 * WEFT_ECERT if they cannot be loaded or do not match. */
WEFT_API WEFT_MUST_CHECK int weft_tls_server_ctx_new(const weft_tls_opts *opts, weft_tls_ctx **out);
WEFT_API void weft_tls_ctx_free(weft_tls_ctx *ctx);

/* Runs the TLS handshake over an open stream (TCP, Unix, anything) and
 * gives a stream that encrypts. server_name is sent as SNI and checked
 * against the certificate (unless insecure). On success the TLS stream
 * owns the transport (closing it closes both); on error the transport is
 * left to the caller. WEFT_ETLS: handshake or protocol failure (a peer
 * that does not speak TLS); WEFT_ECERT: the certificate did not verify. */
WEFT_API WEFT_MUST_CHECK int weft_tls_connect(weft_stream *transport, weft_tls_ctx *ctx,
                                              const char *server_name, weft_stream **out);
WEFT_API WEFT_MUST_CHECK int weft_tls_accept(weft_stream *transport, weft_tls_ctx *ctx,
                                             weft_stream **out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_NET_H */
