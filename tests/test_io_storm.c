/* Cancel/timeout storms for the waits that leave the loop: to_thread jobs,
 * cfutures of tasks on another loop's thread, TCP streams (an echo server
 * on loopback) and HTTP requests to the partner server. Each runs many
 * tasks whose waits are cut by a chaos task's cancels and by random short
 * timeout scopes (some expired before the wait starts), and ends by
 * accounting for every job, result, byte, request and file descriptor.
 * Seeded, so a failure replays (as far as threads and the kernel let it).
 * The compact pass (test_io_storm_compact) runs it with compact tasks
 * whose stacks are inaccessible while parked. */
/* weft:timeout=180 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "test_support.h"
#include "storm.h"
#ifdef WEFT_HAVE_HTTP
#include "http_test.h"
#endif

static weft_task *spawn(weft_fn fn, void *arg)
{
    return SPAWN(fn, arg);
}

/* Lets the loop run the closes it has begun. */
static void settle_loop(void)
{
    for (int i = 0; i < 5; i++)
        assert_int_equal(weft_sleep(0), 0);
    assert_int_equal(weft_sleep(0.01), 0);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------- to_thread */

#define TT_TASKS  8
#define TT_ROUNDS 100
#define TT_JOBS   (TT_TASKS * TT_ROUNDS)

typedef struct tt_job {
    int value;
    int nap_us;
    atomic_int runs;  /* times the job started: at most once */
    atomic_bool done; /* ran to its end */
    int outcome;      /* what to_thread returned to the task */
} tt_job;

static tt_job tt_jobs[TT_JOBS]; /* static: a job outlives a cancelled call */
static atomic_long tt_started, tt_finished;
static long tt_delivered, tt_abandoned;

static int tt_work(void *arg)
{
    tt_job *j = arg;
    atomic_fetch_add(&j->runs, 1);
    atomic_fetch_add(&tt_started, 1);
    if (j->nap_us > 0)
        usleep((useconds_t)j->nap_us); /* the blocking call */
    atomic_store(&j->done, true);
    atomic_fetch_add(&tt_finished, 1);
    return j->value;
}

static int do_to_thread(void *arg)
{
    return weft_to_thread(tt_work, arg);
}

static int tt_caller(void *arg)
{
    int base = (int)(intptr_t)arg * TT_ROUNDS;
    for (int i = 0; i < TT_ROUNDS; i++) {
        tt_job *j = &tt_jobs[base + i];
        j->value = (base + i) * 3 + 1;
        j->nap_us = storm_rnd(4) == 0 ? 0 : storm_rnd(300);
        int rc = storm_with_timeout(do_to_thread, j, 400);
        j->outcome = rc;
        if (rc == j->value) {
            /* Delivered: the job ran to its end, once. */
            if (!atomic_load(&j->done) || atomic_load(&j->runs) != 1)
                return -1000;
            tt_delivered++;
        } else if (storm_cut(rc)) {
            tt_abandoned++;
        } else {
            return rc < 0 ? rc : -1001;
        }
    }
    return 0;
}

static int to_thread_storm(void *arg)
{
    (void)arg;
    storm_begin(606);
    memset(tt_jobs, 0, sizeof tt_jobs);
    atomic_store(&tt_started, 0);
    atomic_store(&tt_finished, 0);
    tt_delivered = tt_abandoned = 0;
    weft_task *t[TT_TASKS];
    for (int i = 0; i < TT_TASKS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(tt_caller, (void *)(intptr_t)i);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < TT_TASKS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < TT_TASKS; i++)
        weft_task_free(t[i]);
    /* Every call came back once, with its result or cut short. */
    assert_int_equal(tt_delivered + tt_abandoned, TT_JOBS);
    /* Every job that started runs to its end, abandoned or not (their
     * calls have returned: the jobs still running are the abandoned
     * ones). */
    WAIT_UNTIL(atomic_load(&tt_finished) == atomic_load(&tt_started));
    long never = 0;
    for (int k = 0; k < TT_JOBS; k++) {
        tt_job *j = &tt_jobs[k];
        int runs = atomic_load(&j->runs);
        assert_true(runs <= 1);
        assert_true(runs == 0 || atomic_load(&j->done));
        if (runs == 0) {
            never++; /* taken back from the queue by its cancel */
            assert_true(storm_cut(j->outcome));
        }
    }
    assert_int_equal(atomic_load(&tt_started) + never, TT_JOBS);
    print_message("to_thread: %ld delivered, %ld abandoned (%ld never ran); %ld cancelled, "
                  "%ld timed out\n",
                  tt_delivered, tt_abandoned, never, storm_cancelled, storm_timedout);
    assert_true(tt_delivered > 0 && tt_abandoned > never && storm_cancelled > 0 &&
                storm_timedout > 0);
    return 0;
}

static void test_to_thread_storm(void **state)
{
    (void)state;
    RUN_WITH(to_thread_storm, NULL);
}

/* -------------------------------------------------------------- cfuture */

#define CF_TASKS  8
#define CF_ROUNDS 80
#define CF_JOBS   (CF_TASKS * CF_ROUNDS)

typedef struct cf_job {
    int value;
    int nap_us;
    atomic_int runs;
} cf_job;

static cf_job cf_jobs[CF_JOBS];
static atomic_long cf_started, cf_returned, cf_remote_cancelled;
static long cf_delivered, cf_abandoned;
static weft_loop *cf_loop; /* the loop thread's */

/* Runs on the loop thread's loop. */
static int cf_remote(void *arg)
{
    cf_job *j = arg;
    atomic_fetch_add(&j->runs, 1);
    atomic_fetch_add(&cf_started, 1);
    int rc = weft_sleep(j->nap_us * 1e-6);
    if (rc != 0) {
        atomic_fetch_add(&cf_remote_cancelled, 1);
        return rc;
    }
    atomic_fetch_add(&cf_returned, 1);
    return j->value;
}

static int do_cf_await(void *arg)
{
    return weft_cfuture_await(arg);
}

static int cf_caller(void *arg)
{
    int base = (int)(intptr_t)arg * CF_ROUNDS;
    for (int i = 0; i < CF_ROUNDS; i++) {
        cf_job *j = &cf_jobs[base + i];
        j->value = (base + i) * 5 + 2;
        j->nap_us = storm_rnd(4) == 0 ? 0 : storm_rnd(300);
        weft_cfuture *cf;
        if (weft_submit(cf_loop, cf_remote, j, &cf) != 0)
            return -1100;
        int rc = storm_with_timeout(do_cf_await, cf, 400);
        if (rc == j->value) {
            if (!weft_cfuture_done(cf) || weft_cfuture_result(cf, 0) != j->value)
                return -1101;
            cf_delivered++;
        } else if (storm_cut(rc)) {
            /* Cancelling the awaiter cancelled the future: done now, with
             * ECANCELED, or with the value if the task beat the cancel. */
            if (!weft_cfuture_done(cf))
                return -1102;
            int r = weft_cfuture_result(cf, 0);
            if (r != WEFT_ECANCELED && r != j->value)
                return -1103;
            cf_abandoned++;
        } else {
            return rc < 0 ? rc : -1104;
        }
        weft_cfuture_free(cf);
    }
    return 0;
}

static int cfuture_storm(void *arg)
{
    weft_loop_thread *lt = arg;
    storm_begin(909);
    memset(cf_jobs, 0, sizeof cf_jobs);
    atomic_store(&cf_started, 0);
    atomic_store(&cf_returned, 0);
    atomic_store(&cf_remote_cancelled, 0);
    cf_delivered = cf_abandoned = 0;
    cf_loop = weft_loop_thread_loop(lt);
    weft_task *t[CF_TASKS];
    for (int i = 0; i < CF_TASKS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(cf_caller, (void *)(intptr_t)i);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)100);
    for (int i = 0; i < CF_TASKS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < CF_TASKS; i++)
        weft_task_free(t[i]);
    assert_int_equal(cf_delivered + cf_abandoned, CF_JOBS);
    print_message("cfuture: %ld delivered, %ld abandoned; %ld cancelled, %ld timed out\n",
                  cf_delivered, cf_abandoned, storm_cancelled, storm_timedout);
    assert_true(cf_delivered > 0 && cf_abandoned > 0 && storm_cancelled > 0 && storm_timedout > 0);
    return 0;
}

