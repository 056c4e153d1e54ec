/*
 * test_lzma.c - od_lzma against liblzma's raw LZMA1 encoder.
 *
 * The applier must reproduce, byte for byte, whatever the host packer
 * compressed with liblzma, however the transport and the flash writer chunk
 * the input and output. So every case encodes with liblzma
 * (lzma_raw_encoder, LZMA_FILTER_LZMA1, which always ends in the marker)
 * and decodes with od_lzma in several feeding patterns, down to one byte in
 * and one byte out. The workspace is malloc'd at exactly the documented
 * size so that AddressSanitizer sees any access past it, and the output
 * buffer carries a guard zone past the room we offer.
 *
 * liblzma (5.4) refuses lc + lp > 4, so larger combinations are checked
 * only on the props/workspace side and with a literal-free stream.
 */
#include <lzma.h>
#include <stdint.h>

#include "od_lzma.h"
#include "od_test.h"

#define GUARD 64
#define GUARD_BYTE 0xA5

struct enc_cfg {
    unsigned lc, lp, pb;
    uint32_t dict;
    uint32_t preset;
    const uint8_t *preset_dict; /* NULL for none */
    size_t preset_dict_size;
};

static uint8_t props_of(const struct enc_cfg *c)
{
    return (uint8_t)((c->pb * 5 + c->lp) * 9 + c->lc);
}

/* Compresses src with liblzma; malloc'd result, or NULL if liblzma refused. */
static uint8_t *encode(const uint8_t *src, size_t n, const struct enc_cfg *c, size_t *clen)
{
    lzma_options_lzma opt;
    lzma_filter f[2];
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret r;
    size_t cap = n + n / 8 + 4096;
    uint8_t *buf;

    if (lzma_lzma_preset(&opt, c->preset))
        abort();
    opt.lc = c->lc;
    opt.lp = c->lp;
    opt.pb = c->pb;
    opt.dict_size = c->dict;
    opt.preset_dict = c->preset_dict;
    opt.preset_dict_size = (uint32_t)c->preset_dict_size;
    f[0].id = LZMA_FILTER_LZMA1;
    f[0].options = &opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    f[1].options = NULL;
    if (lzma_raw_encoder(&s, f) != LZMA_OK)
        return NULL;
    buf = malloc(cap);
    if (!buf)
        abort();
    s.next_in = src;
    s.avail_in = n;
    s.next_out = buf;
    s.avail_out = cap;
    for (;;) {
        r = lzma_code(&s, LZMA_FINISH);
        if (r == LZMA_STREAM_END)
            break;
        if (r != LZMA_OK)
            abort();
        if (s.avail_out == 0) {
            buf = realloc(buf, cap * 2);
            if (!buf)
                abort();
            s.next_out = buf + cap;
            s.avail_out = cap;
            cap *= 2;
        }
    }
    *clen = (size_t)s.total_out;
    lzma_end(&s);
    return buf;
}

/*
 * liblzma's raw decoder on the same bytes, as the reference verdict for
 * corrupt streams: 1 for a clean end, 0 for anything else. *produced gets
 * the bytes it wrote to out (capacity cap).
 */
static int ref_decode(const struct enc_cfg *c, const uint8_t *comp, size_t clen, uint8_t *out,
                      size_t cap, size_t *produced)
{
    lzma_options_lzma opt;
    lzma_filter f[2];
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret r;

    if (lzma_lzma_preset(&opt, 6))
        abort();
    opt.lc = c->lc;
    opt.lp = c->lp;
    opt.pb = c->pb;
    opt.dict_size = c->dict;
    f[0].id = LZMA_FILTER_LZMA1;
    f[0].options = &opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    f[1].options = NULL;
    if (lzma_raw_decoder(&s, f) != LZMA_OK)
        abort();
    s.next_in = comp;
    s.avail_in = clen;
    s.next_out = out;
    s.avail_out = cap;
    do
        r = lzma_code(&s, LZMA_FINISH);
    while (r == LZMA_OK);
    *produced = (size_t)s.total_out;
    lzma_end(&s);
    return r == LZMA_STREAM_END;
}

/* How the decoder is fed. */
enum feed {
    FEED_ALL,    /* everything in one call */
    FEED_BYTES,  /* 1 byte in, 1 byte of room out per call */
    FEED_IN1,    /* 1 byte in, all the room out */
    FEED_OUT1,   /* all the input, 1 byte of room out */
    FEED_RANDOM  /* random sizes on both sides, biased towards small */
};

