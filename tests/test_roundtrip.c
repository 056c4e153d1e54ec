/*
 * test_roundtrip.c - generator + applier end to end: every corpus pair,
 * every codec, chunk sizes 1/7/1024/65536, resume from every block, both
 * efforts, edge cases, RAM budgets, determinism, wrong source images, and
 * a 64 MiB pair.
 *
 * The applier runs exactly as on an MCU (od_test_flash.h): chunks in, page
 * writes out, read-back verification inside the applier. A test passes
 * only if the applier says DONE *and* the flash holds the target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "od_diff.h"
#include "od_pkgfmt_host.h"
#include "od_test.h"
#include "od_test_flash.h"

static const int codecs[] = {OD_CODEC_LZMA, OD_CODEC_DEFLATE, OD_CODEC_NONE};
static const size_t chunks[] = {1, 7, 1024, 65536};

static uint8_t *make_pkg(const uint8_t *old, size_t old_size, const uint8_t *nw, size_t new_size,
                         int codec, size_t *pkg_size, const od_diff_params *base)
{
    od_diff_params p;
    uint8_t *pkg = NULL;
    int r;
    if (base)
        p = *base;
    else
        od_diff_params_init(&p);
    p.codec = codec;
    p.exact_codec = 1; /* random test data: the codec under test, not none */
    p.source_version = "1.0.0";
    p.target_version = "1.1.0";
    r = od_diff_create(old, old_size, nw, new_size, &p, &pkg, pkg_size);
    if (r != OD_DIFF_OK) {
        fprintf(stderr, "od_diff_create: %s\n", od_diff_strerror(r));
        return NULL;
    }
    return pkg;
}

/* Applies pkg from start_block with the given chunking; 1 if the result is
 * exactly nw and the applier reported DONE with no contract breach. */
static int apply_ok(const uint8_t *old, size_t old_size, const uint8_t *nw, size_t new_size,
                    const uint8_t *pkg, size_t pkg_size, size_t chunk, uint32_t start_block,
                    uint32_t page)
{
    od_pkg_header h;
    od_test_flash f;
    od_patch_config cfg;
    od_patch p;
    int r, ok;

    if (od_pkg_parse_header(pkg, pkg_size, &h) != OD_PKG_OK)
        return 0;
    od_test_flash_setup(&f, &cfg, &h, old, old_size, page);
    if (start_block && new_size) /* a resumed run finds earlier blocks in flash */
        memcpy(f.img, nw, new_size);
    od_patch_init(&p, &cfg, start_block);
    r = od_test_feed_all(&p, pkg, pkg_size, chunk);
    ok = r == OD_PATCH_DONE && f.violations == 0 && (!new_size || memcmp(f.img, nw, new_size) == 0);
    if (ok && start_block == 0 && h.block_count && f.saved != h.block_count)
        ok = 0;
    if (!ok)
        fprintf(stderr, "  apply failed: chunk %zu start %u page %u: %s (violations %u)\n", chunk,
                start_block, page, od_patch_strerror(r), f.violations);
    od_test_flash_free(&f, &cfg);
    return ok;
}

/*
 * Round trip one pair with every codec and chunk size, plus resume. base:
 * NULL for the defaults, else the parameters to start from. all_chunks 0
 * skips 1-byte chunks for packages over 400 kB; -1 skips them always.
 */
static void roundtrip(const char *name, const uint8_t *old, size_t old_size, const uint8_t *nw,
                      size_t new_size, int all_chunks, const od_diff_params *base)
{
    size_t c, k;
    for (c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++) {
        size_t pkg_size;
        od_pkg_header h;
        uint8_t *pkg = make_pkg(old, old_size, nw, new_size, codecs[c], &pkg_size, base);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(od_pkg_check(pkg, pkg_size, &h), OD_PKG_OK);
        OD_CHECK_EQ(h.ram_needed + OD_PATCH_STATE_RESERVE <= OD_DIFF_DEFAULT_RAM, 1);
        for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
            if (chunks[k] == 1 && (all_chunks < 0 || (!all_chunks && pkg_size > 400000)))
                continue;
            if (!apply_ok(old, old_size, nw, new_size, pkg, pkg_size, chunks[k], 0, 256)) {
                fprintf(stderr, "  %s codec %d chunk %zu\n", name, codecs[c], chunks[k]);
                OD_CHECK(0);
            }
        }
        {
            /* The whole package in one call: DONE, every byte taken. */
            od_test_flash f;
            od_patch_config cfg;
            od_patch st;
            size_t pos = 0;
            od_test_flash_setup(&f, &cfg, &h, old, old_size, 256);
            od_patch_init(&st, &cfg, 0);
            OD_CHECK_EQ(od_patch_feed(&st, pkg, &pos, pkg_size), OD_PATCH_DONE);
            OD_CHECK_EQ(pos, pkg_size);
            od_test_flash_free(&f, &cfg);
        }
        /* Every block boundary is a restart point. */
        for (k = 1; k <= h.block_count; k++) {
            if (!apply_ok(old, old_size, nw, new_size, pkg, pkg_size, 1024, (uint32_t)k, 256)) {
                fprintf(stderr, "  %s codec %d resume at block %zu\n", name, codecs[c], k);
                OD_CHECK(0);
            }
        }
        free(pkg);
    }
}

static void t_corpus(void)
{
    od_test_corpus c;
    const char *why;
    od_diff_params fast;
    int pairs = 0;

    od_diff_params_init(&fast);
    fast.effort = OD_DIFF_EFFORT_FAST;
    if (!od_test_corpus_open(&c, &why))
        OD_SKIP("%s: corpus round trips skipped", why);
    while (od_test_corpus_next(&c)) {
        uint8_t *old, *nw;
        size_t os = 0, ns = 0;
        old = od_test_read_file(c.old_path, &os);
        nw = od_test_read_file(c.new_path, &ns);
        OD_CHECK(old && nw);
        if (old && nw) {
            fprintf(stderr, "  pair %s (%zu -> %zu)\n", c.id, os, ns);
            roundtrip(c.id, old, os, nw, ns, 1, NULL);
            /* Another matcher setting and other compression settings: the
             * same contract, checked without the slow 1-byte feeding. */
            roundtrip(c.id, old, os, nw, ns, -1, &fast);
            pairs++;
        }
        free(old);
        free(nw);
    }
    od_test_corpus_close(&c);
    OD_CHECK(pairs > 0);
}

