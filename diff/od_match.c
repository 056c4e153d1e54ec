/*
 * od_match.c - bsdiff-class approximate matching on a suffix array.
 *
 * The scan is Colin Percival's bsdiff algorithm (described in "Naive
 * differences of executable code"): walk the new image, find the longest
 * exact match of each position in the old image through the suffix array,
 * and accept a new alignment only when it beats the current one by more
 * than `threshold` matching bytes (bsdiff uses 8; the best value depends
 * on the image, so the generator tries several); extend alignments while
 * more than 1/ext of the bytes match (bsdiff: ext = 2, half); then extend each alignment forwards and backwards
 * over approximately-equal bytes, so that code whose embedded addresses
 * changed still becomes "old + small difference" rather than literals.
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
 * over sa. Returns its length and stores its old offset in *pos.
 */
static size_t longest_match(const int32_t *sa, const uint8_t *old, size_t old_size,
                        const uint8_t *pat, size_t pn, size_t *pos)
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
            *pos = (size_t)sa[mid];
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
        *pos = (size_t)sa[lo];
        return llo;
    }
    *pos = (size_t)sa[hi];
    return lhi;
}

static int push_op(od_op_list *l, uint32_t old_start, uint32_t add, uint32_t extra)
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
              size_t new_size, size_t threshold, int ext, uint32_t *memo, od_op_list *list,
              od_diff_progress_fn progress, void *pctx)
{
    size_t scan = 0, len = 0, pos = 0, lastscan = 0, lastpos = 0;
    ptrdiff_t lastoffset = 0;
    size_t next_report = 0;
    int r = OD_DIFF_OK;

    if (old_size == 0 || new_size == 0)
        return push_op(list, 0, 0, (uint32_t)new_size);

    while (scan < new_size) {
        size_t oldscore = 0, scsc;

        if (progress && scan >= next_report) {
            progress(pctx, scan, new_size);
            next_report = scan + (1u << 20);
        }
        for (scsc = scan += len; scan < new_size; scan++) {
            /* The search depends only on scan, so candidates share it. */
            if (memo && memo[2 * scan] != UINT32_MAX) {
                len = memo[2 * scan];
                pos = memo[2 * scan + 1];
            } else {
                len = longest_match(sa, old, old_size, nw + scan, new_size - scan, &pos);
                if (memo) {
                    memo[2 * scan] = (uint32_t)len;
                    memo[2 * scan + 1] = (uint32_t)pos;
                }
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

            /* Extend the previous alignment forwards while it pays. */
            for (i = 0; lastscan + i < scan && lastpos + i < old_size;) {
                if (old[lastpos + i] == nw[lastscan + i])
                    s++;
                i++;
                if (s * ext - (ptrdiff_t)i > sf * ext - (ptrdiff_t)lenf) {
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
                    if (s * ext - (ptrdiff_t)i > sb * ext - (ptrdiff_t)lenb) {
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

            r = push_op(list, (uint32_t)lastpos, (uint32_t)lenf,
                        (uint32_t)((scan - lenb) - (lastscan + lenf)));
            if (r)
                break;
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = (ptrdiff_t)pos - (ptrdiff_t)scan;
        }
    }
    if (progress && r == OD_DIFF_OK)
        progress(pctx, new_size, new_size);
    return r;
}
