/*
 * test_powerloss.c - power cuts at every flash operation, torn page
 * programs, dropped downloads and a cut during the final verification.
 *
 * The model is the device's: a NOR-like flash simulator (erase-before-write:
 * programming a byte that is not erased is an error; page-granular
 * programs, erase-unit erases; a counter of operations) and a progress cell
 * that survives a reset (the integrator's save_progress target). A "boot"
 * reads the cell, starts the applier with od_patch_init(..., cell) and
 * downloads the package in 1 KiB Range reads from od_patch_offset(),
 * following SEEKs, exactly as a bootloader does.
 *
 * A power cut is a longjmp out of the callback that was about to touch
 * flash (littlefs's run_powerloss_linear idea). For every operation i of a
 * clean run we cut at i, in three ways (before the operation; half of it
 * done with the rest left erased; half done with the rest garbage), reboot
 * once and require the second boot to end DONE with the flash equal to the
 * target. Two invariants hold for every boot of every case: the applier
 * never breaks the flash contract (program over non-erased bytes, unaligned
 * or partial pages), and DONE is never returned unless the flash really
 * holds the target image.
 *
 * Images: synthetic ones always (so the test never skips entirely), and
 * three real Cortex-M pairs from the shared corpus when OD_CORPUS_DIR
 * points at it. Blocks are 16 KiB so every image has many restart points.
 * OD_SKIP_LARGE (set for sanitizer builds) keeps the corpus pairs but cuts
 * only before every operation and tears every 8th one, to stay fast.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "od_diff.h"
#include "od_patch.h"
#include "od_test.h"

#define PAGE 256u
#define ERASE 4096u
#define BLOCK 8192u
#define CHUNK 1024u /* one modem read (AT+QIOTOTARD=<off>,1024) */

/* How the power fails at the chosen operation. */
enum cut_mode { CUT_BEFORE, CUT_TORN_ERASED, CUT_TORN_GARBAGE, CUT_MODES };

/* What boot() returns besides od_patch_ret values. */
#define BOOT_CUT 100     /* power failed */
#define BOOT_STALLED 101 /* the download stopped (link lost) */

/* Kinds of operation, recorded by the clean run. */
#define OP_ERASE 'E'
#define OP_PROG 'P'
#define OP_CELL 'S'

typedef struct flash_sim {
    const uint8_t *old;
    uint32_t old_size;
    uint8_t *mem;       /* new-image region */
    uint32_t cap;       /* bytes, a multiple of ERASE */
    uint32_t cell;      /* progress cell: blocks_done, survives resets */
    /* Counters of the current boot. */
    uint32_t ops;       /* erase + program + cell writes */
    uint32_t erases, progs, reads_new;
    /* Fault injection; -1 = never. One-shot. */
    long cut_op;
    long cut_read;
    int mode;
    /* Recording (clean runs only). */
    char *kinds;
    uint32_t kinds_cap;
    uint32_t violations; /* contract breaches, over all boots */
    unsigned long long rng;
    jmp_buf reset;
} flash_sim;

static void power_cut(flash_sim *s)
{
    longjmp(s->reset, 1);
}

static uint8_t noise(flash_sim *s)
{
    return (uint8_t)(od_test_rand(&s->rng) >> 56);
}

/*
 * Starts one erase/program/cell operation. Returns 1 if power fails
 * while it runs (the caller does half and calls power_cut()); cuts at once
 * for CUT_BEFORE.
 */
static int op_begin(flash_sim *s, char kind)
{
    if (s->cut_op >= 0 && s->ops == (uint32_t)s->cut_op) {
        s->cut_op = -1;
        if (s->mode == CUT_BEFORE || kind == OP_CELL)
            power_cut(s);
        return 1;
    }
    if (s->kinds && s->ops < s->kinds_cap)
        s->kinds[s->ops] = kind;
    s->ops++;
    return 0;
}

