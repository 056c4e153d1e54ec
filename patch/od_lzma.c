/*
 * od_lzma.c - push-fed raw LZMA1 decoder (see od_lzma.h for the contract).
 *
 * The range decoder normalises after each bit rather than before, so once
 * a packet is decoded every input byte it covers has been read. That keeps
 * the packet boundary a clean place to stop and makes the end check simple:
 * after the marker the coder must hold code == 0 with no byte left over.
 *
 * Bytes per packet, which sizes the carry buffer: normalisation reads one
 * byte whenever range drops below 2^24 and then adds 8 bits to it. A
 * modelled bit shrinks range by at most a factor 31/2048 (the probability
 * stays in [31, 2017]), i.e. under 6.05 bits; a direct bit by 1 bit. The
 * longest packet, a match with distance slot 63, has 22 modelled bits (is
 * match, is rep, 10 of length, 6 of slot, 4 of alignment) and 26 direct
 * bits: under 159.1 bits, so at most 1 + 159.1 / 8 = 20 reads.
 */
#include "od_lzma.h"

/* Offsets into the probability model, in the order LZMA SDK lays it out. */
enum {
    OD_LZMA_IS_MATCH = 0,       /* [state][pos_state]: 12 x 16 */
    OD_LZMA_IS_REP = 192,       /* [state] */
    OD_LZMA_IS_REP0 = 204,      /* [state] */
    OD_LZMA_IS_REP1 = 216,      /* [state] */
    OD_LZMA_IS_REP2 = 228,      /* [state] */
    OD_LZMA_IS_REP0_LONG = 240, /* [state][pos_state] */
    OD_LZMA_SLOT = 432,         /* [len_state][64] bit trees */
    OD_LZMA_SPEC = 688,         /* 114 reverse-tree probs for slots 4..13 */
    OD_LZMA_ALIGN = 802,        /* 16: low 4 bits of far distances */
    OD_LZMA_LEN = 818,          /* match length coder, 514 probs */
    OD_LZMA_REP_LEN = 1332,     /* repeat-match length coder, 514 probs */
    OD_LZMA_LIT = 1846          /* 0x300 per literal context */
};

/* The rep-match choice bits are read as one loop over these rows. */
#define OD_LZMA_REP_ROW (OD_LZMA_IS_REP1 - OD_LZMA_IS_REP0)
typedef char od_lzma_rep_rows[OD_LZMA_IS_REP2 - OD_LZMA_IS_REP1 == OD_LZMA_REP_ROW ? 1 : -1];

/* Inside a length coder. */
enum { OD_LZMA_CHOICE2 = 1, OD_LZMA_LOW = 2, OD_LZMA_MID = 130, OD_LZMA_HIGH = 258 };

/* What one packet turned out to be. */
enum { OD_LZMA_PK_LIT, OD_LZMA_PK_MATCH, OD_LZMA_PK_START, OD_LZMA_PK_END, OD_LZMA_PK_BAD };

#define OD_LZMA_END_DIST 0xFFFFFFFFu

/*
 * The range coder of one decode attempt, kept apart from the decoder so a
 * trial run can be thrown away. In a trial (dry) run the model is read but
 * not updated; that gives the same bits as the real run because no packet
 * uses one probability twice.
 */
typedef struct od_lzma_rc {
    const uint8_t *in; /* packet bytes: the caller's input or the carry buffer */
    size_t pos, lim;
    uint32_t range, code;
    uint8_t dry;   /* trial run: leave the model alone */
    uint8_t short_; /* ran past lim; the result is meaningless */
} od_lzma_rc;

static unsigned od_lzma_byte(od_lzma_rc *rc)
{
    if (rc->pos < rc->lim)
        return rc->in[rc->pos++];
    /* Feeding zeros keeps the caller's control flow bounded; the attempt is discarded. */
    rc->short_ = 1;
    return 0;
}

static void od_lzma_norm(od_lzma_rc *rc)
{
    /* One step suffices: a bit leaves range >= 2^24 * 31 / 2048 > 2^16. */
    if (rc->range < (1u << 24)) {
        rc->range <<= 8;
        rc->code = (rc->code << 8) | od_lzma_byte(rc);
    }
}

static unsigned od_lzma_bit(od_lzma_rc *rc, uint16_t *p)
{
    unsigned v = *p;
    uint32_t bound = (rc->range >> 11) * v;
    unsigned bit = rc->code >= bound;
    if (bit) {
        rc->range -= bound;
        rc->code -= bound;
        v -= v >> 5;
    } else {
        rc->range = bound;
        v += (2048u - v) >> 5;
    }
    if (!rc->dry)
        *p = (uint16_t)v;
    od_lzma_norm(rc);
    return bit;
}