#if defined(__SANITIZE_ADDRESS__)
#define OD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OD_TEST_ASAN 1
#endif
#endif

#ifndef OD_TEST_ASAN
/* od_diff_create with budget ram under an address-space limit of
 * limit_mib, in a child: 1 if it made the package. */
static int diff_under_limit(const uint8_t *old, size_t os, const uint8_t *nw, size_t ns,
                            uint32_t ram, unsigned limit_mib, const char *id)
{
    pid_t pid;
    int status = -1;
    fflush(NULL);
    if ((pid = fork()) < 0)
        return 0;
    if (pid == 0) {
        struct rlimit rl;
        od_diff_params p;
        uint8_t *pkg = NULL;
        size_t size = 0;
        int r;
        rl.rlim_cur = rl.rlim_max = (rlim_t)limit_mib << 20;
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(2);
        od_diff_params_init(&p);
        p.ram_budget = ram;
        p.threads = 2;
        p.source_version = "1";
        p.target_version = "2";
        r = od_diff_create(old, os, nw, ns, &p, &pkg, &size);
        if (r != OD_DIFF_OK)
            fprintf(stderr, "  %s: budget %u under a %u MiB limit: %s\n", id, ram, limit_mib,
                    od_diff_strerror(r));
        _exit(r == OD_DIFF_OK ? 0 : 1);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

/*
 * A large RAM budget costs the host only what the images need: the
 * ranking encoders' dictionaries stop at a segment's stream, the final
 * ones at a block's. With a 64 MiB budget each ranking encoder used to
 * take a 64 MiB dictionary (435 MB of address space for one thread on
 * altos-easymini's 23 KB), so a 256 MiB limit on address space, as a
 * container may set, failed the generation. Every corpus pair (the
 * synthetic pairs here are decided by the deflate shortlist alone, and
 * never reach those encoders); not under ASan, whose shadow memory needs
 * far more address space than the limit.
 */
static void t_big_budget(void)
{
#ifdef OD_TEST_ASAN
    OD_SKIP("AddressSanitizer reserves more address space than the limit");
#else
    od_test_corpus c;
    const char *why;
    int pairs = 0;
    if (!od_test_corpus_open(&c, &why))
        OD_SKIP("%s: large-budget generation skipped", why);
    while (od_test_corpus_next(&c)) {
        size_t os = 0, ns = 0;
        uint8_t *old = od_test_read_file(c.old_path, &os), *nw = od_test_read_file(c.new_path, &ns);
        OD_CHECK(old && nw);
        /* The images, their suffix array and streams fit easily in 256 MiB. */
        if (old && nw && os + ns < (8u << 20)) {
            OD_CHECK(diff_under_limit(old, os, nw, ns, 64u << 20, 256, c.id));
            pairs++;
        }
        free(old);
        free(nw);
    }
    od_test_corpus_close(&c);
    OD_CHECK(pairs > 0);
#endif
}

static void fill_random(uint8_t *b, size_t n, unsigned long long seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = (uint8_t)(od_test_rand(&seed) >> 56);
}

/* Something firmware-like: repetitive code-ish words with some noise. */
static void fill_firmware(uint8_t *b, size_t n, unsigned long long seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned long long r = od_test_rand(&seed);
        b[i] = (r & 7) == 0 ? (uint8_t)(r >> 56) : (uint8_t)((i * 13) ^ (i >> 5));
    }
}

/* Release-like edit of old into nw: changed bytes, an insertion, a cut. */
static size_t edit(const uint8_t *old, size_t n, uint8_t *nw, unsigned long long seed)
{
    size_t ins = n / 10, cut = n / 20, at = n / 3, out = 0, i;
    memcpy(nw, old, at);
    out = at;
    fill_random(nw + out, ins, seed);
    out += ins;
    memcpy(nw + out, old + at + cut, n - at - cut);
    out += n - at - cut;
    for (i = 0; i < n / 500; i++) {
        size_t p = (size_t)(od_test_rand(&seed) % out);
        nw[p] = (uint8_t)(nw[p] + 4);
    }
    return out;
}

static void t_edges(void)
{
    enum { N = 70000 };
    uint8_t *a = malloc(N), *b = malloc(N * 2);
    size_t bn;
    od_diff_params fast;
    const od_diff_params *base;
    int e;
    OD_REQUIRE(a && b);
    od_diff_params_init(&fast);
    fast.effort = OD_DIFF_EFFORT_FAST;

    for (e = 0; e < 2; e++) {
        base = e ? &fast : NULL;
        fill_firmware(a, N, 1);
        bn = edit(a, N, b, 2);
        roundtrip("empty-old-empty-new", NULL, 0, NULL, 0, 1, base);
        roundtrip("empty-old", NULL, 0, a, N, 1, base);
        roundtrip("empty-new", a, N, NULL, 0, 1, base);
        roundtrip("identical", a, N, a, N, 1, base);
        roundtrip("edited", a, N, b, bn, 1, base);
        roundtrip("one-byte", a, 1, b, 1, 1, base);
        roundtrip("one-byte-old", a, 1, b, bn, 1, base);
        roundtrip("one-byte-new", a, N, b, 1, 1, base);
        roundtrip("shrinking", a, N, a + 1000, N / 2, 1, base);
        memcpy(b, a, N);
        fill_random(b + N, N, 3);
        roundtrip("growing", a, N, b, 2 * N, 1, base);
        fill_random(b, N, 4);
        roundtrip("unrelated", a, N, b, N, 1, base);
        /* Not a multiple of the page or erase size, and a 0xFF-filled image. */
        memset(b, 0xFF, N);
        roundtrip("erased", a, N, b, N - 3, 1, base);
    }
    free(a);
    free(b);
}

static void t_full(void)
{
    enum { N = 50000 };
    uint8_t *a = malloc(N);
    od_diff_params p;
    size_t c, pkg_size;
    OD_REQUIRE(a != NULL);
    fill_firmware(a, N, 7);
    od_diff_params_init(&p);
    p.kind = OD_KIND_FULL;
    for (c = 0; c < 6; c++) { /* every codec at both efforts */
        od_pkg_header h;
        uint8_t *pkg;
        p.effort = c < 3 ? OD_DIFF_EFFORT_BEST : OD_DIFF_EFFORT_FAST;
        pkg = make_pkg(NULL, 0, a, N, codecs[c % 3], &pkg_size, &p);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(od_pkg_check(pkg, pkg_size, &h), OD_PKG_OK);
        OD_CHECK_EQ(h.kind, OD_KIND_FULL);
        OD_CHECK_EQ(h.source_size, 0);
        OD_CHECK(apply_ok(NULL, 0, a, N, pkg, pkg_size, 1, 0, 256));
        OD_CHECK(apply_ok(NULL, 0, a, N, pkg, pkg_size, 1024, 0, 64));
        free(pkg);
    }
    free(a);
}

/* Builds with exact_codec as given (make_pkg always sets it). */
static uint8_t *make_pkg_exact(const uint8_t *old, size_t old_size, const uint8_t *nw,
                               size_t new_size, int codec, int exact, size_t *pkg_size,
                               od_pkg_header *h)
{
    od_diff_params p;
    uint8_t *pkg = NULL;
    od_diff_params_init(&p);
    p.kind = old ? OD_KIND_DELTA : OD_KIND_FULL;
    p.codec = codec;
    p.exact_codec = exact;
    p.block_size = 64u << 10; /* several blocks: the sizes are summed */
    p.source_version = "1.0.0";
    p.target_version = "1.1.0";
    if (od_diff_create(old, old_size, nw, new_size, &p, &pkg, pkg_size) != OD_DIFF_OK)
        return NULL;
    if (od_pkg_check(pkg, *pkg_size, h) != OD_PKG_OK) {
        free(pkg);
        return NULL;
    }
    return pkg;
}

/*
 * A codec that would make the package larger than the streams themselves
 * (random data) gives way to codec none, with its smaller RAM need, unless
 * exact_codec; where it gains it stays. Either way the image restores.
 */
static void t_codec_fallback(void)
{
    enum { N = 200000 };
    uint8_t *rnd = malloc(N), *fw = malloc(N), *fw2 = malloc(N);
    unsigned long long seed = 24;
    size_t c, i;
    OD_REQUIRE(rnd && fw && fw2);
    fill_random(rnd, N, 21);
    fill_firmware(fw, N, 22);
    for (c = 0; c < 2; c++) { /* lzma, deflate */
        od_pkg_header h, he;
        size_t s = 0, se = 0;
        uint8_t *pkg = make_pkg_exact(NULL, 0, rnd, N, codecs[c], 0, &s, &h);
        uint8_t *ex = make_pkg_exact(NULL, 0, rnd, N, codecs[c], 1, &se, &he);
        OD_REQUIRE(pkg && ex);
        OD_CHECK_EQ(h.codec, OD_CODEC_NONE);
        OD_CHECK_EQ(h.ram_needed, OD_DIFF_DEFAULT_PAGE);
        OD_CHECK(h.block_count > 1);
        OD_CHECK_EQ(he.codec, codecs[c]);
        OD_CHECK(s < se);
        OD_CHECK(s < N + 1024);
        OD_CHECK(apply_ok(NULL, 0, rnd, N, pkg, s, 1000, 0, 256));
        OD_CHECK(apply_ok(NULL, 0, rnd, N, pkg, s, 4096, 1, 256)); /* resumed */
        free(pkg);
        free(ex);
        /* A delta to a random image: the stream is the image's bytes. */
        pkg = make_pkg_exact(fw, N, rnd, N, codecs[c], 0, &s, &h);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(h.codec, OD_CODEC_NONE);
        OD_CHECK_EQ(h.filter, OD_FILTER_NONE);
        OD_CHECK(apply_ok(fw, N, rnd, N, pkg, s, 1024, 0, 256));
        free(pkg);
        /* Where the codec gains, it is kept: 3 random bits a byte (a
         * deflate window of this budget is too short for fw's repeats). */
        for (i = 0; i < N; i++)
            fw2[i] = (uint8_t)('a' + (od_test_rand(&seed) >> 61));
        pkg = make_pkg_exact(NULL, 0, fw2, N, codecs[c], 0, &s, &h);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(h.codec, codecs[c]);
        free(pkg);
        memcpy(fw2, fw, N);
        for (i = 0; i < N; i += 61) /* a difference stream both codecs shrink */
            fw2[i] = (uint8_t)(fw2[i] + 3);
        pkg = make_pkg_exact(fw, N, fw2, N, codecs[c], 0, &s, &h);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(h.codec, codecs[c]);
        OD_CHECK(apply_ok(fw, N, fw2, N, pkg, s, 1024, 0, 256));
        free(pkg);
    }
    free(rnd);
    free(fw);
    free(fw2);
}

/* Multi-block packages: small blocks, every restart point, odd pages. */
static void t_blocks(void)
{
    enum { N = 300000 };
    uint8_t *a = malloc(N), *b = malloc(N * 2);
    od_diff_params p;
    size_t bn, c, k, pkg_size;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 11);
    bn = edit(a, N, b, 12);
    od_diff_params_init(&p);
    p.block_size = 16384;
    p.erase_size = 4096;
    for (c = 0; c < 3; c++) {
        od_pkg_header h;
        uint8_t *pkg = make_pkg(a, N, b, bn, codecs[c], &pkg_size, &p);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(od_pkg_check(pkg, pkg_size, &h), OD_PKG_OK);
        OD_CHECK(h.block_count >= bn / 16384);
        for (k = 0; k <= h.block_count; k++)
            OD_CHECK(apply_ok(a, N, b, bn, pkg, pkg_size, 777, (uint32_t)k, 256));
        OD_CHECK(apply_ok(a, N, b, bn, pkg, pkg_size, 4096, 0, 16));
        OD_CHECK(apply_ok(a, N, b, bn, pkg, pkg_size, 4096, 0, 4096));
        free(pkg);
    }
    free(a);
    free(b);
}

