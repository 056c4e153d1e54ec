/*
 * od_pkgfmt_sign.h - package authenticity (signing, verification) and the
 * update policy (source binding, downgrade refusal).
 *
 * Two parts with different homes:
 *
 *   Policy helpers (od_pkg_version_compare, od_pkg_policy_check): C99 and
 *   freestanding, no libc at all. They run on the MCU, typically inside the
 *   applier's verify_header hook once the signature has been accepted.
 *   Compile pkgfmt/od_pkg_sign.c with -DOD_PKG_SIGN_POLICY_ONLY=1 to get
 *   only them (no OpenSSL, no malloc).
 *
 *   Signing and verification (everything taking an EVP_PKEY): host only,
 *   OpenSSL 3 EVP, malloc. The key is passed as `struct evp_pkey_st *`,
 *   which is OpenSSL's EVP_PKEY, so this header needs no OpenSSL include.
 *
 * Signature extension (TLV type OD_TLV_SIGNATURE = 0x0001), value layout:
 *
 *   offset 0   1 byte   algorithm: OD_SIG_ALG_ED25519 (1) or
 *                       OD_SIG_ALG_P256 (2, ECDSA over NIST P-256 with
 *                       SHA-256)
 *   offset 1   64 bytes the raw signature over the whole core header:
 *                       Ed25519: R || S as RFC 8032 defines (pure Ed25519,
 *                       no pre-hash, no context);
 *                       P-256: r || s, each a 32-byte big-endian integer
 *                       left-padded with zeros (not DER).
 *
 * The signed message is the core header exactly as it stands in the
 * package: ext_size already counts the signature record and header_crc32
 * is final. Because the header binds the payload (payload_sha256) and both
 * images (sizes, MD5, SHA-256), this one signature authenticates the
 * payload and everything it writes. It does not authenticate the other
 * extension records (no hash covers them: never act on them), and binds
 * the block index only by a CRC-32, which a forger can match (a resumed
 * run then fails; the read-back decides). The signature does not sign
 * itself, so re-signing replaces the record and leaves every other byte
 * but ext_size and the header CRC unchanged.
 *
 * Thread-safety: every function is reentrant; an EVP_PKEY may be shared
 * between threads for verification (OpenSSL 3 rule), not while it is freed.
 */
#ifndef OD_PKGFMT_SIGN_H
#define OD_PKGFMT_SIGN_H

#include "od_pkgfmt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Algorithm ids: the first byte of the signature extension's value. */
#define OD_SIG_ALG_ED25519 1
#define OD_SIG_ALG_P256 2
#define OD_SIG_RAW_LEN 64                      /* signature bytes after the id */
#define OD_SIG_VALUE_LEN (1 + OD_SIG_RAW_LEN)  /* the TLV value: 65 bytes */
#define OD_SIG_TLV_LEN (4 + OD_SIG_VALUE_LEN)  /* the whole record: 69 bytes */

/*
 * Results of the signing functions. Every error is fatal for the call and
 * leaves outputs untouched.
 */
typedef enum od_sign_ret {
    OD_SIGN_OK = 0,
    OD_SIGN_ERR_PARAM = -1,   /* NULL argument or unknown algorithm id */
    OD_SIGN_ERR_PACKAGE = -2, /* the package itself is invalid (od_pkg_check
                                 fails, or its header does not parse) */
    OD_SIGN_ERR_KEY = -3,     /* key file unreadable, or a key type other
                                 than Ed25519 / ECDSA P-256 */
    OD_SIGN_ERR_NOSIG = -4,   /* the package carries no signature */
    OD_SIGN_ERR_BAD = -5,     /* a signature is present but wrong: altered
                                 header, other key, other algorithm, bad
                                 length, or more than one signature record */
    OD_SIGN_ERR_NOMEM = -6,   /* host allocation failed */
    OD_SIGN_ERR_CRYPTO = -7,  /* OpenSSL failed to sign or generate */
    OD_SIGN_ERR_IO = -8,      /* a key file cannot be written */
    OD_SIGN_ERR_EXISTS = -9,  /* keygen: a key file already exists */
    OD_SIGN_ERR_TOO_BIG = -10 /* the extension area would exceed 65536 bytes */
} od_sign_ret;

/* Static English description of an od_sign_ret value. */
const char *od_sign_strerror(int ret);

/* ---- update policy (freestanding) ---- */

