/* http_log: the HTTP layer's log calls. The library-wide log hook (levels,
 * a user-supplied sink, silent by default) is built on another branch; this
 * file only formats and forwards to its internal entry point,
 * weft__log_write, referenced weakly: until that branch is merged (or when
 * no sink is set there) nothing is printed. One place to repoint. */
#include <stdarg.h>
#include <stdio.h>

#include "http_internal.h"

/* Defined by the log layer when it exists: level, subsystem, message. */
extern void weft__log_write(int level, const char *subsystem, const char *msg)
    __attribute__((weak));

void weft__http_log(int level, const char *fmt, ...)
{
    if (weft__log_write == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weft__log_write(level, "http", msg);
}