static void test_cfuture_storm(void **state)
{
    (void)state;
    weft_loop_thread *lt;
    assert_int_equal(weft_loop_thread_start(&lt), 0);
    RUN_WITH(cfuture_storm, lt);
    /* Stopping cancels the remote tasks left and waits for them: then
     * every one that started has ended, returned or cancelled, once. */
    assert_int_equal(weft_loop_thread_stop(lt), 0);
    weft_loop_thread_free(lt);
    assert_int_equal(atomic_load(&cf_started),
                     atomic_load(&cf_returned) + atomic_load(&cf_remote_cancelled));
    assert_true(atomic_load(&cf_returned) >= cf_delivered);
    for (int k = 0; k < CF_JOBS; k++)
        assert_true(atomic_load(&cf_jobs[k].runs) <= 1);
}

/* ---------------------------------------------------------------- streams */

#define ST_CLIENTS 8
#define ST_CONNS   12 /* connections per client */
#define ST_MSGS    24 /* messages per connection at most */
#define ST_IDS     (ST_CLIENTS * ST_CONNS)

/* Per connection, by id (the client sends it first). */
typedef struct st_conn {
    long sent, received; /* the client's */
    long server_read, server_wrote;
    bool used, graceful, handled;
} st_conn;

static st_conn st[ST_IDS];
static int st_port;
static long st_connect_cut, st_graceful, st_abandoned;

