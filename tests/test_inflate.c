/*
 * test_inflate.c - od_inflate against zlib.
 *
 * zlib is the reference twice over: its deflate produces every block kind
 * (stored, fixed, dynamic, flush markers) across window sizes, levels and
 * strategies, and its inflate is the oracle for corrupt input, so "what is
 * a data error" is zlib's answer rather than ours. Hand-made streams cover
 * the corner cases zlib's encoder never emits. Input and output are always
 * copied into exact-size heap buffers so ASan catches any overrun, and the
 * same streams are fed whole, a byte at a time and in random pieces because
 * resumability is the point of this decoder.
 */
#include "od_inflate.h"
#include "od_test.h"

#include <zlib.h>

static uint8_t od_win[32768];
static unsigned long long od_seed = 0x9E3779B97F4A7C15ULL;

/* ---- data generators -------------------------------------------------- */

enum { OD_DATA_RANDOM, OD_DATA_FIRMWARE, OD_DATA_TEXT, OD_DATA_RUNS, OD_DATA_KINDS };

static uint8_t *od_gen(int kind, size_t n, unsigned long long seed)
{
    static const char *words[] = {"the ", "flash ", "update ", "delta ", "block ", "of ",
                                  "firmware ", "and ", "a ", "window\n", "is ", "bootloader ",
                                  "to ", "CRC ", "page, ", "0x0800 ", "in ", "reset. "};
    uint8_t *p = malloc(n ? n : 1);
    size_t i = 0;
    unsigned long long s = seed | 1;
    if (!p)
        abort();
    while (i < n) {
        unsigned long long r = od_test_rand(&s);
        size_t k, m;
        switch (kind) {
        case OD_DATA_RANDOM:
            p[i++] = (uint8_t)(r >> 32);
            break;
        case OD_DATA_FIRMWARE:
            /* Code-like: copies of earlier stretches with small edits,
               fresh words, and erased-flash 0xFF runs. */
            if (i > 64 && (r & 3) != 0) {
                size_t from = (size_t)(r >> 8) % i;
                m = 4 + (size_t)(r >> 40) % 60;
                for (k = 0; k < m && i < n; k++, i++)
                    p[i] = (uint8_t)(p[from + k % (i - from)] + ((r >> 50) % 17 == 0));
            } else if ((r & 0xf0) == 0) {
                m = (size_t)(r >> 20) % 300;
                for (k = 0; k < m && i < n; k++)
                    p[i++] = 0xFF;
            } else {
                for (k = 0; k < 4 && i < n; k++)
                    p[i++] = (uint8_t)(r >> (8 * k + 16));
            }
            break;
        case OD_DATA_TEXT: {
            const char *w = words[(r >> 33) % (sizeof words / sizeof words[0])];
            while (*w && i < n)
                p[i++] = (uint8_t)*w++;
            break;
        }
        default: /* long runs of few symbols: many max-length matches */
            m = 1 + (size_t)(r >> 30) % 1000;
            for (k = 0; k < m && i < n; k++)
                p[i++] = (uint8_t)("\0\377AB"[(r >> 12) & 3]);
            break;
        }
    }
    return p;
}

static uint8_t *od_dup(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, src, n);
    return p;
}

/* ---- zlib helpers ------------------------------------------------------ */

typedef struct od_zparams {
    int level, wbits, memlevel, strategy;
    int flush;     /* applied at each cut; Z_NO_FLUSH for none */
    int nflush;    /* cuts at random places (may repeat, may be 0) */
} od_zparams;

/* Raw-deflates src; returns an exact-size heap copy (NULL on zlib error). */
static uint8_t *od_zdeflate(const uint8_t *src, size_t n, const od_zparams *zp, size_t *outn,
                            unsigned long long *seed)
{
    z_stream z;
    size_t cap, pos = 0, cuts[16];
    uint8_t *buf, *res;
    int k, j;

    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, zp->level, Z_DEFLATED, -zp->wbits, zp->memlevel, zp->strategy) != Z_OK)
        return NULL;
    for (k = 0; k < zp->nflush && k < 16; k++)
        cuts[k] = n ? (size_t)(od_test_rand(seed) % (n + 1)) : 0;
    for (k = 1; k < zp->nflush && k < 16; k++) /* insertion sort */
        for (j = k; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    cap = deflateBound(&z, (uLong)n) + 64;
    buf = malloc(cap);
    if (!buf)
        abort();
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    for (k = 0; k <= zp->nflush && k <= 16; k++) {
        int last = k == zp->nflush || k == 16;
        size_t end = last ? n : cuts[k];
        int flush = last ? Z_FINISH : zp->flush;
        z.next_in = (Bytef *)(uintptr_t)(src + pos);
        z.avail_in = (uInt)(end - pos);
        for (;;) {
            int r;
            if (z.avail_out == 0) {
                size_t done = (size_t)z.total_out;
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf)
                    abort();
                z.next_out = buf + done;
                z.avail_out = (uInt)(cap - done);
            }
            r = deflate(&z, flush);
            if (r == Z_STREAM_ERROR) {
                deflateEnd(&z);
                free(buf);
                return NULL;
            }
            if (last ? r == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0))
                break;
        }
        pos = end;
    }
    *outn = (size_t)z.total_out;
    deflateEnd(&z);
    res = od_dup(buf, *outn);
    free(buf);
    return res;
}

/* zlib's verdict on a raw stream: Z_STREAM_END, Z_DATA_ERROR, or other. */
static int od_zinflate(const uint8_t *in, size_t n, int wbits, uint8_t *out, size_t cap,
                       size_t *in_used, size_t *out_len)
{
    z_stream z;
    int r;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -wbits) != Z_OK)
        abort();
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    r = inflate(&z, Z_NO_FLUSH);
    *in_used = (size_t)z.total_in;
    *out_len = (size_t)z.total_out;
    inflateEnd(&z);
    return r;
}

/* ---- our decoder driver ------------------------------------------------ */

enum { OD_FEED_WHOLE, OD_FEED_BYTES, OD_FEED_RANDOM, OD_FEED_IN1, OD_FEED_OUT1, OD_FEEDS };

static size_t od_chunk(unsigned long long *seed)
{
    unsigned long long r = od_test_rand(seed);
    if ((r & 3) == 0)
        return 1;
    return 1 + (size_t)((r >> 8) % (1u << ((r >> 2) % 13)));
}

