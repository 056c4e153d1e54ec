/*
 * od_srv_tls.c - the certificate and key behind HTTPS (--tls-cert,
 * --tls-key), and the CA file push receivers are checked against
 * (--push-ca).
 *
 * The files are read and checked here, with OpenSSL, before the server
 * touches its data directory: a wrong file then stops the start with a
 * message naming it, where GnuTLS inside libmicrohttpd would only log that
 * its credentials failed, and a key that does not match its certificate
 * would only show at the first handshake.
 *
 * MHD does not copy the PEM text: it keeps the pointers and hands the text
 * to GnuTLS once, inside MHD_start_daemon() (MHD_TLS_init ->
 * gnutls_certificate_set_x509_key_mem, which parses it into credentials of
 * its own). So the buffers need to outlive that call only, and
 * od_srv_start() wipes and frees the key as soon as the daemon runs,
 * rather than keeping a second copy of it for the server's lifetime.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A certificate chain is a few KiB; anything near this is not PEM. */
#define OD_SRV_TLS_FILE_MAX (1u << 20)

/* A passphrase-protected key is refused: the default callback would
 * prompt on the terminal of what is usually a service. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Reads the "TLS certificate", "TLS key" or "push CA" (what) file at path
 * into *out as a C string of *len bytes. */
static int read_pem(const char *what, const char *path, char **out, size_t *len)
{
    uint8_t *b = NULL;
    int rc = od_srv_file_read_path(path, OD_SRV_TLS_FILE_MAX, &b, len);

    if (rc == OD_SRV_ERR_IO) {
        fprintf(stderr, "otadelta-server: %s %s: cannot read it: %s\n", what, path,
                strerror(errno));
        return rc;
    }
    if (rc == OD_SRV_ERR_TOO_LARGE) {
        fprintf(stderr, "otadelta-server: %s %s: over 1 MiB, so not a PEM file\n", what,
                path);
        return OD_SRV_ERR_PARAM;
    }
    if (rc != OD_SRV_OK)
        return rc;
    /* MHD passes the text on as far as its first NUL, OpenSSL below would
     * read all of it: refuse what the two would see differently. */
    if (strlen((const char *)b) != *len) {
        fprintf(stderr,
                "otadelta-server: %s %s: holds NUL bytes, so it is binary (DER?), not PEM;"
                " convert it (openssl x509|pkey -inform der -outform pem)\n",
                what, path);
        OPENSSL_cleanse(b, *len);
        free(b);
        return OD_SRV_ERR_PARAM;
    }
    *out = (char *)b;
    return OD_SRV_OK;
}

/* The first certificate of the chain (the server's own, as GnuTLS takes
 * it) must be there and match the key. */
static int check_pair(const od_srv_config *cfg, const od_srv_tls_pem *pem)
{
    BIO *bc = BIO_new_mem_buf(pem->cert, -1);
    BIO *bk = BIO_new_mem_buf(pem->key, -1);
    X509 *x = bc ? PEM_read_bio_X509(bc, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *k = bk ? PEM_read_bio_PrivateKey(bk, NULL, no_passphrase, NULL) : NULL;
    int rc = OD_SRV_ERR_PARAM;

    if (!bc || !bk)
        rc = OD_SRV_ERR_NOMEM;
    else if (!x)
        fprintf(stderr,
                "otadelta-server: TLS certificate %s: no PEM certificate in it"
                " (\"-----BEGIN CERTIFICATE-----\")\n",
                cfg->tls_cert_file);
    else if (!k)
        fprintf(stderr,
                "otadelta-server: TLS key %s: no unencrypted PEM private key in it"
                " (decrypt a passphrase-protected key first: openssl pkey -in KEY -out NEW)\n",
                cfg->tls_key_file);
    else if (X509_check_private_key(x, k) != 1)
        fprintf(stderr,
                "otadelta-server: TLS key %s does not match the certificate in %s:"
                " give the key the certificate was issued for\n",
                cfg->tls_key_file, cfg->tls_cert_file);
    else
        rc = OD_SRV_OK;
    /* Clients will refuse it, but an expired certificate is the operator's
     * to replace, not a reason to keep the management API down. */
    if (rc == OD_SRV_OK && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        fprintf(stderr, "otadelta-server: warning: TLS certificate %s has expired\n",
                cfg->tls_cert_file);
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(bk);
    BIO_free(bc);
    ERR_clear_error(); /* leave no failed parse behind for later callers */
    return rc;
}

int od_srv_tls_load(const od_srv_config *cfg, od_srv_tls_pem *pem)
{
    size_t cert_len;
    int rc;

    memset(pem, 0, sizeof(*pem));
    if (!cfg->tls_cert_file && !cfg->tls_key_file)
        return OD_SRV_OK;
    if (!cfg->tls_cert_file || !cfg->tls_key_file) {
        fprintf(stderr, "otadelta-server: TLS needs both a certificate and its key file"
                        " (give both for HTTPS, neither for plain HTTP)\n");
        return OD_SRV_ERR_PARAM;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "otadelta-server: this libmicrohttpd was built without TLS: install one"
                        " built with GnuTLS (Debian's is), or serve plain HTTP behind a TLS proxy\n");
        return OD_SRV_ERR_PARAM;
    }
    rc = read_pem("TLS certificate", cfg->tls_cert_file, &pem->cert, &cert_len);
    if (rc == OD_SRV_OK)
        rc = read_pem("TLS key", cfg->tls_key_file, &pem->key, &pem->key_len);
    if (rc == OD_SRV_OK)
        rc = check_pair(cfg, pem);
    if (rc != OD_SRV_OK)
        od_srv_tls_free(pem);
    return rc;
}

void od_srv_tls_free(od_srv_tls_pem *pem)
{
    if (pem->key)
        OPENSSL_cleanse(pem->key, pem->key_len);
    free(pem->key);
    free(pem->cert);
    memset(pem, 0, sizeof(*pem));
}

int od_srv_tls_check_ca(const od_srv_config *cfg)
{
    char *text = NULL;
    size_t len;
    BIO *b;
    X509 *x = NULL;
    int rc;

    if (!cfg->push_ca_file)
        return OD_SRV_OK;
    rc = read_pem("push CA", cfg->push_ca_file, &text, &len);
    if (rc != OD_SRV_OK)
        return rc;
    b = BIO_new_mem_buf(text, (int)len);
    if (!b)
        rc = OD_SRV_ERR_NOMEM;
    else if (!(x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL))) {
        fprintf(stderr,
                "otadelta-server: push CA %s: no PEM certificate in it"
                " (\"-----BEGIN CERTIFICATE-----\")\n",
                cfg->push_ca_file);
        rc = OD_SRV_ERR_PARAM;
    }
    X509_free(x);
    BIO_free(b);
    free(text);
    ERR_clear_error();
    return rc;
}
