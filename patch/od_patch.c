/*
 * od_patch.c - the push-fed applier state machine.
 *
 * Stages follow the package layout (FORMAT.md): header, extensions, block
 * index, then for each block its codec stream and CRC trailer, then a
 * read-back verification of everything written. Input may stop at any byte;
 * fixed-size items are gathered into a small buffer first (xz-embedded's
 * fill_temp idea), streams are decoded through a 64-byte staging buffer.
 *
 * Memory: the flash page buffer and the decoder's workspace are carved from
 * cfg->work; nothing else is allocated. Delta "add" bytes are built in the
 * page buffer itself: old bytes are read straight into it and the decoded
 * differences are added in place, so no second buffer is needed.
 */
#include "od_patch.h"

enum stage {
    ST_HEADER,
    ST_TLV_HEAD,
    ST_TLV_VALUE,
    ST_INDEX,
    ST_BLOCK_START,
    ST_BLOCK_DATA,
    ST_BLOCK_END,
    ST_BLOCK_CRC,
    ST_VERIFY,
    ST_DONE
};

/*
 * Where the op-stream parser is. Varint fields first, then the data
 * states; see od_diff.c for the grammar. D_ZERO needs no input: it copies
 * old bytes unchanged.
 */
enum field { F_LEN, F_POS, F_ADD, F_EXTRA, F_SEEK, F_ZRUN, F_DRUN, D_ZERO, D_DIFF, D_EXTRA };

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* The planner promises the device this much for our state; keep it true. */
typedef char od_patch_state_fits[(sizeof(od_patch) <= OD_PATCH_STATE_RESERVE) ? 1 : -1];

const char *od_patch_strerror(int ret)
{
    switch (ret) {
    case OD_PATCH_OK: return "ok, more input wanted";
    case OD_PATCH_DONE: return "done: image written and verified";
    case OD_PATCH_SEEK: return "resume: continue from the wanted offset";
    case OD_PATCH_ERR_MAGIC: return "not an otadelta package";
    case OD_PATCH_ERR_VERSION: return "package format version is not supported by this applier";
    case OD_PATCH_ERR_HEADER: return "package header is damaged or inconsistent";
    case OD_PATCH_ERR_UNSUPPORTED: return "package needs a codec, filter or feature not built into this applier";
    case OD_PATCH_ERR_NO_MEM: return "work buffer is smaller than the package needs";
    case OD_PATCH_ERR_GEOMETRY: return "package does not fit this flash (page/erase size or capacity)";
    case OD_PATCH_ERR_WRONG_SOURCE: return "old image is not the package's source version";
    case OD_PATCH_ERR_SIGNATURE: return "package signature missing or refused";
    case OD_PATCH_ERR_INDEX: return "package block index is damaged";
    case OD_PATCH_ERR_CORRUPT: return "package data is damaged";
    case OD_PATCH_ERR_VERIFY: return "written image does not match the target hash";
    case OD_PATCH_ERR_READ: return "flash read failed";
    case OD_PATCH_ERR_WRITE: return "flash write, erase or progress save failed";
    case OD_PATCH_ERR_MISUSE: return "invalid arguments or configuration";
    default: return "unknown error";
    }
}

int od_patch_from_pkg_error(int r)
{
    switch (r) {
    case OD_PKG_OK: return OD_PATCH_OK;
    case OD_PKG_ERR_MAGIC: return OD_PATCH_ERR_MAGIC;
    case OD_PKG_ERR_VERSION: return OD_PATCH_ERR_VERSION;
    case OD_PKG_ERR_UNSUPPORTED: return OD_PATCH_ERR_UNSUPPORTED;
    case OD_PKG_ERR_INDEX:
    case OD_PKG_ERR_INDEX_CRC: return OD_PATCH_ERR_INDEX;
    case OD_PKG_ERR_PAYLOAD: return OD_PATCH_ERR_CORRUPT;
    default: return OD_PATCH_ERR_HEADER;
    }
}

int od_patch_init(od_patch *p, const od_patch_config *cfg, uint32_t start_block)
{
    if (!p)
        return OD_PATCH_ERR_MISUSE;
    OD_MEMSET(p, 0, sizeof(*p));
    p->cfg = cfg;
    if (!cfg || !cfg->write || !cfg->read_new || !cfg->work ||
        cfg->page_size < 16 || (cfg->page_size & (cfg->page_size - 1)) ||
        (cfg->erase_size && (cfg->erase_size & (cfg->erase_size - 1)))) {
        p->err = OD_PATCH_ERR_MISUSE;
        return p->err;
    }
    p->start_block = start_block;
    p->stage = ST_HEADER;
    p->want = OD_HDR_PREFIX;
    return OD_PATCH_OK;
}