static void t_budget(void)
{
    enum { N = 40000 };
    static const uint32_t budgets[] = {6 * 1024, 11627, 11628, 16 * 1024, 64 * 1024, 1024 * 1024};
    uint8_t *a = malloc(N), *b = malloc(N * 2);
    od_diff_params p;
    size_t bn, i, c, pkg_size;
    uint8_t *pkg;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 21);
    bn = edit(a, N, b, 22);
    od_diff_params_init(&p);
    for (i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        for (c = 0; c < 3; c++) {
            od_pkg_header h;
            od_test_flash f;
            od_patch_config cfg;
            od_patch st;
            p.ram_budget = budgets[i];
            if (codecs[c] == OD_CODEC_LZMA &&
                budgets[i] < OD_PATCH_STATE_RESERVE + 256 + OD_LZMA_WORKSPACE(0, 0, OD_MIN_DICT)) {
                /* Below the smallest LZMA decoder: refused, not shrunk. */
                p.codec = codecs[c];
                p.source_version = "a";
                p.target_version = "b";
                pkg = NULL;
                OD_CHECK_EQ(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size), OD_DIFF_ERR_BUDGET);
                OD_CHECK(pkg == NULL);
                continue;
            }
            pkg = make_pkg(a, N, b, bn, codecs[c], &pkg_size, &p);
            OD_REQUIRE(pkg != NULL);
            OD_CHECK_EQ(od_pkg_parse_header(pkg, pkg_size, &h), OD_PKG_OK);
            OD_CHECK(h.ram_needed + OD_PATCH_STATE_RESERVE <= budgets[i]);
            /* Exactly ram_needed works (checked by apply_ok); one byte less
             * is refused before anything is written. */
            OD_CHECK(apply_ok(a, N, b, bn, pkg, pkg_size, 1024, 0, 256));
            od_test_flash_setup(&f, &cfg, &h, a, N, 256);
            cfg.work_size = h.ram_needed - 1;
            od_patch_init(&st, &cfg, 0);
            if (h.codec != OD_CODEC_NONE) {
                OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_NO_MEM);
                OD_CHECK_EQ(f.writes, 0);
            }
            od_test_flash_free(&f, &cfg);
            free(pkg);
        }
    }
    /* Too small a budget is a clear error, not a package that cannot run. */
    p.ram_budget = 4096;
    p.codec = OD_CODEC_LZMA;
    p.source_version = "a";
    p.target_version = "b";
    pkg = NULL;
    OD_CHECK_EQ(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size), OD_DIFF_ERR_BUDGET);
    OD_CHECK(pkg == NULL);
    p.ram_budget = 1024;
    p.codec = OD_CODEC_NONE;
    OD_CHECK_EQ(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size), OD_DIFF_ERR_BUDGET);
    free(a);
    free(b);
}