/*
 * Decodes in[0..in_n) into out[0..cap) with window_size wsize, feeding as
 * the mode says, until the decoder returns anything but OK. Returns that.
 * A call limit catches a decoder that keeps returning OK without progress.
 */
static od_inflate_ret od_run(const uint8_t *in, size_t in_n, uint8_t *out, size_t cap,
                             size_t wsize, int mode, unsigned long long *seed, size_t *in_used,
                             size_t *out_len)
{
    od_inflate_dec d;
    size_t ip = 0, op = 0, calls = 0, limit = 2 * (in_n + cap) + 16;
    od_inflate_ret r = od_inflate_init(&d, od_win, wsize);
    if (r != OD_INFLATE_OK)
        return r;
    for (;;) {
        size_t il = in_n, ol = cap;
        if (mode == OD_FEED_BYTES || mode == OD_FEED_IN1)
            il = ip + 1;
        if (mode == OD_FEED_BYTES || mode == OD_FEED_OUT1)
            ol = op + 1;
        if (mode == OD_FEED_RANDOM) {
            il = ip + od_chunk(seed);
            ol = op + od_chunk(seed);
        }
        if (il > in_n)
            il = in_n;
        if (ol > cap)
            ol = cap;
        r = od_inflate_decode(&d, in, &ip, il, out, &op, ol);
        if (r != OD_INFLATE_OK)
            break;
        if (++calls > limit) {
            fprintf(stderr, "decoder loops without progress\n");
            r = OD_INFLATE_BUF_ERROR;
            od_test_failed_checks++;
            break;
        }
    }
    *in_used = ip;
    *out_len = op;
    return r;
}

/* Checks that comp decodes to exactly orig[0..n) and ends right after comp. */
static int od_roundtrip(const uint8_t *comp, size_t cn, const uint8_t *orig, size_t n,
                        size_t wsize, int mode)
{
    uint8_t *out = malloc(n ? n : 1);
    size_t used = 0, olen = 0;
    od_inflate_ret r;
    int ok;
    if (!out)
        abort();
    r = od_run(comp, cn, out, n, wsize, mode, &od_seed, &used, &olen);
    ok = r == OD_INFLATE_STREAM_END && used == cn && olen == n && (n == 0 || !memcmp(out, orig, n));
    if (!ok)
        fprintf(stderr, "  roundtrip mismatch: mode %d wsize %zu ret %d used %zu/%zu out %zu/%zu\n",
                mode, wsize, (int)r, used, cn, olen, n);
    free(out);
    return ok;
}

/* Compresses, checks zlib agrees with itself, and decodes in the given modes. */
static void od_check_params(const uint8_t *data, size_t n, const od_zparams *zp, const int *modes,
                            int nmodes, size_t wsize)
{
    size_t cn = 0;
    int m;
    uint8_t *comp = od_zdeflate(data, n, zp, &cn, &od_seed);
    OD_REQUIRE(comp != NULL);
    for (m = 0; m < nmodes; m++) {
        int ok = od_roundtrip(comp, cn, data, n, wsize, modes[m]);
        if (!ok)
            fprintf(stderr, "  params: n %zu level %d wbits %d mem %d strat %d flush %d x%d\n", n,
                    zp->level, zp->wbits, zp->memlevel, zp->strategy, zp->flush, zp->nflush);
        OD_CHECK(ok);
    }
    free(comp);
}

/* ---- cases: zlib-produced streams ------------------------------------- */

static void test_bad_window(void)
{
    static const size_t bad[] = {0, 1, 128, 255, 257, 300, 1000, 32767, 32769, 65536};
    od_inflate_dec d;
    size_t k, ip = 0, op = 0;
    uint8_t in[1] = {0x03}, out[1];
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        OD_CHECK_EQ(od_inflate_init(&d, od_win, bad[k]), OD_INFLATE_MEM_ERROR);
        OD_CHECK_EQ(od_inflate_decode(&d, in, &ip, 1, out, &op, 1), OD_INFLATE_MEM_ERROR);
        od_inflate_reset(&d);
        OD_CHECK_EQ(od_inflate_decode(&d, in, &ip, 1, out, &op, 1), OD_INFLATE_MEM_ERROR);
        OD_CHECK_EQ(ip, 0);
    }
    OD_CHECK_EQ(od_inflate_init(&d, NULL, 4096), OD_INFLATE_MEM_ERROR);
    for (k = 256; k <= 32768; k *= 2)
        OD_CHECK_EQ(od_inflate_init(&d, od_win, k), OD_INFLATE_OK);
}

static void test_empty_and_tiny(void)
{
    static const uint8_t one[1] = {'x'}, two[2] = {0, 0};
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
                                     Z_FIXED};
    int modes[OD_FEEDS], lvl, s, m;
    for (m = 0; m < OD_FEEDS; m++)
        modes[m] = m;
    for (lvl = 0; lvl <= 9; lvl++)
        for (s = 0; s < 5; s++) {
            od_zparams zp = {lvl, 15, 8, strategies[s], Z_NO_FLUSH, 0};
            od_check_params(one, 0, &zp, modes, OD_FEEDS, 32768);
            od_check_params(one, 1, &zp, modes, OD_FEEDS, 32768);
            od_check_params(two, 2, &zp, modes, OD_FEEDS, 256);
            zp.flush = Z_SYNC_FLUSH; /* empty stored blocks around nothing */
            zp.nflush = 3;
            od_check_params(one, 0, &zp, modes, OD_FEEDS, 32768);
            od_check_params(one, 1, &zp, modes, OD_FEEDS, 512);
        }
}

/*
 * Every window size, memLevel, level and strategy, with a flush style that
 * rotates per combination so stored, fixed and dynamic blocks, sync and full
 * flush markers and empty blocks all occur; data kind and size rotate too.
 */
