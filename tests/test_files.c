/*
 * test_files.c - the sample packages in tests/files give exactly the result
 * tests/files/README.md documents, from the reader (od_pkg_check) and from
 * the applier (od_patch_feed, fed 1 byte at a time and in 1 KiB chunks).
 *
 * The source and target images are rebuilt with od_sample_images.h; good
 * packages must reproduce their target byte for byte, and multi-block ones
 * also when resumed from every block. The applier runs on memory-backed
 * flash that enforces what real NOR flash would: whole aligned pages, each
 * written once and only onto erased memory.
 *
 * The table below, the README's table and the directory must agree: a
 * listed file that is missing, a sample file that is not listed, or a
 * README row whose errors differ from this table all fail the test.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "od_test.h"
#include "od_diff.h"
#include "od_patch.h"
#include "od_pkgfmt_host.h"
#include "od_sample_images.h"

#define NONE OD_SAMPLE_NO_IMAGE
#define EMPTY OD_SAMPLE_EMPTY
#define V1 OD_SAMPLE_V1
#define V2 OD_SAMPLE_V2

typedef struct expect {
    const char *name;
    int source;  /* image given to the applier as the old one (NONE: none) */
    int target;  /* image the package restores (checked when it succeeds) */
    int pkg;     /* od_pkg_check() */
    int patch;   /* last od_patch_feed() result once the file is fed */
    int untaken; /* bytes od_patch_feed() leaves unconsumed */
    int early;   /* 1: the error must come before any flash write or erase */
} expect;