static void t_params(void)
{
    od_diff_params p;
    uint8_t one = 1, *pkg = NULL;
    size_t n;
    od_diff_params_init(&p);
    p.source_version = "1.0";
    p.target_version = "bad version";
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_VERSION);
    p.target_version = "123456789012345678901234567890123456789012345678901"; /* 51 */
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_VERSION);
    p.target_version = "12345678901234567890123456789012345678901234567890"; /* 50 */
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_OK);
    free(pkg);
    p.source_version = NULL;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_VERSION);
    p.source_version = "1.0";
    p.page_size = 100;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
    p.page_size = 256;
    p.erase_size = 128;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
    p.erase_size = 4096;
    p.block_size = 5000;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
    p.block_size = 0;
    p.restart_interval = 0;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
    p.restart_interval = OD_DIFF_DEFAULT_RESTART;
    p.effort = OD_DIFF_EFFORT_FAST;
    OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_OK);
    free(pkg);
    {
        char why[96];
        p.effort = 2;
        OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
        OD_CHECK(od_diff_param_problem(&p, why, sizeof(why)) != NULL && strstr(why, "effort"));
        OD_CHECK(od_diff_param_problem(NULL, why, sizeof(why)) == why &&
                 !strcmp(why, "no parameters"));
        p.effort = -1;
        OD_CHECK_EQ(od_diff_create(&one, 1, &one, 1, &p, &pkg, &n), OD_DIFF_ERR_PARAM);
    }
}

/*
 * The effort setting reaches both the matching and the compression: on a
 * firmware-like pair the two efforts give different packages with either
 * codec (both restore the image: t_edges, t_corpus), and a full package,
 * which has no matching, differs too.
 */
static void t_effort(void)
{
    enum { N = 100000 };
    uint8_t *a = malloc(N), *b = malloc(2 * N), *best, *fast;
    size_t bn, sb, sf, c;
    od_diff_params p;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 41);
    bn = edit(a, N, b, 42);
    for (c = 0; c < 3; c++) { /* lzma, deflate, lzma full */
        od_diff_params_init(&p);
        if (c == 2)
            p.kind = OD_KIND_FULL;
        best = make_pkg(a, N, b, bn, codecs[c % 2], &sb, &p);
        p.effort = OD_DIFF_EFFORT_FAST;
        fast = make_pkg(a, N, b, bn, codecs[c % 2], &sf, &p);
        OD_REQUIRE(best && fast);
        OD_CHECK(sb != sf || memcmp(best, fast, sb) != 0);
        OD_CHECK(apply_ok(p.kind == OD_KIND_FULL ? NULL : a, p.kind == OD_KIND_FULL ? 0 : N, b,
                          bn, fast, sf, 1024, 0, 256));
        free(best);
        free(fast);
    }
    free(a);
    free(b);
}

/*
 * Without a codec nothing compresses zero bytes, so unchanged stretches
 * inside an approximate match must go as zero runs: an image with one byte
 * in 64 changed costs a few bytes per change (two run lengths and the
 * difference), not the whole image as with the zeros inline.
 */
