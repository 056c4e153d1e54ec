/*
 * test_mutate.c - thousands of deterministic mutations of real packages
 * through the applier, and a subset through the otadelta binary.
 *
 * Base packages: every codec, delta and full, several blocks each, from
 * synthetic firmware-like images and (when OD_CORPUS_DIR has pairs.tsv)
 * the first small pair of the shared corpus; half of them signed and
 * applied with the OpenSSL verify hook. Mutations: bit flips, truncation,
 * extension, header field edits with the CRC recomputed, swapped blocks,
 * reordered index entries with both CRCs recomputed, payload edits with
 * the block CRC recomputed (so only the decoder, the op rules and the
 * payload SHA-256 stand in the way), TLV insertions and edits.
 *
 * Every run must: end (a no-progress guard turns a hang into a failure),
 * never write outside the flash region or off the page grid (the test
 * flash counts violations), never report DONE unless the region holds the
 * original target, and otherwise fail with one of the documented
 * od_patch_ret errors that untrusted input may cause. Through the CLI:
 * exit 0 (and the right output), 3 or 4, never a signal.
 *
 * OD_MUTATE_COUNT overrides the number of applier mutations (default
 * 6000; use a few hundred under ASan). argv[1] or OD_MUTATE_CLI, if set, is
 * the otadelta binary for the CLI subset (OD_MUTATE_CLI_COUNT mutants).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "od_diff.h"
#include "od_pkgfmt_host.h"
#include "od_pkgfmt_sign.h"
#include "od_test.h"
#include "od_test_flash.h"

#define MAX_BASES 16
#define WORK_MAX (4u << 20)

typedef struct base {
    char name[64];
    uint8_t *pkg;
    size_t size;
    const uint8_t *old;
    size_t old_size;
    const uint8_t *nw;
    size_t new_size;
    int is_signed;
} base;

static base bases[MAX_BASES];
static int nbases;
static EVP_PKEY *sign_key;
static unsigned long long rng = 0x0DDE17A5EEDull;
static const char *cli;

/* Per-kind tallies, printed at the end so a run shows what it covered. */
static unsigned long counts[16], results[32];
static const char *const kind_names[] = {
    "bitflip", "truncate", "extend", "field+crc", "swap-blocks", "swap-blocks+index",
    "reorder-index", "payload+blockcrc", "tlv", "header-byte", "zero-range", "chunked-valid"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

static uint32_t rnd(uint32_t n)
{
    return n ? (uint32_t)(od_test_rand(&rng) >> 33) % n : 0;
}

/* The core header's size as the bytes say, or 0 if it cannot be used. */
static uint32_t hdr_size(const uint8_t *p, size_t n)
{
    uint32_t hs = n >= OD_HDR_PREFIX ? od_get_le16(p + OD_HF_HDR_SIZE) : 0;
    return hs >= OD_HDR_MIN && hs <= n ? hs : 0;
}

/* Re-seals an edited package so the mutation reaches the check behind
 * the CRCs: the header CRC, or the index CRC and then the header's. */
static void fix_header(uint8_t *p, size_t n)
{
    od_pkg_fix_crcs(p, n, OD_PKG_FIX_HEADER_CRC);
}

static void fix_index(uint8_t *p, size_t n)
{
    od_pkg_fix_crcs(p, n, OD_PKG_FIX_INDEX_CRC | OD_PKG_FIX_HEADER_CRC);
}

/* ---- base packages ---- */

static void fill_firmware(uint8_t *b, size_t n, unsigned long long seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned long long r = od_test_rand(&seed);
        b[i] = (r & 7) == 0 ? (uint8_t)(r >> 56) : (uint8_t)((i * 13) ^ (i >> 5));
    }
}