static size_t chunk(enum feed f, int out_side, unsigned long long *seed)
{
    unsigned long long r;
    switch (f) {
    case FEED_ALL:
        return (size_t)-1;
    case FEED_BYTES:
        return 1;
    case FEED_IN1:
        return out_side ? (size_t)-1 : 1;
    case FEED_OUT1:
        return out_side ? 1 : (size_t)-1;
    case FEED_RANDOM:
        r = od_test_rand(seed);
        switch (r & 3) {
        case 0:
            return 1 + (size_t)(r >> 8) % 4;
        case 1:
            return 1 + (size_t)(r >> 8) % 40;
        case 2:
            return 1 + (size_t)(r >> 8) % 700;
        default:
            return 1 + (size_t)(r >> 8) % 70000;
        }
    }
    return 1;
}

struct dec_result {
    od_lzma_ret ret;  /* last return value: STREAM_END, or the error that stopped it */
    size_t consumed;  /* input bytes taken */
    size_t produced;  /* output bytes written */
    int guard_ok;     /* nothing written past the room offered */
};

/*
 * Decodes comp[0..clen) into out (capacity cap, followed by GUARD guard
 * bytes) until STREAM_END or an error; a stall (BUF_ERROR) ends it too.
 */
static struct dec_result decode(uint8_t props, uint32_t dict, const uint8_t *comp, size_t clen,
                                uint8_t *out, size_t cap, enum feed f, unsigned long long seed)
{
    struct dec_result res = {OD_LZMA_OK, 0, 0, 1};
    unsigned lc = props % 9u, lp = props / 9u % 5u;
    size_t wsize = OD_LZMA_WORKSPACE(lc, lp, dict), ip = 0, op = 0, il, ol, i;
    void *work = malloc(wsize);
    unsigned long long calls = 0, max_calls = 4ull * (clen + cap) + 100;
    od_lzma_dec d;

    if (!work)
        abort();
    memset(out + cap, GUARD_BYTE, GUARD);
    res.ret = od_lzma_init(&d, props, dict, work, wsize);
    while (res.ret == OD_LZMA_OK) {
        if (++calls > max_calls) {
            fprintf(stderr, "decoder loops without progress\n");
            res.ret = OD_LZMA_BUF_ERROR;
            res.guard_ok = 0;
            break;
        }
        il = chunk(f, 0, &seed);
        ol = chunk(f, 1, &seed);
        il = il > clen - ip ? clen : ip + il;
        ol = ol > cap - op ? cap : op + ol;
        res.ret = od_lzma_decode(&d, comp, &ip, il, out, &op, ol);
    }
    for (i = 0; i < GUARD; i++)
        if (out[cap + i] != GUARD_BYTE)
            res.guard_ok = 0;
    res.consumed = ip;
    res.produced = op;
    free(work);
    return res;
}

/* Encodes src, decodes it in feed mode f, and checks the round trip. */
static void roundtrip(const uint8_t *src, size_t n, const struct enc_cfg *c, enum feed f,
                      unsigned long long seed)
{
    size_t clen;
    uint8_t *comp = encode(src, n, c, &clen);
    uint8_t *out = malloc(n + GUARD);
    struct dec_result r;

    OD_REQUIRE(comp != NULL && out != NULL);
    r = decode(props_of(c), c->dict, comp, clen, out, n, f, seed);
    OD_CHECK_EQ(r.ret, OD_LZMA_STREAM_END);
    OD_CHECK_EQ(r.produced, n);
    OD_CHECK_EQ(r.consumed, clen);
    OD_CHECK(r.guard_ok);
    OD_CHECK(n == 0 || memcmp(out, src, n) == 0);
    if (r.ret != OD_LZMA_STREAM_END || r.produced != n || r.consumed != clen)
        fprintf(stderr, "  lc%u lp%u pb%u dict %u n %zu feed %d\n", c->lc, c->lp, c->pb,
                (unsigned)c->dict, n, (int)f);
    free(comp);
    free(out);
}

/* --- data generators ---------------------------------------------------- */

static uint8_t *gen_random(size_t n, unsigned long long seed)
{
    uint8_t *p = malloc(n ? n : 1);
    size_t i;
    if (!p)
        abort();
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(od_test_rand(&seed) >> 56);
    return p;
}