static void t_none_runs(void)
{
    enum { N = 65536 };
    uint8_t *a = malloc(N), *b = malloc(N), *pkg;
    size_t i, size;
    int fast;
    od_diff_params p;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 51);
    memcpy(b, a, N);
    for (i = 32; i < N; i += 64)
        b[i] ^= 0x5A;
    for (fast = 0; fast < 2; fast++) {
        od_diff_params_init(&p);
        p.effort = fast ? OD_DIFF_EFFORT_FAST : OD_DIFF_EFFORT_BEST;
        pkg = make_pkg(a, N, b, N, OD_CODEC_NONE, &size, &p);
        OD_REQUIRE(pkg);
        OD_CHECK(size < N / 8); /* 1024 changes: about 3 KiB */
        OD_CHECK(apply_ok(a, N, b, N, pkg, size, 1024, 0, 256));
        free(pkg);
    }
    free(a);
    free(b);
}

static void t_determinism(void)
{
    enum { N = 100000 };
    uint8_t *a = malloc(N), *b = malloc(2 * N), *p1, *p2;
    size_t bn, s1, s2, c;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 31);
    bn = edit(a, N, b, 32);
    for (c = 0; c < 6; c++) { /* every codec at both efforts */
        /* Also across thread counts: one thread, eight, and the default. */
        od_diff_params dflt, one, eight;
        od_diff_params_init(&dflt);
        dflt.effort = c < 3 ? OD_DIFF_EFFORT_BEST : OD_DIFF_EFFORT_FAST;
        one = dflt;
        one.threads = 1;
        eight = dflt;
        eight.threads = 8;
        p1 = make_pkg(a, N, b, bn, codecs[c % 3], &s1, &dflt);
        p2 = make_pkg(a, N, b, bn, codecs[c % 3], &s2, &dflt);
        OD_REQUIRE(p1 && p2);
        OD_CHECK(s1 == s2 && memcmp(p1, p2, s1) == 0);
        free(p2);
        p2 = make_pkg(a, N, b, bn, codecs[c % 3], &s2, &one);
        OD_REQUIRE(p2);
        OD_CHECK(s1 == s2 && memcmp(p1, p2, s1) == 0);
        free(p2);
        p2 = make_pkg(a, N, b, bn, codecs[c % 3], &s2, &eight);
        OD_REQUIRE(p2);
        OD_CHECK(s1 == s2 && memcmp(p1, p2, s1) == 0);
        free(p1);
        free(p2);
    }
    free(a);
    free(b);
}

/* A device on the wrong version never ends with success. */
static void t_wrong_source(void)
{
    enum { N = 60000 };
    uint8_t *a = malloc(N), *b = malloc(2 * N), *wrong = malloc(N), *pkg;
    size_t bn, pkg_size, c;
    OD_REQUIRE(a && b && wrong);
    fill_firmware(a, N, 41);
    bn = edit(a, N, b, 42);
    memcpy(wrong, a, N);
    wrong[N / 2] ^= 0x55;
    for (c = 0; c < 3; c++) {
        od_pkg_header h;
        od_test_flash f;
        od_patch_config cfg;
        od_patch st;
        int r;
        pkg = make_pkg(a, N, b, bn, codecs[c], &pkg_size, NULL);
        OD_REQUIRE(pkg != NULL);
        od_pkg_parse_header(pkg, pkg_size, &h);
        /* Wrong size: refused from the header, nothing written. */
        od_test_flash_setup(&f, &cfg, &h, a, N - 1, 256);
        od_patch_init(&st, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_WRONG_SOURCE);
        OD_CHECK_EQ(f.writes, 0);
        od_test_flash_free(&f, &cfg);
        /* Same size, one byte off: check_source refuses before writing... */
        od_test_flash_setup(&f, &cfg, &h, wrong, N, 256);
        cfg.check_source = 1;
        od_patch_init(&st, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_WRONG_SOURCE);
        OD_CHECK_EQ(f.writes, 0);
        od_test_flash_free(&f, &cfg);
        /* ...and without it the read-back verification catches it. */
        od_test_flash_setup(&f, &cfg, &h, wrong, N, 256);
        od_patch_init(&st, &cfg, 0);
        r = od_test_feed_all(&st, pkg, pkg_size, 1024);
        OD_CHECK(r == OD_PATCH_ERR_VERIFY);
        od_test_flash_free(&f, &cfg);
        /* An expected source hash that differs is refused up front. */
        od_test_flash_setup(&f, &cfg, &h, a, N, 256);
        cfg.expect_source_sha256 = h.target_sha256;
        od_patch_init(&st, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_WRONG_SOURCE);
        od_test_flash_free(&f, &cfg);
        free(pkg);
    }
    free(a);
    free(b);
    free(wrong);
}

/* What the verify_header hook sees of the applier: the header, parsed. */
typedef struct hook_seen {
    od_test_flash f; /* first: the flash callbacks take the context as one */
    const od_patch *p;
    int calls, had_header;
} hook_seen;

static int hook_peek(void *ctx, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *sig,
                     uint32_t sig_len)
{
    hook_seen *s = ctx;
    const od_pkg_header *h = od_patch_header(s->p);
    (void)hdr;
    (void)sig;
    (void)sig_len;
    s->calls++;
    s->had_header = h != NULL && h->header_size == hdr_len;
    return 0;
}

/* od_patch_header() inside the hook: also for a package without any
 * extension record (every unsigned one), where the hook runs straight
 * from the header stage; and feeding no bytes as (NULL, 0). */
static void t_hook_header(void)
{
    enum { N = 9000 };
    uint8_t *a = malloc(N), *b = malloc(N), *pkg;
    size_t pkg_size, pos = 0;
    od_pkg_header h;
    od_patch_config cfg;
    od_patch st;
    hook_seen seen;
    OD_REQUIRE(a != NULL && b != NULL);
    fill_firmware(a, N, 52);
    memcpy(b, a, N);
    b[100] ^= 1;
    pkg = make_pkg(a, N, b, N, OD_CODEC_LZMA, &pkg_size, NULL);
    OD_REQUIRE(pkg != NULL);
    od_pkg_parse_header(pkg, pkg_size, &h);
    OD_CHECK_EQ(h.ext_size, 0);
    memset(&seen, 0, sizeof(seen));
    od_test_flash_setup(&seen.f, &cfg, &h, a, N, 256);
    seen.p = &st;
    cfg.verify_header = hook_peek;
    od_patch_init(&st, &cfg, 0);
    OD_CHECK(od_patch_header(&st) == NULL);
    OD_CHECK_EQ(od_patch_feed(&st, NULL, &pos, 0), OD_PATCH_OK);
    /* NULL with a size is misuse (od_patch.h), and harms nothing. */
    pos = 10;
    OD_CHECK_EQ(od_patch_feed(&st, NULL, &pos, 10), OD_PATCH_ERR_MISUSE);
    OD_CHECK_EQ(pos, 10);
    pos = 0;
    OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_DONE);
    OD_CHECK_EQ(seen.calls, 1);
    OD_CHECK(seen.had_header);
    od_test_flash_free(&seen.f, &cfg);
    free(pkg);
    free(a);
    free(b);
}

