/*
 * mkfiles.c - regenerates the sample packages in tests/files.
 *
 *     mkfiles [DIR]        (DIR defaults to the current directory)
 *
 * The good-* samples come straight from the generator (recipes in
 * od_sample_images.h). Every bad-* and unsupported-* sample is a good one
 * with one deliberate defect; whatever the defect does not concern is kept
 * consistent (header CRC, index CRC, block CRC trailers, payload SHA-256
 * recomputed) so that exactly the documented check is the one that fails.
 * tests/files/README.md lists what each file is and the error it must give.
 *
 * Output is deterministic. The samples are a compatibility corpus: once
 * committed they are not regenerated just because the generator changed
 * (its output may legitimately change); regenerate them only when the
 * sample images or this program change, and update README.md with them.
 *
 * Not built by default: configure with -DOD_BUILD_MKFILES=ON, or
 * `cmake --build BUILD --target mkfiles`, or the gcc line in README.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "od_diff.h"
#include "od_pkgfmt_host.h"
#include "od_sample_images.h"

/* Core header field offsets: OD_HF_* in pkgfmt/od_pkgfmt.h (FORMAT.md). */
enum {
    H_VERSION = OD_HF_VERSION,
    H_HDR_SIZE = OD_HF_HDR_SIZE,
    H_KIND = OD_HF_KIND,
    H_CODEC = OD_HF_CODEC,
    H_FILTER = OD_HF_FILTER,
    H_PROPS = OD_HF_PROPS,
    H_PAGE_LOG2 = OD_HF_PAGE_LOG2,
    H_RAM = OD_HF_RAM,
    H_BLOCK_COUNT = OD_HF_BLOCK_COUNT,
    H_SRC_SIZE = OD_HF_SRC_SIZE,
    H_FLAGS = OD_HF_FLAGS,
    H_TGT_SHA = OD_HF_TGT_SHA,
    H_PAYLOAD_SIZE = OD_HF_PAYLOAD_SIZE,
    H_PAYLOAD_SHA = OD_HF_PAYLOAD_SHA,
    H_SRC_VER_LEN = OD_HF_SRC_VER_LEN,
    H_TGT_VER_LEN = OD_HF_TGT_VER_LEN
};

static const char *outdir = ".";
static uint8_t *imgs[3];
static size_t sizes[3];
static int failures;

/* A package being edited: owned bytes and size. */
typedef struct pkgbuf {
    uint8_t *p;
    size_t n;
} pkgbuf;

static void die(const char *what)
{
    fprintf(stderr, "mkfiles: %s\n", what);
    exit(1);
}

/* A copy of src followed by the n bytes of tail. */
static pkgbuf copy_plus(pkgbuf src, const void *tail, size_t n)
{
    pkgbuf d;
    d.n = src.n + n;
    d.p = malloc(d.n + 1);
    if (!d.p)
        die("out of memory");
    memcpy(d.p, src.p, src.n);
    memcpy(d.p + src.n, tail, n);
    return d;
}

static pkgbuf copy_of(pkgbuf src)
{
    return copy_plus(src, "", 0);
}

static od_pkg_header header_of(pkgbuf b)
{
    od_pkg_header h;
    if (od_pkg_parse_header(b.p, b.n, &h) != OD_PKG_OK)
        die("a base package does not parse");
    return h;
}

/* Offset of the target version string (it follows the source's). */
static uint32_t tgt_ver(pkgbuf b)
{
    return OD_HF_STRINGS + b.p[H_SRC_VER_LEN];
}

/* The header CRC over the bytes before it, as a writer would store it. */
static void fix_header_crc(pkgbuf b)
{
    od_pkg_fix_crcs(b.p, b.n, OD_PKG_FIX_HEADER_CRC);
}

/* Recomputes index_crc32 from the index bytes, then the header CRC. */
static void fix_index_crc(pkgbuf b)
{
    od_pkg_fix_crcs(b.p, b.n, OD_PKG_FIX_INDEX_CRC | OD_PKG_FIX_HEADER_CRC);
}

