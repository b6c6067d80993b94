/* HTTP/2 where the server offers it: a local nginx (Debian's nginx-light,
 * which has the http_v2 module) serves one file over TLS with h2 and over
 * plain HTTP/1.1, on ports taken free at test time, with a certificate made
 * at test time. The session negotiates HTTP/2 over TLS (ALPN) and stays on
 * HTTP/1.1 in clear text. Without nginx the test says it is skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_cert.h"
#include "weft.h"

#define NGINX "/usr/sbin/nginx"
#define BODY  "hello over h2\n"

static char dir[] = "/tmp/weft_h2_XXXXXX";
static char *cert_pem, *key_pem;
static int tls_port, plain_port;
static pid_t nginx_pid;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int start_nginx(void **state)
{
    (void)state;
    if (access(NGINX, X_OK) != 0)
        return 0; /* the tests skip */
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755); /* nginx's workers run as another user when we are root */
    assert_int_equal(test_cert_make(&cert_pem, &key_pem), 0);
    write_file("cert.pem", cert_pem, 0644);
    write_file("key.pem", key_pem, 0600);
    char www[300];
    snprintf(www, sizeof www, "%s/www", dir);
    mkdir(www, 0755);
    write_file("www/file.txt", BODY, 0644);
    tls_port = free_port();
    plain_port = free_port();
    char conf[4096];
    snprintf(conf, sizeof conf,
             "worker_processes 1;\ndaemon off;\npid %1$s/nginx.pid;\n"
             "error_log %1$s/error.log warn;\nevents { worker_connections 64; }\n"
             "http {\n access_log off;\n client_body_temp_path %1$s/body;\n"
             " proxy_temp_path %1$s/proxy;\n fastcgi_temp_path %1$s/fcgi;\n"
             " uwsgi_temp_path %1$s/uwsgi;\n scgi_temp_path %1$s/scgi;\n"
             " server {\n  listen 127.0.0.1:%2$d ssl http2;\n"
             "  ssl_certificate %1$s/cert.pem;\n  ssl_certificate_key %1$s/key.pem;\n"
             "  root %1$s/www;\n }\n"
             " server {\n  listen 127.0.0.1:%3$d;\n  root %1$s/www;\n }\n}\n",
             dir, tls_port, plain_port);
    write_file("nginx.conf", conf, 0644);
    nginx_pid = fork();
    assert_true(nginx_pid >= 0);
    if (nginx_pid == 0) {
        char errlog[300], cfg[300];
        snprintf(errlog, sizeof errlog, "%s/error.log", dir);
        snprintf(cfg, sizeof cfg, "%s/nginx.conf", dir);
        execl(NGINX, "nginx", "-p", dir, "-e", errlog, "-c", cfg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !(port_open(tls_port) && port_open(plain_port)); i++)
        usleep(25000);
    assert_true(port_open(tls_port) && port_open(plain_port));
    return 0;
}

static int stop_nginx(void **state)
{
    (void)state;
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM);
        waitpid(nginx_pid, NULL, 0);
    }
    if (dir[sizeof dir - 2] != 'X') {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    free(cert_pem);
    free(key_pem);
    return 0;
}

typedef struct fetch {
    const char *url;
    const char *ca_pem;
    int status, version;
    char body[64];
} fetch;

static int fetch_main(void *arg)
{
    fetch *f = arg;
    weft_http_opts opts = {.ca_pem = f->ca_pem};
    weft_http_session *s;
    int rc = weft_http_session_new(&opts, &s);
    if (rc != 0)
        return rc;
    weft_http_response *r = NULL;
    rc = weft_http_get(s, f->url, &r);
    if (rc == 0) {
        f->status = weft_http_response_status(r);
        f->version = weft_http_response_version(r);
        size_t len;
        const char *body = weft_http_response_body(r, &len);
        snprintf(f->body, sizeof f->body, "%.*s", (int)len, body);
    }
    weft_http_response_free(r);
    weft_http_session_free(s);
    return rc;
}

static void test_h2_over_tls(void **state)
{
    (void)state;
    if (nginx_pid <= 0) {
        print_message("SKIPPED: no %s (apt-get install nginx-light)\n", NGINX);
        skip();
    }
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/file.txt", tls_port);
    fetch f = {.url = url, .ca_pem = cert_pem};
    assert_int_equal(weft_run(fetch_main, &f), 0);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.version, 20); /* negotiated by ALPN */
    assert_string_equal(f.body, BODY);
}

static void test_http11_in_clear(void **state)
{
    (void)state;
    if (nginx_pid <= 0)
        skip();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/file.txt", plain_port);
    fetch f = {.url = url};
    assert_int_equal(weft_run(fetch_main, &f), 0);
    assert_int_equal(f.status, 200);
    assert_int_equal(f.version, 11);
    assert_string_equal(f.body, BODY);
    assert_int_equal(weft_http_response_version(NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_over_tls),
        cmocka_unit_test(test_http11_in_clear),
    };
    return cmocka_run_group_tests(tests, start_nginx, stop_nginx);
}
