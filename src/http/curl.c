/* curl: libcurl's multi-socket API driven by weft's loop. libcurl says
 * which sockets to watch (one uv_poll_t each, on the loop's libuv loop) and
 * when to call it back (one weft__timer); our callbacks run on the
 * scheduler's stack, feed events to curl_multi_socket_action, and wake the
 * tasks whose transfers made progress. libcurl is never called from inside
 * its own socket or timer callback: work is deferred through the timer. */
#define _GNU_SOURCE /* dup3 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http.h"

static void drain(weft_http_session *s);

/* ------------------------------------------------------------ sockets */

static void sock_free_if_done(weft__http_sock *k)
{
    if (!k->known && !k->poll_open) {
        weft__list_remove(&k->link);
        free(k);
    }
}

static void sock_closed_cb(uv_handle_t *h)
{
    weft__http_sock *k = WEFT_CONTAINER_OF((uv_poll_t *)h, weft__http_sock, poll);
    k->poll_open = false;
    sock_free_if_done(k);
}

/* Stops watching the socket: closes the poll handle while the fd is still
 * open (libcurl closes it right after), and forgets the fd. */
static void sock_unwatch(weft__http_sock *k)
{
    weft_http_session *s = k->session;
    if (s && (size_t)k->fd < s->by_fd_cap && s->by_fd[k->fd] == k)
        s->by_fd[k->fd] = NULL;
    if (k->poll_open && !k->closing) {
        k->closing = true;
        uv_close((uv_handle_t *)&k->poll, sock_closed_cb);
    }
}

/* ClientTimeout.read counts bytes, not lines: a byte for a transfer on
 * this socket is activity, even in the middle of a header line that
 * libcurl has not handed over yet. */
