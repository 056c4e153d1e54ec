/*
 * od_pkg_sign.c - package signatures (host, OpenSSL 3 EVP) and the update
 * policy helpers (freestanding).
 *
 * The policy part at the top uses no libc at all so an MCU build can take
 * it alone: compile with -DOD_PKG_SIGN_POLICY_ONLY=1 and only that part is
 * left. Everything below the marked line needs OpenSSL, POSIX and malloc.
 *
 * Why the header and not the package is signed: the MCU sees the package
 * once, front to back, and must decide before its first flash write. The
 * core header (at most OD_HDR_MAX = 290 bytes) arrives first and binds
 * the payload and the images through their hashes, so a signature over it
 * can be checked with that much RAM, and the later hash checks (payload
 * SHA-256, target read-back) turn "header authentic" into "payload and
 * result authentic". Other extension records are not covered, and the
 * index only by its CRC-32 (docs/SECURITY.md).
 */
#ifndef OD_PKG_SIGN_POLICY_ONLY
#define OD_PKG_SIGN_POLICY_ONLY 0
#endif

#if !OD_PKG_SIGN_POLICY_ONLY
#define _POSIX_C_SOURCE 200809L
#endif

#include "od_pkgfmt_sign.h"

/* ---- update policy: freestanding ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Compares two digit strings as unbounded integers: leading zeros are
 * skipped, then the longer is larger, then the first differing digit. */