uint32_t od_patch_offset(const od_patch *p)
{
    return p->pkg_pos;
}

const od_pkg_header *od_patch_header(const od_patch *p)
{
    return p->stage > ST_HEADER ? &p->h : 0;
}

/*
 * Copies input into dst until `want` bytes are gathered. Returns 1 when
 * the item is complete, 0 when the input ran out first.
 */
static int gather(od_patch *p, uint8_t *dst, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    uint32_t n = (uint32_t)MIN((size_t)(p->want - p->fill), in_size - *in_pos);
    OD_MEMCPY(dst + p->fill, in + *in_pos, n);
    *in_pos += n;
    p->fill += n;
    p->pkg_pos += n;
    return p->fill == p->want;
}

/* Bookkeeping for payload bytes taken: block CRC and payload hash. */
static void take_payload(od_patch *p, const uint8_t *b, size_t n, int in_block)
{
    if (in_block)
        p->block_crc = od_crc32(p->block_crc, b, n);
    if (p->hashing_payload)
        od_sha256_update(&p->sha, b, n);
    p->pkg_pos += (uint32_t)n;
}

static int flush_page(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    if (p->page_fill < c->page_size)
        OD_MEMSET(p->page + p->page_fill, c->erased_value, c->page_size - p->page_fill);
    if (c->erase && c->erase_size && (p->out_pos & (c->erase_size - 1)) == 0 &&
        c->erase(c->ctx, p->out_pos, c->erase_size) != 0)
        return OD_PATCH_ERR_WRITE;
    if (c->write(c->ctx, p->out_pos, p->page, c->page_size) != 0)
        return OD_PATCH_ERR_WRITE;
    p->out_pos += c->page_size;
    p->page_fill = 0;
    if (c->progress)
        c->progress(c->ctx, MIN(p->out_pos, p->h.target_size), p->h.target_size);
    return OD_PATCH_OK;
}

/* Every check that can be made from the header alone, before any write. */
static int accept_header(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    const od_pkg_header *h = &p->h;
    uint32_t unit = c->page_size > c->erase_size ? c->page_size : c->erase_size;
    int r = od_pkg_parse_header(p->u.pre.hdr, p->want, &p->h);

    if (r != OD_PKG_OK)
        return od_patch_from_pkg_error(r);
    if ((h->codec == OD_CODEC_LZMA && !OD_HAS_LZMA) ||
        (h->codec == OD_CODEC_DEFLATE && !OD_HAS_DEFLATE))
        return OD_PATCH_ERR_UNSUPPORTED;
    if ((uint64_t)c->work_size < (uint64_t)c->page_size + od_pkg_codec_workspace(h))
        return OD_PATCH_ERR_NO_MEM;
    /* Blocks start on the package's erase units; resuming there needs our
     * pages and erase units to tile them exactly. */
    if ((h->erase_size & (c->page_size - 1)) ||
        (c->erase_size && (h->erase_size & (c->erase_size - 1))))
        return OD_PATCH_ERR_GEOMETRY;
    /* Both are powers of two and target_size <= 1 GiB: no overflow. */
    if (c->new_capacity && ((h->target_size + unit - 1) & ~(unit - 1)) > c->new_capacity)
        return OD_PATCH_ERR_GEOMETRY;
    if (h->kind == OD_KIND_DELTA) {
        if (!c->read_old)
            return OD_PATCH_ERR_MISUSE;
        if (c->old_size && c->old_size != h->source_size)
            return OD_PATCH_ERR_WRONG_SOURCE;
        if (c->expect_source_sha256 &&
            OD_MEMCMP(c->expect_source_sha256, h->source_sha256, OD_SHA256_LEN) != 0)
            return OD_PATCH_ERR_WRONG_SOURCE;
    }
    if (p->start_block > h->block_count)
        return OD_PATCH_ERR_MISUSE;
    p->page = c->work;
    p->codec_work = c->work + c->page_size;
    p->ext_left = h->ext_size;
    return OD_PATCH_OK;
}

