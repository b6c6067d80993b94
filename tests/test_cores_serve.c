#define _GNU_SOURCE
/* A server on every loop of a group (weft_loop_group_serve_tcp / _unix):
 * 200 connections land on both loops of a 2-loop group, at least 25 %
 * each (SO_REUSEPORT for TCP, the round-robin handoff for Unix sockets);
 * a graceful stop with clients mid-request answers or closes every
 * accepted connection, none is left hanging; reuse_port on weft_tcp_serve;
 * bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fault.h"
#include "weft.h"
#include "test_support.h"

#define CLIENTS 200

/* Answers each line with the index of the loop that serves it. */
static int who_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    int n;
    while ((n = weft_stream_readline(s, line, sizeof line)) > 0) {
        char reply[16];
        int len = snprintf(reply, sizeof reply, "%d\n", weft_loop_group_index());
        int rc = weft_stream_write(s, reply, (size_t)len);
        if (rc != 0)
            return rc;
    }
    return n;
}

typedef struct target {
    weft_spread_server *srv;
    const char *path; /* NULL: TCP */
    int port;
    int per_loop[2];
} target;

static int open_client(const target *t, weft_stream **s)
{
    return t->path ? weft_unix_connect(t->path, NULL, s)
                   : weft_tcp_connect("127.0.0.1", t->port, NULL, s);
}

/* Holds CLIENTS connections open at once, asks each which loop serves
 * it, then reads the per-loop counters from this task (it parks). */