/*
 * Orders two version strings, returning <0, 0 or >0 as a is older, equal
 * or newer than b. NULL sorts as the empty string. The rule:
 *
 *  1. A version is a numeric core followed by an optional suffix. The core
 *     is the longest prefix made of digits and dots; the suffix is the
 *     rest, minus one leading '.', '-' or '_'. "1.4.0-rc2" has core 1.4.0
 *     and suffix "rc2"; "beta" has an empty core and suffix "beta".
 *  2. Cores compare numerically field by field (split at '.'), missing or
 *     empty fields counting as 0: 1.2 == 1.2.0 == 1.02, 1.10 > 1.9.
 *     Numbers of any length compare correctly (no overflow).
 *  3. With equal cores, a version without suffix is newer than one with a
 *     suffix (a pre-release precedes its release: 1.4.0-rc2 < 1.4.0).
 *  4. Two suffixes compare run by run: a run is a maximal digit string or a
 *     maximal non-digit string; digit runs compare numerically, other runs
 *     bytewise in ASCII ('-' < '.' < digits < 'A'..'Z' < '_' < 'a'..'z'),
 *     a digit run is newer than a non-digit run, and a suffix that is a
 *     prefix of the other is older: rc2 < rc10, alpha < beta, rc < rc1.
 *
 * Equal means "the same release" for the policy below, even when the
 * strings differ (1.2 vs 1.2.0).
 */
int od_pkg_version_compare(const char *a, const char *b);

/* What the device knows about itself, for od_pkg_policy_check(). */
typedef struct od_pkg_policy {
    /* Version string of the running image. NULL: versions not checked
     * (neither the delta's source_version nor downgrades). */
    const char *running_version;
    /* SHA-256 of the running image. NULL: a delta's source hash is not
     * checked here (od_patch_config.expect_source_sha256 or check_source
     * may still do it in the applier). */
    const uint8_t *running_sha256;
    /* Nonzero: refuse a package whose target is older than running_version
     * (od_pkg_version_compare() < 0). */
    uint8_t refuse_downgrade;
    /* Nonzero: also refuse reinstalling the same release (compare == 0). */
    uint8_t refuse_same;
} od_pkg_policy;

/* Results of od_pkg_policy_check; every error means "do not install". */
typedef enum od_pkg_policy_ret {
    OD_POLICY_OK = 0,
    OD_POLICY_ERR_PARAM = -1,          /* h or pol NULL */
    OD_POLICY_ERR_SOURCE_VERSION = -2, /* delta built for another version */
    OD_POLICY_ERR_SOURCE_HASH = -3,    /* delta built for another image */
    OD_POLICY_ERR_DOWNGRADE = -4,      /* target older than running */
    OD_POLICY_ERR_SAME = -5            /* target is the running release */
} od_pkg_policy_ret;

/*
 * Applies the device's update policy to a decoded header (from
 * od_pkg_parse_header or od_patch_header). For a delta: source_version
 * must equal running_version exactly (string equality: the generator was
 * told this name) and source_sha256 must equal running_sha256, each when
 * given. For any package: the target must not be older (refuse_downgrade)
 * or the same release (refuse_same) as running_version. Full packages have
 * no source, so only the downgrade rules apply to them.
 * Returns OD_POLICY_OK or the first rule broken, in the order above.
 */
int od_pkg_policy_check(const od_pkg_header *h, const od_pkg_policy *pol);

/* Static English description of an od_pkg_policy_ret value. */
const char *od_pkg_policy_strerror(int ret);

/* ---- signing and verification (host, OpenSSL 3) ---- */

struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

/*
 * Generates a key pair and writes it as PEM: the private key (PKCS#8,
 * unencrypted) to priv_path with mode 0600, the public key
 * (SubjectPublicKeyInfo) to pub_path with mode 0644. Each file is written
 * to a temporary name beside it, synced, then moved into place, so no
 * partial key file ever exists under the final name.
 * alg: OD_SIG_ALG_ED25519 or OD_SIG_ALG_P256.
 * force: 0 refuses (OD_SIGN_ERR_EXISTS) if either file exists, checked
 * atomically when the file is moved into place; nonzero overwrites.
 * Returns OD_SIGN_OK, _PARAM, _EXISTS, _CRYPTO or _IO (errno tells why).
 * A path held by something other than a file (a directory) is _IO before
 * anything is written. On _EXISTS or _IO for the public key a private key
 * this call created is removed again; one it replaced (force) stays, as
 * the new key, since the old one is gone by then.
 */
int od_pkg_keygen(int alg, const char *priv_path, const char *pub_path, int force);

/* Largest key file the loaders read. A PEM key is a few hundred bytes; the
 * cap only stops a wrong file (an image given as the key) from being read
 * whole. */
#define OD_KEY_FILE_MAX (64u * 1024u)

/*
 * Loads a PEM key. od_pkg_load_private_key reads a private key;
 * od_pkg_load_public_key reads a public key, or derives it from a private
 * key file. Returns a new EVP_PKEY (free with EVP_PKEY_free) or NULL when
 * the file is unreadable, not a regular file (a FIFO or device is refused
 * at once, never waited on), over OD_KEY_FILE_MAX, not PEM, encrypted, or of an
 * unsupported type. The file is read once and the bytes parsed are the
 * bytes read; they are wiped before being freed.
 */