static int sim_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    flash_sim *s = ctx;
    if ((uint64_t)off + len > s->old_size) {
        s->violations++;
        return -1;
    }
    memcpy(buf, s->old + off, len);
    return 0;
}

static int sim_erase(void *ctx, uint32_t off, uint32_t len)
{
    flash_sim *s = ctx;
    if (off % ERASE || len != ERASE || (uint64_t)off + len > s->cap) {
        s->violations++;
        return -1;
    }
    if (op_begin(s, OP_ERASE)) {
        /* An interrupted erase: the first half done, the rest as it was
         * or, worse, scrambled. */
        uint32_t i;
        memset(s->mem + off, 0xFF, len / 2);
        if (s->mode == CUT_TORN_GARBAGE)
            for (i = len / 2; i < len; i++)
                s->mem[off + i] = noise(s);
        power_cut(s);
    }
    memset(s->mem + off, 0xFF, len);
    s->erases++;
    return 0;
}

static int sim_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    flash_sim *s = ctx;
    uint32_t i;
    if (off % PAGE || len != PAGE || (uint64_t)off + len > s->cap) {
        s->violations++;
        return -1;
    }
    /* Erase-before-write: NOR cannot set a bit back to 1 by programming. */
    for (i = 0; i < len; i++) {
        if (s->mem[off + i] != 0xFF) {
            s->violations++;
            return -1;
        }
    }
    if (op_begin(s, OP_PROG)) {
        /* Half the page programmed; the rest still erased, or partly
         * programmed (some of its 0 bits still 1). */
        memcpy(s->mem + off, buf, len / 2);
        if (s->mode == CUT_TORN_GARBAGE)
            for (i = len / 2; i < len; i++)
                s->mem[off + i] = (uint8_t)(buf[i] | noise(s));
        power_cut(s);
    }
    memcpy(s->mem + off, buf, len);
    s->progs++;
    return 0;
}

static int sim_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    flash_sim *s = ctx;
    if ((uint64_t)off + len > s->cap) {
        s->violations++;
        return -1;
    }
    if (s->cut_read >= 0 && s->reads_new == (uint32_t)s->cut_read) {
        s->cut_read = -1;
        power_cut(s);
    }
    s->reads_new++;
    memcpy(buf, s->mem + off, len);
    return 0;
}

static int sim_save(void *ctx, uint32_t blocks_done)
{
    flash_sim *s = ctx;
    /* Each block is reported once, in order, right after the last one. */
    if (blocks_done != s->cell + 1)
        s->violations++;
    op_begin(s, OP_CELL); /* the cell itself is written atomically */
    s->cell = blocks_done;
    return 0;
}

/* The applier and its config live outside boot()'s frame: a longjmp may
 * leave them at any point, and the next boot starts them afresh. */
static od_patch g_patch;
static od_patch_config g_cfg;
static uint8_t *g_work;

/* The download loop of a boot: 1 KiB reads from where the applier asks,
 * until it finishes, fails, or the link drops at stop_at. */
static int download(const uint8_t *pkg, uint32_t stop_at)
{
    uint8_t rx[CHUNK];
    od_patch_init(&g_patch, &g_cfg, ((flash_sim *)g_cfg.ctx)->cell);
    for (;;) {
        uint32_t off = od_patch_offset(&g_patch);
        size_t pos = 0, n;
        int r;
        if (off >= stop_at)
            return BOOT_STALLED;
        n = stop_at - off < CHUNK ? stop_at - off : CHUNK;
        memcpy(rx, pkg + off, n); /* the Range / AT read */
        /* Offer the rest of the chunk again if OK left some of it: the
         * applier does so once per boot, at the end of the block index. */
        do {
            size_t before = pos;
            r = od_patch_feed(&g_patch, rx, &pos, n);
            if (r != OD_PATCH_OK && r != OD_PATCH_SEEK)
                return r;
            if (r == OD_PATCH_OK && pos == before && pos != n)
                return OD_PATCH_ERR_MISUSE; /* no progress */
        } while (r == OD_PATCH_OK && pos < n);
    }
}

