/*
 * od_hash_openssl.c - the hash port for host builds (OD_HASH_OPENSSL):
 * OpenSSL's SHA-256 and MD5 and zlib's crc32 behind the od_hash.h API.
 *
 * The host CLI, server and benchmarks run the same applier as the MCU;
 * only these three primitives change, to library code that uses the CPU's
 * SHA extensions and wide CRC tables. On a 64 MiB image the applier hashes
 * the payload, then the written image twice (SHA-256 and MD5), and CRCs
 * every block: with the bootloader-sized code that was over 70 % of the
 * time of `otadelta apply`.
 *
 * OpenSSL 3 marks SHA256_Init and friends deprecated in favour of EVP, but
 * EVP contexts live on the heap, and the applier's state is one
 * caller-owned struct with no destructor: only the fixed-size low-level
 * contexts fit it. They are still supported through OpenSSL 3.x.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "od_hash.h"

#if defined(OD_HASH_OPENSSL) && OD_HASH_OPENSSL

#include <limits.h>
#include <stddef.h>

#include <openssl/md5.h>
#include <openssl/sha.h>
#include <zlib.h>

/* od_hash.h holds the contexts as opaque storage: they must fit, size and
 * alignment (C99 has no _Static_assert: a negative array size fails the
 * build). The storage is only ever touched by OpenSSL through these casts
 * (and zeroed or copied as bytes by its owners). */
struct od_align_sha256 { char c; SHA256_CTX x; };
struct od_align_sha256_store { char c; od_sha256_ctx x; };
struct od_align_md5 { char c; MD5_CTX x; };
struct od_align_md5_store { char c; od_md5_ctx x; };
typedef char od_sha256_ctx_fits[sizeof(SHA256_CTX) <= sizeof(od_sha256_ctx) &&
                                        offsetof(struct od_align_sha256, x) <=
                                            offsetof(struct od_align_sha256_store, x)
                                    ? 1
                                    : -1];
typedef char od_md5_ctx_fits[sizeof(MD5_CTX) <= sizeof(od_md5_ctx) &&
                                     offsetof(struct od_align_md5, x) <=
                                         offsetof(struct od_align_md5_store, x)
                                 ? 1
                                 : -1];

void od_sha256_init(od_sha256_ctx *c)
{
    SHA256_Init((SHA256_CTX *)(void *)c);
}

void od_sha256_update(od_sha256_ctx *c, const void *data, size_t len)
{
    if (len)
        SHA256_Update((SHA256_CTX *)(void *)c, data, len);
}

void od_sha256_final(od_sha256_ctx *c, uint8_t out[OD_SHA256_LEN])
{
    SHA256_Final(out, (SHA256_CTX *)(void *)c);
}

void od_md5_init(od_md5_ctx *c)
{
    MD5_Init((MD5_CTX *)(void *)c);
}

void od_md5_update(od_md5_ctx *c, const void *data, size_t len)
{
    if (len)
        MD5_Update((MD5_CTX *)(void *)c, data, len);
}

void od_md5_final(od_md5_ctx *c, uint8_t out[OD_MD5_LEN])
{
    MD5_Final(out, (MD5_CTX *)(void *)c);
}

uint32_t od_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* zlib takes uInt lengths; od_crc32 documents NULL as "unchanged". */
    if (!p)
        return crc;
    while (len) {
        uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

#else
typedef int od_hash_openssl_unused; /* ISO C wants a non-empty file */
#endif
