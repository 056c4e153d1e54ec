/*
 * startup.c - vector table and reset handler of the QEMU port (mps2-an385,
 * and the boards run.sh's BOARD selects).
 */
#include <stdint.h>
#include <string.h>

#include "port.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void)
{
#ifdef __ARM_FP
    /* A hard-float build may keep values in FPU registers: give the FPU
     * full access (CPACR CP10/CP11) before any C code runs. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    memcpy(_sdata, _sidata, (size_t)((char *)_edata - (char *)_sdata));
    memset(_sbss, 0, (size_t)((char *)_ebss - (char *)_sbss));
    port_exit(main());
}

/* Any fault or unexpected interrupt ends the run with status 127. */
void Fault_Handler(void)
{
    port_puts("FAULT: CPU exception\n");
    port_exit(127);
}

typedef void (*vector)(void);

__attribute__((section(".isr_vector"), used)) static const vector vectors[16] = {
    (vector)(uintptr_t)_estack, /* initial stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};
