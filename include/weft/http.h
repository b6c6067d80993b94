/* weft/http.h: an HTTP client session (aiohttp's ClientSession) on libcurl's
 * multi-socket API, driven by weft's loop: no thread per request, no
 * blocking call. Included by weft.h when weft was built with libcurl
 * (WEFT_HAVE_HTTP, defined then in the installed weft/config.h); do not
 * include it on its own.
 *
 * Every call that can wait must be made from a task of the session's loop,
 * honours cancellation and timeout scopes (a cancelled request is removed
 * from libcurl and its connection closed), and returns 0 or a negative
 * code. */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_session weft_http_session;
typedef struct weft_http_response weft_http_response;

/* One header or query parameter (both strings are copied by the call). */
typedef struct weft_http_header {
    const char *name;
    const char *value;
} weft_http_header;
typedef weft_http_header weft_http_param;

/* aiohttp's ClientTimeout, in seconds. 0 gives the default: total 300 s,
 * connect the total's, read unlimited; WEFT_FOREVER means no limit.
 *   total:   the whole request, body included;
 *   connect: DNS, TCP and TLS handshakes;
 *   read:    the longest silence between two pieces of the response
 *            (counted from the start of the request; a paused stream does
 *            not count). */
typedef struct weft_http_timeout {
    double total;
    double connect;
    double read;
} weft_http_timeout;

/* Session options; a zeroed struct (or NULL) gives the defaults. */
typedef struct weft_http_opts {
    const char *base_url;            /* relative URLs resolve against it */
    const weft_http_header *headers; /* default headers, sent with every request */
    size_t n_headers;
    const char *user_agent;    /* NULL: "weft/<version>" */
    weft_http_timeout timeout; /* defaults for every request */
    int max_connections;       /* open connections in all; 0: no limit */
    int max_host_connections;  /* per host; 0: no limit */
    int max_redirects;         /* redirects followed; 0: 10; -1: do not follow */
    int insecure;              /* 1: skip TLS verification (tests only!) */
    const char *ca_file;       /* trust these CAs (PEM file); NULL: the system's */
    const char *ca_pem;        /* ...or these, PEM in memory */
    size_t stream_buffer;      /* streamed bodies: bytes buffered before the
                                  transfer pauses; 0: 64 KiB */
    /* Limits against a hostile server (docs/SECURITY.md); SIZE_MAX: none.
     * Going past one fails the request (or the streamed read) with
     * WEFT_ELIMIT and closes its connection. */
    size_t max_header_size; /* bytes of status and header lines of a response,
                               1xx blocks, redirects and trailers included;
                               0: 256 KiB */
    size_t max_body_size;   /* a body that is not streamed, counted after
                               decompression (a gzip bomb stops here);
                               0: 32 MiB */
    int keep_encoding;      /* 1: no automatic decompression: no Accept-Encoding
                               is sent, a body comes as the server encoded it */
} weft_http_opts;

/* Makes a session (no I/O yet). It belongs to the current loop: call from a
 * task. -EINVAL for bad options, -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_http_session_new(const weft_http_opts *opts,
                                                   weft_http_session **out);
/* Closes the pooled connections and frees the session. Requests still in
 * flight on it (other tasks') end with WEFT_ECLOSED; their responses stay
 * valid until weft_http_response_free. */
WEFT_API void weft_http_session_free(weft_http_session *session);

/* A request; zero what you do not use. */
typedef struct weft_http_req {
    const char *method;              /* NULL: GET (POST when body is set) */
    const char *url;                 /* absolute, or relative to the base URL */
    const weft_http_header *headers; /* added to (and overriding) the defaults */
    size_t n_headers;
    const weft_http_param *params; /* query parameters, URL-escaped and appended */
    size_t n_params;
    const void *body; /* request body (copied), body_len bytes */
    size_t body_len;
    int stream;                       /* 1: return once the headers are in and
                                         read the body with weft_http_response_read */
    const weft_http_timeout *timeout; /* NULL: the session's */
} weft_http_req;

/* Sends the request and waits for the response: the whole of it, or with
 * req->stream only its status and headers. *out (freed by the caller with
 * weft_http_response_free) is set only on success; every HTTP status is a
 * success (check weft_http_response_status).
 * Errors: -EINVAL (bad request or URL), -ECONNREFUSED (and other -errno of
 * the connection), WEFT_ENONAME (host not found), WEFT_ETIMEDOUT (a
 * ClientTimeout), WEFT_ETLS, WEFT_ECERT (certificate not trusted),
 * WEFT_EHTTP (malformed response), WEFT_EREDIRECTS, -ECONNRESET (the
 * server closed or reset the connection), WEFT_EINCOMPLETE (the body ended
 * before its Content-Length), WEFT_ECANCELED, WEFT_ECLOSED (session
 * freed), -ENOMEM. */