/* Hashes the old image through read_old; the page buffer is free now. */
static int check_source(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    uint8_t sha[OD_SHA256_LEN];
    uint32_t off = 0;

    od_sha256_init(&p->sha);
    while (off < p->h.source_size) {
        uint32_t n = MIN(c->page_size, p->h.source_size - off);
        if (c->read_old(c->ctx, off, p->page, n) != 0)
            return OD_PATCH_ERR_READ;
        od_sha256_update(&p->sha, p->page, n);
        off += n;
    }
    od_sha256_final(&p->sha, sha);
    return OD_MEMCMP(sha, p->h.source_sha256, OD_SHA256_LEN) ? OD_PATCH_ERR_WRONG_SOURCE
                                                                : OD_PATCH_OK;
}

/* After the extension area: authenticity, optional source check. */
static int accept_extensions(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    int r;
    if (c->verify_header &&
        c->verify_header(c->ctx, p->u.pre.hdr, p->h.header_size, p->sig_len ? p->u.pre.sig : 0,
                         p->sig_len) != 0)
        return OD_PATCH_ERR_SIGNATURE;
    if (p->h.kind == OD_KIND_DELTA && c->check_source && (r = check_source(p)) != OD_PATCH_OK)
        return r;
    p->ext_left = p->h.block_count; /* now counts index entries */
    p->block = 0;
    p->index_crc = 0;
    return OD_PATCH_OK;
}

static int decode_varint(od_patch *p, uint8_t b)
{
    /* A fifth byte may only carry the top 4 bits of a 32-bit value. */
    if (p->op_shift == 28 && (b & 0xF0))
        return OD_PATCH_ERR_CORRUPT;
    p->varint |= (uint32_t)(b & 0x7F) << p->op_shift;
    if (b & 0x80) {
        p->op_shift = (uint8_t)(p->op_shift + 7);
        return 0;
    }
    p->op_shift = 0;
    return 1;
}

/* Picks the data state that follows a finished field or run. */
static void next_part(od_patch *p)
{
    if (p->add_left)
        p->op_field = p->op_field == F_ZRUN || p->op_field == D_ZERO ? F_DRUN : F_ZRUN;
    else if (p->extra_left)
        p->op_field = D_EXTRA;
    else { /* op complete: move the old cursor by its seek */
        p->old_pos = p->next_pos;
        p->op_field = F_ADD;
    }
}

/* Handles a completed varint field. */
static int end_field(od_patch *p)
{
    const od_pkg_header *h = &p->h;
    uint32_t v = p->varint;

    p->varint = 0;
    switch (p->op_field) {
    case F_LEN: {
        /* A block ends on an erase boundary (or the image's end) so that
         * the next one can start there after a reset. */
        uint32_t end;
        if (v == 0 || v > h->block_size) /* block_size <= 1 GiB: end cannot wrap */
            return OD_PATCH_ERR_CORRUPT;
        end = p->out_pos + v;
        if (end > h->target_size || ((end & (h->erase_size - 1)) != 0 && end != h->target_size))
            return OD_PATCH_ERR_CORRUPT;
        p->block_left = v;
        p->block_end = end;
        if (h->kind == OD_KIND_DELTA) {
            p->op_field = F_POS;
        } else { /* a full package's block is one literal run */
            p->op_field = D_EXTRA;
            p->add_left = 0;
            p->extra_left = v;
            p->next_pos = 0;
        }
        return OD_PATCH_OK;
    }
    case F_POS:
        if (v > h->source_size)
            return OD_PATCH_ERR_CORRUPT;
        p->old_pos = v;
        p->op_field = F_ADD;
        return OD_PATCH_OK;
    case F_ADD:
        p->op_add = v;
        p->op_field = F_EXTRA;
        return OD_PATCH_OK;
    case F_EXTRA: {
        uint64_t len = (uint64_t)p->op_add + v;
        if (len == 0 || len > p->block_left || p->op_add > h->source_size - p->old_pos)
            return OD_PATCH_ERR_CORRUPT;
        p->add_left = p->op_add;
        p->extra_left = v;
        p->op_field = F_SEEK;
        return OD_PATCH_OK;
    }
    case F_SEEK: { /* zigzag, relative to the cursor after the add part */
        int64_t seek = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        int64_t next = (int64_t)p->old_pos + p->add_left + seek;
        if (next < 0 || next > (int64_t)h->source_size)
            return OD_PATCH_ERR_CORRUPT;
        p->next_pos = (uint32_t)next;
        p->op_field = D_DIFF; /* as if a diff run ended: a zero run is next */
        next_part(p);
        return OD_PATCH_OK;
    }
    case F_ZRUN:
        if (v > p->add_left)
            return OD_PATCH_ERR_CORRUPT;
        p->run_left = v;
        p->op_field = D_ZERO;
        if (v == 0)
            next_part(p);
        return OD_PATCH_OK;
    default: /* F_DRUN: a difference run must make progress */
        if (v == 0 || v > p->add_left)
            return OD_PATCH_ERR_CORRUPT;
        p->run_left = v;
        p->op_field = D_DIFF;
        return OD_PATCH_OK;
    }
}

