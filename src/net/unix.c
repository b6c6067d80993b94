/* unix: streams over Unix-domain sockets, the same API as TCP with a path
 * instead of host and port. */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "net/net.h"

/* -EINVAL, or -ENAMETOOLONG for a path that does not fit a sockaddr_un
 * (libuv would cut it short and use another file). */
static int check_path(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return -EINVAL;
    return strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path) ? 0 : -ENAMETOOLONG;
}

int weft_unix_connect(const char *path, const weft_net_opts *opts, weft_stream **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int rc = check_path(path);
    if (rc != 0)
        return rc;
    if (weft__net_opts_check(opts) != 0)
        return -EINVAL;
    rc = weft__check_task();
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
    if (handler == NULL || weft__net_opts_check(opts) != 0)
        return -EINVAL;
    int rc = check_path(path);
    if (rc != 0)
        return rc;
    rc = weft__check_task();
    if (rc != 0)
        return rc;
    return weft__server_start(WEFT__UV_PIPE, NULL, path, handler, arg, opts, out);
}
