/*
 * od_inflate.c - push-fed raw DEFLATE (RFC 1951) decoder; see od_inflate.h.
 *
 * Shape: one resumable state machine. Every step first makes sure the bit
 * accumulator holds all the bits it needs, pulling input one byte at a time
 * and only then, and consumes nothing until the step can complete. So when
 * input or output runs out the step is simply retried on the next call,
 * which is what makes arbitrary 1-byte feeding work without extra states.
 *
 * Invariant between steps: bitcnt < 8. A step that needs k bits pulls bytes
 * only while it has fewer than k, and then drops all k, so at most 7 bits
 * remain. That keeps the accumulator within 32 bits (the largest single
 * step is a length code plus its extra bits, 15 + 5) and lets a stored block
 * header start exactly on a byte boundary.
 */
#include "od_inflate.h"

enum {
    OD_ST_HEAD,      /* 3-bit block header */
    OD_ST_STORED,    /* LEN/NLEN of a stored block */
    OD_ST_TABLE,     /* HLIT/HDIST/HCLEN of a dynamic block */
    OD_ST_CODELENS,  /* code-length code lengths */
    OD_ST_LENLENS,   /* literal/length and distance code lengths */
    OD_ST_LEN,       /* literal/length symbol and length extra bits */
    OD_ST_DIST,      /* distance symbol */
    OD_ST_DISTEXT,   /* distance extra bits */
    OD_ST_COPY,      /* copy len bytes: from history, or from input if dist == 0 */
    OD_ST_DONE,      /* final block finished */
    OD_ST_BAD,       /* corrupt stream seen */
    OD_ST_NOMEM      /* init rejected the window */
};

/* Order of the code-length code lengths in a dynamic header (RFC 1951 3.2.7). */
static const uint8_t od_inflate_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                             11, 4,  12, 3, 13, 2, 14, 1, 15};

/*
 * Builds a canonical Huffman table from n code lengths (0..15): count[len]
 * is how many codes have each length, sym[] lists symbols in code order.
 * Returns nonzero if the lengths do not form a code zlib would accept:
 * over-subscribed always, incomplete when strict (the code-length code) or
 * unless it is the one allowed degenerate case of at most a single 1-bit
 * code (a block with one distance, or none).
 */
static int od_inflate_build(uint16_t *count, uint16_t *sym, const uint8_t *lens, unsigned n,
                            int strict)
{
    uint16_t offs[16];
    int32_t left = 1;
    unsigned i;

    OD_MEMSET(count, 0, 16 * sizeof *count);
    for (i = 0; i < n; i++)
        count[lens[i]]++;
    offs[1] = 0;
    for (i = 1; i < 16; i++) {
        left = 2 * left - count[i];
        if (left < 0)
            return 1;
        if (i < 15)
            offs[i + 1] = (uint16_t)(offs[i] + count[i]);
    }
    if (left > 0 && (strict || count[0] + count[1] != n))
        return 1;
    for (i = 0; i < n; i++)
        if (lens[i])
            sym[offs[lens[i]]++] = (uint16_t)i;
    return 0;
}

/*
 * Decodes one symbol from the low bits of the accumulator without consuming
 * them, so the caller can check for the room and extra bits it needs first.
 * Returns the symbol and sets *used to its code length; -1 if more than
 * avail bits are needed; -2 for a bit pattern no code has (possible only
 * with the degenerate incomplete codes).
 */
static int od_inflate_sym(const uint16_t *count, const uint16_t *sym, uint32_t bits,
                          unsigned avail, unsigned *used)
{
    unsigned len, code = 0, first = 0, index = 0;

    for (len = 1; len < 16; len++) {
        if (len > avail)
            return -1;
        code |= bits & 1;
        bits >>= 1;
        /* Canonical codes of one length are consecutive from first. */
        if (code - first < count[len]) {
            *used = len;
            return sym[index + code - first];
        }
        index += count[len];
        first = (first + count[len]) << 1;
        code <<= 1;
    }
    return -2;
}

od_inflate_ret od_inflate_init(od_inflate_dec *d, void *window, size_t window_size)
{
    d->window = (uint8_t *)window;
    d->wmask = (uint32_t)window_size - 1;
    if (!window || window_size < 256 || window_size > 32768 ||
        (window_size & (window_size - 1)))
        d->window = NULL;
    od_inflate_reset(d);
    return d->window ? OD_INFLATE_OK : OD_INFLATE_MEM_ERROR;
}

void od_inflate_reset(od_inflate_dec *d)
{
    /* The window itself is not cleared: have = 0 keeps it from being read. */
    d->state = d->window ? OD_ST_HEAD : OD_ST_NOMEM;
    d->wpos = 0;
    d->have = 0;
    d->bits = 0;
    d->bitcnt = 0;
    d->last = 0;
    d->stalled = 0;
}