static const expect files[] = {
    {"good-delta-lzma.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-delta-deflate.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-delta-none.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-full-lzma.otad", NONE, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-full-deflate.otad", NONE, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-full-none.otad", NONE, V1, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-empty-target.otad", V1, EMPTY, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-empty-source.otad", EMPTY, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-multi-block.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-delta-thumb.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-delta-no-filter.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-note-extension.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"good-unknown-extension.otad", V1, V2, OD_PKG_OK, OD_PATCH_DONE, 0, 0},
    {"bad-magic.otad", V1, V2, OD_PKG_ERR_MAGIC, OD_PATCH_ERR_MAGIC, 0, 1},
    {"bad-magic-crlf.otad", V1, V2, OD_PKG_ERR_MAGIC, OD_PATCH_ERR_MAGIC, 0, 1},
    {"bad-header-crc.otad", V1, V2, OD_PKG_ERR_HEADER_CRC, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-header-size.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-kind.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-ram-needed.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-page-size.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-lzma-props.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-block-count.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-version-lengths.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-field-full-source-size.otad", NONE, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-version-string.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-version-nul.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-version-empty-target.otad", V1, V2, OD_PKG_ERR_FIELD, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-tlv-overrun.otad", V1, V2, OD_PKG_ERR_TLV, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-tlv-short.otad", V1, V2, OD_PKG_ERR_TLV, OD_PATCH_ERR_HEADER, 0, 1},
    {"bad-index-crc.otad", V1, V2, OD_PKG_ERR_INDEX_CRC, OD_PATCH_ERR_INDEX, 0, 1},
    {"bad-index-order.otad", V1, V2, OD_PKG_ERR_INDEX, OD_PATCH_ERR_INDEX, 0, 1},
    {"bad-index-out-offset.otad", V1, V2, OD_PKG_OK, OD_PATCH_ERR_INDEX, 0, 0},
    {"bad-block-past-end.otad", NONE, V2, OD_PKG_OK, OD_PATCH_ERR_CORRUPT, 0, 0},
    {"bad-block-crc.otad", V1, V2, OD_PKG_ERR_PAYLOAD, OD_PATCH_ERR_CORRUPT, 0, 0},
    {"bad-payload-sha.otad", NONE, V1, OD_PKG_ERR_PAYLOAD, OD_PATCH_ERR_CORRUPT, 0, 0},
    {"bad-empty-payload-sha.otad", V1, EMPTY, OD_PKG_ERR_PAYLOAD, OD_PATCH_ERR_CORRUPT, 0, 0},
    {"bad-truncated.otad", V1, V2, OD_PKG_ERR_TRUNCATED, OD_PATCH_OK, 0, 0},
    {"bad-trailing-bytes.otad", V1, V2, OD_PKG_ERR_TRAILING, OD_PATCH_DONE, 3, 0},
    {"bad-payload-size-spare.otad", V1, V2, OD_PKG_ERR_PAYLOAD, OD_PATCH_ERR_CORRUPT, 7, 0},
    {"bad-op-out-of-range.otad", V1, V2, OD_PKG_OK, OD_PATCH_ERR_CORRUPT, 0, 1},
    {"bad-op-seek.otad", V1, V2, OD_PKG_OK, OD_PATCH_ERR_CORRUPT, 0, 1},
    {"bad-wrong-target-hash.otad", V1, V2, OD_PKG_OK, OD_PATCH_ERR_VERIFY, 0, 0},
    {"unsupported-format-version-1.otad", V1, V2, OD_PKG_ERR_VERSION, OD_PATCH_ERR_VERSION, 0, 1},
    {"unsupported-format-version-3.otad", V1, V2, OD_PKG_ERR_VERSION, OD_PATCH_ERR_VERSION, 0, 1},
    {"unsupported-codec-7.otad", V1, V2, OD_PKG_ERR_UNSUPPORTED, OD_PATCH_ERR_UNSUPPORTED, 0, 1},
    {"unsupported-filter-2.otad", V1, V2, OD_PKG_ERR_UNSUPPORTED, OD_PATCH_ERR_UNSUPPORTED, 0, 1},
    {"unsupported-flags.otad", V1, V2, OD_PKG_ERR_UNSUPPORTED, OD_PATCH_ERR_UNSUPPORTED, 0, 1},
    {"unsupported-critical-extension.otad", V1, V2, OD_PKG_ERR_UNSUPPORTED,
     OD_PATCH_ERR_UNSUPPORTED, 0, 1},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static uint8_t *imgs[3];
static size_t img_sizes[3];
static const char *dir;
static unsigned applier_runs, resumed_runs; /* for the log */

/* ---- names, for messages and for matching the README ---- */

static const char *pkg_name(int r)
{
    switch (r) {
    case OD_PKG_OK: return "OD_PKG_OK";
    case OD_PKG_ERR_MAGIC: return "OD_PKG_ERR_MAGIC";
    case OD_PKG_ERR_VERSION: return "OD_PKG_ERR_VERSION";
    case OD_PKG_ERR_HEADER_CRC: return "OD_PKG_ERR_HEADER_CRC";
    case OD_PKG_ERR_FIELD: return "OD_PKG_ERR_FIELD";
    case OD_PKG_ERR_UNSUPPORTED: return "OD_PKG_ERR_UNSUPPORTED";
    case OD_PKG_ERR_TLV: return "OD_PKG_ERR_TLV";
    case OD_PKG_ERR_INDEX: return "OD_PKG_ERR_INDEX";
    case OD_PKG_ERR_INDEX_CRC: return "OD_PKG_ERR_INDEX_CRC";
    case OD_PKG_ERR_TRUNCATED: return "OD_PKG_ERR_TRUNCATED";
    case OD_PKG_ERR_PAYLOAD: return "OD_PKG_ERR_PAYLOAD";
    case OD_PKG_ERR_TRAILING: return "OD_PKG_ERR_TRAILING";
    default: return "(unknown od_pkg_ret)";
    }
}

static const char *patch_name(int r)
{
    switch (r) {
    case OD_PATCH_OK: return "OD_PATCH_OK";
    case OD_PATCH_DONE: return "OD_PATCH_DONE";
    case OD_PATCH_SEEK: return "OD_PATCH_SEEK";
    case OD_PATCH_ERR_MAGIC: return "OD_PATCH_ERR_MAGIC";
    case OD_PATCH_ERR_VERSION: return "OD_PATCH_ERR_VERSION";
    case OD_PATCH_ERR_HEADER: return "OD_PATCH_ERR_HEADER";
    case OD_PATCH_ERR_UNSUPPORTED: return "OD_PATCH_ERR_UNSUPPORTED";
    case OD_PATCH_ERR_NO_MEM: return "OD_PATCH_ERR_NO_MEM";
    case OD_PATCH_ERR_GEOMETRY: return "OD_PATCH_ERR_GEOMETRY";
    case OD_PATCH_ERR_WRONG_SOURCE: return "OD_PATCH_ERR_WRONG_SOURCE";
    case OD_PATCH_ERR_SIGNATURE: return "OD_PATCH_ERR_SIGNATURE";
    case OD_PATCH_ERR_INDEX: return "OD_PATCH_ERR_INDEX";
    case OD_PATCH_ERR_CORRUPT: return "OD_PATCH_ERR_CORRUPT";
    case OD_PATCH_ERR_VERIFY: return "OD_PATCH_ERR_VERIFY";
    case OD_PATCH_ERR_READ: return "OD_PATCH_ERR_READ";
    case OD_PATCH_ERR_WRITE: return "OD_PATCH_ERR_WRITE";
    case OD_PATCH_ERR_MISUSE: return "OD_PATCH_ERR_MISUSE";
    case OD_PATCH_ERR_RESUME: return "OD_PATCH_ERR_RESUME";
    default: return "(unknown od_patch_ret)";
    }
}

static const expect *find_expect(const char *name)
{
    size_t i;
    for (i = 0; i < NFILES; i++)
        if (!strcmp(files[i].name, name))
            return &files[i];
    return NULL;
}

/* ---- memory-backed flash that behaves like NOR ---- */

typedef struct flash {
    const uint8_t *old;
    size_t old_size;
    uint8_t *img;
    size_t cap;
    uint32_t page, erase;
    unsigned writes, erases, violations, saved;
} flash;

static int fl_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    flash *f = ctx;
    if ((uint64_t)off + len > f->old_size) {
        f->violations++;
        return -1;
    }
    memcpy(buf, f->old + off, len);
    return 0;
}

