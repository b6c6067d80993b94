/* http_test.h: the HTTP tests' setup, once. Each test's context begins
 * with HTTP_TEST (the partner server and a session whose base_url points
 * at it); RUN_HTTP starts both, runs the body as the main task (through
 * test_run: a failure in a task ends its own test alone), and stops both.
 * Include after cmocka.h. */
#ifndef WEFT_TEST_HTTP_TEST_H
#define WEFT_TEST_HTTP_TEST_H

#include "http_server.h"
#include "test_support.h"
#include "weft.h"

/* The first fields of every HTTP test context. */
#define HTTP_TEST                                                                                  \
    http_server *srv;                                                                              \
    weft_http_session *s

/* Starts the partner server into *srv and a session on it into *s (opts:
 * its options, base_url filled in; NULL: the defaults), runs body(ctx),
 * then frees the session and stops the server. body's code. */
int http_test_run(weft_fn body, void *ctx, http_server **srv, weft_http_session **s,
                  const weft_http_opts *opts);

/* RUN_HTTP(body, ctx_type, opts): a fresh zeroed ctx_type for each run. */
#define RUN_HTTP(body, ctx_type, opts)                                                             \
    do {                                                                                           \
        ctx_type c_ = {0};                                                                         \
        assert_int_equal(http_test_run((body), &c_, &c_.srv, &c_.s, (opts)), 0);                   \
    } while (0)

#endif