static void test_zlib_matrix(void)
{
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
                                     Z_FIXED};
    static const int flushes[] = {Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_PARTIAL_FLUSH,
                                  Z_BLOCK};
    static const size_t sizes[] = {2, 100, 1500, 9000, 33000, 70000};
    int wbits, mem, lvl, s, combo = 0;
    for (wbits = 9; wbits <= 15; wbits++)
        for (mem = 8; mem <= 9; mem++)
            for (lvl = 0; lvl <= 9; lvl++)
                for (s = 0; s < 5; s++, combo++) {
                    int kind = combo % OD_DATA_KINDS;
                    size_t n = sizes[(combo / OD_DATA_KINDS) % 6] + (size_t)(combo * 7 % 13);
                    od_zparams zp = {lvl, wbits, mem, strategies[s], flushes[combo % 5],
                                     1 + combo % 4};
                    uint8_t *data = od_gen(kind, n, 1000 + (unsigned long long)combo);
                    int modes[2] = {OD_FEED_WHOLE, OD_FEED_RANDOM};
                    if (zp.flush == Z_NO_FLUSH)
                        zp.nflush = 0;
                    if (combo % 9 == 0)
                        modes[0] = OD_FEED_BYTES;
                    od_check_params(data, n, &zp, modes, 2, (size_t)1 << wbits);
                    /* A bigger window than the encoder's must not matter. */
                    if (combo % 11 == 0)
                        od_check_params(data, n, &zp, modes + 1, 1, 32768);
                    free(data);
                }
}

/* Streams without matches (stored, Huffman-only) decode with a 256-byte window. */
static void test_small_window(void)
{
    int kind, modes[3] = {OD_FEED_WHOLE, OD_FEED_RANDOM, OD_FEED_BYTES};
    for (kind = 0; kind < OD_DATA_KINDS; kind++) {
        uint8_t *data = od_gen(kind, 20000, 77 + (unsigned long long)kind);
        od_zparams stored = {0, 15, 8, Z_DEFAULT_STRATEGY, Z_SYNC_FLUSH, 2};
        od_zparams huff = {9, 15, 9, Z_HUFFMAN_ONLY, Z_FULL_FLUSH, 2};
        od_check_params(data, 20000, &stored, modes, 3, 256);
        od_check_params(data, 20000, &huff, modes, 3, 256);
        free(data);
    }
}

/* A few MiB: long streams, window wrap many times, stored blocks of 64 KiB. */
static void test_large(void)
{
    size_t n = 3u << 20, k;
    uint8_t *data = malloc(n);
    int modes[2] = {OD_FEED_WHOLE, OD_FEED_RANDOM}, bytes = OD_FEED_BYTES;
    OD_REQUIRE(data != NULL);
    for (k = 0; k < n; k += 65536) {
        uint8_t *part = od_gen((int)((k >> 16) % OD_DATA_KINDS), 65536, k);
        memcpy(data + k, part, 65536);
        free(part);
    }
    {
        od_zparams zp = {6, 15, 8, Z_DEFAULT_STRATEGY, Z_SYNC_FLUSH, 5};
        od_check_params(data, n, &zp, modes, 2, 32768);
    }
    {
        od_zparams zp = {0, 15, 9, Z_DEFAULT_STRATEGY, Z_FULL_FLUSH, 3};
        od_check_params(data, n, &zp, modes, 2, 32768);
    }
    {
        od_zparams zp = {1, 10, 8, Z_FILTERED, Z_NO_FLUSH, 0};
        od_check_params(data, 1u << 20, &zp, &bytes, 1, 1024);
    }
    free(data);
}

/* A 20 KiB back-reference is fine with a 32 KiB window and a data error with less. */
static void test_distance_too_far(void)
{
    size_t n = 21000, cn = 0, used, olen;
    uint8_t *data = od_gen(OD_DATA_RANDOM, n, 4242), *comp, *out = malloc(n);
    od_zparams zp = {9, 15, 8, Z_DEFAULT_STRATEGY, Z_NO_FLUSH, 0};
    int m;
    OD_REQUIRE(out != NULL);
    memcpy(data + 20480, data, n - 20480); /* copy of the start, 20 KiB back */
    comp = od_zdeflate(data, n, &zp, &cn, &od_seed);
    OD_REQUIRE(comp != NULL);
    OD_CHECK(od_roundtrip(comp, cn, data, n, 32768, OD_FEED_WHOLE));
    for (m = 0; m < OD_FEEDS; m++) {
        OD_CHECK_EQ(od_run(comp, cn, out, n, 4096, m, &od_seed, &used, &olen),
                    OD_INFLATE_DATA_ERROR);
        OD_CHECK(olen >= 20480 && olen < n); /* all before the match is right */
        OD_CHECK(!memcmp(out, data, olen));
        OD_CHECK_EQ(od_run(comp, cn, out, n, 16384, m, &od_seed, &used, &olen),
                    OD_INFLATE_DATA_ERROR);
    }
    free(comp);
    free(data);
    free(out);
}

/* Every prefix of a valid stream is a valid prefix: never an error, never the end. */
static void test_truncation(void)
{
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY};
    int lvl, s;
    for (lvl = 0; lvl <= 9; lvl += 3)
        for (s = 0; s < 3; s++) {
            size_t n = 5000, cn = 0, L;
            uint8_t *data = od_gen(OD_DATA_FIRMWARE, n, 99 + (unsigned long long)(lvl * 3 + s));
            od_zparams zp = {lvl, 12, 8, strategies[s], Z_SYNC_FLUSH, 2};
            uint8_t *comp = od_zdeflate(data, n, &zp, &cn, &od_seed), *out = malloc(n);
            OD_REQUIRE(comp != NULL && out != NULL);
            for (L = 0; L < cn; L++) {
                uint8_t *cut = od_dup(comp, L);
                size_t used, olen;
                int mode = L % 7 == 0 ? OD_FEED_BYTES : L % 2 ? OD_FEED_RANDOM : OD_FEED_WHOLE;
                od_inflate_ret r = od_run(cut, L, out, n, 4096, mode, &od_seed, &used, &olen);
                OD_CHECK_EQ(r, OD_INFLATE_BUF_ERROR);
                OD_CHECK_EQ(used, L);
                OD_CHECK(olen == 0 || !memcmp(out, data, olen));
                free(cut);
            }
            free(comp);
            free(out);
            free(data);
        }
}

/*
 * Differential check on one possibly corrupt stream: our verdict must match
 * zlib's, except that where zlib reports an invalid code early we may still
 * be waiting for the bits that prove it (never ending, never erring wrongly).
 * Both run with a 32 KiB window: zlib, given one big output buffer, accepts
 * distances up to everything produced in that call even beyond its window,
 * so only at 32 KiB do its rule and ours ("farther than the window or the
 * output so far") coincide. Smaller windows are tested on their own.
 */
