/* http_server.h: a small HTTP/1.1 server on weft's streams, the "partner
 * API" the HTTP tests and examples talk to. It listens on 127.0.0.1, port
 * 0, serves keep-alive connections (optionally over TLS), and misbehaves on
 * request, through the query string of each request:
 *   status=N      answer with status N (default 200)
 *   delay=S       wait S seconds before answering
 *   never=1       never answer (until the server is stopped)
 *   drop=1        close the connection without answering
 *   len=N         a body of N bytes of 'x' (default: "ok")
 *   slow=S        send the body in chunks (chunk=K bytes, default 1024),
 *                 S seconds apart
 *   reset=1       send the headers and half the body, then reset (RST)
 *   bad=status    a malformed status line
 *   bad=excess    a body longer than its Content-Length
 *   bad=short     a body shorter than its Content-Length, then close
 *   redirect=loop 302 to itself, forever
 *   redirect=N    N redirects, then 200
 *   echo=1        the body is the request: method, target, headers, body
 *   close=1       answer "Connection: close" and close
 * It counts requests and connections; http_server_fail_next makes the next
 * n requests answer a given status whatever they ask (for retries).
 * Uses weft's public API only: built once as the weft_partner library,
 * which the tests, tools/weft-menu and examples/partner_client link. */
#ifndef WEFT_TEST_HTTP_SERVER_H
#define WEFT_TEST_HTTP_SERVER_H

#include "weft.h"

typedef struct http_server http_server;

/* Starts serving (from a task). tls: NULL for plain HTTP, or a server
 * context (the server does not own it). */
int http_server_start(weft_tls_ctx *tls, http_server **out);
int http_server_port(const http_server *srv);
/* "http://127.0.0.1:<port>" (or https), without a trailing slash. */
const char *http_server_url(const http_server *srv);
unsigned http_server_requests(const http_server *srv);
unsigned http_server_connections(const http_server *srv);
void http_server_fail_next(http_server *srv, int n, int status);
/* Stops (cancelling handlers still running) and frees the server. */
int http_server_stop(http_server *srv);

/* The request parser, callable on a buffer (fuzz_http_server_parser). */
#define HTTP_SERVER_MAX_BODY (16L * 1024 * 1024)
typedef struct http_request_head {
    char method[16];
    char target[4096];
    const char *query;   /* in target, after '?'; "" when none */
    long content_length; /* 0..HTTP_SERVER_MAX_BODY */
} http_request_head;
/* Parses a request head (NUL-terminated): 0, or -EPROTO (no method and
 * target, a Content-Length that is not digits, too large, or given twice
 * with two values). */
int http_request_parse(const char *head, http_request_head *out);
/* The value of key in a query string ("a=1&b=2") into out (at most cap - 1
 * bytes and a NUL), or NULL. */
const char *http_query_get(const char *query, const char *key, char *out, size_t cap);

#endif
