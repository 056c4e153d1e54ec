/*
 * startup.c - vector table, reset handler and fault handlers.
 *
 * Everything the C runtime needs before main() happens here: copy .data
 * from flash to RAM, clear .bss, enable the configurable fault handlers
 * and trap divide-by-zero. No assembly beyond the inline helpers in
 * board.h is needed on a Cortex-M3.
 */
#include <stdint.h>

#include "board.h"
#include "fmt.h"
#include "semihost.h"
#include "uart.h"

/* Provided by fw.ld. */
extern uint32_t _sidata[];
extern uint32_t _sdata[];
extern uint32_t _edata[];
extern uint32_t _sbss[];
extern uint32_t _ebss[];
extern uint32_t _estack[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);

/* Handlers the application may override; unused ones land in Default_Handler. */
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UART0_RX_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));
void UART0_TX_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_fn)(void);

typedef union {
    vector_fn handler;
    uint32_t *stack_top;
} vector_entry;

#define NUM_EXT_IRQS 32

/* The first 16 entries are the Cortex-M3 system exceptions. */
__attribute__((section(".isr_vector"), used))
const vector_entry g_vectors[16 + NUM_EXT_IRQS] = {
    {.stack_top = _estack},
    {.handler = Reset_Handler},
    {.handler = NMI_Handler},
    {.handler = HardFault_Handler},
    {.handler = MemManage_Handler},
    {.handler = BusFault_Handler},
    {.handler = UsageFault_Handler},
    {0}, {0}, {0}, {0},
    {.handler = SVC_Handler},
    {.handler = DebugMon_Handler},
    {0},
    {.handler = PendSV_Handler},
    {.handler = SysTick_Handler},
    /* External interrupts of the AN385 image. */
    [16 + UART0_RX_IRQn] = {.handler = UART0_RX_IRQHandler},
    [16 + UART0_TX_IRQn] = {.handler = UART0_TX_IRQHandler},
    [16 + 2 ... 16 + NUM_EXT_IRQS - 1] = {.handler = Default_Handler},
};

void Reset_Handler(void)
{
    uint32_t *src = _sidata;
    uint32_t *dst = _sdata;

    while (dst < _edata)
        *dst++ = *src++;
    for (dst = _sbss; dst < _ebss; dst++)
        *dst = 0;

    SCB_VTOR = (uint32_t)(uintptr_t)g_vectors;
    SCB_CCR |= SCB_CCR_DIV_0_TRP;
    SCB_SHCSR |= SCB_SHCSR_MEMFAULTENA | SCB_SHCSR_BUSFAULTENA | SCB_SHCSR_USGFAULTENA;

    semihost_exit(main());
}

/*
 * Report a fault on the UART with the stacked PC and the fault status
 * registers, then leave QEMU with a failure status so CI notices.
 * Called from the naked trampolines below with the exception frame.
 */
__attribute__((used)) void fault_entry(const uint32_t *frame, uint32_t kind);

__attribute__((used)) void fault_entry(const uint32_t *frame, uint32_t kind)
{
    static const char *const names[] = {"HardFault", "MemManage", "BusFault", "UsageFault"};

    fw_printf("\n*** %s: pc=%08lx lr=%08lx cfsr=%08lx hfsr=%08lx bfar=%08lx\n",
              names[kind & 3u], (unsigned long)frame[6], (unsigned long)frame[5],
              (unsigned long)SCB_CFSR, (unsigned long)SCB_HFSR, (unsigned long)SCB_BFAR);
    semihost_exit(0x7f);
}

/* Pick MSP or PSP depending on EXC_RETURN bit 2 and hand over to C. */
#define FAULT_TRAMPOLINE(name, kind)                                          \
    __attribute__((naked)) void name(void)                                    \
    {                                                                         \
        __asm__ volatile("tst lr, #4\n\t"                                     \
                         "ite eq\n\t"                                         \
                         "mrseq r0, msp\n\t"                                  \
                         "mrsne r0, psp\n\t"                                  \
                         "movs r1, #" #kind "\n\t"                            \
                         "b fault_entry\n\t");                                \
    }

FAULT_TRAMPOLINE(HardFault_Handler, 0)
FAULT_TRAMPOLINE(MemManage_Handler, 1)
FAULT_TRAMPOLINE(BusFault_Handler, 2)
FAULT_TRAMPOLINE(UsageFault_Handler, 3)

void Default_Handler(void)
{
    uint32_t ipsr;

    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    fw_printf("\n*** unexpected exception %lu\n", (unsigned long)(ipsr & 0x1ffu));
    semihost_exit(0x7e);
}