static void od_compare_with_zlib(const uint8_t *in, size_t n, size_t cap, int mode)
{
    int wbits = 15, before = od_test_failed_checks;
    uint8_t *zo = malloc(cap), *oo = malloc(cap);
    size_t zin = 0, zlen = 0, oin = 0, olen = 0, common;
    int zr;
    od_inflate_ret r;
    if (!zo || !oo)
        abort();
    zr = od_zinflate(in, n, wbits, zo, cap, &zin, &zlen);
    r = od_run(in, n, oo, cap, (size_t)1 << wbits, mode, &od_seed, &oin, &olen);
    common = zlen < olen ? zlen : olen;
    OD_CHECK(common == 0 || !memcmp(zo, oo, common));
    if (zr == Z_STREAM_END) {
        OD_CHECK_EQ(r, OD_INFLATE_STREAM_END);
        OD_CHECK_EQ(olen, zlen);
        OD_CHECK_EQ(oin, zin);
    } else if (zr == Z_DATA_ERROR) {
        OD_CHECK(r == OD_INFLATE_DATA_ERROR || (r == OD_INFLATE_BUF_ERROR && (oin == n || olen == cap)));
        if (r == OD_INFLATE_DATA_ERROR)
            OD_CHECK_EQ(olen, zlen);
    } else {
        OD_CHECK(r != OD_INFLATE_STREAM_END || zlen == cap);
        if (r == OD_INFLATE_DATA_ERROR && zlen < cap) {
            /* We may refuse sooner: zlib accepts an all-zero code-length
               code and fails only after reading the lengths it "decodes"
               (1 bit each, all zero: no end-of-block code). Given enough
               more input, zlib must reach the same verdict. */
            uint8_t *more = calloc(n + 1024, 1);
            size_t zin2, zlen2;
            if (!more)
                abort();
            memcpy(more, in, n);
            OD_CHECK_EQ(od_zinflate(more, n + 1024, wbits, zo, cap, &zin2, &zlen2), Z_DATA_ERROR);
            OD_CHECK_EQ(zlen2, olen);
            free(more);
        }
    }
    if (od_test_failed_checks != before)
        fprintf(stderr, "  zlib %d (in %zu out %zu) vs ours %d (in %zu out %zu), n %zu wbits %d\n",
                zr, zin, zlen, (int)r, oin, olen, n, wbits);
    free(zo);
    free(oo);
}

static void test_bitflips(void)
{
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE,
                                     Z_FILTERED};
    int base, t, before = od_test_failed_checks;
    for (base = 0; base < 20 && od_test_failed_checks == before; base++) {
        size_t n = 6000, cn = 0;
        int wbits = 9 + base % 7;
        uint8_t *data = od_gen(base % OD_DATA_KINDS, n, 555 + (unsigned long long)base);
        od_zparams zp = {base % 10, wbits, 8, strategies[base % 5],
                         base % 2 ? Z_SYNC_FLUSH : Z_NO_FLUSH, base % 2 ? 2 : 0};
        uint8_t *comp = od_zdeflate(data, n, &zp, &cn, &od_seed);
        OD_REQUIRE(comp != NULL);
        for (t = 0; t < 600 && od_test_failed_checks == before; t++) {
            uint8_t *bad = od_dup(comp, cn);
            int flips = 1 + t % 3, f;
            for (f = 0; f < flips; f++) {
                unsigned long long r = od_test_rand(&od_seed);
                /* Favour the first bytes: that is where the block headers are. */
                size_t at = (r & 1) ? (size_t)(r >> 8) % (cn < 64 ? cn : 64) : (size_t)(r >> 8) % cn;
                bad[at] ^= (uint8_t)(1u << ((r >> 4) & 7));
            }
            od_compare_with_zlib(bad, cn, 2 * n + 1024, t % 3 == 0 ? OD_FEED_RANDOM : OD_FEED_WHOLE);
            free(bad);
        }
        free(comp);
        free(data);
    }
}

/* Random bytes, mostly posing as dynamic blocks, against zlib's verdict. */
static void test_garbage(void)
{
    int t, before = od_test_failed_checks;
    for (t = 0; t < 20000 && od_test_failed_checks == before; t++) {
        size_t n = 1 + (size_t)(od_test_rand(&od_seed) % 400), k;
        uint8_t *g = malloc(n);
        if (!g)
            abort();
        for (k = 0; k < n; k++)
            g[k] = (uint8_t)(od_test_rand(&od_seed) >> 40);
        if (t % 4 != 0)
            g[0] = (uint8_t)((g[0] & ~6u) | 4u); /* BTYPE = dynamic */
        od_compare_with_zlib(g, n, 4096, t % 5 == 0 ? OD_FEED_BYTES : OD_FEED_WHOLE);
        free(g);
    }
}

/* ---- cases: hand-made streams ------------------------------------------ */

typedef struct od_bw {
    uint8_t b[2048];
    size_t n;
    unsigned acc, cnt;
} od_bw;

static void od_bw_put(od_bw *w, unsigned v, unsigned nbits)
{
    while (nbits--) {
        w->acc |= (v & 1u) << w->cnt;
        v >>= 1;
        if (++w->cnt == 8) {
            w->b[w->n++] = (uint8_t)w->acc;
            w->acc = w->cnt = 0;
        }
    }
}

/* Huffman codes go out most significant bit first (RFC 1951 3.1.1). */
static void od_bw_code(od_bw *w, unsigned code, unsigned len)
{
    while (len--)
        od_bw_put(w, (code >> len) & 1u, 1);
}

static void od_bw_finish(od_bw *w, unsigned pad_bytes)
{
    if (w->cnt)
        od_bw_put(w, 0, 8 - w->cnt);
    while (pad_bytes--)
        od_bw_put(w, 0, 8);
}

/* Canonical codes from lengths (RFC 1951 3.2.2). */
static void od_canon(const uint8_t *lens, unsigned n, unsigned *codes)
{
    unsigned count[16] = {0}, next[16], code = 0, b, i;
    for (i = 0; i < n; i++)
        count[lens[i]]++;
    count[0] = 0;
    for (b = 1; b < 16; b++) {
        code = (code + count[b - 1]) << 1;
        next[b] = code;
    }
    for (i = 0; i < n; i++)
        codes[i] = lens[i] ? next[lens[i]]++ : 0;
}

typedef struct od_code {
    uint8_t lens[288];
    unsigned codes[288];
} od_code;

