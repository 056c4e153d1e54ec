/*
 * od_crc32.c - zlib-compatible CRC-32, nibble at a time.
 *
 * A 16-entry table (64 bytes) instead of zlib's 256 entries (1 KiB, or
 * more for its multi-table variants): two lookups per byte instead of one,
 * a trade that favours the bootloader's flash budget over its speed.
 * Where CRC speed matters (hosts, MCUs with a CRC unit) the platform
 * supplies od_crc32() through the hash port (od_hash.h); the host build
 * does so with zlib's.
 */
#include "od_hash.h"

#if !OD_CRC32_PORT /* else the port supplies it (od_hash.h) */

/* crc_nibble[n] = n run through four bit-steps of reflected 0xEDB88320. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu,
    0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t od_crc32(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    /*
     * zlib's convention: the register is inverted on the way in and out, so
     * a caller's 0 starts a fresh CRC and a returned value chains directly.
     */
    crc = ~crc;
    /* Counting len down never forms p + 0 from a NULL data pointer. */
    while (len--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

#else
typedef int od_crc32_is_ported; /* ISO C wants a non-empty file */
#endif