/* One power-on. Returns the applier's final status, BOOT_CUT or
 * BOOT_STALLED. */
static int boot(flash_sim *s, const uint8_t *pkg, uint32_t stop_at)
{
    s->ops = s->erases = s->progs = s->reads_new = 0;
    if (setjmp(s->reset))
        return BOOT_CUT;
    return download(pkg, stop_at);
}

/* The other invariant: DONE only with the target really in flash. */
static int false_success(const flash_sim *s, int r, const uint8_t *nw, uint32_t ns)
{
    return r == OD_PATCH_DONE && memcmp(s->mem, nw, ns) != 0;
}

/* Power-on state of a device about to update: stale bytes in the slot. */
static void fresh_device(flash_sim *s, unsigned long long seed)
{
    uint32_t i;
    s->rng = seed;
    for (i = 0; i < s->cap; i++)
        s->mem[i] = noise(s);
    s->cell = 0;
    s->cut_op = s->cut_read = -1;
    s->mode = CUT_BEFORE;
}

static uint8_t *make_pkg(const uint8_t *old, uint32_t os, const uint8_t *nw, uint32_t ns,
                         int codec, int kind, size_t *size)
{
    od_diff_params p;
    uint8_t *pkg = NULL;
    od_diff_params_init(&p);
    p.codec = codec;
    p.exact_codec = 1; /* every codec's resume, even where none is smaller */
    p.kind = kind;
    p.block_size = BLOCK;
    p.restart_interval = BLOCK;
    p.source_version = "1.0.0";
    p.target_version = "1.1.0";
    if (od_diff_create(old, os, nw, ns, &p, &pkg, size) != OD_DIFF_OK)
        return NULL;
    return pkg;
}

/* Package offset where block k starts (its Range offset). */
static uint32_t block_offset(const od_pkg_header *h, const uint8_t *pkg, uint32_t k)
{
    const uint8_t *idx = pkg + od_pkg_index_offset(h);
    return od_pkg_payload_offset(h) + od_get_le32(idx + 8 * k);
}

static uint32_t block_out(const od_pkg_header *h, const uint8_t *pkg, uint32_t k)
{
    const uint8_t *idx = pkg + od_pkg_index_offset(h);
    return od_get_le32(idx + 8 * k + 4);
}

/* Counts one failed expectation and says where; returns 1. */
static int report(const char *name, const char *what, long at, int mode, int r)
{
    fprintf(stderr, "  %s: %s (op %ld, mode %d): %s (%d)\n", name, what, at, mode,
            r >= 100 ? "cut/stalled" : od_patch_strerror(r), r);
    od_test_failed_checks++;
    return 1;
}

/*
 * Every cut point, every way, for one package. quick: cut before every
 * operation but tear only every 8th (sanitizer builds).
 */
