/* redis_server.h: Debian's redis-server, run by the Redis tests and the
 * benchmark in a temp dir: on a Unix socket there, and on a 127.0.0.1 port
 * taken free at start (Redis cannot bind port 0: a port found free by
 * binding 0 is passed, and the start is retried on a collision). Nothing
 * is saved to disk. Stop it with redis_server_stop (SIGTERM, then the dir
 * is removed), kill it with redis_server_kill (SIGKILL, as a crash) and
 * start it again, on the same socket and port, with redis_server_restart.
 * Included as a .c by the tests (redis_server.c). */
#ifndef WEFT_TEST_REDIS_SERVER_H
#define WEFT_TEST_REDIS_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#define REDIS_SERVER_BIN "/usr/bin/redis-server"

typedef struct redis_server {
    char dir[64];
    char sock[100];
    int port;
    pid_t pid;
    char unix_url[192]; /* unix:///tmp/.../redis.sock */
    char tcp_url[64];   /* redis://127.0.0.1:<port> */
} redis_server;

/* Starts the server and waits until it accepts connections. Inside a task
 * the wait sleeps with weft_sleep, so the loop keeps running. 0 or -1
 * (with a message on stderr: no redis-server, or it would not start). */
int redis_server_start(redis_server *srv);
int redis_server_kill(redis_server *srv);
int redis_server_restart(redis_server *srv);
void redis_server_stop(redis_server *srv);
/* A loopback TCP port free a moment ago (bound, read back, released), or
 * -1: for a server that must not be found there. */
int redis_free_port(void);

#endif
