/*
 * od_patch.c - the push-fed applier state machine.
 *
 * Stages follow the package layout (FORMAT.md): header, extensions, block
 * index, then for each block its codec stream and CRC trailer, then a
 * read-back verification of everything written. Input may stop at any byte;
 * fixed-size items (header, TLV heads and values, index entries, CRC
 * trailers) all go through one gather step at the top of step() (xz-embedded's
 * fill_temp idea), streams are decoded through a 64-byte staging buffer.
 *
 * Memory: the flash page buffer and the decoder's workspace are carved from
 * cfg->work; nothing else is allocated. Delta "add" bytes are built in the
 * page buffer itself: old bytes are read straight into it and the decoded
 * differences are added in place, so no second buffer is needed.
 */
#include "od_patch.h"

/*
 * Stages. Each one but ST_BLOCK and ST_VERIFY first gathers `want` bytes
 * (into the buffer gather_dst() picks) and then handles the complete item.
 */
enum stage {
    ST_HEADER,   /* the OD_HDR_PREFIX bytes, then the rest of the core header */
    ST_TLV_HEAD, /* type and length of one extension */
    ST_TLV_SKIP, /* an extension's value, not kept */
    ST_SIG,      /* the signature extension's value, kept for verify_header */
    ST_INDEX,    /* one block-index entry */
    ST_BLOCK,    /* a block's codec stream */
    ST_BLOCK_CRC,/* its CRC trailer */
    ST_VERIFY    /* payload hash and read-back */
};

/*
 * Where the op-stream parser is. Varint fields first, then the data
 * states; see od_diff.c for the grammar. D_ZERO needs no input: it copies
 * old bytes unchanged. A run field is followed by its data state, two
 * places further on (F_ZRUN + 2 == D_ZERO, F_DRUN + 2 == D_DIFF).
 */
enum field { F_LEN, F_POS, F_ADD, F_EXTRA, F_SEEK, F_ZRUN, F_DRUN, D_ZERO, D_DIFF, D_EXTRA };

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* The current block's output is complete (its last op included). */
#define BLOCK_DONE(p) ((p)->block_left == 0 && (p)->op_field == F_ADD)

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
    case OD_PATCH_ERR_RESUME: return "saved progress is beyond this package's blocks: start again from block 0";
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
    OD_MEMSET(p, 0, sizeof(*p)); /* stage ST_HEADER */
    p->cfg = cfg;
    if (!cfg || !cfg->write || !cfg->read_new || !cfg->work ||
        cfg->page_size < 16 || (cfg->page_size & (cfg->page_size - 1)) ||
        ((uintptr_t)cfg->work & 3) || (cfg->erase_size & (cfg->erase_size - 1)) ||
        cfg->erase_size < cfg->page_size) {
        p->err = OD_PATCH_ERR_MISUSE;
        return p->err;
    }
    p->start_block = start_block;
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

/* Enters a stage that first gathers `want` bytes. */
OD_NOINLINE static void expect(od_patch *p, uint8_t stage, uint32_t want)
{
    p->stage = stage;
    p->fill = 0;
    p->want = want;
}

/*
 * Bookkeeping for package bytes taken: position, and in the payload the
 * block CRC (codec stream only) and the payload hash (hashing_payload is
 * only set from the first block on).
 */
static void take(od_patch *p, const uint8_t *b, size_t n)
{
    if (p->stage == ST_BLOCK)
        p->block_crc = od_crc32(p->block_crc, b, n);
    if (p->hashing_payload)
        od_sha256_update(&p->sha, b, n);
    p->pkg_pos += (uint32_t)n;
}

