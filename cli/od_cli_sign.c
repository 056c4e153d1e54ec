/*
 * od_cli_sign.c - `otadelta keygen`, `otadelta sign`, and the signature
 * helpers for `verify` and `diff/full --sign`.
 *
 * Kept apart from otadelta.c so the crypto surface of the CLI is in one
 * place; messages and files go through od_cli_util.c like the rest.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "od_cli_sign.h"
#include "od_pkgfmt_host.h"
#include "od_pkgfmt_sign.h"

const char *od_cli_alg_name(int alg)
{
    return alg == OD_SIG_ALG_ED25519 ? "ed25519" : alg == OD_SIG_ALG_P256 ? "p256" : "unknown";
}

/*
 * The key in the PEM file at path, a private one if want_private, or NULL
 * after saying why. The file is opened and read once, and those bytes are
 * parsed: checking it and then letting OpenSSL open it again by name would
 * parse whatever was swapped in between, and block on a FIFO.
 */
static EVP_PKEY *load_key(const char *path, int want_private)
{
    uint8_t *pem;
    size_t n;
    EVP_PKEY *k;

    if (od_cli_read_file(path, OD_KEY_FILE_MAX, &pem, &n) != OD_CLI_EX_OK)
        return NULL;
    k = want_private ? od_pkg_parse_private_key(pem, n) : od_pkg_parse_public_key(pem, n);
    /* A public key needs no wiping, but verify takes a private key file
     * too. */
    OPENSSL_cleanse(pem, n);
    free(pem);
    if (!k)
        od_cli_msg(want_private ? "'%s' is not an unencrypted Ed25519 or ECDSA P-256 private key "
                                  "in PEM form (create one with 'otadelta keygen -o NAME')"
                                : "'%s' is not an Ed25519 or ECDSA P-256 key in PEM form (use the "
                                  "NAME.pub that 'otadelta keygen' wrote)", path);
    return k;
}

EVP_PKEY *od_cli_load_private_key(const char *path)
{
    return load_key(path, 1);
}

EVP_PKEY *od_cli_load_public_key(const char *path)
{
    return load_key(path, 0);
}

/* ---- keygen ---- */

static const char *keygen_help =
    "usage: otadelta keygen -o NAME [--type ed25519|p256] [--force] [-q]\n"
    "\n"
    "Creates a signing key pair: NAME.pem (private key, mode 0600: keep it\n"
    "secret, off the build servers if you can) and NAME.pub (public key: build\n"
    "it into the device's verify hook, pass it to 'otadelta verify --key').\n"
    "\n"
    "  -o, --output NAME     file name stem for NAME.pem and NAME.pub (a NAME\n"
    "                        ending in .pem or .pub counts without it)\n"
    "  --type T              ed25519 (default) or p256 (ECDSA P-256 with SHA-256,\n"
    "                        for devices with a P-256 accelerator)\n"
    "  --force               overwrite existing key files\n"
    "  -q, --quiet           no summary\n";

