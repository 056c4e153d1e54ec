/*
 * od_diff.c - package generation: plan codec parameters for the device's
 * RAM budget, turn matches into per-block op streams, compress, assemble.
 *
 * Delta block stream (before compression; FORMAT.md "Op stream"):
 *
 *   block := varint(old_pos) op*
 *   op    := varint(add) varint(extra) zigzag-varint(seek) addbody byte[extra]
 *   addbody := { varint(zero) [varint(diff) byte[diff]] }   covering `add`
 *
 * An add part copies old bytes: a zero run copies them unchanged, a diff
 * run adds the given bytes (mod 256); runs alternate, zero first, and a
 * diff run is never empty. Extra bytes are literal.
 *
 * Each block starts with the old-image cursor at its first output byte,
 * and an op that crosses a block boundary is split there, so the applier
 * can start at any block with no other state: a block boundary is a
 * restart point. A block ends when its output is complete.
 */
#include <stdlib.h>
#include <string.h>

#include "od_diff_internal.h"
#include "od_pkgfmt_host.h"

const char *od_diff_strerror(int ret)
{
    switch (ret) {
    case OD_DIFF_OK: return "ok";
    case OD_DIFF_ERR_PARAM: return "invalid parameter";
    case OD_DIFF_ERR_VERSION: return "invalid version string (1-50 characters of A-Z a-z 0-9 . _ -)";
    case OD_DIFF_ERR_TOO_LARGE: return "image too large (limit 1 GiB)";
    case OD_DIFF_ERR_BUDGET: return "RAM budget too small for this codec and page size";
    case OD_DIFF_ERR_NOMEM: return "out of memory";
    case OD_DIFF_ERR_CODEC: return "compression library error";
    case OD_DIFF_ERR_INTERNAL: return "internal error (please report)";
    default: return "unknown error";
    }
}

void od_diff_params_init(od_diff_params *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = OD_KIND_DELTA;
    p->codec = OD_CODEC_LZMA;
    p->ram_budget = OD_DIFF_DEFAULT_RAM;
    p->page_size = OD_DIFF_DEFAULT_PAGE;
    p->erase_size = OD_DIFF_DEFAULT_ERASE;
    p->block_size = OD_DIFF_DEFAULT_BLOCK;
    p->restart_interval = OD_DIFF_DEFAULT_RESTART;
}

static int is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

/* Everything but the version strings: what od_diff_plan needs too. */
static int check_geometry(const od_diff_params *p)
{
    if (p->kind != OD_KIND_DELTA && p->kind != OD_KIND_FULL)
        return OD_DIFF_ERR_PARAM;
    if (p->codec != OD_CODEC_NONE && p->codec != OD_CODEC_DEFLATE && p->codec != OD_CODEC_LZMA)
        return OD_DIFF_ERR_PARAM;
    if (!is_pow2(p->page_size) || p->page_size < 16 || p->page_size > 65536 ||
        !is_pow2(p->erase_size) || p->erase_size < p->page_size ||
        p->erase_size > (16u << 20))
        return OD_DIFF_ERR_PARAM;
    if (p->block_size && (p->block_size % p->erase_size || p->block_size > OD_MAX_IMAGE_SIZE))
        return OD_DIFF_ERR_PARAM;
    if (!p->block_size && !p->restart_interval)
        return OD_DIFF_ERR_PARAM; /* blocks would be unbounded */
    return OD_DIFF_OK;
}

static int check_params(const od_diff_params *p)
{
    int r = check_geometry(p);
    if (r != OD_DIFF_OK)
        return r;
    if (!od_pkg_version_valid(p->target_version) ||
        (p->kind == OD_KIND_DELTA && !od_pkg_version_valid(p->source_version)))
        return OD_DIFF_ERR_VERSION;
    return OD_DIFF_OK;
}

/* LZMA literal contexts: a delta stream's literals barely depend on the
 * previous byte, and lc=lp=pb=0 measured as good as the defaults on the
 * shared corpus (design/measurements.md) with a third of the tables. */
#define LZMA_LC 0
#define LZMA_LP 0
#define LZMA_PB 0

/*
 * Chooses codec parameters that fit the budget. max_stream caps the
 * dictionary: history longer than the longest block stream is never used,
 * so a small image also needs less device RAM. 0 means "unknown".
 */