static uint8_t st_byte(int id, long off)
{
    return (uint8_t)(off * 31 + id * 7 + (off >> 8));
}

static int echo_handler(weft_stream *s, void *arg)
{
    (void)arg;
    uint32_t id;
    if (weft_stream_read_exactly(s, &id, sizeof id) != 0 || id >= ST_IDS)
        return 0; /* a client cut before its id was out: nothing to count */
    st_conn *c = &st[id];
    c->handled = true;
    char buf[4096];
    for (;;) {
        int n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            break; /* end of stream, a reset, or the server closing */
        c->server_read += n;
        if (weft_stream_write(s, buf, (size_t)n) != 0)
            break; /* the client went away */
        c->server_wrote += n;
    }
    return 0;
}

typedef struct st_io {
    weft_stream *s;
    void *buf;
    size_t n;
} st_io;

static int do_connect(void *arg)
{
    return weft_tcp_connect("127.0.0.1", st_port, NULL, arg);
}

static int do_write(void *arg)
{
    st_io *io = arg;
    return weft_stream_write(io->s, io->buf, io->n);
}

static int do_read(void *arg)
{
    st_io *io = arg;
    return weft_stream_read(io->s, io->buf, io->n);
}

/* Reads what the echo sends back, checking every byte; the bytes of a cut
 * read stay buffered for the next. */
static int st_read_some(weft_stream *s, int id)
{
    st_conn *c = &st[id];
    uint8_t buf[4096];
    st_io io = {s, buf, sizeof buf};
    int n = storm_with_timeout(do_read, &io, 300);
    if (n <= 0)
        return n == 0 ? -1200 : n; /* the echo never ends first */
    for (int i = 0; i < n; i++)
        if (buf[i] != st_byte(id, c->received + i))
            return -1201;
    c->received += n;
    return n;
}

static int st_client(void *arg)
{
    int first = (int)(intptr_t)arg * ST_CONNS;
    uint8_t msg[4000];
    for (int id = first; id < first + ST_CONNS; id++) {
        st_conn *c = &st[id];
        weft_stream *s;
        int rc = storm_with_timeout(do_connect, &s, 2000);
        if (storm_cut(rc)) {
            st_connect_cut++;
            continue;
        }
        if (rc != 0)
            return rc;
        c->used = true;
        uint32_t id32 = (uint32_t)id;
        if (weft_stream_write(s, &id32, sizeof id32) != 0) {
            /* a cancel cut the write short: queued anyway, but keep it simple */
            storm_absorb();
            weft_stream_abort(s);
            continue;
        }
        bool abandon = false;
        int msgs = 1 + storm_rnd(ST_MSGS);
        for (int m = 0; m < msgs && !abandon; m++) {
            size_t n = 1 + (size_t)storm_rnd((int)sizeof msg);
            for (size_t i = 0; i < n; i++)
                msg[i] = st_byte(id, c->sent + (long)i);
            st_io io = {s, msg, n};
            rc = storm_with_timeout(do_write, &io, 300);
            if (rc != 0 && !storm_cut(rc))
                return rc;
            c->sent += (long)n; /* a cut write has queued all n bytes */
            /* Keep what is in flight small, so neither side's writes wait
             * on the other's reads for long. */
            while (!abandon && c->sent - c->received > 8192) {
                rc = st_read_some(s, id);
                if (storm_cut(rc))
                    abandon = storm_rnd(4) == 0;
                else if (rc < 0)
                    return rc;
            }
            if (!abandon && storm_rnd(2) == 0) {
                rc = st_read_some(s, id);
                if (storm_cut(rc))
                    abandon = storm_rnd(4) == 0;
                else if (rc < 0)
                    return rc;
            }
        }
        if (!abandon) {
            /* Half-close and read the echo to its end, then the end of the
             * stream: every byte comes back. A cut here is retried, or
             * now and then abandons the connection after all. */
            if (weft_stream_write_eof(s) != 0)
                return -1202;
            while (!abandon && c->received < c->sent) {
                rc = st_read_some(s, id);
                if (storm_cut(rc))
                    abandon = storm_rnd(4) == 0;
                else if (rc < 0)
                    return rc;
            }
            for (;;) {
                if (abandon)
                    break;
                uint8_t b;
                st_io io = {s, &b, 1};
                rc = storm_with_timeout(do_read, &io, 300);
                if (rc == 0)
                    break;
                if (!storm_cut(rc))
                    return -1203; /* nothing after the echo */
                abandon = storm_rnd(4) == 0;
            }
        }
        c->graceful = !abandon;
        if (abandon) {
            st_abandoned++;
            if (storm_rnd(2) == 0) {
                weft_stream_abort(s);
                continue;
            }
        } else {
            st_graceful++;
        }
        rc = weft_stream_close(s); /* closed whatever it returns */
        if (storm_cut(rc))
            storm_absorb();
    }
    return 0;
}

