/* Hostile peers against weft's servers (issue 12): a slowloris crowd at
 * the connection limit, peers that flood handlers that do not read, a peer
 * that resets in the middle of a frame (plain and TLS), a TLS peer that
 * stalls in the middle of its handshake, and connection floods past
 * max_connections and past the server's resources. Each asserts what the
 * server's memory is bounded by, and the documented error or counter, not
 * only that nothing crashed. All on loopback, port 0, bounded in time. */
/* weft:timeout=120 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "log_capture.h"
#include "net_test.h"
#include "test_support.h"
#include "weft.h"
#ifdef WEFT_HAVE_TLS
#include "test_cert.h"
#endif

/* ------------------------------------------------------------ helpers */

#define NPEERS 10

typedef struct hostile {
    weft_server *srv;
    int port;
    int release;                  /* handlers may go on */
    weft_stream *streams[NPEERS]; /* the handlers' streams, to measure */
    int nstreams;
    int results[NPEERS]; /* what each handler's read returned */
    int nresults;
    size_t kept[NPEERS]; /* bytes buffered after that */
    double took[NPEERS]; /* seconds the failing call took */
    weft_tls_ctx *tls;
} hostile;

static void serve(hostile *h, weft_stream_handler fn, const weft_net_opts *opts)
{
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, fn, h, opts, &h->srv), 0);
    h->port = weft_server_port(h->srv);
}

static void record(hostile *h, int rc, weft_stream *s, double took)
{
    if (h->nresults < NPEERS) {
        h->kept[h->nresults] = weft_stream_buffered(s);
        h->took[h->nresults] = took;
        h->results[h->nresults++] = rc;
    }
}

/* ------------------------------------------------------------ slowloris */

/* N clients at max_connections = N each send one byte a second and never
 * a whole line. Without a read timeout they hold every handler and lock
 * everyone else out; with read_timeout each handler's readline gives up
 * (WEFT_ETIMEDOUT), the handler ends, and an honest client is served. */
#define LORIS     4
#define LORIS_GAP 1.0 /* seconds between two bytes, as the report had it */

static int line_echo(weft_stream *s, void *arg)
{
    hostile *h = arg;
    char line[256];
    int n;
    double t0 = weft_time();
    while ((n = weft_stream_readline(s, line, sizeof line)) > 0) {
        if (weft_stream_write(s, line, (size_t)n) != 0)
            return 0;
        t0 = weft_time();
    }
    record(h, n, s, weft_time() - t0);
    return 0;
}

static int loris(void *arg)
{
    hostile *h = arg;
    weft_stream *s;
    assert_int_equal(weft_tcp_connect("127.0.0.1", h->port, NULL, &s), 0);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0 && !h->release; i++) {
        rc = weft_stream_write(s, "x", 1);
        if (rc == 0)
            rc = weft_sleep(LORIS_GAP);
    }
    char b[4];
    if (rc == 0) /* the server closed us: EOF (or a reset) */
        rc = weft_stream_read(s, b, sizeof b);
    weft_stream_abort(s);
    return rc;
}

