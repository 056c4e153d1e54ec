/*
 * od_codec.c - block compression with zlib and liblzma, and the bounded
 * byte buffer the generator builds streams in.
 */
#include <stdlib.h>
#include <string.h>

#include <lzma.h>
#include <zlib.h>

#include "od_diff_internal.h"

/* No stream we build can legitimately exceed this; past it is a bug. */
#define OD_BYTES_MAX ((size_t)OD_MAX_IMAGE_SIZE * 2u + 65536u)

int od__bytes_reserve(od_bytes *b, size_t n)
{
    size_t cap;
    uint8_t *p;
    if (n <= b->cap - b->len)
        return OD_DIFF_OK;
    if (n > OD_BYTES_MAX - b->len)
        return OD_DIFF_ERR_TOO_LARGE;
    cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap = cap > OD_BYTES_MAX / 2 ? OD_BYTES_MAX : cap * 2;
    p = realloc(b->p, cap);
    if (!p)
        return OD_DIFF_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return OD_DIFF_OK;
}

int od__bytes_put(od_bytes *b, const void *data, size_t n)
{
    int r = od__bytes_reserve(b, n);
    if (r)
        return r;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return OD_DIFF_OK;
}

int od__bytes_varint(od_bytes *b, uint32_t v)
{
    uint8_t tmp[5];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return od__bytes_put(b, tmp, n);
}

/*
 * A kept encoder: liblzma re-initialises an lzma_stream in place and keeps
 * its match-finder tables when the settings are unchanged, which saves
 * allocating and clearing them for every small stream the ranking
 * compresses (and, with threads, the page-table shootdowns of freeing them).
 */
struct od_codec_state {
    lzma_stream s;
};

void od__codec_state_free(od_codec_state *st)
{
    if (st) {
        lzma_end(&st->s);
        free(st);
    }
}

static int compress_lzma(const od_codec_cfg *c, od_codec_state **state, const uint8_t *raw,
                         size_t raw_len, od_bytes *out)
{
    lzma_options_lzma opt;
    lzma_filter filters[2];
    lzma_stream local = LZMA_STREAM_INIT, *s = &local;
    size_t bound = raw_len + raw_len / 2 + 1024;
    int r;

    if (state) {
        if (!*state) {
            lzma_stream init = LZMA_STREAM_INIT;
            if (!(*state = malloc(sizeof(**state))))
                return OD_DIFF_ERR_NOMEM;
            (*state)->s = init;
        }
        s = &(*state)->s;
    }
    /* OD_LEVEL_FAST: preset 3, the strongest of liblzma's fast-mode
     * presets (hash chains, greedy parsing). Whole diffs at that effort on
     * the 15 corpus pairs, against bsdiff: 1.25x its speed and 0.986x its
     * size (geometric means); binary trees, deeper searches or normal
     * mode gave 0.96-0.99x the size at 0.78-1.00x the speed. */
    if (lzma_lzma_preset(&opt, c->level == OD_LEVEL_RANK   ? 1
                               : c->level == OD_LEVEL_FAST ? 3
                                                           : 9 | LZMA_PRESET_EXTREME))
        return OD_DIFF_ERR_CODEC;
    opt.dict_size = c->dict_size;
    opt.lc = c->props % 9u;
    opt.lp = (c->props / 9u) % 5u;
    opt.pb = c->props / 45u;
    if (c->level == OD_LEVEL_MAX)
        opt.nice_len = 273;
    filters[0].id = LZMA_FILTER_LZMA1; /* raw LZMA1 always ends with the marker */
    filters[0].options = &opt;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    if ((r = lzma_raw_encoder(s, filters)) != LZMA_OK) {
        lzma_end(&local);
        return r == LZMA_MEM_ERROR ? OD_DIFF_ERR_NOMEM : OD_DIFF_ERR_CODEC;
    }
    if ((r = od__bytes_reserve(out, bound)) != OD_DIFF_OK) {
        lzma_end(&local);
        return r;
    }
    s->next_in = raw;
    s->avail_in = raw_len;
    s->next_out = out->p + out->len;
    s->avail_out = bound;
    r = lzma_code(s, LZMA_FINISH);
    if (r == LZMA_STREAM_END) {
        out->len += bound - s->avail_out;
        r = OD_DIFF_OK;
    } else {
        r = r == LZMA_MEM_ERROR ? OD_DIFF_ERR_NOMEM : OD_DIFF_ERR_CODEC;
    }
    lzma_end(&local);
    return r;
}

static int compress_deflate(const od_codec_cfg *c, const uint8_t *raw, size_t raw_len,
                            od_bytes *out)
{
    z_stream z;
    uLong bound;
    int r;
    /* OD_LEVEL_FAST: zlib's default level 6. Whole diffs at that effort
     * on the corpus against bsdiff: 1.54x its speed, 1.03x its size; level
     * 9 there: 0.74x the speed, 0.99x the size (its lazy matching walks
     * long hash chains on the repetitive streams). */
    int level = c->level == OD_LEVEL_RANK ? 1 : c->level == OD_LEVEL_FAST ? 6 : 9;

    memset(&z, 0, sizeof(z));
    /* Negative window bits: raw deflate, no zlib header or Adler-32. */
    if ((r = deflateInit2(&z, level, Z_DEFLATED, -(int)c->props, 9, Z_DEFAULT_STRATEGY)) != Z_OK)
        return r == Z_MEM_ERROR ? OD_DIFF_ERR_NOMEM : OD_DIFF_ERR_CODEC;
    bound = deflateBound(&z, (uLong)raw_len) + 16;
    if ((r = od__bytes_reserve(out, bound)) != OD_DIFF_OK) {
        deflateEnd(&z);
        return r;
    }
    z.next_in = (Bytef *)(uintptr_t)raw; /* zlib's API is not const-correct */
    z.avail_in = (uInt)raw_len;
    z.next_out = out->p + out->len;
    z.avail_out = (uInt)bound;
    r = deflate(&z, Z_FINISH);
    if (r == Z_STREAM_END) {
        out->len += bound - z.avail_out;
        r = OD_DIFF_OK;
    } else {
        r = OD_DIFF_ERR_CODEC;
    }
    deflateEnd(&z);
    return r;
}

int od__compress_block(const od_codec_cfg *c, od_codec_state **state, const uint8_t *raw,
                       size_t raw_len, od_bytes *out)
{
    switch (c->codec) {
    case OD_CODEC_NONE:
        return od__bytes_put(out, raw, raw_len);
    case OD_CODEC_DEFLATE:
        return compress_deflate(c, raw, raw_len, out);
    case OD_CODEC_LZMA:
        return compress_lzma(c, state, raw, raw_len, out);
    default:
        return OD_DIFF_ERR_PARAM;
    }
}
