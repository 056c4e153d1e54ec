/*
 * test_sign.c - package signatures and the update policy: key generation
 * for both algorithms, sign/verify, the applier with the OpenSSL verify
 * hook accepting a signed package and refusing every forgery before its
 * first flash write, re-signing, the policy helpers, and the CLI functions
 * of cli/od_cli_sign.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "od_cli_sign.h"
#include "od_diff.h"
#include "od_pkgfmt_host.h"
#include "od_pkgfmt_sign.h"
#include "od_test.h"
#include "od_test_flash.h"

static char dir[256];
static const int algs[] = {OD_SIG_ALG_ED25519, OD_SIG_ALG_P256};

static uint32_t hdr_size(const uint8_t *pkg)
{
    return od_get_le16(pkg + OD_HF_HDR_SIZE);
}

static void fix_header_crc(uint8_t *pkg)
{
    od_pkg_fix_crcs(pkg, hdr_size(pkg), OD_PKG_FIX_HEADER_CRC);
}

/* A small delta package (old 40000 bytes, new edited) for `codec`. */
static uint8_t *make_pkg(int codec, size_t *size, uint8_t **nw_out, size_t *nw_size,
                         uint8_t **old_out, size_t *old_size)
{
    enum { N = 40000 };
    unsigned long long s = 42;
    uint8_t *old = malloc(N), *nw = malloc(N), *pkg = NULL;
    od_diff_params p;
    size_t i;
    for (i = 0; i < N; i++) {
        unsigned long long r = od_test_rand(&s);
        old[i] = (r & 7) == 0 ? (uint8_t)(r >> 56) : (uint8_t)((i * 13) ^ (i >> 5));
    }
    memcpy(nw, old, N);
    for (i = 0; i < N; i += 97)
        nw[i] = (uint8_t)(nw[i] + 3);
    od_diff_params_init(&p);
    p.codec = codec;
    p.exact_codec = 1; /* signed packages of every codec */
    p.source_version = "1.0.0";
    p.target_version = "1.1.0";
    p.block_size = 16384; /* several blocks */
    if (od_diff_create(old, N, nw, N, &p, &pkg, size) != OD_DIFF_OK) {
        free(old);
        free(nw);
        return NULL;
    }
    *nw_out = nw;
    *nw_size = N;
    *old_out = old;
    *old_size = N;
    return pkg;
}

static void keypaths(int alg, const char *tag, char *priv, char *pub)
{
    snprintf(priv, 512, "%s/%s-%d.pem", dir, tag, alg);
    snprintf(pub, 512, "%s/%s-%d.pub", dir, tag, alg);
}

/* Generates (once) and loads the key pair `tag` for alg. */
static EVP_PKEY *key(int alg, const char *tag, int pub_only)
{
    char priv[512], pub[512];
    keypaths(alg, tag, priv, pub);
    if (access(priv, F_OK) != 0 && od_pkg_keygen(alg, priv, pub, 0) != OD_SIGN_OK)
        return NULL;
    return pub_only ? od_pkg_load_public_key(pub) : od_pkg_load_private_key(priv);
}

/*
 * od_patch_config has one ctx for every callback, and the test flash
 * callbacks want theirs; the hook context therefore embeds the flash as
 * its first member and forwards to the adapter with the key, which is how
 * an integrator with other callbacks uses od_pkg_verify_hook_openssl too.
 */
typedef struct hook_ctx {
    od_test_flash f; /* first: the flash callbacks cast ctx to this */
    EVP_PKEY *key;
    int calls;
} hook_ctx;

static int hook(void *ctx, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *sig,
                uint32_t sig_len)
{
    hook_ctx *c = ctx;
    c->calls++;
    return od_pkg_verify_hook_openssl(c->key, hdr, hdr_len, sig, sig_len);
}

/* Runs the applier with the OpenSSL hook over pkg in 100-byte chunks.
 * Returns its final status; *writes gets the page writes made, and the
 * result must equal nw when the status is DONE. */
static int apply(const uint8_t *pkg, size_t size, const uint8_t *old, size_t old_size,
                 const uint8_t *nw, size_t nw_size, EVP_PKEY *pub, uint32_t *writes)
{
    od_pkg_header h;
    hook_ctx hc;
    od_patch_config cfg;
    od_patch p;
    int r;
    if (od_pkg_parse_header(pkg, size, &h) != OD_PKG_OK)
        memset(&h, 0, sizeof(h));
    memset(&hc, 0, sizeof(hc));
    od_test_flash_setup(&hc.f, &cfg, &h, old, old_size, 256);
    hc.key = pub;
    cfg.ctx = &hc;
    cfg.verify_header = hook;
    od_patch_init(&p, &cfg, 0);
    r = od_test_feed_all(&p, pkg, size, 100);
    *writes = hc.f.writes;
    if (r == OD_PATCH_DONE && (hc.f.violations || nw_size != h.target_size ||
                               memcmp(hc.f.img, nw, nw_size) != 0))
        r = -1000; /* DONE with a wrong image: never acceptable */
    if (hc.calls > 1 || (r == OD_PATCH_DONE && hc.calls != 1))
        r = -1001; /* the hook runs once per package, and before DONE */
    od_test_flash_free(&hc.f, &cfg);
    return r;
}