static int fl_erase(void *ctx, uint32_t off, uint32_t len)
{
    flash *f = ctx;
    if (!f->erase || len != f->erase || off % f->erase || (uint64_t)off + len > f->cap) {
        f->violations++;
        return -1;
    }
    memset(f->img + off, 0xFF, len);
    f->erases++;
    return 0;
}

/* One whole aligned page, onto erased memory only. */
static int fl_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    flash *f = ctx;
    uint32_t i;
    if (len != f->page || off % f->page || (uint64_t)off + len > f->cap) {
        f->violations++;
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (f->img[off + i] != 0xFF) {
            fprintf(stderr, "  write onto unerased flash at %u\n", (unsigned)(off + i));
            f->violations++;
            return -1;
        }
    }
    memcpy(f->img + off, buf, len);
    f->writes++;
    return 0;
}

static int fl_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    flash *f = ctx;
    if ((uint64_t)off + len > f->cap) {
        f->violations++;
        return -1;
    }
    memcpy(buf, f->img + off, len);
    return 0;
}

static int fl_save(void *ctx, uint32_t blocks_done)
{
    ((flash *)ctx)->saved = blocks_done;
    return 0;
}

/* How one run of the applier went. */
typedef struct run {
    int ret;       /* last od_patch_feed() result */
    size_t taken;  /* od_patch_offset() at the end */
    int sticky;    /* an error was returned again by a further call */
    flash fl;      /* img is malloc'd: free it with run_free() */
} run;

static void run_free(run *r)
{
    free(r->fl.img);
    r->fl.img = NULL;
}

/*
 * Feeds pkg to a fresh applier in `chunk`-byte pieces from
 * od_patch_offset() on, following SEEKs, with old as the old image. The
 * device's buffers are sized from the header as an integrator would (work
 * buffer of exactly ram_needed bytes, its own allocation so that a sanitizer
 * sees any overrun); an unparsable header gets a page-only buffer.
 * use_erase: 0 = the region starts erased and the applier has no erase
 * callback; 1 = the region starts dirty and every erase unit must be erased
 * through the callback before its pages are written.
 * start_block > 0 resumes: pre (the first `pre_len` bytes of the region)
 * stands for the blocks a previous run completed.
 */