WEFT_API WEFT_MUST_CHECK int weft_http_request(weft_http_session *session, const weft_http_req *req,
                                               weft_http_response **out);
/* Shorthand: GET url. */
WEFT_API WEFT_MUST_CHECK int weft_http_get(weft_http_session *session, const char *url,
                                           weft_http_response **out);

/* The final response's status code (after redirects). */
WEFT_API int weft_http_response_status(const weft_http_response *resp);
/* The value of a header of the final response (case-insensitive name; the
 * last one if repeated), or NULL. Valid until the response is freed. */
WEFT_API const char *weft_http_response_header(const weft_http_response *resp, const char *name);
/* The i-th header (0-based) of the final response: 0, or -ENOENT past the
 * last one. O(1); the strings are valid until the response is freed. */
WEFT_API int weft_http_response_header_at(const weft_http_response *resp, size_t i,
                                          const char **name, const char **value);
/* The trailers of a chunked body (fields sent after its last chunk), as
 * _header and _header_at: complete once the body is read to its end. They
 * never change the status or the headers. A trailer line whose name is not
 * a token (such as "HTTP/1.1 500 x: y") is dropped. */
WEFT_API const char *weft_http_response_trailer(const weft_http_response *resp, const char *name);
WEFT_API int weft_http_response_trailer_at(const weft_http_response *resp, size_t i,
                                           const char **name, const char **value);
/* The HTTP version the final response came in: 10, 11, 20 (HTTP/2) or 30;
 * 0 before its status line arrived. */
WEFT_API int weft_http_response_version(const weft_http_response *resp);
/* The URL the response came from (after redirects). */
WEFT_API const char *weft_http_response_url(const weft_http_response *resp);
/* The whole body, NUL-terminated (len may be NULL); "" for a streamed
 * response. Valid until the response is freed. */
WEFT_API const char *weft_http_response_body(const weft_http_response *resp, size_t *len);
/* Streamed responses: reads what has arrived, up to n bytes, waiting for at
 * least one. Returns the count, 0 at the end of the body (or for n = 0,
 * when buf may be NULL), or an error of the list above (-ECONNRESET
 * mid-body, WEFT_ETIMEDOUT, ...). A cancelled read returns WEFT_ECANCELED
 * and leaves the transfer as it was. -EINVAL for a response that was not
 * streamed. */
WEFT_API WEFT_MUST_CHECK int weft_http_response_read(weft_http_response *resp, void *buf, size_t n);
/* Frees the response; a streamed body not read to its end is abandoned and
 * its connection closed. */
WEFT_API void weft_http_response_free(weft_http_response *resp);

/* ----------------------------------------------------------------- retry */

enum weft_http_backoff {
    WEFT_HTTP_BACKOFF_FIXED = 0,       /* delay, delay, delay, ... */
    WEFT_HTTP_BACKOFF_EXPONENTIAL = 1, /* delay, 2 delay, 4 delay, ... up to max_delay */
};

/* How weft_http_request_retry retries; a zeroed struct gives three attempts
 * 0.5 s apart, on the default statuses and errors. */
typedef struct weft_http_retry {
    int attempts;        /* tries in all; 0: 3 */
    double delay;        /* seconds before the 2nd try; 0: 0.5 */
    double max_delay;    /* cap for exponential backoff; 0: 30 */
    int backoff;         /* enum weft_http_backoff */
    double jitter;       /* 0..1 (else -EINVAL): each delay is scaled by a random
                            factor in [1-jitter, 1] */
    const int *statuses; /* statuses to retry; NULL: 429 500 502 503 504 */
    size_t n_statuses;
    const int *errors; /* error codes to retry; NULL: connection errors, timeouts,
                          WEFT_EHTTP, WEFT_EINCOMPLETE (never WEFT_ECANCELED) */
    size_t n_errors;
    /* Called after each failed attempt (1-based), with its error code, or 0
     * and the response for a status to retry (the response is freed after
     * the call). Return nonzero to stop retrying. NULL: none. */
    int (*on_failure)(void *arg, int attempt, int rc, const weft_http_response *resp);
    void *arg;
} weft_http_retry;

/* weft_http_request, tried again on the statuses and errors of retry.
 * Returns as weft_http_request: the first response that is not retried (it
 * may carry a retried status if the attempts ran out), or the last error.
 * WEFT_ECANCELED (a cancel, also during the sleeps) is returned at once. */
WEFT_API WEFT_MUST_CHECK int weft_http_request_retry(weft_http_session *session,
                                                     const weft_http_req *req,
                                                     const weft_http_retry *retry,
                                                     weft_http_response **out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_HTTP_H */
