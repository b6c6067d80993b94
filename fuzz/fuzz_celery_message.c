/* fuzz_celery_message: hostile bytes through the Celery layer's parsers.
 * The first byte picks the parser, the rest is its input:
 *   0x00  base64: what decodes must encode and decode back to the same bytes
 *   0x01  ISO 8601: a time that parses, written back and parsed again,
 *         gives the same instant (to the microsecond)
 *   else  a task message (the whole input): refused with WEFT_EPROTOCOL
 *         and a reason, or accepted with fields that hold together (id and
 *         task strings, args an array, kwargs an object, counts and limits
 *         in range); an accepted message's retry, built by the worker,
 *         must parse again with retries + 1 and the same id, task and
 *         arguments. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_internal.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_celery_message: %s\n", what);
    abort();
}

static void check_base64(const char *in, size_t len)
{
    char *out = NULL;
    size_t n = 0;
    int rc = weft__b64_decode(in, len, &out, &n);
    if (rc == -EINVAL || rc == -ENOMEM)
        return;
    if (rc != 0)
        fail("base64: unexpected code");
    /* The decoder is as lenient as Python's: the unused low bits of a last
     * group need not be zero ("dbG=" reads as "dbE="), so the text may not
     * come back; the bytes must. */
    char *back = weft__b64_encode(out, n);
    if (back != NULL) {
        char *again = NULL;
        size_t m = 0;
        if (weft__b64_decode(back, strlen(back), &again, &m) != 0 || m != n ||
            (n > 0 && memcmp(again, out, n) != 0))
            fail("base64: encode then decode changed the bytes");
        free(again);
    }
    free(back);
    free(out);
}

static void check_iso(const char *in, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        return;
    memcpy(s, in, len);
    s[len] = 0;
    double t;
    if (strlen(s) == len && weft__iso_parse(s, &t) == 0) {
        if (!isfinite(t))
            fail("iso: not finite");
        char buf[64];
        double again;
        weft__iso_format(t, "+00:00", buf);
        /* years outside 0000..9999 cannot be written back in four digits */
        if (t > -62135596800.0 && t < 253402300799.0 &&
            (weft__iso_parse(buf, &again) != 0 || fabs(again - t) > 1e-6 * 2))
            fail("iso: written back, it parses to another time");
    }
    free(s);
}

static void check_fields(const weft__celery_msg *m)
{
    if (m->id == NULL || m->task == NULL || m->delivery_tag == NULL)
        fail("accepted without id, task or delivery tag");
    if (!json_is_array(m->args) || !json_is_object(m->kwargs))
        fail("args not an array or kwargs not an object");
    if (m->retries < 0 || m->priority < 0 || m->priority > 9)
        fail("retries or priority out of range");
    if (!(m->time_limit >= 0) || !(m->soft_time_limit >= 0) || !isfinite(m->time_limit) ||
        !isfinite(m->soft_time_limit) || !isfinite(m->eta) || !isfinite(m->expires))
        fail("a limit or time out of range");
}

static void check_retry(const weft__celery_msg *m)
{
    char *text = weft__celery_msg_retry(m, m->eta > 0 ? m->eta : 1.7e9);
    if (text == NULL)
        return; /* out of memory */
    weft__celery_msg r;
    char why[256];
    if (weft__celery_msg_parse(text, strlen(text), &r, why, sizeof why) != 0) {
        fprintf(stderr, "retry refused: %s\n", why);
        fail("the retry of an accepted message does not parse");
    }
    if (r.retries != m->retries + 1 || strcmp(r.id, m->id) != 0 || strcmp(r.task, m->task) != 0 ||
        !json_equal(r.args, m->args) || !json_equal(r.kwargs, m->kwargs))
        fail("the retry changed the task");
    weft__celery_msg_clear(&r);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 && data[0] == 0x00) {
        check_base64((const char *)data + 1, size - 1);
        return 0;
    }
    if (size > 1 && data[0] == 0x01) {
        check_iso((const char *)data + 1, size - 1);
        return 0;
    }
    weft__celery_msg m;
    char why[256] = "";
    int rc = weft__celery_msg_parse((const char *)data, size, &m, why, sizeof why);
    if (rc == WEFT_EPROTOCOL) {
        if (why[0] == 0)
            fail("refused without a reason");
        return 0;
    }
    if (rc == -ENOMEM)
        return 0;
    if (rc != 0)
        fail("unexpected code");
    check_fields(&m);
    check_retry(&m);
    weft__celery_msg_clear(&m);
    return 0;
}