/*
 * Bit tree over p[1 .. 2^bits): every bit read picks a child, so the walk
 * is the same whichever way the symbol is read. rev: the first bit read is
 * the least significant (the low bits of distances), else the most.
 */
static uint32_t od_lzma_tree(od_lzma_rc *rc, uint16_t *p, unsigned bits, unsigned rev)
{
    unsigned m = 1, i, b;
    uint32_t sym = 0;
    for (i = 0; i < bits; i++) {
        b = od_lzma_bit(rc, p + m);
        m = (m << 1) | b;
        sym |= (uint32_t)b << i;
    }
    return rev ? sym : m - (1u << bits);
}

static uint32_t od_lzma_len(od_lzma_rc *rc, uint16_t *p, unsigned ps)
{
    /* Up to two choice bits pick the tree (2..9 and 10..17: 3 bits per
       pos_state, 18..273: 8 bits shared), so there is one walk to code. */
    uint32_t base = 2;
    unsigned bits = 3;
    uint16_t *t = p + OD_LZMA_LOW + ps * 8;
    if (od_lzma_bit(rc, p)) {
        base = 10;
        t += OD_LZMA_MID - OD_LZMA_LOW;
        if (od_lzma_bit(rc, p + OD_LZMA_CHOICE2)) {
            base = 18;
            t = p + OD_LZMA_HIGH;
            bits = 8;
        }
    }
    return base + od_lzma_tree(rc, t, bits, 0);
}

/* Distance minus one of a new match; OD_LZMA_END_DIST is the marker. */
static uint32_t od_lzma_dist(od_lzma_rc *rc, uint16_t *probs, uint32_t len)
{
    unsigned slot = od_lzma_tree(rc, probs + OD_LZMA_SLOT + (len < 6 ? len - 2 : 3) * 64, 6, 0);
    unsigned nd, i;
    uint32_t dist;
    if (slot < 4)
        return slot;
    nd = (slot >> 1) - 1;
    dist = (2u | (slot & 1)) << nd;
    /* The low bits come from one reverse tree either way: all nd of them
       for slots below 14, the last four after the direct bits otherwise. */
    if (slot < 14) {
        probs += OD_LZMA_SPEC - 1 + (dist - slot);
    } else {
        /* Middle bits are nearly random, so they bypass the model. */
        for (i = nd - 4; i; i--) {
            rc->range >>= 1;
            if (rc->code >= rc->range) {
                rc->code -= rc->range;
                dist += 1u << (i + 3);
            }
            od_lzma_norm(rc);
        }
        probs += OD_LZMA_ALIGN;
        nd = 4;
    }
    return dist + od_lzma_tree(rc, probs, nd, 1);
}

/* Dictionary index of the byte dist + 1 back; dist < filled. */
static uint32_t od_lzma_back(const od_lzma_dec *d, uint32_t dist)
{
    return d->dict_pos > dist ? d->dict_pos - dist - 1 : d->dict_pos + (d->dict_size - dist - 1);
}

/*
 * Decodes one packet: updates state, rep[] and started (the caller
 * restores them after a trial) and the model (unless rc->dry), never the
 * dictionary. *val gets the literal byte or the match length.
 */