static void add_base(const char *name, const uint8_t *old, size_t os, const uint8_t *nw,
                     size_t ns, int kind, int codec, uint32_t block, int do_sign)
{
    od_diff_params p;
    base *b;
    uint8_t *pkg = NULL;
    size_t size = 0;
    if (nbases == MAX_BASES)
        return;
    od_diff_params_init(&p);
    p.kind = kind;
    p.codec = codec;
    p.exact_codec = 1; /* mutants of each codec's streams */
    p.block_size = block;
    p.restart_interval = block / 2;
    p.source_version = "2.3.0";
    p.target_version = "2.4.0-rc1";
    if (od_diff_create(old, os, nw, ns, &p, &pkg, &size) != OD_DIFF_OK) {
        fprintf(stderr, "  cannot build base %s\n", name);
        OD_CHECK(0);
        return;
    }
    b = &bases[nbases];
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "%s/%s/%s%s", name, kind == OD_KIND_FULL ? "full" : "delta",
             od_pkg_codec_name(codec), do_sign ? "/signed" : "");
    if (do_sign) {
        uint8_t *s = NULL;
        size_t ss = 0;
        if (od_pkg_sign(pkg, size, sign_key, &s, &ss) != OD_SIGN_OK) {
            OD_CHECK(0);
            free(pkg);
            return;
        }
        free(pkg);
        pkg = s;
        size = ss;
    }
    b->pkg = pkg;
    b->size = size;
    b->old = kind == OD_KIND_FULL ? NULL : old;
    b->old_size = kind == OD_KIND_FULL ? 0 : os;
    b->nw = nw;
    b->new_size = ns;
    b->is_signed = do_sign;
    nbases++;
}

/* The first corpus pair whose images are both at most 256 KiB. */
static int load_corpus_pair(uint8_t **old, size_t *os, uint8_t **nw, size_t *ns)
{
    od_test_corpus c;
    const char *why;
    int found = 0;
    if (!od_test_corpus_open(&c, &why))
        return 0;
    while (!found && od_test_corpus_next(&c)) {
        *old = od_test_read_file(c.old_path, os);
        *nw = od_test_read_file(c.new_path, ns);
        if (*old && *nw && *os <= 262144 && *ns <= 262144 && *ns > 0) {
            fprintf(stderr, "  corpus pair %s (%zu -> %zu)\n", c.id, *os, *ns);
            found = 1;
        } else {
            free(*old);
            free(*nw);
            *old = *nw = NULL;
        }
    }
    od_test_corpus_close(&c);
    return found;
}

/* ---- mutations ---- */

/* Block boundaries from the (unmutated) base: payload-relative offsets. */
static uint32_t blocks_of(const uint8_t *p, uint32_t *start, uint32_t max)
{
    od_pkg_header h;
    uint32_t i, n;
    if (od_pkg_parse_header(p, OD_HDR_MAX, &h) != OD_PKG_OK)
        return 0;
    n = h.block_count < max ? h.block_count : max;
    for (i = 0; i < n; i++)
        start[i] = od_get_le32(p + od_pkg_index_offset(&h) + i * OD_INDEX_ENTRY_SIZE);
    if (n < max)
        start[n] = h.payload_size;
    return n;
}