/* Makes room in the page buffer: writes it out when full. */
static int page_room(od_patch *p, uint32_t *room)
{
    int r;
    if (p->page_fill == p->cfg->page_size && (r = flush_page(p)) != OD_PATCH_OK)
        return r;
    *room = p->cfg->page_size - p->page_fill;
    return OD_PATCH_OK;
}

/* Output bookkeeping shared by every data state. */
static void produced(od_patch *p, uint32_t k)
{
    p->page_fill += k;
    p->block_left -= k;
}

/*
 * Consumes decoded stream bytes d[0..n): op fields and data, and copies
 * unchanged old runs (which need no input). Returns the number of bytes
 * used (it stops early when the block's output is complete) or a
 * negative error.
 */
static int32_t interpret(od_patch *p, const uint8_t *d, uint32_t n)
{
    const od_patch_config *c = p->cfg;
    uint32_t i = 0, room, k, t;
    int r;

    for (;;) {
        if (p->block_left == 0 && p->op_field == F_ADD)
            break;
        if (p->op_field == D_ZERO) {
            if ((r = page_room(p, &room)) != OD_PATCH_OK)
                return r;
            k = MIN(p->run_left, room);
            if (c->read_old(c->ctx, p->old_pos, p->page + p->page_fill, k) != 0)
                return OD_PATCH_ERR_READ;
            p->old_pos += k;
            p->add_left -= k;
            p->run_left -= k;
            produced(p, k);
            if (p->run_left == 0)
                next_part(p);
            continue;
        }
        if (i == n)
            break;
        if (p->op_field < D_ZERO) {
            if ((r = decode_varint(p, d[i++])) < 0)
                return r;
            if (r == 1 && (r = end_field(p)) != OD_PATCH_OK)
                return r;
            continue;
        }
        if ((r = page_room(p, &room)) != OD_PATCH_OK)
            return r;
        if (p->op_field == D_DIFF) {
            if (p->old_loaded == 0) {
                /* Read as much old as this page can take in one call. */
                p->old_loaded = MIN(p->run_left, room);
                if (c->read_old(c->ctx, p->old_pos, p->page + p->page_fill, p->old_loaded) != 0)
                    return OD_PATCH_ERR_READ;
            }
            k = MIN(n - i, p->old_loaded);
            for (t = 0; t < k; t++)
                p->page[p->page_fill + t] = (uint8_t)(p->page[p->page_fill + t] + d[i + t]);
            p->old_loaded -= k;
            p->old_pos += k;
            p->add_left -= k;
            p->run_left -= k;
        } else { /* D_EXTRA */
            k = MIN(MIN(n - i, p->extra_left), room);
            OD_MEMCPY(p->page + p->page_fill, d + i, k);
            p->extra_left -= k;
        }
        i += k;
        produced(p, k);
        if ((p->op_field == D_DIFF && p->run_left == 0) ||
            (p->op_field == D_EXTRA && p->extra_left == 0))
            next_part(p);
    }
    /* A full page is written as soon as it fills, so a block's last page
     * goes out with it (blocks are page-aligned). */
    if (p->page_fill == c->page_size && (r = flush_page(p)) != OD_PATCH_OK)
        return r;
    return (int32_t)i;
}

