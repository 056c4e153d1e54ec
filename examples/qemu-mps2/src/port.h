/*
 * port.h - the board side of the otadelta QEMU port (mps2-an385 by
 * default; run.sh's BOARD moves the slot for boards without PSRAM): console,
 * exit status, timing and the memory map the bootloader uses.
 */
#ifndef PORT_H
#define PORT_H

#include <stdint.h>

/*
 * Memory map (QEMU mps2-an385):
 *   0x00000000  ZBT SSRAM1, 4 MiB: "internal flash" holding this program,
 *               the running (old) image and the downloaded package.
 *   0x20000000  ZBT SSRAM2/3, 4 MiB: RAM (.data, .bss, stack).
 *   0x21000000  PSRAM, 16 MiB: the "external flash" slot the new image is
 *               written to, and the progress cell. Neither is part of the
 *               ELF, so QEMU's reset leaves them alone, as power loss leaves
 *               flash alone.
 */
#ifndef PORT_CELL_ADDR /* run.sh moves both on a board without PSRAM */
#define PORT_CELL_ADDR 0x21000000u
#define PORT_SLOT_ADDR 0x21001000u
#define PORT_SLOT_SIZE (15u << 20)
#endif

/* Semihosting console (SYS_WRITE0) and exit (SYS_EXIT / _EXTENDED). */
void port_puts(const char *s);
void port_put_u(uint32_t v);
void port_put_hex(const uint8_t *b, uint32_t n);
void port_exit(int status) __attribute__((noreturn));

/* SysTick running from the 25 MHz CPU clock, extended to 64 bits by its
 * interrupt. Under `-icount shift=0` QEMU advances virtual time by 1 ns
 * per instruction, so ticks convert to instructions (see main.c). */
void port_ticks_start(void);
uint64_t port_ticks(void);

/* Requests a system reset (SCB AIRCR.SYSRESETREQ); does not return. */
void port_reset(void) __attribute__((noreturn));

#endif /* PORT_H */