/* Inserts a TLV record first in the extension area, fixing ext_size and
 * the header CRC. Returns a new malloc'd package. */
static uint8_t *insert_tlv(const uint8_t *pkg, size_t size, uint16_t type, const uint8_t *val,
                           uint16_t len, size_t *out_size)
{
    uint8_t *o = malloc(size + 4 + len);
    uint32_t ext = od_get_le32(pkg + OD_HF_EXT_SIZE), hs = hdr_size(pkg);
    memcpy(o, pkg, hs);
    od_put_le16(o + hs, type);
    od_put_le16(o + hs + 2, len);
    memcpy(o + hs + 4, val, len);
    memcpy(o + hs + 4 + len, pkg + hs, size - hs);
    od_put_le32(o + OD_HF_EXT_SIZE, ext + 4 + len);
    fix_header_crc(o);
    *out_size = size + 4 + len;
    return o;
}

/* Counts signature records and returns the first one's value. */
static int count_sigs(const uint8_t *pkg, const uint8_t **sig, uint16_t *sig_len)
{
    uint32_t pos = 0, ext = od_get_le32(pkg + OD_HF_EXT_SIZE);
    uint16_t type, len;
    const uint8_t *v;
    int n = 0;
    while (od_pkg_next_tlv(pkg + hdr_size(pkg), ext, &pos, &type, &v, &len) == OD_PKG_OK)
        if (type == OD_TLV_SIGNATURE && n++ == 0) {
            *sig = v;
            *sig_len = len;
        }
    return n;
}

/* ---- cases ---- */

static void t_keygen(void)
{
    size_t k;
    for (k = 0; k < 2; k++) {
        char priv[512], pub[512];
        struct stat st;
        EVP_PKEY *a, *b;
        keypaths(algs[k], "gen", priv, pub);
        OD_CHECK_EQ(od_pkg_keygen(algs[k], priv, pub, 0), OD_SIGN_OK);
        OD_REQUIRE(stat(priv, &st) == 0);
        OD_CHECK_EQ(st.st_mode & 0777, 0600);
        OD_REQUIRE(stat(pub, &st) == 0);
        OD_CHECK_EQ(st.st_mode & 0777, 0644);
        a = od_pkg_load_private_key(priv);
        b = od_pkg_load_public_key(pub);
        OD_CHECK(a && b);
        OD_CHECK_EQ(od_pkg_key_alg(a), algs[k]);
        OD_CHECK_EQ(od_pkg_key_alg(b), algs[k]);
        /* A public key is not a private key. */
        OD_CHECK(od_pkg_load_private_key(pub) == NULL);
        /* The same from the files' bytes in memory, as the CLI reads them. */
        {
            uint8_t *pp, *bp;
            size_t np = 0, nb = 0;
            EVP_PKEY *m;
            pp = od_test_read_file(priv, &np);
            bp = od_test_read_file(pub, &nb);
            OD_REQUIRE(pp != NULL && bp != NULL);
            m = od_pkg_parse_private_key(pp, np);
            OD_CHECK(m && EVP_PKEY_eq(m, a) == 1);
            EVP_PKEY_free(m);
            m = od_pkg_parse_public_key(bp, nb);
            OD_CHECK(m && EVP_PKEY_eq(m, b) == 1);
            EVP_PKEY_free(m);
            m = od_pkg_parse_public_key(pp, np); /* derived from the private key */
            OD_CHECK(m && EVP_PKEY_eq(m, b) == 1);
            EVP_PKEY_free(m);
            OD_CHECK(od_pkg_parse_private_key(bp, nb) == NULL);
            /* Only len bytes are read: the same bytes cut short fail. */
            OD_CHECK(od_pkg_parse_private_key(pp, np / 2) == NULL);
            OD_CHECK(od_pkg_parse_public_key(bp, nb / 2) == NULL);
            OD_CHECK(od_pkg_parse_private_key(pp, 0) == NULL);
            OD_CHECK(od_pkg_parse_public_key(NULL, nb) == NULL);
            free(pp);
            free(bp);
        }
        /* No silent overwrite; --force replaces. */
        OD_CHECK_EQ(od_pkg_keygen(algs[k], priv, pub, 0), OD_SIGN_ERR_EXISTS);
        OD_CHECK_EQ(od_pkg_keygen(algs[k], priv, pub, 1), OD_SIGN_OK);
        OD_REQUIRE(stat(priv, &st) == 0);
        OD_CHECK_EQ(st.st_mode & 0777, 0600);
        /* A directory where the public key goes: refused before the
         * private key is touched, which stays as it was. */
        {
            uint8_t *before, *after;
            size_t nb = 0, na = 0;
            before = od_test_read_file(priv, &nb);
            OD_REQUIRE(before != NULL && unlink(pub) == 0 && mkdir(pub, 0755) == 0);
            OD_CHECK_EQ(od_pkg_keygen(algs[k], priv, pub, 1), OD_SIGN_ERR_IO);
            /* Without force too: a directory is not an existing key. */
            errno = 0;
            OD_CHECK_EQ(od_pkg_keygen(algs[k], priv, pub, 0), OD_SIGN_ERR_IO);
            OD_CHECK_EQ(errno, EISDIR);
            after = od_test_read_file(priv, &na);
            OD_CHECK(after != NULL && na == nb && !memcmp(before, after, nb));
            OD_CHECK_EQ(rmdir(pub), 0);
            free(before);
            free(after);
        }
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
    }
    OD_CHECK_EQ(od_pkg_keygen(7, "/nonexistent/a", "/nonexistent/b", 0), OD_SIGN_ERR_PARAM);
    OD_CHECK_EQ(od_pkg_keygen(OD_SIG_ALG_ED25519, "/nonexistent/a", "/nonexistent/b", 0),
                OD_SIGN_ERR_IO);
    OD_CHECK(od_pkg_load_public_key("/nonexistent/key.pub") == NULL);
    {
        /* A FIFO is refused at once: opened without O_NONBLOCK it would
         * wait here for a writer that never comes. */
        char fifo[600];
        snprintf(fifo, sizeof(fifo), "%s/key.fifo", dir);
        OD_REQUIRE(mkfifo(fifo, 0600) == 0);
        OD_CHECK(od_pkg_load_private_key(fifo) == NULL);
        OD_CHECK(od_pkg_load_public_key(fifo) == NULL);
        unlink(fifo);
        /* A directory is not a key either. */
        OD_CHECK(od_pkg_load_public_key(dir) == NULL);
    }
}