static void bytes_arrived(weft_http_session *s, const weft__http_sock *k)
{
    uint64_t now = weft__now_ns();
    for (weft__link *l = s->transfers.next; l != &s->transfers; l = l->next) {
        weft_http_response *t = WEFT_CONTAINER_OF(l, weft_http_response, link);
        if (t->in_multi && t->easy == k->easy)
            t->last_activity = now;
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    weft__http_sock *k = WEFT_CONTAINER_OF(h, weft__http_sock, poll);
    weft_http_session *s = k->session;
    k->wakeups++;
    if (k->idle) {
        /* A pooled connection stirred. An HTTP/1 server has nothing to say
         * between responses: bytes now are the tail of a response that was
         * longer than its framing, and the next request would read them
         * as its own answer. Such a connection is never reused. Otherwise
         * (the peer closed it; HTTP/2's own frames) libcurl checks it
         * before reuse: stop polling until it asks again. */
        if (s->owned[k->fd] & WEFT__HTTP_H1) {
            weft__http_forbid_reuse(s, k->fd);
            return;
        }
        uv_poll_stop(&k->poll);
        k->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0) {
        /* libuv stopped the watcher: libcurl must hear of the error, and a
         * later request for events must start it again. */
        flags = CURL_CSELECT_ERR;
        k->events = 0;
        s->poll_errors++;
    } else {
        if (events & (UV_READABLE | UV_DISCONNECT))
            flags |= CURL_CSELECT_IN;
        if ((events & UV_READABLE) && s->read_timeouts > 0)
            bytes_arrived(s, k);
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(s->multi, k->fd, flags, &running);
    drain(s);
}

/* A socket we cannot poll (uv_poll_init or start failed, e.g. libcurl
 * handed us an fd already closed): report CURL_CSELECT_ERR for it soon,
 * from the timer, not from inside libcurl's callback. */
static void sock_fail(weft_http_session *s, weft__http_sock *k)
{
    k->failed = true;
    s->timer_err = true;
    weft__timer_start(s->loop, &s->timer, weft__now_ns());
}

/* Grows the per-fd tables (watchers, owned flags) to hold fd. */
static int fd_tables_grow(weft_http_session *s, curl_socket_t fd)
{
    if ((size_t)fd < s->by_fd_cap)
        return 0;
    size_t cap = s->by_fd_cap ? s->by_fd_cap : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    weft__http_sock **p = weft__realloc(s->by_fd, cap * sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    memset(p + s->by_fd_cap, 0, (cap - s->by_fd_cap) * sizeof *p);
    s->by_fd = p;
    unsigned char *o = weft__realloc(s->owned, cap);
    if (o == NULL)
        return -ENOMEM; /* by_fd grew: harmless, the capacity did not */
    memset(o + s->by_fd_cap, 0, cap - s->by_fd_cap);
    s->owned = o;
    s->by_fd_cap = cap;
    return 0;
}

static int by_fd_set(weft_http_session *s, curl_socket_t fd, weft__http_sock *k)
{
    if (fd_tables_grow(s, fd) != 0)
        return -ENOMEM;
    s->by_fd[fd] = k;
    return 0;
}

static weft__http_sock *sock_new(weft_http_session *s, curl_socket_t fd)
{
    weft__http_sock *k = weft__calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    if ((size_t)fd < s->by_fd_cap && s->by_fd[fd] != NULL)
        sock_unwatch(s->by_fd[fd]); /* a stale watcher of a reused fd number */
    if (by_fd_set(s, fd, k) != 0) {
        free(k);
        return NULL;
    }
    k->session = s;
    k->fd = fd;
    k->known = true;
    struct stat st;
    if (fstat(fd, &st) == 0) { /* which socket it is (sock_same) */
        k->dev = st.st_dev;
        k->ino = st.st_ino;
    }
    weft__list_push_back(&s->socks, &k->link);
    if (uv_poll_init_socket(&s->loop->uv, &k->poll, fd) == 0)
        k->poll_open = true;
    else
        sock_fail(s, k);
    return k;
}

/* Is k's descriptor still the socket it was made for? libcurl 7.88 may
 * close a socket without CURLOPT_CLOSESOCKETFUNCTION (a connection attempt
 * given up while a cancelled request is removed) and say CURL_POLL_REMOVE
 * only afterwards. Kept as a pooled watcher, such a socket's poll, whose
 * start libuv applies at its next turn, met a closed descriptor there:
 * epoll_ctl failed with EBADF and libuv aborted the process
 * (test_io_storm's HTTP storm, seed 8118, about one run in twenty). */
static bool sock_same(const weft__http_sock *k)
{
    struct stat st;
    return fstat(k->fd, &st) == 0 && st.st_ino == k->ino && st.st_dev == k->dev;
}

/* CURLMOPT_SOCKETFUNCTION: never calls back into libcurl's transfers. */
int weft__http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    weft_http_session *s = userp;
    weft__http_sock *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k == NULL)
            return 0;
        bool same = sock_same(k);
        if (!same && (size_t)k->fd < s->by_fd_cap && s->by_fd[k->fd] == k)
            s->owned[k->fd] = 0; /* closed: closesocket_cb will not come for it */
        if (!k->failed && k->poll_open && !k->closing && s->owned[k->fd] && same) {
            /* Keep the watcher, still polling but unreferenced (an idle
             * pool must not keep the loop alive): when the connection is
             * reused, libcurl most often asks for the same events again,
             * which then costs nothing. closesocket_cb closes it. */
            k->known = false;
            k->idle = true;
            uv_unref((uv_handle_t *)&k->poll);
            /* A streamed transfer that paused (its reader is behind) is
             * removed too, but its connection is not in the pool: the rest
             * of its body is still to come, and poll_cb took those bytes
             * for a stray tail and killed the connection (the body ended
             * short, WEFT_EINCOMPLETE, from the second request on a
             * connection on: test_io_storm's HTTP storm, seed 8118). Its
             * watcher stops instead, and the transfer takes it back, as a
             * pooled one does, when it resumes. */
            weft_http_response *t = NULL;
            if (easy != NULL &&
                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t) == CURLE_OK && t != NULL &&
                t->paused && uv_poll_stop(&k->poll) == 0)
                k->events = 0;
            return 0;
        }
        sock_unwatch(k);
        k->known = false;
        sock_free_if_done(k);
        return 0;
    }
    if (k == NULL && (size_t)fd < s->by_fd_cap && s->by_fd[fd] != NULL && s->by_fd[fd]->idle) {
        k = s->by_fd[fd]; /* a pooled connection's kept watcher */
        k->idle = false;
        k->known = true;
        uv_ref((uv_handle_t *)&k->poll);
        curl_multi_assign(s->multi, fd, k);
    }
    if (k == NULL) {
        k = sock_new(s, fd);
        if (k == NULL) {
            /* Returning -1 would kill the whole multi handle: fail this
             * socket only, from the timer. */
            if (s->n_err_fds < sizeof s->err_fds / sizeof *s->err_fds)
                s->err_fds[s->n_err_fds++] = fd;
            s->timer_err = true;
            weft__timer_start(s->loop, &s->timer, weft__now_ns());
            return 0;
        }
        curl_multi_assign(s->multi, fd, k);
    }
    k->easy = easy;
    if (k->failed || !k->poll_open || k->closing)
        return 0;
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    if (events != k->events) {
        if (uv_poll_start(&k->poll, events, poll_cb) != 0)
            sock_fail(s, k);
        else
            k->events = events;
    }
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: libcurl closes a socket. If it has not yet
 * asked us to stop watching it, close the poll handle first, while the fd
 * is still valid, so that no poll ever touches a closed (or reused) fd. */
