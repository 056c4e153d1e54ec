/*
 * od_match.c - bsdiff-class approximate matching on a suffix array.
 *
 * The scan is Colin Percival's bsdiff algorithm (described in "Naive
 * differences of executable code"): walk the new image, find the longest
 * exact match of each position in the old image through the suffix array,
 * and accept a new alignment only when it beats the current one by more
 * than `threshold` matching bytes (bsdiff uses 8; the best value depends
 * on the image, so the generator tries several); then extend each
 * alignment forwards and backwards while more than 4/ext of its bytes
 * match (bsdiff: ext = 8, half), so that code whose embedded addresses
 * changed still becomes "old + small difference" rather than literals.
 *
 * A low threshold finds the short matches that cover new code well, but
 * also many that save less than their op costs (on uboot-arm, threshold 4
 * spends 139 KB of compressed op headers, ~3.7 bytes per op); od__prune
 * drops those by an estimated coded cost, so such a candidate can win.
 *
 * The suffix array comes from libdivsufsort (O(n log n) worst case, far
 * faster than bsdiff 4.3's qsufsort). The lookup narrows the suffix-array
 * interval with the longest common prefix already known on both sides, so
 * each comparison skips bytes that are known to match.
 */
#include <stdlib.h>
#include <string.h>

#include <divsufsort.h>

#include "od_diff_internal.h"

/* Length of the common prefix of a[0..an) and b[0..bn). */
static size_t match_len(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    /* Eight bytes at a time: this is the matcher's innermost loop. */
    while (i + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/*
 * Longest match of pat[0..pn) among the suffixes of old, by binary search
 * over sa. Returns its length and stores its index in sa in *idx.
 */
static size_t longest_match(const int32_t *sa, const uint8_t *old, size_t old_size,
                        const uint8_t *pat, size_t pn, size_t *idx)
{
    size_t lo = 0, hi = old_size - 1, llo, lhi;
    const uint8_t *s;

    llo = match_len(old + sa[lo], old_size - (size_t)sa[lo], pat, pn);
    lhi = match_len(old + sa[hi], old_size - (size_t)sa[hi], pat, pn);
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        size_t skip = llo < lhi ? llo : lhi; /* every suffix in (lo,hi) shares it */
        size_t sn = old_size - (size_t)sa[mid];
        size_t l;
        s = old + sa[mid];
        l = skip + match_len(s + skip, sn - skip, pat + skip, pn - skip);
        if (l == pn) { /* the whole rest of new matches: as good as it gets */
            *idx = mid;
            return l;
        }
        /* A suffix that is a prefix of pat sorts before it; otherwise the
         * first differing byte decides. */
        if (l == sn || s[l] < pat[l]) {
            lo = mid;
            llo = l;
        } else {
            hi = mid;
            lhi = l;
        }
    }
    if (llo >= lhi) {
        *idx = lo;
        return llo;
    }
    *idx = hi;
    return lhi;
}

/* How far the tie-break below looks on each side in the suffix array;
 * 8 and 256 measured the same on the shared corpus. */
#define NEAR_SCAN 32

static size_t dist(size_t a, size_t b)
{
    return a > b ? a - b : b - a;
}

/*
 * Of the suffixes around sa[idx] that match pat for len bytes too (equal
 * matches are neighbours in sa), the one nearest to old offset want. The
 * search returns an arbitrary one of them; the nearest makes the op's seek
 * short, and often it is the copy that moved with its surroundings
 * (-0.2 % geomean, up to -0.9 %; preferring the copy whose preceding bytes
 * match best measured worse).
 */
static size_t nearest_match(const int32_t *sa, const uint8_t *old, size_t old_size, size_t idx,
                            size_t len, const uint8_t *pat, size_t want)
{
    size_t best = (size_t)sa[idx], k, n;
    for (k = idx, n = 0; k > 0 && n < NEAR_SCAN; k--, n++) {
        size_t p = (size_t)sa[k - 1];
        if (match_len(old + p, old_size - p, pat, len) < len)
            break;
        if (dist(p, want) < dist(best, want))
            best = p;
    }
    for (k = idx + 1, n = 0; k < old_size && n < NEAR_SCAN; k++, n++) {
        size_t p = (size_t)sa[k];
        if (match_len(old + p, old_size - p, pat, len) < len)
            break;
        if (dist(p, want) < dist(best, want))
            best = p;
    }
    return best;
}

int od__push_op(od_op_list *l, uint32_t old_start, uint32_t add, uint32_t extra)
{
    if (add == 0 && extra == 0)
        return OD_DIFF_OK;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        od_op *n = realloc(l->ops, cap * sizeof(*n));
        if (!n)
            return OD_DIFF_ERR_NOMEM;
        l->ops = n;
        l->cap = cap;
    }
    l->ops[l->count].old_start = old_start;
    l->ops[l->count].add = add;
    l->ops[l->count].extra = extra;
    l->count++;
    return OD_DIFF_OK;
}

/* The matcher stores libdivsufsort's indices as int32_t. */
typedef char od_saidx_is_int32[sizeof(saidx_t) == sizeof(int32_t) ? 1 : -1];

int32_t *od__suffix_array(const uint8_t *old, size_t old_size)
{
    saidx_t *sa;
    if (old_size == 0 || old_size > (size_t)INT32_MAX)
        return NULL;
    sa = malloc(old_size * sizeof(*sa));
    if (sa && divsufsort(old, sa, (saidx_t)old_size) != 0) {
        free(sa);
        sa = NULL;
    }
    return sa;
}