static void od_code_make(od_code *c, const uint8_t *lens, unsigned n)
{
    memset(c, 0, sizeof *c);
    memcpy(c->lens, lens, n);
    od_canon(c->lens, n, c->codes);
}

static void od_emit(od_bw *w, const od_code *c, unsigned sym)
{
    od_bw_code(w, c->codes[sym], c->lens[sym]);
}

static void od_fixed(od_code *lit, od_code *dist)
{
    uint8_t l[288], d[32];
    unsigned i;
    for (i = 0; i < 288; i++)
        l[i] = (uint8_t)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
    memset(d, 5, sizeof d);
    od_code_make(lit, l, 288);
    od_code_make(dist, d, 32);
}

static const uint8_t od_clorder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                       11, 4, 12, 3, 13, 2, 14, 1, 15};

/* Code-length code where 0..15 are 5 bits and 16/17/18 are 2/3/3 bits: complete. */
static void od_clen_code(od_code *c)
{
    uint8_t l[19];
    memset(l, 5, 16);
    l[16] = 2;
    l[17] = 3;
    l[18] = 3;
    od_code_make(c, l, 19);
}

/* Dynamic header with HLIT/HDIST as given, all 19 code-length lengths from cl. */
static void od_dyn_head(od_bw *w, int final, unsigned nlen, unsigned ndist, const od_code *cl)
{
    unsigned i;
    od_bw_put(w, (unsigned)final, 1);
    od_bw_put(w, 2, 2);
    od_bw_put(w, nlen - 257, 5);
    od_bw_put(w, ndist - 1, 5);
    od_bw_put(w, 19 - 4, 4);
    for (i = 0; i < 19; i++)
        od_bw_put(w, cl->lens[od_clorder[i]], 3);
}

/* Dynamic header spelling out every length literally (no repeat codes). */
static void od_dyn_block(od_bw *w, int final, const uint8_t *ll, unsigned nlen, const uint8_t *dl,
                         unsigned ndist)
{
    od_code cl;
    unsigned i;
    od_clen_code(&cl);
    od_dyn_head(w, final, nlen, ndist, &cl);
    for (i = 0; i < nlen; i++)
        od_emit(w, &cl, ll[i]);
    for (i = 0; i < ndist; i++)
        od_emit(w, &cl, dl[i]);
}

/* Decodes a hand-made stream whole, bytewise and in random pieces; all must agree. */
static void od_expect(const od_bw *w, size_t wsize, od_inflate_ret want, const char *text)
{
    int m;
    for (m = 0; m < OD_FEEDS; m++) {
        uint8_t *in = od_dup(w->b, w->n), out[600];
        size_t used, olen, tn = text ? strlen(text) : 0;
        od_inflate_ret r = od_run(in, w->n, out, sizeof out, wsize, m, &od_seed, &used, &olen);
        OD_CHECK_EQ(r, want);
        if (text) {
            OD_CHECK_EQ(olen, tn);
            OD_CHECK(olen == tn && !memcmp(out, text, tn));
        }
        free(in);
    }
}

static void test_handmade_stored(void)
{
    od_bw w;
    memset(&w, 0, sizeof w);
    od_bw_put(&w, 1, 1); /* final, stored, then "hello" */
    od_bw_put(&w, 0, 2);
    od_bw_finish(&w, 0);
    od_bw_put(&w, 5, 16);
    od_bw_put(&w, 0xFFFA, 16);
    memcpy(w.b + w.n, "hello", 5);
    w.n += 5;
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "hello");
    w.b[3] ^= 0x10; /* NLEN no longer the complement */
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* LEN = 0 blocks, not final, then a final one */
    od_bw_put(&w, 0, 3);
    od_bw_finish(&w, 0);
    od_bw_put(&w, 0, 16);
    od_bw_put(&w, 0xFFFF, 16);
    od_bw_put(&w, 1, 3);
    od_bw_finish(&w, 0);
    od_bw_put(&w, 0, 16);
    od_bw_put(&w, 0xFFFF, 16);
    od_expect(&w, 32768, OD_INFLATE_STREAM_END, "");

    memset(&w, 0, sizeof w); /* block type 3 */
    od_bw_put(&w, 7, 3);
    od_bw_finish(&w, 2);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    memset(&w, 0, sizeof w); /* type 3 after a good empty fixed block */
    od_bw_put(&w, 2, 3);
    od_bw_code(&w, 0, 7);
    od_bw_put(&w, 7, 3);
    od_bw_finish(&w, 2);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
}

static void test_handmade_fixed(void)
{
    od_code lit, dist;
    od_bw w;
    od_fixed(&lit, &dist);

    memset(&w, 0, sizeof w); /* "a" + (len 3, dist 1) = "aaaa" */
    od_bw_put(&w, 3, 3);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 257);
    od_emit(&w, &dist, 0);
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "aaaa");

    memset(&w, 0, sizeof w); /* distance 2 with one byte of history */
    od_bw_put(&w, 3, 3);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 257);
    od_emit(&w, &dist, 1);
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, NULL);

    memset(&w, 0, sizeof w); /* a match before any output */
    od_bw_put(&w, 3, 3);
    od_emit(&w, &lit, 257);
    od_emit(&w, &dist, 0);
    od_bw_finish(&w, 1);
    od_expect(&w, 32768, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* length code 286 */
    od_bw_put(&w, 3, 3);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 286);
    od_bw_finish(&w, 2);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "a");
    memset(&w, 0, sizeof w); /* length code 287 */
    od_bw_put(&w, 3, 3);
    od_emit(&w, &lit, 287);
    od_bw_finish(&w, 2);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    {
        unsigned sym;
        for (sym = 30; sym <= 31; sym++) { /* distance codes 30 and 31 */
            memset(&w, 0, sizeof w);
            od_bw_put(&w, 3, 3);
            od_emit(&w, &lit, 'a');
            od_emit(&w, &lit, 'a');
            od_emit(&w, &lit, 257);
            od_emit(&w, &dist, sym);
            od_bw_finish(&w, 2);
            od_expect(&w, 32768, OD_INFLATE_DATA_ERROR, "aa");
            /* With all 14 extra bits set, 31 would mean 65536: must not
               wrap around to anything usable. */
            memset(&w, 0, sizeof w);
            od_bw_put(&w, 3, 3);
            od_emit(&w, &lit, 'a');
            od_emit(&w, &lit, 'a');
            od_emit(&w, &lit, 257);
            od_emit(&w, &dist, sym);
            od_bw_put(&w, 0x3FFF, 14);
            od_bw_finish(&w, 8);
            od_expect(&w, 32768, OD_INFLATE_DATA_ERROR, "aa");
        }
    }

    /* Exactly window_size back is allowed, one more is not: 300 literals,
       then length 258 at distance 256 (code 15 + 63) or 257 (code 16 + 0). */
    {
        static const unsigned far[2][2] = {{15, 63}, {16, 0}};
        int k;
        for (k = 0; k < 2; k++) {
            char text[600];
            unsigned i;
            memset(&w, 0, sizeof w);
            od_bw_put(&w, 3, 3);
            for (i = 0; i < 300; i++) {
                text[i] = (char)('A' + i % 53 % 26);
                od_emit(&w, &lit, (unsigned)(uint8_t)text[i]);
            }
            od_emit(&w, &lit, 285);
            od_emit(&w, &dist, far[k][0]);
            od_bw_put(&w, far[k][1], far[k][0] == 15 ? 6 : 7);
            od_emit(&w, &lit, 256);
            od_bw_finish(&w, 0);
            for (i = 0; i < 258; i++)
                text[300 + i] = text[300 + i - 256];
            text[558] = 0;
            od_expect(&w, 256, k == 0 ? OD_INFLATE_STREAM_END : OD_INFLATE_DATA_ERROR,
                      k == 0 ? text : NULL);
            od_expect(&w, 512, OD_INFLATE_STREAM_END, NULL);
        }
    }
}

