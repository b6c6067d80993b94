/* http: the HTTP client layer, aiohttp's ClientSession on libcurl's
 * multi-socket API, built on net and core. What its files share: the
 * session (one libcurl multi handle driven by weft's loop, session.c and
 * curl.c), the transfer behind each response (request.c), and the glue
 * between them. Its contract for callers is weft/http.h: every wait is a
 * weft__park on the response (cancellable at any point), and libcurl's
 * codes never leave the layer (errors.c maps them). */
#ifndef WEFT__LAYER_HTTP_H
#define WEFT__LAYER_HTTP_H

#include <curl/curl.h>
#include <sys/types.h>

#include "core/core.h"

/* One socket libcurl asked us to watch: one uv_poll_t per socket. A
 * connection socket (opened through our CURLOPT_OPENSOCKETFUNCTION, so its
 * closing is reported to us) keeps its watcher between transfers: libcurl
 * says CURL_POLL_REMOVE when a transfer ends even if the connection stays
 * in its pool, and closing and re-creating the watcher each time costs
 * epoll_ctl calls on every request. */
typedef struct weft__http_sock {
    uv_poll_t poll;
    weft__link link; /* session->socks, until the session is freed */
    weft_http_session *session;
    curl_socket_t fd;
    int events;       /* UV_READABLE | UV_WRITABLE being polled */
    unsigned wakeups; /* poll callbacks run (for the tests) */
    bool known;       /* libcurl has not said CURL_POLL_REMOVE yet */
    bool poll_open;   /* poll handle initialised and its close callback not run */
    bool closing;     /* uv_close called */
    bool failed;      /* polling is impossible: report CURL_CSELECT_ERR */
    bool idle;        /* removed by libcurl but kept (an owned, pooled socket) */
    CURL *easy;       /* the transfer that last asked for events (compared, never used) */
    dev_t dev;        /* the socket's identity when it was first watched (sock_same) */
    ino_t ino;
} weft__http_sock;

/* headers.c: a header list whose entries never move (see there). */
typedef struct weft__http_hblock weft__http_hblock;
typedef struct weft__http_hdrs {
    weft__http_hblock *blocks;
    weft_http_header *at; /* index: (name, value) pointers into the blocks */
    size_t n, cap;
} weft__http_hdrs;
int weft__http_hdrs_add(weft__http_hdrs *h, const char *name, size_t nlen, const char *value,
                        size_t vlen);
void weft__http_hdrs_clear(weft__http_hdrs *h);
void weft__http_hdrs_free(weft__http_hdrs *h);
const char *weft__http_hdrs_get(const weft__http_hdrs *h, const char *name);
int weft__http_hdrs_at(const weft__http_hdrs *h, size_t i, const char **name, const char **value);
bool weft__http_token(const char *s, size_t n);

enum { WAIT_NONE, WAIT_DONE, WAIT_HEADERS, WAIT_DATA };

struct weft_http_response {
    weft__link link;            /* session->transfers, from creation until freed */
    weft_http_session *session; /* NULL once the session is freed */
    CURL *easy;
    struct curl_slist *req_headers; /* the request's own list, or NULL */
    bool dirty;                     /* options beyond a plain GET were set: reset before reuse */
    bool in_multi, done, headers_done, stream, paused, redirecting;
    int rc;      /* the transfer's code, once done */
    int status;  /* of the response whose headers are being read */
    int version; /* its HTTP version: 10, 11, 20, 30 */
    /* headers of the latest response block; once the final block is in,
     * nothing touches them again: later lines are trailers */
    weft__http_hdrs hdrs, trailers;
    size_t header_bytes; /* every header and trailer line so far */
    size_t max_header, max_body;
    int cb_error; /* why our callback refused data: WEFT_ELIMIT or -ENOMEM */
    /* body; a streamed body is read from body_off */
    char *body;
    size_t body_len, body_cap, body_off, stream_limit;
    /* the task waiting on this transfer */
    weft_task *waiter;
    int wait_kind;
    weft__wait w;
    /* ClientTimeout.read: silence allowed between two pieces of data */
    weft__timer read_timer;
    uint64_t read_ns, last_activity;
    char errbuf[CURL_ERROR_SIZE];
};

#define WEFT__HTTP_EASY_POOL 128

