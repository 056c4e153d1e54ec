/*
 * od_sample_images.h - the two pseudo-firmware images the sample packages
 * in tests/files were generated from, rebuilt on demand so that the images
 * themselves need not be committed.
 *
 * od_sample_image(1) is "v1" (about 11 KiB), od_sample_image(2) is "v2": the
 * same program after a typical small release. Relative to v1, v2 has
 *   - a few instructions of one function rewritten (an edit),
 *   - a new function inserted in the middle (everything after it shifts),
 *   - three functions moved from near the end to near the start (a moved
 *     region), so every call into or across them is relocated,
 *   - a few entries of a constant table recalibrated,
 *   - one string changed, one added, and a new version record.
 * Calls (Thumb BL pairs) and literal-pool pointers are relocated to the
 * final layout, as a linker would, so the delta sees realistic pointer
 * churn rather than pure insertions.
 *
 * Everything is integer arithmetic on a fixed PRNG (splitmix64): the bytes
 * are identical on every host and compiler. Changing anything here changes
 * the images and invalidates every committed sample: regenerate them with
 * mkfiles (see tests/files/README.md) in the same change.
 *
 * Header-only, host C (malloc). Used by tests/files/mkfiles.c and
 * tests/test_files.c. Include od_diff.h first to get the recipes too.
 */
#ifndef OD_SAMPLE_IMAGES_H
#define OD_SAMPLE_IMAGES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Image identifiers; OD_SAMPLE_NO_IMAGE stands for "none" (full packages). */
#define OD_SAMPLE_NO_IMAGE (-1)
#define OD_SAMPLE_EMPTY 0
#define OD_SAMPLE_V1 1
#define OD_SAMPLE_V2 2

#define OD_SAMPLE_FLASH_BASE 0x08000000u
#define OD_SAMPLE_NFUNC 28        /* functions in v1; v2 adds one */
#define OD_SAMPLE_NEW_FUNC 28     /* index of the function v2 adds */
#define OD_SAMPLE_MAX_CODE 640    /* bytes per function, pool included */
#define OD_SAMPLE_MAX_SITES 48    /* relocations per function */
#define OD_SAMPLE_NVECTORS 48
#define OD_SAMPLE_MAX_IMAGE 16384

/* splitmix64: the whole state is one 64-bit counter. */
static inline uint32_t od_sample_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* A relocation a function needs once the layout is known. */
enum { OD_SAMPLE_RELOC_BL = 0, OD_SAMPLE_RELOC_PTR = 1 };

typedef struct od_sample_fn {
    uint8_t code[OD_SAMPLE_MAX_CODE];
    uint32_t len;
    uint32_t nsites;
    uint16_t site_off[OD_SAMPLE_MAX_SITES];
    uint8_t site_kind[OD_SAMPLE_MAX_SITES];
    uint8_t site_target[OD_SAMPLE_MAX_SITES];
} od_sample_fn;

static inline void od_sample_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void od_sample_put32(uint8_t *p, uint32_t v)
{
    od_sample_put16(p, v & 0xFFFFu);
    od_sample_put16(p + 2, v >> 16);
}

static inline void od_sample_site(od_sample_fn *f, uint32_t off, int kind,
                                  uint32_t target)
{
    if (f->nsites < OD_SAMPLE_MAX_SITES) {
        f->site_off[f->nsites] = (uint16_t)off;
        f->site_kind[f->nsites] = (uint8_t)kind;
        f->site_target[f->nsites] = (uint8_t)target;
        f->nsites++;
    }
}

/*
 * Generates function `idx` from its own seed: a prologue, 60..219 Thumb-like
 * instructions, an epilogue, alignment and a literal pool. Instructions
 * [edit_from, edit_to) draw from a second generator seeded with edit_seed
 * (when non-zero), so an edit changes only that stretch. nfunc bounds the
 * call targets.
 */
