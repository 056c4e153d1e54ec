/*
 * shell.c - line editor, tokenizer and the command set.
 */
#include "shell.h"

#include <string.h>

#include "board.h"
#include "config.h"
#include "crc.h"
#include "evlog.h"
#include "fixmath.h"
#include "fmt.h"
#include "fwconfig.h"
#include "image.h"
#include "sensor.h"
#include "sha256.h"
#include "uart.h"

extern uint32_t _sdata[], _estack[];

static char line_buf[FW_SHELL_LINE_MAX];
static unsigned line_len;
static unsigned cmds_run;
static unsigned cmds_failed;
static int exit_request = -1;
static char last_char;

#define USAGE_ERROR (-2)

/* ------------------------------------------------------------------ */
/* Argument helpers                                                    */

int shell_parse_long(const char *s, long *out)
{
    unsigned long v = 0;
    unsigned base = 10;
    int neg = 0;
    int digits = 0;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    }
    for (; *s; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (*s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return -1;
        if (d >= base)
            return -1;
        if (v > (0xffffffffu - d) / base)
            return -1; /* overflow */
        v = v * base + d;
        digits++;
    }
    if (!digits)
        return -1;
    *out = neg ? -(long)v : (long)v;
    return 0;
}

static int arg_count(int argc, char **argv, int idx, long def, long lo, long hi, long *out)
{
    if (argc <= idx) {
        *out = def;
        return 0;
    }
    if (shell_parse_long(argv[idx], out) != 0 || *out < lo || *out > hi) {
        fw_printf("bad number '%s' (expected %ld..%ld)\n", argv[idx], lo, hi);
        return -1;
    }
    return 0;
}

/* Joins argv[first..] with single spaces into buf; returns the length. */
static size_t join_args(int argc, char **argv, int first, char *buf, size_t size)
{
    size_t n = 0;
    int i;

    for (i = first; i < argc; i++) {
        size_t len = strlen(argv[i]);

        if (i > first && n + 1u < size)
            buf[n++] = ' ';
        if (n + len >= size)
            len = size - n - 1u;
        memcpy(buf + n, argv[i], len);
        n += len;
    }
    buf[n] = '\0';
    return n;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    uint32_t cpuid = SCB_CPUID;

    (void)argc;
    (void)argv;
    fw_printf("%s %s (release %d)\n", FW_NAME, FW_VERSION_STRING, FW_VERSION);
    fw_printf("cpu: implementer %02lx part %03lx r%lup%lu\n", (unsigned long)(cpuid >> 24),
              (unsigned long)((cpuid >> 4) & 0xfffu), (unsigned long)((cpuid >> 20) & 0xfu),
              (unsigned long)(cpuid & 0xfu));
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    image_print_info();
    return 0;
}

static int cmd_uptime(int argc, char **argv)
{
    uint32_t t = board_ticks();

    (void)argc;
    (void)argv;
    fw_printf("up %lu.%03lu s, %lu events, %u commands\n", (unsigned long)(t / 1000u),
              (unsigned long)(t % 1000u), (unsigned long)evlog_total(), cmds_run);
    return 0;
}

static int cmd_echo(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++)
        fw_printf(i > 1 ? " %s" : "%s", argv[i]);
    uart_putc('\n');
    return 0;
}

static int cmd_led(int argc, char **argv)
{
    long mask;

    if (argc > 1) {
        if (arg_count(argc, argv, 1, 0, 0, (1 << BOARD_NUM_LEDS) - 1, &mask) != 0)
            return USAGE_ERROR;
        board_led_set((unsigned)mask);
        g_config.led_mask = (uint8_t)mask;
        evlog_add(EV_LED, (uint32_t)mask);
    }
    fw_printf("leds: %u%u\n", (board_led_get() >> 1) & 1u, board_led_get() & 1u);
    return 0;
}

static int cmd_crc(int argc, char **argv)
{
    char buf[FW_SHELL_LINE_MAX];
    size_t n;

    if (argc < 2)
        return USAGE_ERROR;
    n = join_args(argc, argv, 1, buf, sizeof buf);
    fw_printf("len %u\n", (unsigned)n);
    fw_printf("crc32   %08lx\n", (unsigned long)crc32_update(CRC32_INIT, buf, n));
    fw_printf("crc16   %04x\n", crc16_update(CRC16_INIT, buf, n));
    fw_printf("crc8    %02x\n", crc8_update(CRC8_INIT, buf, n));
    fw_printf("adler32 %08lx\n", (unsigned long)adler32_update(1u, buf, n));
    return 0;
}