static run run_applier(const uint8_t *pkg, size_t size, const uint8_t *old, size_t old_size,
                       size_t chunk, int use_erase, uint32_t start_block, const uint8_t *pre,
                       size_t pre_len)
{
    od_pkg_header h;
    od_patch_config cfg;
    od_patch p;
    run r;
    uint32_t page = 256, erase = 4096, target = 0, ws = 0, unit;

    memset(&r, 0, sizeof(r));
    if (od_pkg_parse_header(pkg, size, &h) == OD_PKG_OK) {
        page = h.page_size;
        erase = h.erase_size;
        target = h.target_size;
        ws = od_pkg_codec_workspace(&h);
    }
    unit = erase > page ? erase : page;
    r.fl.old = old;
    r.fl.old_size = old_size;
    r.fl.page = page;
    r.fl.erase = use_erase ? erase : 0;
    r.fl.cap = ((size_t)target + unit - 1) / unit * unit;
    r.fl.img = malloc(r.fl.cap ? r.fl.cap : 1);
    memset(r.fl.img, use_erase ? 0x00 : 0xFF, r.fl.cap);
    if (pre_len)
        memcpy(r.fl.img, pre, pre_len);

    memset(&cfg, 0, sizeof(cfg));
    cfg.ctx = &r.fl;
    cfg.read_old = fl_read_old;
    cfg.erase = use_erase ? fl_erase : NULL;
    cfg.write = fl_write;
    cfg.read_new = fl_read_new;
    cfg.save_progress = fl_save;
    cfg.work_size = page + ws;
    cfg.work = malloc(cfg.work_size);
    cfg.page_size = page;
    cfg.erase_size = use_erase ? erase : page;
    cfg.new_capacity = (uint32_t)r.fl.cap;
    cfg.old_size = (uint32_t)old_size;
    cfg.erased_value = 0xFF;

    applier_runs++;
    resumed_runs += start_block > 0;
    r.ret = od_patch_init(&p, &cfg, start_block);
    while (r.ret == OD_PATCH_OK || r.ret == OD_PATCH_SEEK) {
        size_t pos = od_patch_offset(&p), end;
        if (pos >= size) {
            r.ret = OD_PATCH_OK;
            break;
        }
        end = size - pos < chunk ? size : pos + chunk;
        r.ret = od_patch_feed(&p, pkg, &pos, end);
        if (pos != od_patch_offset(&p) && r.ret != OD_PATCH_SEEK)
            r.fl.violations += 1000; /* in_pos and the offset disagree */
    }
    r.taken = od_patch_offset(&p);
    if (r.ret < 0) { /* errors are sticky and take nothing more */
        size_t pos = r.taken < size ? r.taken : 0;
        r.sticky = od_patch_feed(&p, pkg, &pos, size) == r.ret &&
                   pos == (r.taken < size ? r.taken : 0);
    }
    free(cfg.work);
    return r;
}

/* ---- the cases ---- */

/* Checks one applier run against the expectation, image included. */
static void check_run(const expect *e, const run *r, size_t size, size_t chunk, int use_erase)
{
    int ok = 1;
    if (r->ret != e->patch) {
        fprintf(stderr, "  %s (chunk %zu%s): applier gave %s, expected %s\n", e->name, chunk,
                use_erase ? ", erase" : "", patch_name(r->ret), patch_name(e->patch));
        ok = 0;
    }
    OD_CHECK(r->ret == e->patch);
    if (e->patch >= 0) /* where an error stops is not specified */
        OD_CHECK_EQ(r->taken, size - (size_t)e->untaken);
    OD_CHECK_EQ(r->fl.violations, 0);
    if (e->patch < 0)
        OD_CHECK(r->sticky);
    if (e->early) {
        OD_CHECK_EQ(r->fl.writes, 0);
        OD_CHECK_EQ(r->fl.erases, 0);
    }
    if (ok && e->patch == OD_PATCH_DONE) {
        size_t n = img_sizes[e->target];
        OD_CHECK(r->fl.cap >= n);
        if (r->fl.cap >= n && memcmp(r->fl.img, imgs[e->target], n) != 0) {
            fprintf(stderr, "  %s (chunk %zu): written image differs from the target\n",
                    e->name, chunk);
            OD_CHECK(0);
        }
    }
}

