/* The talk's production case on Celery: a Python app calls
 * send_task("partner.fetch", ...) and a weft worker runs it. Each Celery
 * task is a weft task that calls the partner API through weft's HTTP client
 * with the talk's retry loop (three tries, 0.5 s apart, a warning per
 * failure), so thousands can wait on the partner at once in one process.
 *
 * On its own it starts everything it needs: redis-server on a Unix socket
 * in a temp dir (tests/redis_server.c), the partner test server
 * (tests/http_server.c) told to fail twice first, the worker, and then
 * examples/celery_partner.py, the Python side, which sends the tasks with
 * Celery's send_task and prints what AsyncResult.get() returns. Given a
 * broker URL (redis://host:6379/0, redis+socket:///path) it serves that
 * broker instead, until SIGTERM (warm shutdown; a second one: cold). */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h" /* tests/support, the weft_partner library */
#include "redis_server.h"
#include "weft.h"

typedef struct partner {
    weft_http_session *session;
} partner;

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

/* partner.fetch(path): GET path on the partner, retried; returns
 * {"status": 200, "body": "..."} or fails with PartnerError. */
static int partner_fetch(weft_celery_request *req, void *user)
{
    partner *p = user;
    const char *path = json_string_value(json_array_get(weft_celery_args(req), 0));
    if (path == NULL)
        return weft_celery_fail(req, "TypeError", "fetch(path): path must be a string");
    weft_http_retry retry = {.attempts = 3, .delay = 0.5, .on_failure = log_failure};
    weft_http_req hr = {.url = path};
    weft_http_response *r = NULL;
    int rc = weft_http_request_retry(p->session, &hr, &retry, &r);
    if (rc == WEFT_ECANCELED)
        return rc; /* a time limit or a cold shutdown: stop here */
    if (rc != 0)
        return weft_celery_fail(req, "ConnectionError", "partner: %s", weft_strerror(rc));
    int status = weft_http_response_status(r);
    const char *body = weft_http_response_body(r, NULL);
    if (status != 200)
        rc = weft_celery_fail(req, "PartnerError",
                              "Failed multiple times: partner returned code %d", status);
    else
        rc = weft_celery_return(req, json_pack("{s:i,s:s}", "status", status, "body", body));
    weft_http_response_free(r);
    return rc;
}

static bool own_broker;

static int serve(void *arg)
{
    return weft_celery_worker_run(arg);
}

/* examples/celery_partner.py, next to this file. */
static const char *python_side(void)
{
    static char path[1024];
    char here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(path, sizeof path, "%s/celery_partner.py", dirname(here));
    return path;
}

/* The Python app: sends the tasks, prints the results; its exit status. */
static int run_python_app(const char *broker)
{
    char *argv[] = {"/usr/bin/python3", (char *)python_side(), (char *)broker, NULL};
    weft_process_opts po = {.argv = argv};
    weft_process *p = NULL;
    int rc = weft_process_spawn(&po, &p);
    int status = -1;
    if (rc == 0)
        rc = weft_process_wait(p, 120, &status);
    weft_process_free(p);
    return rc != 0 ? rc : status == 0 ? 0 : -ECHILD;
}

static int demo(void *arg)
{
    const char *broker = arg;
    http_server *hs = NULL;
    partner p = {0};
    weft_celery_worker *w = NULL;
    int rc = http_server_start(NULL, &hs);
    if (rc == 0) {
        weft_http_opts ho = {.base_url = http_server_url(hs), .timeout = {.total = 5}};
        rc = weft_http_session_new(&ho, &p.session);
    }
    if (rc == 0) {
        weft_celery_opts wo = {.handle_signals = true};
        rc = weft_celery_worker_new(broker, NULL, &wo, &w);
    }
    if (rc == 0)
        rc = weft_celery_worker_register(w, "partner.fetch", partner_fetch, &p, NULL);
    weft_task *worker = NULL;
    if (rc == 0)
        rc = weft_spawn(serve, w, &worker);
    if (rc == 0 && own_broker) {
        http_server_fail_next(hs, 2, 503); /* the partner has a bad moment */
        rc = run_python_app(broker);
        printf("partner requests: %u\n", http_server_requests(hs));
        weft_celery_worker_shutdown(w, false);
    }
    if (worker != NULL) {
        int wrc = weft_await(worker);
        rc = rc != 0 ? rc : wrc;
        weft_task_free(worker);
    }
    weft_celery_worker_free(w);
    if (p.session != NULL)
        weft_http_session_free(p.session);
    if (hs != NULL)
        http_server_stop(hs);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    redis_server rs;
    char url[256];
    own_broker = argc < 2;
    if (own_broker) { /* started and stopped outside the loop: stopping waits for it */
        if (redis_server_start(&rs) != 0)
            return 1;
        snprintf(url, sizeof url, "redis+socket://%s", rs.sock);
    }
    int rc = weft_run(demo, own_broker ? url : argv[1]);
    if (own_broker)
        redis_server_stop(&rs);
    if (rc != 0) {
        fprintf(stderr, "celery_partner: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
