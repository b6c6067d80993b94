/* tls: TLS with OpenSSL over any weft stream. OpenSSL talks to two memory
 * BIOs; this file moves bytes between them and the transport stream, so
 * every wait is the transport's own (cancellation and timeouts included),
 * and decrypted bytes land in the TLS stream's read buffer, where the
 * common read API (stream.c) finds them. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/net.h"

#define TLS_CHUNK (16 * 1024)

/* asyncio's default ssl_handshake_timeout. */
#define TLS_HANDSHAKE_TIMEOUT 60.0

struct weft_tls_ctx {
    SSL_CTX *ctx;
    bool server;
    bool insecure;
    double handshake_timeout; /* seconds */
};

typedef struct tls_stream {
    weft_stream s;
    weft_stream *inner;
    SSL *ssl;
    BIO *rbio; /* what came from the transport, for OpenSSL to read */
    BIO *wbio; /* what OpenSSL wrote, for the transport */
} tls_stream;

static inline tls_stream *to_tls(weft_stream *s)
{
    return WEFT_CONTAINER_OF(s, tls_stream, s);
}

/* ------------------------------------------------------------ contexts */

/* Adds every certificate of a PEM text to the context's trust store. */
static int add_ca_pem(SSL_CTX *ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        return -ENOMEM;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            count++;
        X509_free(x);
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    return count > 0 ? 0 : WEFT_ECERT;
}

/* The handshake timeout an options struct asks for: the default for 0,
 * -1 for a bad value (negative, NaN). */
static double handshake_timeout(const weft_tls_opts *opts)
{
    double t = opts ? opts->handshake_timeout : 0;
    if (t == 0)
        return TLS_HANDSHAKE_TIMEOUT;
    return t > 0 ? t : -1;
}

/* What client and server contexts share: the checks, the allocation, TLS
 * 1.2 at least. 0 and *out, or an error with nothing to free. */