struct evp_pkey_st *od_pkg_load_private_key(const char *path);
struct evp_pkey_st *od_pkg_load_public_key(const char *path);

/*
 * The same from a key file's bytes already in memory (pem: len bytes, need
 * not end in a NUL; len at most INT_MAX), for a caller that reads the file
 * itself, so that the bytes it checked are the bytes parsed and a FIFO
 * cannot block inside OpenSSL (the CLI does). pem is only read, not kept:
 * wiping a private key's bytes afterwards is the caller's job. Returns a
 * new EVP_PKEY or NULL, as the loaders above (and for a NULL pem).
 */
struct evp_pkey_st *od_pkg_parse_private_key(const void *pem, size_t len);
struct evp_pkey_st *od_pkg_parse_public_key(const void *pem, size_t len);

/* OD_SIG_ALG_* of a key, or -1 for any other type (RSA, other curves). */
int od_pkg_key_alg(const struct evp_pkey_st *key);

/*
 * Signs a core header as it stands (hdr_len: its header_size bytes,
 * OD_HDR_MIN..OD_HDR_MAX). value receives the
 * OD_SIG_VALUE_LEN-byte extension value (algorithm id, raw signature).
 * Returns OD_SIGN_OK, _PARAM, _KEY (unsupported key) or _CRYPTO.
 */
int od_pkg_sign_header(struct evp_pkey_st *key, const uint8_t *hdr, uint32_t hdr_len,
                       uint8_t value[OD_SIG_VALUE_LEN]);

/*
 * Checks a signature extension value against a core header (hdr_len:
 * its header_size bytes).
 * sig/sig_len: the TLV value (NULL/0: no signature). The algorithm id must
 * match the key's type, and the length must be exactly OD_SIG_VALUE_LEN.
 * Returns OD_SIGN_OK, _NOSIG, _BAD, _KEY or _PARAM.
 */
int od_pkg_verify_header(struct evp_pkey_st *pub, const uint8_t *hdr, uint32_t hdr_len,
                         const uint8_t *sig, uint32_t sig_len);

/*
 * Signs a whole package in memory. The package must pass od_pkg_check:
 * signing vouches for it, so a damaged one is refused (_PACKAGE). Any
 * existing signature record is removed, a new one is placed first in the
 * extension area (other records keep their order and bytes), ext_size and
 * the header CRC are updated, and the header so finalised is signed. The
 * block index holds payload-relative offsets, so nothing else changes.
 * On success *out is a malloc()'d buffer (caller frees) of *out_size bytes;
 * pkg is not modified and may be freed afterwards.
 * Returns OD_SIGN_OK, _PARAM, _PACKAGE, _KEY, _TOO_BIG, _NOMEM or _CRYPTO.
 */
int od_pkg_sign(const uint8_t *pkg, size_t size, struct evp_pkey_st *key, uint8_t **out,
                size_t *out_size);

/*
 * Verifies a package's signature with a public (or private) key: parses
 * the header (which must pass its CRC and field rules), finds exactly one
 * signature record and checks it. It does not check the blocks: pair it
 * with od_pkg_check() to accept a package off-device.
 * Returns OD_SIGN_OK, _PACKAGE, _NOSIG, _BAD, _KEY or _PARAM.
 */
int od_pkg_verify(const uint8_t *pkg, size_t size, struct evp_pkey_st *pub);

/*
 * Adapter for od_patch_config.verify_header on a host (the CLI, tests, a
 * Linux gateway): ctx is the EVP_PKEY * to verify with. Returns 0 to
 * accept, nonzero to refuse; a package without signature is refused.
 * Set cfg.ctx to the key only if no other callback needs ctx; otherwise
 * wrap this function.
 */
int od_pkg_verify_hook_openssl(void *ctx, const uint8_t *hdr, uint32_t hdr_len,
                               const uint8_t *sig, uint32_t sig_len);

/* Context for od_pkg_verify_hook_policy: a key and a policy (NULL: no
 * policy check). A NULL key refuses every package unless allow_unsigned
 * is set, so a key that failed to load cannot silently turn the signature
 * check off; allow_unsigned with a NULL key applies the policy alone. */
typedef struct od_pkg_verify_ctx {
    struct evp_pkey_st *key;
    const od_pkg_policy *policy;
    int allow_unsigned;
} od_pkg_verify_ctx;

/*
 * Like od_pkg_verify_hook_openssl, then applies the policy to the header
 * once its signature is accepted (ctx is an od_pkg_verify_ctx *), so a
 * signed but unwanted package (wrong base, downgrade) is refused before
 * anything is written. Returns 0 to accept.
 */
int od_pkg_verify_hook_policy(void *ctx, const uint8_t *hdr, uint32_t hdr_len,
                              const uint8_t *sig, uint32_t sig_len);

#ifdef __cplusplus
}
#endif
#endif /* OD_PKGFMT_SIGN_H */
