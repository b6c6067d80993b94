/* weft/log.h: the library's one log hook (included by weft.h).
 *
 * Every message weft writes goes through here, with a level and a topic.
 * The rule that keeps a correct program quiet: weft logs at WEFT_LOG_WARN
 * or WEFT_LOG_ERROR only to report a bug in the program (a task that
 * blocked the loop, a stack overflow, in debug mode what a program leaked)
 * or a server turning clients away at a resource limit (out of file
 * descriptors, memory or stacks: once per episode, topic "server");
 * everything else (retries, connection details, ...) is WEFT_LOG_INFO or
 * WEFT_LOG_DEBUG. The default sink prints WARN and ERROR to stderr and drops
 * the rest, so nothing is printed unless something is wrong. */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

typedef enum weft_log_level {
    WEFT_LOG_OFF = -1, /* as a threshold: deliver nothing */
    WEFT_LOG_ERROR = 0,
    WEFT_LOG_WARN = 1,
    WEFT_LOG_INFO = 2,
    WEFT_LOG_DEBUG = 3
} weft_log_level;

/* A sink. topic names the source ("blocked", "overflow", "leak", "dump",
 * "http", ...); msg is one message, possibly several lines, without a
 * trailing newline. Called on the thread that logs (a loop's thread, or
 * weft's watchdog thread for blocked-loop reports): it must not wait on a
 * loop, and must be thread-safe if several threads run loops. */
typedef void (*weft_log_fn)(void *user, weft_log_level level, const char *topic, const char *msg);

/* Sends every message at `level` or more severe to fn(user, ...); the rest
 * are dropped. fn NULL means the default sink, weft_log_stderr. Defaults:
 * (WEFT_LOG_WARN, weft_log_stderr). WEFT_LOG_OFF silences weft entirely,
 * including the stack overflow report. Thread-safe. Returns 0, or -EINVAL
 * for a level out of range. */
WEFT_API int weft_log_set_handler(weft_log_level level, weft_log_fn fn, void *user);

/* The default sink: "weft: <level>: <topic>: <msg>\n" on stderr, in one
 * write(2); <level> is error, warning, info or debug. */
WEFT_API void weft_log_stderr(void *user, weft_log_level level, const char *topic, const char *msg);

/* Logs through the hook (for layers and programs that want weft's sink).
 * 1 if the message was delivered, 0 if its level is filtered out. */
WEFT_API int weft_log(weft_log_level level, const char *topic, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Would a message at this level be delivered? (skip formatting if not) */
WEFT_API int weft_log_enabled(weft_log_level level);

#endif