static int cmd_sha(int argc, char **argv)
{
    char buf[FW_SHELL_LINE_MAX];
    uint8_t digest[SHA256_DIGEST_SIZE];
    size_t n;
    unsigned i;

    n = join_args(argc, argv, 1, buf, sizeof buf);
    sha256(buf, n, digest);
    for (i = 0; i < SHA256_DIGEST_SIZE; i++)
        fw_printf("%02x", digest[i]);
    uart_putc('\n');
    return 0;
}

/* Only ranges that cannot bus-fault may be dumped. */
static int readable(uint32_t addr, uint32_t len)
{
    uint32_t end = addr + len;
    uint32_t flash_end = (uint32_t)image_size();
    uint32_t ram_lo = (uint32_t)(uintptr_t)_sdata;
    uint32_t ram_hi = (uint32_t)(uintptr_t)_estack;

    if (end < addr)
        return 0;
    return (end <= flash_end) || (addr >= ram_lo && end <= ram_hi);
}

static int cmd_peek(int argc, char **argv)
{
    long addr, len;

    if (argc < 2 || shell_parse_long(argv[1], &addr) != 0)
        return USAGE_ERROR;
    if (arg_count(argc, argv, 2, 64, 1, 1024, &len) != 0)
        return USAGE_ERROR;
    if (!readable((uint32_t)addr, (uint32_t)len)) {
        fw_printf("%08lx+%ld is outside the image and RAM\n", (unsigned long)addr, len);
        return -1;
    }
    fmt_hexdump((uint32_t)addr, (const void *)(uintptr_t)(uint32_t)addr, (size_t)len);
    return 0;
}

static int cmd_temp(int argc, char **argv)
{
    long n, i;
    temp_sample t;

    if (arg_count(argc, argv, 1, 4, 1, 1000, &n) != 0)
        return USAGE_ERROR;
    for (i = 0; i < n; i++) {
        sensor_read_temp(&t);
        if (g_config.verbose || i == n - 1) {
            fw_printf("#%-4ld adc %4u  raw ", i, t.adc);
            fmt_print_tenths(t.raw_dc);
            fw_printf(" C  filtered ");
            fmt_print_tenths(t.filt_dc);
            fw_printf(" C\n");
        }
    }
#if FW_HAS_MEDIAN_FILTER
    fw_printf("spikes rejected so far: %lu\n", (unsigned long)sensor_spikes_rejected());
#endif
    evlog_add(EV_SENSOR, (uint32_t)n);
    return 0;
}

static int cmd_tilt(int argc, char **argv)
{
    long n, i;
    tilt_sample t;

    if (arg_count(argc, argv, 1, 3, 1, 1000, &n) != 0)
        return USAGE_ERROR;
    for (i = 0; i < n; i++) {
        sensor_read_tilt(&t);
        if (g_config.verbose || i == n - 1)
            fw_printf("a=(%05d,%05d,%05d) mg |a|=%4lu  pitch %5ld.%ld  roll %5ld.%ld\n",
                      t.filt.x, t.filt.y, t.filt.z, (unsigned long)t.norm_mg,
                      t.pitch_dd / 10, (t.pitch_dd < 0 ? -t.pitch_dd : t.pitch_dd) % 10,
                      t.roll_dd / 10, (t.roll_dd < 0 ? -t.roll_dd : t.roll_dd) % 10);
    }
    evlog_add(EV_SENSOR, (uint32_t)n);
    return 0;
}