static int stream_storm(void *arg)
{
    (void)arg;
    storm_begin(4040);
    memset(st, 0, sizeof st);
    st_connect_cut = st_graceful = st_abandoned = 0;
    weft_server *srv;
    assert_int_equal(weft_tcp_serve("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    st_port = weft_server_port(srv);
    /* Counted after a first connection has come and gone: libuv keeps a
     * spare descriptor per loop from its first stream on (for EMFILE). */
    weft_stream *warm;
    assert_int_equal(weft_tcp_connect("127.0.0.1", st_port, NULL, &warm), 0);
    weft_stream_abort(warm);
    WAIT_UNTIL(weft_server_accepted(srv) == 1 && weft_server_live(srv) == 0);
    settle_loop();
    int fds = count_fds();
    weft_task *t[ST_CLIENTS];
    for (int i = 0; i < ST_CLIENTS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(st_client, (void *)(intptr_t)i);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)200);
    for (int i = 0; i < ST_CLIENTS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < ST_CLIENTS; i++)
        weft_task_free(t[i]);
    /* Every client has closed its side: the handlers see the end and
     * return, and no descriptor is left behind, the server's or the
     * clients'. */
    WAIT_UNTIL(weft_server_live(srv) == 0);
    settle_loop();
    assert_int_equal(count_fds(), fds);
    assert_int_equal(weft_server_close(srv, 5), 0);
    long sent = 0, received = 0, wrote = 0, lost = 0;
    for (int id = 0; id < ST_IDS; id++) {
        st_conn *c = &st[id];
        if (!c->used)
            continue;
        if (c->graceful) {
            /* Every byte went there and back. */
            assert_true(c->handled);
            assert_int_equal(c->received, c->sent);
            assert_int_equal(c->server_read, c->sent);
            assert_int_equal(c->server_wrote, c->sent);
        } else {
            /* Abandoned: what the client received the server wrote, what
             * the server wrote it read, and it read no more than sent. */
            assert_true(c->received <= c->server_wrote);
            assert_true(c->server_wrote <= c->server_read);
            assert_true(c->server_read <= c->sent);
        }
        sent += c->sent;
        received += c->received;
        wrote += c->server_wrote;
        if (!c->graceful)
            lost += c->server_wrote - c->received;
    }
    /* The server's bytes: received by a client, or abandoned with a
     * closed connection. */
    assert_int_equal(wrote, received + lost);
    print_message("streams: %ld graceful, %ld abandoned, %ld connects cut; %ld bytes sent, "
                  "%ld echoed, %ld abandoned; %ld cancelled, %ld timed out\n",
                  st_graceful, st_abandoned, st_connect_cut, sent, wrote, lost, storm_cancelled,
                  storm_timedout);
    assert_true(st_graceful > 0 && st_abandoned > 0 && storm_cancelled > 0 && storm_timedout > 0);
    return 0;
}

static void test_stream_storm(void **state)
{
    (void)state;
    RUN_WITH(stream_storm, NULL);
}

/* ------------------------------------------------------------------ HTTP */

#ifdef WEFT_HAVE_HTTP

#define HT_TASKS  8
#define HT_ROUNDS 40

typedef struct ht_ctx {
    HTTP_TEST;
} ht_ctx;

static ht_ctx *ht;
static long ht_whole, ht_streamed, ht_cut, ht_bytes;

typedef struct ht_req {
    weft_http_req req;
    weft_http_response *resp;
} ht_req;

static int do_request(void *arg)
{
    ht_req *r = arg;
    return weft_http_request(ht->s, &r->req, &r->resp);
}

typedef struct ht_read {
    weft_http_response *resp;
    char *buf;
    size_t n;
} ht_read;

static int do_body_read(void *arg)
{
    ht_read *r = arg;
    return weft_http_response_read(r->resp, r->buf, r->n);
}

static bool all_x(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 'x')
            return false;
    return true;
}