static int flush_page(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    uint32_t ps = c->page_size;
    /* Pads a partial last page (nothing for a full one). */
    OD_MEMSET(p->page + p->page_fill, c->erased_value, ps - p->page_fill);
    if (c->erase && (p->out_pos & (c->erase_size - 1)) == 0 &&
        c->erase(c->ctx, p->out_pos, c->erase_size) != 0)
        return OD_PATCH_ERR_WRITE;
    if (c->write(c->ctx, p->out_pos, p->page, ps) != 0)
        return OD_PATCH_ERR_WRITE;
    p->out_pos += ps;
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
    int r = od_pkg_parse_header(p->u.pre.hdr, p->want, &p->h);

    if (r != OD_PKG_OK)
        return od_patch_from_pkg_error(r);
    /* od_patch_header() answers from here on: in the verify_header hook
     * even when no extension record moves the stage on, and after the
     * refusals below, so a device can report what the package wanted. */
    p->stage = ST_TLV_HEAD;
    if ((h->codec == OD_CODEC_LZMA && !OD_HAS_LZMA) ||
        (h->codec == OD_CODEC_DEFLATE && !OD_HAS_DEFLATE) ||
        (h->filter == OD_FILTER_THUMB && !OD_HAS_THUMB))
        return OD_PATCH_ERR_UNSUPPORTED;
    /* The workspace is below 65 MiB and a page at most 64 KiB (the header
     * checks both): the sum cannot wrap. */
    if (c->work_size < c->page_size || c->work_size - c->page_size < od_pkg_codec_workspace(h))
        return OD_PATCH_ERR_NO_MEM;
    /* Blocks start on the package's erase units; resuming there needs our
     * erase units (so our pages, which tile them) to tile them exactly. */
    if (h->erase_size & (c->erase_size - 1))
        return OD_PATCH_ERR_GEOMETRY;
    /* A filtered word lies within one of the package's pages; it must
     * also lie within one of ours, which is still in RAM when it ends. */
    if (OD_HAS_THUMB && h->filter && c->page_size < h->page_size)
        return OD_PATCH_ERR_GEOMETRY;
    /* Both are powers of two and target_size <= 1 GiB: no overflow. */
    if (c->new_capacity &&
        ((h->target_size + c->erase_size - 1) & ~(c->erase_size - 1)) > c->new_capacity)
        return OD_PATCH_ERR_GEOMETRY;
    if (h->kind == OD_KIND_DELTA) {
        if (!c->read_old)
            return OD_PATCH_ERR_MISUSE;
        if (c->old_size != h->source_size)
            return OD_PATCH_ERR_WRONG_SOURCE;
        if (c->expect_source_sha256 &&
            OD_MEMCMP(c->expect_source_sha256, h->source_sha256, OD_SHA256_LEN) != 0)
            return OD_PATCH_ERR_WRONG_SOURCE;
    }
    if (p->start_block > h->block_count)
        return OD_PATCH_ERR_RESUME;
    p->page = c->work;
    p->codec_work = c->work + c->page_size;
    p->ext_left = h->ext_size;
    return OD_PATCH_OK;
}

/*
 * Hashes size bytes of an image through rd (read_old or read_new), a page
 * at a time through the page buffer (free whenever this runs), with MD5
 * too where it is built in and md5 is set. Returns OD_PATCH_ERR_READ, or
 * 1 if the SHA-256 is not `expect`, else 0 (MD5 left for the caller).
 */
static int hash_image(od_patch *p, int (*rd)(void *, uint32_t, uint8_t *, uint32_t),
                      uint32_t size, const uint8_t *expect, int md5)
{
    const od_patch_config *c = p->cfg;
    uint8_t digest[OD_SHA256_LEN];
    uint32_t off, n;

    od_sha256_init(&p->sha);
#if OD_HAS_MD5
    if (md5)
        od_md5_init(&p->u.md5);
#endif
    for (off = 0; off < size; off += n) {
        n = MIN(c->page_size, size - off);
        if (rd(c->ctx, off, p->page, n) != 0)
            return OD_PATCH_ERR_READ;
        od_sha256_update(&p->sha, p->page, n);
#if OD_HAS_MD5
        if (md5)
            od_md5_update(&p->u.md5, p->page, n);
#endif
    }
    (void)md5;
    od_sha256_final(&p->sha, digest);
    return OD_MEMCMP(digest, expect, OD_SHA256_LEN) != 0;
}

