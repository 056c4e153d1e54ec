/*
 * od_cli_sign.h - the signing commands of the otadelta CLI: keygen, sign,
 * and the helpers `verify` and `diff/full --sign` call.
 *
 * Every function returns an otadelta exit code (the values below, equal to
 * the EX_* enum in otadelta.c) and prints its own message, prefixed with
 * "otadelta: ", to stderr. argc/argv are the arguments after the command
 * name, as cli/otadelta.c passes them to cmd_diff() and the others.
 */
#ifndef OD_CLI_SIGN_H
#define OD_CLI_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "od_cli_util.h"

#ifdef __cplusplus
extern "C" {
#endif


struct evp_pkey_st;

/* "ed25519", "p256" or "unknown" for an OD_SIG_ALG_* value. */
const char *od_cli_alg_name(int alg);

/*
 * otadelta keygen -o NAME [--type ed25519|p256] [--force] [-q]
 * Writes NAME.pem (private, mode 0600) and NAME.pub (public, 0644).
 * Refuses to overwrite either file (exit 5) unless --force.
 */
int od_cli_keygen(int argc, char **argv);

/*
 * otadelta sign PKG --key NAME.pem [-o OUT] [-q]
 * Signs PKG (replacing any earlier signature) and writes it atomically to
 * OUT, or back to PKG when -o is absent. Exit 1 if OUT is the key file,
 * 3 if PKG is not a valid package, 2 if PKG is over 1 GiB or the key
 * cannot be read, 5 if the output cannot be written.
 */
int od_cli_sign(int argc, char **argv);

/*
 * For `otadelta verify PKG --key NAME.pub`: checks pkg's signature with
 * the public key at pubkey_path (a private key file works too).
 * Returns 0 when it verifies, 3 when the signature is missing or wrong,
 * 2 when the key file cannot be read or is of an unsupported type.
 * Prints a message on failure only.
 */
int od_cli_verify_signature(const uint8_t *pkg, size_t size, const char *pubkey_path);

/*
 * The private (signing) or public (verifying; a private key file works
 * too) key in the PEM file at path, for EVP_PKEY_free(); NULL after saying
 * why (the file is missing, unreadable, not a regular file, over 64 KiB,
 * or not such a key): exit 2. The file is read once, without blocking on
 * a FIFO, and the copy of its bytes is wiped before it is freed.
 */
struct evp_pkey_st *od_cli_load_private_key(const char *path);
struct evp_pkey_st *od_cli_load_public_key(const char *path);

/*
 * For `otadelta diff|full ... --sign NAME.pem`: signs a package fresh from
 * od_diff_create() in memory with key (od_cli_load_private_key(), loaded
 * before generating so that a bad key fails fast). *pkg (malloc'd) is
 * replaced by the signed package and *size updated; on error both are
 * left as they were. Returns 0 or 6 (signing failed: the generator's exit
 * code, since the package was never written).
 */
int od_cli_sign_buffer(uint8_t **pkg, size_t *size, struct evp_pkey_st *key);

#ifdef __cplusplus
}
#endif
#endif /* OD_CLI_SIGN_H */