static int t_slowloris(void *arg)
{
    hostile *h = arg;
    weft_net_opts o = {.max_connections = LORIS, .read_timeout = 1.5};
    serve(h, line_echo, &o);
    weft_task *crowd[LORIS];
    for (int i = 0; i < LORIS; i++)
        crowd[i] = SPAWN(loris, h);
    WAIT_UNTIL(weft_server_live(h->srv) == LORIS);

    /* An honest client, queued behind the crowd. */
    double t0 = weft_time();
    weft_stream *s;
    assert_int_equal(weft_tcp_connect("127.0.0.1", h->port, NULL, &s), 0);
    assert_int_equal(weft_stream_write(s, "hello\n", 6), 0);
    char buf[16];
    weft_timeout *to;
    assert_int_equal(weft_timeout_begin(6.0, &to), 0);
    int rc = weft_stream_readline(s, buf, sizeof buf);
    rc = weft_timeout_end(to, rc);
    assert_int_equal(rc, 6); /* served, within the read timeout and some */
    assert_true(weft_time() - t0 < 6.0);
    assert_int_equal(weft_stream_close(s), 0);

    h->release = 1;
    for (int i = 0; i < LORIS; i++) {
        rc = weft_await(crowd[i]);
        assert_true(rc == 0 || rc == -ECONNRESET || rc == -EPIPE); /* cut off */
        weft_task_free(crowd[i]);
    }
    WAIT_UNTIL(h->nresults == LORIS + 1);
    int timed_out = 0;
    for (int i = 0; i < h->nresults; i++) {
        if (h->results[i] != WEFT_ETIMEDOUT)
            continue;
        timed_out++;
        assert_true(h->took[i] >= 1.49 && h->took[i] < 4.0);
        assert_true(h->kept[i] <= 3); /* what trickled in: bytes, not megabytes */
    }
    assert_int_equal(timed_out, LORIS); /* the documented error, once each */
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_slowloris(void **state)
{
    (void)state;
    RUN_WITH(t_slowloris, &(hostile){0});
}

/* ------------------------------------------------------------ floods */

/* NPEERS peers flood NPEERS handlers that sleep. The default read limit
 * bounds what each handler's stream holds, the peers' writes wait on TCP
 * flow control, and the process's memory stays flat: the report saw
 * 1,986 MiB buffered and RSS following. */
#define FLOOD_CAP (32L << 20) /* a peer gives up after this much */

static int sleeper(weft_stream *s, void *arg)
{
    hostile *h = arg;
    if (h->nstreams < NPEERS)
        h->streams[h->nstreams++] = s;
    while (!h->release)
        if (weft_sleep(0.01) != 0)
            return 0; /* the server is closing */
    return 0;
}

typedef struct flooder {
    hostile *h;
    long pushed;
    int rc;
} flooder;

static int flood(void *arg)
{
    flooder *f = arg;
    weft_stream *s;
    assert_int_equal(weft_tcp_connect("127.0.0.1", f->h->port, NULL, &s), 0);
    static const char chunk[64 * 1024];
    int rc = 0;
    while (rc == 0 && f->pushed < FLOOD_CAP) {
        /* Held back when a write makes no progress for half a second. */
        weft_timeout *to;
        assert_int_equal(weft_timeout_begin(0.5, &to), 0);
        rc = weft_timeout_end(to, weft_stream_write(s, chunk, sizeof chunk));
        f->pushed += (long)sizeof chunk;
    }
    f->rc = rc;
    weft_stream_abort(s);
    return 0;
}

static int t_flood(void *arg)
{
    hostile *h = arg;
    serve(h, sleeper, NULL); /* the default limit: 256 KiB */
    size_t rss0 = test_rss_bytes();
    flooder f[NPEERS];
    weft_task *t[NPEERS];
    for (int i = 0; i < NPEERS; i++) {
        f[i] = (flooder){.h = h};
        t[i] = SPAWN(flood, &f[i]);
    }
    size_t most = 0, rss_most = 0;
    long pushed = 0;
    for (int i = 0; i < NPEERS; i++) {
        assert_int_equal(weft_await(t[i]), 0);
        weft_task_free(t[i]);
        pushed += f[i].pushed;
    }
    size_t held = 0;
    for (int i = 0; i < h->nstreams; i++) {
        size_t b = weft_stream_buffered(h->streams[i]);
        held += b;
        if (b > most)
            most = b;
    }
    rss_most = test_rss_bytes();
    size_t grew = rss_most > rss0 ? rss_most - rss0 : 0;
    print_message("flood: %d peers pushed %ld MiB; the handlers hold %zu KiB (at most %zu KiB "
                  "each); RSS grew %zu KiB\n",
                  NPEERS, pushed >> 20, held >> 10, most >> 10, grew >> 10);
    assert_int_equal(h->nstreams, NPEERS);
    for (int i = 0; i < NPEERS; i++)
        assert_int_equal(f[i].rc, WEFT_ETIMEDOUT); /* held back, not buffered */
    assert_true(most <= 256 * 1024);               /* the read limit, per stream */
    assert_true(most > 0);
    assert_true(pushed > (long)held); /* the rest waits in the kernel */
    assert_true(grew < (64u << 20));  /* flat: not the hundreds of MiB sent */
    h->release = 1;
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_flood_while_not_reading(void **state)
{
    (void)state;
    RUN_WITH(t_flood, &(hostile){0});
}

/* ------------------------------------------------------------ resets */

/* A length-prefixed frame: the peer announces 1000 bytes, sends 300 and
 * resets. The handler's read_exactly fails with -ECONNRESET (documented:
 * the bytes before an error come first, and a failed read consumes
 * nothing), the 300 bytes stay buffered, no more. */
static int frame_reader(weft_stream *s, void *arg)
{
    hostile *h = arg;
    uint32_t len;
    int rc = weft_stream_read_exactly(s, &len, sizeof len);
    if (rc == 0) {
        static char body[4096];
        len = ntohl(len);
        rc = len <= sizeof body ? weft_stream_read_exactly(s, body, len) : WEFT_ELIMIT;
    }
    record(h, rc, s, 0);
    return 0;
}

static int t_reset_mid_frame(void *arg)
{
    hostile *h = arg;
    serve(h, frame_reader, NULL);
    int fd = raw_connect(h->port);
    uint32_t len = htonl(1000);
    char part[300];
    memset(part, 'p', sizeof part);
    assert_int_equal(send(fd, &len, sizeof len, 0), (ssize_t)sizeof len);
    assert_int_equal(send(fd, part, sizeof part, 0), (ssize_t)sizeof part);
    WAIT_UNTIL(weft_server_live(h->srv) == 1);
    assert_int_equal(weft_sleep(0.05), 0); /* the handler waits for the other 700 */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd); /* RST */
    WAIT_UNTIL(h->nresults == 1);
    assert_int_equal(h->results[0], -ECONNRESET);
    assert_int_equal(h->kept[0], sizeof part);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_reset_mid_frame(void **state)
{
    (void)state;
    RUN_WITH(t_reset_mid_frame, &(hostile){0});
}

#ifdef WEFT_HAVE_TLS
static void tls_server(hostile *h, double handshake_timeout)
{
    weft_tls_opts so = {
        .cert_pem = test_cert_pem, .key_pem = test_key_pem, .handshake_timeout = handshake_timeout};
    assert_int_equal(weft_tls_server_ctx_new(&so, &h->tls), 0);
}

/* TLS, then a frame read as above. */
static int tls_frame_reader(weft_stream *s, void *arg)
{
    hostile *h = arg;
    weft_stream *tls;
    double t0 = weft_time();
    int rc = weft_tls_accept(s, h->tls, &tls);
    if (rc != 0) {
        record(h, rc, s, weft_time() - t0);
        return 0;
    }
    frame_reader(tls, h);
    WEFT_IGNORE(weft_stream_close(tls)); /* the peer is gone: nothing left to flush */
    return 0;
}

/* The peer resets in the middle of a TLS record: its header says 1024
 * bytes, 100 came. The TLS read reports the transport's -ECONNRESET. */
static int t_tls_reset_mid_record(void *arg)
{
    hostile *h = arg;
    tls_server(h, 0);
    serve(h, tls_frame_reader, NULL);
    weft_tls_opts co = {.ca_pem = test_cert_pem};
    weft_tls_ctx *cctx;
    assert_int_equal(weft_tls_client_ctx_new(&co, &cctx), 0);
    weft_stream *tcp, *tls;
    assert_int_equal(weft_tcp_connect("127.0.0.1", h->port, NULL, &tcp), 0);
    assert_int_equal(weft_tls_connect(tcp, cctx, "localhost", &tls), 0);
    uint32_t len = htonl(1000);
    assert_int_equal(weft_stream_write(tls, &len, sizeof len), 0);
    assert_int_equal(weft_stream_drain(tls), 0);
    /* Below TLS, on the transport it owns: half an application record. */
    char rec[105] = {0x17, 0x03, 0x03, 0x04, 0x00};
    memset(rec + 5, 'r', sizeof rec - 5);
    assert_int_equal(weft_stream_write(tcp, rec, sizeof rec), 0);
    assert_int_equal(weft_sleep(0.05), 0);
    weft_stream_abort(tls); /* RST */
    WAIT_UNTIL(h->nresults == 1);
    assert_int_equal(h->results[0], -ECONNRESET);
    assert_int_equal(h->kept[0], 0); /* nothing decrypted: nothing buffered */
    weft_tls_ctx_free(cctx);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    weft_tls_ctx_free(h->tls);
    return 0;
}

static void test_tls_reset_mid_record(void **state)
{
    (void)state;
    RUN_WITH(t_tls_reset_mid_record, &(hostile){0});
}

/* The peer starts a handshake (a record header and part of a ClientHello)
 * and stalls. weft_tls_accept gives up at the context's handshake timeout
 * with WEFT_ETIMEDOUT, and the handler ends. */
static int t_tls_stall(void *arg)
{
    hostile *h = arg;
    tls_server(h, 0.5);
    serve(h, tls_frame_reader, NULL);
    int fd = raw_connect(h->port);
    const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01,
                                   0x00, 0x01, 0xfc, 0x03, 0x03};
    assert_int_equal(send(fd, hello, sizeof hello, 0), (ssize_t)sizeof hello);
    WAIT_UNTIL(h->nresults == 1);
    assert_int_equal(h->results[0], WEFT_ETIMEDOUT);
    assert_true(h->took[0] >= 0.49 && h->took[0] < 3.0);
    WAIT_UNTIL(weft_server_live(h->srv) == 0); /* the handler ended: its place is free */
    char b[8];
    ssize_t r = recv(fd, b, sizeof b, 0); /* and the connection is closed */
    assert_true(r >= 0 || errno == ECONNRESET);
    close(fd);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    weft_tls_ctx_free(h->tls);
    return 0;
}

static void test_tls_stall_mid_handshake(void **state)
{
    (void)state;
    RUN_WITH(t_tls_stall, &(hostile){0});
}
#endif

/* ------------------------------------------------------------ connection floods */

/* 48 peers connect at once to a server of max_connections = 4: never more
 * than 4 handlers (and so streams and stacks) exist, the rest wait in the
 * kernel's backlog (documented: no error, no drop), and they are served as
 * places free up. */
#define CROWD 48

static int t_conn_flood(void *arg)
{
    hostile *h = arg;
    weft_net_opts o = {.max_connections = 4, .backlog = 64};
    serve(h, sleeper, &o);
    int fds[CROWD];
    for (int i = 0; i < CROWD; i++)
        fds[i] = raw_connect(h->port); /* completed by the kernel, queued */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(weft_sleep(0.01), 0);
        assert_true(weft_server_live(h->srv) <= 4);
    }
    struct weft_server_stats st;
    assert_int_equal(weft_server_stats(h->srv, &st), 0);
    assert_int_equal(st.live, 4);
    assert_int_equal(st.accepted, 4); /* the rest are the kernel's, not ours */
    h->release = 1;                   /* each handler ends, the next is taken */
    for (int i = 0; i < 500; i++) {
        assert_int_equal(weft_server_stats(h->srv, &st), 0);
        if (st.accepted == CROWD && st.live == 0)
            break;
        assert_int_equal(weft_sleep(0.01), 0);
    }
    assert_int_equal(st.accepted, CROWD);
    assert_int_equal(st.peak_live, 4);
    assert_int_equal(st.dropped_no_fd + st.dropped_no_memory + st.dropped_no_stack, 0);
    for (int i = 0; i < CROWD; i++)
        close(fds[i]);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_connection_flood_past_limit(void **state)
{
    (void)state;
    RUN_WITH(t_conn_flood, &(hostile){0});
}

/* A flood while the server is out of resources: no stack for handlers,
 * then no descriptors. Each connection is closed at once and counted, and
 * the log says so once per episode, not once per connection. */
static int echo_once(weft_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    int n = weft_stream_readline(s, line, sizeof line);
    if (n > 0)
        return weft_stream_write(s, line, (size_t)n);
    return 0;
}

/* The peer's side without blocking the loop (the server runs on it): polls
 * the raw socket, sleeping in between. Returns recv's last result. */
static ssize_t raw_recv(int fd, char *b, size_t n, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < 300; i++) {
        ssize_t r = recv(fd, b + got, n - got, MSG_DONTWAIT);
        if (r > 0 && (got += (size_t)r) >= want)
            return (ssize_t)got;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return r;
        assert_int_equal(weft_sleep(0.01), 0);
    }
    errno = ETIMEDOUT;
    return -1;
}