static void powerloss_pkg(const char *name, const uint8_t *old, uint32_t os, const uint8_t *nw,
                          uint32_t ns, int codec, int kind, int quick)
{
    flash_sim s;
    od_pkg_header h;
    size_t pkg_size;
    uint32_t total_ops, total_progs, total_reads, i, k, payload_off;
    int r, mode, fails = 0;
    unsigned long long seed = 1234 + (unsigned)codec;
    uint8_t *pkg = make_pkg(old, os, nw, ns, codec, kind, &pkg_size);

    OD_REQUIRE(pkg != NULL);
    OD_REQUIRE(od_pkg_parse_header(pkg, pkg_size, &h) == OD_PKG_OK);
    memset(&s, 0, sizeof(s));
    s.old = old;
    s.old_size = os;
    s.cap = (ns + ERASE - 1) / ERASE * ERASE;
    s.mem = malloc(s.cap ? s.cap : 1);
    s.kinds_cap = 2 * (s.cap / PAGE) + h.block_count + 16;
    s.kinds = malloc(s.kinds_cap);
    g_work = malloc(h.ram_needed);
    OD_REQUIRE(s.mem && s.kinds && g_work);
    memset(&g_cfg, 0, sizeof(g_cfg));
    g_cfg.ctx = &s;
    g_cfg.read_old = sim_read_old;
    g_cfg.erase = sim_erase;
    g_cfg.write = sim_write;
    g_cfg.read_new = sim_read_new;
    g_cfg.save_progress = sim_save;
    g_cfg.work = g_work;
    g_cfg.work_size = h.ram_needed;
    g_cfg.page_size = PAGE;
    g_cfg.erase_size = ERASE;
    g_cfg.new_capacity = s.cap;
    g_cfg.old_size = os;
    g_cfg.erased_value = 0xFF;
    payload_off = od_pkg_payload_offset(&h);

    /* The clean run: records every operation. */
    fresh_device(&s, seed);
    r = boot(&s, pkg, (uint32_t)pkg_size);
    total_ops = s.ops;
    total_progs = s.progs;
    total_reads = s.reads_new;
    s.kinds_cap = 0; /* recording done */
    OD_CHECK_EQ(r, OD_PATCH_DONE);
    OD_CHECK(memcmp(s.mem, nw, ns) == 0);
    OD_CHECK_EQ(s.cell, h.block_count);
    OD_CHECK_EQ(s.violations, 0);
    fprintf(stderr, "  %s codec %d: %zu bytes, %u blocks, %u flash ops, %u reads\n", name,
            codec, pkg_size, h.block_count, total_ops, total_reads);

    /* 1. Power fails at every operation, in every way; one reboot. */
    for (i = 0; i < total_ops && fails < 3; i++) {
        for (mode = 0; mode < CUT_MODES && fails < 3; mode++) {
            uint32_t saved;
            if (mode != CUT_BEFORE && (s.kinds[i] == OP_CELL || (quick && i % 8)))
                continue;
            fresh_device(&s, seed + i * 3 + (unsigned)mode);
            s.cut_op = (long)i;
            s.mode = mode;
            r = boot(&s, pkg, (uint32_t)pkg_size);
            if (r != BOOT_CUT) {
                fails += report(name, "cut did not happen", (long)i, mode, r);
                continue;
            }
            saved = s.cell;
            r = boot(&s, pkg, (uint32_t)pkg_size);
            if (r != OD_PATCH_DONE || memcmp(s.mem, nw, ns) != 0 || s.violations)
                fails += report(name, "no recovery after power cut", (long)i, mode, r);
            /* Resume re-does no finished block: pages written after the
             * reboot are exactly those from the resumed block on. */
            if (saved < h.block_count &&
                s.progs != total_progs - block_out(&h, pkg, saved) / PAGE)
                fails += report(name, "resume rewrote finished blocks", (long)i, mode, r);
            if (saved == h.block_count && (s.progs || s.erases))
                fails += report(name, "verify-only boot wrote flash", (long)i, mode, r);
        }
    }

    /* 2. The download stops at every block boundary, and inside each block. */
    for (k = 1; k <= h.block_count && fails < 3; k++) {
        uint32_t end = k < h.block_count ? block_offset(&h, pkg, k) : (uint32_t)pkg_size;
        uint32_t mid = (block_offset(&h, pkg, k - 1) + end) / 2;
        fresh_device(&s, seed + k);
        r = boot(&s, pkg, end);
        /* The last boundary is the package's end: the update completes. */
        if ((k < h.block_count && (r != BOOT_STALLED || s.cell != k)) ||
            (k == h.block_count && r != OD_PATCH_DONE))
            fails += report(name, "download cut at block boundary", (long)k, 0, r);
        if (k < h.block_count) {
            r = boot(&s, pkg, (uint32_t)pkg_size);
            if (r != OD_PATCH_DONE || memcmp(s.mem, nw, ns) != 0)
                fails += report(name, "resume after download cut", (long)k, 0, r);
        }
        fresh_device(&s, seed + k);
        r = boot(&s, pkg, mid);
        if (r != BOOT_STALLED || s.cell != k - 1)
            fails += report(name, "download cut inside a block", (long)k, 0, r);
        r = boot(&s, pkg, (uint32_t)pkg_size);
        if (r != OD_PATCH_DONE || memcmp(s.mem, nw, ns) != 0)
            fails += report(name, "resume after mid-block cut", (long)k, 0, r);
    }
    /* Stopped inside the header or the index: nothing written at all. */
    fresh_device(&s, seed);
    r = boot(&s, pkg, payload_off > 1 ? payload_off - 1 : 1);
    OD_CHECK(r == BOOT_STALLED && s.cell == 0 && s.progs == 0 && s.erases == 0);

    /* 3. Power fails during the final read-back: only verification runs
     * again, and it writes nothing. */
    for (i = 0; i < total_reads && fails < 3; i += quick ? 8 : 1) {
        fresh_device(&s, seed + i);
        s.cut_read = (long)i;
        r = boot(&s, pkg, (uint32_t)pkg_size);
        if (r != BOOT_CUT || s.cell != h.block_count) {
            fails += report(name, "cut during verification", (long)i, 0, r);
            continue;
        }
        r = boot(&s, pkg, (uint32_t)pkg_size);
        if (r != OD_PATCH_DONE || s.progs || s.erases || memcmp(s.mem, nw, ns) != 0)
            fails += report(name, "verify-only boot", (long)i, 0, r);
    }

    /* 4. Never a false success. Flash that decays after a block was
     * reported done is caught by the read-back... */
    if (ns) {
        fresh_device(&s, seed);
        r = boot(&s, pkg, (uint32_t)pkg_size);
        OD_CHECK_EQ(r, OD_PATCH_DONE);
        s.mem[ns / 3] ^= 0x01;
        r = boot(&s, pkg, (uint32_t)pkg_size);
        OD_CHECK_EQ(r, OD_PATCH_ERR_VERIFY);
        /* ...also when it happened to a finished block while a later one
         * was being written. */
        if (h.block_count > 1) {
            fresh_device(&s, seed);
            s.cut_op = (long)(total_ops - 2);
            r = boot(&s, pkg, (uint32_t)pkg_size);
            OD_CHECK_EQ(r, BOOT_CUT);
            s.mem[0] ^= 0x80;
            r = boot(&s, pkg, (uint32_t)pkg_size);
            OD_CHECK_EQ(r, OD_PATCH_ERR_VERIFY);
        }
        /* A package damaged in transit fails its block, never succeeds;
         * the device downloads again from the saved block and completes. */
        if (pkg_size > payload_off + 8) {
            uint32_t at = payload_off + (uint32_t)(pkg_size - payload_off) / 2;
            uint8_t *bad = malloc(pkg_size);
            OD_REQUIRE(bad != NULL);
            memcpy(bad, pkg, pkg_size);
            bad[at] ^= 0x10;
            fresh_device(&s, seed);
            r = boot(&s, bad, (uint32_t)pkg_size);
            OD_CHECK(r < 0 && r != OD_PATCH_DONE);
            OD_CHECK(!false_success(&s, r, nw, ns));
            r = boot(&s, pkg, (uint32_t)pkg_size);
            OD_CHECK_EQ(r, OD_PATCH_DONE);
            OD_CHECK(memcmp(s.mem, nw, ns) == 0);
            free(bad);
        }
    }
    /* A device on the wrong old image, cut and resumed: whatever happens,
     * DONE only with the real target in flash. */
    if (kind == OD_KIND_DELTA && os > 64) {
        uint8_t *wrong = malloc(os);
        OD_REQUIRE(wrong != NULL);
        memcpy(wrong, old, os);
        for (i = 0; i < os; i += os / 16 + 1)
            wrong[i] ^= 0x5A;
        s.old = wrong;
        for (i = 0; i < total_ops; i += total_ops / 8 + 1) {
            fresh_device(&s, seed + i);
            s.cut_op = (long)i;
            r = boot(&s, pkg, (uint32_t)pkg_size);
            if (r != BOOT_CUT)
                continue;
            r = boot(&s, pkg, (uint32_t)pkg_size);
            if (false_success(&s, r, nw, ns))
                fails += report(name, "wrong old image reported as success", (long)i, 0, r);
        }
        s.old = old;
        free(wrong);
    }
    OD_CHECK_EQ(s.violations, 0);
    free(s.mem);
    free(s.kinds);
    free(g_work);
    free(pkg);
}

