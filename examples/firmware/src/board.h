/*
 * board.h - register map of the ARM MPS2 FPGA board with the AN385
 * (Cortex-M3) image, as modelled by QEMU's "mps2-an385" machine, plus the
 * handful of Cortex-M3 core registers the firmware touches.
 *
 * Memory map used by this firmware (see fw.ld):
 *   0x00000000  ZBT SSRAM1, used as the 256 KiB "flash" application slot
 *   0x20000000  ZBT SSRAM2, 64 KiB used as RAM
 *   0x40004000  CMSDK APB UART0 (RX IRQ 0, TX IRQ 1)
 *   0x40028000  FPGA I/O block (LEDs, 25 MHz free-running counter)
 */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System clock of the MPS2 FPGA images. */
#define BOARD_SYSCLK_HZ 25000000u
#define BOARD_TICK_HZ 1000u

/* ---- CMSDK APB UART ---------------------------------------------------- */
#define UART0_BASE 0x40004000u
#define UART_DATA(b) REG32((b) + 0x000u)
#define UART_STATE(b) REG32((b) + 0x004u)
#define UART_CTRL(b) REG32((b) + 0x008u)
#define UART_INTSTATUS(b) REG32((b) + 0x00Cu) /* write 1 to clear */
#define UART_BAUDDIV(b) REG32((b) + 0x010u)

#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_STATE_TXOVR (1u << 2)
#define UART_STATE_RXOVR (1u << 3)

#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_TXIE (1u << 2)
#define UART_CTRL_RXIE (1u << 3)

#define UART_INT_TX (1u << 0)
#define UART_INT_RX (1u << 1)

#define UART0_RX_IRQn 0
#define UART0_TX_IRQn 1

/* ---- FPGA I/O ---------------------------------------------------------- */
#define FPGAIO_BASE 0x40028000u
#define FPGAIO_LED0 REG32(FPGAIO_BASE + 0x000u)
#define FPGAIO_BUTTON REG32(FPGAIO_BASE + 0x008u)
#define FPGAIO_COUNTER REG32(FPGAIO_BASE + 0x018u)
#define BOARD_NUM_LEDS 2u

/* ---- Cortex-M3 system control space ------------------------------------ */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)

#define NVIC_ISER0 REG32(0xE000E100u)
#define NVIC_ICER0 REG32(0xE000E180u)
#define NVIC_ICPR0 REG32(0xE000E280u)

#define SCB_CPUID REG32(0xE000ED00u)
#define SCB_ICSR REG32(0xE000ED04u)
#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_CCR REG32(0xE000ED14u)
#define SCB_SHCSR REG32(0xE000ED24u)
#define SCB_CFSR REG32(0xE000ED28u)
#define SCB_HFSR REG32(0xE000ED2Cu)
#define SCB_MMFAR REG32(0xE000ED34u)
#define SCB_BFAR REG32(0xE000ED38u)

#define SCB_CCR_DIV_0_TRP (1u << 4)
#define SCB_SHCSR_MEMFAULTENA (1u << 16)
#define SCB_SHCSR_BUSFAULTENA (1u << 17)
#define SCB_SHCSR_USGFAULTENA (1u << 18)

static inline void irq_disable(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
}

static inline void irq_enable(void)
{
    __asm__ volatile("cpsie i" ::: "memory");
}

/* Returns the previous PRIMASK so critical sections can nest. */
static inline uint32_t irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static inline void irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

static inline void cpu_wfi(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

static inline void nvic_enable(unsigned irqn)
{
    NVIC_ICPR0 = 1u << irqn;
    NVIC_ISER0 = 1u << irqn;
}

/* board.c */
void board_init(void);
uint32_t board_ticks(void);
void board_delay_ms(uint32_t ms);
__attribute__((noreturn)) void board_reset(void);
void board_led_set(unsigned mask);
unsigned board_led_get(void);

#endif /* BOARD_H */