static int closesocket_cb(void *clientp, curl_socket_t fd)
{
    weft_http_session *s = clientp;
    if (s && (size_t)fd < s->by_fd_cap) {
        weft__http_sock *k = s->by_fd[fd];
        s->owned[fd] = 0;
        if (k != NULL) {
            sock_unwatch(k);
            if (k->idle) {
                k->idle = false;
                sock_free_if_done(k);
            }
        }
    }
    return close(fd);
}

/* CURLOPT_OPENSOCKETFUNCTION: opens the socket as libcurl would, and notes
 * that its closing will be reported to closesocket_cb: only such sockets
 * keep their watcher between transfers (see weft__http_sock). */
static curl_socket_t opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    weft_http_session *s = clientp;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD && fd_tables_grow(s, fd) == 0)
        s->owned[fd] = WEFT__HTTP_OWNED;
    return fd;
}

/* --------------------------------------------------------- reuse */

/* Makes libcurl drop a pooled connection: its descriptor becomes a socket
 * at end of stream (the end of a socketpair whose peer is closed), which
 * libcurl's check before reuse takes for a server that closed, so it
 * closes it through closesocket_cb (and a request that got it anyway
 * retries on a new connection, as after any keep-alive race). The TCP
 * connection itself is closed at once. The watcher goes first, while the
 * descriptor is still the one it polls. */
void weft__http_forbid_reuse(weft_http_session *s, curl_socket_t fd)
{
    weft__http_sock *k = (size_t)fd < s->by_fd_cap ? s->by_fd[fd] : NULL;
    if (k != NULL) {
        sock_unwatch(k);
        if (k->idle) {
            k->idle = false;
            sock_free_if_done(k);
        }
    }
    if ((size_t)fd < s->by_fd_cap)
        s->owned[fd] &= (unsigned char)~WEFT__HTTP_H1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        close(sv[1]);
        if (dup3(sv[0], fd, O_CLOEXEC) < 0)
            shutdown(fd, SHUT_RDWR);
        close(sv[0]);
    } else {
        shutdown(fd, SHUT_RDWR);
    }
}

/* Did the transfer run over HTTP/2? Not what its status line says, nor
 * what libcurl believes from it: libcurl 7.88 takes an HTTP/1 server's
 * "HTTP/2 200" (or "HTTP/201 ...") at its word and reports HTTP/2. The
 * session asks for HTTP/2 over TLS only (CURL_HTTP_VERSION_2TLS, where
 * ALPN decides), so on a cleartext connection it is never HTTP/2, and the
 * connection is judged as the HTTP/1 one it is (fuzz_http_client found
 * the junk behind such a response read as the next request's answer).
 * Over TLS libcurl's word is taken: a TLS server that chose HTTP/1.1 by
 * ALPN and then writes an HTTP/2 status line is a known gap. */
