/*
 * mkcorpus.c - writes the seed corpora of the fuzz harnesses from valid
 * packages made by the real generator, so fuzzing starts deep inside the
 * format instead of at the magic. Run by CMake at build time:
 *
 *     fuzz_mkcorpus OUTDIR      -> OUTDIR/<harness>/seed-NNN
 *
 * Each seed carries the harness's parameter bytes in front (see each
 * fuzz_*.c). Output is deterministic.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "od_diff.h"
#include "od_fuzz.h"
#include "od_pkgfmt_host.h"

static const char *outdir;
static int failed;

static void write_seed(const char *harness, int n, const uint8_t *pre, size_t npre,
                       const uint8_t *data, size_t size)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", outdir, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        failed = 1;
        return;
    }
    snprintf(path, sizeof(path), "%s/%s/seed-%03d", outdir, harness, n);
    f = fopen(path, "wb");
    if (!f || fwrite(pre, 1, npre, f) != npre || (size && fwrite(data, 1, size, f) != size)) {
        perror(path);
        failed = 1;
    }
    if (f && fclose(f) != 0)
        failed = 1;
}

/* Release-like edit: a changed stretch, an insertion, scattered tweaks. */
static size_t edit(const uint8_t *old, size_t n, uint8_t *nw, uint64_t seed)
{
    size_t at = n / 3, ins = n / 16, cut = n / 32, i, out;
    memcpy(nw, old, at);
    od_fuzz_fill_image(nw + at, ins, seed + 100);
    memcpy(nw + at + ins, old + at + cut, n - at - cut);
    out = n - cut + ins;
    for (i = 0; i < out; i += 211 + (size_t)seed)
        nw[i] = (uint8_t)(nw[i] + 1);
    return out;
}

static uint8_t *make(const uint8_t *old, size_t os, const uint8_t *nw, size_t ns, int kind,
                     int codec, uint32_t page, uint32_t erase, uint32_t block, size_t *size)
{
    od_diff_params p;
    uint8_t *pkg = NULL;
    od_diff_params_init(&p);
    p.kind = kind;
    p.codec = codec;
    p.exact_codec = 1; /* seeds of every codec */
    p.page_size = page;
    p.erase_size = erase;
    p.block_size = block;
    p.source_version = "1.0.0";
    p.target_version = "1.0.1-rc1";
    if (od_diff_create(old, os, nw, ns, &p, &pkg, size) != OD_DIFF_OK) {
        fprintf(stderr, "mkcorpus: od_diff_create failed\n");
        failed = 1;
        return NULL;
    }
    return pkg;
}

/* Writes each block's codec stream (trailer stripped) as a decoder seed. */
static void decoder_seeds(const uint8_t *pkg, size_t size, int *nl, int *ni)
{
    od_pkg_header h;
    uint32_t i, po;
    if (od_pkg_parse_header(pkg, size, &h) != OD_PKG_OK)
        return;
    po = od_pkg_payload_offset(&h);
    for (i = 0; i < h.block_count && i < 4; i++) {
        const uint8_t *e = pkg + od_pkg_index_offset(&h) + i * OD_INDEX_ENTRY_SIZE;
        uint32_t start = od_get_le32(e);
        uint32_t end = i + 1 < h.block_count ? od_get_le32(e + OD_INDEX_ENTRY_SIZE) : h.payload_size;
        const uint8_t *s = pkg + po + start;
        size_t len = end - start - OD_BLOCK_TRAILER;
        if (h.codec == OD_CODEC_LZMA) {
            /* props, 16 KiB dictionary, whole input / 1-byte feeding */
            uint8_t pre1[4] = {h.codec_props, 2, 0x7F, 0x7F};
            uint8_t pre2[4] = {h.codec_props, 2, 0x80, 0x05};
            write_seed("fuzz_lzma", (*nl)++, pre1, 4, s, len);
            write_seed("fuzz_lzma", (*nl)++, pre2, 4, s, len);
        } else if (h.codec == OD_CODEC_DEFLATE) {
            uint8_t pre1[3] = {(uint8_t)(h.codec_props - 8), 0x7F, 0x7F};
            uint8_t pre2[3] = {(uint8_t)(h.codec_props - 8), 0x80, 0x80};
            write_seed("fuzz_inflate", (*ni)++, pre1, 3, s, len);
            write_seed("fuzz_inflate", (*ni)++, pre2, 3, s, len);
        }
    }
}

