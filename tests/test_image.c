/*
 * test_image.c - od_diff_image_kind(): build outputs and packages are told
 * from raw images, and raw images (random bytes, the whole shared corpus)
 * are never mistaken for one.
 *
 * Records are built here with their checksums computed, then damaged one
 * way at a time; every prefix of a valid record is checked in a buffer of
 * exactly that size, so under ASan a read past len would fail. The CLI
 * tests (tests/cli/run.sh) check the same against files GNU objcopy writes.
 */
#include <stdint.h>

#include "od_diff.h"
#include "od_test.h"

/* Classifies a copy of p[0..n) in a buffer of exactly n bytes. */
static int kind_exact(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    int k;
    if (!b)
        abort();
    memcpy(b, p, n);
    k = od_diff_image_kind(b, n);
    free(b);
    return k;
}

static void put_hex(char *out, unsigned v)
{
    static const char d[] = "0123456789ABCDEF";
    out[0] = d[v >> 4 & 15];
    out[1] = d[v & 15];
}

/* One Intel HEX record (no line end) into out; returns its length. */
static size_t ihex_record(char *out, unsigned type, unsigned addr, const uint8_t *data, unsigned n)
{
    unsigned sum = n + (addr >> 8) + (addr & 0xFF) + type, i;
    size_t len = 0;
    out[len++] = ':';
    put_hex(out + len, n), len += 2;
    put_hex(out + len, addr >> 8), len += 2;
    put_hex(out + len, addr & 0xFF), len += 2;
    put_hex(out + len, type), len += 2;
    for (i = 0; i < n; i++, len += 2) {
        put_hex(out + len, data[i]);
        sum += data[i];
    }
    put_hex(out + len, (0x100 - (sum & 0xFF)) & 0xFF), len += 2;
    out[len] = '\0';
    return len;
}

/* One S-record of the given type with an alen-byte address (no line end). */
static size_t srec_record(char *out, unsigned type, unsigned alen, uint32_t addr,
                          const uint8_t *data, unsigned n)
{
    unsigned count = alen + n + 1, sum = count, i;
    size_t len = 0;
    out[len++] = 'S';
    out[len++] = (char)('0' + type);
    put_hex(out + len, count), len += 2;
    for (i = alen; i-- > 0; len += 2) {
        put_hex(out + len, addr >> (8 * i) & 0xFF);
        sum += addr >> (8 * i) & 0xFF;
    }
    for (i = 0; i < n; i++, len += 2) {
        put_hex(out + len, data[i]);
        sum += data[i];
    }
    put_hex(out + len, ~sum & 0xFF), len += 2;
    out[len] = '\0';
    return len;
}

static const uint8_t vec[16] = {0x00, 0x40, 0x00, 0x20, 0x55, 0x12, 0x00, 0x08,
                                0xA1, 0x70, 0x03, 0x00, 0xFF, 0x3A, 0x0A, 0x53};

static void t_elf(void)
{
    uint8_t h[64];
    memset(h, 0, sizeof(h));
    memcpy(h, "\177ELF\001\001\001", 7); /* 32-bit little-endian, as arm-none-eabi writes */
    OD_CHECK_EQ(kind_exact(h, sizeof(h)), OD_IMAGE_ELF);
    OD_CHECK_EQ(kind_exact(h, 7), OD_IMAGE_ELF);
    OD_CHECK_EQ(kind_exact(h, 6), OD_IMAGE_RAW);
    h[4] = 2, h[5] = 2; /* 64-bit big-endian */
    OD_CHECK_EQ(kind_exact(h, sizeof(h)), OD_IMAGE_ELF);
    h[4] = 3; /* no such class */
    OD_CHECK_EQ(kind_exact(h, sizeof(h)), OD_IMAGE_RAW);
    h[4] = 1, h[6] = 0; /* no such version */
    OD_CHECK_EQ(kind_exact(h, sizeof(h)), OD_IMAGE_RAW);
    h[6] = 1, h[0] = 0x7E;
    OD_CHECK_EQ(kind_exact(h, sizeof(h)), OD_IMAGE_RAW);
}