static void test_handmade_dynamic(void)
{
    uint8_t ll[288], dl[32];
    od_code lit, dist, cl;
    od_bw w;

    /* 'a'=1, EOB=2, 257=2; a single 1-bit distance code (allowed incomplete). */
    memset(ll, 0, sizeof ll);
    memset(dl, 0, sizeof dl);
    ll['a'] = 1;
    ll[256] = 2;
    ll[257] = 2;
    dl[0] = 1;
    od_code_make(&lit, ll, 258);
    od_code_make(&dist, dl, 1);
    memset(&w, 0, sizeof w);
    od_dyn_block(&w, 1, ll, 258, dl, 1);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 257);
    od_emit(&w, &dist, 0);
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "aaaa");

    memset(&w, 0, sizeof w); /* the unused half of that distance code */
    od_dyn_block(&w, 1, ll, 258, dl, 1);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 257);
    od_bw_code(&w, 1, 1);
    od_bw_finish(&w, 3);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "a");

    memset(&w, 0, sizeof w); /* no distance codes at all: literals only */
    dl[0] = 0;
    od_dyn_block(&w, 1, ll, 258, dl, 1);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "aa");
    memset(&w, 0, sizeof w); /* ... so a match there is an error */
    od_dyn_block(&w, 1, ll, 258, dl, 1);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 257);
    od_bw_finish(&w, 3);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "a");

    memset(&w, 0, sizeof w); /* only EOB, one 1-bit code: an empty block */
    memset(ll, 0, sizeof ll);
    ll[256] = 1;
    od_dyn_block(&w, 1, ll, 257, dl, 1);
    od_bw_code(&w, 0, 1);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "");

    memset(&w, 0, sizeof w); /* no end-of-block code */
    memset(ll, 0, sizeof ll);
    ll['a'] = 1;
    ll['b'] = 1;
    od_dyn_block(&w, 1, ll, 257, dl, 1);
    od_bw_finish(&w, 4);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* over-subscribed literal/length code */
    ll[256] = 1;
    od_dyn_block(&w, 1, ll, 257, dl, 1);
    od_bw_finish(&w, 4);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* incomplete literal/length code, not the 1-code case */
    ll['b'] = 0;
    ll[256] = 2;
    od_dyn_block(&w, 1, ll, 257, dl, 1);
    od_bw_finish(&w, 4);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* a single code of length 2 is incomplete too */
    memset(ll, 0, sizeof ll);
    ll[256] = 2;
    od_dyn_block(&w, 1, ll, 257, dl, 1);
    od_bw_finish(&w, 4);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* over-subscribed distance code */
    ll[256] = 1;
    ll['a'] = 1;
    dl[0] = dl[1] = dl[2] = 1;
    od_dyn_block(&w, 1, ll, 257, dl, 3);
    od_bw_finish(&w, 4);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    /* HLIT = 30 (287 codes) and HDIST = 31 (32 codes) are refused even
       when the lengths would form complete codes: 0..255 = 9 bits,
       256..285 = 6, 286 = 5; 32 distances of 5 bits. */
    memset(ll, 9, 256);
    memset(ll + 256, 6, 30);
    ll[286] = 5;
    memset(dl, 5, 32);
    od_code_make(&lit, ll, 287);
    memset(&w, 0, sizeof w);
    od_dyn_block(&w, 1, ll, 287, ll + 287, 1); /* ll[287] = 0: no distances */
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    memset(&w, 0, sizeof w);
    memset(ll, 8, 256);
    ll[255] = 0;
    ll[256] = 8;
    od_code_make(&lit, ll, 257);
    dl[28] = dl[29] = 4; /* control: 30 distances (28 x 5 + 2 x 4 bits) are fine */
    od_dyn_block(&w, 1, ll, 257, dl, 30);
    od_emit(&w, &lit, 'z');
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "z");
    memset(&w, 0, sizeof w);
    dl[28] = dl[29] = 5;
    od_dyn_block(&w, 1, ll, 257, dl, 32);
    od_emit(&w, &lit, 'z');
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    /* An incomplete code-length code (8 = 1 bit, 0 = 2, 18 = 3) spelling
       out an otherwise valid block: zlib refuses it, and so must we. */
    {
        static const uint8_t seq[4] = {8, 0, 8, 0};
        unsigned i;
        memset(cl.lens, 0, 19);
        cl.lens[8] = 1;
        cl.lens[0] = 2;
        cl.lens[18] = 3;
        od_code_make(&cl, cl.lens, 19);
        memset(&w, 0, sizeof w);
        od_dyn_head(&w, 1, 257, 1, &cl);
        for (i = 0; i < 258; i++)
            od_emit(&w, &cl, seq[i < 255 ? 0 : i - 254]);
        od_emit(&w, &lit, 'z');
        od_emit(&w, &lit, 256);
        od_bw_finish(&w, 0);
        od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    }

    memset(&w, 0, sizeof w); /* over-subscribed code-length code */
    memset(cl.lens, 1, 19);
    od_dyn_head(&w, 1, 257, 1, &cl);
    od_bw_finish(&w, 40);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    memset(&w, 0, sizeof w); /* incomplete code-length code */
    memset(cl.lens, 0, 19);
    cl.lens[0] = cl.lens[1] = 2;
    od_dyn_head(&w, 1, 257, 1, &cl);
    od_bw_finish(&w, 40);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    memset(&w, 0, sizeof w); /* single 1-bit code-length code: zlib rejects it too */
    memset(cl.lens, 0, 19);
    cl.lens[1] = 1;
    od_dyn_head(&w, 1, 257, 1, &cl);
    od_bw_finish(&w, 40);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    /* Any lengths such a code can spell fail later anyway, but the error
       is due when the code is read, as in zlib, even if input stops there. */
    w.n -= 40;
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    /* Repeat codes: 97 zeros (18+86), 'a'..'d' = 3 (3, 16+0), 155 zeros
       (18+127, 18+6), 256..259 = 3 (3, 16+0), one 1-bit distance code. */
    od_clen_code(&cl);
    memset(ll, 0, sizeof ll);
    memset(&ll['a'], 3, 4);
    memset(ll + 256, 3, 4);
    od_code_make(&lit, ll, 260);
    dl[0] = 1;
    od_code_make(&dist, dl, 1);
    memset(&w, 0, sizeof w);
    od_dyn_head(&w, 1, 260, 1, &cl);
    od_emit(&w, &cl, 18);
    od_bw_put(&w, 86, 7);
    od_emit(&w, &cl, 3);
    od_emit(&w, &cl, 16);
    od_bw_put(&w, 0, 2);
    od_emit(&w, &cl, 18);
    od_bw_put(&w, 127, 7);
    od_emit(&w, &cl, 18);
    od_bw_put(&w, 6, 7);
    od_emit(&w, &cl, 3);
    od_emit(&w, &cl, 16);
    od_bw_put(&w, 0, 2);
    od_emit(&w, &cl, 1);
    od_emit(&w, &lit, 'a');
    od_emit(&w, &lit, 'b');
    od_emit(&w, &lit, 'c');
    od_emit(&w, &lit, 257);
    od_emit(&w, &dist, 0);
    od_emit(&w, &lit, 'd');
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "abccccd");

    memset(&w, 0, sizeof w); /* repeat-previous as the first length */
    od_dyn_head(&w, 1, 257, 1, &cl);
    od_emit(&w, &cl, 16);
    od_bw_put(&w, 0, 2);
    od_bw_finish(&w, 40);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");

    memset(&w, 0, sizeof w); /* zero run past HLIT + HDIST */
    od_dyn_head(&w, 1, 257, 1, &cl);
    od_emit(&w, &cl, 18);
    od_bw_put(&w, 127, 7);
    od_emit(&w, &cl, 18);
    od_bw_put(&w, 127, 7);
    od_bw_finish(&w, 40);
    od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    {
        /* ... also when the lengths before it are a valid code: 0..254
           and 256 are 8 bits, then 3 zeros where only 1 distance is left. */
        unsigned i;
        memset(ll, 8, 257);
        ll[255] = 0;
        od_code_make(&lit, ll, 257);
        memset(&w, 0, sizeof w);
        od_dyn_head(&w, 1, 257, 1, &cl);
        for (i = 0; i < 257; i++)
            od_emit(&w, &cl, ll[i]);
        od_emit(&w, &cl, 17);
        od_bw_put(&w, 0, 3);
        od_emit(&w, &lit, 'z');
        od_emit(&w, &lit, 256);
        od_bw_finish(&w, 0);
        od_expect(&w, 256, OD_INFLATE_DATA_ERROR, "");
    }

    memset(&w, 0, sizeof w); /* a repeat may cross from literal into distance lengths */
    od_dyn_head(&w, 1, 258, 2, &cl);
    od_emit(&w, &cl, 18); /* 0..137 */
    od_bw_put(&w, 127, 7);
    od_emit(&w, &cl, 18); /* 138..255 */
    od_bw_put(&w, 107, 7);
    od_emit(&w, &cl, 1); /* 256 */
    od_emit(&w, &cl, 16); /* 257, dist 0, dist 1 */
    od_bw_put(&w, 0, 2);
    memset(ll, 0, sizeof ll);
    ll[256] = ll[257] = 1;
    od_code_make(&lit, ll, 258);
    od_emit(&w, &lit, 256);
    od_bw_finish(&w, 0);
    od_expect(&w, 256, OD_INFLATE_STREAM_END, "");
}