static inline void od_sample_gen_fn(od_sample_fn *f, uint32_t idx, uint32_t nfunc,
                                    uint64_t edit_seed, uint32_t edit_from, uint32_t edit_to)
{
    uint64_t s = 0x5EED0000ull + idx * 7919ull, es = edit_seed;
    uint32_t n, i, pool, lits = 0;

    memset(f, 0, sizeof(*f));
    n = 60 + od_sample_rand(&s) % 160;
    pool = 2 + od_sample_rand(&s) % 5;
    od_sample_put16(f->code, 0xB5F0); /* push {r4-r7, lr} */
    f->len = 2;
    for (i = 0; i < n; i++) {
        uint64_t *g = (edit_seed && i >= edit_from && i < edit_to) ? &es : &s;
        uint32_t r = od_sample_rand(g), op = r % 16, a = (r >> 4) & 7, b = (r >> 7) & 7;
        uint32_t imm = (r >> 10) & 0xFF, ins;
        switch (op) {
        case 0: case 1: case 2: case 3: ins = 0x2000 | a << 8 | imm; break;        /* movs */
        case 4: case 5: ins = 0x6800 | (imm & 31) << 6 | b << 3 | a; break;       /* ldr */
        case 6: case 7: ins = 0x6000 | (imm & 31) << 6 | b << 3 | a; break;       /* str */
        case 8: ins = 0x1800 | (imm & 7) << 6 | b << 3 | a; break;                 /* adds */
        case 9: ins = 0x2800 | a << 8 | imm; break;                                /* cmp */
        case 10: ins = 0xD100 | (imm & 0x3F); break;                               /* bne */
        case 11: ins = 0x4800 | a << 8 | (lits++ % pool); break;                   /* ldr pc */
        case 12: ins = 0x0000 | (imm & 31) << 6 | b << 3 | a; break;               /* lsls */
        case 13: ins = 0x4600 | b << 3 | a; break;                                 /* mov */
        case 14: /* bl to another function: relocated later */
            od_sample_site(f, f->len, OD_SAMPLE_RELOC_BL, (r >> 20) % nfunc);
            od_sample_put32(f->code + f->len, 0xF800F000u);
            f->len += 4;
            continue;
        default: ins = 0xBF00; break;                                              /* nop */
        }
        od_sample_put16(f->code + f->len, ins);
        f->len += 2;
    }
    od_sample_put16(f->code + f->len, 0xBDF0); /* pop {r4-r7, pc} */
    f->len += 2;
    if (f->len % 4) {
        od_sample_put16(f->code + f->len, 0xBF00);
        f->len += 2;
    }
    for (i = 0; i < pool; i++) {
        uint32_t r = od_sample_rand(&s);
        if (r & 1) { /* pointer to a function: relocated later */
            od_sample_site(f, f->len, OD_SAMPLE_RELOC_PTR, (r >> 8) % nfunc);
            od_sample_put32(f->code + f->len, 0);
        } else { /* a RAM address or a peripheral register */
            od_sample_put32(f->code + f->len,
                            (r & 2 ? 0x20000000u : 0x40010000u) + ((r >> 8) & 0xFFC));
        }
        f->len += 4;
    }
}

/* sin(deg) * amp without libm (Bhaskara I's approximation). */
static inline int32_t od_sample_sin(int32_t deg, int32_t amp)
{
    int32_t d = deg % 360, sign = 1, p;
    if (d >= 180) {
        d -= 180;
        sign = -1;
    }
    p = d * (180 - d);
    return sign * (int32_t)((int64_t)amp * 4 * p / (40500 - p));
}

static const char *const od_sample_strings_v1[] = {
    "otadelta sample firmware", "sensor %u: %d mC\r\n", "uart: overrun\r\n",
    "flash: erase failed at %08x\r\n", "config: crc mismatch, using defaults\r\n",
    "shell> ", "unknown command '%s'\r\n", "selftest: all passed\r\n",
    "evlog: %u events dropped\r\n", "watchdog reset\r\n", NULL};
static const char *const od_sample_strings_v2[] = {
    "otadelta sample firmware", "sensor %u: %d mC (filtered)\r\n", "uart: overrun\r\n",
    "flash: erase failed at %08x\r\n", "config: crc mismatch, using defaults\r\n",
    "shell> ", "unknown command '%s'\r\n", "selftest: all passed\r\n",
    "evlog: %u events dropped\r\n", "watchdog reset\r\n",
    "ota: update verified, rebooting\r\n", NULL};

/*
 * Builds image `version`: OD_SAMPLE_V1 or OD_SAMPLE_V2, or OD_SAMPLE_EMPTY
 * (0 bytes). Returns a malloc()'d buffer (never NULL for a known version
 * unless allocation fails) and its size in *size; NULL for anything else.
 */
