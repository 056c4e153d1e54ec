/*
 * test_profile.c - the applier built with a cut-down profile (this binary
 * compiles patch/ and the freestanding pkgfmt/ files with
 * -DOD_CONFIG="od_profile_tiny.h", as a bootloader would) applies what
 * its profile supports and refuses the rest with UNSUPPORTED before it
 * writes anything: a codec it lacks, and the thumb filter even on an
 * uncompressed package.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "od_test.h"
#include "od_test_flash.h"
#include "od_sample_images.h"

static uint8_t *imgs[3];
static size_t sizes[3];

/* Feeds a sample in 1 KiB chunks; returns the last result. */
static int apply(const uint8_t *pkg, size_t n, int source, od_test_flash *f, int *image_ok)
{
    od_pkg_header h;
    od_patch_config cfg;
    od_patch st;
    int r;
    *image_ok = 0;
    if (od_pkg_parse_header(pkg, n, &h) != OD_PKG_OK)
        return OD_PATCH_ERR_HEADER;
    od_test_flash_setup(f, &cfg, &h, imgs[source], sizes[source], h.page_size);
    od_patch_init(&st, &cfg, 0);
    r = od_test_feed_all(&st, pkg, n, 1024);
    *image_ok = f->violations == 0 && (!h.target_size || memcmp(f->img, imgs[OD_SAMPLE_V2],
                                                                h.target_size) == 0);
    od_test_flash_free(f, &cfg);
    return r;
}

static uint8_t *sample(const char *name, size_t *n)
{
    char path[1024];
    const char *dir = getenv("OD_TEST_FILES");
    if (!dir)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return od_test_read_file(path, n);
}

static void t_tiny(void)
{
    static const char *refused[] = {"good-delta-lzma.otad", "good-delta-deflate.otad",
                                    "good-delta-thumb.otad", "good-full-lzma.otad"};
    od_test_flash f;
    uint8_t *pkg;
    size_t n, i;
    int ok;

    OD_CHECK(!OD_HAS_LZMA && !OD_HAS_DEFLATE && !OD_HAS_THUMB);
    if (!(pkg = sample("good-delta-none.otad", &n)))
        OD_SKIP("OD_TEST_FILES is not set");
    OD_CHECK_EQ(apply(pkg, n, OD_SAMPLE_V1, &f, &ok), OD_PATCH_DONE);
    OD_CHECK(ok);

    /* The same package marked thumb (header CRC resealed): refused. */
    {
        uint32_t hs = od_get_le16(pkg + OD_HF_HDR_SIZE);
        pkg[OD_HF_FILTER] = OD_FILTER_THUMB;
        od_put_le32(pkg + hs - 4, od_crc32(0, pkg, hs - 4));
        OD_CHECK_EQ(apply(pkg, n, OD_SAMPLE_V1, &f, &ok), OD_PATCH_ERR_UNSUPPORTED);
        OD_CHECK_EQ(f.writes, 0);
    }
    free(pkg);
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        OD_REQUIRE((pkg = sample(refused[i], &n)) != NULL);
        OD_CHECK_EQ(apply(pkg, n, OD_SAMPLE_V1, &f, &ok), OD_PATCH_ERR_UNSUPPORTED);
        OD_CHECK_EQ(f.writes, 0);
        free(pkg);
    }
}

int main(void)
{
    int v;
    for (v = OD_SAMPLE_EMPTY; v <= OD_SAMPLE_V2; v++)
        if (!(imgs[v] = od_sample_image(v, &sizes[v])))
            return 1;
    OD_RUN(t_tiny);
    for (v = OD_SAMPLE_EMPTY; v <= OD_SAMPLE_V2; v++)
        free(imgs[v]);
    return od_test_summary();
}
