/* test_cert.h: a throwaway self-signed certificate for the TLS and HTTPS
 * tests, made at test time with OpenSSL's API (no files, no openssl CLI):
 * P-256, valid for an hour, for "localhost" and 127.0.0.1, usable as its own
 * CA. test_cert_make fills two malloc'd PEM strings the caller frees. */
#ifndef WEFT_TEST_CERT_H
#define WEFT_TEST_CERT_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static char *test_cert_bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static void test_cert_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

/* 0 on success, -1 if OpenSSL refused a step. */
static int test_cert_make(char **cert_pem, char **key_pem)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (key == NULL || x == NULL)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    test_cert_add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    test_cert_add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
    int rc = X509_sign(x, key, EVP_sha256()) > 0 ? 0 : -1;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL);
    *cert_pem = test_cert_bio_string(cb);
    *key_pem = test_cert_bio_string(kb);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* cmocka group fixtures for a file whose tests share one certificate:
 * cmocka_run_group_tests(tests, test_cert_setup, test_cert_teardown), then
 * test_cert_pem and test_key_pem in the tests. */
__attribute__((unused)) static char *test_cert_pem, *test_key_pem;

__attribute__((unused)) static int test_cert_setup(void **state)
{
    (void)state;
    return test_cert_make(&test_cert_pem, &test_key_pem);
}

__attribute__((unused)) static int test_cert_teardown(void **state)
{
    (void)state;
    free(test_cert_pem);
    free(test_key_pem);
    return 0;
}

#endif