static int ht_client(void *arg)
{
    (void)arg;
    for (int i = 0; i < HT_ROUNDS; i++) {
        int len = storm_rnd(3) == 0 ? 100000 + storm_rnd(100000) : 1 + storm_rnd(5000);
        char url[96];
        if (storm_rnd(2) == 0)
            snprintf(url, sizeof url, "/?len=%d&delay=%g", len, storm_rnd(500) * 1e-6);
        else
            snprintf(url, sizeof url, "/?len=%d&slow=%g&chunk=%d", len, storm_rnd(200) * 1e-6,
                     1024 + storm_rnd(32768));
        ht_req r = {.req = {.url = url, .stream = storm_rnd(2)}};
        int rc = storm_with_timeout(do_request, &r, 3000);
        if (storm_cut(rc)) {
            ht_cut++;
            continue;
        }
        if (rc != 0)
            return rc;
        if (weft_http_response_status(r.resp) != 200)
            return -1300;
        if (!r.req.stream) {
            /* The whole body, checked as it arrives. */
            size_t n;
            const char *body = weft_http_response_body(r.resp, &n);
            if (n != (size_t)len || !all_x(body, n))
                return -1301;
            ht_whole++;
            ht_bytes += (long)n;
        } else {
            char buf[8192];
            ht_read rd = {r.resp, buf, sizeof buf};
            long got = 0;
            for (;;) {
                rc = storm_with_timeout(do_body_read, &rd, 2000);
                if (rc <= 0)
                    break;
                if (!all_x(buf, (size_t)rc))
                    return -1302;
                got += rc;
            }
            if (storm_cut(rc)) {
                ht_cut++; /* abandoned: freeing it closes its connection */
            } else if (rc != 0 || got != len) {
                return rc ? rc : -1303;
            } else {
                ht_streamed++;
                ht_bytes += got;
            }
        }
        weft_http_response_free(r.resp);
    }
    return 0;
}

static int http_storm(void *arg)
{
    ht = arg;
    storm_begin(8118);
    ht_whole = ht_streamed = ht_cut = ht_bytes = 0;
    weft_task *t[HT_TASKS];
    for (int i = 0; i < HT_TASKS; i++)
        storm_victims[storm_n_victims++] = t[i] = spawn(ht_client, NULL);
    weft_task *ch = spawn(storm_chaos, (void *)(intptr_t)500);
    for (int i = 0; i < HT_TASKS; i++)
        assert_int_equal(weft_await(t[i]), 0);
    storm_chaos_stop(ch);
    for (int i = 0; i < HT_TASKS; i++)
        weft_task_free(t[i]);
    assert_int_equal(ht_whole + ht_streamed + ht_cut, HT_TASKS * HT_ROUNDS);
    assert_true(http_server_requests(ht->srv) >= (unsigned)(ht_whole + ht_streamed));
    /* The session still works after the storm. */
    weft_http_response *resp;
    assert_int_equal(weft_http_get(ht->s, "/?len=10", &resp), 0);
    assert_int_equal(weft_http_response_status(resp), 200);
    weft_http_response_free(resp);
    print_message("http: %ld whole, %ld streamed, %ld cut (%ld bytes checked); %ld cancelled, "
                  "%ld timed out\n",
                  ht_whole, ht_streamed, ht_cut, ht_bytes, storm_cancelled, storm_timedout);
    assert_true(ht_whole > 0 && ht_streamed > 0 && ht_cut > 0);
    assert_true(storm_cancelled > 0 && storm_timedout > 0);
    return 0;
}

static void test_http_storm(void **state)
{
    (void)state;
    RUN_HTTP(http_storm, ht_ctx, NULL); /* warms up what curl keeps for the process */
    int fds = count_fds();
    RUN_HTTP(http_storm, ht_ctx, NULL);
    /* The session and the server closed every connection. */
    assert_int_equal(count_fds(), fds);
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_thread_storm),
        cmocka_unit_test(test_cfuture_storm),
        cmocka_unit_test(test_stream_storm),
#ifdef WEFT_HAVE_HTTP
        cmocka_unit_test(test_http_storm),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
