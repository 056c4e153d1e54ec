/*
 * selftest.c - power-on self-test.
 */
#include "selftest.h"

#include <string.h>

#include "board.h"
#include "config.h"
#include "crc.h"
#include "filter.h"
#include "fixmath.h"
#include "fmt.h"
#include "fwconfig.h"
#include "image.h"
#include "ringbuf.h"
#include "sha256.h"
#include "shell.h"
#include "uart.h"

static unsigned total_checks;
static unsigned total_failed;
static unsigned group_failed;

static void check(int ok, const char *what)
{
    total_checks++;
    if (!ok) {
        total_failed++;
        group_failed++;
        fw_printf("    FAIL: %s\n", what);
    }
}

static int near(int32_t a, int32_t b, int32_t tol)
{
    return a - b <= tol && b - a <= tol;
}

static void check_fmt(const char *expect, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void check_fmt(const char *expect, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = fw_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    total_checks++;
    if (strcmp(buf, expect) != 0 || n != (int)strlen(expect)) {
        total_failed++;
        group_failed++;
        fw_printf("    FAIL: format \"%s\" gave \"%s\", expected \"%s\"\n", fmt, buf, expect);
    }
}

static int hex_equal(const uint8_t *bytes, const char *hex)
{
    char buf[3];
    size_t i;

    for (i = 0; hex[2 * i]; i++) {
        fw_snprintf(buf, sizeof buf, "%02x", bytes[i]);
        if (buf[0] != hex[2 * i] || buf[1] != hex[2 * i + 1])
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */

static void test_ringbuf(void)
{
    uint8_t store[8];
    uint8_t out[8];
    ringbuf rb;
    uint8_t c = 0;
    unsigned i;

    check(rb_init(&rb, store, 6) != 0, "rejects non power of two");
    check(rb_init(&rb, store, sizeof store) == 0, "init");
    check(rb_count(&rb) == 0 && rb_space(&rb) == 8, "empty");
    check(rb_get(&rb, &c) != 0, "get from empty fails");
    check(rb_write(&rb, "abcdefghij", 10) == 8, "write stops when full");
    check(rb.dropped == 1, "drop counted");
    check(rb_space(&rb) == 0, "full");
    check(rb_peek(&rb, 7, &c) == 0 && c == 'h', "peek");
    check(rb_read(&rb, out, 3) == 3 && memcmp(out, "abc", 3) == 0, "read");
    /* Wrap the indices around many times. */
    for (i = 0; i < 70000u; i++) {
        if (rb_put(&rb, (uint8_t)i) != 0 || rb_get(&rb, &c) != 0)
            break;
    }
    check(i == 70000u, "index wrap-around");
    check(rb_count(&rb) == 5, "count after wrap");
    rb_clear(&rb);
    check(rb_count(&rb) == 0, "clear");
}

static void test_fmt(void)
{
    char small[5];

    check_fmt("42|   42|42   |00042", "%d|%5d|%-5d|%05u", 42, 42, 42, 42u);
    check_fmt("ff FF 0xff 010 10", "%x %X %#x %#o %o", 255u, 255u, 255u, 8u, 8u);
    check_fmt("-17 +5  5", "%d %+d % d", -17, 5, 5);
    check_fmt("abc|ab|   abc|ab  |", "%s|%.2s|%6s|%-4s|", "abc", "abc", "abc", "ab");
    check_fmt("0007||x", "%.4d|%.0d|%c", 7, 0, 'x');
    check_fmt("-1234567890123 18446744073709551615", "%lld %llu", -1234567890123ll,
              18446744073709551615ull);
    check_fmt("-2147483648 4294967295", "%ld %lu", (long)-2147483647 - 1, 4294967295ul);
    check_fmt("44 4464 12", "%hhu %hd %zu", 300, 70000, (size_t)12);
    check_fmt("0x00001234 100%", "%p %d%%", (void *)0x1234, 100);
    check_fmt("[  7][7  ]", "[%*d][%-*d]", 3, 7, 3, 7);
#if FW_FIX_FMT_SIGN_PAD
    /* The v1.0.0 bug: the sign ended up after the zero padding. */
    check_fmt("-0042 -005 +0042", "%05d %.3d %+05d", -42, -5, 42);
#endif
    check(fw_snprintf(small, sizeof small, "%s", "hello world") == 11 &&
              strcmp(small, "hell") == 0,
          "snprintf truncates and reports full length");
}

static void test_crc(void)
{
    static const char check_str[] = "123456789";
    uint32_t part;

    check(crc32_update(CRC32_INIT, check_str, 9) == 0xCBF43926u, "crc32 check value");
    part = crc32_update(CRC32_INIT, check_str, 4);
    check(crc32_update(part, check_str + 4, 5) == 0xCBF43926u, "crc32 incremental");
    check(crc16_update(CRC16_INIT, check_str, 9) == 0x29B1u, "crc16 check value");
    check(crc8_update(CRC8_INIT, check_str, 9) == 0xF7u, "crc8 check value");
    check(adler32_update(1u, "Wikipedia", 9) == 0x11E60398u, "adler32 Wikipedia");
    check(adler32_update(1u, check_str, 9) == 0x091E01DEu, "adler32 check value");
}

static void test_sha256(void)
{
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_ctx ctx;
    char a7[7];
    unsigned i;

    sha256("abc", 3, d);
    check(hex_equal(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256(abc)");
    sha256("", 0, d);
    check(hex_equal(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          "sha256(empty)");
    sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
    check(hex_equal(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          "sha256 two blocks");
    memset(a7, 'a', sizeof a7);
    sha256_init(&ctx);
    for (i = 0; i < 1000u; i += 7u)
        sha256_update(&ctx, a7, 1000u - i < 7u ? 1000u - i : 7u);
    sha256_final(&ctx, d);
    check(hex_equal(d, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
          "sha256 1000 x 'a' in 7-byte pieces");
}

static void test_fixmath(void)
{
    check(isqrt32(0) == 0 && isqrt32(1) == 1 && isqrt32(15) == 3 && isqrt32(16) == 4,
          "isqrt32 small");
    check(isqrt32(0xffffffffu) == 65535u, "isqrt32 max");
    check(isqrt64(1000000000000ull) == 1000000u, "isqrt64");
    check(sin_q15(0) == 0 && sin_q15(16384) == 32767 && sin_q15(32768) == 0, "sin axes");
    check(sin_q15(49152) == -32767 && cos_q15(0) == 32767, "sin/cos signs");
    check(near(sin_q15(8192), 23170, 2), "sin 45 degrees");
    check(near(sin_q15(5461), 16384, 8), "sin 30 degrees");
    check(atan2_decideg(0, 1) == 0 && atan2_decideg(1, 0) == 900, "atan2 axes");
    check(atan2_decideg(0, -1) == 1800 && atan2_decideg(-1, 0) == -900, "atan2 negative axes");
    check(near(atan2_decideg(1, 1), 450, 1) && near(atan2_decideg(-1, -1), -1350, 1),
          "atan2 diagonals");
    check(near(atan2_decideg(1732, 1000), 600, 2), "atan2 60 degrees");
    check(q15_mul(16384, 16384) == 8192 && q15_mul(-32768, -32768) == 32767, "q15_mul");
}

static void test_filter(void)
{
    movavg avg;
    iir_lp iir;
    fir_filter fir;
    size_t i;
    int32_t y = 0;
    int monotonic = 1;
    int nodes = 1;

    for (i = 1; i < ntc_table_size(); i++)
        if (ntc_table_entry(i) >= ntc_table_entry(i - 1u))
            monotonic = 0;
    check(monotonic, "NTC table strictly decreasing");
    for (i = 0; i + 1u < ntc_table_size(); i++)
        if (ntc_adc_to_decic((uint32_t)i * NTC_ADC_STEP) != ntc_table_entry(i))
            nodes = 0;
    check(nodes, "NTC lookup at table nodes");
    check(ntc_adc_to_decic(16u * NTC_ADC_STEP + NTC_ADC_STEP / 2u) ==
              (ntc_table_entry(16) + ntc_table_entry(17)) / 2,
          "NTC interpolation");
    check(ntc_adc_to_decic(4096) == -550 && ntc_adc_to_decic(65535) == -550, "NTC clamp");

    check(movavg_init(&avg, 3) != 0, "movavg rejects window 3");
    movavg_init(&avg, 8);
    for (i = 0; i < 20u; i++)
        y = movavg_push(&avg, 100);
    check(y == 100, "movavg constant input");
#if FW_FIX_AVG_ROUNDING
    movavg_init(&avg, 4);
    movavg_push(&avg, 1);
    check(movavg_push(&avg, 2) == 2, "movavg rounds 1.5 up");
    movavg_init(&avg, 4);
    movavg_push(&avg, -1);
    check(movavg_push(&avg, -2) == -2, "movavg rounds -1.5 down");
#endif

    iir_init(&iir, filter_default_alpha_q15);
    iir_push(&iir, 0);
    for (i = 0; i < 300u; i++)
        y = iir_push(&iir, 1000);
    check(near(y, 1000, 1), "IIR step response settles");

    fir_init(&fir);
    for (i = 0; i < 2u * FIR_TAPS; i++)
        y = fir_push(&fir, 1000);
    check(near(y, 1000, 1), "FIR unity DC gain");

#if FW_HAS_MEDIAN_FILTER
    {
        static const int32_t v[5] = {5, 1, 4, 2, 3};
        static const int32_t seq[8] = {10, 11, 10, 9, 10, 500, 10, 11};
        median5 med;
        int32_t worst = 0;

        check(median_of_5(v) == 3, "median of 5");
        median5_init(&med, 20);
        for (i = 0; i < 8u; i++) {
            y = median5_push(&med, seq[i]);
            if (y > worst)
                worst = y;
        }
        check(worst < 20 && med.rejected == 1u, "median rejects exactly one spike");
    }
#endif
}

static void test_config(void)
{
    uint8_t page[CONFIG_PAGE_SIZE];
    fw_config a, b;
    size_t n;
    uint8_t saved_mask = g_config.led_mask;

    cfg_defaults(&a);
    a.led_mask = 2;
    a.temp_offset_dc = -7;
    a.sequence = 41;
    n = cfg_encode(&a, page, sizeof page);
    check(n == (FW_CONFIG_LAYOUT >= 2 ? 28u : 24u), "encoded size");
    check(cfg_decode(page, n, &b) == CFG_OK, "decode own layout");
    check(b.led_mask == 2 && b.temp_offset_dc == -7 && b.sequence == 41, "fields survive");
    page[14] ^= 1u;
    check(cfg_decode(page, n, &b) == CFG_DEFAULTS, "CRC catches corruption");
    check(cfg_set("led_mask", 3) == 0 && cfg_set("led_mask", 4) != 0 &&
              cfg_set("no_such_key", 1) != 0,
          "cfg_set range and key checks");
    g_config.led_mask = saved_mask;
#if FW_CONFIG_LAYOUT >= 2
    {
        /* A block exactly as firmware 1.0.0 saves it. */
        static const uint8_t v1_block[20] = {
            0x43, 0x4e, 0x46, 0x47, 1, 0, 20, 0, 9, 0, 0, 0, 3, 0, 0xfb, 0xff, 0x00, 0x10, 0xf4, 0x01,
        };
        uint32_t crc = crc32_update(CRC32_INIT, v1_block, sizeof v1_block);

        memcpy(page, v1_block, sizeof v1_block);
        page[20] = (uint8_t)crc;
        page[21] = (uint8_t)(crc >> 8);
        page[22] = (uint8_t)(crc >> 16);
        page[23] = (uint8_t)(crc >> 24);
        check(cfg_decode(page, 24, &b) == CFG_MIGRATED, "layout 1 block migrates");
        check(b.sequence == 9 && b.led_mask == 3 && b.temp_offset_dc == -5 &&
                  b.iir_alpha_q15 == 4096 && b.report_ms == 500 && b.stats_window == 64,
              "layout 1 fields carried over");
    }
#endif
}

static void test_shell_parse(void)
{
    long v = 0;

    check(shell_parse_long("0x1F", &v) == 0 && v == 31, "parse hex");
    check(shell_parse_long("-12", &v) == 0 && v == -12, "parse negative");
    check(shell_parse_long("0b101", &v) == 0 && v == 5, "parse binary");
    check(shell_parse_long("12a", &v) != 0 && shell_parse_long("", &v) != 0, "parse garbage");
    check(shell_parse_long("4294967296", &v) != 0, "parse overflow");
}

static void test_board(void)
{
    uint32_t t0 = board_ticks();
    uint32_t spins = 0;
    unsigned saved = board_led_get();
    uart_stats st;

    /* Busy-wait, not WFI: a dead SysTick must fail the test, not hang. */
    while ((uint32_t)(board_ticks() - t0) < 5u && spins < 400000000u)
        spins++;
    check((uint32_t)(board_ticks() - t0) >= 5u, "SysTick advances");
    board_led_set(2);
    check(board_led_get() == 2u, "LED register");
    board_led_set(saved);
    uart_get_stats(&st);
    check(st.tx_bytes > 0u, "UART transmitted");
}

static void test_image(void)
{
    const uint32_t *words = (const uint32_t *)(const void *)image_base();

    check(g_fw_info.magic == FW_INFO_MAGIC, "info block magic");
    check((uintptr_t)&g_fw_info - (uintptr_t)image_base() == FW_INFO_OFFSET, "info block offset");
    check(g_fw_info.image_size == image_size(), "info block size");
    check(g_fw_info.ver_major == FW_VERSION, "info block version");
    check(words[1] == g_fw_info.entry, "reset vector matches entry");
    check(image_size() > 4096u && image_size() < 256u * 1024u, "image size plausible");
}

typedef struct {
    const char *name;
    void (*run)(void);
} test_group;

static const test_group groups[] = {
    {"ringbuf", test_ringbuf}, {"fmt", test_fmt},       {"crc", test_crc},
    {"sha256", test_sha256},   {"fixmath", test_fixmath}, {"filter", test_filter},
    {"config", test_config},   {"shell", test_shell_parse}, {"board", test_board},
    {"image", test_image},
};

unsigned selftest_run(void)
{
    size_t i;

    total_checks = 0;
    total_failed = 0;
    for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        unsigned before = total_checks;

        group_failed = 0;
        groups[i].run();
        fw_printf("selftest %-8s %s (%u checks)\n", groups[i].name, group_failed ? "FAIL" : "ok",
                  total_checks - before);
    }
    return total_failed;
}

unsigned selftest_checks(void)
{
    return total_checks;
}
