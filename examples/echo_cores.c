/* An echo server on every core: one loop per core in one process, each
 * serving the same port (SO_REUSEPORT: the kernel spreads the
 * connections; each connection is served by the loop that accepted it).
 *
 *   echo_cores PORT   serves until Ctrl-C (or SIGTERM), which cancels every
 *                     loop's main; the server then closes gracefully.
 *   echo_cores        picks a free port, and the first loop's main sends a
 *                     few clients through it, then everything ends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static int port;
static int forever;

/* Runs on the loop that accepted the connection, as a task of its own. */
static int echo(weft_stream *s, void *arg)
{
    (void)arg;
    char buf[4096];
    int n;
    while ((n = weft_stream_read(s, buf, sizeof buf)) > 0) {
        int rc = weft_stream_write(s, buf, (size_t)n);
        if (rc != 0)
            return rc;
    }
    return n; /* 0 at the end of the stream */
}

static int client(void *arg)
{
    const char *line = arg;
    weft_stream *s;
    int rc = weft_tcp_connect("127.0.0.1", port, NULL, &s);
    if (rc != 0)
        return rc;
    char back[64];
    rc = weft_stream_write(s, line, strlen(line));
    if (rc == 0)
        rc = weft_stream_read_exactly(s, back, strlen(line));
    if (rc == 0 && memcmp(back, line, strlen(line)) != 0)
        rc = -EPROTO;
    int crc = weft_stream_close(s);
    return rc != 0 ? rc : crc;
}

/* Every loop runs this main; weft_loop_group_index() says which loop. */
static int main_task(void *arg)
{
    (void)arg;
    if (forever) {
        int rc = weft_sleep(WEFT_FOREVER); /* until Ctrl-C cancels it */
        return rc == WEFT_ECANCELED ? 0 : rc;
    }
    if (weft_loop_group_index() != 0)
        return 0;
    static char *lines[] = {"one\n", "two\n", "three\n", "four\n"};
    weft_task *t[4] = {NULL};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = weft_spawn(client, lines[i], &t[i]);
    if (rc == 0)
        rc = weft_gather(t, 4, 0);
    for (int i = 0; i < 4; i++) {
        if (rc != 0 && t[i] != NULL)
            weft_cancel(t[i]);
        weft_task_free(t[i]);
    }
    printf("4 clients echoed\n");
    return rc;
}

int main(int argc, char **argv)
{
    port = argc > 1 ? atoi(argv[1]) : 0;
    forever = argc > 1;
    weft_loop_group *g;
    int rc = weft_loop_group_new(NULL, &g); /* one loop per core */
    if (rc != 0) {
        fprintf(stderr, "echo_cores: %s\n", weft_strerror(rc));
        return 1;
    }
    weft_spread_server *srv;
    rc = weft_loop_group_serve_tcp(g, "127.0.0.1", port, echo, NULL, NULL, &srv);
    if (rc != 0) {
        fprintf(stderr, "echo_cores: %s\n", weft_strerror(rc));
        weft_loop_group_free(g);
        return 1;
    }
    port = weft_spread_server_port(srv);
    printf("echo on 127.0.0.1:%d, %d loops (%s)\n", port, weft_loop_group_size(g),
           weft_spread_server_reuses_port(srv) ? "SO_REUSEPORT" : "one acceptor");
    fflush(stdout);
    rc = weft_loop_group_run(g, main_task, NULL);
    if (rc == WEFT_EINTERRUPTED)
        printf("interrupted: closing\n");
    int crc = weft_spread_server_close(srv, 1.0); /* handlers get a second */
    weft_loop_group_free(g);
    return (rc == 0 || rc == WEFT_EINTERRUPTED) && crc == 0 ? 0 : 1;
}