/* Returns a malloc'd mutant of b (size in *n) of the given kind. */
static uint8_t *mutate(const base *b, unsigned kind, size_t *n)
{
    size_t size = b->size, i;
    uint8_t *m = malloc(size + 4096);
    od_pkg_header h;
    uint32_t start[65], nb, po;

    memcpy(m, b->pkg, size);
    od_pkg_parse_header(b->pkg, size, &h);
    po = od_pkg_payload_offset(&h);
    *n = size;
    switch (kind) {
    case 0: { /* bit flips anywhere */
        uint32_t k = 1 + rnd(8);
        while (k--) {
            size_t at = rnd((uint32_t)size);
            m[at] ^= (uint8_t)(1u << rnd(8));
        }
        break;
    }
    case 1: /* truncation */
        *n = rnd((uint32_t)size);
        break;
    case 2: { /* extension */
        size_t extra = 1 + rnd(64);
        for (i = 0; i < extra; i++)
            m[size + i] = (uint8_t)rnd(256);
        *n = size + extra;
        break;
    }
    case 3: { /* a header field edited, CRC recomputed */
        static const uint16_t offs[] = {8, 10, 12, 13, 14, 15, 16, 20, 24, 28, 32, 36, 40,
                                       44, 48, 52, 56, 60, 64, 80, 112, 128, 160, 192, 240,
                                       248, 290, 304, 312};
        uint32_t at = offs[rnd(sizeof(offs) / sizeof(offs[0]))];
        uint32_t v = od_get_le32(m + at);
        switch (rnd(5)) {
        case 0: v += 1; break;
        case 1: v -= 1; break;
        case 2: v ^= 1u << rnd(32); break;
        case 3: v = (uint32_t)od_test_rand(&rng); break;
        default: v = rnd(2) ? 0 : 0xFFFFFFFFu; break;
        }
        od_put_le32(m + at, v);
        fix_header(m, size);
        break;
    }
    case 4:   /* two blocks' bytes swapped, index left alone */
    case 5: { /* ... or the index updated to follow (both CRCs fixed) */
        uint32_t a, c, la, lc;
        uint8_t *tmp;
        nb = blocks_of(b->pkg, start, 64);
        if (nb < 2)
            break;
        a = rnd(nb - 1);
        c = a + 1 + rnd(nb - 1 - a);
        la = start[a + 1] - start[a];
        lc = start[c + 1] - start[c];
        /* [.. A mid C ..] -> [.. C mid A ..] */
        tmp = malloc(start[c + 1] - start[a]);
        memcpy(tmp, b->pkg + po + start[c], lc);
        memcpy(tmp + lc, b->pkg + po + start[a + 1], start[c] - start[a + 1]);
        memcpy(tmp + lc + (start[c] - start[a + 1]), b->pkg + po + start[a], la);
        memcpy(m + po + start[a], tmp, start[c + 1] - start[a]);
        free(tmp);
        if (kind == 5) {
            /* Entries keep their output offsets; payload offsets follow. */
            uint8_t *ix = m + od_pkg_index_offset(&h);
            uint32_t delta = lc - la;
            for (i = a + 1; i <= c; i++)
                od_put_le32(ix + i * OD_INDEX_ENTRY_SIZE,
                         od_get_le32(ix + i * OD_INDEX_ENTRY_SIZE) + delta);
            fix_index(m, size);
        }
        break;
    }
    case 6: { /* two index entries exchanged, CRCs recomputed */
        uint8_t *ix = m + od_pkg_index_offset(&h), t[OD_INDEX_ENTRY_SIZE];
        uint32_t a, c;
        if (h.block_count < 2)
            break;
        a = rnd(h.block_count);
        c = rnd(h.block_count);
        memcpy(t, ix + a * OD_INDEX_ENTRY_SIZE, OD_INDEX_ENTRY_SIZE);
        memcpy(ix + a * OD_INDEX_ENTRY_SIZE, ix + c * OD_INDEX_ENTRY_SIZE, OD_INDEX_ENTRY_SIZE);
        memcpy(ix + c * OD_INDEX_ENTRY_SIZE, t, OD_INDEX_ENTRY_SIZE);
        if (rnd(2)) /* or just one entry's field nudged */
            od_put_le32(ix + a * OD_INDEX_ENTRY_SIZE + 4 * rnd(2),
                     od_get_le32(ix + a * OD_INDEX_ENTRY_SIZE) + rnd(3) - 1);
        fix_index(m, size);
        break;
    }
    case 7: { /* payload bytes changed, that block's CRC trailer fixed */
        uint32_t k, blk, len;
        nb = blocks_of(b->pkg, start, 64);
        if (nb == 0)
            break;
        blk = rnd(nb);
        len = start[blk + 1] - start[blk] - OD_BLOCK_TRAILER;
        for (k = 1 + rnd(4); k; k--)
            m[po + start[blk] + rnd(len)] ^= (uint8_t)(1 + rnd(255));
        od_put_le32(m + po + start[blk] + len, od_crc32(0, m + po + start[blk], len));
        break;
    }
    case 8: { /* TLV edits */
        uint8_t rec[4 + 200];
        uint16_t type, len;
        uint32_t ext = od_get_le32(m + OD_HF_EXT_SIZE), at, hs = hdr_size(m, size);
        switch (rnd(6)) {
        case 0: type = OD_TLV_NOTE; len = (uint16_t)rnd(40); break;
        case 1: type = (uint16_t)(OD_TLV_CRITICAL | rnd(8)); len = (uint16_t)rnd(8); break;
        case 2: type = OD_TLV_SIGNATURE; len = (uint16_t)(129 + rnd(60)); break;
        case 3: type = OD_TLV_SIGNATURE; len = (uint16_t)rnd(129); break;
        case 4: type = (uint16_t)rnd(0x8000); len = (uint16_t)rnd(16); break;
        default: type = OD_TLV_NOTE; len = 0; break;
        }
        od_put_le16(rec, type);
        od_put_le16(rec + 2, len);
        for (i = 0; i < len; i++)
            rec[4 + i] = (uint8_t)rnd(256);
        /* Insert at the start or end of the area, ext_size fixed (mostly). */
        at = rnd(2) ? hs : hs + ext;
        memmove(m + at + 4 + len, m + at, size - at);
        memcpy(m + at, rec, 4u + len);
        *n = size + 4 + len;
        if (rnd(8)) {
            od_put_le32(m + OD_HF_EXT_SIZE, ext + 4 + len);
        } else if (rnd(2)) {
            od_put_le16(m + at + 2, (uint16_t)(len + 1 + rnd(100))); /* runs past */
            od_put_le32(m + OD_HF_EXT_SIZE, ext + 4 + len);
        }
        fix_header(m, *n);
        break;
    }
    case 9: /* a header byte changed, CRC not fixed */
        m[rnd(hdr_size(m, size))] ^= (uint8_t)(1 + rnd(255));
        break;
    case 10: { /* a range zeroed (or erased to 0xFF) */
        size_t at = rnd((uint32_t)size), len = 1 + rnd(512);
        if (at + len > size)
            len = size - at;
        memset(m + at, rnd(2) ? 0x00 : 0xFF, len);
        break;
    }
    default: /* unmutated, to check the harness itself accepts good input */
        break;
    }
    return m;
}

