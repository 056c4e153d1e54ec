/*
 * od_srv_tls.c - the certificate and key behind HTTPS (--tls-cert,
 * --tls-key), reloaded on request (SIGHUP in otadelta-server), and the CA
 * file push receivers are checked against (--push-ca).
 *
 * The files are read and checked here, with OpenSSL, before the server
 * touches its data directory, and again at each reload: a wrong file then
 * stops the start, or the reload, with a message naming it, where GnuTLS
 * inside libmicrohttpd would only log that its credentials failed, and a
 * key that does not match its certificate would only show at the first
 * handshake.
 *
 * GnuTLS then parses the pair once into our own objects, and libmicrohttpd
 * asks for a certificate at each handshake (MHD_OPTION_HTTPS_CERT_CALLBACK2)
 * instead of being given one for its lifetime. Each handshake gets a copy
 * of the pair that GnuTLS frees itself when that session ends
 * (GNUTLS_CERT_RETR_DEINIT_ALL), so a reload can free the pair it
 * replaces at once: no session ever points into it, whether its handshake
 * is under way or long done. The alternatives were worse: handing out the
 * shared pair would need its reference counted per connection, with no
 * GnuTLS hook to say when a session lets go of it, and keeping every old
 * pair until shutdown would keep retired private keys in memory for as
 * long. A copy costs a few microseconds next to the handshake's own
 * public-key operations.
 *
 * The PEM text is wiped and freed as soon as it is parsed; the parsed key
 * lives as long as its pair (until the next reload or od_srv_stop()).
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
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
    /* GnuTLS is given the text as far as its first NUL (pair_parse),
     * OpenSSL below would read all of it: refuse what the two would see
     * differently. */
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

/* Longest chain accepted: the server's certificate and its intermediates
 * (GnuTLS's own default verification depth). */
#define OD_SRV_TLS_CHAIN_MAX 16

/* One certificate chain and its key, as GnuTLS parsed them. Never changed
 * once built; handshakes copy it under od_srv_tls.mu. */
typedef struct tls_pair {
    gnutls_pcert_st certs[OD_SRV_TLS_CHAIN_MAX];
    unsigned n;
    gnutls_x509_privkey_t key;
} tls_pair;

struct od_srv_tls {
    char *cert_file, *key_file; /* as given at start, read again at each reload */
    pthread_mutex_t mu;         /* guards cur against a reload's swap */
    tls_pair *cur;              /* never NULL */
};

/* The first certificate of the chain (the server's own, as GnuTLS takes
 * it) must be there and match the key. */
