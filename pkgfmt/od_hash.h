/*
 * od_hash.h - SHA-256, MD5 and CRC-32 for the device side.
 *
 * These are the integrity checks the applier runs in a bootloader, so they
 * are written for size rather than speed: C99, freestanding (only
 * memcpy/memset through od_port.h), no heap, no global mutable state, and
 * byte order handled with shifts so that they give the same answer on any
 * host. Results are bit-identical to OpenSSL's SHA-256/MD5 and zlib's
 * crc32(), which is what the host tools use when they build a package.
 *
 * Thread-safety: every function touches only the context or buffers passed
 * in, so distinct contexts may be used concurrently; one context must not be
 * shared between threads without outside locking.
 */
#ifndef OD_HASH_H
#define OD_HASH_H

#include "od_port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OD_SHA256_LEN 32
#define OD_MD5_LEN 16

/*
 * Ported hashes. A platform with a hash accelerator (or a bootloader that
 * already links a crypto library) can supply any of the three primitives
 * itself: its OD_CONFIG header sets OD_SHA256_PORT / OD_MD5_PORT /
 * OD_CRC32_PORT to 1, names the context types (OD_SHA256_CTX_TYPE,
 * OD_MD5_CTX_TYPE), and the port implements the functions below with the
 * same prototypes and results; the matching od_*.c file then compiles to
 * nothing. Every translation unit must see the same settings, since the
 * contexts live in struct od_patch.
 *
 * Host builds do this by default with OD_HASH_OPENSSL (CMake option
 * OD_HOST_HASH_OPENSSL): OpenSSL's SHA-256/MD5 and zlib's crc32, which run
 * several times faster than code sized for a bootloader (od_hash_openssl.c).
 * tests/test_hash.c proves the portable code equal to those libraries, and
 * the sanitizer build runs every test with the portable code.
 */
#if defined(OD_HASH_OPENSSL) && OD_HASH_OPENSSL
/* Storage for OpenSSL's SHA256_CTX and MD5_CTX (112 and 92 bytes), so
 * that this header, and every user of struct od_patch, needs no OpenSSL
 * header and none of its deprecated declarations; od_hash_openssl.c checks
 * at compile time that the real contexts fit. */
typedef struct od_ossl_sha256_ctx {
    uint64_t opaque[14];
} od_ossl_sha256_ctx;
typedef struct od_ossl_md5_ctx {
    uint64_t opaque[12];
} od_ossl_md5_ctx;
#define OD_SHA256_PORT 1
#define OD_MD5_PORT 1
#define OD_CRC32_PORT 1
#define OD_SHA256_CTX_TYPE od_ossl_sha256_ctx
#define OD_MD5_CTX_TYPE od_ossl_md5_ctx
#endif
#ifndef OD_SHA256_PORT
#define OD_SHA256_PORT 0
#endif
#ifndef OD_MD5_PORT
#define OD_MD5_PORT 0
#endif
#ifndef OD_CRC32_PORT
#define OD_CRC32_PORT 0
#endif

/*
 * Running SHA-256 state. The message length is kept as a 64-bit byte count
 * in two 32-bit halves, so a Cortex-M0+ needs no 64-bit helper routines; the
 * 64-bit bit count FIPS 180-4 wants is derived from it in od_sha256_final().
 * Treat the fields as private.
 */
#if OD_SHA256_PORT
typedef OD_SHA256_CTX_TYPE od_sha256_ctx;
#else
typedef struct od_sha256_ctx {
    uint32_t state[8];
    uint32_t count_lo, count_hi; /* bytes hashed so far, low/high word */
    uint8_t buf[64];             /* partial block; count_lo % 64 bytes used */
} od_sha256_ctx;
#endif

/* Running MD5 state; same layout and conventions as od_sha256_ctx. */
#if OD_MD5_PORT
typedef OD_MD5_CTX_TYPE od_md5_ctx;
#else
typedef struct od_md5_ctx {
    uint32_t state[4];
    uint32_t count_lo, count_hi; /* bytes hashed so far, low/high word */
    uint8_t buf[64];             /* partial block; count_lo % 64 bytes used */
} od_md5_ctx;
#endif

/*
 * Starts a new SHA-256 computation.
 * c: caller-owned context (any storage: stack, static, struct member); its
 *    previous contents are ignored, so this is also how to reuse one.
 */
void od_sha256_init(od_sha256_ctx *c);

/*
 * Feeds len bytes at data into the hash. Any split of a message into calls
 * gives the same digest, so data can be hashed as it streams from flash.
 * c: context set up by od_sha256_init() and not yet finalised.
 * data: read only during the call, any alignment; may be NULL if len is 0.
 * Total input per context is unbounded in practice (64-bit byte count).
 */
void od_sha256_update(od_sha256_ctx *c, const void *data, size_t len);

/*
 * Finishes the hash and writes the 32-byte digest to out (caller-owned).
 * c is left holding padding, not a resumable state: call od_sha256_init()
 * before using it again. out must not overlap c.
 */
void od_sha256_final(od_sha256_ctx *c, uint8_t out[OD_SHA256_LEN]);

/*
 * Starts a new MD5 computation (RFC 1321). MD5 is only a second check on the
 * target image against accidental corruption; authenticity comes from the
 * signed SHA-256, since MD5 is not collision resistant.
 * c: caller-owned context; previous contents are ignored.
 */
void od_md5_init(od_md5_ctx *c);

/*
 * Feeds len bytes at data into the MD5 hash; calls may split the message
 * anywhere. data is read only during the call, any alignment, and may be
 * NULL if len is 0.
 */
void od_md5_update(od_md5_ctx *c, const void *data, size_t len);

/*
 * Finishes the MD5 hash and writes the 16-byte digest to out (caller-owned).
 * As with SHA-256, c must be re-initialised before reuse; out must not
 * overlap c.
 */
void od_md5_final(od_md5_ctx *c, uint8_t out[OD_MD5_LEN]);

/*
 * zlib-compatible CRC-32 (reflected polynomial 0xEDB88320, pre- and
 * post-inversion), the same value as zlib's crc32(crc, data, len).
 * crc: 0 to start, or the return of a previous call to continue, so that
 *      od_crc32(od_crc32(0, a, na), b, nb) is the CRC of a followed by b.
 * data: read only during the call, any alignment; may be NULL if len is 0
 *       (then crc is returned unchanged).
 * Returns the updated CRC. Pure function of its arguments; no state.
 * Uses a 16-entry table (64 bytes of flash, not 1 KiB) and two lookups per
 * byte: a bootloader is short of flash, not of time for one pass over an
 * image. Unlike zlib, NULL with len 0 returns crc unchanged rather than 0;
 * zlib's init idiom crc32(0, NULL, 0) == 0 holds either way.
 */
uint32_t od_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* OD_HASH_H */