/* ---- cases: API behaviour ---------------------------------------------- */

static void test_api(void)
{
    static const char msg[] = "resumable resumable resumable";
    od_zparams zp = {9, 15, 8, Z_DEFAULT_STRATEGY, Z_NO_FLUSH, 0};
    size_t cn = 0, ip = 0, op = 0, k;
    uint8_t *comp = od_zdeflate((const uint8_t *)msg, sizeof msg - 1, &zp, &cn, &od_seed);
    uint8_t out[64], in2[128];
    od_inflate_dec d;
    OD_REQUIRE(comp != NULL && cn + 8 <= sizeof in2);

    /* No input: first call is OK, the second in a row BUF_ERROR, not fatal. */
    OD_CHECK_EQ(od_inflate_init(&d, od_win, 32768), OD_INFLATE_OK);
    OD_CHECK_EQ(od_inflate_decode(&d, NULL, &ip, 0, out, &op, sizeof out), OD_INFLATE_OK);
    OD_CHECK_EQ(od_inflate_decode(&d, NULL, &ip, 0, out, &op, sizeof out), OD_INFLATE_BUF_ERROR);
    OD_CHECK_EQ(od_inflate_decode(&d, NULL, &ip, 0, out, &op, sizeof out), OD_INFLATE_BUF_ERROR);

    /* Trailing bytes after the stream are left unconsumed. */
    memcpy(in2, comp, cn);
    memset(in2 + cn, 0xA5, 8);
    OD_CHECK_EQ(od_inflate_decode(&d, in2, &ip, cn + 8, out, &op, sizeof out),
                OD_INFLATE_STREAM_END);
    OD_CHECK_EQ(ip, cn);
    OD_CHECK_EQ(op, sizeof msg - 1);
    OD_CHECK(!memcmp(out, msg, sizeof msg - 1));
    /* STREAM_END repeats and consumes nothing more. */
    OD_CHECK_EQ(od_inflate_decode(&d, in2, &ip, cn + 8, out, &op, sizeof out),
                OD_INFLATE_STREAM_END);
    OD_CHECK_EQ(ip, cn);

    /* Output room exactly the size: still reaches STREAM_END; no room stalls. */
    od_inflate_reset(&d);
    ip = op = 0;
    OD_CHECK_EQ(od_inflate_decode(&d, comp, &ip, cn, out, &op, 10), OD_INFLATE_OK);
    OD_CHECK_EQ(op, 10);
    OD_CHECK_EQ(od_inflate_decode(&d, comp, &ip, cn, out, &op, 10), OD_INFLATE_OK);
    OD_CHECK_EQ(od_inflate_decode(&d, comp, &ip, cn, out, &op, 10), OD_INFLATE_BUF_ERROR);
    OD_CHECK_EQ(od_inflate_decode(&d, comp, &ip, cn, out, &op, sizeof msg - 1),
                OD_INFLATE_STREAM_END);
    OD_CHECK(!memcmp(out, msg, sizeof msg - 1));

    /* After a data error: sticky, and reset recovers. */
    od_inflate_reset(&d);
    ip = op = 0;
    {
        static const uint8_t bad[2] = {0x07, 0};
        OD_CHECK_EQ(od_inflate_decode(&d, bad, &ip, 2, out, &op, sizeof out),
                    OD_INFLATE_DATA_ERROR);
        OD_CHECK_EQ(od_inflate_decode(&d, bad, &ip, 2, out, &op, sizeof out),
                    OD_INFLATE_DATA_ERROR);
    }
    od_inflate_reset(&d);
    ip = op = 0;
    OD_CHECK_EQ(od_inflate_decode(&d, comp, &ip, cn, out, &op, sizeof out),
                OD_INFLATE_STREAM_END);
    OD_CHECK(!memcmp(out, msg, sizeof msg - 1));

    /* A reset forgets history: a stream opening with a match is refused. */
    {
        od_code lit, dist;
        od_bw w;
        od_fixed(&lit, &dist);
        memset(&w, 0, sizeof w);
        od_bw_put(&w, 3, 3);
        od_emit(&w, &lit, 257);
        od_emit(&w, &dist, 0);
        od_bw_finish(&w, 1);
        od_inflate_reset(&d);
        ip = op = 0;
        OD_CHECK_EQ(od_inflate_decode(&d, w.b, &ip, w.n, out, &op, sizeof out),
                    OD_INFLATE_DATA_ERROR);
    }

    /* The state holds no pointer into itself: it can move between calls. */
    {
        od_inflate_dec two[2];
        od_inflate_reset(&d);
        memcpy(&two[0], &d, sizeof d);
        ip = op = 0;
        for (k = 0; k < cn; k++) {
            od_inflate_ret r =
                od_inflate_decode(&two[k & 1], comp, &ip, k + 1, out, &op, sizeof out);
            memcpy(&two[(k + 1) & 1], &two[k & 1], sizeof d);
            memset(&two[k & 1], 0xEE, sizeof d);
            OD_CHECK(r == (k + 1 == cn ? OD_INFLATE_STREAM_END : OD_INFLATE_OK));
        }
        OD_CHECK_EQ(op, sizeof msg - 1);
        OD_CHECK(!memcmp(out, msg, sizeof msg - 1));
    }
    free(comp);
}