static int main_spread(void *arg)
{
    target *t = arg;
    static weft_stream *s[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(open_client(t, &s[i]), 0);
        assert_int_equal(weft_stream_write(s[i], "who\n", 4), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        char line[16];
        assert_int_equal(weft_stream_readline(s[i], line, sizeof line), 2);
        int loop = line[0] - '0';
        assert_true(loop == 0 || loop == 1);
        t->per_loop[loop]++;
    }
    struct weft_server_stats st0, st1, sum;
    assert_int_equal(weft_spread_server_stats(t->srv, 0, &st0), 0);
    assert_int_equal(weft_spread_server_stats(t->srv, 1, &st1), 0);
    assert_int_equal(weft_spread_server_stats(t->srv, -1, &sum), 0);
    assert_int_equal(st0.live, (size_t)t->per_loop[0]);
    assert_int_equal(st1.live, (size_t)t->per_loop[1]);
    assert_int_equal(sum.accepted, CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(weft_stream_close(s[i]), 0);
    return 0;
}

static void check_spread(target *t)
{
    assert_int_equal(weft_run(main_spread, t), 0);
    /* at least 25 % on each loop */
    assert_true(t->per_loop[0] >= CLIENTS / 4);
    assert_true(t->per_loop[1] >= CLIENTS / 4);
    assert_int_equal(t->per_loop[0] + t->per_loop[1], CLIENTS);
}

static void test_tcp_connections_land_on_both_loops(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    target t = {0};
    /* from a plain thread: the call blocks until every loop listens */
    assert_int_equal(weft_loop_group_serve_tcp(g, "127.0.0.1", 0, who_handler, NULL, NULL, &t.srv),
                     0);
    assert_int_equal(weft_spread_server_reuses_port(t.srv), 1);
    t.port = weft_spread_server_port(t.srv);
    assert_true(t.port > 0);
    check_spread(&t);
    assert_int_equal(weft_spread_server_close(t.srv, 1.0), 0);
    weft_loop_group_free(g);
}

static void test_unix_connections_handed_round(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-test-cores-%d.sock", (int)getpid());
    unlink(path);
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    target t = {.path = path};
    assert_int_equal(weft_loop_group_serve_unix(g, path, who_handler, NULL, NULL, &t.srv), 0);
    assert_int_equal(weft_spread_server_reuses_port(t.srv), 0);
    assert_int_equal(weft_spread_server_port(t.srv), -EINVAL);
    check_spread(&t);
    /* one acceptor hands them round: exactly half each */
    assert_int_equal(t.per_loop[0], CLIENTS / 2);
    assert_int_equal(weft_spread_server_close(t.srv, 1.0), 0);
    assert_int_equal(access(path, F_OK), -1); /* the socket file is gone */
    weft_loop_group_free(g);
}

/* ---------------------------------------------------------- graceful stop */

#define MID 40

/* Takes a request, works on it for 0.2 s, answers. */
static int slow_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    int n;
    while ((n = weft_stream_readline(s, line, sizeof line)) > 0) {
        int rc = weft_sleep(0.2);
        if (rc == 0)
            rc = weft_stream_write(s, "done\n", 5);
        if (rc != 0)
            return rc;
    }
    return n;
}

typedef struct stop_case {
    target t;
    double grace;
    int answered, closed, hung;
    int close_rc;
} stop_case;

static stop_case *current_case;

/* A client: one request; then the answer, or the end of the stream. */
static int client(void *arg)
{
    weft_stream *s = arg;
    stop_case *c = current_case;
    char line[16];
    weft_timeout *to;
    int rc = weft_timeout_begin(5.0, &to);
    if (rc != 0)
        return rc;
    rc = weft_stream_readline(s, line, sizeof line);
    rc = weft_timeout_end(to, rc);
    if (rc == 5 && memcmp(line, "done\n", 5) == 0)
        c->answered++;
    else if (rc == 0 || rc == -ECONNRESET)
        c->closed++;
    else
        c->hung++;
    WEFT_IGNORE(weft_stream_close(s)); /* a reset peer: nothing to flush */
    return 0;
}

static int closer(void *arg)
{
    stop_case *c = arg;
    c->close_rc = weft_spread_server_close(c->t.srv, c->grace);
    return 0;
}

static int main_stop(void *arg)
{
    stop_case *c = arg;
    current_case = c;
    weft_stream *s[MID];
    weft_task *tasks[MID];
    for (int i = 0; i < MID; i++) {
        assert_int_equal(weft_tcp_connect("127.0.0.1", c->t.port, NULL, &s[i]), 0);
        assert_int_equal(weft_stream_write(s[i], "work\n", 5), 0);
        tasks[i] = SPAWN(client, s[i]);
    }
    /* every connection accepted and its request being worked on */
    struct weft_server_stats sum = {0};
    for (int i = 0; i < 300; i++) {
        assert_int_equal(weft_spread_server_stats(c->t.srv, -1, &sum), 0);
        if (sum.live == MID)
            break;
        assert_int_equal(weft_sleep(0.005), 0);
    }
    assert_int_equal(sum.live, MID);
    weft_task *cl = SPAWN(closer, c);
    assert_int_equal(weft_gather(tasks, MID, 0), 0);
    assert_int_equal(weft_await(cl), 0);
    for (int i = 0; i < MID; i++)
        weft_task_free(tasks[i]);
    weft_task_free(cl);
    return 0;
}

static void run_stop(double grace, stop_case *c)
{
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    c->grace = grace;
    assert_int_equal(
        weft_loop_group_serve_tcp(g, "127.0.0.1", 0, slow_handler, NULL, NULL, &c->t.srv), 0);
    c->t.port = weft_spread_server_port(c->t.srv);
    assert_int_equal(weft_run(main_stop, c), 0);
    assert_int_equal(c->hung, 0);
    assert_int_equal(c->answered + c->closed, MID);
    weft_loop_group_free(g);
}

/* Round-robin mode with max_connections: each loop serves at most its
 * limit (the acceptor counts what it handed each loop), the rest wait in
 * the backlog, and are served as connections end on either loop. */
enum { LIMIT = 2, OVER = 3 };

/* Holds the connection until the client closes it. */
static int hold_handler(weft_stream *s, void *arg)
{
    (void)arg;
    char line[8];
    while (weft_stream_readline(s, line, sizeof line) > 0) {
    }
    return 0;
}

typedef struct limited {
    weft_spread_server *srv;
    const char *path;
} limited;

static struct weft_server_stats loop_stats(weft_spread_server *srv, int i)
{
    struct weft_server_stats st;
    assert_int_equal(weft_spread_server_stats(srv, i, &st), 0);
    return st;
}

static int main_limited(void *arg)
{
    limited *t = arg;
    enum { HOLDERS = 2 * LIMIT + OVER };
    weft_stream *s[HOLDERS];
    for (int i = 0; i < HOLDERS; i++) /* the kernel completes them all */
        assert_int_equal(weft_unix_connect(t->path, NULL, &s[i]), 0);
    WAIT_UNTIL(loop_stats(t->srv, -1).live == 2 * LIMIT);
    assert_int_equal(weft_sleep(0.2), 0); /* no more are taken */
    assert_int_equal(loop_stats(t->srv, 0).live, LIMIT);
    assert_int_equal(loop_stats(t->srv, 1).live, LIMIT);
    assert_int_equal(loop_stats(t->srv, -1).accepted, 2 * LIMIT);
    /* The first ones end: those waiting are served, each loop at most at
     * its limit. */
    for (int i = 0; i < OVER; i++)
        assert_int_equal(weft_stream_close(s[i]), 0);
    WAIT_UNTIL(loop_stats(t->srv, -1).accepted == HOLDERS &&
               loop_stats(t->srv, -1).live == HOLDERS - OVER);
    assert_true(loop_stats(t->srv, 0).peak_live <= LIMIT);
    assert_true(loop_stats(t->srv, 1).peak_live <= LIMIT);
    for (int i = OVER; i < HOLDERS; i++)
        assert_int_equal(weft_stream_close(s[i]), 0);
    WAIT_UNTIL(loop_stats(t->srv, -1).live == 0);
    return 0;
}

static void test_unix_round_robin_keeps_each_loop_within_its_limit(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-test-cores-lim-%d.sock", (int)getpid());
    unlink(path);
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    weft_net_opts nopts = {.max_connections = LIMIT};
    limited t = {.path = path};
    assert_int_equal(weft_loop_group_serve_unix(g, path, hold_handler, NULL, &nopts, &t.srv), 0);
    assert_int_equal(weft_spread_server_reuses_port(t.srv), 0);
    assert_int_equal(weft_run(main_limited, &t), 0);
    assert_int_equal(weft_spread_server_close(t.srv, 1.0), 0);
    weft_loop_group_free(g);
}

/* With a grace period: every request in flight is answered. */
static void test_graceful_stop_answers_every_request(void **state)
{
    (void)state;
    stop_case c = {0};
    run_stop(5.0, &c);
    assert_int_equal(c.answered, MID);
    assert_int_equal(c.close_rc, 0);
}

/* Without one: the handlers are cancelled, and every client sees its
 * connection closed at once (none waits in silence). */
static void test_stop_without_grace_closes_every_connection(void **state)
{
    (void)state;
    stop_case c = {0};
    run_stop(0, &c);
    assert_int_equal(c.closed, MID);
    assert_int_equal(c.close_rc, 0);
}

/* ---------------------------------------------------------- reuse_port */

static int main_reuse(void *arg)
{
    (void)arg;
    weft_net_opts o = {.reuse_port = 1};
    weft_server *a, *b, *c;
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, who_handler, NULL, &o, &a), 0);
    int port = weft_server_port(a);
    assert_int_equal(weft_tcp_serve("127.0.0.1", port, who_handler, NULL, &o, &b), 0);
    weft_net_opts plain = {0};
    assert_int_equal(weft_tcp_serve("127.0.0.1", port, who_handler, NULL, &plain, &c), -EADDRINUSE);
    weft_net_opts bad = {.reuse_port = 2};
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, who_handler, NULL, &bad, &c), -EINVAL);
    assert_int_equal(weft_server_close(a, 0), 0);
    assert_int_equal(weft_server_close(b, 0), 0);
    return 0;
}