static int od_lzma_packet(od_lzma_dec *d, od_lzma_rc *rc, uint32_t *val)
{
    uint16_t *p = d->probs;
    unsigned st = d->state, ps = d->pos & ((1u << d->pb) - 1), i, ns;
    uint32_t len, dist;

    if (!d->started) {
        i = od_lzma_byte(rc); /* top byte of the encoder's low: always 0 */
        for (len = 0; len < 4; len++)
            rc->code = (rc->code << 8) | od_lzma_byte(rc);
        rc->range = 0xFFFFFFFFu;
        d->started = 1;
        /* liblzma's first byte is always 0; code == range can never occur. */
        return i || rc->code == 0xFFFFFFFFu ? OD_LZMA_PK_BAD : OD_LZMA_PK_START;
    }

    if (!od_lzma_bit(rc, p + OD_LZMA_IS_MATCH + st * 16 + ps)) {
        unsigned prev = d->filled ? d->dict[od_lzma_back(d, 0)] : 0;
        unsigned off = 0, match = 0, sym = 1, mbit, bit;
        p += OD_LZMA_LIT + 0x300u * (((d->pos & ((1u << d->lp) - 1)) << d->lc) + (prev >> (8 - d->lc)));
        /* After a match the literal is coded against the byte at rep0 until
           the first differing bit; off drops to 0 there and stays. */
        if (st >= 7) {
            off = 0x100;
            match = d->dict[od_lzma_back(d, d->rep[0])];
        }
        do {
            match <<= 1;
            mbit = match & off;
            bit = od_lzma_bit(rc, p + off + mbit + sym);
            sym = (sym << 1) | bit;
            off &= bit ? mbit : ~mbit;
        } while (sym < 0x100);
        *val = sym & 0xFF;
        d->state = (uint8_t)(st < 4 ? 0 : st < 10 ? st - 3 : st - 6);
        return OD_LZMA_PK_LIT;
    }

    if (!od_lzma_bit(rc, p + OD_LZMA_IS_REP + st)) {
        len = od_lzma_len(rc, p + OD_LZMA_LEN, ps);
        dist = od_lzma_dist(rc, p, len);
        if (dist == OD_LZMA_END_DIST)
            return OD_LZMA_PK_END;
        i = 3; /* the oldest distance drops out */
        ns = 7;
    } else {
        /* IS_REP0, IS_REP1 and IS_REP2 are consecutive [state] rows: the
           number of 1 bits before a 0 (at most three) is the rep[] used. */
        i = 0;
        while (i < 3 && od_lzma_bit(rc, p + OD_LZMA_IS_REP0 + i * OD_LZMA_REP_ROW + st))
            i++;
        dist = d->rep[i];
        if (i == 0 && !od_lzma_bit(rc, p + OD_LZMA_IS_REP0_LONG + st * 16 + ps)) {
            ns = 9;
            len = 1;
        } else {
            len = od_lzma_len(rc, p + OD_LZMA_REP_LEN, ps);
            ns = 8;
        }
    }
    /* The distance used moves to the front; those before it move down. */
    for (; i; i--)
        d->rep[i] = d->rep[i - 1];
    d->rep[0] = dist;
    /* Match, rep and short rep: 7, 8, 9 after a literal, 10, 11, 11 after a match. */
    d->state = (uint8_t)(st < 7 ? ns : ns == 7 ? 10 : 11);
    /* filled <= dict_size, so this also bounds every later dictionary read. */
    if (d->rep[0] >= d->filled)
        return OD_LZMA_PK_BAD;
    *val = len;
    return OD_LZMA_PK_MATCH;
}

/* Appends b to the history and to out[op]; returns the next op. */
OD_NOINLINE static size_t od_lzma_put(od_lzma_dec *d, uint8_t *out, size_t op, unsigned b)
{
    d->dict[d->dict_pos] = (uint8_t)b;
    if (++d->dict_pos == d->dict_size)
        d->dict_pos = 0;
    if (d->filled < d->dict_size)
        d->filled++;
    d->pos++;
    out[op] = (uint8_t)b;
    return op + 1;
}

od_lzma_ret od_lzma_init(od_lzma_dec *d, uint8_t props, uint32_t dict_size, void *work,
                         size_t work_size)
{
    unsigned lc = props, lp = 0, pb = 0;
    uint32_t model;
    OD_ASSERT(d != NULL);
    OD_MEMSET(d, 0, sizeof(*d));
    d->status = OD_LZMA_OPTIONS_ERROR;
    /* props = (pb * 5 + lp) * 9 + lc, split without division (a Cortex-M0+
       would call a library routine for it). */
    while (lc >= 9) {
        lc -= 9;
        if (++lp == 5) {
            lp = 0;
            pb++;
        }
    }
    if (pb >= 5 || lc + lp > OD_LZMA_LCLP_MAX || dict_size == 0)
        return OD_LZMA_OPTIONS_ERROR;
    OD_ASSERT(((uintptr_t)work & 1) == 0);
    model = OD_LZMA_PROBS(lc, lp) * 2u;
    d->status = OD_LZMA_MEM_ERROR;
    /* Two comparisons so that a dict_size near 4 GiB cannot wrap the sum. */
    if (work == NULL || work_size < model || work_size - model < dict_size)
        return OD_LZMA_MEM_ERROR;
    d->probs = work;
    d->dict = (uint8_t *)work + model;
    d->dict_size = dict_size;
    d->lc = (uint8_t)lc;
    d->lp = (uint8_t)lp;
    d->pb = (uint8_t)pb;
    od_lzma_reset(d);
    return OD_LZMA_OK;
}

void od_lzma_reset(od_lzma_dec *d)
{
    uint32_t i, n;
    OD_ASSERT(d != NULL);
    if (d->probs == NULL)
        return;
    n = OD_LZMA_PROBS(d->lc, d->lp);
    for (i = 0; i < n; i++)
        d->probs[i] = 1024; /* probability 1/2 in 11-bit fixed point */
    /* state, dictionary and range coder positions, reps, pending match,
       status, start and stall flags, carried bytes */
    OD_MEMSET(&d->state, 0, offsetof(od_lzma_dec, temp) - offsetof(od_lzma_dec, state));
}