static bool really_http2(weft_http_response *t)
{
    long version = 0;
    const char *scheme = NULL;
    return curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK &&
           version >= CURL_HTTP_VERSION_2_0 &&
           curl_easy_getinfo(t->easy, CURLINFO_SCHEME, &scheme) == CURLE_OK && scheme != NULL &&
           strcasecmp(scheme, "https") == 0;
}

/* A transfer ended well: may its connection serve the next request? An
 * HTTP/1 response is framed by its headers; bytes already waiting behind
 * it were not part of it (a body longer than its Content-Length, data
 * after a 204 or a HEAD answer, junk after the last chunk), and the next
 * request would read them as its own answer. libcurl keeps such a
 * connection; weft drops it. Its HTTP/1 connections are remembered, so
 * that bytes arriving while one idles in the pool drop it too (poll_cb). */
void weft__http_check_reuse(weft_http_session *s, weft_http_response *t)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
        fd == CURL_SOCKET_BAD || (size_t)fd >= s->by_fd_cap || !(s->owned[fd] & WEFT__HTTP_OWNED))
        return;            /* closed, or not ours to judge */
    if (really_http2(t)) { /* HTTP/2 frames its own streams */
        s->owned[fd] &= (unsigned char)~WEFT__HTTP_H1;
        return;
    }
    s->owned[fd] |= WEFT__HTTP_H1;
    char c;
    if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
        weft__http_forbid_reuse(s, fd);
}

/* ------------------------------------------------------------- timer */

/* CURLMOPT_TIMERFUNCTION: only arms our timer; libcurl runs when it fires.
 * Arming cannot fail, so this never returns the -1 that would kill
 * libcurl's whole multi handle. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    weft_http_session *s = userp;
    if (timeout_ms < 0) {
        if (!s->timer_err)
            weft__timer_stop(s->loop, &s->timer);
        return 0;
    }
    uint64_t when = weft__now_ns() + (uint64_t)timeout_ms * 1000000u;
    if (s->timer_err && weft__timer_armed(&s->timer) && s->timer.when < when)
        return 0;
    weft__timer_start(s->loop, &s->timer, when);
    return 0;
}

static void timer_fired(weft__timer *timer)
{
    weft_http_session *s = WEFT_CONTAINER_OF(timer, weft_http_session, timer);
    int running;
    /* Sockets that could not be polled: one CURL_CSELECT_ERR each. The
     * list may change under the call, so start over after each. */
    while (s->n_err_fds > 0) {
        curl_socket_t fd = s->err_fds[--s->n_err_fds];
        curl_multi_socket_action(s->multi, fd, CURL_CSELECT_ERR, &running);
    }
    while (s->timer_err) {
        s->timer_err = false;
        for (weft__link *l = s->socks.next; l != &s->socks; l = l->next) {
            weft__http_sock *k = WEFT_CONTAINER_OF(l, weft__http_sock, link);
            if (k->failed && k->known) {
                k->failed = false;
                s->timer_err = true;
                curl_multi_socket_action(s->multi, k->fd, CURL_CSELECT_ERR, &running);
                break;
            }
        }
    }
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(s);
}

/* -------------------------------------------------------- completions */

static void drain(weft_http_session *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode cc = msg->data.result;
        weft_http_response *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (cc == CURLE_OK)
            weft__http_check_reuse(s, t);
        weft__http_finish(t, weft__http_map_error(t, cc));
    }
}

void weft__http_poke(weft_http_response *t)
{
    bool ready = false;
    switch (t->wait_kind) {
    case WAIT_DONE:
        ready = t->done;
        break;
    case WAIT_HEADERS:
        ready = t->done || t->headers_done;
        break;
    case WAIT_DATA:
        ready = t->done || t->body_len > t->body_off;
        break;
    }
    if (ready && t->waiter) {
        weft_task *task = t->waiter;
        t->waiter = NULL;
        t->wait_kind = WAIT_NONE;
        weft__wake(task, 0);
    }
}

