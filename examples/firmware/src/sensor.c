/*
 * sensor.c - simulated NTC and accelerometer with the real signal chains.
 */
#include "sensor.h"

#include "filter.h"
#include "fixmath.h"
#include "fwconfig.h"

#define SIM_SPIKE_PERIOD 37u
#define SIM_SPIKE_ADC 600
#define SIM_ROLL_BANGLE 1820 /* ~10 degrees */
#define SPIKE_THRESHOLD_DC 20  /* 2.0 degC between neighbouring samples */

static struct {
    uint32_t prng;
    uint32_t temp_count;
    uint32_t tilt_count;
    int16_t offset_dc;
    movavg avg;
    iir_lp iir;
#if FW_HAS_MEDIAN_FILTER
    median5 med;
#endif
    fir_filter fir[3];
} s;

uint32_t sensor_prng(void)
{
    uint32_t x = s.prng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s.prng = x;
    return x;
}

/* Uniform noise in [-amp, amp]. */
static int32_t noise(int32_t amp)
{
    return (int32_t)(sensor_prng() % (uint32_t)(2 * amp + 1)) - amp;
}

void sensor_init(uint32_t seed)
{
    unsigned i;

    s.prng = seed ? seed : 0x2545f491u;
    s.temp_count = 0;
    s.tilt_count = 0;
    s.offset_dc = 0;
    movavg_init(&s.avg, 8);
    iir_init(&s.iir, filter_default_alpha_q15);
#if FW_HAS_MEDIAN_FILTER
    median5_init(&s.med, SPIKE_THRESHOLD_DC);
#endif
    for (i = 0; i < 3u; i++)
        fir_init(&s.fir[i]);
}

void sensor_set_alpha(int16_t alpha_q15)
{
    s.iir.alpha_q15 = alpha_q15;
}

void sensor_set_offset(int16_t offset_dc)
{
    s.offset_dc = offset_dc;
}

static uint16_t sim_ntc_adc(void)
{
    /* About 25 degC, drifting by +-1.5 degC with a period of 256 samples. */
    int32_t adc = 2048 + (sin_q15((uint16_t)(s.temp_count * 256u)) * 60) / Q15_ONE;

    adc += noise(6);
    if (s.temp_count % SIM_SPIKE_PERIOD == SIM_SPIKE_PERIOD - 1u)
        adc += SIM_SPIKE_ADC; /* connector glitch seen on early boards */
    s.temp_count++;
    return (uint16_t)clamp_i32(adc, 0, 4095);
}

void sensor_read_temp(temp_sample *out)
{
    int32_t t;

    out->adc = sim_ntc_adc();
    out->raw_dc = ntc_adc_to_decic(out->adc) + s.offset_dc;
    t = out->raw_dc;
#if FW_HAS_MEDIAN_FILTER
    t = median5_push(&s.med, t);
#endif
    t = movavg_push(&s.avg, t);
    out->filt_dc = iir_push(&s.iir, t);
}

static void sim_accel(accel_mg *a)
{
    /* Pitch sweeps +-20 degrees; roll is a fixed ~10 degrees. */
    uint16_t pitch = (uint16_t)((sin_q15((uint16_t)(s.tilt_count * 2048u)) * 3641) / Q15_ONE);
    int32_t cp = cos_q15(pitch);

    a->x = (int16_t)(-(sin_q15(pitch) * 1000) / Q15_ONE + noise(15));
    a->y = (int16_t)((((cp * sin_q15(SIM_ROLL_BANGLE)) / Q15_ONE) * 1000) / Q15_ONE + noise(15));
    a->z = (int16_t)((((cp * cos_q15(SIM_ROLL_BANGLE)) / Q15_ONE) * 1000) / Q15_ONE + noise(15));
    s.tilt_count++;
}

void sensor_read_tilt(tilt_sample *out)
{
    int32_t x, y, z;

    sim_accel(&out->raw);
    if (s.tilt_count == 1u) {
        fir_prime(&s.fir[0], out->raw.x);
        fir_prime(&s.fir[1], out->raw.y);
        fir_prime(&s.fir[2], out->raw.z);
    }
    out->filt.x = fir_push(&s.fir[0], out->raw.x);
    out->filt.y = fir_push(&s.fir[1], out->raw.y);
    out->filt.z = fir_push(&s.fir[2], out->raw.z);
    x = out->filt.x;
    y = out->filt.y;
    z = out->filt.z;
    out->norm_mg = isqrt32((uint32_t)(x * x + y * y + z * z));
    out->roll_dd = atan2_decideg(y, z);
    out->pitch_dd = atan2_decideg(-x, (int32_t)isqrt32((uint32_t)(y * y + z * z)));
}

uint32_t sensor_sample_count(void)
{
    return s.temp_count + s.tilt_count;
}

uint32_t sensor_spikes_rejected(void)
{
#if FW_HAS_MEDIAN_FILTER
    return s.med.rejected;
#else
    return 0;
#endif
}