int main(int argc, char **argv)
{
    static const int codecs[3] = {OD_CODEC_LZMA, OD_CODEC_DEFLATE, OD_CODEC_NONE};
    uint8_t *old = malloc(OD_FUZZ_OLD_SIZE), *nw = malloc(OD_FUZZ_OLD_SIZE * 2);
    size_t ns, size;
    int nh = 0, na = 0, nl = 0, ni = 0, nr = 0, ns_srv = 0, c;

    if (argc != 2 || !old || !nw) {
        fprintf(stderr, "usage: fuzz_mkcorpus OUTDIR\n");
        return 1;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    od_fuzz_fill_image(old, OD_FUZZ_OLD_SIZE, 1);
    ns = edit(old, OD_FUZZ_OLD_SIZE, nw, 3);

    for (c = 0; c < 3; c++) {
        int kind;
        for (kind = OD_KIND_FULL; kind <= OD_KIND_DELTA; kind++) {
            /* fuzz_apply: 256-byte pages; four 4 KiB blocks (small seeds run fast). */
            uint8_t *pkg = make(old, OD_FUZZ_OLD_SIZE, nw, ns, kind, codecs[c], 256, 4096,
                                4096, &size);
            if (!pkg)
                continue;
            {
                uint8_t fix = OD_FUZZ_FIX_HEADER | OD_FUZZ_FIX_INDEX;
                uint8_t a1[3] = {fix, 0x7F, 0}, a2[3] = {(uint8_t)(fix | 0x04 | 0x08), 0xC0, 4};
                uint8_t a3[3] = {(uint8_t)(fix | 0x10), 0x00, 0};
                write_seed("fuzz_apply", na++, a1, 3, pkg, size);
                write_seed("fuzz_apply", na++, a2, 3, pkg, size);
                write_seed("fuzz_apply", na++, a3, 3, pkg, size); /* resume at block 1 */
                write_seed("fuzz_header", nh++, &fix, 1, pkg, size);
            }
            decoder_seeds(pkg, size, &nl, &ni);
            free(pkg);
        }
        {
            /* Small geometry, tiny blocks: many index entries. */
            uint8_t fix = OD_FUZZ_FIX_HEADER | OD_FUZZ_FIX_INDEX, a[3] = {fix, 0x10, 1};
            uint8_t *pkg = make(old, OD_FUZZ_OLD_SIZE, nw, ns, OD_KIND_DELTA, codecs[c], 16, 256,
                                512, &size);
            if (pkg) {
                write_seed("fuzz_apply", na++, a, 3, pkg, size);
                write_seed("fuzz_header", nh++, &fix, 1, pkg, size);
                free(pkg);
            }
        }
    }
    {
        /* fuzz_roundtrip: small old/new pairs for each codec and kind. */
        uint8_t small_old[2048], buf[2048 + 2048 + 256];
        size_t sn;
        int k;
        od_fuzz_fill_image(small_old, sizeof(small_old), 7);
        sn = edit(small_old, sizeof(small_old), buf + sizeof(small_old), 5);
        memcpy(buf, small_old, sizeof(small_old));
        for (k = 0; k < 8; k++) {
            uint8_t pre[5] = {(uint8_t)k, (uint8_t)(k * 0x15), (uint8_t)(sizeof(small_old) & 0xFF),
                              (uint8_t)(sizeof(small_old) >> 8), (uint8_t)(k * 37)};
            write_seed("fuzz_roundtrip", nr++, pre, 5, buf, sizeof(small_old) + sn);
        }
    }
    /* Edge seeds: empty package body, bare header. */
    {
        uint8_t z[3] = {3, 0, 0};
        write_seed("fuzz_apply", na++, z, 3, NULL, 0);
        write_seed("fuzz_header", nh++, z, 1, NULL, 0);
    }
    free(old);
    free(nw);
    /* fuzz_srv: a OneNET token (the documented test vector), Range values
     * as devices send them, and a device's progress reports. */
    {
        static const char *const tokens[] = {
            "version=2018-10-31&res=products%2F123123&et=1537255523&method=sha1&sign="
            "lsaPSiiGvEFFjXu5WU7a6IkScqE%3D",
            "version=2022-05-01&res=products%2F1%2Fdevices%2Fdev-1&et=99999999999&method=sha256"
            "&sign=AAAA"};
        static const char *const ranges[] = {"50500-50999", "bytes=0-1023", "-5", "bytes=10-",
                                             "1-2,4-5"};
        /* retry limit 3, then steps 10, 100, 201, 45, 102 (each + 100, LE). */
        static const uint8_t steps[] = {3, 110, 0, 200, 0, 45, 1, 145, 0, 202, 0};
        uint8_t pre[9] = {0};
        size_t k;
        for (k = 0; k < sizeof(tokens) / sizeof(tokens[0]); k++)
            write_seed("fuzz_srv", ns_srv++, pre, 1, (const uint8_t *)tokens[k],
                       strlen(tokens[k]));
        pre[0] = 1;
        pre[1] = 0x00;
        pre[2] = 0xD0; /* a 53248-byte file */
        for (k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++)
            write_seed("fuzz_srv", ns_srv++, pre, 9, (const uint8_t *)ranges[k],
                       strlen(ranges[k]));
        pre[0] = 2;
        write_seed("fuzz_srv", ns_srv++, pre, 1, steps, sizeof(steps));
    }
    printf("fuzz_mkcorpus: %d header, %d apply, %d lzma, %d inflate, %d roundtrip, %d srv seeds "
           "in %s\n", nh, na, nl, ni, nr, ns_srv, outdir);
    return failed;
}