static void powerloss_pair(const char *name, const uint8_t *old, uint32_t os, const uint8_t *nw,
                           uint32_t ns, int quick)
{
    static const int codecs[] = {OD_CODEC_LZMA, OD_CODEC_DEFLATE, OD_CODEC_NONE};
    size_t c;
    for (c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++)
        powerloss_pkg(name, old, os, nw, ns, codecs[c], OD_KIND_DELTA, quick);
}

/* Firmware-like bytes: code-ish words with some noise. */
static void fill_firmware(uint8_t *b, size_t n, unsigned long long seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned long long r = od_test_rand(&seed);
        b[i] = (r & 7) == 0 ? (uint8_t)(r >> 56) : (uint8_t)((i * 13) ^ (i >> 5));
    }
}

static void t_synthetic(void)
{
    enum { N = 90000 };
    uint8_t *a = malloc(N), *b = malloc(N + N / 8);
    uint32_t bn, i;
    unsigned long long seed = 99;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 7);
    /* A release-like edit: an insertion, scattered changes, a short tail. */
    memcpy(b, a, N / 3);
    for (i = 0; i < N / 10; i++)
        b[N / 3 + i] = (uint8_t)(od_test_rand(&seed) >> 56);
    memcpy(b + N / 3 + N / 10, a + N / 3, N - N / 3 - 1000);
    bn = N + N / 10 - 1000;
    for (i = 0; i < bn / 400; i++)
        b[od_test_rand(&seed) % bn] += 3;
    powerloss_pair("synthetic", a, N, b, bn, getenv("OD_SKIP_LARGE") != NULL);
    /* A full package (整包) and an image that ends mid-page. */
    powerloss_pkg("synthetic-full", NULL, 0, b, bn - 77, OD_CODEC_LZMA, OD_KIND_FULL, 1);
    free(a);
    free(b);
}

