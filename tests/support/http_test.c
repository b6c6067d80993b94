/* http_test: the partner server and a session on it around an HTTP test's
 * body (http_test.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

typedef struct http_run {
    weft_fn body;
    void *ctx;
    http_server **srv;
    weft_http_session **s;
    const weft_http_opts *opts;
} http_run;

static int with_server(void *arg)
{
    http_run *r = arg;
    assert_int_equal(http_server_start(NULL, r->srv), 0);
    weft_http_opts o = r->opts ? *r->opts : (weft_http_opts){0};
    o.base_url = http_server_url(*r->srv);
    assert_int_equal(weft_http_session_new(&o, r->s), 0);
    int rc = r->body(r->ctx);
    weft_http_session_free(*r->s);
    assert_int_equal(http_server_stop(*r->srv), 0);
    return rc;
}

int http_test_run(weft_fn body, void *ctx, http_server **srv, weft_http_session **s,
                  const weft_http_opts *opts)
{
    http_run r = {body, ctx, srv, s, opts};
    return test_run(with_server, &r);
}