static void t_ihex(void)
{
    char rec[600], text[700];
    uint8_t big[255];
    size_t n = ihex_record(rec, 0, 0x0100, vec, 16), k;
    unsigned i;

    /* A whole file, its first record alone, and each line end. */
    snprintf(text, sizeof(text), "%s\r\n:00000001FF\r\n", rec);
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_IHEX);
    snprintf(text, sizeof(text), "%s\n", rec);
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_IHEX);
    OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_IHEX);
    /* Every shorter prefix is incomplete: raw. */
    for (k = 0; k < n; k++)
        OD_CHECK_EQ(kind_exact(rec, k), OD_IMAGE_RAW);
    /* Lower-case digits are read too; other record types 1-5 count. */
    for (k = 1; k < n; k++)
        text[k] = (char)(rec[k] >= 'A' ? rec[k] - 'A' + 'a' : rec[k]);
    text[0] = ':';
    OD_CHECK_EQ(kind_exact(text, n), OD_IMAGE_IHEX);
    for (i = 1; i <= 5; i++) {
        n = ihex_record(rec, i, 0, vec, i == 1 ? 0 : i == 3 || i == 5 ? 4 : 2);
        OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_IHEX);
    }
    /* The longest record still fits the probe. */
    for (i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    n = ihex_record(rec, 0, 0, big, 255);
    memcpy(text, rec, n);
    text[n] = '\n';
    OD_CHECK_EQ(kind_exact(text, n + 1), OD_IMAGE_IHEX);

    /* As editors and Windows tools save text: a UTF-8 byte order mark,
     * blank lines, indentation. */
    n = ihex_record(rec, 0, 0x0100, vec, 16);
    snprintf(text, sizeof(text), "\xEF\xBB\xBF%s\r\n", rec);
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_IHEX);
    snprintf(text, sizeof(text), "\r\n\n  \t%s\n", rec);
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_IHEX);
    snprintf(text, sizeof(text), "\xEF\xBB%s\n", rec); /* half a mark: not text */
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_RAW);
    /* Only the first OD_IMAGE_PROBE bytes count: a record whose last
     * character lies past them is not seen, whether or not the caller
     * passes more; one that ends exactly there is whole. */
    {
        static char pad[OD_IMAGE_PROBE + 64];
        size_t lead;
        for (lead = OD_IMAGE_PROBE - n; lead <= OD_IMAGE_PROBE - n + 1; lead++) {
            memset(pad, ' ', lead);
            memcpy(pad + lead, rec, n);
            pad[lead + n] = '\n';
            OD_CHECK_EQ(kind_exact(pad, lead + n + 1),
                        lead + n <= OD_IMAGE_PROBE ? OD_IMAGE_IHEX : OD_IMAGE_RAW);
        }
    }

    /* Damage, one way at a time. */
    for (k = 1; k < n; k++) { /* any digit changed: checksum or digit fails */
        memcpy(text, rec, n + 1);
        text[k] = text[k] == '0' ? '1' : '0';
        OD_CHECK_EQ(kind_exact(text, n), OD_IMAGE_RAW);
    }
    memcpy(text, rec, n + 1);
    text[5] = 'G';
    OD_CHECK_EQ(kind_exact(text, n), OD_IMAGE_RAW);
    snprintf(text, sizeof(text), "%sX", rec); /* no line end after it */
    OD_CHECK_EQ(kind_exact(text, n + 1), OD_IMAGE_RAW);
    n = ihex_record(rec, 6, 0, vec, 2); /* no such record type */
    OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_RAW);
}

static void t_srec(void)
{
    char rec[600], text[700];
    size_t n = srec_record(rec, 0, 2, 0, (const uint8_t *)"hdr", 3), k;
    static const unsigned alen[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
    unsigned t;

    snprintf(text, sizeof(text), "%s\r\n", rec);
    OD_CHECK_EQ(kind_exact(text, strlen(text)), OD_IMAGE_SREC);
    for (k = 0; k < n; k++)
        OD_CHECK_EQ(kind_exact(rec, k), OD_IMAGE_RAW);
    for (t = 0; t <= 9; t++) {
        if (t == 4)
            continue;
        n = srec_record(rec, t, alen[t], 0x08001234u & ((1ull << 8 * alen[t]) - 1), vec,
                        t >= 1 && t <= 3 ? 16 : 0);
        OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_SREC);
        memcpy(text, rec, n + 1);
        text[n - 1] = text[n - 1] == '0' ? '1' : '0'; /* checksum */
        OD_CHECK_EQ(kind_exact(text, n), OD_IMAGE_RAW);
    }
    n = srec_record(rec, 4, 2, 0, vec, 4); /* S4 is reserved */
    OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_RAW);
    /* A count too small for the S3 address and checksum. */
    n = srec_record(rec, 3, 2, 0, vec, 0);
    OD_CHECK_EQ(kind_exact(rec, n), OD_IMAGE_RAW);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void t_uf2(void)
{
    uint8_t b[1024];
    memset(b, 0, sizeof(b));
    put32(b, 0x0A324655u);
    put32(b + 4, 0x9E5D5157u);
    put32(b + 508, 0x0AB16F30u);
    OD_CHECK_EQ(kind_exact(b, sizeof(b)), OD_IMAGE_UF2);
    OD_CHECK_EQ(kind_exact(b, 512), OD_IMAGE_UF2);
    OD_CHECK_EQ(kind_exact(b, 511), OD_IMAGE_RAW);
    put32(b + 508, 0);
    OD_CHECK_EQ(kind_exact(b, sizeof(b)), OD_IMAGE_RAW);
}