/* Sign, check, verify, apply; and every forgery refused before writing. */
static void sign_and_apply(int alg, int codec)
{
    uint8_t *pkg, *nw, *old, *sp = NULL, *bad;
    uint32_t hs;
    size_t size, nw_size, old_size, ss = 0;
    EVP_PKEY *priv = key(alg, "main", 0), *pub = key(alg, "main", 1);
    EVP_PKEY *other = key(alg, "other", 1);
    EVP_PKEY *cross = key(alg == OD_SIG_ALG_ED25519 ? OD_SIG_ALG_P256 : OD_SIG_ALG_ED25519,
                          "main", 1);
    od_pkg_header h;
    uint32_t writes = 0;
    const uint8_t *sig = NULL;
    uint16_t sig_len = 0;

    OD_REQUIRE(priv && pub && other && cross);
    pkg = make_pkg(codec, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg != NULL);

    OD_CHECK_EQ(od_pkg_sign(pkg, size, priv, &sp, &ss), OD_SIGN_OK);
    OD_REQUIRE(sp != NULL);
    OD_CHECK_EQ(od_pkg_check(sp, ss, &h), OD_PKG_OK);
    OD_CHECK_EQ(h.ext_size, OD_SIG_TLV_LEN);
    OD_CHECK_EQ(ss, size + OD_SIG_TLV_LEN);
    /* Only ext_size and the CRC change in the header; index and payload
     * are byte for byte the same. */
    hs = hdr_size(pkg);
    OD_CHECK_EQ(hdr_size(sp), hs);
    OD_CHECK(memcmp(sp, pkg, OD_HF_EXT_SIZE) == 0 &&
             memcmp(sp + OD_HF_EXT_SIZE + 4, pkg + OD_HF_EXT_SIZE + 4, hs - 4 - OD_HF_EXT_SIZE - 4) == 0);
    OD_CHECK(memcmp(sp + hs + OD_SIG_TLV_LEN, pkg + hs, size - hs) == 0);
    OD_CHECK_EQ(count_sigs(sp, &sig, &sig_len), 1);
    OD_CHECK_EQ(sig_len, OD_SIG_VALUE_LEN);
    OD_CHECK_EQ(sig[0], alg);

    OD_CHECK_EQ(od_pkg_verify(sp, ss, pub), OD_SIGN_OK);
    OD_CHECK_EQ(od_pkg_verify(sp, ss, priv), OD_SIGN_OK); /* a private key verifies too */
    OD_CHECK_EQ(od_pkg_verify(sp, ss, other), OD_SIGN_ERR_BAD);
    OD_CHECK_EQ(od_pkg_verify(sp, ss, cross), OD_SIGN_ERR_BAD);
    OD_CHECK_EQ(od_pkg_verify(pkg, size, pub), OD_SIGN_ERR_NOSIG);
    OD_CHECK_EQ(od_pkg_verify_hook_openssl(pub, sp, hs, sig, sig_len), 0);
    OD_CHECK(od_pkg_verify_hook_openssl(NULL, sp, hs, sig, sig_len) != 0);
    OD_CHECK(od_pkg_verify_hook_openssl(pub, sp, hs, NULL, 0) != 0);
    OD_CHECK(od_pkg_verify_hook_openssl(pub, sp, hs - 1, sig, sig_len) != 0);

    /* The applier accepts the signed package and produces the target. */
    OD_CHECK_EQ(apply(sp, ss, old, old_size, nw, nw_size, pub, &writes), OD_PATCH_DONE);
    OD_CHECK(writes > 0);

    /* Unsigned: refused, nothing written. */
    OD_CHECK_EQ(apply(pkg, size, old, old_size, nw, nw_size, pub, &writes),
                OD_PATCH_ERR_SIGNATURE);
    OD_CHECK_EQ(writes, 0);
    /* Signed with another key, or checked with a key of the other type. */
    OD_CHECK_EQ(apply(sp, ss, old, old_size, nw, nw_size, other, &writes),
                OD_PATCH_ERR_SIGNATURE);
    OD_CHECK_EQ(writes, 0);
    OD_CHECK_EQ(apply(sp, ss, old, old_size, nw, nw_size, cross, &writes),
                OD_PATCH_ERR_SIGNATURE);
    OD_CHECK_EQ(writes, 0);

    bad = malloc(ss);
    OD_REQUIRE(bad != NULL);
    {
        /* A header byte changed and the CRC recomputed, so only the
         * signature can tell: a target hash byte, the target version, and
         * the flags. The target version "1.1.0" follows "1.0.0". */
        const uint32_t ver = OD_HF_STRINGS + 5 + 2;
        const uint32_t offs[] = {OD_HF_TGT_MD5, OD_HF_TGT_SHA, OD_HF_TGT_SHA + 12, ver,
                                 OD_HF_FLAGS};
        size_t k;
        for (k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
            memcpy(bad, sp, ss);
            bad[offs[k]] ^= offs[k] == ver ? 0x02 : 0x01; /* '1' -> '3' keeps it valid */
            fix_header_crc(bad);
            OD_CHECK_EQ(od_pkg_verify(bad, ss, pub), offs[k] == OD_HF_FLAGS ? OD_SIGN_ERR_PACKAGE
                                                                             : OD_SIGN_ERR_BAD);
            OD_CHECK(apply(bad, ss, old, old_size, nw, nw_size, pub, &writes) < 0);
            OD_CHECK_EQ(writes, 0);
            if (offs[k] != OD_HF_FLAGS) /* unknown flags fail the header rules first */
                OD_CHECK_EQ(apply(bad, ss, old, old_size, nw, nw_size, pub, &writes),
                            OD_PATCH_ERR_SIGNATURE);
        }
    }
    {
        /* Every byte of the signature value matters, the id included. */
        uint32_t k;
        for (k = 0; k < OD_SIG_VALUE_LEN; k += (k < 2 ? 1 : 9)) {
            memcpy(bad, sp, ss);
            bad[hs + 4 + k] ^= 0x80;
            OD_CHECK_EQ(od_pkg_verify(bad, ss, pub), OD_SIGN_ERR_BAD);
            OD_CHECK_EQ(apply(bad, ss, old, old_size, nw, nw_size, pub, &writes),
                        OD_PATCH_ERR_SIGNATURE);
            OD_CHECK_EQ(writes, 0);
        }
    }
    {
        /* A second signature record (e.g. a valid one for another key
         * added in front): refused by both verifier and applier. */
        uint8_t *two;
        size_t ts;
        two = insert_tlv(sp, ss, OD_TLV_SIGNATURE, sig, sig_len, &ts);
        OD_CHECK_EQ(od_pkg_verify(two, ts, pub), OD_SIGN_ERR_BAD);
        OD_CHECK_EQ(apply(two, ts, old, old_size, nw, nw_size, pub, &writes),
                    OD_PATCH_ERR_SIGNATURE);
        OD_CHECK_EQ(writes, 0);
        free(two);
        /* A truncated signature value (64 bytes) is refused as bad. */
        two = insert_tlv(pkg, size, OD_TLV_SIGNATURE, sig, OD_SIG_RAW_LEN, &ts);
        OD_CHECK_EQ(od_pkg_verify(two, ts, pub), OD_SIGN_ERR_BAD);
        OD_CHECK_EQ(apply(two, ts, old, old_size, nw, nw_size, pub, &writes),
                    OD_PATCH_ERR_SIGNATURE);
        free(two);
    }
    /* A damaged package is not signed. */
    memcpy(bad, sp, ss);
    bad[ss - 10] ^= 1;
    {
        uint8_t *x = NULL;
        size_t xs = 0;
        OD_CHECK_EQ(od_pkg_sign(bad, ss, priv, &x, &xs), OD_SIGN_ERR_PACKAGE);
        OD_CHECK(x == NULL);
    }
    free(bad);
    free(sp);
    free(pkg);
    free(nw);
    free(old);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other);
    EVP_PKEY_free(cross);
}

