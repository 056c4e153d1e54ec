/*
 * uart.c - CMSDK APB UART0 driver.
 */
#include "uart.h"

#include "board.h"
#include "fwconfig.h"
#include "ringbuf.h"

static uint8_t rx_storage[FW_UART_RX_BUF];
static ringbuf rx_ring;
static uart_stats stats;

void uart_init(uint32_t baud)
{
    uint32_t div = BOARD_SYSCLK_HZ / baud;

    rb_init(&rx_ring, rx_storage, sizeof rx_storage);
    UART_CTRL(UART0_BASE) = 0;
    /* The CMSDK UART requires a divider of at least 16. */
    UART_BAUDDIV(UART0_BASE) = div < 16u ? 16u : div;
    UART_INTSTATUS(UART0_BASE) = UART_INT_TX | UART_INT_RX;
    UART_STATE(UART0_BASE) = UART_STATE_TXOVR | UART_STATE_RXOVR;
    UART_CTRL(UART0_BASE) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIE;
    nvic_enable(UART0_RX_IRQn);
}

static void uart_tx_raw(uint8_t c)
{
    while (UART_STATE(UART0_BASE) & UART_STATE_TXFULL)
        ;
    UART_DATA(UART0_BASE) = c;
    stats.tx_bytes++;
}

void uart_putc(char c)
{
    if (c == '\n')
        uart_tx_raw('\r');
    uart_tx_raw((uint8_t)c);
}

void uart_write(const char *s, size_t len)
{
    while (len--)
        uart_putc(*s++);
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

int uart_getc(void)
{
    uint8_t c;

    return rb_get(&rx_ring, &c) == 0 ? c : -1;
}

size_t uart_rx_pending(void)
{
    return rb_count(&rx_ring);
}

void uart_get_stats(uart_stats *out)
{
    uint32_t primask = irq_save();

    *out = stats;
    out->rx_dropped = rx_ring.dropped;
    irq_restore(primask);
}

void UART0_RX_IRQHandler(void);

void UART0_RX_IRQHandler(void)
{
    UART_INTSTATUS(UART0_BASE) = UART_INT_RX;
    while (UART_STATE(UART0_BASE) & UART_STATE_RXFULL) {
        uint8_t c = (uint8_t)UART_DATA(UART0_BASE);

        stats.rx_bytes++;
        rb_put(&rx_ring, c);
    }
    if (UART_STATE(UART0_BASE) & UART_STATE_RXOVR) {
        UART_STATE(UART0_BASE) = UART_STATE_RXOVR;
        stats.rx_overrun++;
    }
}