/* Resumes a good package from every block k > 0, with blocks < k done. */
static void check_resume(const expect *e, const uint8_t *pkg, size_t size,
                         const od_pkg_header *h)
{
    const uint8_t *idx = pkg + od_pkg_index_offset(h);
    uint32_t k;
    for (k = 1; k <= h->block_count; k++) {
        uint32_t out = k < h->block_count ? od_get_le32(idx + k * OD_INDEX_ENTRY_SIZE + 4)
                                          : h->target_size;
        const uint8_t *old = e->source == NONE ? NULL : imgs[e->source];
        size_t old_size = e->source == NONE ? 0 : img_sizes[e->source];
        int use_erase;
        for (use_erase = 0; use_erase <= 1; use_erase++) {
            run r = run_applier(pkg, size, old, old_size, 1024, use_erase, k, imgs[e->target], out);
            if (r.ret != OD_PATCH_DONE)
                fprintf(stderr, "  %s resumed at block %u: %s\n", e->name, (unsigned)k,
                        patch_name(r.ret));
            OD_CHECK_EQ(r.ret, OD_PATCH_DONE);
            /* With every block done only the read-back runs: nothing
             * after the index is wanted. */
            OD_CHECK_EQ(r.taken, k < h->block_count ? size : od_pkg_payload_offset(h));
            OD_CHECK_EQ(r.fl.violations, 0);
            OD_CHECK(memcmp(r.fl.img, imgs[e->target], img_sizes[e->target]) == 0);
            if (k < h->block_count)
                OD_CHECK_EQ(r.fl.saved, h->block_count);
            run_free(&r);
        }
    }
}

/* Everything one sample file must do. */
static void check_file(const expect *e)
{
    char path[4096];
    uint8_t *pkg;
    size_t size = 0, chunks[2] = {1, 1024};
    od_pkg_header h;
    int r, c;
    const uint8_t *old = e->source == NONE ? NULL : imgs[e->source];
    size_t old_size = e->source == NONE ? 0 : img_sizes[e->source];

    snprintf(path, sizeof(path), "%s/%s", dir, e->name);
    pkg = od_test_read_file(path, &size);
    if (!pkg) {
        fprintf(stderr, "  %s: listed but missing\n", path);
        OD_CHECK(pkg != NULL);
        return;
    }
    OD_CHECK(size < 20 * 1024);

    r = od_pkg_check(pkg, size, &h);
    if (r != e->pkg)
        fprintf(stderr, "  %s: od_pkg_check gave %s, expected %s\n", e->name, pkg_name(r),
                pkg_name(e->pkg));
    OD_CHECK(r == e->pkg);

    /* A good package describes exactly its images. */
    if (!strncmp(e->name, "good-", 5) && r == OD_PKG_OK) {
        uint8_t md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
        od_pkg_hash_image(imgs[e->target], img_sizes[e->target], md5, sha);
        OD_CHECK_EQ(h.target_size, img_sizes[e->target]);
        OD_CHECK(!memcmp(md5, h.target_md5, OD_MD5_LEN));
        OD_CHECK(!memcmp(sha, h.target_sha256, OD_SHA256_LEN));
        OD_CHECK_EQ(h.kind, e->source == NONE ? OD_KIND_FULL : OD_KIND_DELTA);
        if (e->source != NONE) {
            od_pkg_hash_image(old, old_size, md5, sha);
            OD_CHECK_EQ(h.source_size, old_size);
            OD_CHECK(!memcmp(md5, h.source_md5, OD_MD5_LEN));
            OD_CHECK(!memcmp(sha, h.source_sha256, OD_SHA256_LEN));
        }
    }

    for (c = 0; c < 2; c++) {
        run rn = run_applier(pkg, size, old, old_size, chunks[c], c == 0, 0, NULL, 0);
        check_run(e, &rn, size, chunks[c], c == 0);
        if (e->patch == OD_PATCH_DONE && rn.ret == OD_PATCH_DONE)
            OD_CHECK_EQ(rn.fl.saved, od_pkg_parse_header(pkg, size, &h) == OD_PKG_OK
                                         ? h.block_count : 0u);
        /* A failed update never records every block as done: a device
         * resuming from that record would skip straight to the read-back.
         * Two checks come after that record by design: the read-back
         * itself (VERIFY) and the payload hash, whose failure cannot hide
         * a wrong image because the read-back still checks it. */
        if (e->patch < 0 && e->patch != OD_PATCH_ERR_VERIFY &&
            strcmp(e->name, "bad-payload-sha.otad") != 0 &&
            od_pkg_parse_header(pkg, size, &h) == OD_PKG_OK && h.block_count &&
            rn.fl.saved >= h.block_count) {
            fprintf(stderr, "  %s: every block recorded done before %s\n", e->name,
                    patch_name(rn.ret));
            OD_CHECK(0);
        }
        run_free(&rn);
    }

    if (!strncmp(e->name, "good-", 5) && od_pkg_parse_header(pkg, size, &h) == OD_PKG_OK &&
        h.block_count > 1)
        check_resume(e, pkg, size, &h);
    free(pkg);
}