static int start_block(od_patch *p)
{
    const od_pkg_header *h = &p->h;
    int r = 0;

    /* Blocks are contiguous; only a resumed run jumps to its first one. */
    if (p->block == p->start_block)
        p->out_pos = p->block_end = p->resume_out;
    if (p->hashing_payload) {
        /* Rebuild the index entry this block really has: a package whose
         * index points elsewhere would strand a device that resumes. */
        uint8_t e[OD_INDEX_ENTRY_SIZE];
        od_put_le32(e, p->pkg_pos - od_pkg_payload_offset(h));
        od_put_le32(e + 4, p->out_pos);
        p->index_crc = od_crc32(p->index_crc, e, sizeof(e));
    }
    /* The previous block left block_left, run_left, add_left, extra_left,
     * old_loaded and page_fill at 0 and the op parser between ops. */
    p->op_field = F_LEN;
    p->block_crc = 0;
    p->ob_pos = p->ob_len = 0;
    expect(p, ST_BLOCK, 0);
#if OD_HAS_LZMA
    if (h->codec == OD_CODEC_LZMA)
        r = od_lzma_init(&p->u.lzma, h->codec_props, h->dict_size, p->codec_work,
                         p->cfg->work_size - p->cfg->page_size) != OD_LZMA_OK;
#endif
#if OD_HAS_DEFLATE
    if (h->codec == OD_CODEC_DEFLATE)
        r = od_inflate_init(&p->u.inflate, p->codec_work, h->dict_size) != OD_INFLATE_OK;
#endif
    (void)h;
    return r ? OD_PATCH_ERR_NO_MEM : OD_PATCH_OK;
}

/* Moves from the index to the first block to apply. */
static int after_index(od_patch *p)
{
    int r;
    if (p->index_crc != p->h.index_crc32)
        return OD_PATCH_ERR_INDEX;
    p->block = p->start_block;
    /* From block 0 the payload is hashed, and the index the blocks really
     * form is rebuilt; the empty payload of a package without blocks is
     * bound too (finish() checks it). */
    p->hashing_payload = p->start_block == 0;
    od_sha256_init(&p->sha);
    p->index_crc = 0;
    if (p->block == p->h.block_count) {
        expect(p, ST_VERIFY, 0);
        return OD_PATCH_OK;
    }
    if (p->start_block > 0)
        p->pkg_pos = od_pkg_payload_offset(&p->h) + p->resume_off;
    if ((r = start_block(p)) != OD_PATCH_OK)
        return r;
    return p->start_block > 0 ? OD_PATCH_SEEK : OD_PATCH_OK;
}

/* Next in the index: an entry, or past the last one, the first block. */
static int next_index(od_patch *p)
{
    if (p->block == p->h.block_count)
        return after_index(p);
    expect(p, ST_INDEX, OD_INDEX_ENTRY_SIZE);
    return OD_PATCH_OK;
}

/* Next in the extension area: a TLV head, or at its end, the checks that
 * close the header part (authenticity, optional source check). */
static int next_tlv(od_patch *p)
{
    const od_patch_config *c = p->cfg;
    int r;

    if (p->ext_left) {
        if (p->ext_left < 4)
            return OD_PATCH_ERR_HEADER;
        expect(p, ST_TLV_HEAD, 4);
        return OD_PATCH_OK;
    }
    if (c->verify_header &&
        c->verify_header(c->ctx, p->u.pre.hdr, p->h.header_size, p->sig_len ? p->u.pre.sig : 0,
                         p->sig_len) != 0)
        return OD_PATCH_ERR_SIGNATURE;
    if (p->h.kind == OD_KIND_DELTA && c->check_source) {
        if ((r = hash_image(p, c->read_old, p->h.source_size, p->h.source_sha256, 0)) != 0)
            return r < 0 ? r : OD_PATCH_ERR_WRONG_SOURCE;
    }
    p->block = 0;
    p->index_crc = 0;
    return next_index(p);
}