/* The server took the connection and closed it: EOF, or a reset. */
static void expect_closed(int fd)
{
    char b[8];
    ssize_t r = raw_recv(fd, b, sizeof b, 1);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    close(fd);
}

static void expect_served(hostile *h)
{
    int fd = raw_connect(h->port);
    char b[8];
    assert_int_equal(send(fd, "hi\n", 3, 0), 3);
    assert_int_equal(raw_recv(fd, b, sizeof b, 3), 3);
    close(fd);
}

static int t_resource_flood(void *arg)
{
    hostile *h = arg;
    /* A stack size of its own: every handler maps its stack (no pool). */
    weft_net_opts o = {.stack_size = 512 * 1024};
    serve(h, echo_once, &o);
    capture_start(WEFT_LOG_INFO);
    struct weft_server_stats st;

    /* No stack for two handlers in a row: one episode. */
    for (int i = 0; i < 2; i++) {
        int fd = raw_connect(h->port);
        weft__fault_arm(WEFT__FAULT_STACK, 1);
        expect_closed(fd);
        weft__fault_arm(WEFT__FAULT_STACK, 0);
    }
    assert_int_equal(weft_server_stats(h->srv, &st), 0);
    assert_int_equal(st.dropped_no_stack, 2);
    assert_int_equal(st.drop_episodes, 1);
    assert_int_equal(count_of(cap_buf, "dropping connections: no stack"), 1);
    expect_served(h); /* the episode ends */
    assert_int_equal(count_of(cap_buf, "serving again after dropping 2 connections"), 1);

    /* Out of descriptors with 8 connections waiting: all 8 shed at once. */
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = raw_connect(h->port);
    weft__fault_arm(WEFT__FAULT_SYSCALL, 1); /* the server's next accept: EMFILE */
    for (int i = 0; i < 8; i++)
        expect_closed(fds[i]);
    weft__fault_arm(WEFT__FAULT_SYSCALL, 0);
    assert_int_equal(weft_server_stats(h->srv, &st), 0);
    assert_int_equal(st.dropped_no_fd, 8);
    assert_int_equal(st.drop_episodes, 2);
    assert_int_equal(count_of(cap_buf, "dropping connections: out of file descriptors"), 1);
    assert_int_equal(st.live, 0); /* nothing held for them */
    expect_served(h);
    capture_stop();
    assert_int_equal(weft_server_stats(h->srv, &st), 0);
    assert_int_equal(st.accepted, 2 + 1 + 8 + 1);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_resource_flood(void **state)
{
    (void)state;
    RUN_WITH(t_resource_flood, &(hostile){0});
}

/* Out of descriptors with no reserve to shed with: the connection is not
 * dropped but left in the backlog, and the server tries again a moment
 * later (not in a busy loop) and serves it. */
static int t_no_reserve(void *arg)
{
    hostile *h = arg;
    weft__fault_arm(WEFT__FAULT_SYSCALL, 1); /* the reserve cannot be opened */
    serve(h, echo_once, NULL);
    weft__fault_arm(WEFT__FAULT_SYSCALL, 1); /* the first accept: EMFILE */
    struct weft_loop_stats before, after;
    assert_int_equal(weft_loop_stats(NULL, &before), 0);
    double t0 = weft_time();
    expect_served(h);
    assert_true(weft_time() - t0 >= 0.09); /* after the pause */
    assert_int_equal(weft_loop_stats(NULL, &after), 0);
    assert_true(after.iterations - before.iterations < 100); /* waited, did not spin */
    struct weft_server_stats st;
    assert_int_equal(weft_server_stats(h->srv, &st), 0);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.dropped_no_fd + st.drop_episodes, 0);
    assert_int_equal(weft_server_close(h->srv, 1.0), 0);
    return 0;
}

