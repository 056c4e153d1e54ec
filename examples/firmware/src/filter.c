/*
 * filter.c - sensor signal chain.
 */
#include "filter.h"

#include "fixmath.h"

/*
 * Temperature (0.1 degC) of a 10 kOhm NTC to ground under a 10 kOhm
 * pull-up, read by a 12-bit ADC, at ADC codes 0, 128, ..., 4096.
 */
static const int16_t ntc_table[33] = {
#if FW_VERSION >= 2
    /* v2: recalibrated for the second-source thermistor (B25/85 = 3977 K). */
    1500, 1284, 1009, 861, 759, 681, 618, 565, 518, 476, 437,  402,  369,  337,  307,  278, 250,
    222,  195,  168,  140, 112, 84,  54,  23,  -10, -45, -85, -130, -183, -253, -360, -550,
#else
    /* B25/85 = 3950 K. */
    1500, 1293, 1016, 866, 763, 685, 621, 567, 520, 477, 439,  403,  370,  338,  308,  278, 250,
    222,  194,  167,  139, 111, 83,  53,  22,  -11, -47, -87, -132, -186, -256, -364, -550,
#endif
};

/* 15-tap Hamming-windowed low-pass, cut-off 0.1 fs, Q15, sums to 32768. */
static const int16_t fir_coeffs[FIR_TAPS] = {
    -118, -133, 0, 696, 2205, 4257, 6075, 6804, 6075, 4257, 2205, 696, 0, -133, -118,
};

#if FW_VERSION >= 2
const int16_t filter_default_alpha_q15 = 3277; /* 0.100: a little more smoothing */
#else
const int16_t filter_default_alpha_q15 = 4096; /* 0.125 */
#endif

int movavg_init(movavg *f, unsigned window)
{
    unsigned i;

    if (window == 0u || window > MOVAVG_MAX || (window & (window - 1u)) != 0u)
        return -1;
    for (i = 0; i < MOVAVG_MAX; i++)
        f->samples[i] = 0;
    f->sum = 0;
    f->window = (uint8_t)window;
    f->fill = 0;
    f->pos = 0;
    return 0;
}

int32_t movavg_push(movavg *f, int32_t x)
{
    int32_t n;

    if (f->fill == f->window)
        f->sum -= f->samples[f->pos];
    else
        f->fill++;
    f->samples[f->pos] = x;
    f->sum += x;
    f->pos = (uint8_t)((f->pos + 1u) & (f->window - 1u));
    n = f->fill;
#if FW_FIX_AVG_ROUNDING
    /* Round half away from zero instead of truncating. */
    return f->sum >= 0 ? (f->sum + n / 2) / n : -((-f->sum + n / 2) / n);
#else
    return f->sum / n;
#endif
}

void iir_init(iir_lp *f, int16_t alpha_q15)
{
    f->state_q16 = 0;
    f->alpha_q15 = alpha_q15;
    f->primed = 0;
}

int32_t iir_push(iir_lp *f, int32_t x)
{
    int64_t err;

    if (!f->primed) {
        f->state_q16 = x * 65536;
        f->primed = 1;
        return x;
    }
    err = (int64_t)x * 65536 - f->state_q16;
    f->state_q16 += (int32_t)((err * f->alpha_q15) >> 15);
    return (f->state_q16 + 32768) >> 16;
}

void fir_init(fir_filter *f)
{
    unsigned i;

    for (i = 0; i < FIR_TAPS; i++)
        f->history[i] = 0;
    f->pos = 0;
}

void fir_prime(fir_filter *f, int16_t x)
{
    unsigned i;

    for (i = 0; i < FIR_TAPS; i++)
        f->history[i] = x;
}

int16_t fir_push(fir_filter *f, int16_t x)
{
    int32_t acc = 1 << 14;
    unsigned i;
    unsigned idx;

    f->history[f->pos] = x;
    idx = f->pos;
    for (i = 0; i < FIR_TAPS; i++) {
        acc += (int32_t)fir_coeffs[i] * f->history[idx];
        idx = idx == 0u ? FIR_TAPS - 1u : idx - 1u;
    }
    f->pos = (uint8_t)(f->pos + 1u == FIR_TAPS ? 0u : f->pos + 1u);
    return (int16_t)clamp_i32(acc >> 15, -32768, 32767);
}

#if FW_HAS_MEDIAN_FILTER
/* v2: spike rejection in front of the temperature channel. */
int32_t median_of_5(const int32_t v[5])
{
    int32_t s[5];
    unsigned i, j;

    for (i = 0; i < 5u; i++) {
        int32_t x = v[i];

        for (j = i; j > 0u && s[j - 1u] > x; j--)
            s[j] = s[j - 1u];
        s[j] = x;
    }
    return s[2];
}

void median5_init(median5 *f, int32_t spike_threshold)
{
    f->threshold = spike_threshold;
    f->fill = 0;
    f->pos = 0;
    f->rejected = 0;
}

int32_t median5_push(median5 *f, int32_t x)
{
    int32_t m;

    f->win[f->pos] = x;
    f->pos = (uint8_t)(f->pos == 4u ? 0u : f->pos + 1u);
    if (f->fill < 5u) {
        f->fill++;
        return x;
    }
    m = median_of_5(f->win);
    if (x - m > f->threshold || m - x > f->threshold)
        f->rejected++;
    return m;
}
#endif /* FW_HAS_MEDIAN_FILTER */

int32_t ntc_adc_to_decic(uint32_t adc)
{
    uint32_t idx;
    uint32_t frac;
    int32_t a, b;

    if (adc >= 4096u)
        return ntc_table[32];
    idx = adc / NTC_ADC_STEP;
    frac = adc % NTC_ADC_STEP;
    a = ntc_table[idx];
    b = ntc_table[idx + 1u];
    /* Linear interpolation, rounded to nearest. */
    return a + ((b - a) * (int32_t)frac + (b >= a ? 64 : -64)) / (int32_t)NTC_ADC_STEP;
}

size_t ntc_table_size(void)
{
    return sizeof ntc_table / sizeof ntc_table[0];
}

int32_t ntc_table_entry(size_t i)
{
    return i < ntc_table_size() ? ntc_table[i] : 0;
}
