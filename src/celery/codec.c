/* codec.c: the small codecs a Celery message needs: base64 (the body as
 * kombu's Redis transport encodes it), ISO 8601 times (eta, expires,
 * date_done) and uuid4 task ids and delivery tags. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include "celery/celery_internal.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int weft__b64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
    if (len % 4 != 0)
        return -EINVAL;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=')
        pad++;
    if (len > 1 && in[len - 2] == '=')
        pad++;
    size_t n = len / 4 * 3 - pad;
    char *buf = weft__malloc(n + 1);
    if (buf == NULL)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool is_pad = i + (size_t)k >= len - pad;
            v[k] = is_pad ? 0 : b64_value((unsigned char)in[i + (size_t)k]);
            if (v[k] < 0) {
                free(buf);
                return -EINVAL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        char bytes[3] = {(char)(w >> 16), (char)(w >> 8), (char)w};
        for (int k = 0; k < 3 && o < n; k++)
            buf[o++] = bytes[k];
    }
    buf[n] = 0;
    *out = buf;
    *outlen = n;
    return 0;
}

char *weft__b64_encode(const char *in, size_t len)
{
    size_t n = (len + 2) / 3 * 4;
    char *buf = weft__malloc(n + 1);
    if (buf == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t w = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) |
                     (left > 2 ? p[i + 2] : 0);
        buf[o++] = b64_alphabet[w >> 18 & 63];
        buf[o++] = b64_alphabet[w >> 12 & 63];
        buf[o++] = left > 1 ? b64_alphabet[w >> 6 & 63] : '=';
        buf[o++] = left > 2 ? b64_alphabet[w & 63] : '=';
    }
    buf[o] = 0;
    return buf;
}

/* n decimal digits at *p, advancing it; -1 if they are not there. */
static int iso_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static bool iso_expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without timegm's
 * dependence on the process's TZ handling. */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int weft__iso_parse(const char *s, double *out)
{
    if (s == NULL)
        return -EINVAL;
    const char *p = s;
    int y = iso_digits(&p, 4);
    if (y < 0 || !iso_expect(&p, '-'))
        return -EINVAL;
    int mo = iso_digits(&p, 2);
    if (mo < 1 || mo > 12 || !iso_expect(&p, '-'))
        return -EINVAL;
    int d = iso_digits(&p, 2);
    if (d < 1 || d > 31 || !(iso_expect(&p, 'T') || iso_expect(&p, ' ')))
        return -EINVAL;
    int h = iso_digits(&p, 2);
    if (h < 0 || h > 23 || !iso_expect(&p, ':'))
        return -EINVAL;
    int mi = iso_digits(&p, 2);
    if (mi < 0 || mi > 59)
        return -EINVAL;
    int sec = 0;
    double frac = 0;
    if (iso_expect(&p, ':')) {
        sec = iso_digits(&p, 2);
        if (sec < 0 || sec > 60)
            return -EINVAL;
        if (iso_expect(&p, '.')) {
            double scale = 0.1;
            int n = 0;
            for (; *p >= '0' && *p <= '9'; p++, n++, scale /= 10)
                frac += (*p - '0') * scale;
            if (n == 0 || n > 9)
                return -EINVAL;
        }
    }
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = iso_digits(&p, 2);
        if (oh < 0 || oh > 23)
            return -EINVAL;
        iso_expect(&p, ':');
        int om = iso_digits(&p, 2);
        if (om < 0 || om > 59)
            return -EINVAL;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        iso_expect(&p, 'Z');
    }
    if (*p != 0)
        return -EINVAL;
    double days = (double)days_from_civil(y, mo, d);
    *out = days * 86400.0 + h * 3600.0 + mi * 60.0 + sec + frac - (double)offset;
    return 0;
}

void weft__iso_format(double epoch, const char *suffix, char buf[64])
{
    time_t t = (time_t)floor(epoch);
    long usec = lround((epoch - (double)t) * 1e6);
    if (usec >= 1000000) {
        t++;
        usec -= 1000000;
    }
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06d%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec, suffix);
}

double weft__celery_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void weft__celery_uuid(char buf[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* No entropy source: ids need only be unique, not secret. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        static uint64_t counter;
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ++counter;
        for (int i = 0; i < 16; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            b[i] = (unsigned char)(x >> 56);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