/* Flash geometry the package cannot honour is refused before writing. */
static void t_geometry(void)
{
    enum { N = 20000 };
    uint8_t *a = malloc(N), *pkg;
    size_t pkg_size;
    od_pkg_header h;
    od_test_flash f;
    od_patch_config cfg;
    od_patch st;
    OD_REQUIRE(a != NULL);
    fill_firmware(a, N, 51);
    pkg = make_pkg(a, N, a, N, OD_CODEC_LZMA, &pkg_size, NULL);
    OD_REQUIRE(pkg != NULL);
    od_pkg_parse_header(pkg, pkg_size, &h);
    od_test_flash_setup(&f, &cfg, &h, a, N, 8192); /* page > erase unit */
    od_patch_init(&st, &cfg, 0);
    OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_GEOMETRY);
    od_test_flash_free(&f, &cfg);
    od_test_flash_setup(&f, &cfg, &h, a, N, 256);
    cfg.new_capacity = N - 100;
    od_patch_init(&st, &cfg, 0);
    OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_GEOMETRY);
    OD_CHECK_EQ(f.writes, 0);
    /* The refusal leaves the header readable, for a report of what the
     * package wanted. */
    OD_CHECK(od_patch_header(&st) != NULL &&
             od_patch_header(&st)->target_size == (uint32_t)N);
    od_test_flash_free(&f, &cfg);
    /* An erase unit smaller than a page would leave most of every page
     * unerased before it is written: a configuration error. */
    od_test_flash_setup(&f, &cfg, &h, a, N, 256);
    cfg.erase_size = 64;
    OD_CHECK_EQ(od_patch_init(&st, &cfg, 0), OD_PATCH_ERR_MISUSE);
    /* No erase unit at all: with an erase() it would never be called and
     * pages would be programmed over old data; without one the unit is
     * still what blocks must tile (the page, for memory). */
    cfg.erase_size = 0;
    OD_CHECK_EQ(od_patch_init(&st, &cfg, 0), OD_PATCH_ERR_MISUSE);
    cfg.erase_size = 256;
    OD_CHECK_EQ(od_patch_init(&st, &cfg, 0), OD_PATCH_OK);
    /* A work buffer off 4-byte alignment: the decoders' 16-bit
     * probabilities would fault on a Cortex-M0. */
    cfg.work += 2;
    cfg.work_size -= 2;
    OD_CHECK_EQ(od_patch_init(&st, &cfg, 0), OD_PATCH_ERR_MISUSE);
    cfg.work -= 2;
    cfg.work_size += 2;
    /* Saved progress past this package's blocks (another package's):
     * refused before any write, with its own error, so the device knows
     * to start over from block 0. */
    OD_CHECK_EQ(od_patch_init(&st, &cfg, h.block_count + 1), OD_PATCH_OK);
    OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_RESUME);
    OD_CHECK_EQ(f.writes, 0);
    /* All blocks done is a resume too: straight to the read-back, which
     * finds this empty flash is not the target. */
    OD_CHECK_EQ(od_patch_init(&st, &cfg, h.block_count), OD_PATCH_OK);
    OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_VERIFY);
    od_test_flash_free(&f, &cfg);
    free(pkg);
    free(a);
}

/* A Thumb-2 BL (bl=1) or B.W word branching off halfwords away. */
static uint32_t thumb_branch(int32_t off, int bl)
{
    uint32_t o = (uint32_t)off, s = o >> 23 & 1;
    uint32_t j1 = (~(o >> 22) ^ s) & 1, j2 = (~(o >> 21) ^ s) & 1;
    uint32_t h1 = 0xF000u | s << 10 | (o >> 11 & 0x3FFu);
    uint32_t h2 = 0x9000u | (uint32_t)bl << 14 | j1 << 13 | j2 << 11 | (o & 0x7FFu);
    return h1 | h2 << 16;
}

/*
 * Cortex-M-like images for the thumb filter: functions of random halfwords
 * calling each other with BL and B.W, and literal pools of addresses
 * (0x08000000 + offset, odd for code). new is old with bytes inserted
 * before function `moved`, every branch and address relinked.
 */
static size_t thumb_image(uint8_t *img, size_t cap, int grow, unsigned long long seed)
{
    enum { FUNCS = 200 };
    uint32_t start[FUNCS + 1], len[FUNCS];
    unsigned long long r = seed;
    size_t at = 0, k, i;
    for (k = 0; k < FUNCS; k++) {
        len[k] = 64 + (uint32_t)(od_test_rand(&r) % 200) * 2; /* halfword multiple */
        len[k] = (len[k] + 3) & ~3u;
    }
    for (k = 0; k < FUNCS; k++) {
        start[k] = (uint32_t)at;
        at += len[k] + (k == FUNCS / 3 ? (size_t)grow : 0);
    }
    start[FUNCS] = (uint32_t)at;
    if (at > cap)
        return 0;
    r = seed; /* the same bodies in both images */
    for (k = 0; k < FUNCS; k++) {
        uint8_t *f = img + start[k];
        od_test_rand(&r);
        for (i = 0; i + 2 <= len[k]; i += 2)
            od_put_le16(f + i, (uint16_t)(od_test_rand(&r) >> 40 & 0x7FFF));
        if (k == FUNCS / 3 && grow)
            memset(f + len[k], 0xBF, (size_t)grow);
        for (i = 2; i + 16 <= len[k]; i += 22) {
            size_t callee = (size_t)(od_test_rand(&r) % FUNCS);
            int32_t off = ((int32_t)start[callee] - (int32_t)(start[k] + i + 4)) / 2;
            od_put_le32(f + i, thumb_branch(off, (int)(i & 4)));
        }
        /* The literal pool at the end of each function. */
        od_put_le32(f + len[k] - 8, 0x08000001u + start[(k + 7) % FUNCS]);
        od_put_le32(f + len[k] - 4, 0x08000000u + start[(k + 13) % FUNCS] + 16);
    }
    return at;
}

