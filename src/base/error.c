/* error: names and texts for every code weft returns, from the one table
 * in weft.h (WEFT_ERRNO_MAP) and, for -errno codes, from the C library. */
#define _GNU_SOURCE
#include <string.h>

#include "weft.h"

const char *weft_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define WEFT_ERR_TEXT_(name, value, text)                                                          \
    case value:                                                                                    \
        return text;
        WEFT_ERRNO_MAP(WEFT_ERR_TEXT_)
#undef WEFT_ERR_TEXT_
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *weft_err_name(int code)
{
    switch (code) {
    case 0:
        return "0";
#define WEFT_ERR_NAME_(name, value, text)                                                          \
    case value:                                                                                    \
        return "WEFT_" #name;
        WEFT_ERRNO_MAP(WEFT_ERR_NAME_)
#undef WEFT_ERR_NAME_
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *name = strerrorname_np(-code);
        if (name)
            return name;
    }
    return "UNKNOWN";
}
