/*
 * sensor.h - the board's two sensors and their signal chains.
 *
 * The MPS2 board has no thermistor or accelerometer, so the raw readings
 * come from a deterministic simulation (a slow drift plus pseudo-random
 * noise and occasional spikes); everything from the raw sample onwards is
 * what the real product would run.
 */
#ifndef SENSOR_H
#define SENSOR_H

#include <stdint.h>

typedef struct {
    int16_t x, y, z; /* milli-g */
} accel_mg;

typedef struct {
    uint16_t adc;      /* raw 12-bit code */
    int32_t raw_dc;    /* linearised, 0.1 degC */
    int32_t filt_dc;   /* after the filter chain, 0.1 degC */
} temp_sample;

typedef struct {
    accel_mg raw;
    accel_mg filt;
    int32_t pitch_dd; /* 0.1 degree */
    int32_t roll_dd;  /* 0.1 degree */
    uint32_t norm_mg; /* |a| */
} tilt_sample;

void sensor_init(uint32_t seed);
void sensor_set_alpha(int16_t alpha_q15);
void sensor_set_offset(int16_t offset_dc);
void sensor_read_temp(temp_sample *out);
void sensor_read_tilt(tilt_sample *out);
uint32_t sensor_sample_count(void);
uint32_t sensor_spikes_rejected(void);
/* Pseudo-random generator (xorshift32) behind the simulation. */
uint32_t sensor_prng(void);

#endif /* SENSOR_H */
