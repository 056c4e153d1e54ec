/*
 * fmt.c - printf-style formatter.
 */
#include "fmt.h"

#include "fwconfig.h"
#include "uart.h"

#define FL_LEFT 0x01u
#define FL_ZERO 0x02u
#define FL_PLUS 0x04u
#define FL_SPACE 0x08u
#define FL_ALT 0x10u
#define FL_UPPER 0x20u

typedef struct {
    fmt_sink sink;
    void *ctx;
    int count;
} fmt_out;

static void out_char(fmt_out *o, char c)
{
    o->sink(o->ctx, c);
    o->count++;
}

static void out_repeat(fmt_out *o, char c, int n)
{
    while (n-- > 0)
        out_char(o, c);
}

static void out_str(fmt_out *o, const char *s, int len)
{
    while (len-- > 0)
        out_char(o, *s++);
}

/* Digits are produced backwards into the end of buf; returns the count. */
static int utoa_rev(char *end, unsigned long long v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;

    if (v <= 0xffffffffu) {
        /* 32-bit division is a single instruction on the M3. */
        uint32_t w = (uint32_t)v;
        do {
            *--p = digits[w % base];
            w /= base;
        } while (w);
    } else {
        do {
            *--p = digits[v % base];
            v /= base;
        } while (v);
    }
    return (int)(end - p);
}

static void emit_integer(fmt_out *o, unsigned long long mag, int negative, unsigned base,
                         unsigned flags, int width, int prec)
{
    char buf[24];
    char prefix[3];
    int plen = 0;
    int n = 0;
    int zeros;
    int total;

    if (!(prec == 0 && mag == 0))
        n = utoa_rev(buf + sizeof buf, mag, base, (flags & FL_UPPER) != 0);

#if FW_FIX_FMT_SIGN_PAD
    if (negative)
        prefix[plen++] = '-';
#else
    /* The sign goes in front of the digits, i.e. after any zero padding. */
    if (negative)
        buf[sizeof buf - ++n] = '-';
#endif
    else if (flags & FL_PLUS)
        prefix[plen++] = '+';
    else if (flags & FL_SPACE)
        prefix[plen++] = ' ';
    if ((flags & FL_ALT) && mag != 0) {
        if (base == 16) {
            prefix[plen++] = '0';
            prefix[plen++] = (flags & FL_UPPER) ? 'X' : 'x';
        } else if (base == 8) {
            prefix[plen++] = '0';
        }
    }

    zeros = prec > n ? prec - n : 0;
    total = plen + zeros + n;
    if (prec < 0 && (flags & FL_ZERO) && !(flags & FL_LEFT) && width > total) {
        zeros += width - total;
        total = width;
    }
    if (!(flags & FL_LEFT))
        out_repeat(o, ' ', width - total);
    out_str(o, prefix, plen);
    out_repeat(o, '0', zeros);
    out_str(o, buf + sizeof buf - n, n);
    if (flags & FL_LEFT)
        out_repeat(o, ' ', width - total);
}

static int parse_uint(const char **pp)
{
    const char *p = *pp;
    int v = 0;

    while (*p >= '0' && *p <= '9') {
        if (v < 100000)
            v = v * 10 + (*p - '0');
        p++;
    }
    *pp = p;
    return v;
}

int fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap)
{
    fmt_out o = {sink, ctx, 0};
    va_list args;

    va_copy(args, ap);
    while (*fmt) {
        unsigned flags = 0;
        int width = 0;
        int prec = -1;
        int lng = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t */
        unsigned long long mag;
        int negative = 0;
        unsigned base = 10;
        char c = *fmt++;

        if (c != '%') {
            out_char(&o, c);
            continue;
        }
        for (;; fmt++) {
            if (*fmt == '-')
                flags |= FL_LEFT;
            else if (*fmt == '0')
                flags |= FL_ZERO;
            else if (*fmt == '+')
                flags |= FL_PLUS;
            else if (*fmt == ' ')
                flags |= FL_SPACE;
            else if (*fmt == '#')
                flags |= FL_ALT;
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(args, int);
            if (width < 0) {
                flags |= FL_LEFT;
                width = -width;
            }
            fmt++;
        } else {
            width = parse_uint(&fmt);
        }
        if (*fmt == '.') {
            fmt++;
            if (*fmt == '*') {
                prec = va_arg(args, int);
                fmt++;
            } else {
                prec = parse_uint(&fmt);
            }
        }
        for (;; fmt++) {
            if (*fmt == 'h')
                lng--;
            else if (*fmt == 'l')
                lng++;
            else if (*fmt == 'z' || *fmt == 't')
                lng = 3;
            else
                break;
        }

        c = *fmt;
        if (c == '\0')
            break;
        fmt++;
        switch (c) {
        case 'd':
        case 'i': {
            long long v;
            if (lng >= 2 && lng != 3)
                v = va_arg(args, long long);
            else if (lng == 1)
                v = va_arg(args, long);
            else if (lng == 3)
                v = va_arg(args, ptrdiff_t);
            else
                v = va_arg(args, int);
            if (lng == -1)
                v = (short)v;
            else if (lng <= -2)
                v = (signed char)v;
            negative = v < 0;
            mag = negative ? 0ull - (unsigned long long)v : (unsigned long long)v;
            emit_integer(&o, mag, negative, 10, flags, width, prec);
            break;
        }
        case 'X':
            flags |= FL_UPPER;
            /* fall through */
        case 'x':
            base = 16;
            goto unsigned_conv;
        case 'o':
            base = 8;
            /* fall through */
        case 'u':
        unsigned_conv:
            if (lng >= 2 && lng != 3)
                mag = va_arg(args, unsigned long long);
            else if (lng == 1)
                mag = va_arg(args, unsigned long);
            else if (lng == 3)
                mag = va_arg(args, size_t);
            else
                mag = va_arg(args, unsigned int);
            if (lng == -1)
                mag = (unsigned short)mag;
            else if (lng <= -2)
                mag = (unsigned char)mag;
            emit_integer(&o, mag, 0, base, flags & ~(unsigned)(FL_PLUS | FL_SPACE), width, prec);
            break;
        case 'p':
            mag = (uintptr_t)va_arg(args, void *);
            emit_integer(&o, mag, 0, 16, FL_ALT | FL_ZERO, 10, -1);
            break;
        case 'c': {
            char ch = (char)va_arg(args, int);
            if (!(flags & FL_LEFT))
                out_repeat(&o, ' ', width - 1);
            out_char(&o, ch);
            if (flags & FL_LEFT)
                out_repeat(&o, ' ', width - 1);
            break;
        }
        case 's': {
            const char *s = va_arg(args, const char *);
            int len = 0;
            if (!s)
                s = "(null)";
            while (s[len] && (prec < 0 || len < prec))
                len++;
            if (!(flags & FL_LEFT))
                out_repeat(&o, ' ', width - len);
            out_str(&o, s, len);
            if (flags & FL_LEFT)
                out_repeat(&o, ' ', width - len);
            break;
        }
        case '%':
            out_char(&o, '%');
            break;
        default:
            /* Unknown conversion: print it verbatim so the bug is visible. */
            out_char(&o, '%');
            out_char(&o, c);
            break;
        }
    }
    va_end(args);
    return o.count;
}

typedef struct {
    char *buf;
    size_t size;
    size_t pos;
} buf_sink_ctx;

static void buf_sink(void *ctx, char c)
{
    buf_sink_ctx *b = ctx;

    if (b->pos + 1u < b->size)
        b->buf[b->pos] = c;
    b->pos++;
}

int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    buf_sink_ctx b = {buf, size, 0};
    int n = fmt_vformat(buf_sink, &b, fmt, ap);

    if (size > 0)
        buf[b.pos < size ? b.pos : size - 1u] = '\0';
    return n;
}

int fw_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = fw_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

static void uart_sink(void *ctx, char c)
{
    (void)ctx;
    uart_putc(c);
}

int fw_printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = fmt_vformat(uart_sink, 0, fmt, ap);
    va_end(ap);
    return n;
}

void fmt_hexdump(uint32_t base, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t off;

    for (off = 0; off < len; off += 16u) {
        size_t i;
        size_t line = len - off < 16u ? len - off : 16u;

        fw_printf("%08lx ", (unsigned long)(base + off));
        for (i = 0; i < 16u; i++) {
            if (i == 8u)
                uart_putc(' ');
            if (i < line)
                fw_printf(" %02x", p[off + i]);
            else
                uart_puts("   ");
        }
        uart_puts("  |");
        for (i = 0; i < line; i++) {
            uint8_t c = p[off + i];
            uart_putc(c >= 0x20u && c < 0x7fu ? (char)c : '.');
        }
        uart_puts("|\n");
    }
}

void fmt_print_tenths(int32_t value)
{
    uint32_t mag = value < 0 ? 0u - (uint32_t)value : (uint32_t)value;

    fw_printf("%s%lu.%lu", value < 0 ? "-" : "", (unsigned long)(mag / 10u),
              (unsigned long)(mag % 10u));
}