od_inflate_ret od_inflate_decode(od_inflate_dec *d, const uint8_t *in, size_t *in_pos,
                                 size_t in_size, uint8_t *out, size_t *out_pos,
                                 size_t out_size)
{
    size_t i = *in_pos, o = *out_pos;
    uint32_t bits = d->bits;
    unsigned bitcnt = d->bitcnt;
    unsigned n, used, rep;
    int sym;
    od_inflate_ret ret = OD_INFLATE_OK;

    OD_ASSERT(i <= in_size && o <= out_size);
/* Every step can simply be restarted, so one shared tail takes input:
   "pull" adds a byte to the accumulator and re-enters the current state. */
#define OD_PULL() goto pull
#define OD_NEED(k)                                                             \
    if (bitcnt < (unsigned)(k))                                                \
    goto pull
#define OD_DROP(k) (bits >>= (k), bitcnt -= (k))

    for (;;) {
        switch (d->state) {
        case OD_ST_HEAD:
            OD_NEED(3);
            d->last = (uint8_t)(bits & 1);
            n = (bits >> 1) & 3;
            OD_DROP(3);
            if (n == 0) {
                OD_DROP(bitcnt & 7);
                d->state = OD_ST_STORED;
            } else if (n == 1) {
                /* Fixed code (RFC 1951 3.2.6); rebuilt per block because a
                   dynamic block may have replaced the tables meanwhile. */
                OD_MEMSET(d->lens, 8, 144);
                OD_MEMSET(d->lens + 144, 9, 112);
                OD_MEMSET(d->lens + 256, 7, 24);
                OD_MEMSET(d->lens + 280, 8, 8);
                OD_MEMSET(d->lens + OD_INFLATE_NLEN, 5, OD_INFLATE_NDIST);
                (void)od_inflate_build(d->lcount, d->lsym, d->lens, OD_INFLATE_NLEN, 0);
                (void)od_inflate_build(d->dcount, d->dsym, d->lens + OD_INFLATE_NLEN,
                                       OD_INFLATE_NDIST, 0);
                d->state = OD_ST_LEN;
            } else if (n == 2) {
                d->state = OD_ST_TABLE;
            } else {
                goto bad;
            }
            break;

        case OD_ST_STORED:
            /* bitcnt was 0 here, so these 32 bits are exactly 4 bytes and
               the block's data starts at the next input byte. */
            OD_NEED(32);
            OD_ASSERT(bitcnt == 32);
            if (((bits ^ (bits >> 16)) & 0xffffu) != 0xffffu)
                goto bad;
            d->len = (uint16_t)bits;
            d->dist = 0;
            bits = 0;
            bitcnt = 0;
            d->state = OD_ST_COPY;
            break;

        case OD_ST_TABLE:
            OD_NEED(14);
            d->nlen = (uint16_t)(257 + (bits & 31));
            d->ndist = (uint16_t)(1 + ((bits >> 5) & 31));
            d->ncode = (uint16_t)(4 + ((bits >> 10) & 15));
            OD_DROP(14);
            /* 286/287 and 30/31 exist only in the fixed code. */
            if (d->nlen > 286 || d->ndist > 30)
                goto bad;
            OD_MEMSET(d->lens, 0, 19);
            d->index = 0;
            d->state = OD_ST_CODELENS;
            break;

        case OD_ST_CODELENS:
            while (d->index < d->ncode) {
                OD_NEED(3);
                d->lens[od_inflate_order[d->index++]] = (uint8_t)(bits & 7);
                OD_DROP(3);
            }
            /* The code-length code borrows the distance table: the real
               distance code is built only after all lengths are read. */
            if (od_inflate_build(d->dcount, d->dsym, d->lens, 19, 1))
                goto bad;
            d->index = 0;
            d->state = OD_ST_LENLENS;
            break;

        case OD_ST_LENLENS:
            while (d->index < d->nlen + d->ndist) {
                sym = od_inflate_sym(d->dcount, d->dsym, bits, bitcnt, &used);
                /* A complete code always decodes; the check keeps a broken
                   table from pulling input forever. */
                if (sym == -2)
                    goto bad;
                n = sym == 16 ? 2 : sym == 17 ? 3 : sym == 18 ? 7 : 0;
                if (sym < 0 || used + n > bitcnt)
                    OD_PULL();
                rep = (bits >> used) & ((1u << n) - 1);
                OD_DROP(used + n);
                if (sym < 16) {
                    d->lens[d->index++] = (uint8_t)sym;
                    continue;
                }
                if (sym == 16) {
                    if (d->index == 0)
                        goto bad;
                    sym = d->lens[d->index - 1];
                    rep += 3;
                } else {
                    rep += n == 3 ? 3 : 11;
                    sym = 0;
                }
                /* Repeats may run from the literal into the distance lengths,
                   but not past the end. */
                if (d->index + rep > (unsigned)d->nlen + d->ndist)
                    goto bad;
                OD_MEMSET(d->lens + d->index, sym, rep);
                d->index = (uint16_t)(d->index + rep);
            }
            /* zlib rejects a block that cannot end. */
            if (d->lens[256] == 0 ||
                od_inflate_build(d->lcount, d->lsym, d->lens, d->nlen, 0) ||
                od_inflate_build(d->dcount, d->dsym, d->lens + d->nlen, d->ndist, 0))
                goto bad;
            d->state = OD_ST_LEN;
            break;

        case OD_ST_LEN:
            sym = od_inflate_sym(d->lcount, d->lsym, bits, bitcnt, &used);
            if (sym == -1)
                OD_PULL();
            if (sym < 0 || sym > 285)
                goto bad;
            if (sym < 256) {
                /* A literal is a 1-byte copy from distance window_size:
                   that reads back the byte just stored at wpos, so the copy
                   loop also handles a full output buffer for literals. */
                OD_DROP(used);
                d->window[d->wpos] = (uint8_t)sym;
                d->len = 1;
                d->dist = (uint16_t)(d->wmask + 1);
                d->state = OD_ST_COPY;
                break;
            }
            if (sym == 256) {
                OD_DROP(used);
                d->state = d->last ? OD_ST_DONE : OD_ST_HEAD;
                break;
            }
            sym -= 257;
            /* Length base/extra per RFC 1951 3.2.5, computed not tabled:
               codes 8..27 come in fours sharing an extra-bit count. */
            n = (sym >= 8 && sym < 28) ? (unsigned)(sym - 4) >> 2 : 0;
            if (used + n > bitcnt)
                OD_PULL();
            rep = sym < 8 ? (unsigned)sym + 3
                  : sym == 28 ? 258
                              : ((4u + ((unsigned)sym & 3)) << n) + 3;
            d->len = (uint16_t)(rep + ((bits >> used) & ((1u << n) - 1)));
            OD_DROP(used + n);
            d->state = OD_ST_DIST;
            /* fall through */
        case OD_ST_DIST:
            sym = od_inflate_sym(d->dcount, d->dsym, bits, bitcnt, &used);
            if (sym == -1)
                OD_PULL();
            if (sym < 0 || sym > 29)
                goto bad;
            OD_DROP(used);
            /* Distance codes come in pairs sharing an extra-bit count. */
            n = sym < 4 ? 0 : ((unsigned)sym - 2) >> 1;
            d->dist = (uint16_t)(sym < 4 ? (unsigned)sym + 1 : ((2u + ((unsigned)sym & 1)) << n) + 1);
            d->extra = (uint8_t)n;
            d->state = OD_ST_DISTEXT;
            /* fall through */
        case OD_ST_DISTEXT:
            OD_NEED(d->extra);
            d->dist = (uint16_t)(d->dist + (bits & ((1u << d->extra) - 1)));
            OD_DROP(d->extra);
            if (d->dist > d->have)
                goto bad;
            d->state = OD_ST_COPY;
            /* fall through */
        case OD_ST_COPY: {
            /* Locals: out aliases everything, so fields would be reloaded
               per byte. */
            uint8_t *w = d->window;
            uint32_t pos = d->wpos, mask = d->wmask, dist = d->dist;
            unsigned left = d->len;
            while (left && o < out_size) {
                uint8_t c;
                if (dist)
                    c = w[(pos - dist) & mask];
                else if (i < in_size)
                    c = in[i++];
                else
                    break;
                w[pos] = c;
                pos = (pos + 1) & mask;
                out[o++] = c;
                left--;
            }
            d->have += d->len - left;
            if (d->have > mask)
                d->have = mask + 1;
            d->wpos = pos;
            d->len = (uint16_t)left;
            if (left)
                goto leave;
            d->state = dist ? OD_ST_LEN : d->last ? OD_ST_DONE : OD_ST_HEAD;
            break;
        }

        default: /* OD_ST_DONE, OD_ST_BAD, OD_ST_NOMEM: terminal */
            goto leave;
        }
        continue;
    pull:
        if (i >= in_size)
            goto leave;
        bits |= (uint32_t)in[i++] << bitcnt;
        bitcnt += 8;
    }

bad:
    d->state = OD_ST_BAD;
leave:
#undef OD_PULL
#undef OD_NEED
#undef OD_DROP
    d->bits = bits;
    d->bitcnt = (uint8_t)bitcnt;
    if (d->state == OD_ST_DONE) {
        ret = OD_INFLATE_STREAM_END;
    } else if (d->state == OD_ST_BAD) {
        ret = OD_INFLATE_DATA_ERROR;
    } else if (d->state == OD_ST_NOMEM) {
        ret = OD_INFLATE_MEM_ERROR;
    } else if (i == *in_pos && o == *out_pos) {
        /* One empty call is normal (the caller may not know the decoder
           needs input); two in a row mean the caller is stuck. */
        if (d->stalled)
            ret = OD_INFLATE_BUF_ERROR;
        d->stalled = 1;
    } else {
        d->stalled = 0;
    }
    *in_pos = i;
    *out_pos = o;
    return ret;
}