/* Picks the data state that follows a finished field or run. */
static void next_part(od_patch *p)
{
    if (p->add_left) {
        p->op_field = p->op_field == F_ZRUN || p->op_field == D_ZERO ? F_DRUN : F_ZRUN;
    } else if (p->extra_left) {
        p->op_field = D_EXTRA;
        p->run_left = p->extra_left;
        p->extra_left = 0;
    } else { /* op complete: move the old cursor by its seek */
        p->old_pos = p->next_pos;
        p->op_field = F_ADD;
    }
}

/*
 * Handles a completed varint field. All arithmetic stays in 32 bits:
 * source_size, target_size and block_size are at most 1 GiB (the header
 * checks them) and every cursor stays within them.
 */
static int end_field(od_patch *p)
{
    const od_pkg_header *h = &p->h;
    uint32_t v = p->varint, end;
    uint8_t f = p->op_field;

    p->varint = 0;
    switch (f) {
    case F_LEN:
        /* A block ends on an erase boundary (or the image's end) so that
         * the next one can start there after a reset. */
        end = p->block_end + v;
        if (v == 0 || v > h->block_size || end > h->target_size ||
            ((end & (h->erase_size - 1)) != 0 && end != h->target_size))
            return OD_PATCH_ERR_CORRUPT;
        p->block_left = v;
        p->block_end = end;
        if (h->kind == OD_KIND_DELTA) {
            p->op_field = F_POS;
        } else { /* a full package's block is one literal run */
            p->op_field = D_EXTRA;
            p->run_left = v;
        }
        return OD_PATCH_OK;
    case F_POS:
        if (v > h->source_size)
            return OD_PATCH_ERR_CORRUPT;
        p->old_pos = v;
        p->op_field = F_ADD;
        return OD_PATCH_OK;
    case F_ADD:
        p->add_left = v;
        p->op_field = F_EXTRA;
        return OD_PATCH_OK;
    case F_EXTRA: /* 0 < add + extra <= block_left, add within the source */
        if ((p->add_left | v) == 0 || v > p->block_left || p->add_left > p->block_left - v ||
            p->add_left > h->source_size - p->old_pos)
            return OD_PATCH_ERR_CORRUPT;
        p->extra_left = v;
        p->op_field = F_SEEK;
        return OD_PATCH_OK;
    case F_SEEK:
        /* Zigzag, relative to the cursor after the add part (at most
         * source_size). A seek before 0 wraps to at least 2^31, above
         * any source_size, so one comparison covers both ends. */
        end = p->old_pos + p->add_left + ((v >> 1) ^ (0u - (v & 1)));
        if (end > h->source_size)
            return OD_PATCH_ERR_CORRUPT;
        p->next_pos = end;
        p->op_field = D_DIFF; /* as if a diff run ended: a zero run is next */
        next_part(p);
        return OD_PATCH_OK;
    default: /* F_ZRUN, F_DRUN; a difference run must make progress */
        if (v > p->add_left || (v == 0 && f == F_DRUN))
            return OD_PATCH_ERR_CORRUPT;
        p->run_left = v;
        p->op_field = (uint8_t)(f + 2);
#if OD_HAS_THUMB
        p->w_len = 0; /* filtered words never reach back into an earlier run */
#endif
        if (v == 0)
            next_part(p);
        return OD_PATCH_OK;
    }
}

#if OD_HAS_THUMB
/*
 * The thumb filter, after byte t of the current difference chunk went out
 * bytewise (old byte o, run byte x). A word is recognised at its last
 * byte, from the source alone; its first three bytes are still in this
 * page (see accept_header), so all four are redone here.
 */
