/*
 * fixmath.h - integer math for an MCU without an FPU.
 *
 * Angles are "binary angles": a full turn is 65536 units, so uint16_t
 * arithmetic wraps exactly like an angle does. Trigonometric results are
 * Q15 (32767 == 1.0). atan2 returns tenths of a degree in (-1800, 1800].
 */
#ifndef FIXMATH_H
#define FIXMATH_H

#include <stdint.h>

#define BANGLE_FULL 65536u
#define Q15_ONE 32767

uint32_t isqrt32(uint32_t v);
uint32_t isqrt64(uint64_t v);
int16_t sin_q15(uint16_t angle);
int16_t cos_q15(uint16_t angle);
int32_t atan2_decideg(int32_t y, int32_t x);
/* Multiply two Q15 numbers with rounding and saturation. */
int16_t q15_mul(int16_t a, int16_t b);
int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi);

#endif /* FIXMATH_H */
