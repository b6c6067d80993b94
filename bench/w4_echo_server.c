/* W4 of ../shared/peers: TCP echo server on 127.0.0.1:PORT, one weft task
 * per connection, the same command line and behaviour as the peers' W4
 * servers (prints "READY <pid>", exits by itself after LIFETIME seconds).
 * With LOOPS it serves on every loop of a group instead (0: a loop per
 * core; SO_REUSEPORT, weft_loop_group_serve_tcp), for W4 on every core
 * (bench/w4_cores.sh); SIGTERM then stops it cleanly.
 *   w4_echo_server [PORT [LIFETIME_S [LOOPS]]] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "weft.h"

static int port = 9101;
static double lifetime = 60;

static int echo(weft_stream *s, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        int n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n;
        int rc = weft_stream_write(s, buf, (size_t)n);
        if (rc != 0)
            return rc;
    }
}

static void ready(void)
{
    printf("READY %d\n", (int)getpid());
    fflush(stdout);
}

static int serve(void *arg)
{
    (void)arg;
    weft_server *srv;
    int rc = weft_tcp_serve("127.0.0.1", port, echo, NULL, NULL, &srv);
    if (rc != 0) {
        fprintf(stderr, "w4_echo_server: %s\n", weft_strerror(rc));
        return rc;
    }
    ready();
    rc = weft_sleep(lifetime); /* WEFT_ECANCELED on Ctrl-C: close all the same */
    int crc = weft_server_close(srv, 0);
    return rc != 0 ? rc : crc;
}

static int until_stopped(void *arg)
{
    (void)arg;
    return weft_sleep(lifetime);
}

/* The same server on every loop of a group. */
static int serve_on_loops(int loops)
{
    weft_loop_group_opts o = {.loops = loops};
    weft_loop_group *g;
    weft_spread_server *srv;
    int rc = weft_loop_group_new(&o, &g);
    if (rc == 0 &&
        (rc = weft_loop_group_serve_tcp(g, "127.0.0.1", port, echo, NULL, NULL, &srv)) != 0)
        weft_loop_group_free(g);
    if (rc != 0) {
        fprintf(stderr, "w4_echo_server: %s\n", weft_strerror(rc));
        return rc;
    }
    ready();
    rc = weft_loop_group_run(g, until_stopped, NULL); /* SIGTERM: WEFT_EINTERRUPTED */
    int crc = weft_spread_server_close(srv, 0);
    weft_loop_group_free(g);
    return rc == WEFT_EINTERRUPTED ? crc : rc != 0 ? rc : crc;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        port = atoi(argv[1]);
    if (argc > 2)
        lifetime = atof(argv[2]);
    if (argc > 3)
        return serve_on_loops(atoi(argv[3])) == 0 ? 0 : 1;
    return weft_run(serve, NULL) == 0 ? 0 : 1;
}
