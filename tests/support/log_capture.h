/* log_capture.h: a log sink for tests that keeps every message weft logs
 * (the watchdog logs from its own thread, hence the lock), and a counter
 * of substrings, to check what was reported and how many times. */
#ifndef WEFT_LOG_CAPTURE_H
#define WEFT_LOG_CAPTURE_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static char cap_buf[65536];
static size_t cap_len;
static int cap_count;

/* Each message as "[level topic] msg\n". */
static void capture_sink(void *user, weft_log_level level, const char *topic, const char *msg)
{
    (void)user;
    pthread_mutex_lock(&cap_lock);
    int n = snprintf(cap_buf + cap_len, sizeof cap_buf - cap_len, "[%d %s] %s\n", (int)level, topic,
                     msg);
    if (n > 0)
        cap_len += (size_t)n < sizeof cap_buf - cap_len ? (size_t)n : sizeof cap_buf - cap_len - 1;
    cap_count++;
    pthread_mutex_unlock(&cap_lock);
}

/* Keeps every message at level or more severe, from now on. */
static inline void capture_start(weft_log_level level)
{
    pthread_mutex_lock(&cap_lock);
    cap_len = 0;
    cap_buf[0] = 0;
    cap_count = 0;
    pthread_mutex_unlock(&cap_lock);
    weft_log_set_handler(level, capture_sink, NULL);
}

/* Back to the default sink. */
static inline void capture_stop(void)
{
    weft_log_set_handler(WEFT_LOG_WARN, NULL, NULL);
}

static inline int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#endif