static void t_ed25519_lzma(void) { sign_and_apply(OD_SIG_ALG_ED25519, OD_CODEC_LZMA); }
static void t_ed25519_deflate(void) { sign_and_apply(OD_SIG_ALG_ED25519, OD_CODEC_DEFLATE); }
static void t_p256_lzma(void) { sign_and_apply(OD_SIG_ALG_P256, OD_CODEC_LZMA); }
static void t_p256_none(void) { sign_and_apply(OD_SIG_ALG_P256, OD_CODEC_NONE); }

/* Re-signing replaces the record; other records survive in order. */
static void t_resign(void)
{
    uint8_t *pkg, *nw, *old, *noted, *s1 = NULL, *s2 = NULL;
    size_t size, nw_size, old_size, ns, n1 = 0, n2 = 0;
    EVP_PKEY *a = key(OD_SIG_ALG_ED25519, "main", 0), *b = key(OD_SIG_ALG_P256, "main", 0);
    static const uint8_t note[] = "built by test_sign";
    const uint8_t *sig;
    uint16_t sig_len, type, len;
    uint32_t pos = 0;
    const uint8_t *v;
    uint32_t writes;

    OD_REQUIRE(a && b);
    pkg = make_pkg(OD_CODEC_LZMA, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg != NULL);
    noted = insert_tlv(pkg, size, OD_TLV_NOTE, note, sizeof(note), &ns);
    OD_REQUIRE(od_pkg_check(noted, ns, NULL) == OD_PKG_OK);

    OD_CHECK_EQ(od_pkg_sign(noted, ns, a, &s1, &n1), OD_SIGN_OK);
    OD_REQUIRE(s1 != NULL);
    OD_CHECK_EQ(od_pkg_sign(s1, n1, b, &s2, &n2), OD_SIGN_OK);
    OD_REQUIRE(s2 != NULL);
    OD_CHECK_EQ(n1, n2);
    OD_CHECK_EQ(n2, ns + OD_SIG_TLV_LEN);
    OD_CHECK_EQ(count_sigs(s2, &sig, &sig_len), 1);
    OD_CHECK_EQ(sig[0], OD_SIG_ALG_P256);
    OD_CHECK_EQ(od_pkg_verify(s2, n2, b), OD_SIGN_OK);
    OD_CHECK_EQ(od_pkg_verify(s2, n2, a), OD_SIGN_ERR_BAD);
    OD_CHECK_EQ(od_pkg_verify(s1, n1, a), OD_SIGN_OK);
    /* Signature first, then the note untouched. */
    OD_CHECK_EQ(od_pkg_next_tlv(s2 + hdr_size(s2), od_get_le32(s2 + OD_HF_EXT_SIZE), &pos, &type, &v, &len),
                OD_PKG_OK);
    OD_CHECK_EQ(type, OD_TLV_SIGNATURE);
    OD_CHECK_EQ(od_pkg_next_tlv(s2 + hdr_size(s2), od_get_le32(s2 + OD_HF_EXT_SIZE), &pos, &type, &v, &len),
                OD_PKG_OK);
    OD_CHECK_EQ(type, OD_TLV_NOTE);
    OD_CHECK(len == sizeof(note) && memcmp(v, note, len) == 0);
    OD_CHECK_EQ(apply(s2, n2, old, old_size, nw, nw_size, b, &writes), OD_PATCH_DONE);
    /* Signing twice with Ed25519 is deterministic (RFC 8032). */
    {
        uint8_t *s3 = NULL;
        size_t n3 = 0;
        OD_CHECK_EQ(od_pkg_sign(s2, n2, a, &s3, &n3), OD_SIGN_OK);
        OD_CHECK(s3 && n3 == n1 && memcmp(s3, s1, n1) == 0);
        free(s3);
    }
    free(s1);
    free(s2);
    free(noted);
    free(pkg);
    free(nw);
    free(old);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/*
 * Two signature records where the first is empty: the header (and so the
 * signature) is untouched because the extension area keeps its size (the
 * note gives up the 4 bytes the empty record takes), but the package now
 * carries two signature records, which FORMAT.md forbids. od_pkg_verify
 * refuses it; the applier must too, before writing.
 */
static void t_empty_sig_first(void)
{
    static const uint8_t note[] = "a note of some length, for the record";
    uint8_t *pkg, *nw, *old, *noted, *sp = NULL, *two;
    size_t size, nw_size, old_size, ns, ss = 0;
    uint32_t hs, writes = 99, note_len = sizeof(note) - 4;
    EVP_PKEY *priv = key(OD_SIG_ALG_ED25519, "main", 0), *pub = key(OD_SIG_ALG_ED25519, "main", 1);
    const uint8_t *sig;
    uint16_t sig_len;
    uint8_t *w;

    OD_REQUIRE(priv && pub);
    pkg = make_pkg(OD_CODEC_LZMA, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg != NULL);
    noted = insert_tlv(pkg, size, OD_TLV_NOTE, note, sizeof(note), &ns);
    OD_REQUIRE(od_pkg_sign(noted, ns, priv, &sp, &ss) == OD_SIGN_OK);
    OD_REQUIRE(count_sigs(sp, &sig, &sig_len) == 1 && sig_len == OD_SIG_VALUE_LEN);
    OD_CHECK_EQ(apply(sp, ss, old, old_size, nw, nw_size, pub, &writes), OD_PATCH_DONE);

    /* Same bytes up to the extensions, then: empty signature, the real
     * one, the note 4 bytes shorter; index and payload as they were. */
    hs = hdr_size(sp);
    two = malloc(ss);
    OD_REQUIRE(two != NULL);
    memcpy(two, sp, ss);
    w = two + hs;
    od_put_le16(w, OD_TLV_SIGNATURE);
    od_put_le16(w + 2, 0);
    w += 4;
    memcpy(w, sp + hs, OD_SIG_TLV_LEN);
    w += OD_SIG_TLV_LEN;
    od_put_le16(w, OD_TLV_NOTE);
    od_put_le16(w + 2, (uint16_t)note_len);
    memcpy(w + 4, note, note_len);
    OD_REQUIRE(w + 4 + note_len == two + hs + od_get_le32(two + OD_HF_EXT_SIZE));
    OD_CHECK(memcmp(two, sp, hs) == 0); /* the signed header is unchanged */
    OD_CHECK_EQ(count_sigs(two, &sig, &sig_len), 2);
    OD_CHECK_EQ(od_pkg_verify(two, ss, pub), OD_SIGN_ERR_BAD);
    OD_CHECK_EQ(apply(two, ss, old, old_size, nw, nw_size, pub, &writes), OD_PATCH_ERR_SIGNATURE);
    OD_CHECK_EQ(writes, 0);
    /* One empty record alone is no signature either. */
    free(two);
    two = insert_tlv(pkg, size, OD_TLV_SIGNATURE, note, 0, &ns);
    OD_CHECK_EQ(od_pkg_verify(two, ns, pub), OD_SIGN_ERR_NOSIG);
    OD_CHECK_EQ(apply(two, ns, old, old_size, nw, nw_size, pub, &writes), OD_PATCH_ERR_SIGNATURE);
    OD_CHECK_EQ(writes, 0);
    free(two);
    free(sp);
    free(noted);
    free(pkg);
    free(nw);
    free(old);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
}

static void t_version_compare(void)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"1.0.0", "1.0.0", 0},      {"1.2", "1.2.0", 0},       {"1.02", "1.2", 0},
        {"1.10", "1.9", 1},         {"1.9.9", "1.10", -1},     {"2", "1.99.99", 1},
        {"1.4.0-rc2", "1.4.0", -1}, {"1.4.0", "1.4.0-rc2", 1}, {"1.4.0-rc2", "1.4.0-rc10", -1},
        {"1.4.0-alpha", "1.4.0-beta", -1}, {"1.4.0-rc", "1.4.0-rc1", -1},
        {"1.4.0-rc1", "1.4.0-rc", 1}, {"1.4.1-rc1", "1.4.0", 1},
        {"beta", "0.1", -1},        {"", "", 0},               {"1.0_b2", "1.0-b2", 0},
        {"99999999999999999999", "99999999999999999998", 1},
        {"1.0.0000000000000000000001", "1.0.1", 0},
        {"1..2", "1.0.2", 0},       {"1.4.0.rc1", "1.4.0-rc1", 0},
        {"v2", "v10", -1},          {"1.0-2", "1.0-a", 1},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = od_pkg_version_compare(cases[i].a, cases[i].b);
        int back = od_pkg_version_compare(cases[i].b, cases[i].a);
        r = (r > 0) - (r < 0);
        back = (back > 0) - (back < 0);
        if (r != cases[i].want || back != -cases[i].want) {
            fprintf(stderr, "  compare(%s, %s) = %d / %d, want %d\n", cases[i].a, cases[i].b, r,
                    back, cases[i].want);
            OD_CHECK(0);
        }
    }
    OD_CHECK_EQ(od_pkg_version_compare(NULL, ""), 0);
}