static int cmp_number(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i;
    while (an && *a == '0') {
        a++;
        an--;
    }
    while (bn && *b == '0') {
        b++;
        bn--;
    }
    if (an != bn)
        return an < bn ? -1 : 1;
    for (i = 0; i < an; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* Length of the numeric core: the prefix of digits and dots. */
static size_t core_len(const char *s)
{
    size_t n = 0;
    while (is_digit(s[n]) || s[n] == '.')
        n++;
    return n;
}

/* Compares two cores field by field; a missing field is 0. */
static int cmp_core(const char *a, size_t an, const char *b, size_t bn)
{
    size_t ia = 0, ib = 0;
    while (ia < an || ib < bn) {
        size_t ea = ia, eb = ib;
        int r;
        while (ea < an && a[ea] != '.')
            ea++;
        while (eb < bn && b[eb] != '.')
            eb++;
        r = cmp_number(a + ia, ea - ia, b + ib, eb - ib);
        if (r)
            return r;
        /* Step over the dot; past the end stays past the end. */
        ia = ea < an ? ea + 1 : an;
        ib = eb < bn ? eb + 1 : bn;
    }
    return 0;
}

/* Compares two suffixes run by run (see od_pkg_version_compare). */
static int cmp_suffix(const char *a, const char *b)
{
    for (;;) {
        size_t na = 0, nb = 0, i;
        int da, db, r;
        if (!*a || !*b)
            return (*a != 0) - (*b != 0); /* the shorter is older */
        da = is_digit(*a);
        db = is_digit(*b);
        if (da != db)
            return da ? 1 : -1; /* a number is newer than a word */
        while (a[na] && is_digit(a[na]) == da)
            na++;
        while (b[nb] && is_digit(b[nb]) == db)
            nb++;
        if (da) {
            r = cmp_number(a, na, b, nb);
            if (r)
                return r;
        } else {
            for (i = 0; i < na && i < nb; i++)
                if (a[i] != b[i])
                    return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
            if (na != nb)
                return na < nb ? -1 : 1;
        }
        a += na;
        b += nb;
    }
}

int od_pkg_version_compare(const char *a, const char *b)
{
    size_t ca, cb;
    int r;
    if (!a)
        a = "";
    if (!b)
        b = "";
    ca = core_len(a);
    cb = core_len(b);
    r = cmp_core(a, ca, b, cb);
    if (r)
        return r;
    a += ca;
    b += cb;
    if (*a == '.' || *a == '-' || *a == '_')
        a++;
    if (*b == '.' || *b == '-' || *b == '_')
        b++;
    /* A release is newer than any of its pre-releases. */
    if (!*a || !*b)
        return (*a == 0) - (*b == 0);
    return cmp_suffix(a, b);
}

static int str_equal(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

int od_pkg_policy_check(const od_pkg_header *h, const od_pkg_policy *pol)
{
    size_t i;
    if (!h || !pol)
        return OD_POLICY_ERR_PARAM;
    if (h->kind == OD_KIND_DELTA) {
        if (pol->running_version && !str_equal(h->source_version, pol->running_version))
            return OD_POLICY_ERR_SOURCE_VERSION;
        if (pol->running_sha256) {
            /* Not constant-time, and need not be: both hashes are public. */
            for (i = 0; i < OD_SHA256_LEN; i++)
                if (h->source_sha256[i] != pol->running_sha256[i])
                    return OD_POLICY_ERR_SOURCE_HASH;
        }
    }
    if (pol->running_version) {
        int c = od_pkg_version_compare(h->target_version, pol->running_version);
        if (pol->refuse_downgrade && c < 0)
            return OD_POLICY_ERR_DOWNGRADE;
        if (pol->refuse_same && c == 0)
            return OD_POLICY_ERR_SAME;
    }
    return OD_POLICY_OK;
}

const char *od_pkg_policy_strerror(int ret)
{
    switch (ret) {
    case OD_POLICY_OK: return "ok";
    case OD_POLICY_ERR_PARAM: return "policy check called without a header or policy";
    case OD_POLICY_ERR_SOURCE_VERSION: return "package was built for another source version";
    case OD_POLICY_ERR_SOURCE_HASH: return "package was built for another source image (SHA-256 differs)";
    case OD_POLICY_ERR_DOWNGRADE: return "package would downgrade the firmware";
    case OD_POLICY_ERR_SAME: return "package would reinstall the running version";
    default: return "unknown policy error";
    }
}

#if !OD_PKG_SIGN_POLICY_ONLY
/* ---- everything below: host only (OpenSSL 3, POSIX, malloc) ---- */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "od_pkgfmt_host.h"
#include "od_pkgfmt_internal.h"

#define P256_COORD 32 /* bytes of r and of s */

const char *od_sign_strerror(int ret)
{
    switch (ret) {
    case OD_SIGN_OK: return "ok";
    case OD_SIGN_ERR_PARAM: return "invalid argument";
    case OD_SIGN_ERR_PACKAGE: return "the package is invalid or damaged";
    case OD_SIGN_ERR_KEY: return "key unreadable or not an Ed25519 / ECDSA P-256 key";
    case OD_SIGN_ERR_NOSIG: return "the package is not signed";
    case OD_SIGN_ERR_BAD: return "the signature does not verify (package altered, or signed with another key)";
    case OD_SIGN_ERR_NOMEM: return "out of memory";
    case OD_SIGN_ERR_CRYPTO: return "the cryptographic library failed";
    case OD_SIGN_ERR_IO: return "cannot write the key file";
    case OD_SIGN_ERR_EXISTS: return "the key file already exists";
    case OD_SIGN_ERR_TOO_BIG: return "the extension area would exceed its 65536-byte limit";
    default: return "unknown signing error";
    }
}

/* True for an EC key on NIST P-256 (OpenSSL calls it prime256v1). */
static int is_p256(const EVP_PKEY *k)
{
    char name[64];
    size_t n = 0;
    if (!EVP_PKEY_is_a(k, "EC"))
        return 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &n))
        return 0;
    return !strcmp(name, "prime256v1") || !strcmp(name, "P-256");
}

int od_pkg_key_alg(const struct evp_pkey_st *key)
{
    if (!key)
        return -1;
    if (EVP_PKEY_is_a(key, "ED25519"))
        return OD_SIG_ALG_ED25519;
    if (is_p256(key))
        return OD_SIG_ALG_P256;
    return -1;
}

/* ---- keys ---- */

/*
 * Writes a key file: a temporary file beside path (created 0600, so a
 * private key is never readable by others, not even briefly), synced,
 * given its final mode, then moved into place. Without force the move is
 * link(), which fails atomically if path exists.
 */
static int write_key_file(const char *path, const uint8_t *data, size_t size, mode_t mode,
                          int force)
{
    char *tmp;
    int r = od__pkg_write_temp(path, data, size, 0600, (unsigned)mode, &tmp), saved;

    if (r != OD_PKG_OK)
        return r == OD_PKG_ERR_IO_CREATE && errno == ENOMEM ? OD_SIGN_ERR_NOMEM : OD_SIGN_ERR_IO;
    r = OD_SIGN_ERR_IO;
    if (force) {
        if (rename(tmp, path) == 0) {
            free(tmp);
            return OD_SIGN_OK;
        }
    } else if (link(tmp, path) == 0) {
        r = OD_SIGN_OK;
    } else if (errno == EEXIST || access(path, F_OK) == 0) {
        r = OD_SIGN_ERR_EXISTS;
    } else if (rename(tmp, path) == 0) {
        /* No hard links on this file system: fall back to a checked rename
         * (a race with another writer is then possible, but harmless for
         * a key we have not handed out yet). */
        free(tmp);
        return OD_SIGN_OK;
    }
    saved = errno;
    unlink(tmp);
    free(tmp);
    errno = saved;
    return r;
}

/* Whether path is missing or a regular file (through links); else errno
 * says what is there (EISDIR for a directory). */
static int replaceable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT;
    if (S_ISREG(st.st_mode))
        return 1;
    errno = S_ISDIR(st.st_mode) ? EISDIR : EEXIST;
    return 0;
}