int od_cli_keygen(int argc, char **argv)
{
    const char *name = NULL, *v;
    char *priv = NULL, *pub = NULL;
    struct stat st;
    int alg = OD_SIG_ALG_ED25519, force = 0, quiet = 0, i, r;
    size_t n;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(keygen_help, stdout);
            return OD_CLI_EX_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(name = od_cli_need_arg(argc, argv, &i)))
                return OD_CLI_EX_USAGE;
        } else if (!strcmp(a, "--type")) {
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return OD_CLI_EX_USAGE;
            if (!strcmp(v, "ed25519"))
                alg = OD_SIG_ALG_ED25519;
            else if (!strcmp(v, "p256"))
                alg = OD_SIG_ALG_P256;
            else {
                od_cli_msg("unknown key type '%s' (use ed25519 or p256)", v);
                return OD_CLI_EX_USAGE;
            }
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            od_cli_msg("unexpected argument '%s' (see 'otadelta keygen --help')", a);
            return OD_CLI_EX_USAGE;
        }
    }
    if (!name || !*name) {
        od_cli_msg("need -o NAME (see 'otadelta keygen --help')");
        return OD_CLI_EX_USAGE;
    }
    /* NAME is a stem. Someone giving the private key's file name means
     * that name, not NAME.pem.pem; a directory is no stem at all (it
     * would make the hidden files DIR/.pem and DIR/.pub). */
    n = strlen(name);
    if (n > 4 && (!strcmp(name + n - 4, ".pem") || !strcmp(name + n - 4, ".pub")))
        n -= 4;
    if (name[n - 1] == '/' || (stat(name, &st) == 0 && S_ISDIR(st.st_mode))) {
        od_cli_msg("-o '%s' is a directory; give a name for the key files, e.g. '%s%skey'", name,
            name, name[strlen(name) - 1] == '/' ? "" : "/");
        return OD_CLI_EX_USAGE;
    }
    priv = malloc(n + 5);
    pub = malloc(n + 5);
    if (!priv || !pub) {
        od_cli_msg("out of memory");
        r = OD_CLI_EX_OUTPUT;
        goto done;
    }
    snprintf(priv, n + 5, "%.*s.pem", (int)n, name);
    snprintf(pub, n + 5, "%.*s.pub", (int)n, name);
    r = od_pkg_keygen(alg, priv, pub, force);
    switch (r) {
    case OD_SIGN_OK:
        if (!quiet)
            printf("%s: %s private key (keep secret)\n%s: public key\n", priv,
                   od_cli_alg_name(alg), pub);
        r = OD_CLI_EX_OK;
        break;
    case OD_SIGN_ERR_EXISTS:
        od_cli_msg("'%s' or '%s' already exists; choose another name or pass --force to replace "
            "the key (packages signed with the old key will no longer verify)", priv, pub);
        r = OD_CLI_EX_OUTPUT;
        break;
    case OD_SIGN_ERR_IO:
        od_cli_msg("cannot write the key files '%s' / '%s': %s", priv, pub, strerror(errno));
        r = OD_CLI_EX_OUTPUT;
        break;
    default:
        od_cli_msg("cannot generate the key: %s", od_sign_strerror(r));
        r = OD_CLI_EX_OUTPUT;
        break;
    }
done:
    free(priv);
    free(pub);
    return r;
}

/* ---- sign ---- */

static const char *sign_help =
    "usage: otadelta sign PKG --key NAME.pem [-o OUT]\n"
    "\n"
    "Signs a package: adds (or replaces) its signature extension, which covers\n"
    "the package header and, through the hashes the header holds, the payload\n"
    "and the image it produces (not other extension records such as notes). The\n"
    "package is checked first; a damaged one is not signed.\n"
    "\n"
    "  --key NAME.pem        private key from 'otadelta keygen'\n"
    "  -o, --output OUT      write the signed package here (default: replace PKG,\n"
    "                        atomically)\n"
    "  -q, --quiet           no summary\n";