/* ---- the applier ---- */

typedef struct hook_ctx {
    od_test_flash f; /* first: the flash callbacks cast ctx to it */
    EVP_PKEY *key;
} hook_ctx;

static int hook(void *ctx, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *sig,
                uint32_t sig_len)
{
    return od_pkg_verify_hook_openssl(((hook_ctx *)ctx)->key, hdr, hdr_len, sig, sig_len);
}

/* Errors hostile input may cause; READ/WRITE/MISUSE may not: our
 * callbacks only fail on a contract breach and the config is valid. */
static int allowed(int r)
{
    switch (r) {
    case OD_PATCH_OK: /* ran out of package: truncated */
    case OD_PATCH_DONE:
    case OD_PATCH_ERR_MAGIC:
    case OD_PATCH_ERR_VERSION:
    case OD_PATCH_ERR_HEADER:
    case OD_PATCH_ERR_UNSUPPORTED:
    case OD_PATCH_ERR_NO_MEM:
    case OD_PATCH_ERR_GEOMETRY:
    case OD_PATCH_ERR_WRONG_SOURCE:
    case OD_PATCH_ERR_SIGNATURE:
    case OD_PATCH_ERR_INDEX:
    case OD_PATCH_ERR_CORRUPT:
    case OD_PATCH_ERR_VERIFY:
        return 1;
    default:
        return 0;
    }
}

/* Applies m to a flash region sized for the base's real target. Returns
 * 0 when every rule held, else prints why and returns -1. */
static int apply_one(const base *b, const uint8_t *m, size_t n, size_t chunk, unsigned kind,
                     unsigned long idx)
{
    od_pkg_header h, real;
    hook_ctx hc;
    od_patch_config cfg;
    od_patch p;
    int r = OD_PATCH_OK, bad = 0;
    size_t guard = 0;
    uint32_t ws;

    od_pkg_parse_header(b->pkg, b->size, &real);
    /* The device's region fits the real target; buffers follow the mutant's
     * header within a cap, as an integrator sizing from the header would. */
    memset(&hc, 0, sizeof(hc));
    od_test_flash_setup(&hc.f, &cfg, &real, b->old, b->old_size, 256);
    if (od_pkg_parse_header(m, n, &h) == OD_PKG_OK) {
        ws = od_pkg_codec_workspace(&h);
        if (ws <= WORK_MAX && 256u + ws > cfg.work_size) {
            free(cfg.work);
            cfg.work_size = 256u + ws;
            cfg.work = malloc(cfg.work_size);
        }
    }
    hc.key = b->is_signed ? sign_key : NULL;
    cfg.ctx = &hc;
    if (b->is_signed)
        cfg.verify_header = hook;
    od_patch_init(&p, &cfg, 0);
    for (;;) {
        size_t pos = od_patch_offset(&p), end;
        if (pos >= n)
            break;
        end = n - pos < chunk ? n : pos + chunk;
        r = od_patch_feed(&p, m, &pos, end);
        if (r != OD_PATCH_OK && r != OD_PATCH_SEEK)
            break;
        if (r == OD_PATCH_OK && pos != end) {
            fprintf(stderr, "  OK without taking all input\n");
            bad = 1;
            break;
        }
        if (++guard > n + 16) {
            fprintf(stderr, "  no progress: hang\n");
            bad = 1;
            break;
        }
    }
    results[(unsigned)(r + 16) & 31]++;
    if (!allowed(r)) {
        fprintf(stderr, "  status %d (%s) is not one hostile input may cause\n", r,
                od_patch_strerror(r));
        bad = 1;
    }
    if (hc.f.violations) {
        fprintf(stderr, "  %u flash contract violations (write off the page grid or past "
                "the region, or read outside an image)\n", hc.f.violations);
        bad = 1;
    }
    if (r == OD_PATCH_DONE &&
        (h.target_size != b->new_size || memcmp(hc.f.img, b->nw, b->new_size) != 0)) {
        fprintf(stderr, "  DONE but the region does not hold the target\n");
        bad = 1;
    }
    if (kind == NKINDS - 1 && r != OD_PATCH_DONE) {
        fprintf(stderr, "  the unmutated package failed: %s\n", od_patch_strerror(r));
        bad = 1;
    }
    if (bad)
        fprintf(stderr, "  ^ base %s, mutation #%lu (%s), chunk %zu, size %zu\n", b->name, idx,
                kind_names[kind], chunk, n);
    od_test_flash_free(&hc.f, &cfg);
    return bad ? -1 : 0;
}