/* Serialises a key with one of the PEM writers into a malloc'd buffer. */
static int pem_to_buf(EVP_PKEY *k, int priv, uint8_t **out, size_t *size)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    int ok;
    if (!b)
        return OD_SIGN_ERR_NOMEM;
    ok = priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
              : PEM_write_bio_PUBKEY(b, k);
    n = BIO_get_mem_data(b, &p);
    if (!ok || n <= 0 || !(*out = malloc((size_t)n))) {
        BIO_free(b);
        return ok ? OD_SIGN_ERR_NOMEM : OD_SIGN_ERR_CRYPTO;
    }
    memcpy(*out, p, (size_t)n);
    *size = (size_t)n;
    /* BIO_free on a memory BIO does not wipe it; the private key PEM sits
     * in our copy (wiped by the caller) and in OpenSSL's freed buffer. */
    OPENSSL_cleanse(p, (size_t)n);
    BIO_free(b);
    return OD_SIGN_OK;
}

int od_pkg_keygen(int alg, const char *priv_path, const char *pub_path, int force)
{
    EVP_PKEY *k = NULL;
    uint8_t *priv = NULL, *pub = NULL;
    size_t priv_n = 0, pub_n = 0;
    int r, had_priv;

    if (!priv_path || !pub_path || !strcmp(priv_path, pub_path))
        return OD_SIGN_ERR_PARAM;
    if (alg == OD_SIG_ALG_ED25519)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (alg == OD_SIG_ALG_P256)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else
        return OD_SIGN_ERR_PARAM;
    if (!k)
        return OD_SIGN_ERR_CRYPTO;
    /* Something other than a file in the way (a directory) would only
     * fail at the move: find it before a key is replaced, and before the
     * check below would call it an existing key file. */
    if (!replaceable(priv_path) || !replaceable(pub_path)) {
        r = OD_SIGN_ERR_IO;
        goto done;
    }
    /* Refuse early, before writing anything; write_key_file() re-checks
     * atomically for the race. */
    if (!force && (access(priv_path, F_OK) == 0 || access(pub_path, F_OK) == 0)) {
        r = OD_SIGN_ERR_EXISTS;
        goto done;
    }
    had_priv = access(priv_path, F_OK) == 0;
    if ((r = pem_to_buf(k, 1, &priv, &priv_n)) != OD_SIGN_OK ||
        (r = pem_to_buf(k, 0, &pub, &pub_n)) != OD_SIGN_OK)
        goto done;
    if ((r = write_key_file(priv_path, priv, priv_n, 0600, force)) != OD_SIGN_OK)
        goto done;
    if ((r = write_key_file(pub_path, pub, pub_n, 0644, force)) != OD_SIGN_OK && !had_priv) {
        int saved = errno;
        unlink(priv_path); /* no new private key without its public half */
        errno = saved;
    }
done:
    if (priv)
        OPENSSL_cleanse(priv, priv_n);
    free(priv);
    free(pub);
    EVP_PKEY_free(k);
    return r;
}