static void test_reuse_port_option(void **state)
{
    (void)state;
    assert_int_equal(weft_run(main_reuse, NULL), 0);
}

/* Each allocation of a serve, its stats and its close fails in turn: a
 * clear code, no socket file left behind, nothing leaked (ASan). */
static void test_allocation_failures(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 2};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-test-cores-af-%d.sock", (int)getpid());
    int clean = 0;
    for (long n = 1; n < 300 && clean < 3; n++) {
        weft_spread_server *s = NULL;
        unlink(path);
        weft__fault_arm(WEFT__FAULT_ALLOC, n);
        int rc = n % 2 ? weft_loop_group_serve_tcp(g, "127.0.0.1", 0, who_handler, NULL, NULL, &s)
                       : weft_loop_group_serve_unix(g, path, who_handler, NULL, NULL, &s);
        weft__fault_arm(WEFT__FAULT_ALLOC, 0);
        if (rc != 0) {
            assert_true(rc == -ENOMEM || rc == WEFT_ESTACK);
            assert_null(s);
            assert_int_equal(access(path, F_OK), -1); /* no socket file left */
            clean = 0;
            continue;
        }
        weft__fault_arm(WEFT__FAULT_ALLOC, 1);
        struct weft_server_stats st;
        int src = weft_spread_server_stats(s, -1, &st);
        weft__fault_arm(WEFT__FAULT_ALLOC, 0);
        assert_true(src == 0 || src == -ENOMEM);
        assert_int_equal(weft_spread_server_close(s, 0), 0);
        clean++;
    }
    assert_int_equal(clean, 3);
    weft_loop_group_free(g);
}