static void t_policy(void)
{
    od_pkg_header h;
    od_pkg_policy pol;
    uint8_t sha[OD_SHA256_LEN];
    memset(&h, 0, sizeof(h));
    memset(sha, 0x5A, sizeof(sha));
    h.kind = OD_KIND_DELTA;
    strcpy(h.source_version, "1.0.0");
    strcpy(h.target_version, "1.1.0");
    memcpy(h.source_sha256, sha, sizeof(sha));

    memset(&pol, 0, sizeof(pol));
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_OK); /* nothing known: ok */
    OD_CHECK_EQ(od_pkg_policy_check(NULL, &pol), OD_POLICY_ERR_PARAM);
    OD_CHECK_EQ(od_pkg_policy_check(&h, NULL), OD_POLICY_ERR_PARAM);
    pol.running_version = "1.0.0";
    pol.running_sha256 = sha;
    pol.refuse_downgrade = 1;
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_OK);
    pol.running_version = "1.0";      /* same release, but not the generator's name */
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_SOURCE_VERSION);
    pol.running_version = "1.0.0";
    sha[31] ^= 1;
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_SOURCE_HASH);
    sha[31] ^= 1;
    /* Downgrade: a delta from 1.0.0 to 0.9.0. */
    strcpy(h.target_version, "0.9.0");
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_DOWNGRADE);
    pol.refuse_downgrade = 0;
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_OK);
    /* Full packages: no source to check, downgrade and same still apply. */
    h.kind = OD_KIND_FULL;
    h.source_version[0] = 0;
    memset(h.source_sha256, 0, sizeof(h.source_sha256));
    pol.refuse_downgrade = 1;
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_DOWNGRADE);
    strcpy(h.target_version, "1.0.0");
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_OK);
    pol.refuse_same = 1;
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_SAME);
    strcpy(h.target_version, "1.0.0-rc1");
    OD_CHECK_EQ(od_pkg_policy_check(&h, &pol), OD_POLICY_ERR_DOWNGRADE);
    OD_CHECK(strlen(od_pkg_policy_strerror(OD_POLICY_ERR_DOWNGRADE)) > 0);
}