/* Recomputes every block's CRC trailer from its stream bytes. */
static void fix_block_crcs(pkgbuf b)
{
    od_pkg_header h = header_of(b);
    const uint8_t *idx = b.p + od_pkg_index_offset(&h);
    uint8_t *payload = b.p + od_pkg_payload_offset(&h);
    uint32_t i;
    for (i = 0; i < h.block_count; i++) {
        uint32_t start = od_get_le32(idx + i * OD_INDEX_ENTRY_SIZE);
        uint32_t end = i + 1 < h.block_count ? od_get_le32(idx + (i + 1) * OD_INDEX_ENTRY_SIZE)
                                             : h.payload_size;
        od_put_le32(payload + end - OD_BLOCK_TRAILER,
              od_crc32(0, payload + start, end - OD_BLOCK_TRAILER - start));
    }
}

static void save(const char *name, pkgbuf b)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", outdir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n || fclose(f) != 0) {
        fprintf(stderr, "mkfiles: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (b.n >= 20 * 1024) {
        fprintf(stderr, "mkfiles: %s is %zu bytes; samples must stay under 20 KiB\n", name, b.n);
        failures++;
    }
    printf("%-40s %6zu bytes\n", name, b.n);
}

/* Saves a derived sample and frees it. */
static void save_free(const char *name, pkgbuf b)
{
    save(name, b);
    free(b.p);
}

/*
 * Rebuilds base with a different extension area (the writer recomputes the
 * index CRC, payload hash and header CRC); the blocks are unchanged.
 */
static pkgbuf with_extensions(pkgbuf base, const uint8_t *ext, uint32_t ext_size)
{
    od_pkg_header h = header_of(base);
    const uint8_t *idx = base.p + od_pkg_index_offset(&h);
    uint32_t *offs = malloc(sizeof(uint32_t) * (h.block_count + 1));
    uint32_t *outs = malloc(sizeof(uint32_t) * (h.block_count + 1));
    uint32_t i;
    pkgbuf r;

    if (!offs || !outs)
        die("out of memory");
    for (i = 0; i < h.block_count; i++) {
        offs[i] = od_get_le32(idx + i * OD_INDEX_ENTRY_SIZE);
        outs[i] = od_get_le32(idx + i * OD_INDEX_ENTRY_SIZE + 4);
    }
    if (od_pkg_assemble(&h, ext, ext_size, offs, outs, h.block_count,
                        base.p + od_pkg_payload_offset(&h), h.payload_size, &r.p, &r.n) != 0)
        die("od_pkg_assemble failed");
    free(offs);
    free(outs);
    return r;
}

/* Appends one TLV record to ext at *n. */
static void tlv(uint8_t *ext, uint32_t *n, uint16_t type, const void *value, uint16_t len)
{
    od_put_le16(ext + *n, type);
    od_put_le16(ext + *n + 2, len);
    memcpy(ext + *n + 4, value, len);
    *n += 4u + len;
}

/* ---- hand-made delta op streams (codec none, one block) ---- */

typedef struct rawbuf {
    uint8_t p[OD_SAMPLE_MAX_IMAGE + 64];
    size_t n;
} rawbuf;