/* ---- case: real firmware ----------------------------------------------- */

static void test_corpus(void)
{
    const char *dir = getenv("OD_CORPUS_DIR");
    char path[4096], line[4096];
    FILE *f;
    int files = 0;
    if (!dir || !*dir)
        OD_SKIP("OD_CORPUS_DIR not set");
    snprintf(path, sizeof path, "%s/pairs.tsv", dir);
    f = fopen(path, "r");
    if (!f)
        OD_SKIP("no %s", path);
    while (fgets(line, sizeof line, f)) {
        char *col[5], *p = line;
        int c, side;
        for (c = 0; c < 5; c++) {
            col[c] = p;
            p += strcspn(p, "\t\r\n");
            if (*p)
                *p++ = 0;
        }
        if (!strcmp(col[0], "id") || !*col[4])
            continue;
        for (side = 3; side <= 4; side++) {
            size_t n = 0;
            uint8_t *data;
            snprintf(path, sizeof path, "%s/%s", dir, col[side]);
            data = od_test_read_file(path, &n);
            if (!data) {
                fprintf(stderr, "  missing %s\n", path);
                continue;
            }
            {
                /* Settings an OTA packer might choose, rotating per file. */
                static const od_zparams set[4] = {
                    {9, 15, 9, Z_DEFAULT_STRATEGY, Z_NO_FLUSH, 0},
                    {6, 12, 8, Z_FILTERED, Z_SYNC_FLUSH, 3},
                    {1, 9, 8, Z_RLE, Z_FULL_FLUSH, 2},
                    {9, 11, 9, Z_FIXED, Z_NO_FLUSH, 0}};
                const od_zparams *zp = &set[files % 4];
                int modes[2] = {OD_FEED_RANDOM, files % 5 == 0 ? OD_FEED_BYTES : OD_FEED_WHOLE};
                od_check_params(data, n, zp, modes, 2, (size_t)1 << zp->wbits);
            }
            files++;
            free(data);
        }
    }
    fclose(f);
    if (!files)
        OD_SKIP("no corpus files readable under %s", dir);
    fprintf(stderr, "  corpus: %d files\n", files);
}

int main(void)
{
    fprintf(stderr, "sizeof(od_inflate_dec) = %zu\n", sizeof(od_inflate_dec));
    OD_RUN(test_bad_window);
    OD_RUN(test_api);
    OD_RUN(test_handmade_stored);
    OD_RUN(test_handmade_fixed);
    OD_RUN(test_handmade_dynamic);
    OD_RUN(test_empty_and_tiny);
    OD_RUN(test_zlib_matrix);
    OD_RUN(test_small_window);
    OD_RUN(test_large);
    OD_RUN(test_distance_too_far);
    OD_RUN(test_truncation);
    OD_RUN(test_bitflips);
    OD_RUN(test_garbage);
    OD_RUN(test_corpus);
    return od_test_summary();
}