static void test_bad_input(void **state)
{
    (void)state;
    weft_loop_group_opts o = {.loops = 1};
    weft_loop_group *g;
    assert_int_equal(weft_loop_group_new(&o, &g), 0);
    weft_spread_server *s = (weft_spread_server *)1;
    assert_int_equal(weft_loop_group_serve_tcp(NULL, "127.0.0.1", 0, who_handler, NULL, NULL, &s),
                     -EINVAL);
    assert_null(s);
    assert_int_equal(weft_loop_group_serve_tcp(g, "127.0.0.1", 0, NULL, NULL, NULL, &s), -EINVAL);
    assert_int_equal(weft_loop_group_serve_tcp(g, "127.0.0.1", 70000, who_handler, NULL, NULL, &s),
                     -EINVAL);
    assert_int_equal(weft_loop_group_serve_tcp(g, "127.0.0.1", 0, who_handler, NULL, NULL, NULL),
                     -EINVAL);
    weft_net_opts reuse = {.reuse_port = 1};
    assert_int_equal(weft_loop_group_serve_unix(g, "/tmp/x.sock", who_handler, NULL, &reuse, &s),
                     -EINVAL);
    assert_int_equal(weft_loop_group_serve_unix(g, NULL, who_handler, NULL, NULL, &s), -EINVAL);
    /* an address nobody can bind: the error, and nothing left listening */
    assert_int_equal(weft_loop_group_serve_tcp(g, "192.0.2.1", 0, who_handler, NULL, NULL, &s),
                     -EADDRNOTAVAIL);
    assert_null(s);
    assert_int_equal(weft_spread_server_port(NULL), -EINVAL);
    assert_int_equal(weft_spread_server_close(NULL, 0), -EINVAL);
    struct weft_server_stats st;
    assert_int_equal(weft_spread_server_stats(NULL, 0, &st), -EINVAL);
    weft_loop_group_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_connections_land_on_both_loops),
        cmocka_unit_test(test_unix_connections_handed_round),
        cmocka_unit_test(test_unix_round_robin_keeps_each_loop_within_its_limit),
        cmocka_unit_test(test_graceful_stop_answers_every_request),
        cmocka_unit_test(test_stop_without_grace_closes_every_connection),
        cmocka_unit_test(test_reuse_port_option),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