static void t_thumb(void)
{
    enum { CAP = 200 * 600 };
    uint8_t *a = malloc(CAP), *b = malloc(CAP), *pkg, *plain;
    size_t an, bn, pkg_size, plain_size, c;
    unsigned long long r = 99;
    od_diff_params p;
    od_pkg_header h;
    od_test_flash f;
    od_patch_config cfg;
    od_patch st;
    uint32_t i;
    OD_REQUIRE(a && b);

    /* The mix is a bijection, and for branches it turns offsets into
     * plain numbers: the same change gives the same difference. */
    for (i = 0; i < 100000; i++) {
        uint32_t w = (uint32_t)(od_test_rand(&r) >> 32);
        OD_CHECK_EQ(od_thumb_unmix(od_thumb_mix(w)), w);
        OD_CHECK_EQ(od_thumb_mix(od_thumb_unmix(w)), w);
    }
    for (i = 0; i < 1000; i++) {
        int32_t off = (int32_t)(od_test_rand(&r) % 500000), d = (int32_t)(i % 300);
        OD_CHECK(OD_THUMB_IS_BRANCH(thumb_branch(off, 1)) && OD_THUMB_IS_BRANCH(thumb_branch(-off, 0)));
        OD_CHECK_EQ(od_thumb_mix(thumb_branch(off + d, 1)) - od_thumb_mix(thumb_branch(off, 1)), (uint32_t)d);
    }
    OD_CHECK(OD_THUMB_IS_ADDRESS(0x08001235u) && OD_THUMB_IS_ADDRESS(0x20000100u) &&
             OD_THUMB_IS_ADDRESS(0x00012345u) && OD_THUMB_IS_ADDRESS(0x10000000u));
    OD_CHECK(!OD_THUMB_IS_ADDRESS(0x18000000u) && !OD_THUMB_IS_ADDRESS(0x40000000u) &&
             !OD_THUMB_IS_ADDRESS(0x28000000u) && !OD_THUMB_IS_ADDRESS(0x04000000u));

    an = thumb_image(a, CAP, 0, 5);
    bn = thumb_image(b, CAP, 100, 5);
    OD_REQUIRE(an && bn);
    od_diff_params_init(&p);
    p.filter = OD_FILTER_THUMB;
    p.block_size = 16384; /* several blocks, so resume meets the filter */
    for (c = 0; c < 2; c++) {
        pkg = make_pkg(a, an, b, bn, codecs[c], &pkg_size, &p);
        OD_REQUIRE(pkg != NULL);
        OD_CHECK_EQ(od_pkg_check(pkg, pkg_size, &h), OD_PKG_OK);
        OD_CHECK_EQ(h.filter, OD_FILTER_THUMB);
        OD_CHECK(h.block_count > 2);
        for (i = 0; i < 3; i++)
            OD_CHECK(apply_ok(a, an, b, bn, pkg, pkg_size, chunks[i], 0, 256));
        for (i = 1; i <= h.block_count; i++)
            OD_CHECK(apply_ok(a, an, b, bn, pkg, pkg_size, 333, i, 256));
        /* Pages larger than the package's hold its words too. */
        OD_CHECK(apply_ok(a, an, b, bn, pkg, pkg_size, 1024, 0, 1024));
        OD_CHECK(apply_ok(a, an, b, bn, pkg, pkg_size, 1024, 0, 4096));
        /* Smaller ones may not, and are refused before any write. */
        od_test_flash_setup(&f, &cfg, &h, a, an, 128);
        od_patch_init(&st, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_GEOMETRY);
        OD_CHECK_EQ(f.writes, 0);
        od_test_flash_free(&f, &cfg);
        /* The words really were rewritten: read without the filter, the
         * same stream makes another image, which verification catches. */
        pkg[OD_HF_FILTER] = OD_FILTER_NONE;
        od_pkg_fix_crcs(pkg, pkg_size, OD_PKG_FIX_HEADER_CRC);
        od_test_flash_setup(&f, &cfg, &h, a, an, 256);
        od_patch_init(&st, &cfg, 0);
        OD_CHECK_EQ(od_test_feed_all(&st, pkg, pkg_size, 1024), OD_PATCH_ERR_VERIFY);
        od_test_flash_free(&f, &cfg);
        free(pkg);
    }
    /* Auto keeps the filter where it pays, as on these images, and never
     * uses it without a codec (the tiny profile has no filter). */
    p.filter = OD_DIFF_FILTER_AUTO;
    pkg = make_pkg(a, an, b, bn, OD_CODEC_LZMA, &pkg_size, &p);
    p.filter = OD_FILTER_NONE;
    plain = make_pkg(a, an, b, bn, OD_CODEC_LZMA, &plain_size, &p);
    OD_REQUIRE(pkg && plain);
    od_pkg_parse_header(pkg, pkg_size, &h);
    OD_CHECK_EQ(h.filter, OD_FILTER_THUMB);
    OD_CHECK(pkg_size < plain_size);
    free(pkg);
    free(plain);
    p.filter = OD_DIFF_FILTER_AUTO;
    pkg = make_pkg(a, an, b, bn, OD_CODEC_NONE, &pkg_size, &p);
    OD_REQUIRE(pkg != NULL);
    od_pkg_parse_header(pkg, pkg_size, &h);
    OD_CHECK_EQ(h.filter, OD_FILTER_NONE);
    free(pkg);
    /* A full package has nothing for the filter to act on. */
    p.kind = OD_KIND_FULL;
    p.filter = OD_FILTER_THUMB;
    p.target_version = "1.1.0";
    pkg = NULL;
    OD_CHECK_EQ(od_diff_create(NULL, 0, b, bn, &p, &pkg, &pkg_size), OD_DIFF_ERR_PARAM);
    OD_CHECK(pkg == NULL);
    free(a);
    free(b);
}