static void raw_varint(rawbuf *r, uint32_t v)
{
    while (v >= 0x80) {
        r->p[r->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    r->p[r->n++] = (uint8_t)v;
}

static void raw_bytes(rawbuf *r, const uint8_t *b, size_t n)
{
    memcpy(r->p + r->n, b, n);
    r->n += n;
}

/*
 * Wraps one raw delta block stream (codec none) in a package for v1 -> v2
 * with the true image sizes, hashes and versions, so that only the op
 * stream is wrong; od_pkg_check() has nothing to object to.
 */
static pkgbuf hand_made_delta(const rawbuf *raw)
{
    od_pkg_header h;
    uint8_t *payload = malloc(raw->n + OD_BLOCK_TRAILER);
    uint32_t zero = 0;
    pkgbuf r;

    if (!payload)
        die("out of memory");
    memcpy(payload, raw->p, raw->n);
    od_put_le32(payload + raw->n, od_crc32(0, raw->p, raw->n));
    memset(&h, 0, sizeof(h));
    h.kind = OD_KIND_DELTA;
    h.codec = OD_CODEC_NONE;
    h.page_size = 256;
    h.erase_size = 4096;
    h.ram_needed = 256;
    h.source_size = (uint32_t)sizes[OD_SAMPLE_V1];
    h.target_size = (uint32_t)sizes[OD_SAMPLE_V2];
    h.block_size = (h.target_size + 4095u) / 4096u * 4096u;
    od_pkg_hash_image(imgs[OD_SAMPLE_V1], sizes[OD_SAMPLE_V1], h.source_md5, h.source_sha256);
    od_pkg_hash_image(imgs[OD_SAMPLE_V2], sizes[OD_SAMPLE_V2], h.target_md5, h.target_sha256);
    strcpy(h.source_version, "1.0.0");
    strcpy(h.target_version, "1.1.0");
    if (od_pkg_assemble(&h, NULL, 0, &zero, &zero, 1, payload, (uint32_t)(raw->n + OD_BLOCK_TRAILER),
                        &r.p, &r.n) != 0)
        die("od_pkg_assemble failed");
    free(payload);
    return r;
}

/* Position of a generator-made sample in od_sample_recipes. */
static size_t recipe_index(const char *name)
{
    const od_sample_recipe *r = od_sample_find_recipe(name);
    if (!r)
        die("a base recipe is missing from od_sample_images.h");
    return (size_t)(r - od_sample_recipes);
}

int main(int argc, char **argv)
{
    pkgbuf good[OD_SAMPLE_NRECIPES];
    pkgbuf b, lzma, full_lzma, full_none, multi;
    od_pkg_header h;
    size_t i;
    int v;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: mkfiles [DIR]\n");
        return 1;
    }
    if (argc == 2)
        outdir = argv[1];
    for (v = OD_SAMPLE_EMPTY; v <= OD_SAMPLE_V2; v++)
        if (!(imgs[v] = od_sample_image(v, &sizes[v])))
            die("cannot build the sample images");

    /* ---- good-*: straight from the generator ---- */
    for (i = 0; i < OD_SAMPLE_NRECIPES; i++) {
        int r = od_sample_build(&od_sample_recipes[i], imgs, sizes, &good[i].p, &good[i].n);
        if (r != OD_DIFF_OK) {
            fprintf(stderr, "mkfiles: %s: %s\n", od_sample_recipes[i].name, od_diff_strerror(r));
            return 1;
        }
        save(od_sample_recipes[i].name, good[i]);
    }
    lzma = good[recipe_index("good-delta-lzma.otad")];
    full_lzma = good[recipe_index("good-full-lzma.otad")];
    full_none = good[recipe_index("good-full-none.otad")];
    multi = good[recipe_index("good-multi-block.otad")];
    if (header_of(multi).block_count < 4)
        die("good-multi-block.otad needs at least 4 blocks");

    /* Extensions the applier must skip: a note, and an unknown
     * non-critical type next to an empty note. */
    {
        static const char note[] = "sample package made by tests/files/mkfiles.c";
        static const uint8_t unknown[] = {0xDE, 0xAD, 0xBE, 0xEF, 0x01};
        uint8_t ext[256];
        uint32_t n = 0;
        tlv(ext, &n, OD_TLV_NOTE, note, (uint16_t)(sizeof(note) - 1));
        save_free("good-note-extension.otad", with_extensions(lzma, ext, n));
        n = 0;
        tlv(ext, &n, 0x7ABC, unknown, sizeof(unknown));
        tlv(ext, &n, OD_TLV_NOTE, "", 0);
        save_free("good-unknown-extension.otad", with_extensions(lzma, ext, n));
    }

    /* ---- bad-*: magic and header ---- */
    b = copy_of(lzma);
    b.p[0] = 'o'; /* "oTAD" */
    save_free("bad-magic.otad", b);

    /* Text-mode damage: every LF became CR LF (the magic shows it). */
    b.p = malloc(lzma.n * 2);
    if (!b.p)
        die("out of memory");
    for (b.n = 0, i = 0; i < lzma.n; i++) {
        if (lzma.p[i] == '\n')
            b.p[b.n++] = '\r';
        b.p[b.n++] = lzma.p[i];
    }
    save_free("bad-magic-crlf.otad", b);

    b = copy_of(lzma);
    b.p[tgt_ver(b) + 4] = '1'; /* "1.1.0" -> "1.1.1", CRC left stale */
    save_free("bad-header-crc.otad", b);

    /* Field rules, each with the header CRC recomputed. */
    b = copy_of(lzma);
    /* Checked before the CRC (which it would say where to find). */
    od_put_le16(b.p + H_HDR_SIZE, OD_HDR_MAX + 1);
    save_free("bad-field-header-size.otad", b);

    b = copy_of(lzma);
    b.p[H_KIND] = 3;
    fix_header_crc(b);
    save_free("bad-field-kind.otad", b);

    b = copy_of(lzma);
    od_put_le32(b.p + H_RAM, od_get_le32(b.p + H_RAM) - 1);
    fix_header_crc(b);
    save_free("bad-field-ram-needed.otad", b);

    b = copy_of(lzma);
    b.p[H_PAGE_LOG2] = 3; /* 8-byte pages, below the minimum of 16 */
    fix_header_crc(b);
    save_free("bad-field-page-size.otad", b);

    b = copy_of(lzma);
    b.p[H_PROPS] = 225; /* lzma props must be below 225 */
    fix_header_crc(b);
    save_free("bad-field-lzma-props.otad", b);

    b = copy_of(lzma);
    od_put_le32(b.p + H_BLOCK_COUNT, 0); /* no blocks for a non-empty target */
    fix_header_crc(b);
    save_free("bad-field-block-count.otad", b);

    b = copy_of(lzma);
    b.p[H_TGT_VER_LEN]++; /* 5 + 6 string bytes where header_size leaves 10 */
    fix_header_crc(b);
    save_free("bad-field-version-lengths.otad", b);

    b = copy_of(full_lzma);
    od_put_le32(b.p + H_SRC_SIZE, 16); /* a full package has no source */
    fix_header_crc(b);
    save_free("bad-field-full-source-size.otad", b);

    b = copy_of(lzma);
    b.p[tgt_ver(b) + 3] = ' '; /* "1.1 0" */
    fix_header_crc(b);
    save_free("bad-version-string.otad", b);

    b = copy_of(lzma);
    b.p[tgt_ver(b) + 3] = 0; /* "1.1\0" "0": a C string would read "1.1" */
    fix_header_crc(b);
    save_free("bad-version-nul.otad", b);

    b = copy_of(lzma);
    b.p[H_SRC_VER_LEN] = 10; /* source "1.0.01.1.0", target "" */
    b.p[H_TGT_VER_LEN] = 0;
    fix_header_crc(b);
    save_free("bad-version-empty-target.otad", b);

    /* ---- bad-*: extensions ---- */
    {
        static const uint8_t overrun[] = {0x02, 0x00, 20, 0x00, 'o', 'n', 'l', 'y', ' ',
                                          't', 'e', 'n', ' ', '!'}; /* says 20, has 10 */
        static const uint8_t short_head[] = {0x02, 0x00};
        static const char must[] = "must understand";
        uint8_t ext[64];
        uint32_t n = 0;
        save_free("bad-tlv-overrun.otad", with_extensions(lzma, overrun, sizeof(overrun)));
        save_free("bad-tlv-short.otad", with_extensions(lzma, short_head, sizeof(short_head)));
        tlv(ext, &n, (uint16_t)(OD_TLV_CRITICAL | 0x0123), must, (uint16_t)(sizeof(must) - 1));
        save_free("unsupported-critical-extension.otad", with_extensions(lzma, ext, n));
    }

    /* ---- bad-*: block index (multi-block base) ---- */
    h = header_of(multi);
    b = copy_of(multi);
    { /* entry 1's payload offset moved by one: still within the rules,
       * so only the index CRC tells */
        uint8_t *e1 = b.p + od_pkg_index_offset(&h) + OD_INDEX_ENTRY_SIZE;
        od_put_le32(e1, od_get_le32(e1) + 1);
    }
    save_free("bad-index-crc.otad", b);

    b = copy_of(multi);
    { /* entries 1 and 2 swapped, CRC recomputed: out of order */
        uint8_t tmp[OD_INDEX_ENTRY_SIZE], *e1 = b.p + od_pkg_index_offset(&h) + OD_INDEX_ENTRY_SIZE;
        memcpy(tmp, e1, OD_INDEX_ENTRY_SIZE);
        memcpy(e1, e1 + OD_INDEX_ENTRY_SIZE, OD_INDEX_ENTRY_SIZE);
        memcpy(e1 + OD_INDEX_ENTRY_SIZE, tmp, OD_INDEX_ENTRY_SIZE);
    }
    fix_index_crc(b);
    save_free("bad-index-order.otad", b);

    b = copy_of(multi);
    { /* entry 3's output offset moved one erase unit on (6144 instead of
       * 5120): within every index rule and CRC-consistent, but not where
       * block 2's output ends. A resumed update would write there. */
        uint8_t *e3 = b.p + od_pkg_index_offset(&h) + 3 * OD_INDEX_ENTRY_SIZE;
        if (od_get_le32(e3 + 4) != 5 * 1024 || od_get_le32(e3 + 4 + OD_INDEX_ENTRY_SIZE) != 7 * 1024)
            die("good-multi-block.otad's blocks moved: update bad-index-out-offset");
        od_put_le32(e3 + 4, 6 * 1024);
    }
    fix_index_crc(b);
    save_free("bad-index-out-offset.otad", b);

    /* ---- bad-*: payload ---- */
    h = header_of(lzma);
    b = copy_of(lzma);
    b.p[od_pkg_payload_offset(&h) + h.payload_size / 2] ^= 0x10;
    save_free("bad-block-crc.otad", b);

    /* A literal target byte changed, block CRC recomputed: the stream
     * decodes fine, only the payload SHA-256 catches it. */
    h = header_of(full_none);
    b = copy_of(full_none);
    b.p[od_pkg_payload_offset(&h) + 1000] ^= 0x01;
    fix_block_crcs(b);
    save_free("bad-payload-sha.otad", b);

    /* No blocks, so an empty payload: its SHA-256 is still bound. */
    b = copy_of(good[recipe_index("good-empty-target.otad")]);
    b.p[H_PAYLOAD_SHA] ^= 0x01;
    fix_header_crc(b);
    save_free("bad-empty-payload-sha.otad", b);

    b = copy_of(lzma);
    b.n -= 100;
    save_free("bad-truncated.otad", b);

    b = copy_plus(lzma, "\n\0\n", 3);
    save_free("bad-trailing-bytes.otad", b);

    /* payload_size 7 bytes past the last block, and those 7 bytes there:
     * the payload SHA-256 still covers just the blocks, so only the last
     * block's end against payload_size tells. */
    h = header_of(lzma);
    b = copy_plus(lzma, "spare!\n", 7);
    od_put_le32(b.p + H_PAYLOAD_SIZE, h.payload_size + 7);
    fix_header_crc(b);
    save_free("bad-payload-size-spare.otad", b);

    /* Ops the applier must refuse; everything else consistent. */
    {
        static rawbuf raw;
        const uint8_t *v2 = imgs[OD_SAMPLE_V2];
        uint32_t n1 = (uint32_t)sizes[OD_SAMPLE_V1], n2 = (uint32_t)sizes[OD_SAMPLE_V2];

        /* One op whose add part reads 16 bytes from 8 before the source's end. */
        raw.n = 0;
        raw_varint(&raw, n2);      /* out_len */
        raw_varint(&raw, n1 - 8);  /* old_pos */
        raw_varint(&raw, 16);      /* add */
        raw_varint(&raw, n2 - 16); /* extra */
        raw_varint(&raw, 0);       /* seek */
        raw_varint(&raw, 16);      /* zero run covering the add part */
        raw_bytes(&raw, v2 + 16, n2 - 16);
        save_free("bad-op-out-of-range.otad", hand_made_delta(&raw));

        /* The first op seeks past the source's end. */
        raw.n = 0;
        raw_varint(&raw, n2);
        raw_varint(&raw, 0);
        raw_varint(&raw, 4);      /* add: the initial stack pointer, unchanged */
        raw_varint(&raw, 0);
        raw_varint(&raw, n1 * 2); /* zigzag(+n1): cursor 4 + n1 > source_size */
        raw_varint(&raw, 4);
        raw_varint(&raw, 0);      /* second op: the rest, literal */
        raw_varint(&raw, n2 - 4);
        raw_varint(&raw, 0);
        raw_bytes(&raw, v2 + 4, n2 - 4);
        save_free("bad-op-seek.otad", hand_made_delta(&raw));
    }

    /* A full package (codec none, 16-byte pages and erase units) whose
     * block 0 already writes the whole image, which ends mid-page, and
     * whose block 1 then starts on the last erase boundary: a second
     * writer of bytes block 0 wrote, which a resumed run would put back. */
    {
        static rawbuf raw;
        od_pkg_header fh;
        uint32_t n = ((uint32_t)sizes[OD_SAMPLE_V2] & ~15u) - 8u, offs[2], outs[2];
        pkgbuf r;
        raw.n = 0;
        raw_varint(&raw, n);
        raw_bytes(&raw, imgs[OD_SAMPLE_V2], n);
        od_put_le32(raw.p + raw.n, od_crc32(0, raw.p, raw.n));
        raw.n += OD_BLOCK_TRAILER;
        offs[0] = 0;
        outs[0] = 0;
        offs[1] = (uint32_t)raw.n;
        outs[1] = n & ~15u;
        raw_varint(&raw, 8);
        raw_bytes(&raw, (const uint8_t *)"JUNKJUNK", 8);
        od_put_le32(raw.p + raw.n, od_crc32(0, raw.p + offs[1], raw.n - offs[1]));
        raw.n += OD_BLOCK_TRAILER;
        memset(&fh, 0, sizeof(fh));
        fh.kind = OD_KIND_FULL;
        fh.codec = OD_CODEC_NONE;
        fh.page_size = 16;
        fh.erase_size = 16;
        fh.ram_needed = 16;
        fh.target_size = n;
        fh.block_size = (n + 15u) & ~15u;
        od_pkg_hash_image(imgs[OD_SAMPLE_V2], n, fh.target_md5, fh.target_sha256);
        strcpy(fh.target_version, "1.1.0");
        if (od_pkg_assemble(&fh, NULL, 0, offs, outs, 2, raw.p, (uint32_t)raw.n, &r.p, &r.n) != 0)
            die("od_pkg_assemble failed");
        save_free("bad-block-past-end.otad", r);
    }

    b = copy_of(lzma);
    b.p[H_TGT_SHA] ^= 0x01; /* the package now promises another image */
    fix_header_crc(b);
    save_free("bad-wrong-target-hash.otad", b);

    /* ---- unsupported-*: valid except for a newer feature ---- */
    b = copy_of(lzma);
    od_put_le16(b.p + H_VERSION, OD_FORMAT_VERSION + 1);
    fix_header_crc(b);
    save_free("unsupported-format-version-3.otad", b);

    /* Format version 1 had a fixed 320-byte header; it was never released
     * and this reader does not read it. */
    b = copy_of(lzma);
    od_put_le16(b.p + H_VERSION, 1);
    fix_header_crc(b);
    save_free("unsupported-format-version-1.otad", b);

    b = copy_of(lzma);
    b.p[H_CODEC] = 7;
    fix_header_crc(b);
    save_free("unsupported-codec-7.otad", b);

    b = copy_of(lzma);
    b.p[H_FILTER] = 2;
    fix_header_crc(b);
    save_free("unsupported-filter-2.otad", b);

    b = copy_of(lzma);
    od_put_le16(b.p + H_FLAGS, 1);
    fix_header_crc(b);
    save_free("unsupported-flags.otad", b);

    for (i = 0; i < OD_SAMPLE_NRECIPES; i++)
        free(good[i].p);
    for (v = OD_SAMPLE_EMPTY; v <= OD_SAMPLE_V2; v++)
        free(imgs[v]);
    return failures ? 1 : 0;
}