/* Runs, near and far repeats (long matches), a little noise. */
static uint8_t *gen_compressible(size_t n, unsigned long long seed)
{
    uint8_t *p = malloc(n ? n : 1);
    size_t i = 0, len, dist, k;
    unsigned long long r;
    if (!p)
        abort();
    while (i < n) {
        r = od_test_rand(&seed);
        len = 1 + (size_t)(r >> 20) % ((r & 16) ? 2000 : 40);
        if (len > n - i)
            len = n - i;
        switch (r & 7) {
        case 0: /* run */
            memset(p + i, (int)(r >> 40), len);
            break;
        case 1: /* noise */
            for (k = 0; k < len && k < 8; k++)
                p[i + k] = (uint8_t)(od_test_rand(&seed) >> 56);
            len = k;
            break;
        default: /* repeat from earlier, possibly overlapping */
            if (i == 0) {
                p[0] = (uint8_t)r;
                len = 1;
                break;
            }
            dist = 1 + (size_t)(r >> 33) % ((r & 8) ? i : (i < 64 ? i : 64));
            for (k = 0; k < len; k++)
                p[i + k] = p[i + k - dist];
        }
        i += len;
    }
    return p;
}

static uint8_t *gen_text(size_t n, unsigned long long seed)
{
    static const char *const words[] = {
        "the", "firmware", "update", "is", "written", "to", "flash", "in", "pages", "of",
        "bytes", "and", "a", "delta", "against", "old", "image", "makes", "it", "small",
        "bootloader", "verifies", "signature", "before", "jumping", "vector", "table", "0x0800",
        "int", "return", "static", "const", "uint8_t", "while", "for", "if", "else"};
    uint8_t *p = malloc(n ? n : 1);
    size_t i = 0, k;
    const char *w;
    if (!p)
        abort();
    while (i < n) {
        unsigned long long r = od_test_rand(&seed);
        w = words[(r >> 10) % (sizeof(words) / sizeof(words[0]))];
        for (k = 0; w[k] && i < n; k++)
            p[i++] = (uint8_t)w[k];
        if (i < n)
            p[i++] = (uint8_t)((r & 15) == 0 ? '\n' : (r & 15) == 1 ? ',' : ' ');
    }
    return p;
}

/* Text, then firmware-ish binary, then random, then runs: every packet kind. */
static uint8_t *gen_mixed(size_t n, unsigned long long seed)
{
    uint8_t *p = malloc(n ? n : 1), *a;
    size_t q = n / 4;
    if (!p)
        abort();
    a = gen_text(q, seed);
    memcpy(p, a, q);
    free(a);
    a = gen_compressible(q, seed + 1);
    memcpy(p + q, a, q);
    free(a);
    a = gen_random(q, seed + 2);
    memcpy(p + 2 * q, a, q);
    free(a);
    a = gen_compressible(n - 3 * q, seed + 3);
    memcpy(p + 3 * q, a, n - 3 * q);
    free(a);
    return p;
}

static const struct enc_cfg cfg_default = {3, 0, 2, 1u << 20, 6, NULL, 0};

/* --- cases ------------------------------------------------------------- */

static void t_empty(void)
{
    static const struct enc_cfg cfgs[] = {
        {0, 0, 0, 4096, 6, NULL, 0}, {3, 0, 2, 65536, 6, NULL, 0}, {4, 0, 4, 8192 + 512, 6, NULL, 0}};
    uint8_t dummy = 0;
    size_t i;
    int f;
    for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
        for (f = FEED_ALL; f <= FEED_RANDOM; f++)
            roundtrip(&dummy, 0, &cfgs[i], (enum feed)f, 7 + i);
}

/* A literal-free stream decodes under any lc/lp, including the lc4 lp4 pb4
   liblzma will not encode; also with out == NULL. */
static void t_empty_big_lclp(void)
{
    static const struct enc_cfg c = {0, 0, 4, 4096, 6, NULL, 0};
    uint8_t dummy = 0;
    size_t clen, ip = 0, op = 0, ws = OD_LZMA_WORKSPACE(4, 4, 4096);
    uint8_t *comp = encode(&dummy, 0, &c, &clen);
    void *work = malloc(ws);
    od_lzma_dec d;
    OD_REQUIRE(comp && work);
    OD_CHECK_EQ(od_lzma_init(&d, (4 * 5 + 4) * 9 + 4, 4096, work, ws), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, NULL, &op, 0), OD_LZMA_STREAM_END);
    OD_CHECK_EQ(ip, clen);
    OD_CHECK_EQ(op, 0);
    free(comp);
    free(work);
}

static void t_one_byte(void)
{
    static const uint8_t vals[] = {0x00, 0x41, 0xFF};
    static const struct enc_cfg cfgs[] = {{0, 0, 0, 4096, 6, NULL, 0}, {3, 0, 2, 65536, 6, NULL, 0}};
    size_t i, j;
    int f;
    for (i = 0; i < sizeof(vals); i++)
        for (j = 0; j < 2; j++)
            for (f = FEED_ALL; f <= FEED_RANDOM; f++)
                roundtrip(&vals[i], 1, &cfgs[j], (enum feed)f, 11 + i);
}

