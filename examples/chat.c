/* chat: a line-based chat server and scripted clients in one program.
 * A client's first line is its name; every later line goes to everybody
 * else as "name: text"; "/quit" leaves. Three scripted clients talk and
 * check that each heard all the others; the program ends by itself in well
 * under 3 seconds. */
#include <stdio.h>
#include <string.h>

#include "weft.h"

#define MAX_MEMBERS 16
#define NCLIENTS    3
#define MESSAGES    2

static weft_stream *members[MAX_MEMBERS];
static int port;
static int registered; /* members the server knows: the script starts talking at NCLIENTS */

static void broadcast(weft_stream *from, const char *text, size_t len)
{
    for (int i = 0; i < MAX_MEMBERS; i++)
        if (members[i] && members[i] != from)
            weft_stream_write(members[i], text, len); /* a slow member only hurts itself */
}

static int handle_member(weft_stream *s, void *arg)
{
    (void)arg;
    char name[32], line[512], out[600];
    int n = weft_stream_readline(s, name, sizeof name);
    if (n <= 1)
        return n;
    name[n - 1] = '\0';
    int slot = -1;
    for (int i = 0; i < MAX_MEMBERS && slot < 0; i++)
        if (members[i] == NULL)
            slot = i;
    if (slot < 0)
        return weft_stream_write(s, "server full\n", 12);
    members[slot] = s;
    registered++;
    int len = snprintf(out, sizeof out, "* %s joined\n", name);
    broadcast(s, out, (size_t)len);
    while ((n = weft_stream_readline(s, line, sizeof line)) > 0) {
        if (strncmp(line, "/quit", 5) == 0)
            break;
        len = snprintf(out, sizeof out, "%s: %.*s", name, n, line);
        broadcast(s, out, (size_t)len);
    }
    members[slot] = NULL;
    len = snprintf(out, sizeof out, "* %s left\n", name);
    broadcast(s, out, (size_t)len);
    return n == WEFT_ELIMIT ? weft_stream_write(s, "line too long\n", 14) : 0;
}

typedef struct script {
    const char *name;
    int heard; /* messages heard from the others */
} script;

static int chat_client(void *arg)
{
    script *sc = arg;
    weft_stream *s;
    int rc = weft_tcp_connect("127.0.0.1", port, NULL, &s);
    if (rc != 0)
        return rc;
    char line[600];
    int len = snprintf(line, sizeof line, "%s\n", sc->name);
    rc = weft_stream_write(s, line, (size_t)len);
    for (int i = 0; rc == 0 && registered < NCLIENTS && i < 200; i++)
        rc = weft_sleep(0.005);
    for (int m = 0; rc == 0 && m < MESSAGES; m++) {
        len = snprintf(line, sizeof line, "message %d from %s\n", m, sc->name);
        rc = weft_stream_write(s, line, (size_t)len);
    }
    /* Listen until every other client's messages came in. */
    while (rc == 0 && sc->heard < (NCLIENTS - 1) * MESSAGES) {
        int n = weft_stream_readline(s, line, sizeof line);
        if (n <= 0) {
            rc = n == 0 ? -1 : n;
            break;
        }
        if (line[0] != '*')
            sc->heard++;
        printf("[%s] %.*s", sc->name, n, line);
    }
    if (rc == 0)
        rc = weft_stream_write(s, "/quit\n", 6);
    int crc = weft_stream_close(s);
    return rc != 0 ? rc : crc;
}

static int main_task(void *arg)
{
    (void)arg;
    weft_server *srv;
    int rc = weft_tcp_serve("127.0.0.1", 0, handle_member, NULL, NULL, &srv);
    if (rc != 0)
        return rc;
    port = weft_server_port(srv);
    printf("chat server on 127.0.0.1:%d\n", port);
    script scripts[NCLIENTS] = {{.name = "ada"}, {.name = "bob"}, {.name = "cyd"}};
    weft_task *clients[NCLIENTS] = {NULL};
    for (int i = 0; i < NCLIENTS && rc == 0; i++)
        rc = weft_spawn(chat_client, &scripts[i], &clients[i]);
    weft_timeout *scope;
    if (rc == 0 && (rc = weft_timeout_begin(2.5, &scope)) == 0) { /* the whole chat, bounded */
        rc = weft_gather(clients, NCLIENTS, 0);
        rc = weft_timeout_end(scope, rc);
    }
    for (int i = 0; i < NCLIENTS; i++) {
        if (rc != 0 && clients[i] != NULL)
            weft_cancel(clients[i]); /* a task cancelled before it starts never runs */
        weft_task_free(clients[i]);
    }
    int crc = weft_server_close(srv, 0.5);
    return rc != 0 ? rc : crc;
}

int main(void)
{
    int rc = weft_run(main_task, NULL);
    if (rc != 0) {
        fprintf(stderr, "chat: %s\n", weft_strerror(rc));
        return 1;
    }
    puts("chat: everybody heard everybody");
    return 0;
}