static void test_samples(void)
{
    size_t i;
    if (!dir)
        OD_SKIP("OD_TEST_FILES is not set");
    for (i = 0; i < NFILES; i++)
        check_file(&files[i]);
    fprintf(stderr, "  %u sample files, %u applier runs (%u resumed)\n", (unsigned)NFILES,
            applier_runs, resumed_runs);
}

/* A sample the directory has must be in the table (and so in the README). */
static void test_directory_listed(void)
{
    DIR *d;
    struct dirent *ent;
    unsigned seen = 0;
    if (!dir)
        OD_SKIP("OD_TEST_FILES is not set");
    d = opendir(dir);
    OD_REQUIRE(d != NULL);
    while ((ent = readdir(d)) != NULL) {
        const char *n = ent->d_name;
        if (strncmp(n, "good-", 5) && strncmp(n, "bad-", 4) && strncmp(n, "unsupported-", 12))
            continue;
        seen++;
        if (!find_expect(n)) {
            fprintf(stderr, "  %s/%s is not in test_files.c's table\n", dir, n);
            OD_CHECK(find_expect(n) != NULL);
        }
    }
    closedir(d);
    OD_CHECK_EQ(seen, NFILES);
}

/*
 * The README's table rows ("| `name` | source | what | `OD_PKG_..` |
 * `OD_PATCH_..` ...") must list exactly the files of this table, each with
 * the same reader and applier result.
 */
