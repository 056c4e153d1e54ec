/*
 * od_md5.c - MD5 (RFC 1321), sized for a bootloader.
 *
 * The four rounds run as one rolled loop that picks the boolean function,
 * message word and rotation from the step number, instead of the RFC's
 * 64 unrolled steps; that trades some speed for a fraction of the code.
 * Words are assembled with shifts (od_get_le32), so alignment and host byte
 * order do not matter.
 */
#include "od_hash.h"

#if !OD_MD5_PORT /* else the port supplies it (od_hash.h) */

/* RFC 1321 T[i] = floor(2^32 * |sin(i + 1)|). */
static const uint32_t md5_t[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu,
    0xf57c0fafu, 0x4787c62au, 0xa8304613u, 0xfd469501u,
    0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu,
    0x6b901122u, 0xfd987193u, 0xa679438eu, 0x49b40821u,
    0xf61e2562u, 0xc040b340u, 0x265e5a51u, 0xe9b6c7aau,
    0xd62f105du, 0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u,
    0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu,
    0xa9e3e905u, 0xfcefa3f8u, 0x676f02d9u, 0x8d2a4c8au,
    0xfffa3942u, 0x8771f681u, 0x6d9d6122u, 0xfde5380cu,
    0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u,
    0x289b7ec6u, 0xeaa127fau, 0xd4ef3085u, 0x04881d05u,
    0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u,
    0xf4292244u, 0x432aff97u, 0xab9423a7u, 0xfc93a039u,
    0x655b59c3u, 0x8f0ccc92u, 0xffeff47du, 0x85845dd1u,
    0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u,
    0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu, 0xeb86d391u,
};

/* Left rotations: four per round, repeating every four steps. */
static const uint8_t md5_s[16] = {
    7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21,
};

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Processes one 64-byte block at p into st. */
static void md5_block(uint32_t st[4], const uint8_t *p)
{
    uint32_t x[16];
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    unsigned i;

    for (i = 0; i < 16; i++)
        x[i] = od_get_le32(p + 4 * i);

    for (i = 0; i < 64; i++) {
        uint32_t f;
        unsigned k, r = i >> 4, s;
        /* F and G written with one fewer operation than in the RFC. */
        if (r == 0) {
            f = d ^ (b & (c ^ d));
            k = i;
        } else if (r == 1) {
            f = c ^ (d & (b ^ c));
            k = 5 * i + 1;
        } else if (r == 2) {
            f = b ^ c ^ d;
            k = 3 * i + 5;
        } else {
            f = c ^ (b | ~d);
            k = 7 * i;
        }
        f += a + md5_t[i] + x[k & 15];
        s = md5_s[(r << 2) | (i & 3)];
        a = d;
        d = c;
        c = b;
        b += (f << s) | (f >> (32 - s));
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void od_md5_init(od_md5_ctx *c)
{
    c->state[0] = 0x67452301u;
    c->state[1] = 0xefcdab89u;
    c->state[2] = 0x98badcfeu;
    c->state[3] = 0x10325476u;
    c->count_lo = 0;
    c->count_hi = 0;
}

void od_md5_update(od_md5_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    size_t used, take;
    uint32_t lo;

    /* Also keeps a NULL data pointer out of any arithmetic. */
    if (len == 0)
        return;
    used = c->count_lo & 63u;
    lo = c->count_lo + (uint32_t)len;
    /* Two 16-bit shifts: a single >> 32 is undefined where size_t is 32-bit. */
    c->count_hi += (uint32_t)((len >> 16) >> 16) + (lo < c->count_lo);
    c->count_lo = lo;

    if (used) {
        take = 64 - used;
        if (take > len)
            take = len;
        OD_MEMCPY(c->buf + used, p, take);
        p += take;
        len -= take;
        if (used + take < 64)
            return;
        md5_block(c->state, c->buf);
    }
    /* Whole blocks straight from the caller's buffer, no copy. */
    for (; len >= 64; p += 64, len -= 64)
        md5_block(c->state, p);
    if (len)
        OD_MEMCPY(c->buf, p, len);
}

void od_md5_final(od_md5_ctx *c, uint8_t out[OD_MD5_LEN])
{
    size_t used = c->count_lo & 63u;
    unsigned i;

    /* Same padding as SHA-256 but the bit count is little-endian. */
    c->buf[used++] = 0x80;
    if (used > 56) {
        OD_MEMSET(c->buf + used, 0, 64 - used);
        md5_block(c->state, c->buf);
        used = 0;
    }
    OD_MEMSET(c->buf + used, 0, 56 - used);
    store_le32(c->buf + 56, c->count_lo << 3);
    store_le32(c->buf + 60, (c->count_hi << 3) | (c->count_lo >> 29));
    md5_block(c->state, c->buf);
    for (i = 0; i < 4; i++)
        store_le32(out + 4 * i, c->state[i]);
}

#else
typedef int od_md5_is_ported; /* ISO C wants a non-empty file */
#endif
