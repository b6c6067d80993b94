/* retry: the talk's retry loop as a helper — try a request up to N
 * times, sleeping between tries (fixed or exponential backoff, with
 * jitter), on the statuses and errors the caller names, and call a hook
 * after each failure (where the talk logs its warning). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "http/http.h"

static const int default_statuses[] = {429, 500, 502, 503, 504};

static bool transient_error(int rc)
{
    switch (rc) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EPIPE:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ETIMEDOUT:
    case WEFT_ETIMEDOUT:
    case WEFT_EHTTP:
    case WEFT_EINCOMPLETE:
    case WEFT_EDNS:
        return true;
    default:
        return false;
    }
}

static bool in_list(const int *list, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static bool retry_error(const weft_http_retry *r, int rc)
{
    if (rc == WEFT_ECANCELED || rc == -EINVAL || rc == WEFT_EFOREIGN || rc == WEFT_ENOTASK)
        return false;
    return r->errors ? in_list(r->errors, r->n_errors, rc) : transient_error(rc);
}

static bool retry_status(const weft_http_retry *r, int status)
{
    if (r->statuses)
        return in_list(r->statuses, r->n_statuses, status);
    return in_list(default_statuses, sizeof default_statuses / sizeof *default_statuses, status);
}

/* The sleep before try number `attempt` + 1. */
static double backoff(const weft_http_retry *r, int attempt)
{
    double d = r->delay > 0 ? r->delay : 0.5;
    double cap = r->max_delay > 0 ? r->max_delay : 30;
    if (r->backoff == WEFT_HTTP_BACKOFF_EXPONENTIAL)
        d = fmin(cap, d * ldexp(1.0, attempt - 1));
    if (r->jitter > 0) {
        static __thread unsigned seed;
        if (seed == 0)
            seed = (unsigned)weft__now_ns() | 1u;
        d *= 1.0 - r->jitter * ((double)rand_r(&seed) / RAND_MAX);
    }
    return d;
}

static bool retry_valid(const weft_http_retry *r)
{
    return r->attempts >= 0 && !isnan(r->delay) && r->delay >= 0 && !isnan(r->max_delay) &&
           !isnan(r->jitter) && r->jitter >= 0 && r->jitter <= 1 &&
           (r->n_statuses == 0 || r->statuses) && (r->n_errors == 0 || r->errors) &&
           (r->backoff == WEFT_HTTP_BACKOFF_FIXED || r->backoff == WEFT_HTTP_BACKOFF_EXPONENTIAL);
}

int weft_http_request_retry(weft_http_session *s, const weft_http_req *req,
                            const weft_http_retry *retry, weft_http_response **out)
{
    static const weft_http_retry defaults;
    const weft_http_retry *r = retry ? retry : &defaults;
    if (s == NULL || req == NULL || out == NULL || !retry_valid(r))
        return -EINVAL;
    int attempts = r->attempts > 0 ? r->attempts : 3;
    int rc = 0;
    for (int i = 1;; i++) {
        weft_http_response *resp = NULL;
        rc = weft_http_request(s, req, &resp);
        if (rc == 0 && !retry_status(r, resp->status)) {
            *out = resp;
            return 0;
        }
        if (rc == WEFT_ECANCELED)
            return rc;
        bool again = i < attempts && (rc == 0 || retry_error(r, rc));
        int stop = r->on_failure ? r->on_failure(r->arg, i, rc, resp) : 0;
        if (!again || stop) {
            if (rc == 0) /* out of attempts: the last response is the answer */
                *out = resp;
            return rc;
        }
        weft_http_response_free(resp);
        int src = weft_sleep(backoff(r, i));
        if (src != 0)
            return src;
    }
}