static void test_readme_agrees(void)
{
    char path[4096], line[2048];
    FILE *f;
    unsigned char listed[NFILES];
    size_t i;
    /* The README states the image sizes; a change to the image generator
     * would invalidate every sample. */
    OD_CHECK_EQ(img_sizes[V1], 9925);
    OD_CHECK_EQ(img_sizes[V2], 10245);
    OD_CHECK_EQ(img_sizes[EMPTY], 0);
    if (!dir)
        OD_SKIP("OD_TEST_FILES is not set");
    snprintf(path, sizeof(path), "%s/README.md", dir);
    f = fopen(path, "r");
    OD_REQUIRE(f != NULL);
    memset(listed, 0, sizeof(listed));
    while (fgets(line, sizeof(line), f)) {
        char name[256], *q, *pk, *pa;
        const expect *e;
        size_t n;
        if (strncmp(line, "| `", 3))
            continue;
        q = strchr(line + 3, '`');
        if (!q || (n = (size_t)(q - (line + 3))) >= sizeof(name))
            continue;
        memcpy(name, line + 3, n);
        name[n] = '\0';
        if (strncmp(name, "good-", 5) && strncmp(name, "bad-", 4) &&
            strncmp(name, "unsupported-", 12))
            continue;
        e = find_expect(name);
        if (!e) {
            fprintf(stderr, "  README lists %s, which test_files.c does not know\n", name);
            OD_CHECK(e != NULL);
            continue;
        }
        listed[e - files]++;
        pk = strstr(line, "`OD_PKG_");
        pa = strstr(line, "`OD_PATCH_");
        OD_CHECK(pk && pa);
        if (!pk || !pa)
            continue;
        if (strncmp(pk + 1, pkg_name(e->pkg), strlen(pkg_name(e->pkg))) ||
            pk[1 + strlen(pkg_name(e->pkg))] != '`' ||
            strncmp(pa + 1, patch_name(e->patch), strlen(patch_name(e->patch))) ||
            pa[1 + strlen(patch_name(e->patch))] != '`') {
            fprintf(stderr, "  README row for %s disagrees with the table (%s, %s)\n", name,
                    pkg_name(e->pkg), patch_name(e->patch));
            OD_CHECK(0);
        }
    }
    fclose(f);
    for (i = 0; i < NFILES; i++) {
        if (listed[i] != 1)
            fprintf(stderr, "  %s is listed %u times in the README\n", files[i].name,
                    (unsigned)listed[i]);
        OD_CHECK_EQ(listed[i], 1);
    }
}

/*
 * A good package on the wrong device: wrong base image (by size, and by
 * hash with check_source), too small a work buffer, incompatible flash.
 * All are refused before anything is written.
 */
static void test_wrong_environment(void)
{
    char path[4096];
    uint8_t *pkg, *fake;
    size_t size = 0;
    od_pkg_header h;
    od_patch_config cfg;
    od_patch p;
    flash fl;
    int r, c;

    if (!dir)
        OD_SKIP("OD_TEST_FILES is not set");
    snprintf(path, sizeof(path), "%s/good-delta-lzma.otad", dir);
    pkg = od_test_read_file(path, &size);
    OD_REQUIRE(pkg != NULL);
    OD_REQUIRE(od_pkg_parse_header(pkg, size, &h) == OD_PKG_OK);
    fake = malloc(img_sizes[V1]);
    memcpy(fake, imgs[V1], img_sizes[V1]);
    fake[img_sizes[V1] / 2] ^= 0x40;

    /* 0: v2 as the old image (wrong size); 1: a same-size damaged v1 with
     * check_source; 2: the device expects another source SHA-256; 3: work
     * buffer one byte short; 4: device page larger than the package's
     * erase unit; 5: new-image capacity one page short. */
    for (c = 0; c < 6; c++) {
        static const int want[] = {OD_PATCH_ERR_WRONG_SOURCE, OD_PATCH_ERR_WRONG_SOURCE,
                                   OD_PATCH_ERR_WRONG_SOURCE, OD_PATCH_ERR_NO_MEM,
                                   OD_PATCH_ERR_GEOMETRY, OD_PATCH_ERR_GEOMETRY};
        uint8_t wrong_sha[OD_SHA256_LEN];
        uint32_t page = c == 4 ? 2 * h.erase_size : h.page_size;
        size_t pos = 0;

        memset(&fl, 0, sizeof(fl));
        fl.old = c == 0 ? imgs[V2] : c <= 2 ? fake : imgs[V1];
        fl.old_size = c == 0 ? img_sizes[V2] : img_sizes[V1];
        fl.page = page;
        fl.cap = (h.target_size + page - 1) / page * page;
        fl.img = malloc(fl.cap);
        memset(fl.img, 0xFF, fl.cap);
        memset(&cfg, 0, sizeof(cfg));
        cfg.ctx = &fl;
        cfg.read_old = fl_read_old;
        cfg.write = fl_write;
        cfg.read_new = fl_read_new;
        cfg.work_size = page + od_pkg_codec_workspace(&h) - (c == 3 ? 1 : 0);
        cfg.work = malloc(cfg.work_size);
        cfg.page_size = page;
        cfg.erase_size = page;
        cfg.new_capacity = (uint32_t)(c == 5 ? fl.cap - page : fl.cap);
        cfg.old_size = (uint32_t)fl.old_size;
        cfg.check_source = c == 1;
        if (c == 2) {
            memcpy(wrong_sha, h.source_sha256, OD_SHA256_LEN);
            wrong_sha[0] ^= 1;
            cfg.expect_source_sha256 = wrong_sha;
        }
        cfg.erased_value = 0xFF;
        OD_CHECK_EQ(od_patch_init(&p, &cfg, 0), OD_PATCH_OK);
        r = od_patch_feed(&p, pkg, &pos, size);
        if (r != want[c])
            fprintf(stderr, "  wrong-environment case %d: %s, expected %s\n", c, patch_name(r),
                    patch_name(want[c]));
        OD_CHECK_EQ(r, want[c]);
        OD_CHECK_EQ(fl.writes, 0);
        OD_CHECK_EQ(fl.violations, 0);
        free(cfg.work);
        free(fl.img);
    }
    free(fake);
    free(pkg);
}

