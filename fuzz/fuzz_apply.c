/*
 * fuzz_apply.c - the applier fed an arbitrary package against a fixed old
 * image, with bounded flash, as an MCU runs it.
 *
 * Input: mode byte, chunk byte, option byte, then the package.
 *   mode   OD_FUZZ_FIX_* (CRC fix-ups), 0x04 install a verify hook,
 *          0x08 check_source, 0x30 resume from block 0..3
 *   chunk  bytes per od_patch_feed call (od_fuzz_chunk)
 *   opt    0x03 page size 256/16/64/4096, 0x04 erase callback with 4 KiB
 *
 * Findings: any sanitizer report; a write that is not one whole aligned
 * page inside the declared capacity; a read outside the old image (its
 * size is configured, so the applier must bound every copy); OK without
 * taking all input; a non-sticky error; a status outside od_patch_ret;
 * DONE with flash that does not hash to the header's target SHA-256.
 */
#include <string.h>

#include "od_fuzz.h"
#include "od_patch.h"

#define WORK_MAX (1u << 20)    /* largest work buffer we hand out */
#define CAP_MAX (1u << 20)     /* largest new-image region */

typedef struct flash {
    const uint8_t *old;
    uint32_t old_size;
    uint8_t *img;
    uint32_t cap;
    uint32_t page;
    uint32_t erase;
    uint32_t hook_calls;
} flash;

static uint8_t old_image[OD_FUZZ_OLD_SIZE];
static int old_ready;

static int f_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    const flash *f = ctx;
    OD_FUZZ_ASSERT((uint64_t)off + len <= f->old_size);
    memcpy(buf, f->old + off, len);
    return 0;
}

static int f_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    flash *f = ctx;
    OD_FUZZ_ASSERT(len == f->page && off % f->page == 0);
    OD_FUZZ_ASSERT((uint64_t)off + len <= f->cap);
    memcpy(f->img + off, buf, len);
    return 0;
}

static int f_erase(void *ctx, uint32_t off, uint32_t len)
{
    flash *f = ctx;
    OD_FUZZ_ASSERT(len == f->erase && off % f->erase == 0);
    OD_FUZZ_ASSERT((uint64_t)off + len <= f->cap);
    memset(f->img + off, 0xFF, len);
    return 0;
}

static int f_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    const flash *f = ctx;
    OD_FUZZ_ASSERT((uint64_t)off + len <= f->cap);
    memcpy(buf, f->img + off, len);
    return 0;
}