static int check_pair(const od_srv_tls *t, const char *cert, const char *key)
{
    BIO *bc = BIO_new_mem_buf(cert, -1);
    BIO *bk = BIO_new_mem_buf(key, -1);
    X509 *x = bc ? PEM_read_bio_X509(bc, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *k = bk ? PEM_read_bio_PrivateKey(bk, NULL, no_passphrase, NULL) : NULL;
    int rc = OD_SRV_ERR_PARAM;

    if (!bc || !bk)
        rc = OD_SRV_ERR_NOMEM;
    else if (!x)
        fprintf(stderr,
                "otadelta-server: TLS certificate %s: no PEM certificate in it"
                " (\"-----BEGIN CERTIFICATE-----\")\n",
                t->cert_file);
    else if (!k)
        fprintf(stderr,
                "otadelta-server: TLS key %s: no unencrypted PEM private key in it"
                " (decrypt a passphrase-protected key first: openssl pkey -in KEY -out NEW)\n",
                t->key_file);
    else if (X509_check_private_key(x, k) != 1)
        fprintf(stderr,
                "otadelta-server: TLS key %s does not match the certificate in %s:"
                " give the key the certificate was issued for\n",
                t->key_file, t->cert_file);
    else
        rc = OD_SRV_OK;
    /* Clients will refuse it, but an expired certificate is the operator's
     * to replace, not a reason to keep the management API down. */
    if (rc == OD_SRV_OK && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        fprintf(stderr, "otadelta-server: warning: TLS certificate %s has expired\n",
                t->cert_file);
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(bk);
    BIO_free(bc);
    ERR_clear_error(); /* leave no failed parse behind for later callers */
    return rc;
}

static void pair_free(tls_pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->certs[i]);
    gnutls_x509_privkey_deinit(p->key); /* wipes the key's numbers */
    free(p);
}

/* GnuTLS's parse of a pair OpenSSL accepted; what GnuTLS alone refuses
 * (a key type it lacks, a chain too long) is printed naming the file. */
static int pair_parse(const od_srv_tls *t, char *cert, char *key, tls_pair **out)
{
    gnutls_datum_t dc = {(unsigned char *)cert, (unsigned)strlen(cert)};
    gnutls_datum_t dk = {(unsigned char *)key, (unsigned)strlen(key)};
    tls_pair *p = calloc(1, sizeof(*p));
    int g;

    if (!p || gnutls_x509_privkey_init(&p->key) < 0) {
        free(p);
        return OD_SRV_ERR_NOMEM;
    }
    p->n = OD_SRV_TLS_CHAIN_MAX;
    g = gnutls_pcert_list_import_x509_raw(p->certs, &p->n, &dc, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
    if (g < 0) {
        p->n = 0;
        if (g == GNUTLS_E_SHORT_MEMORY_BUFFER)
            fprintf(stderr, "otadelta-server: TLS certificate %s: more than %d certificates"
                            " in the chain\n", t->cert_file, OD_SRV_TLS_CHAIN_MAX);
        else
            fprintf(stderr, "otadelta-server: TLS certificate %s: GnuTLS cannot use it: %s\n",
                    t->cert_file, gnutls_strerror(g));
    } else if ((g = gnutls_x509_privkey_import2(p->key, &dk, GNUTLS_X509_FMT_PEM, NULL, 0)) <
               0) {
        fprintf(stderr, "otadelta-server: TLS key %s: GnuTLS cannot use it: %s\n", t->key_file,
                gnutls_strerror(g));
    }
    if (g < 0) {
        pair_free(p);
        return g == GNUTLS_E_MEMORY_ERROR ? OD_SRV_ERR_NOMEM : OD_SRV_ERR_PARAM;
    }
    *out = p;
    return OD_SRV_OK;
}

/* Reads, checks and parses t's two files into a new pair, holding no PEM
 * text after. */
static int pair_load(const od_srv_tls *t, tls_pair **out)
{
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    int rc = read_pem("TLS certificate", t->cert_file, &cert, &cert_len);

    if (rc == OD_SRV_OK)
        rc = read_pem("TLS key", t->key_file, &key, &key_len);
    if (rc == OD_SRV_OK)
        rc = check_pair(t, cert, key);
    if (rc == OD_SRV_OK)
        rc = pair_parse(t, cert, key, out);
    if (key)
        OPENSSL_cleanse(key, key_len);
    free(key);
    free(cert);
    return rc;
}

void od_srv_tls_close(od_srv_tls *t)
{
    if (!t)
        return;
    pair_free(t->cur);
    pthread_mutex_destroy(&t->mu);
    free(t->key_file);
    free(t->cert_file);
    free(t);
}

int od_srv_tls_open(const od_srv_config *cfg, od_srv_tls **out)
{
    od_srv_tls *t;
    int rc;

    *out = NULL;
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
    if (MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) != MHD_YES) {
        fprintf(stderr, "otadelta-server: this libmicrohttpd cannot ask for the certificate per"
                        " handshake (MHD_FEATURE_HTTPS_CERT_CALLBACK2: libmicrohttpd 0.9.71+ with"
                        " GnuTLS 3.6.3+), which HTTPS and its reload need\n");
        return OD_SRV_ERR_PARAM;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return OD_SRV_ERR_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    t->cert_file = strdup(cfg->tls_cert_file);
    t->key_file = strdup(cfg->tls_key_file);
    rc = t->cert_file && t->key_file ? pair_load(t, &t->cur) : OD_SRV_ERR_NOMEM;
    if (rc != OD_SRV_OK) {
        od_srv_tls_close(t);
        return rc;
    }
    *out = t;
    return OD_SRV_OK;
}

int od_srv_tls_reload(od_srv *s)
{
    od_srv_tls *t = s ? s->tls : NULL;
    tls_pair *p = NULL, *old;
    int rc;

    if (!t)
        return OD_SRV_ERR_STATE;
    rc = pair_load(t, &p);
    if (rc != OD_SRV_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    old = t->cur;
    t->cur = p;
    pthread_mutex_unlock(&t->mu);
    pair_free(old); /* handshakes hold copies, never old itself */
    return OD_SRV_OK;
}

/* Gives a handshake its own copy of p, for GnuTLS to free when the
 * session ends. 0, or -1 (out of memory; nothing is held). */
static int pair_copy(const tls_pair *p, gnutls_pcert_st **certs, unsigned *n,
                     gnutls_privkey_t *key)
{
    gnutls_pcert_st *c = gnutls_calloc(p->n, sizeof(*c));
    gnutls_privkey_t k = NULL;
    unsigned i = 0;

    if (!c)
        return -1;
    for (; i < p->n; i++)
        if (gnutls_pcert_import_x509_raw(&c[i], &p->certs[i].cert, GNUTLS_X509_FMT_DER, 0) < 0)
            break;
    if (i == p->n && gnutls_privkey_init(&k) == 0 &&
        gnutls_privkey_import_x509(k, p->key, GNUTLS_PRIVKEY_IMPORT_COPY) == 0) {
        *certs = c;
        *n = p->n;
        *key = k;
        return 0;
    }
    gnutls_privkey_deinit(k);
    while (i--)
        gnutls_pcert_deinit(&c[i]);
    gnutls_free(c);
    return -1;
}

/*
 * GnuTLS asks for the server's certificate once per handshake. There is
 * no closure argument: libmicrohttpd makes each session's pointer its
 * connection (gnutls_session_set_ptr, in every 0.9.x), and on_connection
 * below left t in that connection's socket context.
 */
static int on_handshake(gnutls_session_t sess, const struct gnutls_cert_retr_st *info,
                        gnutls_pcert_st **certs, unsigned *n, gnutls_ocsp_data_st **ocsp,
                        unsigned *ocsp_n, gnutls_privkey_t *key, unsigned *flags)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(sess);
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    od_srv_tls *t = ci ? ci->socket_context : NULL;
    int rc;

    (void)info; /* one certificate: nothing to choose by the client's algorithms */
    *certs = NULL;
    *n = 0;
    *ocsp = NULL;
    *ocsp_n = 0;
    *key = NULL;
    if (!t)
        return -1; /* fails this handshake only */
    pthread_mutex_lock(&t->mu);
    rc = pair_copy(t->cur, certs, n, key);
    pthread_mutex_unlock(&t->mu);
    if (rc != 0)
        return -1;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = cls;
}

void od_srv_tls_mhd_options(od_srv_tls *t, struct MHD_OptionItem *opts)
{
    /* ISO C has no cast between function and object pointers, and an
     * option array holds functions in its pointer or integer field: they
     * go through uintptr_t, and libmicrohttpd reads them back as what
     * they are. */
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0,
                                      (void *)(uintptr_t)on_handshake};
    opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                      (void *)(uintptr_t)OD_SRV_TLS_PRIORITIES};
    opts[2] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
                                      (intptr_t)(uintptr_t)on_connection, t};
    opts[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
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