/* Sizes around small boundaries: 2..64 bytes of each kind. */
static void t_small_sizes(void)
{
    size_t n;
    for (n = 2; n <= 64; n += 3) {
        uint8_t *a = gen_mixed(n, n), *b = gen_compressible(n, n);
        roundtrip(a, n, &cfg_default, FEED_BYTES, n);
        roundtrip(b, n, &cfg_default, FEED_RANDOM, n);
        free(a);
        free(b);
    }
}

static void t_random_data(void)
{
    static const struct enc_cfg c1 = {3, 0, 2, 1u << 20, 1, NULL, 0};
    static const struct enc_cfg c2 = {0, 0, 0, 4096, 6, NULL, 0};
    uint8_t *a = gen_random(1u << 20, 1), *b = gen_random(100000, 2);
    roundtrip(a, 1u << 20, &c1, FEED_ALL, 1);
    roundtrip(a, 1u << 20, &c1, FEED_RANDOM, 2);
    roundtrip(b, 100000, &c2, FEED_ALL, 3);
    roundtrip(b, 100000, &c2, FEED_BYTES, 4);
    free(a);
    free(b);
}

static void t_compressible(void)
{
    static const struct enc_cfg c1 = {3, 0, 2, 1u << 20, 2, NULL, 0};
    size_t n = 3u << 20;
    uint8_t *a = gen_compressible(n, 5);
    /* All-zero payload: nothing but 273-byte repeat matches. */
    uint8_t *z = calloc(1, 1u << 20);
    OD_REQUIRE(z != NULL);
    roundtrip(a, n, &c1, FEED_ALL, 1);
    roundtrip(a, n, &c1, FEED_RANDOM, 2);
    roundtrip(a, 200000, &cfg_default, FEED_OUT1, 3);
    roundtrip(z, 1u << 20, &cfg_default, FEED_ALL, 4);
    roundtrip(z, 1u << 20, &cfg_default, FEED_OUT1, 5);
    roundtrip(z, 1u << 20, &cfg_default, FEED_IN1, 6);
    free(a);
    free(z);
}

static void t_text(void)
{
    static const struct enc_cfg c1 = {3, 0, 0, 65536, 6, NULL, 0};
    size_t n = 600000;
    uint8_t *a = gen_text(n, 9);
    roundtrip(a, n, &c1, FEED_ALL, 1);
    roundtrip(a, n, &c1, FEED_RANDOM, 2);
    roundtrip(a, 100000, &c1, FEED_BYTES, 3);
    free(a);
}

/* The lc/lp/pb and dictionary matrix on mixed data. */
static void t_props_matrix(void)
{
    static const unsigned combos[][3] = {{0, 0, 0}, {3, 0, 2}, {0, 2, 2}, {1, 3, 1}, {4, 0, 4},
                                         {0, 4, 0}, {2, 2, 3}, {8, 0, 2}, {4, 4, 4}};
    static const uint32_t dicts[] = {4096, 8192 + 512, 65536, 1u << 20};
    size_t n = 80000, i, j;
    uint8_t *a = gen_mixed(n, 21);
    for (i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
        for (j = 0; j < sizeof(dicts) / sizeof(dicts[0]); j++) {
            struct enc_cfg c = {combos[i][0], combos[i][1], combos[i][2], dicts[j], 6, NULL, 0};
            size_t clen;
            uint8_t *comp = encode(a, 16, &c, &clen);
            if (!comp) {
                /* liblzma refuses lc + lp > 4; that is its limit, not ours. */
                OD_CHECK(c.lc + c.lp > 4);
                continue;
            }
            free(comp);
            roundtrip(a, n, &c, FEED_ALL, i * 16 + j);
            roundtrip(a, n, &c, FEED_RANDOM, i * 16 + j);
        }
    }
    free(a);
}

/* Byte-at-a-time input and output over long matches and all packet kinds. */
static void t_bytewise(void)
{
    size_t n = 150000;
    uint8_t *a = gen_mixed(n, 33);
    roundtrip(a, n, &cfg_default, FEED_BYTES, 1);
    roundtrip(a, n, &cfg_default, FEED_IN1, 2);
    roundtrip(a, n, &cfg_default, FEED_OUT1, 3);
    free(a);
}