static inline uint8_t *od_sample_image(int version, size_t *size)
{
    static const uint32_t order_v1[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,
                                        10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                        20, 21, 22, 23, 24, 25, 26, 27};
    /* v2: 20..22 moved before 3, the new function 28 inserted after 13. */
    static const uint32_t order_v2[] = {0,  1,  2,  20, 21, 22, 3,  4,  5,  6,
                                        7,  8,  9,  10, 11, 12, 13, 28, 14, 15,
                                        16, 17, 18, 19, 23, 24, 25, 26, 27};
    const uint32_t *order = version == 1 ? order_v1 : order_v2;
    uint32_t nfunc = version == 1 ? OD_SAMPLE_NFUNC : OD_SAMPLE_NFUNC + 1;
    const char *const *strs = version == 1 ? od_sample_strings_v1 : od_sample_strings_v2;
    od_sample_fn *fns;
    uint32_t addr[OD_SAMPLE_NFUNC + 1], pos, i, k;
    uint8_t *img;

    if (version == OD_SAMPLE_EMPTY) {
        *size = 0;
        return malloc(1);
    }
    if (version != OD_SAMPLE_V1 && version != OD_SAMPLE_V2)
        return NULL;
    fns = malloc(sizeof(*fns) * nfunc);
    img = malloc(OD_SAMPLE_MAX_IMAGE);
    if (!fns || !img) {
        free(fns);
        free(img);
        return NULL;
    }
    memset(img, 0, OD_SAMPLE_MAX_IMAGE);
    for (i = 0; i < nfunc; i++) {
        if (version == 2 && i == 5) /* the edit: eight instructions rewritten */
            od_sample_gen_fn(&fns[i], i, nfunc, 0xED17ull, 10, 18);
        else
            od_sample_gen_fn(&fns[i], i, nfunc, 0, 0, 0);
    }

    /* Layout: vector table, code, read-only data, version record. */
    pos = OD_SAMPLE_NVECTORS * 4;
    for (k = 0; k < nfunc; k++) {
        addr[order[k]] = pos;
        memcpy(img + pos, fns[order[k]].code, fns[order[k]].len);
        pos += fns[order[k]].len;
    }
    /* Relocate calls and pointers to the final addresses. */
    for (i = 0; i < nfunc; i++) {
        for (k = 0; k < fns[i].nsites; k++) {
            uint32_t at = addr[i] + fns[i].site_off[k], to = addr[fns[i].site_target[k]];
            if (fns[i].site_kind[k] == OD_SAMPLE_RELOC_PTR) {
                od_sample_put32(img + at, OD_SAMPLE_FLASH_BASE + to + 1);
            } else {
                uint32_t off = ((to - (at + 4)) >> 1) & 0x3FFFFFu;
                od_sample_put16(img + at, 0xF000 | (off >> 11));
                od_sample_put16(img + at + 2, 0xF800 | (off & 0x7FF));
            }
        }
    }
    /* Vector table: initial stack pointer, then handlers (odd: Thumb). */
    od_sample_put32(img, 0x20004000u);
    for (i = 1; i < OD_SAMPLE_NVECTORS; i++)
        od_sample_put32(img + 4 * i, OD_SAMPLE_FLASH_BASE + addr[i % nfunc] + 1);

    /* A 128-entry sine table (int16), four entries recalibrated in v2. */
    for (i = 0; i < 128; i++) {
        int32_t v = od_sample_sin((int32_t)(i * 360 / 128), 1000);
        if (version == 2 && i >= 40 && i < 44)
            v = v * 1003 / 1000;
        od_sample_put16(img + pos, (uint32_t)v & 0xFFFFu);
        pos += 2;
    }
    for (i = 0; strs[i]; i++) {
        size_t n = strlen(strs[i]) + 1;
        memcpy(img + pos, strs[i], n);
        pos += (uint32_t)n;
    }
    while (pos % 4)
        img[pos++] = 0;
    /* Version record: magic, version, build number, then padding. */
    od_sample_put32(img + pos, 0x464F5441u);
    memcpy(img + pos + 4, version == 1 ? "fw-1.0.0" : "fw-1.1.0", 8);
    od_sample_put32(img + pos + 12, version == 1 ? 1041u : 1187u);
    pos += 16;
    for (i = 0; i < 37; i++) /* an odd tail, so no image ends on a page boundary */
        img[pos++] = 0xFF;

    free(fns);
    *size = pos;
    return img;
}

/*
 * The samples made directly by the generator (good-*), with the parameters
 * they were made with. Every bad-* and unsupported-* sample is derived from
 * one of these by mkfiles.c. Zero in ram/page/erase/block/restart means the
 * od_diff_params_init() default. Only compiled where od_diff.h is included
 * first (mkfiles.c, test_files.c).
 */
#ifdef OD_DIFF_H
typedef struct od_sample_recipe {
    const char *name;
    int kind;           /* OD_KIND_DELTA or OD_KIND_FULL */
    int codec;          /* OD_CODEC_* */
    int source, target; /* OD_SAMPLE_* image ids; source NO_IMAGE for full */
    uint32_t ram, page, erase, block, restart;
    const char *from, *to;
    int filter;         /* od_diff_params.filter */
} od_sample_recipe;