/* Three real Cortex-M pairs, the smallest ones of the corpus. */
static void t_corpus(void)
{
    static const char *const want[] = {"altos-easymini", "hackrf-one", "altos-telemega"};
    od_test_corpus c;
    const char *why;
    int pairs = 0;

    if (!od_test_corpus_open(&c, &why))
        OD_SKIP("%s: corpus pairs skipped", why);
    while (od_test_corpus_next(&c)) {
        uint8_t *old, *nw;
        size_t os = 0, ns = 0, w;
        int wanted = 0;
        for (w = 0; w < sizeof(want) / sizeof(want[0]); w++)
            wanted |= strcmp(c.id, want[w]) == 0;
        if (!wanted)
            continue;
        old = od_test_read_file(c.old_path, &os);
        nw = od_test_read_file(c.new_path, &ns);
        OD_CHECK(old && nw);
        if (old && nw) {
            powerloss_pair(c.id, old, (uint32_t)os, nw, (uint32_t)ns,
                           getenv("OD_SKIP_LARGE") != NULL);
            pairs++;
        }
        free(old);
        free(nw);
    }
    od_test_corpus_close(&c);
    OD_CHECK_EQ(pairs, 3);
}

int main(void)
{
    OD_RUN(t_synthetic);
    OD_RUN(t_corpus);
    return od_test_summary();
}