static int start_block(od_patch *p)
{
    const od_pkg_header *h = &p->h;
    uint32_t ws = p->cfg->work_size - p->cfg->page_size;

    int r = 0;

    /* Blocks are contiguous; only a resumed run jumps to its first one. */
    if (p->block == p->start_block)
        p->out_pos = p->resume_out;
    if (p->hashing_payload) {
        /* Rebuild the index entry this block really has: a package whose
         * index points elsewhere would strand a device that resumes. */
        uint8_t e[OD_INDEX_ENTRY_SIZE];
        uint32_t off = p->pkg_pos - od_pkg_payload_offset(h), i;
        for (i = 0; i < 4; i++) {
            e[i] = (uint8_t)(off >> (8 * i));
            e[4 + i] = (uint8_t)(p->out_pos >> (8 * i));
        }
        p->index_crc = od_crc32(p->index_crc, e, sizeof(e));
    }
    p->block_left = 0;
    p->op_field = F_LEN;
    p->page_fill = 0;
    p->old_loaded = 0;
    p->block_crc = 0;
    p->ob_pos = p->ob_len = 0;
    p->varint = 0;
    p->op_shift = 0;
#if OD_HAS_LZMA
    if (h->codec == OD_CODEC_LZMA)
        r = od_lzma_init(&p->u.lzma, h->codec_props, h->dict_size, p->codec_work, ws) != OD_LZMA_OK;
#endif
#if OD_HAS_DEFLATE
    if (h->codec == OD_CODEC_DEFLATE)
        r = od_inflate_init(&p->u.inflate, p->codec_work, h->dict_size) != OD_INFLATE_OK;
#endif
    (void)ws; /* unused when no codec is built in (tiny profile) */
    (void)h;
    return r ? OD_PATCH_ERR_NO_MEM : OD_PATCH_OK;
}

/*
 * Runs the block's codec on the input into obuf. Returns 1 at the end of
 * the codec stream, 0 otherwise, or an error.
 */
static int run_codec(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    size_t start = *in_pos, out_pos = 0;
    int r = -1, end = 0;
    (void)in_size; /* unused when no codec is built in (tiny profile) */
#if OD_HAS_LZMA
    if (p->h.codec == OD_CODEC_LZMA) {
        r = od_lzma_decode(&p->u.lzma, in, in_pos, in_size, p->obuf, &out_pos, OD_PATCH_OBUF);
        end = r == OD_LZMA_STREAM_END;
        r = (r == OD_LZMA_OK || end || r == OD_LZMA_BUF_ERROR) ? 0 : -1;
    }
#endif
#if OD_HAS_DEFLATE
    if (p->h.codec == OD_CODEC_DEFLATE) {
        r = od_inflate_decode(&p->u.inflate, in, in_pos, in_size, p->obuf, &out_pos, OD_PATCH_OBUF);
        end = r == OD_INFLATE_STREAM_END;
        r = (r == OD_INFLATE_OK || end || r == OD_INFLATE_BUF_ERROR) ? 0 : -1;
    }
#endif
    take_payload(p, in + start, *in_pos - start, 1);
    if (r < 0)
        return OD_PATCH_ERR_CORRUPT;
    p->ob_pos = 0;
    p->ob_len = (uint32_t)out_pos;
    return end;
}

/* All blocks are in: check the payload hash, then read everything back. */
static int finish(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    const od_pkg_header *h = &p->h;
    uint8_t digest[OD_SHA256_LEN];
    uint32_t off = 0;

    if (p->hashing_payload) {
        od_sha256_final(&p->sha, digest);
        if (OD_MEMCMP(digest, h->payload_sha256, OD_SHA256_LEN) != 0)
            return OD_PATCH_ERR_CORRUPT;
    }
    /* What counts is what is in flash, so hash the read-back, not what we
     * meant to write. */
    od_sha256_init(&p->sha);
#if OD_HAS_MD5
    od_md5_init(&p->u.md5);
#endif
    while (off < h->target_size) {
        uint32_t n = MIN(c->page_size, h->target_size - off);
        if (c->read_new(c->ctx, off, p->page, n) != 0)
            return OD_PATCH_ERR_READ;
        od_sha256_update(&p->sha, p->page, n);
#if OD_HAS_MD5
        od_md5_update(&p->u.md5, p->page, n);
#endif
        off += n;
    }
    od_sha256_final(&p->sha, digest);
    if (OD_MEMCMP(digest, h->target_sha256, OD_SHA256_LEN) != 0)
        return OD_PATCH_ERR_VERIFY;
#if OD_HAS_MD5
    od_md5_final(&p->u.md5, digest);
    if (OD_MEMCMP(digest, h->target_md5, OD_MD5_LEN) != 0)
        return OD_PATCH_ERR_VERIFY;
#endif
    return OD_PATCH_DONE;
}