#if FW_HAS_STATS_CMD
/* v2: running statistics of the filtered temperature. */
static int cmd_stats(int argc, char **argv)
{
    long n, i;
    temp_sample t;
    int32_t lo = 0x7fffffff, hi = -0x7fffffff - 1;
    int64_t sum = 0, sumsq = 0;
    int64_t var_n2;
    int32_t mean;

    if (arg_count(argc, argv, 1, g_config.stats_window, 2, 4096, &n) != 0)
        return USAGE_ERROR;
    for (i = 0; i < n; i++) {
        sensor_read_temp(&t);
        if (t.filt_dc < lo)
            lo = t.filt_dc;
        if (t.filt_dc > hi)
            hi = t.filt_dc;
        sum += t.filt_dc;
        sumsq += (int64_t)t.filt_dc * t.filt_dc;
    }
    /* n^2 * variance = n * sum(x^2) - sum(x)^2, all in 0.01 degC^2 */
    var_n2 = n * sumsq - sum * sum;
    mean = (int32_t)(sum >= 0 ? (sum + n / 2) / n : -((-sum + n / 2) / n));
    fw_printf("%ld samples: min ", n);
    fmt_print_tenths(lo);
    fw_printf("  max ");
    fmt_print_tenths(hi);
    fw_printf("  mean ");
    fmt_print_tenths(mean);
    fw_printf("  stddev ");
    fmt_print_tenths((int32_t)(isqrt64((uint64_t)(var_n2 > 0 ? var_n2 : 0)) / (uint32_t)n));
    fw_printf(" C\n");
    fw_printf("spikes rejected so far: %lu\n", (unsigned long)sensor_spikes_rejected());
    evlog_add(EV_SENSOR, (uint32_t)n);
    return 0;
}
#endif

static int cmd_cfg(int argc, char **argv)
{
    long v;

    if (argc == 1) {
        cfg_print();
        return 0;
    }
    if (strcmp(argv[1], "set") == 0 && argc == 4) {
        if (shell_parse_long(argv[3], &v) != 0 || cfg_set(argv[2], v) != 0) {
            fw_printf("cannot set %s to %s\n", argv[2], argv[3]);
            return -1;
        }
        sensor_set_alpha(g_config.iir_alpha_q15);
        sensor_set_offset(g_config.temp_offset_dc);
        return 0;
    }
    if (strcmp(argv[1], "save") == 0 && argc == 2) {
        if (cfg_save() != 0)
            return -1;
        evlog_add(EV_CONFIG, g_config.sequence);
        fw_printf("saved, sequence %lu\n", (unsigned long)g_config.sequence);
        return 0;
    }
    if (strcmp(argv[1], "reset") == 0 && argc == 2) {
        uint32_t seq = g_config.sequence;

        cfg_defaults(&g_config);
        g_config.sequence = seq;
        return 0;
    }
    return USAGE_ERROR;
}

static int cmd_log(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    evlog_dump();
    return 0;
}

static int cmd_uart(int argc, char **argv)
{
    uart_stats st;

    (void)argc;
    (void)argv;
    uart_get_stats(&st);
    fw_printf("tx %lu  rx %lu  dropped %lu  overrun %lu  rx buffer %u bytes\n",
              (unsigned long)st.tx_bytes, (unsigned long)st.rx_bytes,
              (unsigned long)st.rx_dropped, (unsigned long)st.rx_overrun, FW_UART_RX_BUF);
    return 0;
}

static int cmd_reset(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    uart_puts("resetting\n");
    board_reset();
}

static int cmd_exit(int argc, char **argv)
{
    long code;

    if (arg_count(argc, argv, 1, 0, 0, 255, &code) != 0)
        return USAGE_ERROR;
    exit_request = (int)code;
    return 0;
}

static const shell_cmd commands[] = {
    {"help", "[command]", "list commands or show one command's usage", cmd_help},
    {"version", "", "firmware and CPU version", cmd_version},
    {"info", "", "image header, size and fingerprints", cmd_info},
    {"uptime", "", "time since reset", cmd_uptime},
    {"echo", "[text...]", "print the arguments", cmd_echo},
    {"led", "[mask]", "show or set the user LEDs", cmd_led},
    {"crc", "text...", "CRC-32/16/8 and Adler-32 of the text", cmd_crc},
    {"sha", "[text...]", "SHA-256 of the text", cmd_sha},
    {"peek", "addr [len]", "hex dump of image or RAM", cmd_peek},
    {"temp", "[n]", "read n temperature samples", cmd_temp},
    {"tilt", "[n]", "read n accelerometer samples", cmd_tilt},
#if FW_HAS_STATS_CMD
    {"stats", "[n]", "min/max/mean/stddev of n temperature samples", cmd_stats},
#endif
    {"cfg", "[set key value | save | reset]", "show or change the settings", cmd_cfg},
    {"log", "", "show the event log", cmd_log},
    {"uart", "", "UART counters", cmd_uart},
    {"reset", "", "system reset", cmd_reset},
    {"exit", "[code]", "leave the simulator (semihosting)", cmd_exit},
};