void weft__http_finish(weft_http_response *t, int rc)
{
    if (t->in_multi) {
        weft_http_session *s = t->session;
        t->in_multi = false;
        if (t->read_ns != UINT64_MAX)
            s->read_timeouts--;
        curl_multi_remove_handle(s->multi, t->easy);
        weft__timer_stop(s->loop, &t->read_timer);
    }
    if (!t->done) {
        t->done = true;
        t->rc = rc;
        if (rc != 0 && rc != WEFT_ECANCELED) {
            char *url = NULL;
            curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
            weft_log(WEFT_LOG_DEBUG, "http", "%s: %s%s%s", url ? url : "request", weft_strerror(rc),
                     t->errbuf[0] ? ": " : "", t->errbuf);
        }
    }
    weft__http_poke(t);
}

/* ClientTimeout.read: fires when the transfer has been silent too long. */
static void read_timer_fired(weft__timer *timer)
{
    weft_http_response *t = WEFT_CONTAINER_OF(timer, weft_http_response, read_timer);
    uint64_t now = weft__now_ns();
    if (t->paused) /* waiting on our reader, not on the peer */
        t->last_activity = now;
    if (now - t->last_activity >= t->read_ns) {
        weft__http_finish(t, WEFT_ETIMEDOUT);
        return;
    }
    weft__timer_start(t->session->loop, &t->read_timer, t->last_activity + t->read_ns);
}

void weft__http_easy_hooks(weft_http_session *s, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, s);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, s);
}

int weft__http_start(weft_http_session *s, weft_http_response *t)
{
    t->last_activity = weft__now_ns();
    weft__timer_init(&t->read_timer, read_timer_fired);
    if (t->read_ns != UINT64_MAX)
        weft__timer_start(s->loop, &t->read_timer, t->last_activity + t->read_ns);
    CURLMcode mc = curl_multi_add_handle(s->multi, t->easy);
    if (mc != CURLM_OK) {
        weft__timer_stop(s->loop, &t->read_timer);
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    }
    t->in_multi = true;
    if (t->read_ns != UINT64_MAX)
        s->read_timeouts++;
    return 0;
}

/* ------------------------------------------------------- setup/teardown */

int weft__http_multi_init(weft_http_session *s)
{
    s->multi = curl_multi_init();
    if (s->multi == NULL)
        return -ENOMEM;
    weft__list_init(&s->socks);
    weft__list_init(&s->transfers);
    weft__timer_init(&s->timer, timer_fired);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, weft__http_socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    return 0;
}

void weft__http_multi_cleanup(weft_http_session *s)
{
    /* Transfers still running (other tasks' requests) end with ECLOSED;
     * every response forgets the session (response_free then frees its
     * easy handle itself). */
    while (!weft__list_empty(&s->transfers)) {
        weft_http_response *t = WEFT_CONTAINER_OF(s->transfers.next, weft_http_response, link);
        weft__http_finish(t, WEFT_ECLOSED);
        weft__list_remove(&t->link);
        t->session = NULL;
    }
    curl_multi_cleanup(s->multi); /* closes the pooled connections */
    weft__timer_stop(s->loop, &s->timer);
    /* Sockets libcurl did not hand back: stop polling, free once closed.
     * Unlink them first: their close callbacks run after the session is
     * gone. */
    while (!weft__list_empty(&s->socks)) {
        weft__http_sock *k = WEFT_CONTAINER_OF(s->socks.next, weft__http_sock, link);
        weft__list_remove(&k->link);
        sock_unwatch(k);
        k->session = NULL;
        k->known = false;
        sock_free_if_done(k);
    }
    free(s->by_fd);
    s->by_fd = NULL;
    free(s->owned);
    s->owned = NULL;
    s->by_fd_cap = 0;
}