static int plan(const od_diff_params *p, size_t max_stream, od_codec_cfg *c,
                uint32_t *ram_needed)
{
    uint32_t work;

    c->codec = p->codec;
    c->props = 0;
    c->dict_size = 0;
    if ((uint64_t)p->ram_budget < (uint64_t)OD_PATCH_STATE_RESERVE + p->page_size)
        return OD_DIFF_ERR_BUDGET;
    work = p->ram_budget - OD_PATCH_STATE_RESERVE - p->page_size;

    if (p->codec == OD_CODEC_LZMA) {
        uint32_t probs = OD_LZMA_PROBS(LZMA_LC, LZMA_LP) * 2u;
        uint32_t dict;
        if (work < probs + OD_MIN_DICT)
            return OD_DIFF_ERR_BUDGET;
        dict = (work - probs) & ~255u;
        if (dict > OD_MAX_DICT)
            dict = OD_MAX_DICT;
        if (max_stream && dict > max_stream) {
            dict = ((uint32_t)max_stream + 255u) & ~255u;
            if (dict < OD_MIN_DICT)
                dict = OD_MIN_DICT;
        }
        c->props = (uint8_t)((LZMA_PB * 5 + LZMA_LP) * 9 + LZMA_LC);
        c->dict_size = dict;
        *ram_needed = p->page_size + OD_LZMA_WORKSPACE(LZMA_LC, LZMA_LP, dict);
    } else if (p->codec == OD_CODEC_DEFLATE) {
        uint8_t bits = 15;
        /* zlib refuses an 8-bit raw window, so 512 bytes is the floor. */
        while (bits > 9 && ((1u << bits) > work || (max_stream && (1u << (bits - 1)) >= max_stream)))
            bits--;
        if ((1u << bits) > work)
            return OD_DIFF_ERR_BUDGET;
        c->props = bits;
        c->dict_size = 1u << bits;
        *ram_needed = p->page_size + c->dict_size;
    } else {
        *ram_needed = p->page_size;
    }
    return OD_DIFF_OK;
}

int od_diff_plan(const od_diff_params *p, uint8_t *props, uint32_t *dict, uint32_t *ram_needed)
{
    od_codec_cfg c;
    int r;
    if (!p || !props || !dict || !ram_needed)
        return OD_DIFF_ERR_PARAM;
    if ((r = check_geometry(p)) != OD_DIFF_OK || (r = plan(p, 0, &c, ram_needed)) != OD_DIFF_OK)
        return r;
    *props = c.props;
    *dict = c.dict_size;
    return OD_DIFF_OK;
}

