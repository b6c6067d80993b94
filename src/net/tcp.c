/* tcp: asyncio's open_connection and start_server for TCP. A name is
 * resolved without blocking the loop and every address it gives is tried
 * in turn; the server side is server.c's, bound here. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "net/net.h"

static int connect_addr(const struct sockaddr *addr, const weft_net_opts *opts, weft_stream **out)
{
    return weft__uvstream_dial(WEFT__UV_TCP, addr, NULL, opts, out);
}

int weft_tcp_connect(const char *host, int port, const weft_net_opts *opts, weft_stream **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (host == NULL || port <= 0 || port > 65535 || weft__net_opts_check(opts) != 0)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    /* A numeric address needs no resolver (nor a trip to the thread pool). */
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0)
        return connect_addr((struct sockaddr *)&ss, opts, out);
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    if ((rc = weft_getaddrinfo(host, service, &hints, &ai)) != 0)
        return rc;
    rc = -EHOSTUNREACH;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        rc = connect_addr(p->ai_addr, opts, out);
        /* Cancellation and lack of memory end the attempts; a refusal or
         * an unreachable address moves on to the next one. */
        if (rc == 0 || rc == WEFT_ECANCELED || rc == -ENOMEM)
            break;
    }
    weft_freeaddrinfo(ai);
    return rc;
}

int weft_tcp_serve(const char *host, int port, weft_stream_handler handler, void *arg,
                   const weft_net_opts *opts, weft_server **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (handler == NULL || port < 0 || port > 65535 || weft__net_opts_check(opts) != 0)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc != 0)
        return rc;
    /* A numeric address needs no resolver. Besides the trip, that keeps
     * libuv's thread pool unstarted: in a single-threaded process the
     * kernel skips a file reference count on every recv and send. */
    struct sockaddr_storage ss;
    if (host && (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
                 uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0))
        return weft__server_start(WEFT__UV_TCP, (struct sockaddr *)&ss, NULL, handler, arg, opts,
                                  out);
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    if ((rc = weft_getaddrinfo(host, service, &hints, &ai)) != 0)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        rc = weft__server_start(WEFT__UV_TCP, p->ai_addr, NULL, handler, arg, opts, out);
        if (rc == 0 || rc == -ENOMEM)
            break;
    }
    weft_freeaddrinfo(ai);
    return rc;
}