int od__match(const uint8_t *old, size_t old_size, const int32_t *sa, const uint8_t *nw,
              size_t new_size, size_t threshold, int ext, uint64_t *memo, od_op_list *list,
              int (*poll)(void *ctx), void *poll_ctx)
{
    size_t scan = 0, len = 0, pos = 0, idx = 0, lastscan = 0, lastpos = 0;
    ptrdiff_t lastoffset = 0;
    size_t next_poll = 0;
    int r = OD_DIFF_OK;

    if (old_size == 0 || new_size == 0)
        return od__push_op(list, 0, 0, (uint32_t)new_size);

    while (scan < new_size) {
        size_t oldscore = 0, scsc;

        for (scsc = scan += len; scan < new_size; scan++) {
            /* Polled here: on unrelated images this loop alone may cross
             * the whole new image. */
            if (poll && scan >= next_poll) {
                if (poll(poll_ctx))
                    return OD_DIFF_ERR_CANCELLED;
                next_poll = scan + OD_MATCH_POLL;
            }
            /* The search depends only on scan, so candidates share it, also
             * across threads: one 64-bit word per entry, so a reader sees a
             * whole result or none, and every writer stores the same value. */
            uint64_t m = memo ? __atomic_load_n(&memo[scan], __ATOMIC_RELAXED) : UINT64_MAX;
            if (m != UINT64_MAX) {
                len = (size_t)(m >> 32);
                idx = (size_t)(uint32_t)m;
            } else {
                len = longest_match(sa, old, old_size, nw + scan, new_size - scan, &idx);
                if (memo)
                    __atomic_store_n(&memo[scan], (uint64_t)len << 32 | (uint32_t)idx,
                                     __ATOMIC_RELAXED);
            }
            for (; scsc < scan + len; scsc++)
                if ((ptrdiff_t)scsc + lastoffset < (ptrdiff_t)old_size &&
                    old[(ptrdiff_t)scsc + lastoffset] == nw[scsc])
                    oldscore++;
            if ((len == oldscore && len != 0) || len > oldscore + threshold)
                break;
            if ((ptrdiff_t)scan + lastoffset < (ptrdiff_t)old_size &&
                old[(ptrdiff_t)scan + lastoffset] == nw[scan])
                oldscore--;
        }

        if (len != oldscore || scan == new_size) {
            ptrdiff_t s = 0, sf = 0, sb, ss;
            size_t lenf = 0, lenb = 0, i;

            /* Only here is the match's offset needed: reading sa for every
             * scanned position would miss the cache each time. */
            pos = (size_t)sa[idx];
            if (scan < new_size && len) {
                ptrdiff_t want = (ptrdiff_t)scan + lastoffset;
                pos = nearest_match(sa, old, old_size, idx, len, nw + scan,
                                    want > 0 ? (size_t)want : 0);
            }
            /* Extend the previous alignment forwards while it pays. */
            for (i = 0; lastscan + i < scan && lastpos + i < old_size;) {
                if (old[lastpos + i] == nw[lastscan + i])
                    s++;
                i++;
                if (s * ext - 4 * (ptrdiff_t)i > sf * ext - 4 * (ptrdiff_t)lenf) {
                    sf = s;
                    lenf = i;
                }
            }
            /* Extend the new alignment backwards while it pays. */
            if (scan < new_size) {
                s = 0;
                sb = 0;
                for (i = 1; scan >= lastscan + i && pos >= i; i++) {
                    if (old[pos - i] == nw[scan - i])
                        s++;
                    if (s * ext - 4 * (ptrdiff_t)i > sb * ext - 4 * (ptrdiff_t)lenb) {
                        sb = s;
                        lenb = i;
                    }
                }
            }
            /* If the two extensions overlap, split where it matches best. */
            if (lastscan + lenf > scan - lenb) {
                size_t overlap = (lastscan + lenf) - (scan - lenb), lens = 0;
                s = 0;
                ss = 0;
                for (i = 0; i < overlap; i++) {
                    if (nw[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i])
                        s++;
                    if (nw[scan - lenb + i] == old[pos - lenb + i])
                        s--;
                    if (s > ss) {
                        ss = s;
                        lens = i + 1;
                    }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }

            r = od__push_op(list, (uint32_t)lastpos, (uint32_t)lenf,
                            (uint32_t)((scan - lenb) - (lastscan + lenf)));
            if (r)
                break;
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = (ptrdiff_t)pos - (ptrdiff_t)scan;
        }
    }
    return r;
}

/* Significant bits of v: the price of a seek grows with its magnitude. */
static unsigned mag_bits(uint64_t v)
{
    unsigned b = 1;
    while (v >>= 1)
        b++;
    return b;
}

void od__prune(od_op_list *l, const uint8_t *old, const uint8_t *nw, const od_prune_cost *c)
{
    size_t k, out = 0;
    uint64_t at = 0, prev_end_old = 0;
    for (k = 0; k < l->count; k++) {
        od_op o = l->ops[k];
        int64_t gain, seek;
        uint32_t i, nz = 0;
        for (i = 0; i < o.add; i++)
            nz += nw[at + i] != old[o.old_start + i];
        /* Priced against the previous kept op, which is where the cursor
         * will be if this one is kept. */
        seek = (int64_t)o.old_start - (int64_t)prev_end_old;
        gain = (int64_t)o.add * c->lit - (int64_t)nz * c->diff - (int64_t)(o.add - nz) * c->zero -
               c->op - (int64_t)mag_bits((uint64_t)(seek < 0 ? -seek : seek)) * c->seek;
        at += (uint64_t)o.add + o.extra;
        if (out && o.add && gain < 0) {
            l->ops[out - 1].extra += o.add + o.extra;
            continue;
        }
        l->ops[out++] = o;
        prev_end_old = (uint64_t)o.old_start + o.add;
    }
    l->count = out;
}