static uint32_t zigzag(int64_t v)
{
    return (uint32_t)(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/*
 * Unchanged stretches shorter than this stay inside a difference run as
 * zero bytes. Measured on the shared corpus: LZMA codes short zero gaps
 * almost for free and ARM code prefers long runs (gap 4: +3 % on Cortex-M
 * pairs), while long identical stretches are far cheaper as one varint
 * (nina-patch -11 % at 256). 256 was the best overall.
 */
#define DIFF_GAP 256

/*
 * Emits an add part: new[i] = old[i] + d[i]. It is coded as alternating
 * runs, varint(zero run) then varint(diff run) + the differences, until the
 * part is covered, so unchanged stretches cost a varint instead of a zero
 * per byte.
 */
static int emit_add(od_bytes *raw, const uint8_t *nw, const uint8_t *old, uint32_t len)
{
    uint32_t i = 0;
    int r;
    while (i < len) {
        uint32_t z = 0, j, last;
        while (i + z < len && nw[i + z] == old[i + z])
            z++;
        if ((r = od__bytes_varint(raw, z)))
            return r;
        i += z;
        if (i == len)
            break;
        for (j = last = i; j < len;) {
            uint32_t zr = 0;
            if (nw[j] != old[j]) {
                last = j++;
                continue;
            }
            while (j + zr < len && nw[j + zr] == old[j + zr] && zr < DIFF_GAP)
                zr++;
            if (zr >= DIFF_GAP || j + zr == len)
                break;
            j += zr;
        }
        if ((r = od__bytes_varint(raw, last - i + 1)) || (r = od__bytes_reserve(raw, last - i + 1)))
            return r;
        for (j = i; j <= last; j++)
            raw->p[raw->len++] = (uint8_t)(nw[j] - old[j]);
        i = last + 1;
    }
    return OD_DIFF_OK;
}

/*
 * Writes the raw streams of every block into raw, block b covering output
 * [outs[b], outs[b+1]) and occupying raw[offs[b]..offs[b+1]). For a delta
 * the ops are clipped to each block.
 */
static int build_streams(const od_diff_params *p, const od_op_list *ops, const uint8_t *old,
                         const uint8_t *nw, const uint32_t *outs, uint32_t nblocks,
                         od_bytes *raw, size_t *offs)
{
    size_t j = 0;
    uint64_t op_start = 0; /* new offset where ops->ops[j] begins */
    uint32_t b;
    int r;

    for (b = 0; b < nblocks; b++) {
        uint32_t b0 = outs[b], b1 = outs[b + 1];
        offs[b] = raw->len;
        if ((r = od__bytes_varint(raw, b1 - b0)))
            return r;
        if (p->kind == OD_KIND_FULL) {
            if ((r = od__bytes_put(raw, nw + b0, b1 - b0)))
                return r;
            continue;
        }
        /* Skip ops that end before this block. */
        while (j < ops->count && op_start + ops->ops[j].add + ops->ops[j].extra <= b0) {
            op_start += (uint64_t)ops->ops[j].add + ops->ops[j].extra;
            j++;
        }
        if (j == ops->count)
            return OD_DIFF_ERR_INTERNAL;
        {
            const od_op *o = &ops->ops[j];
            uint64_t in_op = b0 - op_start;
            uint32_t pos = in_op < o->add ? o->old_start + (uint32_t)in_op : o->old_start + o->add;
            if ((r = od__bytes_varint(raw, pos)))
                return r;
        }
        {
            /* Emit the clipped ops of this block. */
            uint64_t s = op_start;
            size_t k = j;
            while (k < ops->count && s < b1) {
                const od_op *o = &ops->ops[k];
                uint64_t add_end = s + o->add, end = add_end + o->extra;
                uint64_t lo = s > b0 ? s : b0, hi = end < b1 ? end : b1;
                uint32_t add = 0, extra = 0;
                int64_t seek = 0;

                if (lo < add_end)
                    add = (uint32_t)((hi < add_end ? hi : add_end) - lo);
                if (hi > add_end)
                    extra = (uint32_t)(hi - (lo > add_end ? lo : add_end));
                if (hi == end && k + 1 < ops->count)
                    seek = (int64_t)ops->ops[k + 1].old_start - ((int64_t)o->old_start + o->add);
                if ((r = od__bytes_varint(raw, add)) || (r = od__bytes_varint(raw, extra)) ||
                    (r = od__bytes_varint(raw, zigzag(seek))))
                    return r;
                if (add && (r = emit_add(raw, nw + lo, old + o->old_start + (lo - s), add)))
                    return r;
                if (extra) {
                    uint64_t x = lo > add_end ? lo : add_end;
                    if ((r = od__bytes_put(raw, nw + x, extra)))
                        return r;
                }
                if (hi < end)
                    break;
                s = end;
                k++;
            }
        }
    }
    offs[nblocks] = raw->len;
    return OD_DIFF_OK;
}

/* Raw stream bytes an op costs, exactly as build_streams would emit it
 * inside one block (minus its three small varints). */
static size_t op_cost(const od_op *o, const uint8_t *old, const uint8_t *nw, uint64_t at,
                      od_bytes *scratch)
{
    scratch->len = 0;
    if (o->add && emit_add(scratch, nw + at, old + o->old_start, o->add) != OD_DIFF_OK)
        return (size_t)o->add + o->extra; /* out of memory: any estimate will do */
    return scratch->len + o->extra + 3;
}

/*
 * Chooses block boundaries: a block ends at the first erase boundary after
 * its op stream reaches restart_interval bytes, or when its output reaches
 * block_size. Restarts thus land where the stream is dense, not every N
 * output bytes, so an unchanged region costs no restarts at all.
 * Fills outs[0..*nblocks] (outs[*nblocks] == new_size) and returns the
 * largest block output; outs must hold new_size / erase_size + 2 entries.
 */
static uint32_t choose_blocks(const od_diff_params *p, const od_op_list *ops, const uint8_t *old,
                              const uint8_t *nw, uint32_t new_size, uint32_t *outs,
                              uint32_t *nblocks)
{
    od_bytes scratch = {0};
    size_t j = 0, op_cost_j = 0;
    uint64_t op_start = 0, cost_before_op = 0, last_cost = 0;
    uint32_t n = 0, last = 0, x, largest = 0;
    uint32_t max_out = p->block_size ? p->block_size : OD_MAX_IMAGE_SIZE;

    outs[n++] = 0;
    if (p->kind == OD_KIND_DELTA && ops->count)
        op_cost_j = op_cost(&ops->ops[0], old, nw, 0, &scratch);
    for (x = p->erase_size; new_size && x < new_size; x += p->erase_size) {
        uint64_t cost;
        if (p->kind == OD_KIND_FULL) {
            cost = x;
        } else {
            /* Advance to the op holding x; spread its cost evenly. */
            while (j < ops->count && op_start + ops->ops[j].add + ops->ops[j].extra <= x) {
                op_start += (uint64_t)ops->ops[j].add + ops->ops[j].extra;
                cost_before_op += op_cost_j;
                if (++j < ops->count)
                    op_cost_j = op_cost(&ops->ops[j], old, nw, op_start, &scratch);
            }
            cost = cost_before_op;
            if (j < ops->count)
                cost += (uint64_t)op_cost_j * (x - op_start) /
                        ((uint64_t)ops->ops[j].add + ops->ops[j].extra);
        }
        if ((p->restart_interval && cost - last_cost >= p->restart_interval) ||
            x - last >= max_out) {
            outs[n++] = x;
            largest = x - last > largest ? x - last : largest;
            last = x;
            last_cost = cost;
        }
    }
    if (new_size) {
        outs[n] = new_size;
        largest = new_size - last > largest ? new_size - last : largest;
    } else {
        n = 0;
    }
    free(scratch.p);
    *nblocks = n;
    return largest;
}

/*
 * Builds the whole package for one op list (empty for full packages):
 * block cuts, streams, codec planning, compression, assembly.
 */
static int build_package(const od_diff_params *p, const od_op_list *ops, const uint8_t *old,
                         size_t old_size, const uint8_t *nw, size_t new_size, int fast,
                         uint8_t **out, size_t *out_size)
{
    od_bytes raw = {0}, payload = {0};
    od_pkg_header h;
    od_codec_cfg codec;
    size_t *offs = NULL, max_stream = 0;
    uint32_t *block_offs = NULL, *outs = NULL;
    uint32_t block_size, nblocks, b, ram_needed;
    int r;

    outs = malloc(sizeof(*outs) * (new_size / p->erase_size + 2));
    if (!outs) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    block_size = choose_blocks(p, ops, old, nw, (uint32_t)new_size, outs, &nblocks);
    /* The header's block_size is the largest block, in whole erase units. */
    block_size = (block_size + p->erase_size - 1) / p->erase_size * p->erase_size;
    if (!block_size)
        block_size = p->erase_size;
    if (nblocks > OD_MAX_BLOCKS) {
        r = OD_DIFF_ERR_PARAM;
        goto done;
    }
    offs = malloc(sizeof(*offs) * (nblocks + 1));
    block_offs = malloc(sizeof(*block_offs) * (nblocks + 1));
    if (!offs || !block_offs) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    if ((r = build_streams(p, ops, old, nw, outs, nblocks, &raw, offs)))
        goto done;
    for (b = 0; b < nblocks; b++)
        if (offs[b + 1] - offs[b] > max_stream)
            max_stream = offs[b + 1] - offs[b];
    if ((r = plan(p, max_stream, &codec, &ram_needed)) != OD_DIFF_OK)
        goto done;
    codec.fast = fast;

    for (b = 0; b < nblocks; b++) {
        size_t start = payload.len;
        uint8_t crc[4];
        uint32_t c;
        if (payload.len > 0xFFFFFFFFu) {
            r = OD_DIFF_ERR_TOO_LARGE;
            goto done;
        }
        block_offs[b] = (uint32_t)start;
        if ((r = od__compress_block(&codec, raw.p + offs[b], offs[b + 1] - offs[b], &payload)))
            goto done;
        c = od_crc32(0, payload.p + start, payload.len - start);
        crc[0] = (uint8_t)c;
        crc[1] = (uint8_t)(c >> 8);
        crc[2] = (uint8_t)(c >> 16);
        crc[3] = (uint8_t)(c >> 24);
        if ((r = od__bytes_put(&payload, crc, 4)))
            goto done;
    }
    if (payload.len > 0xFFFFFFFFu) {
        r = OD_DIFF_ERR_TOO_LARGE;
        goto done;
    }

    memset(&h, 0, sizeof(h));
    h.kind = (uint8_t)p->kind;
    h.codec = (uint8_t)codec.codec;
    h.filter = OD_FILTER_NONE;
    h.codec_props = codec.props;
    h.dict_size = codec.dict_size;
    h.page_size = p->page_size;
    h.erase_size = p->erase_size;
    h.ram_needed = ram_needed;
    h.block_size = block_size;
    h.source_size = (uint32_t)old_size;
    h.target_size = (uint32_t)new_size;
    if (p->kind == OD_KIND_DELTA) {
        od_pkg_hash_image(old, old_size, h.source_md5, h.source_sha256);
        strcpy(h.source_version, p->source_version);
    }
    od_pkg_hash_image(nw, new_size, h.target_md5, h.target_sha256);
    strcpy(h.target_version, p->target_version);
    if (od_pkg_assemble(&h, NULL, 0, block_offs, outs, nblocks, payload.p, (uint32_t)payload.len,
                        out, out_size) != 0) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    r = OD_DIFF_OK;
done:
    free(raw.p);
    free(payload.p);
    free(offs);
    free(block_offs);
    free(outs);
    return r;
}

/*
 * Matcher settings tried for every delta (see od_match.c). Measured on
 * the shared corpus, small Cortex-M images do best near bsdiff's threshold
 * of 8 or below and large, very different images at 12-16 (uboot-arm -4 %
 * at 12); extending alignments more eagerly (ext 3) helps small Cortex-M
 * pairs by up to 1.5 % and hurts large ones.
 * Candidates are ranked by a quick compression and only the winner gets
 * the slow, strong one; ties go to the earlier entry (deterministic).
 */
static const struct {
    size_t threshold;
    int ext;
} candidates[] = {{8, 2}, {6, 2}, {12, 2}, {16, 2}, {8, 3}, {6, 3}};

/* Images up to this size remember every search (8 bytes per new byte, at
 * most 32 MiB), so the candidates after the first cost little. Larger
 * images search afresh for each candidate: slower, but memory stays near
 * the suffix array's 4 bytes per old byte plus the images. */
#define MEMO_MAX_NEW (4u << 20)

int od_diff_create(const uint8_t *old, size_t old_size, const uint8_t *nw, size_t new_size,
                   const od_diff_params *p, uint8_t **out, size_t *out_size)
{
    od_op_list ops = {0}, best = {0}, tmp;
    od_codec_cfg codec;
    int32_t *sa = NULL;
    uint32_t ram_needed, *memo = NULL;
    size_t best_size = 0, t, nt;
    int r;

    if (!p || !out || !out_size || (!nw && new_size) ||
        (p->kind == OD_KIND_DELTA && !old && old_size))
        return OD_DIFF_ERR_PARAM;
    if ((r = check_params(p)) != OD_DIFF_OK)
        return r;
    if (p->kind == OD_KIND_FULL)
        old_size = 0;
    if (old_size > OD_MAX_IMAGE_SIZE || new_size > OD_MAX_IMAGE_SIZE)
        return OD_DIFF_ERR_TOO_LARGE;
    /* Refuse an impossible budget before the expensive work. */
    if ((r = plan(p, 0, &codec, &ram_needed)) != OD_DIFF_OK)
        return r;

    if (p->kind == OD_KIND_DELTA) {
        if (old_size && new_size && !(sa = od__suffix_array(old, old_size)))
            return OD_DIFF_ERR_NOMEM;
        /* With nothing to match, every threshold gives the same ops. */
        nt = sa ? sizeof(candidates) / sizeof(candidates[0]) : 1;
        if (nt > 1 && new_size <= MEMO_MAX_NEW && (memo = malloc(new_size * 8)) != NULL)
            memset(memo, 0xFF, new_size * 8);
        for (t = 0; t < nt && r == OD_DIFF_OK; t++) {
            uint8_t *pkg = NULL;
            size_t pkg_size = 0;
            ops.count = 0;
            r = od__match(old, old_size, sa, nw, new_size, candidates[t].threshold,
                          candidates[t].ext, memo, &ops, NULL, NULL);
            if (r == OD_DIFF_OK && nt > 1)
                r = build_package(p, &ops, old, old_size, nw, new_size, 1, &pkg, &pkg_size);
            free(pkg);
            if (r == OD_DIFF_OK && (t == 0 || pkg_size < best_size)) {
                tmp = best;
                best = ops;
                ops = tmp;
                best_size = pkg_size;
            }
            if (p->progress)
                p->progress(p->progress_ctx, t + 1, nt + 1);
        }
        free(sa);
        free(memo);
        free(ops.ops);
    }
    if (r == OD_DIFF_OK)
        r = build_package(p, &best, old, old_size, nw, new_size, 0, out, out_size);
    if (p->progress && r == OD_DIFF_OK)
        p->progress(p->progress_ctx, 1, 1);
    free(best.ops);
    return r;
}