/* The policy hook refuses a correctly signed downgrade before writing. */
static void t_policy_hook(void)
{
    uint8_t *pkg, *nw, *old, *sp = NULL;
    size_t size, nw_size, old_size, ss = 0;
    EVP_PKEY *priv = key(OD_SIG_ALG_ED25519, "main", 0), *pub = key(OD_SIG_ALG_ED25519, "main", 1);
    od_pkg_policy pol;
    od_pkg_verify_ctx vc;
    const uint8_t *sig;
    uint16_t sig_len;

    OD_REQUIRE(priv && pub);
    pkg = make_pkg(OD_CODEC_LZMA, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg && od_pkg_sign(pkg, size, priv, &sp, &ss) == OD_SIGN_OK);
    OD_REQUIRE(count_sigs(sp, &sig, &sig_len) == 1);
    memset(&pol, 0, sizeof(pol));
    pol.running_version = "1.0.0";
    pol.refuse_downgrade = 1;
    vc.key = NULL; /* as if loading the key had failed */
    vc.policy = &pol;
    vc.allow_unsigned = 0;
    OD_CHECK(od_pkg_verify_hook_policy(&vc, pkg, hdr_size(pkg), NULL, 0) != 0);
    vc.allow_unsigned = 1; /* policy only, on purpose */
    OD_CHECK_EQ(od_pkg_verify_hook_policy(&vc, pkg, hdr_size(pkg), NULL, 0), 0);
    vc.allow_unsigned = 0;
    vc.key = pub;
    OD_CHECK_EQ(od_pkg_verify_hook_policy(&vc, sp, hdr_size(sp), sig, sig_len), 0);
    pol.running_version = "1.2.0"; /* device already newer; and source mismatch */
    OD_CHECK(od_pkg_verify_hook_policy(&vc, sp, hdr_size(sp), sig, sig_len) != 0);
    pol.running_version = "1.0.0";
    OD_CHECK(od_pkg_verify_hook_policy(&vc, pkg, hdr_size(pkg), NULL, 0) != 0);
    OD_CHECK(od_pkg_verify_hook_policy(NULL, sp, hdr_size(sp), sig, sig_len) != 0);
    free(sp);
    free(pkg);
    free(nw);
    free(old);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
}