static int f_verify(void *ctx, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *sig,
                    uint32_t sig_len)
{
    flash *f = ctx;
    volatile uint8_t x = 0;
    uint32_t i;
    f->hook_calls++;
    OD_FUZZ_ASSERT(hdr && hdr_len >= OD_HDR_MIN && hdr_len <= OD_HDR_MAX);
    OD_FUZZ_ASSERT(sig_len <= 128 && (sig_len == 0) == (sig == NULL));
    for (i = 0; i < sig_len; i++) /* touch every byte: ASan checks the range */
        x = (uint8_t)(x ^ sig[i]);
    /* Refuse when the signature's first byte is odd: both paths get fuzzed. */
    return sig_len && (sig[0] & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t pages[4] = {256, 16, 64, 4096};
    unsigned mode = od_fuzz_take(&data, &size);
    size_t chunk = od_fuzz_chunk(od_fuzz_take(&data, &size));
    unsigned opt = od_fuzz_take(&data, &size);
    uint32_t start = (mode >> 4) & 3, page = pages[opt & 3], unit;
    uint8_t *pkg = calloc(size ? size : 1, 1), *work = NULL;
    od_pkg_header h;
    od_patch_config cfg;
    od_patch p;
    flash f;
    int r = OD_PATCH_OK, seeks = 0;

    if (!pkg)
        return 0;
    if (!old_ready) {
        od_fuzz_fill_image(old_image, sizeof(old_image), 1);
        old_ready = 1;
    }
    memcpy(pkg, data, size);
    od_fuzz_fix_crcs(pkg, size, mode);

    /* Size buffers from the header as an integrator would, within limits;
     * a header that does not parse gets a page-only work buffer. */
    memset(&h, 0, sizeof(h));
    if (od_pkg_parse_header(pkg, size, &h) != OD_PKG_OK)
        memset(&h, 0, sizeof(h));
    memset(&f, 0, sizeof(f));
    memset(&cfg, 0, sizeof(cfg));
    f.old = old_image;
    f.old_size = OD_FUZZ_OLD_SIZE;
    f.page = page;
    f.erase = (opt & 4) ? 4096 : 0;
    unit = f.erase > page ? f.erase : page;
    f.cap = (uint32_t)(((uint64_t)h.target_size + unit - 1) / unit * unit);
    if (f.cap > CAP_MAX)
        f.cap = CAP_MAX; /* then the applier must refuse: GEOMETRY */
    if (f.cap == 0)
        f.cap = unit;
    f.img = malloc(f.cap);
    cfg.work_size = page + od_pkg_codec_workspace(&h);
    if (cfg.work_size > WORK_MAX)
        cfg.work_size = page; /* then NO_MEM */
    work = malloc(cfg.work_size);
    if (!f.img || !work)
        goto out;
    memset(f.img, 0xFF, f.cap);
    cfg.ctx = &f;
    cfg.read_old = f_read_old;
    cfg.write = f_write;
    cfg.erase = f.erase ? f_erase : NULL;
    cfg.read_new = f_read_new;
    cfg.verify_header = (mode & 4) ? f_verify : NULL;
    cfg.work = work;
    cfg.page_size = page;
    cfg.erase_size = f.erase ? f.erase : page;
    cfg.new_capacity = f.cap;
    cfg.old_size = OD_FUZZ_OLD_SIZE;
    cfg.check_source = (uint8_t)((mode & 8) != 0);
    cfg.erased_value = 0xFF;

    if (od_patch_init(&p, &cfg, start) != OD_PATCH_OK)
        goto out;
    for (;;) {
        size_t pos = od_patch_offset(&p), end;
        if (pos >= size)
            break;
        end = size - pos < chunk ? size : pos + chunk;
        r = od_patch_feed(&p, pkg, &pos, end);
        if (r == OD_PATCH_OK) {
            OD_FUZZ_ASSERT(pos == end); /* OK means all input taken */
            continue;
        }
        if (r == OD_PATCH_SEEK) {
            OD_FUZZ_ASSERT(start > 0 && ++seeks == 1); /* only a resume seeks, once */
            continue;
        }
        break;
    }
    OD_FUZZ_ASSERT(r >= OD_PATCH_ERR_RESUME && r <= OD_PATCH_SEEK);
    OD_FUZZ_ASSERT(f.hook_calls <= 1);
    if (r < 0) {
        /* Errors are sticky and take nothing more. */
        size_t pos = 0;
        OD_FUZZ_ASSERT(od_patch_feed(&p, pkg, &pos, size) == r && pos == 0);
    } else if (r == OD_PATCH_DONE) {
        const od_pkg_header *ph = od_patch_header(&p);
        od_sha256_ctx sc;
        uint8_t sha[OD_SHA256_LEN];
        OD_FUZZ_ASSERT(ph != NULL && ph->target_size <= f.cap);
        od_sha256_init(&sc);
        od_sha256_update(&sc, f.img, ph->target_size);
        od_sha256_final(&sc, sha);
        OD_FUZZ_ASSERT(memcmp(sha, ph->target_sha256, OD_SHA256_LEN) == 0);
        OD_FUZZ_ASSERT(!cfg.verify_header || f.hook_calls == 1);
    }
out:
    free(work);
    free(f.img);
    free(pkg);
    return 0;
}
