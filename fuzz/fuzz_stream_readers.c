/* fuzz_stream_readers: a peer sends arbitrary bytes in arbitrary pieces
 * over a Unix socket and the other side reads them with an arbitrary
 * sequence of read, read_exactly, read_until and readline calls, under a
 * read limit the input picks (down to one byte, where the transport pauses
 * and resumes at nearly every byte). Each call's result is checked against
 * a model computed from the bytes themselves (stream_model.h). The same
 * model runs over TLS in fuzz_tls_server. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream_model.h"
#include "weft.h"

static weft_runner *runner;
static weft_server *server;
static char sock_path[64];
static model_plan current;
static int writer_done;

/* The peer: the server's handler for each connection. */
static int writer(weft_stream *s, void *arg)
{
    (void)arg;
    model_send(s, &current);
    weft_stream_write_eof(s);
    writer_done = 1;
    return 0;
}

static int reader_main(void *arg)
{
    (void)arg;
    weft_net_opts o = {.read_limit = current.read_limit};
    weft_stream *s;
    int rc = weft_unix_connect(sock_path, &o, &s);
    if (rc != 0)
        model_fail("connect", 0, rc, 0);
    model_read_all(s, &current);
    if ((rc = weft_stream_close(s)) != 0) /* nothing written: nothing to flush */
        model_fail("close", current.len, rc, 0);
    for (int i = 0; i < 1000 && !writer_done; i++)
        if ((rc = weft_sleep(0.001)) != 0)
            model_fail("sleep", current.len, rc, 0);
    if (!writer_done)
        model_fail("writer did not finish", current.len, 0, 1);
    return 0;
}

static int start_server(void *arg)
{
    (void)arg;
    return weft_unix_serve(sock_path, writer, NULL, NULL, &server);
}

static void cleanup(void)
{
    unlink(sock_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    model_name = "fuzz_stream_readers";
    snprintf(sock_path, sizeof sock_path, "/tmp/weft-fuzz-%d.sock", (int)getpid());
    unlink(sock_path);
    if (weft_runner_new(&runner) != 0 || weft_runner_run(runner, start_server, NULL) != 0) {
        fprintf(stderr, "fuzz_stream_readers: cannot start the server\n");
        abort();
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model_parse(data, size, &current))
        return 0;
    writer_done = 0;
    if (weft_runner_run(runner, reader_main, NULL) != 0)
        abort();
    return 0;
}
