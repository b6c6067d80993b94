/* The talk's production client in C: a PartnerClient whose get() sends the
 * default headers, a ping() that checks for 200, and the retry loop of
 * three tries with a 0.5 s sleep and a warning logged per failure.
 *
 *   async def _fetch():
 *       for _ in range(0, 3):
 *           try:
 *               return await PartnerApi.ping()
 *           except Exception as e:
 *               logger.warning(f"Error: {e} Retrying...")
 *               await asyncio.sleep(0.5)
 *       return Exception("Failed multiple times. See warning logs for reason")
 *
 * It runs against the partner test server (tests/support/http_server.c, the weft_partner library),
 * started in-process on 127.0.0.1 with a free port and told to fail twice first. Then the same with
 * weft_http_request_retry, the helper form. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h" /* the partner API: tests/support, the weft_partner library */
#include "weft.h"

typedef struct partner_client {
    weft_http_session *session;
} partner_client;

/* PartnerClient(): a session with the partner's default headers. */
static int partner_client_new(const char *base_url, partner_client *pc)
{
    static const weft_http_header headers[] = {
        {"Authorization", "Bearer partner-token"},
        {"Accept", "application/json"},
    };
    weft_http_opts o = {
        .base_url = base_url, .headers = headers, .n_headers = 2, .timeout = {.total = 5}};
    return weft_http_session_new(&o, &pc->session);
}

static int partner_get(partner_client *pc, const char *path, weft_http_response **out)
{
    return weft_http_get(pc->session, path, out);
}

/* ping(): 0 when the partner answers 200; a warning and an error if not. */
static int ping(partner_client *pc)
{
    weft_http_response *r = NULL;
    int rc = partner_get(pc, "/ping", &r);
    if (rc != 0)
        return rc;
    int status = weft_http_response_status(r);
    if (status != 200) {
        fprintf(stderr, "WARNING: Partner returned code %d, content %s\n", status,
                weft_http_response_body(r, NULL));
        rc = WEFT_EHTTP;
    }
    weft_http_response_free(r);
    return rc;
}

/* The talk's _fetch(): three tries, 0.5 s apart, a warning per failure. */
static int fetch(partner_client *pc)
{
    for (int i = 0; i < 3; i++) {
        int rc = ping(pc);
        if (rc == 0)
            return 0;
        fprintf(stderr, "WARNING: Error: %s Retrying...\n", weft_strerror(rc));
        if ((rc = weft_sleep(0.5)) != 0)
            return rc; /* cancelled between two tries: stop trying */
    }
    fprintf(stderr, "Failed multiple times. See warning logs for reason\n");
    return WEFT_EHTTP;
}

static int log_failure(void *arg, int attempt, int rc, const weft_http_response *resp)
{
    (void)arg;
    if (rc == 0)
        fprintf(stderr, "WARNING: attempt %d: partner returned code %d. Retrying...\n", attempt,
                weft_http_response_status(resp));
    else
        fprintf(stderr, "WARNING: attempt %d: %s. Retrying...\n", attempt, weft_strerror(rc));
    return 0;
}

static int ingest(void *arg)
{
    (void)arg;
    http_server *srv = NULL;
    int rc = http_server_start(NULL, &srv);
    if (rc != 0)
        return rc;
    partner_client pc = {0};
    rc = partner_client_new(http_server_url(srv), &pc);
    if (rc == 0) {
        http_server_fail_next(srv, 2, 503); /* the partner has a bad moment */
        double t0 = weft_time();
        rc = fetch(&pc);
        printf("fetch: %s after %u requests, %.2f s\n", rc == 0 ? "Done" : weft_strerror(rc),
               http_server_requests(srv), weft_time() - t0);
    }
    if (rc == 0) { /* the helper form */
        http_server_fail_next(srv, 2, 503);
        weft_http_retry retry = {.attempts = 3, .delay = 0.5, .on_failure = log_failure};
        weft_http_req req = {.url = "/ping"};
        weft_http_response *r = NULL;
        rc = weft_http_request_retry(pc.session, &req, &retry, &r);
        if (rc == 0) {
            printf("retry helper: status %d, body \"%s\"\n", weft_http_response_status(r),
                   weft_http_response_body(r, NULL));
            rc = weft_http_response_status(r) == 200 ? 0 : WEFT_EHTTP;
            weft_http_response_free(r);
        }
    }
    if (pc.session)
        weft_http_session_free(pc.session);
    http_server_stop(srv);
    return rc;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = weft_run(ingest, NULL);
    if (rc != 0) {
        fprintf(stderr, "partner_client: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
