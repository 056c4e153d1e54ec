/*
 * fuzz_roundtrip.c - generator and applier end to end on arbitrary images:
 * od_diff_create(old, new) must succeed for sane parameters, produce the
 * same bytes when run twice, pass od_pkg_check, and the applier must
 * restore exactly new from it.
 *
 * Input: codec/kind/filter byte, geometry byte, two bytes of split point, chunk
 * byte, then data: old = data[0 .. split), new = data[split ..). Capped at
 * MAX_DATA bytes so one run stays in the millisecond range.
 */
#include <string.h>

#include "od_diff.h"
#include "od_fuzz.h"
#include "od_patch.h"
#include "od_pkgfmt_host.h"

#define MAX_DATA (48u * 1024u)

typedef struct flash {
    const uint8_t *old;
    size_t old_size;
    uint8_t *img;
    size_t cap;
    uint32_t page;
} flash;

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
    OD_FUZZ_ASSERT(len == f->page && off % f->page == 0 && (uint64_t)off + len <= f->cap);
    memcpy(f->img + off, buf, len);
    return 0;
}

static int f_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    const flash *f = ctx;
    OD_FUZZ_ASSERT((uint64_t)off + len <= f->cap);
    memcpy(buf, f->img + off, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int codecs[4] = {OD_CODEC_LZMA, OD_CODEC_DEFLATE, OD_CODEC_NONE, OD_CODEC_LZMA};
    static const uint32_t pages[4] = {16, 64, 256, 1024};
    static const int filters[4] = {OD_DIFF_FILTER_AUTO, OD_FILTER_NONE, OD_FILTER_THUMB,
                                   OD_FILTER_THUMB};
    uint8_t ck = od_fuzz_take(&data, &size);
    uint8_t geo = od_fuzz_take(&data, &size);
    size_t split = od_fuzz_take(&data, &size);
    size_t chunk;
    od_diff_params prm;
    uint8_t *p1 = NULL, *p2 = NULL, *work = NULL;
    size_t n1 = 0, n2 = 0;
    const uint8_t *old, *nw;
    size_t old_size, new_size;
    od_pkg_header h;
    od_patch_config cfg;
    od_patch st;
    flash f;
    int r;

    split |= (size_t)od_fuzz_take(&data, &size) << 8;
    chunk = od_fuzz_chunk(od_fuzz_take(&data, &size));
    if (size > MAX_DATA)
        size = MAX_DATA;
    if (split > size)
        split = size;
    old = data;
    old_size = split;
    nw = data + split;
    new_size = size - split;

    od_diff_params_init(&prm);
    prm.codec = codecs[ck & 3];
    prm.kind = (ck & 4) ? OD_KIND_FULL : OD_KIND_DELTA;
    prm.filter = filters[(ck >> 4) & 3];
    prm.page_size = pages[geo & 3];
    prm.erase_size = prm.page_size << ((geo >> 2) & 3);
    prm.block_size = prm.erase_size * (1u + ((geo >> 4) & 3));
    prm.restart_interval = (geo & 0x40) ? 512 : 0;
    prm.ram_budget = (ck & 8) ? 8u * 1024u : OD_DIFF_DEFAULT_RAM;
    /* Fuzz input rarely compresses: half the runs keep the codec anyway,
     * so its coder is exercised, half may fall back to none. */
    prm.exact_codec = !(ck & 0x40);
    prm.source_version = "1.0";
    prm.target_version = "1.1";

    r = od_diff_create(old, old_size, nw, new_size, &prm, &p1, &n1);
    if (r == OD_DIFF_ERR_BUDGET || r == OD_DIFF_ERR_PARAM || r == OD_DIFF_ERR_NOMEM)
        return 0; /* a parameter combination the planner refuses: fine */
    OD_FUZZ_ASSERT(r == OD_DIFF_OK);
    /* Deterministic: the same inputs give the same bytes. */
    OD_FUZZ_ASSERT(od_diff_create(old, old_size, nw, new_size, &prm, &p2, &n2) == OD_DIFF_OK);
    OD_FUZZ_ASSERT(n1 == n2 && memcmp(p1, p2, n1) == 0);
    OD_FUZZ_ASSERT(od_pkg_check(p1, n1, &h) == OD_PKG_OK);
    OD_FUZZ_ASSERT(h.codec == prm.codec || (!prm.exact_codec && h.codec == OD_CODEC_NONE));
    OD_FUZZ_ASSERT(h.target_size == new_size);
    OD_FUZZ_ASSERT(h.ram_needed + OD_PATCH_STATE_RESERVE <= prm.ram_budget);

    memset(&f, 0, sizeof(f));
    memset(&cfg, 0, sizeof(cfg));
    f.old = old;
    f.old_size = old_size;
    f.page = prm.page_size;
    f.cap = (new_size + f.page - 1) / f.page * f.page;
    f.img = malloc(f.cap ? f.cap : 1);
    work = malloc(h.ram_needed);
    OD_FUZZ_ASSERT(f.img && work);
    cfg.ctx = &f;
    cfg.read_old = f_read_old;
    cfg.write = f_write;
    cfg.read_new = f_read_new;
    cfg.work = work;
    cfg.work_size = h.ram_needed; /* exactly what the header says */
    cfg.page_size = prm.page_size;
    cfg.erase_size = prm.page_size;
    cfg.new_capacity = (uint32_t)f.cap;
    cfg.old_size = (uint32_t)old_size;
    cfg.erased_value = 0xFF;
    OD_FUZZ_ASSERT(od_patch_init(&st, &cfg, 0) == OD_PATCH_OK);
    r = OD_PATCH_OK;
    for (;;) {
        size_t pos = od_patch_offset(&st), end;
        if (pos >= n1)
            break;
        end = n1 - pos < chunk ? n1 : pos + chunk;
        r = od_patch_feed(&st, p1, &pos, end);
        if (r != OD_PATCH_OK)
            break;
    }
    OD_FUZZ_ASSERT(r == OD_PATCH_DONE);
    OD_FUZZ_ASSERT(od_patch_offset(&st) == n1);
    OD_FUZZ_ASSERT(new_size == 0 || memcmp(f.img, nw, new_size) == 0);
    free(f.img);
    free(work);
    free(p1);
    free(p2);
    return 0;
}