od_lzma_ret od_lzma_decode(od_lzma_dec *d, const uint8_t *in, size_t *in_pos, size_t in_size,
                           uint8_t *out, size_t *out_pos, size_t out_size)
{
    size_t in0 = *in_pos, op = *out_pos, avail, old, n;
    od_lzma_rc rc;
    uint32_t val = 0;
    /* A trial packet changes state, started and rep[]; they are saved and
       restored with the fields between them (untouched by a packet) in one
       copy each way. */
    uint8_t save[offsetof(od_lzma_dec, len) - offsetof(od_lzma_dec, state)];
    int kind;

    OD_ASSERT(*in_pos <= in_size && *out_pos <= out_size);
    if (d->status)
        return (od_lzma_ret)d->status;

    for (;;) {
        /* Finish the current match first; it is the only output that waits. */
        for (; d->len; d->len--) {
            if (op == out_size)
                goto done;
            op = od_lzma_put(d, out, op, d->dict[od_lzma_back(d, d->rep[0])]);
        }

        /* Decode from the carry buffer topped up with new input, or straight
           from the input when nothing is carried. */
        avail = in_size - *in_pos;
        old = d->temp_len;
        rc.in = d->temp;
        rc.lim = old;
        if (old) {
            n = OD_LZMA_TEMP_SIZE - old;
            if (n > avail)
                n = avail;
            if (n)
                OD_MEMCPY(d->temp + old, in + *in_pos, n);
            rc.lim += n;
        } else if (avail) {
            rc.in = in + *in_pos;
            rc.lim = avail;
        }
        rc.pos = 0;
        rc.range = d->range;
        rc.code = d->code;
        rc.short_ = 0;

        /* Too few bytes to be sure, or nowhere to put a literal: try first. */
        if (rc.lim < OD_LZMA_TEMP_SIZE || op == out_size) {
            OD_MEMCPY(save, &d->state, sizeof(save));
            rc.dry = 1;
            kind = od_lzma_packet(d, &rc, &val);
            OD_MEMCPY(&d->state, save, sizeof(save));
            if (rc.short_) {
                if (rc.lim >= OD_LZMA_TEMP_SIZE) {
                    kind = OD_LZMA_PK_BAD; /* impossible by the bound above */
                    goto fail;
                }
                /* Everything available is now carried (rc.lim < TEMP_SIZE
                   means n == avail above). */
                if (!old && rc.lim)
                    OD_MEMCPY(d->temp, rc.in, rc.lim);
                *in_pos += rc.lim - old;
                d->temp_len = (uint8_t)rc.lim;
                goto done;
            }
            /* Only literals and matches need output room: the start bytes
               and the marker do not, so a caller with an exactly sized
               buffer still gets STREAM_END (or the error). */
            if (op == out_size && (kind == OD_LZMA_PK_LIT || kind == OD_LZMA_PK_MATCH))
                goto done;
            rc.pos = 0;
            rc.range = d->range;
            rc.code = d->code;
        }

        rc.dry = 0;
        kind = od_lzma_packet(d, &rc, &val);
        if (rc.short_)
            kind = OD_LZMA_PK_BAD; /* impossible by the bound above */
        d->range = rc.range;
        d->code = rc.code;
        if (rc.pos >= old) {
            *in_pos += rc.pos - old;
            d->temp_len = 0;
        } else {
            /* The packet ended inside the carried bytes; keep the rest. */
            for (n = 0; n < old - rc.pos; n++)
                d->temp[n] = d->temp[rc.pos + n];
            d->temp_len = (uint8_t)n;
        }

        if (kind == OD_LZMA_PK_LIT) {
            op = od_lzma_put(d, out, op, val);
        } else if (kind == OD_LZMA_PK_MATCH) {
            d->len = val;
        } else if (kind == OD_LZMA_PK_END) {
            d->status = d->code ? OD_LZMA_DATA_ERROR : OD_LZMA_STREAM_END;
            goto end;
        } else if (kind == OD_LZMA_PK_BAD) {
            goto fail;
        }
    }

fail:
    d->status = OD_LZMA_DATA_ERROR;
end:
    *out_pos = op;
    return (od_lzma_ret)d->status;

done:
    if (*in_pos == in0 && op == *out_pos) {
        if (d->stalled)
            return OD_LZMA_BUF_ERROR;
        d->stalled = 1;
    } else {
        d->stalled = 0;
    }
    *out_pos = op;
    return OD_LZMA_OK;
}