/*
 * The generator is deterministic (od_diff.h promises it): each good recipe
 * built twice gives identical bytes, and what it builds today applies. A
 * difference from the committed sample is only reported: the samples are a
 * frozen corpus and the generator may legitimately improve.
 */
static void test_generator_recipes(void)
{
    size_t i;
    for (i = 0; i < OD_SAMPLE_NRECIPES; i++) {
        const od_sample_recipe *rc = &od_sample_recipes[i];
        const expect *e = find_expect(rc->name);
        uint8_t *a = NULL, *b = NULL, *committed = NULL;
        size_t na = 0, nb = 0, nc = 0;
        char path[4096];
        OD_CHECK(e != NULL);
        OD_CHECK_EQ(od_sample_build(rc, imgs, img_sizes, &a, &na), OD_DIFF_OK);
        OD_CHECK_EQ(od_sample_build(rc, imgs, img_sizes, &b, &nb), OD_DIFF_OK);
        OD_REQUIRE(a && b);
        OD_CHECK(na == nb && !memcmp(a, b, na));
        OD_CHECK_EQ(od_pkg_check(a, na, NULL), OD_PKG_OK);
        if (e) {
            run r = run_applier(a, na, rc->source == NONE ? NULL : imgs[rc->source],
                                rc->source == NONE ? 0 : img_sizes[rc->source], 1024, 1, 0,
                                NULL, 0);
            check_run(e, &r, na, 1024, 1);
            run_free(&r);
        }
        if (dir) {
            snprintf(path, sizeof(path), "%s/%s", dir, rc->name);
            committed = od_test_read_file(path, &nc);
            if (committed && (nc != na || memcmp(committed, a, na)))
                fprintf(stderr, "  note: the generator now makes %s differently (%zu bytes, "
                        "committed %zu); the committed sample stays the reference\n",
                        rc->name, na, nc);
            free(committed);
        }
        free(a);
        free(b);
    }
}

int main(void)
{
    int v;
    dir = getenv("OD_TEST_FILES");
    if (dir && !*dir)
        dir = NULL;
    for (v = EMPTY; v <= V2; v++) {
        imgs[v] = od_sample_image(v, &img_sizes[v]);
        if (!imgs[v]) {
            fprintf(stderr, "cannot build sample image %d\n", v);
            return 1;
        }
    }
    OD_RUN(test_samples);
    OD_RUN(test_directory_listed);
    OD_RUN(test_readme_agrees);
    OD_RUN(test_wrong_environment);
    OD_RUN(test_generator_recipes);
    for (v = EMPTY; v <= V2; v++)
        free(imgs[v]);
    return od_test_summary();
}