OD_NOINLINE static void thumb_byte(od_patch *p, uint8_t o, uint8_t x, uint32_t t)
{
    uint32_t w, at = p->old_pos + t; /* source offset of the byte */
    p->w_old = p->w_old >> 8 | (uint32_t)o << 24;
    p->w_diff = p->w_diff >> 8 | (uint32_t)x << 24;
    if (++p->w_len < 4 || !(at & 1) || ((p->page_fill + t) & (p->h.page_size - 1)) < 3)
        return;
    w = p->w_old;
    if (OD_THUMB_IS_BRANCH(w))
        w = od_thumb_unmix(od_thumb_mix(w) + p->w_diff);
    else if ((at & 2) && OD_THUMB_IS_ADDRESS(w))
        w += p->w_diff;
    else
        return;
    od_put_le32(p->page + p->page_fill + t - 3, w);
    p->w_len = 0;
}
#endif

/*
 * Consumes decoded stream bytes d[0..n): op fields and data, and copies
 * unchanged old runs (which need no input). Returns the number of bytes
 * used (it stops early when the block's output is complete) or a
 * negative error.
 */
static int32_t interpret(od_patch *p, const uint8_t *d, uint32_t n)
{
    const od_patch_config *c = p->cfg;
    uint32_t i = 0, k, t;
    uint8_t *dst;
    int r;

    while (!BLOCK_DONE(p)) {
        uint8_t f = p->op_field;
        if (i == n && f != D_ZERO)
            break;
        if (f < D_ZERO) {
            uint8_t b = d[i++];
            /* A fifth byte may only carry the top 4 bits of a 32-bit value. */
            if (p->op_shift == 28 && (b & 0xF0))
                return OD_PATCH_ERR_CORRUPT;
            p->varint |= (uint32_t)(b & 0x7F) << p->op_shift;
            if (b & 0x80) {
                p->op_shift = (uint8_t)(p->op_shift + 7);
                continue;
            }
            p->op_shift = 0;
            if ((r = end_field(p)) != OD_PATCH_OK)
                return r;
            continue;
        }
        if (p->page_fill == c->page_size && (r = flush_page(p)) != OD_PATCH_OK)
            return r;
        k = MIN(p->run_left, c->page_size - p->page_fill);
        dst = p->page + p->page_fill;
        if (f == D_EXTRA) {
            k = MIN(k, n - i);
            OD_MEMCPY(dst, d + i, k);
            i += k;
        } else {
            if (p->old_loaded == 0) {
                /* Read as much old as this page can take in one call;
                 * old_loaded stays within run_left and the page. */
                p->old_loaded = k;
                if (c->read_old(c->ctx, p->old_pos, dst, k) != 0)
                    return OD_PATCH_ERR_READ;
            }
            k = p->old_loaded;
            if (f == D_DIFF) { /* add the differences to the old bytes */
                k = MIN(k, n - i);
                for (t = 0; t < k; t++) {
                    uint8_t o = dst[t], x = d[i + t];
                    dst[t] = (uint8_t)(o + x);
#if OD_HAS_THUMB
                    if (p->h.filter)
                        thumb_byte(p, o, x, t);
#endif
                }
                i += k;
            }
            p->old_loaded -= k;
            p->old_pos += k;
            p->add_left -= k;
        }
        p->run_left -= k;
        p->page_fill += k;
        p->block_left -= k;
        if (p->run_left == 0)
            next_part(p);
    }
    /* A full page is written as soon as it fills, so a block's last page
     * goes out with it (blocks are page-aligned). */
    if (p->page_fill == c->page_size && (r = flush_page(p)) != OD_PATCH_OK)
        return r;
    return (int32_t)i;
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
    take(p, in + start, *in_pos - start);
    if (r < 0)
        return OD_PATCH_ERR_CORRUPT;
    p->ob_pos = 0;
    p->ob_len = (uint32_t)out_pos;
    return end;
}