/* Records what the callbacks saw; `polls_left` < 0 never cancels. */
typedef struct watch {
    int calls, busy, overlap, backwards, over;
    uint64_t done, total;
    long polls, polls_left;
} watch;

static void watch_progress(void *ctx, uint64_t done, uint64_t total)
{
    watch *w = ctx;
    /* Calls must never overlap, whichever thread makes them. */
    if (__atomic_exchange_n(&w->busy, 1, __ATOMIC_ACQ_REL))
        w->overlap = 1;
    if (done > total)
        w->over = 1;
    /* The ratio only grows: done/total >= the previous one. */
    if (w->calls && (double)done * (double)w->total < (double)w->done * (double)total)
        w->backwards = 1;
    w->done = done;
    w->total = total;
    w->calls++;
    __atomic_store_n(&w->busy, 0, __ATOMIC_RELEASE);
}

static int watch_cancel(void *ctx)
{
    watch *w = ctx;
    if (__atomic_exchange_n(&w->busy, 1, __ATOMIC_ACQ_REL))
        w->overlap = 1;
    w->polls++;
    __atomic_store_n(&w->busy, 0, __ATOMIC_RELEASE);
    return w->polls_left >= 0 && w->polls_left-- == 0;
}

/*
 * Progress only grows and ends at done == total, in many steps; a cancel
 * at any of the generator's polls stops it with CANCELLED and no output
 * (the sanitizer build checks nothing leaks); neither callback changes the
 * package.
 */
static void t_progress_cancel(void)
{
    enum { N = 300000 };
    uint8_t *a = malloc(N), *b = malloc(2 * N), *ref = NULL, *pkg;
    size_t bn, ref_size, pkg_size;
    od_diff_params p;
    watch w;
    long n, polls, step;
    int c;
    OD_REQUIRE(a && b);
    fill_firmware(a, N, 71);
    bn = edit(a, N, b, 72);
    for (c = 0; c < 6; c++) { /* every codec at both efforts */
        od_diff_params_init(&p);
        p.codec = codecs[c % 3];
        p.effort = c < 3 ? OD_DIFF_EFFORT_BEST : OD_DIFF_EFFORT_FAST;
        /* Several blocks: a none stream codes unchanged bytes as runs, so
         * it is far shorter than the others and restarts sooner. */
        p.restart_interval = p.codec == OD_CODEC_NONE ? 4u << 10 : 32u << 10;
        p.source_version = "1.0.0";
        p.target_version = "1.1.0";
        OD_REQUIRE(od_diff_create(a, N, b, bn, &p, &ref, &ref_size) == OD_DIFF_OK);

        memset(&w, 0, sizeof(w));
        w.polls_left = -1;
        p.progress = watch_progress;
        p.progress_ctx = &w;
        p.cancel = watch_cancel;
        p.cancel_ctx = &w;
        OD_REQUIRE(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size) == OD_DIFF_OK);
        OD_CHECK(pkg_size == ref_size && memcmp(pkg, ref, ref_size) == 0);
        free(pkg);
        OD_CHECK(!w.overlap && !w.backwards && !w.over);
        OD_CHECK(w.calls >= 8 && w.done == w.total && w.total > 0);
        polls = w.polls;
        OD_CHECK(polls >= 8);

        /* A spread of polls as the stopping point, the last one included. */
        step = polls / 16 + 1;
        for (n = 0; n < polls; n = n + step < polls || n == polls - 1 ? n + step : polls - 1) {
            memset(&w, 0, sizeof(w));
            w.polls_left = n;
            pkg = NULL;
            OD_CHECK_EQ(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size), OD_DIFF_ERR_CANCELLED);
            OD_CHECK(pkg == NULL);
            OD_CHECK_EQ(w.polls, n + 1); /* nothing asks again once told to stop */
            OD_CHECK(!w.overlap);
        }
        /* One poll more than a whole run makes is never reached. */
        memset(&w, 0, sizeof(w));
        w.polls_left = polls;
        OD_CHECK_EQ(od_diff_create(a, N, b, bn, &p, &pkg, &pkg_size), OD_DIFF_OK);
        free(pkg);
        free(ref);
        ref = NULL;
    }
    free(a);
    free(b);
}

/* 64 MiB images: memory and time must scale (skipped in sanitizer runs). */
static void t_large(void)
{
    const size_t n = 64u << 20;
    uint8_t *a, *b, *pkg;
    size_t bn, pkg_size;
    if (getenv("OD_SKIP_LARGE"))
        OD_SKIP("OD_SKIP_LARGE set: 64 MiB pair skipped");
    a = malloc(n);
    b = malloc(n + n / 10);
    OD_REQUIRE(a && b);
    fill_firmware(a, n, 61);
    bn = edit(a, n, b, 62);
    pkg = make_pkg(a, n, b, bn, OD_CODEC_LZMA, &pkg_size, NULL);
    OD_REQUIRE(pkg != NULL);
    fprintf(stderr, "  64 MiB pair: package %zu bytes\n", pkg_size);
    OD_CHECK_EQ(od_pkg_check(pkg, pkg_size, NULL), OD_PKG_OK);
    OD_CHECK(apply_ok(a, n, b, bn, pkg, pkg_size, 65536, 0, 4096));
    free(pkg);
    free(a);
    free(b);
}

int main(void)
{
    OD_RUN(t_params);
    OD_RUN(t_edges);
    OD_RUN(t_full);
    OD_RUN(t_codec_fallback);
    OD_RUN(t_blocks);
    OD_RUN(t_budget);
    OD_RUN(t_effort);
    OD_RUN(t_none_runs);
    OD_RUN(t_determinism);
    OD_RUN(t_progress_cancel);
    OD_RUN(t_wrong_source);
    OD_RUN(t_geometry);
    OD_RUN(t_hook_header);
    OD_RUN(t_thumb);
    OD_RUN(t_corpus);
    OD_RUN(t_big_budget);
    OD_RUN(t_large);
    return od_test_summary();
}