static void test_out_of_fds_without_reserve(void **state)
{
    (void)state;
    RUN_WITH(t_no_reserve, &(hostile){0});
}

/* ------------------------------------------------------------ close under sleeping handlers */

/* W8's partner server: its handlers sleep (?delay=0.1) for peers that are
 * gone (a killed worker) when the server is closed. Past the grace,
 * closing cancels each sleeping handler, and the sleep deadlines of those
 * still queued pass before they run (a turn runs WEFT_TASKS_PER_POLL): the
 * expired deadline must not wake a handler the cancel woke already. It did
 * (weft__park_until's timer did not look at the task's state): the handler
 * was queued twice, ran to its end, and was switched to again after it had
 * exited (ctx.c's unreachable). */
#define SLEEPERS 200 /* more than a turn runs (WEFT_TASKS_PER_POLL) */

static int sleepy_handler(weft_stream *s, void *arg)
{
    hostile *h = arg;
    char line[16];
    int rc = weft_stream_readline(s, line, sizeof line);
    if (rc > 0)
        rc = weft_sleep(0.1);
    usleep(2000);  /* some work after the wait: cancelled handlers outlast their deadlines */
    h->nresults++; /* ended once: counted once */
    return rc;
}

static int t_close_under_sleeping_handlers(void *arg)
{
    hostile *h = arg;
    serve(h, sleepy_handler, NULL);
    int fds[SLEEPERS];
    for (int i = 0; i < SLEEPERS; i++) {
        fds[i] = raw_connect(h->port);
        assert_int_equal(send(fds[i], "s\n", 2, 0), 2);
    }
    /* 200 accepts and spawns: up to 30 s, for Valgrind's pace. */
    for (int i = 0; i < 3000 && weft_server_live(h->srv) != SLEEPERS; i++)
        assert_int_equal(weft_sleep(0.01), 0);
    assert_int_equal(weft_server_live(h->srv), SLEEPERS);
    assert_int_equal(weft_sleep(0.01), 0); /* every handler is asleep */
    for (int i = 0; i < SLEEPERS; i++)
        close(fds[i]); /* the peers are gone */
    /* The grace ends before the handlers' deadlines: every handler is
     * cancelled, and more of them than a turn runs are still queued when
     * their deadlines pass. */
    capture_start(WEFT_LOG_ERROR); /* debug builds report a second wake, and drop it */
    assert_int_equal(weft_server_close(h->srv, 0.02), 0);
    assert_int_equal(h->nresults, SLEEPERS);
    /* The loop goes on: a handler queued twice would run again here. */
    assert_int_equal(weft_sleep(0.02), 0);
    capture_stop();
    assert_int_equal(count_of(cap_buf, "woken while not parked"), 0);
    assert_int_equal(h->nresults, SLEEPERS);
    return 0;
}

static void test_close_under_sleeping_handlers(void **state)
{
    (void)state;
    RUN_WITH(t_close_under_sleeping_handlers, &(hostile){0});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_flood_while_not_reading),
        cmocka_unit_test(test_reset_mid_frame),
#ifdef WEFT_HAVE_TLS
        cmocka_unit_test(test_tls_reset_mid_record),
        cmocka_unit_test(test_tls_stall_mid_handshake),
#endif
        cmocka_unit_test(test_connection_flood_past_limit),
        cmocka_unit_test(test_resource_flood),
        cmocka_unit_test(test_out_of_fds_without_reserve),
        cmocka_unit_test(test_close_under_sleeping_handlers),
    };
#ifdef WEFT_HAVE_TLS
    return cmocka_run_group_tests(tests, test_cert_setup, test_cert_teardown);
#else
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