static void t_package(void)
{
    od_diff_params p;
    uint8_t img[3000], *pkg = NULL;
    size_t size = 0, i;
    unsigned long long s = 7;

    for (i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)od_test_rand(&s);
    od_diff_params_init(&p);
    p.kind = OD_KIND_FULL;
    p.target_version = "1.0";
    OD_REQUIRE(od_diff_create(NULL, 0, img, sizeof(img), &p, &pkg, &size) == OD_DIFF_OK);
    OD_CHECK_EQ(kind_exact(pkg, size), OD_IMAGE_PACKAGE);
    OD_CHECK_EQ(kind_exact(pkg, OD_MAGIC_LEN), OD_IMAGE_PACKAGE);
    OD_CHECK_EQ(kind_exact(pkg, OD_MAGIC_LEN - 1), OD_IMAGE_RAW);
    free(pkg);
}

static void t_raw(void)
{
    uint8_t b[4096];
    const char *hint;
    unsigned long long s = 1;
    size_t i, k;
    int kind;

    OD_CHECK_EQ(od_diff_image_kind(NULL, 0), OD_IMAGE_RAW);
    OD_CHECK_EQ(kind_exact(b, 0), OD_IMAGE_RAW);
    /* Random images, with the first bytes each format starts with. */
    for (k = 0; k < 2000; k++) {
        for (i = 0; i < sizeof(b); i++)
            b[i] = (uint8_t)od_test_rand(&s);
        b[0] = "\177:SU"[k % 4];
        OD_CHECK_EQ(kind_exact(b, sizeof(b)), OD_IMAGE_RAW);
    }
    /* Erased flash and blank text. */
    memset(b, 0xFF, sizeof(b));
    OD_CHECK_EQ(kind_exact(b, sizeof(b)), OD_IMAGE_RAW);
    memset(b, 0, sizeof(b));
    OD_CHECK_EQ(kind_exact(b, sizeof(b)), OD_IMAGE_RAW);
    /* Names and hints: every kind but raw has both; the hints' IN is
     * where the CLI puts the file name. */
    OD_CHECK(!strcmp(od_diff_image_kind_name(OD_IMAGE_RAW, &hint), "a raw image") && !*hint);
    OD_CHECK(!strcmp(od_diff_image_kind_name(99, NULL), "a raw image"));
    for (kind = OD_IMAGE_ELF; kind <= OD_IMAGE_PACKAGE; kind++) {
        OD_CHECK(strcmp(od_diff_image_kind_name(kind, &hint), "a raw image") != 0);
        OD_CHECK(*hint);
        OD_CHECK(kind == OD_IMAGE_PACKAGE || strstr(hint, " IN "));
    }
}

/* Every image of the shared corpus is a raw flash image. */
static void t_corpus(void)
{
    od_test_corpus c;
    const char *why;
    int n = 0;
    if (!od_test_corpus_open(&c, &why))
        OD_SKIP("shared corpus: %s", why);
    while (od_test_corpus_next(&c)) {
        const char *paths[2] = {c.old_path, c.new_path};
        int i;
        for (i = 0; i < 2; i++) {
            size_t size;
            uint8_t *img = od_test_read_file(paths[i], &size);
            OD_CHECK(img != NULL);
            if (img && od_diff_image_kind(img, size) != OD_IMAGE_RAW) {
                fprintf(stderr, "%s: %s taken for %s\n", c.id, paths[i],
                        od_diff_image_kind_name(od_diff_image_kind(img, size), NULL));
                OD_CHECK(0);
            }
            free(img);
            n++;
        }
    }
    od_test_corpus_close(&c);
    OD_CHECK(n >= 2);
}

int main(void)
{
    OD_RUN(t_elf);
    OD_RUN(t_ihex);
    OD_RUN(t_srec);
    OD_RUN(t_uf2);
    OD_RUN(t_package);
    OD_RUN(t_raw);
    OD_RUN(t_corpus);
    return od_test_summary();
}