/* Every base applies cleanly as it is (else the mutants prove nothing). */
static void t_bases(void)
{
    int i;
    for (i = 0; i < nbases; i++) {
        const base *b = &bases[i];
        od_pkg_header h;
        hook_ctx hc;
        od_patch_config cfg;
        od_patch p;
        OD_REQUIRE(od_pkg_check(b->pkg, b->size, &h) == OD_PKG_OK);
        memset(&hc, 0, sizeof(hc));
        od_test_flash_setup(&hc.f, &cfg, &h, b->old, b->old_size, 256);
        hc.key = sign_key;
        cfg.ctx = &hc;
        if (b->is_signed)
            cfg.verify_header = hook;
        od_patch_init(&p, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&p, b->pkg, b->size, 1000), OD_PATCH_DONE);
        OD_CHECK(memcmp(hc.f.img, b->nw, b->new_size) == 0);
        OD_CHECK(h.block_count > 1 || b->new_size < 16384);
        od_test_flash_free(&hc.f, &cfg);
    }
}

static void t_applier(void)
{
    static const size_t chunks[] = {1, 7, 64, 256, 1024, 4096, 1u << 30};
    const char *env = getenv("OD_MUTATE_COUNT");
    unsigned long count = env && *env ? strtoul(env, NULL, 10) : 6000, i, failures = 0;
    unsigned k;

    OD_REQUIRE(nbases > 0);
    for (i = 0; i < count; i++) {
        const base *b = &bases[i % (unsigned long)nbases];
        unsigned kind = (unsigned)((i / (unsigned long)nbases) % NKINDS);
        size_t n, chunk = chunks[rnd(sizeof(chunks) / sizeof(chunks[0]))];
        uint8_t *m;
        /* 1-byte feeding is slow on big packages; keep it to small ones. */
        if (chunk == 1 && b->size > 65536)
            chunk = 3;
        m = mutate(b, kind, &n);
        counts[kind]++;
        if (apply_one(b, m, n, chunk, kind, i) != 0 && ++failures > 20) {
            free(m);
            break;
        }
        free(m);
    }
    OD_CHECK_EQ(failures, 0);
    fprintf(stderr, "  %lu mutations over %d bases:", i, nbases);
    for (k = 0; k < NKINDS; k++)
        fprintf(stderr, " %s %lu", kind_names[k], counts[k]);
    fprintf(stderr, "\n  results:");
    for (k = 0; k < 32; k++)
        if (results[k])
            fprintf(stderr, " %s: %lu;", od_patch_strerror((int)k - 16), results[k]);
    fprintf(stderr, "\n");
}

/* ---- the CLI ---- */

