/* W4 on every core: the echo server of w4_echo_server.c, served on every
 * loop of a group (one loop per core, SO_REUSEPORT), with the peers'
 * command line: prints "READY <pid>", exits after LIFETIME seconds or on
 * SIGTERM / Ctrl-C (the run returns WEFT_EINTERRUPTED: a clean stop).
 *   w4_cores_server [PORT [LIFETIME_S [LOOPS]]]   LOOPS 0: one per core */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "weft.h"

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

static int until_stopped(void *arg)
{
    (void)arg;
    return weft_sleep(lifetime);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 9101;
    lifetime = argc > 2 ? atof(argv[2]) : 60;
    weft_loop_group_opts o = {.loops = argc > 3 ? atoi(argv[3]) : 0};
    weft_loop_group *g;
    weft_spread_server *srv;
    int rc = weft_loop_group_new(&o, &g);
    if (rc == 0 && (rc = weft_loop_group_serve_tcp(g, "127.0.0.1", port, echo, NULL, NULL, &srv)) != 0)
        weft_loop_group_free(g);
    if (rc != 0) {
        fprintf(stderr, "w4_cores_server: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("READY %d\n", (int)getpid());
    fflush(stdout);
    rc = weft_loop_group_run(g, until_stopped, NULL);
    int crc = weft_spread_server_close(srv, 0);
    weft_loop_group_free(g);
    return (rc == 0 || rc == WEFT_EINTERRUPTED) && crc == 0 ? 0 : 1;
}