static const od_sample_recipe od_sample_recipes[] = {
    {"good-delta-lzma.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_V1, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, "1.0.0", "1.1.0", OD_DIFF_FILTER_AUTO},
    {"good-delta-deflate.otad", OD_KIND_DELTA, OD_CODEC_DEFLATE, OD_SAMPLE_V1, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, "1.0.0", "1.1.0", OD_DIFF_FILTER_AUTO},
    {"good-delta-none.otad", OD_KIND_DELTA, OD_CODEC_NONE, OD_SAMPLE_V1, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, "1.0.0", "1.1.0", OD_DIFF_FILTER_AUTO},
    {"good-full-lzma.otad", OD_KIND_FULL, OD_CODEC_LZMA, OD_SAMPLE_NO_IMAGE, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, NULL, "1.1.0", OD_DIFF_FILTER_AUTO},
    {"good-full-deflate.otad", OD_KIND_FULL, OD_CODEC_DEFLATE, OD_SAMPLE_NO_IMAGE, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, NULL, "1.1.0", OD_DIFF_FILTER_AUTO},
    {"good-full-none.otad", OD_KIND_FULL, OD_CODEC_NONE, OD_SAMPLE_NO_IMAGE, OD_SAMPLE_V1,
     0, 0, 0, 0, 0, NULL, "1.0.0", OD_DIFF_FILTER_AUTO},
    {"good-empty-target.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_V1, OD_SAMPLE_EMPTY,
     0, 0, 0, 0, 0, "1.0.0", "2.0.0-empty", OD_DIFF_FILTER_AUTO},
    {"good-empty-source.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_EMPTY, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, "0.0.0", "1.1.0", OD_DIFF_FILTER_AUTO},
    /* Several blocks, on a smaller flash geometry and RAM budget. */
    {"good-multi-block.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_V1, OD_SAMPLE_V2,
     12 * 1024, 128, 1024, 2048, 1024, "1.0.0", "1.1.0", OD_DIFF_FILTER_AUTO},
    /* The thumb filter (FORMAT.md, filter 1) whatever auto would pick, on
     * 16-byte pages, so that many words meet a page end; and without it. */
    {"good-delta-thumb.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_V1, OD_SAMPLE_V2,
     0, 16, 0, 0, 0, "1.0.0", "1.1.0", OD_FILTER_THUMB},
    {"good-delta-no-filter.otad", OD_KIND_DELTA, OD_CODEC_LZMA, OD_SAMPLE_V1, OD_SAMPLE_V2,
     0, 0, 0, 0, 0, "1.0.0", "1.1.0", OD_FILTER_NONE},
};
#define OD_SAMPLE_NRECIPES (sizeof(od_sample_recipes) / sizeof(od_sample_recipes[0]))

/* Looks a recipe up by file name; NULL if the sample is not generator-made. */
static inline const od_sample_recipe *od_sample_find_recipe(const char *name)
{
    size_t i;
    for (i = 0; i < OD_SAMPLE_NRECIPES; i++)
        if (!strcmp(od_sample_recipes[i].name, name))
            return &od_sample_recipes[i];
    return NULL;
}

/*
 * Runs the generator for recipe r on the images imgs[OD_SAMPLE_EMPTY..V2]
 * (sizes in sizes[]). Returns od_diff_create()'s result; on success *out is
 * malloc()'d.
 */
static inline int od_sample_build(const od_sample_recipe *r, uint8_t *const imgs[3],
                                  const size_t sizes[3], uint8_t **out, size_t *out_size)
{
    od_diff_params p;
    od_diff_params_init(&p);
    p.kind = r->kind;
    p.codec = r->codec;
    if (r->ram)
        p.ram_budget = r->ram;
    if (r->page)
        p.page_size = r->page;
    if (r->erase)
        p.erase_size = r->erase;
    if (r->block)
        p.block_size = r->block;
    if (r->restart)
        p.restart_interval = r->restart;
    p.source_version = r->from;
    p.target_version = r->to;
    p.filter = r->filter;
    if (r->kind == OD_KIND_FULL)
        return od_diff_create(NULL, 0, imgs[r->target], sizes[r->target], &p, out, out_size);
    return od_diff_create(imgs[r->source], sizes[r->source], imgs[r->target], sizes[r->target],
                          &p, out, out_size);
}
#endif /* OD_DIFF_H */

#endif /* OD_SAMPLE_IMAGES_H */
