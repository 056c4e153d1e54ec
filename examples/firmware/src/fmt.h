/*
 * fmt.h - a small printf-style formatter with no heap, no floating point
 * and no dependency on newlib's stdio.
 *
 * Supported: flags "-0+ #", width and precision (digits or '*'), length
 * modifiers hh h l ll z t, conversions d i u x X o c s p %.
 */
#ifndef FMT_H
#define FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*fmt_sink)(void *ctx, char c);

/* Returns the number of characters produced. */
int fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap);

/* Like vsnprintf: always NUL-terminates when size > 0 and returns the
 * length the full output would have had. */
int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int fw_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Formats to UART0. */
int fw_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Canonical hex dump, 16 bytes a line, addresses starting at base. */
void fmt_hexdump(uint32_t base, const void *data, size_t len);

/* Prints a fixed-point value given in tenths, e.g. -15 -> "-1.5". */
void fmt_print_tenths(int32_t value);

#endif /* FMT_H */
