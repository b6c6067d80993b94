/* log: the library's log hook. One process-wide sink and threshold, read
 * under a mutex and called outside it (a sink may log again). The default
 * sink prints WARN and ERROR to stderr: weft logs at those levels only to
 * report a bug in the program, so a correct program prints nothing. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_log_fn log_fn = weft_log_stderr;
static void *log_user;
static int log_level = WEFT_LOG_WARN; /* read without the lock by weft_log_enabled */

int weft_log_set_handler(weft_log_level level, weft_log_fn fn, void *user)
{
    if (level < WEFT_LOG_OFF || level > WEFT_LOG_DEBUG)
        return -EINVAL;
    pthread_mutex_lock(&log_lock);
    log_fn = fn ? fn : weft_log_stderr;
    log_user = fn ? user : NULL;
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&log_lock);
    return 0;
}

int weft_log_enabled(weft_log_level level)
{
    return level >= WEFT_LOG_ERROR && (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

bool weft__log_default_sink(void)
{
    pthread_mutex_lock(&log_lock);
    bool is_default = log_fn == weft_log_stderr;
    pthread_mutex_unlock(&log_lock);
    return is_default;
}

static const char *level_name(weft_log_level level)
{
    switch (level) {
    case WEFT_LOG_ERROR:
        return "error";
    case WEFT_LOG_WARN:
        return "warning";
    case WEFT_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

/* One write(2) per message, so that reports from several threads (the
 * watchdog's and a loop's) do not interleave line by line. */
void weft_log_stderr(void *user, weft_log_level level, const char *topic, const char *msg)
{
    (void)user;
    size_t len = strlen(topic) + strlen(msg) + 32;
    char small[1024];
    char *buf = len <= sizeof small ? small : malloc(len);
    if (buf == NULL)
        return;
    int n = snprintf(buf, len, "weft: %s: %s: %s\n", level_name(level), topic, msg);
    if (n > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
    }
    if (buf != small)
        free(buf);
}

void weft__log_msg(weft_log_level level, const char *topic, const char *msg)
{
    pthread_mutex_lock(&log_lock);
    weft_log_fn fn = log_fn;
    void *user = log_user;
    bool on = (int)level <= log_level;
    pthread_mutex_unlock(&log_lock);
    if (on)
        fn(user, level, topic, msg);
}

int weft_log(weft_log_level level, const char *topic, const char *fmt, ...)
{
    if (!weft_log_enabled(level) || fmt == NULL)
        return 0;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return 0;
    char *msg = small;
    if ((size_t)n >= sizeof small) {
        if ((msg = malloc((size_t)n + 1)) == NULL)
            return 0;
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    weft__log_msg(level, topic ? topic : "weft", msg);
    if (msg != small)
        free(msg);
    return 1;
}
