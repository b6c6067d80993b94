/* http.c: the talk's I/O-bound comparison over real HTTP (issue 7): ten
 * requests to the partner test server, each answered after a delay, made
 * one after another, from two pthreads, and as weft tasks through one
 * weft_http_session. The server runs on a weft loop in its own thread, so
 * the blocking rows can reach it too. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "weft.h"

#include "menu.h"

#ifdef WEFT_HAVE_HTTP
#include <curl/curl.h>

#include "http_server.h" /* the partner API (tests/support), as the tests use it */

#define HTTP_REQUESTS 10

static weft_loop_thread *server_thread;
static http_server *server;
static char request_url[128];

static int start_server(void *arg)
{
    (void)arg;
    return http_server_start(NULL, &server);
}

static int stop_server(void *arg)
{
    (void)arg;
    return http_server_stop(server);
}

/* The server answers each request after `step` seconds (1 s at full scale,
 * the talk's sleep). */
static int ensure_server(const menu_env *env)
{
    if (server_thread != NULL)
        return 0;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread uses libcurl */
    int rc = weft_loop_thread_start(&server_thread);
    if (rc == 0 &&
        (rc = weft_call_sync(weft_loop_thread_loop(server_thread), start_server, NULL)) != 0) {
        weft_loop_thread_stop(server_thread);
        weft_loop_thread_free(server_thread);
        server_thread = NULL;
    }
    if (rc == 0)
        snprintf(request_url, sizeof request_url, "%s/partner?delay=%g", http_server_url(server),
                 env->step);
    return rc;
}

void menu_http_shutdown(void)
{
    if (server_thread == NULL)
        return;
    /* At exit, best effort: the loop thread is stopped next either way. */
    WEFT_IGNORE(weft_call_sync(weft_loop_thread_loop(server_thread), stop_server, NULL));
    weft_loop_thread_stop(server_thread);
    weft_loop_thread_free(server_thread);
    server_thread = NULL;
    curl_global_cleanup();
}

long menu_http_total(const menu_env *env)
{
    (void)env;
    return HTTP_REQUESTS;
}

static int read_connections(void *arg)
{
    *(unsigned *)arg = http_server_connections(server);
    return 0;
}

/* Connections the partner server has accepted so far, read on its own
 * loop: requests that overlap need a connection each (HTTP/1.1), so the
 * count an item adds shows how many of its requests were in flight at
 * once, on the server's side. */
static unsigned server_connections(void)
{
    unsigned n = 0;
    if (weft_call_sync(weft_loop_thread_loop(server_thread), read_connections, &n) != 0)
        return 0; /* the server is gone: the item's facts will say so */
    return n;
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p, (void)user;
    return size * n;
}

/* A blocking client, as `requests` would be: one easy handle, n requests
 * one after another. Returns how many got a 200. */
static int blocking_requests(int n, menu_shared *sh)
{
    CURL *easy = curl_easy_init();
    if (easy == NULL)
        return 0;
    curl_easy_setopt(easy, CURLOPT_URL, request_url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        long status = 0;
        menu_busy_enter(sh);
        if (curl_easy_perform(easy) == CURLE_OK &&
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            ok++;
        menu_busy_leave(sh);
        menu_progress_add(sh, 1);
    }
    curl_easy_cleanup(easy);
    return ok;
}

static void finish_result(menu_result *out, int nworkers, const int *counts)
{
    out->nworkers = nworkers;
    out->steps = 0;
    out->final = -1;
    for (int i = 0; i < nworkers; i++) {
        out->counts[i] = counts[i];
        out->steps += counts[i];
    }
}

int menu_http_sequential(const menu_env *env, menu_result *out)
{
    int rc = ensure_server(env);
    if (rc != 0)
        return rc;
    unsigned before = server_connections();
    int ok = blocking_requests(HTTP_REQUESTS, env->sh);
    finish_result(out, 1, &ok);
    out->connections = (int)(server_connections() - before);
    return ok == HTTP_REQUESTS ? 0 : WEFT_EHTTP;
}

typedef struct http_thread {
    pthread_t id;
    const menu_env *env;
    int ok;
} http_thread;

static void *http_thread_main(void *arg)
{
    http_thread *w = arg;
    w->ok = blocking_requests(HTTP_REQUESTS / 2, w->env->sh);
    return NULL;
}

int menu_http_pthreads(const menu_env *env, menu_result *out)
{
    int rc = ensure_server(env);
    if (rc != 0)
        return rc;
    unsigned before = server_connections();
    http_thread w[2];
    int started = 0;
    for (; started < 2; started++) {
        w[started] = (http_thread){.env = env};
        if ((rc = pthread_create(&w[started].id, NULL, http_thread_main, &w[started])) != 0)
            break;
    }
    int counts[2] = {0, 0};
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].id, NULL);
        counts[i] = w[i].ok;
    }
    finish_result(out, started, counts);
    out->connections = (int)(server_connections() - before);
    if (rc != 0)
        return -rc;
    return out->steps == HTTP_REQUESTS ? 0 : WEFT_EHTTP;
}

/* ------------------------------------------------------------ weft tasks */

typedef struct http_tasks {
    weft_http_session *session;
    menu_shared *sh;
    int ok;
} http_tasks;

static int one_request(void *arg)
{
    http_tasks *h = arg;
    weft_http_response *resp;
    menu_busy_enter(h->sh);
    int rc = weft_http_get(h->session, request_url, &resp);
    menu_busy_leave(h->sh);
    if (rc == 0) {
        if (weft_http_response_status(resp) == 200)
            h->ok++; /* tasks share one thread: no race */
        weft_http_response_free(resp);
    }
    menu_progress_add(h->sh, 1);
    return rc;
}

static int http_tasks_main(void *arg)
{
    http_tasks *h = arg;
    int rc = weft_http_session_new(NULL, &h->session);
    if (rc != 0)
        return rc;
    weft_task *tasks[HTTP_REQUESTS];
    size_t n = 0;
    for (; n < HTTP_REQUESTS; n++)
        if ((rc = weft_spawn(one_request, h, &tasks[n])) != 0)
            break;
    int grc = weft_gather(tasks, n, WEFT_RETURN_EXCEPTIONS);
    for (size_t i = 0; i < n; i++)
        weft_task_free(tasks[i]);
    weft_http_session_free(h->session);
    return rc != 0 ? rc : grc;
}

int menu_http_weft(const menu_env *env, menu_result *out)
{
    int rc = ensure_server(env);
    if (rc != 0)
        return rc;
    unsigned before = server_connections();
    http_tasks h = {.sh = env->sh};
    rc = weft_run(http_tasks_main, &h);
    finish_result(out, 1, &h.ok);
    out->connections = (int)(server_connections() - before);
    if (rc != 0)
        return rc;
    return h.ok == HTTP_REQUESTS ? 0 : WEFT_EHTTP;
}

#else /* built without libcurl: the rows say so */

void menu_http_shutdown(void) {}

long menu_http_total(const menu_env *env)
{
    (void)env;
    return 1;
}

static int no_http(const menu_env *env, menu_result *out)
{
    (void)env;
    out->final = -1;
    return -ENOTSUP;
}

int menu_http_sequential(const menu_env *env, menu_result *out)
{
    return no_http(env, out);
}

int menu_http_pthreads(const menu_env *env, menu_result *out)
{
    return no_http(env, out);
}

int menu_http_weft(const menu_env *env, menu_result *out)
{
    return no_http(env, out);
}
#endif
