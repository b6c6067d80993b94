/* redis_server.c: see redis_server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"
#include "weft.h"

extern char **environ;

int redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Both listeners answer a connect. */
static bool redis_server_up(const redis_server *srv)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", srv->sock);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        return false;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)srv->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&in, sizeof in) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void redis_server_pause(void)
{
    if (weft_task_current() != NULL)
        WEFT_IGNORE(weft_sleep(0.01)); /* a cancelled pause just retries sooner */
    else
        usleep(10000);
}

/* One attempt on srv->port: 0 once up, -1 if the server exited. */
static int redis_server_spawn(redis_server *srv)
{
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", srv->port);
    snprintf(log, sizeof log, "%s/redis.log", srv->dir);
    char *argv[] = {"redis-server",
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--unixsocket",
                    srv->sock,
                    "--unixsocketperm",
                    "700",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    srv->dir,
                    "--logfile",
                    log,
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "no",
                    NULL};
    unlink(srv->sock);
    if (posix_spawn(&srv->pid, REDIS_SERVER_BIN, NULL, NULL, argv, environ) != 0) {
        srv->pid = 0;
        return -1;
    }
    for (int i = 0; i < 1000; i++) { /* up to ~10 s on a loaded machine */
        if (redis_server_up(srv))
            return 0;
        int status;
        if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
            srv->pid = 0;
            return -1; /* exited: most likely the port was taken meanwhile */
        }
        redis_server_pause();
    }
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    srv->pid = 0;
    return -1;
}

int redis_server_start(redis_server *srv)
{
    memset(srv, 0, sizeof *srv);
    if (access(REDIS_SERVER_BIN, X_OK) != 0) {
        fprintf(stderr, "redis_server: %s not found: apt-get install redis-server\n",
                REDIS_SERVER_BIN);
        return -1;
    }
    snprintf(srv->dir, sizeof srv->dir, "/tmp/weft_redis_XXXXXX");
    if (mkdtemp(srv->dir) == NULL)
        return -1;
    snprintf(srv->sock, sizeof srv->sock, "%s/redis.sock", srv->dir);
    snprintf(srv->unix_url, sizeof srv->unix_url, "unix://%s", srv->sock);
    for (int attempt = 0; attempt < 5; attempt++) {
        srv->port = redis_free_port();
        if (srv->port > 0 && redis_server_spawn(srv) == 0) {
            snprintf(srv->tcp_url, sizeof srv->tcp_url, "redis://127.0.0.1:%d", srv->port);
            return 0;
        }
    }
    fprintf(stderr, "redis_server: redis-server would not start (see %s/redis.log)\n", srv->dir);
    return -1;
}

int redis_server_kill(redis_server *srv)
{
    if (srv->pid <= 0)
        return -1;
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    srv->pid = 0;
    return 0;
}

int redis_server_restart(redis_server *srv)
{
    if (srv->pid > 0)
        redis_server_kill(srv);
    for (int attempt = 0; attempt < 50; attempt++) /* the port may linger a moment */
        if (redis_server_spawn(srv) == 0)
            return 0;
    return -1;
}

void redis_server_stop(redis_server *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
    if (srv->dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", srv->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "redis_server: could not remove %s\n", srv->dir);
        srv->dir[0] = '\0';
    }
}
