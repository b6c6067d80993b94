/* errors: every libcurl result as one of the codes http.h documents.
 * The table in docs/http.md mirrors this switch; a code libcurl adds later
 * falls to -EIO, "libcurl failed in a way weft has no better code for". */
#include <errno.h>
#include <string.h>

#include "http/http.h"

/* The errno libcurl saw on the socket, or dflt. */
static int os_error(weft_http_response *t, int dflt)
{
    long os = 0;
    curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os);
    return os > 0 && os < 4096 ? -(int)os : dflt;
}

/* libcurl refuses a header line longer than CURL_MAX_HTTP_HEADER (100 KiB)
 * with CURLE_OUT_OF_MEMORY, in Debian's 7.88 without a message (later ones
 * say "Rejected N bytes header"): that is a limit the server went past,
 * not a lack of memory. Before the final headers are complete (the status
 * line itself may be the long one) it is taken for that; a real failure
 * of libcurl's malloc just then is reported as WEFT_ELIMIT too. */
static bool header_too_long(const weft_http_response *t)
{
    return strstr(t->errbuf, "header (max is") != NULL || !t->headers_done;
}

/* Its cap on a whole response's headers (300 KiB, Debian's fix for
 * CVE-2023-38039) comes as a receive error, which said -ECONNRESET though
 * nobody reset anything. */
static bool headers_too_large(const weft_http_response *t)
{
    return strstr(t->errbuf, "Too large response headers") != NULL;
}

static int transfer_error(weft_http_response *t, CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return os_error(t, -ECONNREFUSED);
    case CURLE_RECV_ERROR:
        if (headers_too_large(t))
            return WEFT_ELIMIT;
        return os_error(t, -ECONNRESET);
    case CURLE_SEND_ERROR:
        return os_error(t, -ECONNRESET);
    case CURLE_GOT_NOTHING: /* closed before a single byte of answer */
        return -ECONNRESET;
    case CURLE_AGAIN:
    case CURLE_NO_CONNECTION_AVAILABLE:
        return -EAGAIN;
    case CURLE_INTERFACE_FAILED:
        return -EADDRNOTAVAIL;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_FTP_ACCEPT_TIMEOUT:
        return WEFT_ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return WEFT_ENONAME;
    case CURLE_COULDNT_RESOLVE_PROXY:
        return WEFT_EDNS;
    case CURLE_PARTIAL_FILE:
        return WEFT_EINCOMPLETE;
    case CURLE_TOO_MANY_REDIRECTS:
        return WEFT_EREDIRECTS;
    case CURLE_FILESIZE_EXCEEDED: /* Content-Length over max_body_size */
        return WEFT_ELIMIT;
    case CURLE_WRITE_ERROR: /* our header or body callback said why */
        return t->cb_error ? t->cb_error : -EIO;
    case CURLE_OUT_OF_MEMORY:
        return t->cb_error ? t->cb_error : header_too_long(t) ? WEFT_ELIMIT : -ENOMEM;
    default:
        return 1; /* not a transfer error: see the other groups */
    }
}

static bool tls_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
    case CURLE_QUIC_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool cert_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return true;
    default:
        return false;
    }
}

/* What the server said that HTTP does not allow, and the answers of the
 * protocols libcurl knows but weft never enables (only http and https are,
 * redirects included): a server can only provoke them by lying. */
static bool protocol_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL: /* a redirect to another scheme */
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP_RETURNED_ERROR:
    case CURLE_RANGE_ERROR:
    case CURLE_HTTP_POST_ERROR:
    case CURLE_PROXY:
    case CURLE_AUTH_ERROR:
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_REMOTE_FILE_EXISTS:
    case CURLE_REMOTE_DISK_FULL:
    case CURLE_CHUNK_FAILED:
    case CURLE_FTP_WEIRD_PASS_REPLY:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_COULDNT_SET_TYPE:
    case CURLE_FTP_COULDNT_RETR_FILE:
    case CURLE_FTP_PORT_FAILED:
    case CURLE_FTP_COULDNT_USE_REST:
    case CURLE_FTP_PRET_FAILED:
    case CURLE_FTP_BAD_FILE_LIST:
    case CURLE_FTP_ACCEPT_FAILED:
    case CURLE_QUOTE_ERROR:
    case CURLE_BAD_DOWNLOAD_RESUME:
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_LDAP_CANNOT_BIND:
    case CURLE_LDAP_SEARCH_FAILED:
    case CURLE_TFTP_NOTFOUND:
    case CURLE_TFTP_PERM:
    case CURLE_TFTP_ILLEGAL:
    case CURLE_TFTP_UNKNOWNID:
    case CURLE_TFTP_NOSUCHUSER:
    case CURLE_RTSP_CSEQ_ERROR:
    case CURLE_RTSP_SESSION_ERROR:
    case CURLE_SSH:
    /* weft checks its own setopt calls; as a transfer's result, this is
     * libcurl's header store refusing a server's line (no colon, no end:
     * a cut trailer, a status line without a space) */
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return true;
    default:
        return false;
    }
}

/* Mistakes in what weft asked libcurl to do (a URL it refuses, an option
 * this libcurl lacks). */
static bool request_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_SETOPT_OPTION_SYNTAX:
    case CURLE_FUNCTION_NOT_FOUND:
        return true;
    default:
        return false;
    }
}

int weft__http_map_error(weft_http_response *t, CURLcode cc)
{
    if (cc == CURLE_OK)
        return 0;
    int rc = transfer_error(t, cc);
    if (rc <= 0)
        return rc;
    if (cert_error(cc))
        return WEFT_ECERT;
    if (tls_error(cc))
        return WEFT_ETLS;
    if (protocol_error(cc))
        return WEFT_EHTTP;
    if (request_error(cc))
        return -EINVAL;
    /* CURLE_FAILED_INIT, READ_ERROR, UPLOAD_FAILED, SEND_FAIL_REWIND,
     * ABORTED_BY_CALLBACK, RECURSIVE_API_CALL, UNRECOVERABLE_POLL, the
     * obsolete numbers and any code of a newer libcurl */
    return -EIO;
}