/* All blocks are in: check the payload hash, then read everything back. */
static int finish(od_patch *p)
{
    const od_pkg_header *h = &p->h;
    uint8_t digest[OD_SHA256_LEN];
    int r;

    if (p->hashing_payload) {
        od_sha256_final(&p->sha, digest);
        if (OD_MEMCMP(digest, h->payload_sha256, OD_SHA256_LEN) != 0)
            return OD_PATCH_ERR_CORRUPT;
    }
    /* What counts is what is in flash, so hash the read-back, not what we
     * meant to write. */
    if ((r = hash_image(p, p->cfg->read_new, h->target_size, h->target_sha256, 1)) != 0)
        return r < 0 ? r : OD_PATCH_ERR_VERIFY;
#if OD_HAS_MD5
    od_md5_final(&p->u.md5, digest);
    if (OD_MEMCMP(digest, h->target_md5, OD_MD5_LEN) != 0)
        return OD_PATCH_ERR_VERIFY;
#endif
    return OD_PATCH_DONE;
}

/* Where gathered bytes go in the current stage; NULL: dropped. */
static uint8_t *gather_dst(od_patch *p)
{
    switch (p->stage) {
    case ST_HEADER: return p->u.pre.hdr;
    case ST_SIG: return p->u.pre.sig;
    case ST_TLV_SKIP: return 0;
    default: return p->obuf;
    }
}