/* The CLI functions, with argv as otadelta.c would pass them. */
static void t_cli(void)
{
    char name[512], pem[512], pubp[512], pkgp[512], outp[512];
    char *kg[] = {"-o", name, "--type", "p256"};
    char *kg2[] = {"-o", name};
    char *kgf[] = {"-o", name, "--force"};
    char *bad_type[] = {"-o", name, "--type", "rsa"};
    char *sg[] = {pkgp, "--key", pem, "-q"};
    char *sgo[] = {pkgp, "--key", pem, "-o", outp, "-q"};
    char *sg_nokey[] = {pkgp, "--key", "/nonexistent.pem", "-q"};
    char *sg_pub[] = {pkgp, "--key", pubp, "-q"};
    char *none[] = {pkgp};
    uint8_t *pkg, *nw, *old, *buf;
    size_t size, nw_size, old_size, bs;
    FILE *f;
    struct stat st;
    EVP_PKEY *key;

    snprintf(name, sizeof(name), "%s/cli", dir);
    snprintf(pem, sizeof(pem), "%s/cli.pem", dir);
    snprintf(pubp, sizeof(pubp), "%s/cli.pub", dir);
    snprintf(pkgp, sizeof(pkgp), "%s/cli.otad", dir);
    snprintf(outp, sizeof(outp), "%s/cli-signed.otad", dir);

    OD_CHECK_EQ(od_cli_keygen(4, kg), OD_CLI_EX_OK);
    OD_CHECK(stat(pem, &st) == 0 && (st.st_mode & 0777) == 0600);
    OD_CHECK_EQ(od_cli_keygen(2, kg2), OD_CLI_EX_OUTPUT); /* exists */
    OD_CHECK_EQ(od_cli_keygen(3, kgf), OD_CLI_EX_OK);
    OD_CHECK_EQ(od_cli_keygen(4, bad_type), OD_CLI_EX_USAGE);
    OD_CHECK_EQ(od_cli_keygen(0, NULL), OD_CLI_EX_USAGE);

    pkg = make_pkg(OD_CODEC_DEFLATE, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg != NULL);
    f = fopen(pkgp, "wb");
    OD_REQUIRE(f && fwrite(pkg, 1, size, f) == size);
    fclose(f);

    OD_CHECK_EQ(od_cli_verify_signature(pkg, size, pubp), OD_CLI_EX_PACKAGE); /* unsigned */
    OD_CHECK_EQ(od_cli_verify_signature(pkg, size, "/nonexistent.pub"), OD_CLI_EX_INPUT);
    OD_CHECK_EQ(od_cli_verify_signature(pkg, size, pkgp), OD_CLI_EX_INPUT); /* not a key */
    OD_CHECK_EQ(od_cli_sign(1, none), OD_CLI_EX_USAGE);
    OD_CHECK_EQ(od_cli_sign(4, sg_nokey), OD_CLI_EX_INPUT);
    OD_CHECK_EQ(od_cli_sign(4, sg_pub), OD_CLI_EX_INPUT);
    OD_CHECK_EQ(od_cli_sign(6, sgo), OD_CLI_EX_OK);
    buf = od_test_read_file(outp, &bs);
    OD_REQUIRE(buf != NULL);
    OD_CHECK_EQ(od_cli_verify_signature(buf, bs, pubp), OD_CLI_EX_OK);
    free(buf);
    OD_CHECK_EQ(od_cli_sign(4, sg), OD_CLI_EX_OK); /* in place */
    buf = od_test_read_file(pkgp, &bs);
    OD_REQUIRE(buf != NULL);
    OD_CHECK_EQ(bs, size + OD_SIG_TLV_LEN);
    OD_CHECK_EQ(od_cli_verify_signature(buf, bs, pubp), OD_CLI_EX_OK);
    buf[60] ^= 1; /* header damaged: refused to sign, exit 3 */
    f = fopen(pkgp, "wb");
    OD_REQUIRE(f && fwrite(buf, 1, bs, f) == bs);
    fclose(f);
    OD_CHECK_EQ(od_cli_sign(4, sg), OD_CLI_EX_PACKAGE);
    OD_CHECK_EQ(od_cli_verify_signature(buf, bs, pubp), OD_CLI_EX_PACKAGE);
    free(buf);

    /* diff/full --sign: in-memory signing of a fresh package. */
    buf = malloc(size);
    OD_REQUIRE(buf != NULL);
    memcpy(buf, pkg, size);
    bs = size;
    OD_CHECK(od_cli_load_private_key("/nonexistent.pem") == NULL);
    OD_CHECK(od_cli_load_private_key(pubp) == NULL); /* public only */
    key = od_cli_load_private_key(pem);
    OD_REQUIRE(key != NULL);
    OD_CHECK_EQ(od_cli_sign_buffer(&buf, &bs, key), OD_CLI_EX_OK);
    OD_CHECK_EQ(bs, size + OD_SIG_TLV_LEN);
    OD_CHECK_EQ(od_cli_verify_signature(buf, bs, pubp), OD_CLI_EX_OK);
    EVP_PKEY_free(key);
    free(buf);
    free(pkg);
    free(nw);
    free(old);
}