/* Moves from the index to the first block to apply. */
static int after_index(od_patch *p)
{
    if (p->index_crc != p->h.index_crc32)
        return OD_PATCH_ERR_INDEX;
    p->block = p->start_block;
    if (p->block == p->h.block_count) {
        if (p->start_block == 0) { /* no blocks: the empty payload is bound too */
            uint8_t d[OD_SHA256_LEN];
            od_sha256_init(&p->sha);
            od_sha256_final(&p->sha, d);
            if (OD_MEMCMP(d, p->h.payload_sha256, OD_SHA256_LEN) != 0)
                return OD_PATCH_ERR_CORRUPT;
        }
        p->stage = ST_VERIFY;
        return OD_PATCH_OK;
    }
    p->hashing_payload = p->start_block == 0;
    if (p->hashing_payload)
        od_sha256_init(&p->sha);
    p->index_crc = 0; /* from here: the index the blocks actually form */
    p->stage = ST_BLOCK_START;
    if (p->start_block > 0) {
        p->pkg_pos = od_pkg_payload_offset(&p->h) + p->resume_off;
        return OD_PATCH_SEEK;
    }
    return OD_PATCH_OK;
}

static int step(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    const od_patch_config *c = p->cfg;
    int r;

    for (;;) {
        switch (p->stage) {
        case ST_HEADER:
            if (!gather(p, p->u.pre.hdr, in, in_pos, in_size))
                return OD_PATCH_OK;
            if (p->want == OD_HDR_PREFIX) { /* now the header's size is known */
                uint32_t size;
                if ((r = od_pkg_parse_prefix(p->u.pre.hdr, &size)) != OD_PKG_OK)
                    return od_patch_from_pkg_error(r);
                p->want = size;
                break;
            }
            if ((r = accept_header(p)) != OD_PATCH_OK)
                return r;
            p->stage = ST_TLV_HEAD;
            p->fill = 0;
            p->want = 4;
            break;

        case ST_TLV_HEAD:
            if (p->ext_left == 0) {
                if ((r = accept_extensions(p)) != OD_PATCH_OK)
                    return r;
                p->stage = ST_INDEX;
                p->fill = 0;
                p->want = OD_INDEX_ENTRY_SIZE;
                if (p->h.block_count == 0) {
                    if ((r = after_index(p)) != OD_PATCH_OK)
                        return r;
                }
                break;
            }
            if (p->ext_left < 4)
                return OD_PATCH_ERR_HEADER;
            if (!gather(p, p->obuf, in, in_pos, in_size))
                return OD_PATCH_OK;
            p->ext_left -= 4;
            {
                uint16_t type = od_get_le16(p->obuf);
                uint16_t len = od_get_le16(p->obuf + 2);
                if (len > p->ext_left)
                    return OD_PATCH_ERR_HEADER;
                p->ext_left -= len;
                if (type & OD_TLV_CRITICAL)
                    return OD_PATCH_ERR_UNSUPPORTED;
                p->tlv_left = len;
                p->fill = 0;
                p->want = 0;
                /* Keep a signature only if someone will check it. */
                if (type == OD_TLV_SIGNATURE && c->verify_header) {
                    if (len > sizeof(p->u.pre.sig) || p->sig_len)
                        return OD_PATCH_ERR_SIGNATURE;
                    p->want = len;
                    p->sig_len = len;
                }
            }
            p->stage = ST_TLV_VALUE;
            break;

        case ST_TLV_VALUE:
            if (p->want) {
                if (!gather(p, p->u.pre.sig, in, in_pos, in_size))
                    return OD_PATCH_OK;
            } else {
                uint32_t n = (uint32_t)MIN((size_t)p->tlv_left, in_size - *in_pos);
                *in_pos += n;
                p->pkg_pos += n;
                p->tlv_left -= n;
                if (p->tlv_left)
                    return OD_PATCH_OK;
            }
            p->stage = ST_TLV_HEAD;
            p->fill = 0;
            p->want = 4;
            break;

        case ST_INDEX: {
            od_pkg_block b;
            if (!gather(p, p->obuf, in, in_pos, in_size))
                return OD_PATCH_OK;
            p->index_crc = od_crc32(p->index_crc, p->obuf, OD_INDEX_ENTRY_SIZE);
            if (od_pkg_parse_block(&p->h, p->obuf, p->block, &p->prev, &b) != OD_PKG_OK)
                return OD_PATCH_ERR_INDEX;
            if (p->block == p->start_block) {
                p->resume_off = b.pkg_offset;
                p->resume_out = b.out_offset;
            }
            p->prev = b;
            p->fill = 0;
            /* OK goes on with this input; only a SEEK or error returns. */
            if (++p->block == p->h.block_count && (r = after_index(p)) != OD_PATCH_OK)
                return r;
            break;
        }

        case ST_BLOCK_START:
            if ((r = start_block(p)) != OD_PATCH_OK)
                return r;
            p->stage = ST_BLOCK_DATA;
            break;

        case ST_BLOCK_DATA: {
            int32_t used;
            size_t before = *in_pos;
            if (p->block_left == 0 && p->op_field == F_ADD) {
                p->stage = ST_BLOCK_END;
                break;
            }
            if (p->h.codec == OD_CODEC_NONE) {
                size_t avail = MIN(in_size - *in_pos, (size_t)0x7FFFFFFF);
                used = interpret(p, in + *in_pos, (uint32_t)avail);
                if (used < 0)
                    return used;
                take_payload(p, in + *in_pos, (size_t)used, 1);
                *in_pos += (size_t)used;
                if (avail == 0 && !(p->block_left == 0 && p->op_field == F_ADD))
                    return OD_PATCH_OK;
                break;
            }
            used = interpret(p, p->obuf + p->ob_pos, p->ob_len - p->ob_pos);
            if (used < 0)
                return used;
            p->ob_pos += (uint32_t)used;
            if ((p->block_left == 0 && p->op_field == F_ADD) || p->ob_pos < p->ob_len)
                break;
            if (*in_pos == in_size)
                return OD_PATCH_OK;
            if ((r = run_codec(p, in, in_pos, in_size)) < 0)
                return r;
            /* The stream may not end before the block's output does, and a
             * decoder given input and an empty buffer must move. */
            if (p->ob_len == 0 && (r == 1 || *in_pos == before))
                return OD_PATCH_ERR_CORRUPT;
            break;
        }

        case ST_BLOCK_END:
            /* Decoded bytes beyond the block's output mean damage. */
            if (p->ob_pos < p->ob_len)
                return OD_PATCH_ERR_CORRUPT;
            if (p->h.codec != OD_CODEC_NONE) {
                if (*in_pos == in_size)
                    return OD_PATCH_OK;
                r = run_codec(p, in, in_pos, in_size);
                if (r < 0)
                    return r;
                if (p->ob_len != 0)
                    return OD_PATCH_ERR_CORRUPT;
                if (r == 0)
                    break;
            }
            p->stage = ST_BLOCK_CRC;
            p->fill = 0;
            p->want = OD_BLOCK_TRAILER;
            break;

        case ST_BLOCK_CRC: {
            size_t start = *in_pos;
            int done = gather(p, p->obuf, in, in_pos, in_size);
            /* gather() counted the position; only the hash is left to do. */
            p->pkg_pos -= (uint32_t)(*in_pos - start);
            take_payload(p, in + start, *in_pos - start, 0);
            if (!done)
                return OD_PATCH_OK;
            if (od_get_le32(p->obuf) != p->block_crc)
                return OD_PATCH_ERR_CORRUPT;
            if (p->block + 1 == p->h.block_count && p->page_fill &&
                (r = flush_page(p)) != OD_PATCH_OK)
                return r;
            if (c->save_progress && c->save_progress(c->ctx, p->block + 1) != 0)
                return OD_PATCH_ERR_WRITE;
            if (++p->block < p->h.block_count) {
                p->stage = ST_BLOCK_START;
                break;
            }
            /* The blocks must tile the image exactly. */
            if (p->block_end != p->h.target_size)
                return OD_PATCH_ERR_CORRUPT;
            if (p->hashing_payload && p->index_crc != p->h.index_crc32)
                return OD_PATCH_ERR_INDEX;
            p->stage = ST_VERIFY;
            break;
        }

        case ST_VERIFY:
            r = finish(p);
            if (r == OD_PATCH_DONE)
                p->stage = ST_DONE;
            return r;

        default:
            return OD_PATCH_DONE;
        }
    }
}

int od_patch_feed(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    int r;
    if (!p || !in_pos || (!in && in_size) || *in_pos > in_size)
        return OD_PATCH_ERR_MISUSE;
    if (p->err)
        return p->err;
    if (p->stage == ST_DONE)
        return OD_PATCH_DONE;
    r = step(p, in, in_pos, in_size);
    if (r < 0 || r == OD_PATCH_DONE)
        p->err = r;
    return r;
}
