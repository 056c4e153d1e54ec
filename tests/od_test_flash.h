/*
 * od_test_flash.h - memory-backed "flash" for driving the applier in tests
 * the way an MCU port does: random-access reads of the old image, whole
 * aligned page writes of the new one, read-back for verification.
 *
 * It also polices the applier's side of the callback contract: every write
 * must be one whole page at a page-aligned offset inside the region, and
 * every read inside its image. A violation is counted, not tolerated.
 */
#ifndef OD_TEST_FLASH_H
#define OD_TEST_FLASH_H

#include <stdlib.h>
#include <string.h>

#include "od_patch.h"

typedef struct od_test_flash {
    const uint8_t *old;
    size_t old_size;
    uint8_t *img;        /* new-image region */
    size_t cap;
    uint32_t page;
    uint32_t violations; /* contract breaches seen */
    uint32_t writes;
    uint32_t saved;      /* last value given to save_progress */
} od_test_flash;

static int tf_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    od_test_flash *f = ctx;
    if ((uint64_t)off + len > f->old_size) {
        f->violations++;
        return -1;
    }
    memcpy(buf, f->old + off, len);
    return 0;
}

static int tf_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    od_test_flash *f = ctx;
    if (len != f->page || off % f->page || (uint64_t)off + len > f->cap) {
        f->violations++;
        return -1;
    }
    memcpy(f->img + off, buf, len);
    f->writes++;
    return 0;
}

static int tf_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    od_test_flash *f = ctx;
    if ((uint64_t)off + len > f->cap) {
        f->violations++;
        return -1;
    }
    memcpy(buf, f->img + off, len);
    return 0;
}

static int tf_save(void *ctx, uint32_t blocks_done)
{
    ((od_test_flash *)ctx)->saved = blocks_done;
    return 0;
}

/*
 * Sets up cfg and flash for a package whose header is h (NULL: unknown,
 * then a page-only work buffer is used). The caller frees f->img and
 * cfg->work with od_test_flash_free().
 */
static void od_test_flash_setup(od_test_flash *f, od_patch_config *cfg, const od_pkg_header *h,
                                const uint8_t *old, size_t old_size, uint32_t page)
{
    uint32_t target = h ? h->target_size : 0;
    uint32_t ws = h ? od_pkg_codec_workspace(h) : 0;
    memset(f, 0, sizeof(*f));
    memset(cfg, 0, sizeof(*cfg));
    f->old = old;
    f->old_size = old_size;
    f->page = page;
    f->cap = ((size_t)target + page - 1) / page * page;
    f->img = malloc(f->cap ? f->cap : 1);
    memset(f->img, 0xFF, f->cap);
    cfg->ctx = f;
    cfg->read_old = tf_read_old;
    cfg->write = tf_write;
    cfg->read_new = tf_read_new;
    cfg->save_progress = tf_save;
    cfg->work_size = page + ws;
    cfg->work = malloc(cfg->work_size);
    cfg->page_size = page;
    cfg->erase_size = page; /* no erase(): RAM, nothing to erase */
    cfg->new_capacity = (uint32_t)f->cap;
    cfg->old_size = (uint32_t)old_size;
    cfg->erased_value = 0xFF;
}

static void od_test_flash_free(od_test_flash *f, od_patch_config *cfg)
{
    free(f->img);
    free(cfg->work);
    f->img = NULL;
    cfg->work = NULL;
}

/*
 * Feeds pkg to an initialised applier in chunks of `chunk` bytes starting
 * at od_patch_offset(), following SEEKs. Returns the final status (DONE,
 * an error, or OK if the package ran out).
 */
static int od_test_feed_all(od_patch *p, const uint8_t *pkg, size_t size, size_t chunk)
{
    int r = OD_PATCH_OK;
    for (;;) {
        size_t pos = od_patch_offset(p), end;
        if (pos >= size)
            return r;
        end = size - pos < chunk ? size : pos + chunk;
        r = od_patch_feed(p, pkg, &pos, end);
        if (r != OD_PATCH_OK && r != OD_PATCH_SEEK)
            return r;
    }
}

#endif /* OD_TEST_FLASH_H */