/* One stream, many random chunkings. */
static void t_random_chunks(void)
{
    static const struct enc_cfg c = {1, 1, 1, 8192 + 512, 6, NULL, 0};
    size_t n = 120000, clen, k;
    uint8_t *a = gen_mixed(n, 44), *comp = encode(a, n, &c, &clen), *out = malloc(n + GUARD);
    OD_REQUIRE(comp && out);
    for (k = 0; k < 40; k++) {
        struct dec_result r = decode(props_of(&c), c.dict, comp, clen, out, n, FEED_RANDOM, 1000 + k);
        OD_CHECK_EQ(r.ret, OD_LZMA_STREAM_END);
        OD_CHECK_EQ(r.produced, n);
        OD_CHECK_EQ(r.consumed, clen);
        OD_CHECK(r.guard_ok);
        OD_CHECK(memcmp(out, a, n) == 0);
    }
    free(a);
    free(comp);
    free(out);
}

/* Output room of exactly the payload in one call still ends in STREAM_END,
   and calls after the end take nothing. */
static void t_exact_out_and_after_end(void)
{
    size_t n = 50000, clen, ip = 0, op = 0, ws = OD_LZMA_WORKSPACE(3, 0, 1u << 20);
    uint8_t *a = gen_mixed(n, 55), *comp = encode(a, n, &cfg_default, &clen), *big, *out;
    void *work = malloc(ws);
    od_lzma_dec d;
    OD_REQUIRE(comp && work);
    /* Trailing junk after the stream must be left alone. */
    big = malloc(clen + 100);
    out = malloc(n + 1);
    OD_REQUIRE(big && out);
    memcpy(big, comp, clen);
    memset(big + clen, 0x5A, 100);
    OD_CHECK_EQ(od_lzma_init(&d, props_of(&cfg_default), 1u << 20, work, ws), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_decode(&d, big, &ip, clen + 100, out, &op, n), OD_LZMA_STREAM_END);
    OD_CHECK_EQ(ip, clen);
    OD_CHECK_EQ(op, n);
    OD_CHECK(memcmp(out, a, n) == 0);
    OD_CHECK_EQ(od_lzma_decode(&d, big, &ip, clen + 100, out, &op, n + 1), OD_LZMA_STREAM_END);
    OD_CHECK_EQ(ip, clen);
    OD_CHECK_EQ(op, n);
    OD_CHECK_EQ(od_lzma_decode(&d, NULL, &ip, ip, NULL, &op, op), OD_LZMA_STREAM_END);

    /* reset: the same decoder decodes the stream again, fed in pieces. */
    od_lzma_reset(&d);
    ip = op = 0;
    memset(out, 0, n);
    while (ip < clen) {
        size_t il = ip + 7 > clen ? clen : ip + 7;
        od_lzma_ret r = od_lzma_decode(&d, comp, &ip, il, out, &op, n);
        if (r == OD_LZMA_STREAM_END)
            break;
        OD_REQUIRE(r == OD_LZMA_OK);
    }
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, n), OD_LZMA_STREAM_END);
    OD_CHECK_EQ(ip, clen);
    OD_CHECK_EQ(op, n);
    OD_CHECK(memcmp(out, a, n) == 0);
    free(a);
    free(comp);
    free(big);
    free(out);
    free(work);
}

static void t_init_errors(void)
{
    od_lzma_dec d;
    size_t ip = 0, op = 0, ws = OD_LZMA_WORKSPACE(3, 0, 4096);
    uint8_t *work = malloc(OD_LZMA_WORKSPACE(8, 4, 4096)), in[8] = {0}, out[8];
    OD_REQUIRE(work != NULL);
    OD_CHECK_EQ(od_lzma_init(&d, 225, 4096, work, ws), OD_LZMA_OPTIONS_ERROR);
    OD_CHECK_EQ(od_lzma_decode(&d, in, &ip, 8, out, &op, 8), OD_LZMA_OPTIONS_ERROR);
    OD_CHECK_EQ(ip, 0);
    od_lzma_reset(&d); /* harmless on a failed init */
    OD_CHECK_EQ(od_lzma_decode(&d, in, &ip, 8, out, &op, 8), OD_LZMA_OPTIONS_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 255, 4096, work, ws), OD_LZMA_OPTIONS_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 0, work, ws), OD_LZMA_OPTIONS_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 4096, work, ws - 1), OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_decode(&d, in, &ip, 8, out, &op, 8), OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 4096, NULL, ws), OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 0xFFFFFFFFu, work, ws), OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 4096, work, ws), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 4096, work, OD_LZMA_PROBS(3, 0) * 2u), OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 1, work, OD_LZMA_PROBS(3, 0) * 2u + 1), OD_LZMA_OK);
    /* The largest format options: lc 8, lp 4, pb 4. */
    OD_CHECK_EQ(od_lzma_init(&d, 224, 4096, work, OD_LZMA_WORKSPACE(8, 4, 4096) - 1),
                OD_LZMA_MEM_ERROR);
    OD_CHECK_EQ(od_lzma_init(&d, 224, 4096, work, OD_LZMA_WORKSPACE(8, 4, 4096)), OD_LZMA_OK);
    free(work);
}

