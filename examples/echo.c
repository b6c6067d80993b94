/* echo: asyncio's echo server and client (open_connection/start_server) in
 * one program. The server binds 127.0.0.1 port 0 and echoes every line;
 * three clients connect at once, each sends a few lines and checks the
 * answers. Ends by itself. */
#include <stdio.h>
#include <string.h>

#include "weft.h"

static int port;

/* One task per connection: echo lines until the client closes. */
static int handle_echo(weft_stream *s, void *arg)
{
    (void)arg;
    struct sockaddr_storage peer;
    char who[64] = "?", line[1024];
    if (weft_stream_peername(s, &peer) == 0)
        weft_addr_format(&peer, who, sizeof who);
    int n;
    while ((n = weft_stream_readline(s, line, sizeof line)) > 0) {
        printf("server: %d bytes from %s\n", n, who);
        int rc = weft_stream_write(s, line, (size_t)n);
        if (rc != 0)
            return rc;
    }
    return n; /* 0 at the end of the stream, or an error */
}

static int client(void *arg)
{
    int id = *(int *)arg;
    weft_stream *s;
    int rc = weft_tcp_connect("127.0.0.1", port, NULL, &s);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char msg[64], back[64];
        int len = snprintf(msg, sizeof msg, "client %d says hello #%d\n", id, i);
        rc = weft_stream_write(s, msg, (size_t)len);
        if (rc == 0)
            rc = weft_stream_read_exactly(s, back, (size_t)len);
        if (rc == 0 && memcmp(msg, back, (size_t)len) != 0)
            rc = -1;
        if (rc == 0)
            printf("client %d: got back %.*s", id, len, back);
    }
    int crc = weft_stream_close(s);
    return rc != 0 ? rc : crc;
}

static int main_task(void *arg)
{
    (void)arg;
    weft_server *srv;
    int rc = weft_tcp_serve("127.0.0.1", 0, handle_echo, NULL, NULL, &srv);
    if (rc != 0)
        return rc;
    port = weft_server_port(srv);
    printf("serving on 127.0.0.1:%d\n", port);

    int ids[3] = {1, 2, 3};
    weft_task *clients[3] = {NULL};
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = weft_spawn(client, &ids[i], &clients[i]);
    weft_timeout *scope; /* the whole exchange must take less than 5 s */
    if (rc == 0 && (rc = weft_timeout_begin(5.0, &scope)) == 0) {
        rc = weft_gather(clients, 3, 0);
        rc = weft_timeout_end(scope, rc);
    }
    for (int i = 0; i < 3; i++) {
        if (rc != 0 && clients[i] != NULL)
            weft_cancel(clients[i]); /* a task cancelled before it starts never runs */
        weft_task_free(clients[i]);
    }
    int crc = weft_server_close(srv, 1.0);
    return rc != 0 ? rc : crc;
}

int main(void)
{
    int rc = weft_run(main_task, NULL);
    if (rc != 0) {
        fprintf(stderr, "echo: %s\n", weft_strerror(rc));
        return 1;
    }
    puts("echo: all clients got their lines back");
    return 0;
}
