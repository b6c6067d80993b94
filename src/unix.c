/* unix: streams over Unix-domain sockets, the same API as TCP with a path
 * instead of host and port. */
#include <errno.h>
#include <string.h>

#include "stream.h"

int weft_unix_connect(const char *path, const weft_net_opts *opts, weft_stream **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    return weft__uvstream_dial(WEFT__UV_PIPE, NULL, path, opts, out);
}

int weft_unix_serve(const char *path, weft_stream_handler handler, void *arg,
                    const weft_net_opts *opts, weft_server **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (path == NULL || path[0] == '\0' || handler == NULL)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    return weft__server_start(WEFT__UV_PIPE, NULL, path, handler, arg, opts, out);
}