/* BUF_ERROR only on the second call in a row that can do nothing. */
static void t_buf_error(void)
{
    static const uint8_t msg[] = "hello, hello, hello world";
    size_t n = sizeof(msg) - 1, clen, ip = 0, op = 0, ws = OD_LZMA_WORKSPACE(3, 0, 4096);
    uint8_t *comp = encode(msg, n, &(struct enc_cfg){3, 0, 2, 4096, 6, NULL, 0}, &clen);
    uint8_t out[64];
    void *work = malloc(ws);
    od_lzma_dec d;
    OD_REQUIRE(comp && work);
    OD_CHECK_EQ(od_lzma_init(&d, 93, 4096, work, ws), OD_LZMA_OK);
    /* No input at all. */
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, 0, out, &op, sizeof(out)), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, 0, out, &op, sizeof(out)), OD_LZMA_BUF_ERROR);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, 0, out, &op, sizeof(out)), OD_LZMA_BUF_ERROR);
    /* Input but no output room: the start bytes are taken, then it stalls. */
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 0), OD_LZMA_OK);
    OD_CHECK_EQ(ip, 5);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 0), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 0), OD_LZMA_BUF_ERROR);
    OD_CHECK_EQ(ip, 5);
    /* Progress clears it. */
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 3), OD_LZMA_OK);
    OD_CHECK_EQ(op, 3);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 3), OD_LZMA_OK);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, 3), OD_LZMA_BUF_ERROR);
    OD_CHECK_EQ(od_lzma_decode(&d, comp, &ip, clen, out, &op, sizeof(out)), OD_LZMA_STREAM_END);
    OD_CHECK_EQ(op, n);
    OD_CHECK_EQ(ip, clen);
    OD_CHECK(memcmp(out, msg, n) == 0);
    free(comp);
    free(work);
}

/* A dictionary of 1 byte is enough when every match has distance 1. */
static void t_tiny_dict(void)
{
    static const struct enc_cfg c = {3, 0, 2, 4096, 6, NULL, 0};
    size_t n = 10000, clen;
    uint8_t *a = malloc(n), *out = malloc(n + GUARD), *comp;
    struct dec_result r;
    OD_REQUIRE(a && out);
    memset(a, 'x', n);
    comp = encode(a, n, &c, &clen);
    OD_REQUIRE(comp != NULL);
    r = decode(props_of(&c), 1, comp, clen, out, n, FEED_RANDOM, 3);
    OD_CHECK_EQ(r.ret, OD_LZMA_STREAM_END);
    OD_CHECK_EQ(r.produced, n);
    OD_CHECK(memcmp(out, a, n) == 0);
    free(comp);
    /* "xy" repeated needs distance 2: one byte of history is a data error. */
    for (size_t i = 1; i < n; i += 2)
        a[i] = 'y';
    comp = encode(a, n, &c, &clen);
    OD_REQUIRE(comp != NULL);
    r = decode(props_of(&c), 1, comp, clen, out, n, FEED_ALL, 3);
    OD_CHECK_EQ(r.ret, OD_LZMA_DATA_ERROR);
    OD_CHECK(r.guard_ok);
    r = decode(props_of(&c), 2, comp, clen, out, n, FEED_BYTES, 3);
    OD_CHECK_EQ(r.ret, OD_LZMA_STREAM_END);
    OD_CHECK(memcmp(out, a, n) == 0);
    free(comp);
    free(a);
    free(out);
}