struct weft_http_session {
    weft_loop *loop;
    CURLM *multi;
    weft__timer timer;    /* libcurl's CURLMOPT_TIMERFUNCTION deadline */
    bool timer_err;       /* some socket has an error to report */
    unsigned poll_errors; /* poll errors passed to libcurl (for the tests) */
    /* sockets we could not even allocate a watcher for: CURL_CSELECT_ERR */
    curl_socket_t err_fds[8];
    size_t n_err_fds;
    weft__link socks; /* weft__http_sock */
    weft__http_sock **by_fd;
    unsigned char *owned; /* per fd: opened by our opensocket callback */
    size_t by_fd_cap;
    weft__link transfers; /* every live weft_http_response of the session */
    /* easy handles of finished responses, configured with the defaults */
    CURL *easy_pool[WEFT__HTTP_EASY_POOL];
    size_t n_easy_pool;
    struct curl_slist *default_headers; /* for requests without their own */
    /* defaults */
    char *base_url;
    weft_http_header *headers;
    size_t n_headers;
    char *user_agent;
    weft_http_timeout timeout;
    long max_redirects;
    bool insecure;
    bool verbose; /* WEFT_HTTP_VERBOSE set: libcurl's trace on stderr */
    char *ca_file;
    char *ca_pem;
    size_t stream_buffer;
    size_t max_header_size, max_body_size;
    bool keep_encoding;
    unsigned read_timeouts; /* transfers in libcurl with a read timeout */
};

/* s->owned[fd] flags */
enum {
    WEFT__HTTP_OWNED = 1, /* opened by our opensocket callback */
    WEFT__HTTP_H1 = 2,    /* its last transfer spoke HTTP/1.x */
};

/* curl.c: the multi handle's glue */
int weft__http_multi_init(weft_http_session *s);
void weft__http_multi_cleanup(weft_http_session *s);
int weft__http_start(weft_http_session *s, weft_http_response *t);
/* CURLMOPT_SOCKETFUNCTION (the tests call it as a misbehaving libcurl
 * would). */
int weft__http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
/* session.c: a timeout struct with no negative or NaN field. */
bool weft__http_timeout_valid(const weft_http_timeout *t);
/* header_list.c: a header name without ':', CR or LF, a value without CR
 * or LF. */
bool weft__http_header_valid(const weft_http_header *h);
/* Appends "Name: value" ("Name:" for a NULL value, which removes a header
 * libcurl would add; "Name;" for an empty one). -EINVAL, -ENOMEM. */
int weft__http_append_header(struct curl_slist **list, const weft_http_header *h);
/* The session's defaults the request does not override, then the
 * request's own; *out stays NULL for a request with none of its own. */
int weft__http_build_headers(weft_http_session *s, const weft_http_req *req,
                             struct curl_slist **out);
/* url.c: sets the request's URL on its easy handle; *https says the scheme. */
int weft__http_set_url(weft_http_response *t, weft_http_session *s, const weft_http_req *req,
                       bool *https);
/* callbacks.c: libcurl's CURLOPT_HEADERFUNCTION and CURLOPT_WRITEFUNCTION. */
size_t weft__http_header_cb(char *line, size_t size, size_t n, void *arg);
size_t weft__http_write_cb(char *data, size_t size, size_t n, void *arg);
/* easy.c: an easy handle configured for the session (from its pool), NULL
 * without memory; and back to the pool (dirty: reset it first). */
CURL *weft__http_easy_get(weft_http_session *s);
void weft__http_easy_put(weft_http_session *s, CURL *e, bool dirty);
/* response.c: frees a response, removing its transfer from libcurl first. */
void weft__http_response_release(weft_http_response *t);
/* Points the easy handle's socket open/close hooks at the session. */
void weft__http_easy_hooks(weft_http_session *s, CURL *easy);
/* Removes a transfer from libcurl (closing its connection if it is not
 * finished) and marks it done with rc. */
void weft__http_finish(weft_http_response *t, int rc);
/* Wakes the waiting task if what it waits for has happened. */
void weft__http_poke(weft_http_response *t);
int weft__http_map_error(weft_http_response *t, CURLcode cc);
/* curl.c: a connection whose last response did not end cleanly at
 * its framed end must not serve another request. */
void weft__http_check_reuse(weft_http_session *s, weft_http_response *t);
void weft__http_forbid_reuse(weft_http_session *s, curl_socket_t fd);

#endif
