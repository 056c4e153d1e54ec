/*
 * uart.h - CMSDK APB UART0 driver: polled transmit, interrupt-driven
 * receive into a ring buffer.
 */
#ifndef UART_H
#define UART_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t tx_bytes;
    uint32_t rx_bytes;
    uint32_t rx_dropped; /* ring buffer full */
    uint32_t rx_overrun; /* hardware overrun flag seen */
} uart_stats;

void uart_init(uint32_t baud);
void uart_putc(char c);
void uart_write(const char *s, size_t len);
void uart_puts(const char *s);
/* Non-blocking; returns the next received byte or -1 if none is pending. */
int uart_getc(void);
size_t uart_rx_pending(void);
void uart_get_stats(uart_stats *out);

#endif /* UART_H */