/* Distances beyond the dictionary or beyond the start of the stream. */
static void t_bad_distances(void)
{
    static const struct enc_cfg big = {3, 0, 2, 1u << 20, 6, NULL, 0};
    size_t n = 300000, clen;
    uint8_t *a = gen_random(n, 77), *out = malloc(n + GUARD), *comp;
    struct dec_result r;
    struct enc_cfg pre = {3, 0, 2, 65536, 6, NULL, 0};
    OD_REQUIRE(out != NULL);
    /* The last 20000 bytes repeat bytes 1000.. : distance ~ 280000. */
    memcpy(a + n - 20000, a + 1000, 20000);
    comp = encode(a, n, &big, &clen);
    OD_REQUIRE(comp != NULL);
    r = decode(props_of(&big), 1u << 20, comp, clen, out, n, FEED_ALL, 1);
    OD_CHECK_EQ(r.ret, OD_LZMA_STREAM_END);
    r = decode(props_of(&big), 65536, comp, clen, out, n, FEED_RANDOM, 1);
    OD_CHECK_EQ(r.ret, OD_LZMA_DATA_ERROR);
    OD_CHECK(r.guard_ok);
    OD_CHECK(r.produced <= n - 20000 && memcmp(out, a, r.produced) == 0);
    free(comp);

    /* With a preset dictionary the first packets point before the stream. */
    pre.preset_dict = a;
    pre.preset_dict_size = 4096;
    comp = encode(a, 4096, &pre, &clen);
    OD_REQUIRE(comp != NULL);
    r = decode(props_of(&pre), 65536, comp, clen, out, 4096, FEED_ALL, 1);
    OD_CHECK_EQ(r.ret, OD_LZMA_DATA_ERROR);
    OD_CHECK(r.produced < 4096);
    free(comp);
    free(a);
    free(out);
}

/* Every prefix of a stream: never STREAM_END, output a prefix of the truth. */
static void t_truncated(void)
{
    size_t n = 3000, clen, k, step;
    uint8_t *a = gen_mixed(n, 88), *comp = encode(a, n, &cfg_default, &clen), *out = malloc(n + GUARD);
    int f;
    OD_REQUIRE(comp && out);
    for (f = FEED_ALL; f <= FEED_BYTES; f++) {
        for (k = 0; k < clen; k++) {
            struct dec_result r = decode(props_of(&cfg_default), 1u << 20, comp, k, out, n,
                                         (enum feed)f, k);
            OD_CHECK_EQ(r.ret, OD_LZMA_BUF_ERROR);
            OD_CHECK(r.consumed == k);
            OD_CHECK(r.produced <= n && memcmp(out, a, r.produced) == 0);
            OD_CHECK(r.guard_ok);
        }
    }
    free(comp);
    free(a);

    /* A bigger stream, sampled prefixes, random feeding. */
    n = 400000;
    a = gen_mixed(n, 89);
    comp = encode(a, n, &cfg_default, &clen);
    out = realloc(out, n + GUARD);
    OD_REQUIRE(comp && out);
    step = clen / 150 + 1;
    for (k = 0; k < clen; k += step) {
        struct dec_result r = decode(props_of(&cfg_default), 1u << 20, comp, clen - 1 - k, out, n,
                                     FEED_RANDOM, k);
        OD_CHECK_EQ(r.ret, OD_LZMA_BUF_ERROR);
        OD_CHECK(r.produced <= n && memcmp(out, a, r.produced) == 0);
        OD_CHECK(r.guard_ok);
    }
    free(comp);
    free(a);
    free(out);
}

/* Corrupted streams: any return is fine but never a crash, never an
   out-of-bounds access (ASan), and never a clean end with the right bytes. */
