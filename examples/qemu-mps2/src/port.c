/*
 * port.c - semihosting console and exit, SysTick time base, reset.
 */
#include "port.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

#define SYSTICK_RELOAD 0x00FFFFFFu

static volatile uint32_t systick_wraps;

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void port_puts(const char *s)
{
    semihost(SYS_WRITE0, s);
}

void port_put_u(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    port_puts(b + i);
}

void port_put_hex(const uint8_t *p, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    char b[2 * 32 + 1];
    uint32_t i, k = 0;
    for (i = 0; i < n && i < 32; i++) {
        b[k++] = digits[p[i] >> 4];
        b[k++] = digits[p[i] & 15];
    }
    b[k] = 0;
    port_puts(b);
}

void port_exit(int status)
{
    if (status == 0) {
        /* On AArch32 the argument is the reason code itself. */
        semihost(SYS_EXIT, (const void *)ADP_STOPPED_APPLICATION_EXIT);
    } else {
        const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
        semihost(SYS_EXIT_EXTENDED, block);
    }
    for (;;)
        __asm__ volatile("wfi");
}

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    systick_wraps++;
}

void port_ticks_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYSTICK_RELOAD;
    SYST_CVR = 0;
    systick_wraps = 0;
    SYST_CSR = 7; /* enable, interrupt, CPU clock */
    /* The counter loads the reload value on its first tick; until then it
     * reads 0, which would look like a whole period gone. */
    while (SYST_CVR == 0)
        ;
}

uint64_t port_ticks(void)
{
    uint32_t w, v;
    /* Re-read if the counter wrapped between the two reads. */
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return (uint64_t)w * (SYSTICK_RELOAD + 1u) + (SYSTICK_RELOAD - v);
}

void port_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        ;
}