static int step(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    const od_patch_config *c = p->cfg;
    const od_pkg_header *h = &p->h;
    int r;

    for (;;) {
        if (p->fill < p->want) {
            const uint8_t *src = in + *in_pos;
            uint32_t n = (uint32_t)MIN((size_t)(p->want - p->fill), in_size - *in_pos);
            uint8_t *dst = gather_dst(p);
            if (dst)
                OD_MEMCPY(dst + p->fill, src, n);
            take(p, src, n);
            *in_pos += n;
            p->fill += n;
            if (p->fill < p->want)
                return OD_PATCH_OK;
        }
        switch (p->stage) {
        case ST_HEADER:
            if (p->want == OD_HDR_PREFIX) { /* now the header's size is known */
                uint32_t size;
                if ((r = od_pkg_parse_prefix(p->u.pre.hdr, &size)) != OD_PKG_OK)
                    return od_patch_from_pkg_error(r);
                p->want = size;
                break;
            }
            if ((r = accept_header(p)) != OD_PATCH_OK || (r = next_tlv(p)) != OD_PATCH_OK)
                return r;
            break;

        case ST_TLV_HEAD: {
            uint16_t type = od_get_le16(p->obuf);
            uint16_t len = od_get_le16(p->obuf + 2);
            p->ext_left -= 4;
            if (len > p->ext_left)
                return OD_PATCH_ERR_HEADER;
            p->ext_left -= len;
            if (type & OD_TLV_CRITICAL)
                return OD_PATCH_ERR_UNSUPPORTED;
            expect(p, ST_TLV_SKIP, len);
            /* Keep a signature only if someone will check it. At most one
             * record, and never an empty one: sig_len is what marks a
             * record as seen, so an empty record first would hide a second
             * one behind it (od_pkg_verify refuses both). One comparison
             * refuses all three: len 0 wraps, and any earlier sig_len
             * (1..128) shifted up is above the limit. On Thumb-2 this cost
             * nothing where the plain form cost 4 bytes, and the LZMA
             * profile's 6 KiB are nearly full. */
            if (type == OD_TLV_SIGNATURE && c->verify_header) {
                if (((len - 1u) | (p->sig_len << 8)) >= sizeof(p->u.pre.sig))
                    return OD_PATCH_ERR_SIGNATURE;
                p->stage = ST_SIG;
                p->sig_len = len;
            }
            break;
        }

        case ST_TLV_SKIP:
        case ST_SIG:
            if ((r = next_tlv(p)) != OD_PATCH_OK)
                return r;
            break;

        case ST_INDEX: {
            od_pkg_block b;
            p->index_crc = od_crc32(p->index_crc, p->obuf, OD_INDEX_ENTRY_SIZE);
            if (od_pkg_parse_block(h, p->obuf, p->block, &p->prev, &b) != OD_PKG_OK)
                return OD_PATCH_ERR_INDEX;
            if (p->block == p->start_block) {
                p->resume_off = b.pkg_offset;
                p->resume_out = b.out_offset;
            }
            p->prev = b;
            p->block++;
            /* OK goes on with this input; only a SEEK or error returns. */
            if ((r = next_index(p)) != OD_PATCH_OK)
                return r;
            break;
        }

        case ST_BLOCK: {
            size_t before = *in_pos;
            int done = BLOCK_DONE(p);
            if (h->codec == OD_CODEC_NONE) {
                /* The op stream is the input itself. interpret() stops
                 * short of the input only at the block's end. */
                int32_t used = interpret(p, in + before,
                                         (uint32_t)MIN(in_size - before, (size_t)0x7FFFFFFF));
                if (used < 0)
                    return used;
                take(p, in + before, (size_t)used);
                *in_pos += (size_t)used;
                if (!BLOCK_DONE(p))
                    return OD_PATCH_OK;
                expect(p, ST_BLOCK_CRC, OD_BLOCK_TRAILER);
                break;
            }
            if (!done) {
                int32_t used = interpret(p, p->obuf + p->ob_pos, p->ob_len - p->ob_pos);
                if (used < 0)
                    return used;
                p->ob_pos += (uint32_t)used;
                if (BLOCK_DONE(p) || p->ob_pos < p->ob_len)
                    break;
            } else if (p->ob_pos < p->ob_len) {
                /* Decoded bytes beyond the block's output mean damage. */
                return OD_PATCH_ERR_CORRUPT;
            }
            if (before == in_size)
                return OD_PATCH_OK;
            if ((r = run_codec(p, in, in_pos, in_size)) < 0)
                return r;
            if (done) { /* only the stream's end may follow the output */
                if (p->ob_len != 0)
                    return OD_PATCH_ERR_CORRUPT;
                if (r == 1)
                    expect(p, ST_BLOCK_CRC, OD_BLOCK_TRAILER);
            } else if (p->ob_len == 0 && (r == 1 || *in_pos == before)) {
                /* The stream may not end before the block's output does,
                 * and a decoder given input and an empty buffer must move. */
                return OD_PATCH_ERR_CORRUPT;
            }
            break;
        }

        case ST_BLOCK_CRC:
            if (od_get_le32(p->obuf) != p->block_crc)
                return OD_PATCH_ERR_CORRUPT;
            if (p->block + 1 == h->block_count) {
                /* The blocks must tile the image and the package exactly,
                 * before the last one is reported done. */
                if (p->block_end != h->target_size ||
                    p->pkg_pos - od_pkg_payload_offset(h) != h->payload_size)
                    return OD_PATCH_ERR_CORRUPT;
                if (p->hashing_payload && p->index_crc != h->index_crc32)
                    return OD_PATCH_ERR_INDEX;
                if (p->page_fill && (r = flush_page(p)) != OD_PATCH_OK)
                    return r;
            }
            if (c->save_progress && c->save_progress(c->ctx, p->block + 1) != 0)
                return OD_PATCH_ERR_WRITE;
            if (++p->block < h->block_count) {
                if ((r = start_block(p)) != OD_PATCH_OK)
                    return r;
                break;
            }
            expect(p, ST_VERIFY, 0);
            break;

        default: /* ST_VERIFY; the result is sticky (od_patch_feed) */
            return finish(p);
        }
    }
}

int od_patch_feed(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size)
{
    int r;
    if (!p || !in_pos || (!in && in_size) || *in_pos > in_size)
        return OD_PATCH_ERR_MISUSE;
    /* No bytes as (NULL, 0), as a modem driver may report them: any valid
     * address keeps `in + *in_pos` and a zero-length memcpy defined. */
    if (!in)
        in = (const uint8_t *)p;
    if (p->err)
        return p->err;
    r = step(p, in, in_pos, in_size);
    if (r < 0 || r == OD_PATCH_DONE)
        p->err = r;
    return r;
}
