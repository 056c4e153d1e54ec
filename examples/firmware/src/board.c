/*
 * board.c - clock tick, delays and LEDs of the MPS2 AN385 board.
 */
#include "board.h"

static volatile uint32_t ticks;

void SysTick_Handler(void);

void SysTick_Handler(void)
{
    ticks++;
}

void board_init(void)
{
    SYST_CSR = 0;
    SYST_RVR = BOARD_SYSCLK_HZ / BOARD_TICK_HZ - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    FPGAIO_LED0 = 0;
    irq_enable();
}

uint32_t board_ticks(void)
{
    return ticks;
}

void board_delay_ms(uint32_t ms)
{
    uint32_t start = ticks;

    while ((uint32_t)(ticks - start) < ms)
        cpu_wfi();
}

void board_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        cpu_wfi();
}

void board_led_set(unsigned mask)
{
    FPGAIO_LED0 = mask & ((1u << BOARD_NUM_LEDS) - 1u);
}

unsigned board_led_get(void)
{
    return FPGAIO_LED0 & ((1u << BOARD_NUM_LEDS) - 1u);
}