int od_cli_sign(int argc, char **argv)
{
    const char *path = NULL, *key_path = NULL, *out = NULL;
    uint8_t *pkg = NULL, *signed_pkg = NULL;
    size_t size = 0, signed_size = 0;
    EVP_PKEY *key = NULL;
    FILE *summary;
    int quiet = 0, i, r, why;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(sign_help, stdout);
            return OD_CLI_EX_OK;
        } else if (!strcmp(a, "--key")) {
            if (!(key_path = od_cli_need_arg(argc, argv, &i)))
                return OD_CLI_EX_USAGE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = od_cli_need_arg(argc, argv, &i)))
                return OD_CLI_EX_USAGE;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            od_cli_msg("unknown option '%s' (see 'otadelta sign --help')", a);
            return OD_CLI_EX_USAGE;
        } else if (!path) {
            path = a;
        } else {
            od_cli_msg("too many arguments (see 'otadelta sign --help')");
            return OD_CLI_EX_USAGE;
        }
    }
    if (!path || !key_path) {
        od_cli_msg("need PKG and --key NAME.pem (see 'otadelta sign --help')");
        return OD_CLI_EX_USAGE;
    }
    if (!out)
        out = path;
    {
        /* Signing in place (out is PKG) is what sign does by default. */
        const od_cli_file reads[] = {{"--key", key_path}};
        if ((r = od_cli_refuse_same("-o", out, reads, 1, "write the signed package elsewhere")) ||
            (r = od_cli_check_output(out, 0)))
            return r;
    }
    if ((r = od_cli_read_file(path, OD_MAX_IMAGE_SIZE, &pkg, &size)))
        return r;
    if (!(key = od_cli_load_private_key(key_path))) {
        r = OD_CLI_EX_INPUT;
        goto done;
    }
    /* od_pkg_sign runs od_pkg_check on the package itself (its contract:
     * it never vouches for a damaged one), so checking here first would
     * hash the payload twice. Only its failure is checked again, for the
     * reason, which OD_SIGN_ERR_PACKAGE does not carry. */
    r = od_pkg_sign(pkg, size, key, &signed_pkg, &signed_size);
    if (r == OD_SIGN_ERR_PACKAGE && (why = od_pkg_check(pkg, size, NULL)) != OD_PKG_OK) {
        od_cli_msg("'%s': %s; not signing it (check it with 'otadelta verify')", path,
            od_pkg_strerror(why));
        r = OD_CLI_EX_PACKAGE;
        goto done;
    }
    if (r != OD_SIGN_OK) {
        od_cli_msg("cannot sign '%s': %s", path, od_sign_strerror(r));
        r = r == OD_SIGN_ERR_PACKAGE || r == OD_SIGN_ERR_TOO_BIG ? OD_CLI_EX_PACKAGE
                                                                 : OD_CLI_EX_OUTPUT;
        goto done;
    }
    summary = od_cli_summary_stream(out);
    if ((r = od_cli_write_atomic(out, signed_pkg, signed_size)))
        goto done;
    if (!quiet)
        fprintf(summary, "%s: signed (%s), %zu bytes\n", out, od_cli_alg_name(od_pkg_key_alg(key)),
                signed_size);
done:
    EVP_PKEY_free(key);
    free(pkg);
    free(signed_pkg);
    return r;
}

/* ---- helpers for verify and diff/full ---- */

int od_cli_verify_signature(const uint8_t *pkg, size_t size, const char *pubkey_path)
{
    EVP_PKEY *pub;
    int r;

    if (!(pub = od_cli_load_public_key(pubkey_path)))
        return OD_CLI_EX_INPUT;
    r = od_pkg_verify(pkg, size, pub);
    switch (r) {
    case OD_SIGN_OK:
        break;
    case OD_SIGN_ERR_NOSIG:
        od_cli_msg("the package is not signed; sign it with 'otadelta sign PKG --key NAME.pem'");
        break;
    case OD_SIGN_ERR_BAD:
        od_cli_msg("the package signature does not verify with '%s': the package was altered "
            "after signing, or signed with another key", pubkey_path);
        break;
    default:
        od_cli_msg("cannot check the signature: %s", od_sign_strerror(r));
        break;
    }
    EVP_PKEY_free(pub);
    return r == OD_SIGN_OK ? OD_CLI_EX_OK : OD_CLI_EX_PACKAGE;
}

int od_cli_sign_buffer(uint8_t **pkg, size_t *size, EVP_PKEY *key)
{
    uint8_t *out = NULL;
    size_t out_size = 0;
    int r = od_pkg_sign(*pkg, *size, key, &out, &out_size);

    if (r != OD_SIGN_OK) {
        od_cli_msg("cannot sign the package: %s", od_sign_strerror(r));
        return OD_CLI_EX_GENERATE;
    }
    free(*pkg);
    *pkg = out;
    *size = out_size;
    return OD_CLI_EX_OK;
}