/*
 * The host hashes (od_pkg_hash_image, od_pkg_check's payload SHA-256) when
 * OpenSSL's EVP cannot digest: no provider offers the algorithm (as MD5
 * under a FIPS configuration) or memory runs out. EVP_Digest then writes
 * nothing; the results must still be the right digests, not whatever the
 * caller's buffer held. Runs last: it swaps the default provider out.
 */
static void t_digest_without_provider(void)
{
    uint8_t *pkg, *nw, *old, md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
    uint8_t want_md5[OD_MD5_LEN], want_sha[OD_SHA256_LEN];
    size_t size, nw_size, old_size;
    OSSL_LIB_CTX *bare, *prev;
    OSSL_PROVIDER *null;

    pkg = make_pkg(OD_CODEC_LZMA, &size, &nw, &nw_size, &old, &old_size);
    OD_REQUIRE(pkg != NULL);
    od_pkg_hash_image(nw, nw_size, want_md5, want_sha);
    OD_REQUIRE(od_pkg_check(pkg, size, NULL) == OD_PKG_OK);

    /* This thread's default library context becomes one whose only
     * provider offers no digests. */
    bare = OSSL_LIB_CTX_new();
    OD_REQUIRE(bare != NULL);
    null = OSSL_PROVIDER_load(bare, "null");
    OD_REQUIRE(null != NULL);
    prev = OSSL_LIB_CTX_set0_default(bare);
    OD_REQUIRE(prev != NULL);
    OD_CHECK(EVP_Digest(nw, 1, md5, NULL, EVP_sha256(), NULL) != 1); /* EVP is out */

    memset(md5, 0xAA, sizeof(md5));
    memset(sha, 0xAA, sizeof(sha));
    od_pkg_hash_image(nw, nw_size, md5, sha);
    OD_CHECK(memcmp(md5, want_md5, sizeof(md5)) == 0);
    OD_CHECK(memcmp(sha, want_sha, sizeof(sha)) == 0);
    OD_CHECK_EQ(od_pkg_check(pkg, size, NULL), OD_PKG_OK);
    pkg[size - 10] ^= 1; /* still refuses a damaged payload */
    OD_CHECK(od_pkg_check(pkg, size, NULL) != OD_PKG_OK);

    OSSL_LIB_CTX_set0_default(prev);
    OSSL_PROVIDER_unload(null);
    OSSL_LIB_CTX_free(bare);
    ERR_clear_error();
    free(pkg);
    free(nw);
    free(old);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/od_test_sign.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    OD_RUN(t_keygen);
    OD_RUN(t_ed25519_lzma);
    OD_RUN(t_ed25519_deflate);
    OD_RUN(t_p256_lzma);
    OD_RUN(t_p256_none);
    OD_RUN(t_resign);
    OD_RUN(t_empty_sig_first);
    OD_RUN(t_version_compare);
    OD_RUN(t_policy);
    OD_RUN(t_policy_hook);
    OD_RUN(t_cli);
    OD_RUN(t_digest_without_provider);
    {
        /* Leave no key material behind. */
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return od_test_summary();
}