static int ctx_new(const weft_tls_opts *opts, const SSL_METHOD *method, bool server,
                   weft_tls_ctx **out)
{
    if (handshake_timeout(opts) < 0)
        return -EINVAL;
    weft_tls_ctx *c = weft__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->server = server;
    c->handshake_timeout = handshake_timeout(opts);
    c->ctx = SSL_CTX_new(method);
    if (c->ctx == NULL) {
        free(c);
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    *out = c;
    return 0;
}

int weft_tls_client_ctx_new(const weft_tls_opts *opts, weft_tls_ctx **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    weft_tls_ctx *c;
    int rc = ctx_new(opts, TLS_client_method(), false, &c);
    if (rc != 0)
        return rc;
    c->insecure = opts && opts->insecure;
    SSL_CTX_set_verify(c->ctx, c->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (opts && opts->ca_pem)
        rc = add_ca_pem(c->ctx, opts->ca_pem);
    else if (opts && opts->ca_file)
        rc = SSL_CTX_load_verify_locations(c->ctx, opts->ca_file, NULL) == 1 ? 0 : WEFT_ECERT;
    else
        SSL_CTX_set_default_verify_paths(c->ctx);
    if (rc != 0) {
        weft_tls_ctx_free(c);
        ERR_clear_error();
        return rc;
    }
    *out = c;
    return 0;
}

static int load_pem_cert_key(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
    int rc = WEFT_ECERT;
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    if (x && k && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1) {
        rc = 0;
        X509 *extra; /* the rest of the chain */
        while ((extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL)
            if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1)
                X509_free(extra);
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int weft_tls_server_ctx_new(const weft_tls_opts *opts, weft_tls_ctx **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (opts == NULL || !((opts->cert_pem && opts->key_pem) || (opts->cert_file && opts->key_file)))
        return -EINVAL;
    weft_tls_ctx *c;
    int rc = ctx_new(opts, TLS_server_method(), true, &c);
    if (rc != 0)
        return rc;
    if (opts->cert_pem)
        rc = load_pem_cert_key(c->ctx, opts->cert_pem, opts->key_pem);
    else
        rc = SSL_CTX_use_certificate_chain_file(c->ctx, opts->cert_file) == 1 &&
                     SSL_CTX_use_PrivateKey_file(c->ctx, opts->key_file, SSL_FILETYPE_PEM) == 1
                 ? 0
                 : WEFT_ECERT;
    if (rc == 0 && SSL_CTX_check_private_key(c->ctx) != 1)
        rc = WEFT_ECERT;
    ERR_clear_error();
    if (rc != 0) {
        weft_tls_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void weft_tls_ctx_free(weft_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ctx);
    free(ctx);
}

/* ------------------------------------------------------------ plumbing */

/* Moves what OpenSSL wrote to the transport: queued without waiting (so
 * the order of records holds whoever flushes), then waits for the
 * transport's queue like a write would. */
static int flush_out(tls_stream *t, bool wait)
{
    weft_stream *in = t->inner;
    char buf[TLS_CHUNK];
    int n;
    while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0) {
        if (in->closed)
            return WEFT_ECLOSED;
        if (in->werr)
            return in->werr;
        if (in->wshut)
            return WEFT_ECLOSED;
        int rc = in->ops->write(in, buf, (size_t)n);
        if (rc != 0)
            return rc;
    }
    if (wait && in->wqueued > in->whigh)
        return weft__stream_wait_queue(in, in->wlow);
    return 0;
}

/* Reads what the transport has into OpenSSL, giving up at deadline. 1:
 * bytes came, 0: the transport ended, < 0: its error (or a cancellation,
 * a timeout). */
static int pull_in(tls_stream *t, uint64_t deadline)
{
    char buf[TLS_CHUNK];
    int n = weft__stream_read_by(t->inner, buf, sizeof buf, deadline);
    if (n <= 0)
        return n;
    BIO_write(t->rbio, buf, n);
    return 1;
}

/* ------------------------------------------------------------ stream ops */

static int tls_fill(weft_stream *s, weft__read_cond *cond)
{
    tls_stream *t = to_tls(s);
    for (;;) {
        size_t target = cond->sep ? cond->limit : cond->need, have = s->rlen - s->rpos;
        size_t room = weft__stream_reserve(s, target > have ? target - have : 1);
        if (room == 0)
            return -ENOMEM;
        /* The read limit holds here too: the rest of a record waits in
         * OpenSSL (one record at most), not in our buffer. */
        size_t ceiling = target > s->rlimit ? target : s->rlimit;
        if (room > ceiling - have)
            room = ceiling - have;
        ERR_clear_error();
        int r = SSL_read(t->ssl, s->rbuf + s->rlen, room > INT_MAX ? INT_MAX : (int)room);
        if (r > 0) {
            s->rlen += (size_t)r;
            if (weft__read_cond_met(s, cond))
                return 0;
            continue;
        }
        int err = SSL_get_error(t->ssl, r);
        if (err == SSL_ERROR_WANT_READ) {
            int rc = flush_out(t, false); /* e.g. a key update to answer */
            if (rc == 0)
                rc = pull_in(t, cond->deadline);
            /* Woken by a cancel, a timeout or a close: the TLS stream may be
             * gone by now (closed by another task), so touch nothing; the
             * stream is not broken. -EBUSY: another task reads. */
            if (rc == WEFT_ECANCELED || rc == WEFT_ECLOSED || rc == WEFT_ETIMEDOUT || rc == -EBUSY)
                return rc;
            if (rc == 0)
                s->reof = true; /* the transport ended without close_notify */
            else if (rc < 0)
                s->rerr = rc;
            if (rc <= 0)
                return 0;
            continue;
        }
        if (err == SSL_ERROR_ZERO_RETURN)
            s->reof = true;
        else
            s->rerr = WEFT_ETLS;
        ERR_clear_error();
        return 0;
    }
}

static int tls_write(weft_stream *s, const void *buf, size_t n)
{
    tls_stream *t = to_tls(s);
    const char *p = buf;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        ERR_clear_error();
        int r = SSL_write(t->ssl, p, chunk); /* memory BIO: takes it all */
        if (r <= 0) {
            ERR_clear_error();
            return s->werr = WEFT_ETLS;
        }
        p += r;
        n -= (size_t)r;
    }
    int rc = flush_out(t, false);
    if (rc != 0 && rc != WEFT_ECANCELED)
        s->werr = rc;
    return rc;
}

static int tls_drain(weft_stream *s)
{
    tls_stream *t = to_tls(s);
    int rc = flush_out(t, false);
    if (rc == 0)
        rc = weft_stream_drain(t->inner);
    return rc;
}

static int tls_write_eof(weft_stream *s)
{
    tls_stream *t = to_tls(s);
    SSL_shutdown(t->ssl); /* close_notify: the peer reads EOF */
    ERR_clear_error();
    return flush_out(t, false);
}

static void tls_free(tls_stream *t)
{
    SSL_free(t->ssl); /* frees both BIOs */
    weft__stream_free_buffers(&t->s);
    free(t);
}

static void tls_close(weft_stream *s, bool abort)
{
    tls_stream *t = to_tls(s);
    weft_stream *inner = t->inner;
    if (!abort && !s->wshut) {
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        flush_out(t, false);
    }
    tls_free(t);
    if (abort)
        weft_stream_abort(inner);
    else
        WEFT_IGNORE(weft_stream_close(inner)); /* the TLS close already reported its own */
}

static int tls_peername(const weft_stream *s, struct sockaddr_storage *addr)
{
    return weft_stream_peername(WEFT_CONTAINER_OF(s, tls_stream, s)->inner, addr);
}

static int tls_sockname(const weft_stream *s, struct sockaddr_storage *addr)
{
    return weft_stream_sockname(WEFT_CONTAINER_OF(s, tls_stream, s)->inner, addr);
}

static int tls_nodelay(weft_stream *s, int on)
{
    return weft_stream_set_nodelay(to_tls(s)->inner, on);
}

static int tls_keepalive(weft_stream *s, int delay)
{
    return weft_stream_set_keepalive(to_tls(s)->inner, delay);
}

static const weft__stream_ops tls_ops = {
    .fill = tls_fill,
    .write = tls_write,
    .drain = tls_drain,
    .write_eof = tls_write_eof,
    .close = tls_close,
    .peername = tls_peername,
    .sockname = tls_sockname,
    .nodelay = tls_nodelay,
    .keepalive = tls_keepalive,
};

/* ------------------------------------------------------------ handshake */

static int handshake(tls_stream *t, bool server)
{
    for (;;) {
        ERR_clear_error();
        int r = server ? SSL_accept(t->ssl) : SSL_connect(t->ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        int frc = flush_out(t, true); /* our flight, or the alert that says why we stop */
        if (r == 1)
            return frc;
        if (err == SSL_ERROR_WANT_READ && frc == 0) {
            int rc = pull_in(t, UINT64_MAX); /* the handshake's scope bounds it */
            if (rc < 0)
                return rc;
            if (rc == 0)
                return WEFT_ETLS; /* the peer hung up in the middle */
            continue;
        }
        if (frc == WEFT_ECANCELED)
            return frc;
        long vr = SSL_get_verify_result(t->ssl);
        ERR_clear_error();
        return !server && vr != X509_V_OK ? WEFT_ECERT : WEFT_ETLS;
    }
}

static int tls_new(weft_stream *transport, weft_tls_ctx *ctx, tls_stream **out)
{
    tls_stream *t = weft__calloc(1, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    /* The transport's read options hold for the plaintext: its buffer size
     * and limit here, its read timeout below. */
    weft_net_opts o = {.read_buffer = transport->rcap, .read_limit = transport->rlimit};
    int rc = weft__stream_init(&t->s, &tls_ops, &o);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->s.loop = transport->loop;
    t->s.rtimeout = transport->rtimeout;
    t->inner = transport;
    t->ssl = SSL_new(ctx->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        weft__stream_free_buffers(&t->s);
        free(t);
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "want more", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    *out = t;
    return 0;
}

static int tls_start(weft_stream *transport, weft_tls_ctx *ctx, const char *server_name,
                     bool server, weft_stream **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (transport == NULL || ctx == NULL || ctx->server != server)
        return -EINVAL;
    int rc = weft__check_task();
    if (rc == 0)
        rc = weft__check_loop(transport->loop);
    if (rc != 0)
        return rc;
    if (transport->closed)
        return WEFT_ECLOSED;
    tls_stream *t;
    if ((rc = tls_new(transport, ctx, &t)) != 0)
        return rc;
    if (!server && server_name) {
        struct in6_addr ip;
        bool is_ip =
            inet_pton(AF_INET, server_name, &ip) == 1 || inet_pton(AF_INET6, server_name, &ip) == 1;
        if (!is_ip) /* SNI carries names only */
            SSL_set_tlsext_host_name(t->ssl, server_name);
        if (!ctx->insecure) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            if (is_ip)
                X509_VERIFY_PARAM_set1_ip_asc(vp, server_name);
            else
                SSL_set1_host(t->ssl, server_name);
        }
    }
    /* asyncio's ssl_handshake_timeout: a peer that stalls mid-handshake
     * must not hold the connection (and its handler) forever. */
    weft_timeout *scope;
    if ((rc = weft_timeout_begin(ctx->handshake_timeout, &scope)) != 0) {
        tls_free(t);
        return rc;
    }
    rc = weft_timeout_end(scope, handshake(t, server));
    if (rc != 0) {
        tls_free(t); /* the transport stays the caller's */
        return rc;
    }
    *out = &t->s;
    return 0;
}

int weft_tls_connect(weft_stream *transport, weft_tls_ctx *ctx, const char *server_name,
                     weft_stream **out)
{
    return tls_start(transport, ctx, server_name, false, out);
}

int weft_tls_accept(weft_stream *transport, weft_tls_ctx *ctx, weft_stream **out)
{
    return tls_start(transport, ctx, NULL, true, out);
}
