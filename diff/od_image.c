/*
 * od_image.c - tells a raw flash image from the build outputs and packages
 * people hand the generator by mistake (od_diff.h, od_diff_image_kind).
 *
 * Each format is recognised only by a complete, self-consistent start: an
 * ELF identification, a text record whose length and checksum agree, the
 * three magics of a UF2 block. A raw image would have to begin with such
 * a structure by chance, which real firmware does not (it begins with a
 * vector table, a jump or a boot header); on the shared corpus every image
 * is classified raw (tests/test_image.c).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "od_diff.h"

/* The byte written as two hex digits at p[0..1], or -1. */
static int hex_byte(const uint8_t *p)
{
    int hi = OPENSSL_hexchar2int(p[0]), lo = OPENSSL_hexchar2int(p[1]);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/*
 * Whether p[0..len) starts with one whole record of hex byte pairs after
 * a prefix of skip characters, and a line end (or the end of the file):
 * count pairs, whose sum plus bias is 0 modulo 256 when the record's
 * checksum is right. Both formats' checksums are this sum: Intel HEX
 * makes the sum of all bytes 0 (bias 0), S-record makes the sum of count,
 * address and data the checksum's ones' complement (bias 1).
 */
static int text_record(const uint8_t *p, size_t len, size_t skip, size_t count, unsigned bias)
{
    size_t i, end = skip + 2 * count;
    unsigned sum = bias;
    if (len < end)
        return 0;
    for (i = skip; i < end; i += 2) {
        int b = hex_byte(p + i);
        if (b < 0)
            return 0;
        sum += (unsigned)b;
    }
    return (sum & 0xFF) == 0 && (end == len || p[end] == '\n' || p[end] == '\r');
}

/* ":LLAAAATT<LL data bytes>CC", record types 00-05. */
static int is_ihex(const uint8_t *p, size_t len)
{
    int n, type;
    if (len < 11 || p[0] != ':' || (n = hex_byte(p + 1)) < 0 || (type = hex_byte(p + 7)) < 0 ||
        type > 5)
        return 0;
    return text_record(p, len, 1, 5 + (size_t)n, 0);
}

/* "S<type><count><address><data><checksum>": count bytes follow the count
 * field; the address is 2, 3 or 4 bytes by type (S4 is reserved). */
static int is_srec(const uint8_t *p, size_t len)
{
    static const uint8_t addr_len[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
    int n;
    if (len < 10 || p[0] != 'S' || p[1] < '0' || p[1] > '9' || p[1] == '4' ||
        (n = hex_byte(p + 2)) < 0 || n < addr_len[p[1] - '0'] + 1)
        return 0;
    return text_record(p, len, 2, 1 + (size_t)n, 1);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int od_diff_image_kind(const uint8_t *head, size_t len)
{
    size_t t = 0;
    /* Only the first OD_IMAGE_PROBE bytes count, so that a caller holding
     * the whole file (the CLI) and one holding its start (the server's
     * upload) agree. */
    if (!head)
        return OD_IMAGE_RAW;
    if (len > OD_IMAGE_PROBE)
        len = OD_IMAGE_PROBE;
    /* ELF identification: class 32/64-bit, either byte order, version 1. */
    if (len >= 7 && !memcmp(head, "\177ELF", 4) && (head[4] == 1 || head[4] == 2) &&
        (head[5] == 1 || head[5] == 2) && head[6] == 1)
        return OD_IMAGE_ELF;
    if (len >= 512 && le32(head) == 0x0A324655u && le32(head + 4) == 0x9E5D5157u &&
        le32(head + 508) == 0x0AB16F30u)
        return OD_IMAGE_UF2;
    if (len >= OD_MAGIC_LEN && !memcmp(head, od_pkg_magic, OD_MAGIC_LEN))
        return OD_IMAGE_PACKAGE;
    /* Text as editors and Windows tools save it: a UTF-8 byte order mark,
     * blank lines or indentation before the first record. */
    if (len >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF)
        t = 3;
    while (t < len && (head[t] == ' ' || head[t] == '\t' || head[t] == '\r' || head[t] == '\n'))
        t++;
    if (is_ihex(head + t, len - t))
        return OD_IMAGE_IHEX;
    if (is_srec(head + t, len - t))
        return OD_IMAGE_SREC;
    return OD_IMAGE_RAW;
}

const char *od_diff_image_kind_name(int kind, const char **hint)
{
    const char *name = "a raw image", *h = "";
    switch (kind) {
    case OD_IMAGE_ELF:
        name = "an ELF file";
        h = "extract the flash image with the objcopy of the toolchain that built it "
            "(ESP32: esptool.py elf2image), for Arm: arm-none-eabi-objcopy -O binary IN OUT.bin";
        break;
    case OD_IMAGE_IHEX:
        name = "an Intel HEX file";
        h = "convert it with objcopy, filling gaps as erased flash: "
            "objcopy -I ihex -O binary --gap-fill 0xFF IN OUT.bin";
        break;
    case OD_IMAGE_SREC:
        name = "a Motorola S-record file";
        h = "convert it with objcopy, filling gaps as erased flash: "
            "objcopy -I srec -O binary --gap-fill 0xFF IN OUT.bin";
        break;
    case OD_IMAGE_UF2:
        name = "a UF2 file";
        h = "convert it with Microsoft's uf2conv.py: uf2conv.py IN --convert --output OUT.bin";
        break;
    case OD_IMAGE_PACKAGE:
        name = "an otadelta package";
        h = "give the firmware images the package is made from, not a package";
        break;
    default:
        break;
    }
    if (hint)
        *hint = h;
    return name;
}
