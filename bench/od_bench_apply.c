/*
 * od_bench_apply - applier throughput on the host, in process: the package
 * and both images sit in memory and the flash callbacks are memcpy, so
 * the figure is the applier's own cost (decoding, op interpretation, page
 * writes, CRC, payload SHA-256 and the read-back SHA-256 + MD5).
 *
 *   od_bench_apply [MiB]      (default 64)
 *
 * Reports MB/s of target image per codec for a full package of random-ish
 * data and a delta of a firmware-like image. Median of 3 runs.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "od_diff.h"
#include "od_patch.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct mem {
    const uint8_t *old;
    uint8_t *img;
} mem;

static int rd_old(void *c, uint32_t off, uint8_t *b, uint32_t n)
{
    memcpy(b, ((mem *)c)->old + off, n);
    return 0;
}
static int wr(void *c, uint32_t off, const uint8_t *b, uint32_t n)
{
    memcpy(((mem *)c)->img + off, b, n);
    return 0;
}
static int rd_new(void *c, uint32_t off, uint8_t *b, uint32_t n)
{
    memcpy(b, ((mem *)c)->img + off, n);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds to apply pkg once (median of 3), or -1 on failure. */
static double run(const uint8_t *old, const uint8_t *pkg, size_t size, const uint8_t *want,
                  size_t want_size)
{
    od_pkg_header h;
    double t[3];
    int i;
    if (od_pkg_parse_header(pkg, size, &h) != OD_PKG_OK)
        return -1;
    for (i = 0; i < 3; i++) {
        mem m = {old, malloc(want_size + 4096)};
        od_patch_config cfg;
        od_patch p;
        size_t pos = 0;
        double t0;
        int r;
        memset(&cfg, 0, sizeof(cfg));
        cfg.ctx = &m;
        cfg.read_old = rd_old;
        cfg.write = wr;
        cfg.read_new = rd_new;
        cfg.page_size = 4096;
        cfg.erase_size = 4096;
        cfg.work_size = 4096 + od_pkg_codec_workspace(&h);
        cfg.work = malloc(cfg.work_size);
        cfg.old_size = h.source_size; /* old is the package's source */
        cfg.erased_value = 0xFF;
        t0 = now();
        od_patch_init(&p, &cfg, 0);
        r = od_patch_feed(&p, pkg, &pos, size);
        t[i] = now() - t0;
        if (r != OD_PATCH_DONE)
            fprintf(stderr, "stopped at %zu of %zu (offset %u)\n", pos, size, od_patch_offset(&p));
        if (r != OD_PATCH_DONE || memcmp(m.img, want, want_size) != 0) {
            fprintf(stderr, "apply failed: %s\n", od_patch_strerror(r));
            return -1;
        }
        free(m.img);
        free(cfg.work);
    }
    qsort(t, 3, sizeof(t[0]), cmp_d);
    return t[1];
}

int main(int argc, char **argv)
{
    size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20, i;
    uint8_t *old = malloc(n), *nw = malloc(n), *pkg;
    unsigned long long s = 88172645463325252ULL;
    static const int codecs[] = {OD_CODEC_NONE, OD_CODEC_DEFLATE, OD_CODEC_LZMA};
    static const char *names[] = {"none", "deflate", "lzma"};
    int c, kind;

    for (i = 0; i < n; i++) { /* firmware-like: mostly structured, some noise */
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        old[i] = (s & 7) ? (uint8_t)(i * 13 ^ i >> 9) : (uint8_t)s;
    }
    memcpy(nw, old, n);
    for (i = 0; i < n; i += 997)
        nw[i] = (uint8_t)(nw[i] + 1);
    printf("| package | codec | target MiB | package bytes | apply s | MB/s |\n|---|---|---|---|---|---|\n");
    for (kind = 0; kind < 2; kind++) {
        for (c = 0; c < 3; c++) {
            od_diff_params p;
            size_t size;
            double t;
            od_diff_params_init(&p);
            p.kind = kind ? OD_KIND_DELTA : OD_KIND_FULL;
            p.codec = codecs[c];
            p.exact_codec = 1; /* each decoder's rate, whatever it gains */
            p.page_size = 4096;
            p.ram_budget = 64 * 1024;
            p.source_version = "1";
            p.target_version = "2";
            if (od_diff_create(old, n, nw, n, &p, &pkg, &size) != OD_DIFF_OK)
                return 1;
            t = run(old, pkg, size, nw, n);
            printf("| %s | %s | %zu | %zu | %.3f | %.1f |\n", kind ? "delta" : "full", names[c],
                   n >> 20, size, t, t > 0 ? (double)n / t / 1e6 : 0.0);
            free(pkg);
            if (t < 0)
                return 1;
        }
    }
    return 0;
}