static int write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(d, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* Runs a shell command line; returns the exit code, or -1 on a signal. */
static int run(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void t_cli(void)
{
    char dir[] = "/tmp/od_mutate.XXXXXX", pkgp[128], oldp[128], outp[128], cmd[1024];
    const char *env = getenv("OD_MUTATE_CLI_COUNT");
    unsigned long count = env && *env ? strtoul(env, NULL, 10) : 150, i, bad = 0;

    if (!cli || access(cli, X_OK) != 0)
        OD_SKIP("no otadelta binary given: CLI mutations skipped");
    OD_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(pkgp, sizeof(pkgp), "%s/pkg.otad", dir);
    snprintf(oldp, sizeof(oldp), "%s/old.bin", dir);
    snprintf(outp, sizeof(outp), "%s/new.bin", dir);
    for (i = 0; i < count; i++) {
        const base *b = &bases[i % (unsigned long)nbases];
        unsigned kind = (unsigned)((i / (unsigned long)nbases) % NKINDS);
        size_t n;
        uint8_t *m = mutate(b, kind, &n);
        int ra, rv;
        unlink(outp);
        OD_REQUIRE(write_file(pkgp, m, n) == 0);
        if (b->old)
            OD_REQUIRE(write_file(oldp, b->old, b->old_size) == 0);
        snprintf(cmd, sizeof(cmd), "'%s' apply %s%s%s '%s' -o '%s' --chunk %u -q 2>/dev/null", cli,
                 b->old ? "'" : "", b->old ? oldp : "", b->old ? "'" : "", pkgp, outp,
                 1u + rnd(3000));
        ra = run(cmd);
        /* verify given the source (or of a full package) decodes as apply
         * does, so it must answer as apply; it may also refuse (4) what
         * apply accepts, since it checks the header's MD5 and SHA-256 of
         * OLD, which apply without --check-source does not. */
        snprintf(cmd, sizeof(cmd), "'%s' verify '%s' %s%s%s >/dev/null 2>&1", cli, pkgp,
                 b->old ? "--old '" : "", b->old ? oldp : "", b->old ? "'" : "");
        rv = run(cmd);
        if (!(ra == 0 || ra == 3 || ra == 4) || (rv != ra && !(ra == 0 && rv == 4 && b->old))) {
            fprintf(stderr, "  CLI: apply exit %d, verify exit %d: base %s mutation #%lu (%s)\n",
                    ra, rv, b->name, i, kind_names[kind]);
            bad++;
        } else if (ra == 0) {
            size_t on = 0;
            uint8_t *o = od_test_read_file(outp, &on);
            if (!o || on != b->new_size || memcmp(o, b->nw, on) != 0) {
                fprintf(stderr, "  CLI: exit 0 but wrong output: base %s mutation #%lu (%s)\n",
                        b->name, i, kind_names[kind]);
                bad++;
            }
            free(o);
        }
        free(m);
        if (bad > 10)
            break;
    }
    OD_CHECK_EQ(bad, 0);
    fprintf(stderr, "  %lu mutants through '%s apply' and 'verify --old'\n", i, cli);
    unlink(pkgp);
    unlink(oldp);
    unlink(outp);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    enum { N = 48 * 1024 };
    static const int codecs[] = {OD_CODEC_LZMA, OD_CODEC_DEFLATE, OD_CODEC_NONE};
    uint8_t *old = malloc(N), *nw = malloc(N + N / 8), *cold = NULL, *cnew = NULL;
    size_t nn, i, cos = 0, cns = 0;
    int c;

    cli = argc > 1 ? argv[1] : getenv("OD_MUTATE_CLI");
    sign_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!old || !nw || !sign_key)
        return 1;
    fill_firmware(old, N, 11);
    /* A release-like edit: a patch in the middle, an insertion, tweaks. */
    memcpy(nw, old, N / 3);
    fill_firmware(nw + N / 3, N / 8, 12);
    memcpy(nw + N / 3 + N / 8, old + N / 3 + N / 16, N - N / 3 - N / 16);
    nn = N + N / 8 - N / 16;
    for (i = 0; i < nn; i += 301)
        nw[i] ^= 0x10;
    for (c = 0; c < 3; c++) {
        add_base("synthetic", old, N, nw, nn, OD_KIND_DELTA, codecs[c], 8192, c != 1);
        add_base("synthetic", old, N, nw, nn, OD_KIND_FULL, codecs[c], 16384, c == 1);
    }
    if (load_corpus_pair(&cold, &cos, &cnew, &cns)) {
        add_base("corpus", cold, cos, cnew, cns, OD_KIND_DELTA, OD_CODEC_LZMA, 65536, 1);
        add_base("corpus", cold, cos, cnew, cns, OD_KIND_DELTA, OD_CODEC_DEFLATE, 65536, 0);
    }
    OD_RUN(t_bases);
    OD_RUN(t_applier);
    OD_RUN(t_cli);
    for (c = 0; c < nbases; c++)
        free(bases[c].pkg);
    free(old);
    free(nw);
    free(cold);
    free(cnew);
    EVP_PKEY_free(sign_key);
    return od_test_summary();
}