static void t_corrupt(void)
{
    static const struct enc_cfg cfgs[] = {
        {3, 0, 2, 65536, 6, NULL, 0}, {0, 2, 2, 4096, 6, NULL, 0}, {2, 0, 0, 8192 + 512, 6, NULL, 0}};
    size_t n = 6000, clen, k, pos, i, cap = 3 * 6000;
    unsigned long long seed = 99;
    unsigned counts[5] = {0};
    size_t ref_n;
    int ref_end;
    for (i = 0; i < 3; i++) {
        /* The last one is long matches over a small dictionary. */
        uint8_t *a = i < 2 ? gen_mixed(n, 90 + i) : gen_compressible(n, 90 + i);
        uint8_t *comp = encode(a, n, &cfgs[i], &clen);
        uint8_t *bad = malloc(clen), *out = malloc(cap + GUARD), *ref = malloc(cap);
        OD_REQUIRE(comp && bad && out && ref);
        for (k = 0; k < 2000; k++) {
            struct dec_result r;
            unsigned flips = 1 + (k % 4 == 3 ? (unsigned)(od_test_rand(&seed) % 8) : 0), j;
            memcpy(bad, comp, clen);
            for (j = 0; j < flips; j++) {
                pos = (size_t)(od_test_rand(&seed) % clen);
                bad[pos] ^= (uint8_t)(1u << (od_test_rand(&seed) % 8));
            }
            /* Flips can cancel out; only a changed stream is a test. */
            if (memcmp(bad, comp, clen) == 0)
                continue;
            r = decode(props_of(&cfgs[i]), cfgs[i].dict, bad, clen, out, cap,
                       k % 5 == 0 ? FEED_RANDOM : FEED_ALL, k);
            OD_CHECK(r.guard_ok);
            OD_CHECK(r.ret == OD_LZMA_STREAM_END || r.ret == OD_LZMA_DATA_ERROR ||
                     r.ret == OD_LZMA_BUF_ERROR);
            if (r.ret == OD_LZMA_STREAM_END)
                OD_CHECK(r.produced != n || memcmp(out, a, n) != 0);
            /* Same verdict as liblzma, and the same bytes as far as both got. */
            ref_end = ref_decode(&cfgs[i], bad, clen, ref, cap, &ref_n);
            OD_CHECK_EQ(r.ret == OD_LZMA_STREAM_END, ref_end);
            OD_CHECK(memcmp(out, ref, r.produced < ref_n ? r.produced : ref_n) == 0);
            if (ref_end)
                OD_CHECK_EQ(r.produced, ref_n);
            counts[r.ret == OD_LZMA_STREAM_END ? 0 : r.ret == OD_LZMA_DATA_ERROR ? 1 : 2]++;
        }
        /* Pure noise (first byte 0 so the coder starts) exercises wild distances. */
        for (k = 0; k < 300; k++) {
            uint8_t *noise = gen_random(2000, 5000 + k);
            struct dec_result r;
            noise[0] = 0;
            r = decode(props_of(&cfgs[i]), cfgs[i].dict, noise, 2000, out, cap, FEED_ALL, k);
            OD_CHECK(r.guard_ok);
            ref_end = ref_decode(&cfgs[i], noise, 2000, ref, cap, &ref_n);
            OD_CHECK_EQ(r.ret == OD_LZMA_STREAM_END, ref_end);
            OD_CHECK(memcmp(out, ref, r.produced < ref_n ? r.produced : ref_n) == 0);
            counts[r.ret == OD_LZMA_STREAM_END ? 3 : 4]++;
            free(noise);
        }
        free(a);
        free(comp);
        free(bad);
        free(out);
        free(ref);
    }
    fprintf(stderr, "  corrupt: flipped -> %u end (wrong bytes), %u data error, %u stalled; "
                    "noise -> %u end, %u other\n",
            counts[0], counts[1], counts[2], counts[3], counts[4]);
}

/* Real firmware images from the shared corpus, if present. */
static void t_corpus(void)
{
    const char *dir = getenv("OD_CORPUS_DIR");
    static const struct enc_cfg cfgs[] = {{3, 0, 2, 1u << 20, 6, NULL, 0}, {0, 2, 2, 65536, 9, NULL, 0}};
    char path[4096], line[4096];
    FILE *tsv;
    int files = 0;
    if (!dir || !*dir)
        OD_SKIP("OD_CORPUS_DIR not set");
    snprintf(path, sizeof(path), "%s/pairs.tsv", dir);
    tsv = fopen(path, "r");
    if (!tsv)
        OD_SKIP("no %s", path);
    while (files < 4 && fgets(line, sizeof(line), tsv)) {
        char *col[5], *s = line;
        int c;
        size_t n;
        uint8_t *data;
        for (c = 0; c < 5; c++) {
            col[c] = s;
            s += strcspn(s, "\t\r\n");
            if (*s)
                *s++ = 0;
        }
        if (strcmp(col[0], "id") == 0 || !*col[4])
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, col[4]);
        data = od_test_read_file(path, &n);
        if (!data)
            continue;
        roundtrip(data, n, &cfgs[files % 2], FEED_ALL, (unsigned long long)files);
        roundtrip(data, n, &cfgs[files % 2], FEED_RANDOM, (unsigned long long)files);
        free(data);
        files++;
    }
    fclose(tsv);
    if (!files)
        OD_SKIP("no readable images listed in %s/pairs.tsv", dir);
    fprintf(stderr, "  corpus: %d images\n", files);
}

int main(void)
{
    OD_RUN(t_init_errors);
    OD_RUN(t_empty);
    OD_RUN(t_empty_big_lclp);
    OD_RUN(t_one_byte);
    OD_RUN(t_small_sizes);
    OD_RUN(t_buf_error);
    OD_RUN(t_exact_out_and_after_end);
    OD_RUN(t_tiny_dict);
    OD_RUN(t_bad_distances);
    OD_RUN(t_random_data);
    OD_RUN(t_compressible);
    OD_RUN(t_text);
    OD_RUN(t_props_matrix);
    OD_RUN(t_bytewise);
    OD_RUN(t_random_chunks);
    OD_RUN(t_truncated);
    OD_RUN(t_corrupt);
    OD_RUN(t_corpus);
    return od_test_summary();
}
