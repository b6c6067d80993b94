/* net_test.h: what the net tests share: a plain blocking socket connected
 * to a local server, the hostile or measuring peer's side, which costs weft
 * nothing (no stream, no loop handle). */
#ifndef WEFT_NET_TEST_H
#define WEFT_NET_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* Connects to 127.0.0.1:port; the kernel completes the handshake (the
 * connection then waits in the server's backlog until it accepts). */
static inline int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

#endif
