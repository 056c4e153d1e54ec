/*
 * od_fuzz.h - shared pieces of the fuzz harnesses: the libFuzzer entry
 * point's prototype, a data producer for harness parameters, the fixed old
 * image fuzz_apply patches against, and the CRC fix-ups that let mutated
 * packages get past the header and index CRCs.
 *
 * Every harness is also built without libFuzzer (regression_driver.c
 * supplies main()), so nothing here may depend on clang.
 */
#ifndef OD_FUZZ_H
#define OD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "od_pkgfmt.h"
#include "od_pkgfmt_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: abort() makes libFuzzer save the input
 * and the regression driver fail, both with a stack trace under ASan. */
#define OD_FUZZ_ASSERT(x)  \
    do {                   \
        if (!(x))          \
            abort();       \
    } while (0)

/* The fixed old image of fuzz_apply and its seed packages. */
#define OD_FUZZ_OLD_SIZE 16384u

/* Firmware-like bytes: code-ish patterns with some noise, deterministic. */
static inline void od_fuzz_fill_image(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i;
    for (i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        b[i] = (x & 7) == 0 ? (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56)
                            : (uint8_t)((i * 13) ^ (i >> 5));
    }
}

/*
 * Mode bits in a harness's first input byte: recompute the index CRC and
 * then the header CRC of the package that follows, so mutations reach the
 * field rules, the index rules and the block decoders instead of dying at
 * a CRC. Seeds set both; the fuzzer may clear them.
 */
#define OD_FUZZ_FIX_HEADER OD_PKG_FIX_HEADER_CRC
#define OD_FUZZ_FIX_INDEX OD_PKG_FIX_INDEX_CRC

static inline void od_fuzz_fix_crcs(uint8_t *pkg, size_t size, unsigned mode)
{
    od_pkg_fix_crcs(pkg, size, mode & (OD_FUZZ_FIX_HEADER | OD_FUZZ_FIX_INDEX));
}

/* Takes one byte of parameters from the front of the input (0 when none
 * is left), like zstd's fuzz_data_producer but from the front. */
static inline uint8_t od_fuzz_take(const uint8_t **data, size_t *size)
{
    uint8_t b = 0;
    if (*size) {
        b = **data;
        (*data)++;
        (*size)--;
    }
    return b;
}

/* A chunk size from a selector byte: 1..128 mostly, sometimes large. */
static inline size_t od_fuzz_chunk(uint8_t sel)
{
    if (sel < 128)
        return (size_t)sel + 1;
    if (sel < 192)
        return (size_t)(sel - 127) * 64;
    return (size_t)1 << 20;
}

#endif /* OD_FUZZ_H */
