/*
 * filter.h - the sensor signal chain: spike rejection, moving average,
 * first-order IIR low-pass, a FIR smoother for the accelerometer and the
 * NTC thermistor linearisation table.
 */
#ifndef FILTER_H
#define FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "fwconfig.h"

#define MOVAVG_MAX 16u
#define FIR_TAPS 15u

typedef struct {
    int32_t samples[MOVAVG_MAX];
    int32_t sum;
    uint8_t window; /* power of two, 1..MOVAVG_MAX */
    uint8_t fill;
    uint8_t pos;
} movavg;

typedef struct {
    int32_t state_q16; /* output with 16 extra fraction bits */
    int16_t alpha_q15;
    uint8_t primed;
} iir_lp;

typedef struct {
    int16_t history[FIR_TAPS];
    uint8_t pos;
} fir_filter;

typedef struct {
    int32_t win[5];
    uint8_t fill;
    uint8_t pos;
    int32_t threshold; /* a sample this far from the median is a spike */
    uint16_t rejected;  /* spikes seen */
} median5;

int movavg_init(movavg *f, unsigned window);
int32_t movavg_push(movavg *f, int32_t x);

void iir_init(iir_lp *f, int16_t alpha_q15);
int32_t iir_push(iir_lp *f, int32_t x);

void fir_init(fir_filter *f);
/* Fill the history with x so the output starts at x instead of ramping up. */
void fir_prime(fir_filter *f, int16_t x);
int16_t fir_push(fir_filter *f, int16_t x);

#if FW_HAS_MEDIAN_FILTER
void median5_init(median5 *f, int32_t spike_threshold);
int32_t median5_push(median5 *f, int32_t x);
int32_t median_of_5(const int32_t v[5]);
#endif

/* 12-bit ADC code of the NTC divider -> temperature in 0.1 degC. */
int32_t ntc_adc_to_decic(uint32_t adc);
/* Table access for the self-test. */
size_t ntc_table_size(void);
int32_t ntc_table_entry(size_t i);
#define NTC_ADC_STEP 128u

/* Default IIR coefficient of the temperature channel (Q15). */
extern const int16_t filter_default_alpha_q15;

#endif /* FILTER_H */
