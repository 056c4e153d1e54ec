/*
 * od_port.h - everything the applier needs from its platform.
 *
 * It lives in pkgfmt/ rather than patch/ because the freestanding package
 * reader and hashes are the lowest layer of the applier and may not depend
 * on patch/; patch/ includes it from here.
 *
 * The applier (patch/) and the freestanding part of pkgfmt/ touch the C
 * library only through this header: memcpy, memset and memcmp, plus an
 * assert for our own invariants and a trace macro that vanishes when off.
 * An integrator can replace any of it by compiling with
 * -DOD_CONFIG=\"my_config.h\"; that file is included first and may define
 * any OD_* macro below before the defaults apply.
 */
#ifndef OD_PORT_H
#define OD_PORT_H

#ifdef OD_CONFIG
#include OD_CONFIG
#endif

/* An installed copy of the libraries carries the settings they were built
 * with (od_install_config.h, generated at install beside this file), so a
 * consumer's struct od_patch has the libraries' layout without any -D flag,
 * and another value set above or by -D is an #error. The source tree has no
 * such file: builds from source are unaffected. */
#if defined(__has_include)
#if __has_include("od_install_config.h")
#include "od_install_config.h"
#endif
#endif

#include <stddef.h>
#include <stdint.h>

#ifndef OD_MEMCPY
#include <string.h>
#define OD_MEMCPY(d, s, n) memcpy((d), (s), (n))
#define OD_MEMSET(d, c, n) memset((d), (c), (n))
#define OD_MEMCMP(a, b, n) memcmp((a), (b), (n))
#endif

/*
 * Asserts guard our own invariants and the integrator's callback contracts,
 * never untrusted bytes (those return an error). Off unless OD_DEBUG is set,
 * because an assert needs a platform hook that a bootloader may not have.
 */
#ifndef OD_ASSERT
#if defined(OD_DEBUG) && OD_DEBUG
#include <assert.h>
#define OD_ASSERT(x) assert(x)
#else
#define OD_ASSERT(x) ((void)0)
#endif
#endif

/* Trace hook; arguments must have no side effects because it may vanish. */
#ifndef OD_TRACE
#define OD_TRACE(...) ((void)0)
#endif

/* Codecs compiled into the applier. A profile turns the heavy ones off. */
#ifndef OD_HAS_LZMA
#define OD_HAS_LZMA 1
#endif
#ifndef OD_HAS_DEFLATE
#define OD_HAS_DEFLATE 1
#endif
/* The thumb filter (OD_FILTER_THUMB) for packages that use it. */
#ifndef OD_HAS_THUMB
#define OD_HAS_THUMB 1
#endif
/* Verify the target MD5 as well as its SHA-256 after writing. */
#ifndef OD_HAS_MD5
#define OD_HAS_MD5 1
#endif

/*
 * SHA-256 rounds with the eight working variables renamed per round (the
 * usual form) instead of shifted down an array. Trade-off: the shifting
 * form is 52 bytes smaller on Cortex-M4 (108 on M0+) and hashes about a
 * third slower, which makes a whole update (payload hash + read-back
 * verification) 11-28 % more instructions per output byte on the QEMU
 * Cortex-M3 port (lzma 11 %, deflate 15 %, none 28 %). Same digests
 * either way; set 1 when update time matters more than flash.
 */
#ifndef OD_SHA256_FAST
#define OD_SHA256_FAST 0
#endif

/* Small helpers the compiler must not outline where they are one load: at
 * -Os GCC may keep a 4-byte copy and call it, which costs more than the
 * inlined load. (A Cortex-M0+ loads bytewise; there GCC decides.) */
#if defined(__GNUC__) && (!defined(__arm__) || defined(__ARM_FEATURE_UNALIGNED))
#define OD_INLINE static inline __attribute__((always_inline))
#else
#define OD_INLINE static inline
#endif

/* A function GCC would inline at several call sites for no speed worth
 * its bytes. */
#if defined(__GNUC__)
#define OD_NOINLINE __attribute__((noinline))
#else
#define OD_NOINLINE
#endif

/* Little-endian loads/stores that work at any alignment on any host (GCC
 * turns the byte pattern into one load where the core allows unaligned
 * access, e.g. Cortex-M3/M4). */
OD_INLINE uint16_t od_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

OD_INLINE uint32_t od_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* GCC merges the byte loads above but not byte stores on ARM, so where a
 * little-endian core takes unaligned stores, store the word directly. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (!defined(__arm__) || defined(__ARM_FEATURE_UNALIGNED))
#define OD_STORE_LE_DIRECT 1
#else
#define OD_STORE_LE_DIRECT 0
#endif

OD_INLINE void od_put_le16(uint8_t *p, uint16_t v)
{
#if OD_STORE_LE_DIRECT
    __builtin_memcpy(p, &v, 2);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
#endif
}

OD_INLINE void od_put_le32(uint8_t *p, uint32_t v)
{
#if OD_STORE_LE_DIRECT
    __builtin_memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

#endif /* OD_PORT_H */