/* The PEM key in b, which it frees (NULL: none): a private key, or with
 * !want_private a public key or the public half of a private one. One
 * reader for files and memory, so both accept exactly the same keys. */
static EVP_PKEY *read_key(BIO *b, int want_private)
{
    EVP_PKEY *k = NULL;
    if (!b)
        return NULL;
    if (!want_private)
        k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    /* BIO_reset rewinds a file BIO and a read-only memory BIO alike. An
     * empty passphrase callback: an encrypted key fails instead of
     * prompting on the terminal from inside a library. */
    if (!k && BIO_reset(b) >= 0)
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
    BIO_free(b);
    if (k && od_pkg_key_alg(k) < 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* A read-only memory BIO over pem, which it does not copy. */
static BIO *mem_bio(const void *pem, size_t len)
{
    return pem && len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
}

/* Reads the key file at path once, as it is at open time, and parses those
 * bytes: O_NONBLOCK and the regular-file check keep a FIFO or device from
 * blocking or feeding it, and what is parsed is what was checked. */
static EVP_PKEY *load_key_file(const char *path, int want_private)
{
    struct stat st;
    uint8_t *pem = NULL;
    size_t got = 0;
    EVP_PKEY *k = NULL;
    int fd;

    if (!path || (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (off_t)OD_KEY_FILE_MAX &&
        (pem = malloc((size_t)st.st_size + 1)) != NULL) {
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, pem + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == (size_t)st.st_size)
            k = read_key(mem_bio(pem, got), want_private);
        OPENSSL_cleanse(pem, got);
        free(pem);
    }
    close(fd);
    return k;
}

struct evp_pkey_st *od_pkg_load_private_key(const char *path)
{
    return load_key_file(path, 1);
}

struct evp_pkey_st *od_pkg_load_public_key(const char *path)
{
    return load_key_file(path, 0);
}

struct evp_pkey_st *od_pkg_parse_private_key(const void *pem, size_t len)
{
    return read_key(mem_bio(pem, len), 1);
}

struct evp_pkey_st *od_pkg_parse_public_key(const void *pem, size_t len)
{
    return read_key(mem_bio(pem, len), 0);
}

/* ---- signing a header ---- */

int od_pkg_sign_header(struct evp_pkey_st *key, const uint8_t *hdr, uint32_t hdr_len,
                       uint8_t value[OD_SIG_VALUE_LEN])
{
    int alg = od_pkg_key_alg(key), r = OD_SIGN_ERR_CRYPTO;
    EVP_MD_CTX *m;
    uint8_t der[128];
    size_t n = sizeof(der);

    if (!key || !hdr || !value || hdr_len < OD_HDR_MIN || hdr_len > OD_HDR_MAX)
        return OD_SIGN_ERR_PARAM;
    if (alg < 0)
        return OD_SIGN_ERR_KEY;
    if (!(m = EVP_MD_CTX_new()))
        return OD_SIGN_ERR_NOMEM;
    value[0] = (uint8_t)alg;
    if (alg == OD_SIG_ALG_ED25519) {
        /* Pure Ed25519: the message goes in whole, no digest name. */
        n = OD_SIG_RAW_LEN;
        if (EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, key, NULL) == 1 &&
            EVP_DigestSign(m, value + 1, &n, hdr, hdr_len) == 1 && n == OD_SIG_RAW_LEN)
            r = OD_SIGN_OK;
    } else {
        /* OpenSSL gives DER; the format stores fixed-size r || s so the
         * record has one length and an MCU verifier needs no DER parser. */
        ECDSA_SIG *es = NULL;
        const unsigned char *p = der;
        const BIGNUM *br, *bs;
        if (EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
            EVP_DigestSign(m, der, &n, hdr, hdr_len) == 1 &&
            (es = d2i_ECDSA_SIG(NULL, &p, (long)n)) != NULL) {
            ECDSA_SIG_get0(es, &br, &bs);
            if (BN_bn2binpad(br, value + 1, P256_COORD) == P256_COORD &&
                BN_bn2binpad(bs, value + 1 + P256_COORD, P256_COORD) == P256_COORD)
                r = OD_SIGN_OK;
        }
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(m);
    return r;
}

int od_pkg_verify_header(struct evp_pkey_st *pub, const uint8_t *hdr, uint32_t hdr_len,
                         const uint8_t *sig, uint32_t sig_len)
{
    int alg = od_pkg_key_alg(pub), ok = 0;
    EVP_MD_CTX *m;

    if (!hdr || hdr_len < OD_HDR_MIN || hdr_len > OD_HDR_MAX)
        return OD_SIGN_ERR_PARAM;
    if (alg < 0)
        return OD_SIGN_ERR_KEY;
    if (!sig || sig_len == 0)
        return OD_SIGN_ERR_NOSIG;
    /* The id must name the key's algorithm: a verifier never lets the
     * package choose how it is checked. */
    if (sig_len != OD_SIG_VALUE_LEN || sig[0] != alg)
        return OD_SIGN_ERR_BAD;
    if (!(m = EVP_MD_CTX_new()))
        return OD_SIGN_ERR_NOMEM;
    if (alg == OD_SIG_ALG_ED25519) {
        ok = EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, pub, NULL) == 1 &&
             EVP_DigestVerify(m, sig + 1, OD_SIG_RAW_LEN, hdr, hdr_len) == 1;
    } else {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *br = BN_bin2bn(sig + 1, P256_COORD, NULL);
        BIGNUM *bs = BN_bin2bn(sig + 1 + P256_COORD, P256_COORD, NULL);
        uint8_t der[128];
        unsigned char *p = der;
        int n;
        if (es && br && bs && ECDSA_SIG_set0(es, br, bs)) {
            br = bs = NULL; /* owned by es now */
            /* r and s are below 2^256, so the DER form is at most 72 bytes. */
            n = i2d_ECDSA_SIG(es, &p);
            ok = n > 0 && (size_t)n <= sizeof(der) &&
                 EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, pub, NULL) == 1 &&
                 EVP_DigestVerify(m, der, (size_t)n, hdr, hdr_len) == 1;
        }
        BN_free(br);
        BN_free(bs);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(m);
    return ok ? OD_SIGN_OK : OD_SIGN_ERR_BAD;
}

/* ---- whole packages ---- */

int od_pkg_sign(const uint8_t *pkg, size_t size, struct evp_pkey_st *key, uint8_t **out,
                size_t *out_size)
{
    od_pkg_header h;
    const uint8_t *ext, *value;
    uint32_t pos = 0, prev = 0, kept = 0, new_ext;
    uint16_t type, len;
    uint8_t *o, *w;
    size_t rest, new_size;
    int r;

    if (!pkg || !key || !out || !out_size)
        return OD_SIGN_ERR_PARAM;
    if (od_pkg_check(pkg, size, &h) != OD_PKG_OK)
        return OD_SIGN_ERR_PACKAGE;
    if (od_pkg_key_alg(key) < 0)
        return OD_SIGN_ERR_KEY;

    /* First pass: how many extension bytes survive (all but signatures). */
    ext = pkg + h.header_size;
    while ((r = od_pkg_next_tlv(ext, h.ext_size, &pos, &type, &value, &len)) == OD_PKG_OK) {
        if (type != OD_TLV_SIGNATURE)
            kept += pos - prev;
        prev = pos;
    }
    if (r < 0)
        return OD_SIGN_ERR_PACKAGE;
    new_ext = kept + OD_SIG_TLV_LEN;
    if (new_ext > 65536u)
        return OD_SIGN_ERR_TOO_BIG;
    rest = size - h.header_size - h.ext_size; /* index and payload, unchanged */
    new_size = h.header_size + (size_t)new_ext + rest;
    if (new_size > 0xFFFFFFFFu)
        return OD_SIGN_ERR_TOO_BIG;
    if (!(o = malloc(new_size)))
        return OD_SIGN_ERR_NOMEM;

    /* Header with the new ext_size and CRC. Patched in place rather than
     * re-encoded, so every other byte stays exactly as it was. */
    memcpy(o, pkg, h.header_size);
    od_put_le32(o + OD_HF_EXT_SIZE, new_ext);
    od_pkg_fix_crcs(o, h.header_size, OD_PKG_FIX_HEADER_CRC);

    /* The signature goes first: an applier meets it before anything else. */
    w = o + h.header_size;
    od_put_le16(w, OD_TLV_SIGNATURE);
    od_put_le16(w + 2, OD_SIG_VALUE_LEN);
    w += OD_SIG_TLV_LEN;
    pos = prev = 0;
    while (od_pkg_next_tlv(ext, h.ext_size, &pos, &type, &value, &len) == OD_PKG_OK) {
        if (type != OD_TLV_SIGNATURE) {
            memcpy(w, ext + prev, pos - prev);
            w += pos - prev;
        }
        prev = pos;
    }
    memcpy(w, ext + h.ext_size, rest);

    r = od_pkg_sign_header(key, o, h.header_size, o + h.header_size + 4);
    /* Self-check: what we hand out must still be a valid package. */
    if (r == OD_SIGN_OK && od_pkg_check(o, new_size, NULL) != OD_PKG_OK)
        r = OD_SIGN_ERR_CRYPTO;
    if (r != OD_SIGN_OK) {
        free(o);
        return r;
    }
    *out = o;
    *out_size = new_size;
    return OD_SIGN_OK;
}

int od_pkg_verify(const uint8_t *pkg, size_t size, struct evp_pkey_st *pub)
{
    od_pkg_header h;
    const uint8_t *value, *sig = NULL;
    uint32_t pos = 0, sig_len = 0, found = 0;
    uint16_t type, len;
    int r;

    if (!pkg || !pub)
        return OD_SIGN_ERR_PARAM;
    if (od_pkg_parse_header(pkg, size, &h) != OD_PKG_OK || size - h.header_size < h.ext_size)
        return OD_SIGN_ERR_PACKAGE;
    while ((r = od_pkg_next_tlv(pkg + h.header_size, h.ext_size, &pos, &type, &value, &len)) ==
           OD_PKG_OK) {
        if (type == OD_TLV_SIGNATURE) {
            found++;
            sig = value;
            sig_len = len;
        }
    }
    if (r < 0)
        return OD_SIGN_ERR_PACKAGE;
    if (found > 1) /* the applier refuses two as well */
        return OD_SIGN_ERR_BAD;
    return od_pkg_verify_header(pub, pkg, h.header_size, sig, sig_len);
}

int od_pkg_verify_hook_openssl(void *ctx, const uint8_t *hdr, uint32_t hdr_len,
                               const uint8_t *sig, uint32_t sig_len)
{
    if (!ctx)
        return 1; /* no key configured: refuse, never accept by accident */
    return od_pkg_verify_header((EVP_PKEY *)ctx, hdr, hdr_len, sig, sig_len) != OD_SIGN_OK;
}

int od_pkg_verify_hook_policy(void *ctx, const uint8_t *hdr, uint32_t hdr_len,
                              const uint8_t *sig, uint32_t sig_len)
{
    const od_pkg_verify_ctx *v = ctx;
    od_pkg_header h;
    if (!v || (!v->key && !v->allow_unsigned))
        return 1;
    if (v->key && od_pkg_verify_header(v->key, hdr, hdr_len, sig, sig_len) != OD_SIGN_OK)
        return 1;
    if (v->policy) {
        if (!hdr || od_pkg_parse_header(hdr, hdr_len, &h) != OD_PKG_OK)
            return 1;
        if (od_pkg_policy_check(&h, v->policy) != OD_POLICY_OK)
            return 1;
    }
    return 0;
}

#endif /* !OD_PKG_SIGN_POLICY_ONLY */