#define NUM_COMMANDS (sizeof commands / sizeof commands[0])

static const shell_cmd *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < NUM_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    size_t i;

    if (argc > 1) {
        const shell_cmd *c = find_command(argv[1]);

        if (!c) {
            fw_printf("no command '%s'\n", argv[1]);
            return -1;
        }
        fw_printf("usage: %s %s\n  %s\n", c->name, c->usage, c->help);
        return 0;
    }
    for (i = 0; i < NUM_COMMANDS; i++)
        fw_printf("  %-8s %-32s %s\n", commands[i].name, commands[i].usage, commands[i].help);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tokenizer and dispatcher                                            */

/*
 * Splits line in place. Words are separated by blanks; "double quotes"
 * group words and \" \\ \n escape inside quotes. Returns argc, or -1 for
 * an unterminated quote.
 */
static int tokenize(char *line, char **argv, int max_args)
{
    char *r = line;
    char *w = line;
    int argc = 0;

    for (;;) {
        int quoted = 0;

        while (*r == ' ' || *r == '\t')
            r++;
        if (*r == '\0')
            break;
        if (argc == max_args)
            return -1;
        argv[argc++] = w;
        while (*r && (quoted || (*r != ' ' && *r != '\t'))) {
            if (*r == '"') {
                quoted = !quoted;
                r++;
            } else if (quoted && *r == '\\' && r[1]) {
                r++;
                *w++ = *r == 'n' ? '\n' : *r;
                r++;
            } else {
                *w++ = *r++;
            }
        }
        if (quoted)
            return -1;
        if (*r)
            r++;
        *w++ = '\0';
    }
    return argc;
}

int shell_execute(char *line)
{
    char *argv[FW_SHELL_MAX_ARGS];
    const shell_cmd *cmd;
    int argc = tokenize(line, argv, FW_SHELL_MAX_ARGS);
    int rc;

    if (argc < 0) {
        uart_puts("syntax error (quote or too many arguments)\n");
        cmds_failed++;
        return -1;
    }
    if (argc == 0)
        return 0;
    cmd = find_command(argv[0]);
    if (!cmd) {
        fw_printf("unknown command '%s', try 'help'\n", argv[0]);
        evlog_add(EV_BAD_COMMAND, 0);
        cmds_failed++;
        return -1;
    }
    cmds_run++;
    evlog_add(EV_COMMAND, (uint32_t)(cmd - commands));
    rc = cmd->handler(argc, argv);
    if (rc == USAGE_ERROR)
        fw_printf("usage: %s %s\n", cmd->name, cmd->usage);
    if (rc != 0)
        cmds_failed++;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Line editor                                                         */

void shell_init(void)
{
    line_len = 0;
    last_char = 0;
}

void shell_prompt(void)
{
    uart_puts(SHELL_PROMPT);
}

int shell_input(char c)
{
    char prev = last_char;

    last_char = c;
    if (c == '\n' && prev == '\r')
        return 0; /* second half of CR LF */
    if (c == '\r' || c == '\n') {
        uart_putc('\n');
        line_buf[line_len] = '\0';
        shell_execute(line_buf);
        line_len = 0;
        if (exit_request < 0)
            shell_prompt();
        return 1;
    }
    if (c == '\b' || c == 0x7f) {
        if (line_len) {
            line_len--;
            uart_puts("\b \b");
        }
        return 0;
    }
    if (c == 0x15 || c == 0x03) { /* ^U, ^C: discard the line */
        line_len = 0;
        uart_puts("^C\n");
        shell_prompt();
        return 0;
    }
    if ((unsigned char)c < 0x20u || line_len + 1u >= sizeof line_buf)
        return 0;
    line_buf[line_len++] = c;
    uart_putc(c);
    return 0;
}

int shell_exit_request(void)
{
    return exit_request;
}

unsigned shell_commands_run(void)
{
    return cmds_run;
}

unsigned shell_commands_failed(void)
{
    return cmds_failed;
}
