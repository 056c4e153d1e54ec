/*
 * fixmath.c - integer square root, table sine and CORDIC atan2.
 */
#include "fixmath.h"

/* sin(i * 90deg / 64) in Q15, i = 0..64: a quarter wave. */
static const int16_t quarter_sine[65] = {
    0,     804,   1608,  2410,  3212,  4011,  4808,  5602,  6393,  7179,  7962,  8739,  9512,
    10278, 11039, 11793, 12539, 13279, 14010, 14732, 15446, 16151, 16846, 17530, 18204, 18868,
    19519, 20159, 20787, 21403, 22005, 22594, 23170, 23731, 24279, 24811, 25329, 25832, 26319,
    26790, 27245, 27683, 28105, 28510, 28898, 29268, 29621, 29956, 30273, 30571, 30852, 31113,
    31356, 31580, 31785, 31971, 32137, 32285, 32412, 32521, 32609, 32678, 32728, 32757, 32767,
};

/* atan(2^-i) in degrees, Q8 (256 == 1 degree). */
static const int32_t cordic_atan_q8[16] = {
    11520, 6801, 3593, 1824, 916, 458, 229, 115, 57, 29, 14, 7, 4, 2, 1, 0,
};

uint32_t isqrt32(uint32_t v)
{
    uint32_t res = 0;
    uint32_t bit = 1u << 30;

    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= res + bit) {
            v -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

uint32_t isqrt64(uint64_t v)
{
    uint64_t res = 0;
    uint64_t bit = 1ull << 62;

    if (v <= 0xffffffffu)
        return isqrt32((uint32_t)v);
    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= res + bit) {
            v -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

int16_t sin_q15(uint16_t angle)
{
    unsigned quadrant = angle >> 14;
    unsigned pos = angle & 0x3fffu; /* 0..16383 within the quadrant */
    unsigned idx;
    unsigned frac;
    int32_t a, b, v;

    if (quadrant & 1u)
        pos = 0x4000u - pos;
    idx = pos >> 8; /* 64 table steps per quadrant */
    frac = pos & 0xffu;
    a = quarter_sine[idx];
    b = idx < 64u ? quarter_sine[idx + 1u] : a;
    v = a + (((b - a) * (int32_t)frac + 128) >> 8);
    return (int16_t)(quadrant & 2u ? -v : v);
}

int16_t cos_q15(uint16_t angle)
{
    return sin_q15((uint16_t)(angle + 0x4000u));
}

int32_t atan2_decideg(int32_t y, int32_t x)
{
    int32_t angle = 0;
    int32_t tmp;
    int i;

    if (x == 0 && y == 0)
        return 0;
    /* Scale up small vectors for precision and down large ones so the
     * CORDIC gain of ~1.65 cannot overflow. */
    while ((x > -0x100000 && x < 0x100000) && (y > -0x100000 && y < 0x100000)) {
        x *= 2;
        y *= 2;
    }
    while (x <= -0x1000000 || x >= 0x1000000 || y <= -0x1000000 || y >= 0x1000000) {
        x /= 2;
        y /= 2;
    }
    /* Bring the vector into the right half plane. */
    if (x < 0) {
        angle = y >= 0 ? 180 * 256 : -180 * 256;
        x = -x;
        y = -y;
    }
    for (i = 0; i < 16; i++) {
        if (y > 0) {
            tmp = x + (y >> i);
            y -= x >> i;
            x = tmp;
            angle += cordic_atan_q8[i];
        } else {
            tmp = x - (y >> i);
            y += x >> i;
            x = tmp;
            angle -= cordic_atan_q8[i];
        }
    }
    /* Q8 degrees -> tenths of a degree, rounded. */
    angle = angle >= 0 ? (angle * 10 + 128) / 256 : -((-angle * 10 + 128) / 256);
    if (angle <= -1800)
        angle += 3600;
    return angle;
}

int16_t q15_mul(int16_t a, int16_t b)
{
    int32_t p = ((int32_t)a * b + (1 << 14)) >> 15;

    return (int16_t)clamp_i32(p, -32768, 32767);
}

int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}
