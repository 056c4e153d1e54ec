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
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

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
    case OD_DIFF_ERR_BLOCKS:
        return "too many restart blocks (at most 65536): raise the block, erase or restart size";
    case OD_DIFF_ERR_CANCELLED: return "cancelled";
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
    p->filter = OD_DIFF_FILTER_AUTO;
}

static int is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

/*
 * Everything but the version strings: what od_diff_plan needs too. The
 * rules are kept here only, so a caller's message names exactly the one
 * broken (od_diff_param_problem).
 */
const char *od_diff_param_problem(const od_diff_params *p, char *buf, size_t n)
{
    if (!p)
        snprintf(buf, n, "no parameters");
    else if (p->kind != OD_KIND_DELTA && p->kind != OD_KIND_FULL)
        snprintf(buf, n, "kind %d is neither delta nor full", p->kind);
    else if (p->codec != OD_CODEC_NONE && p->codec != OD_CODEC_DEFLATE &&
             p->codec != OD_CODEC_LZMA)
        snprintf(buf, n, "codec %d is not none, deflate or lzma", p->codec);
    else if (p->filter != OD_DIFF_FILTER_AUTO && p->filter != OD_FILTER_NONE &&
             (p->filter != OD_FILTER_THUMB || p->kind == OD_KIND_FULL))
        snprintf(buf, n, "filter %d is not auto, none or thumb (thumb: deltas only)", p->filter);
    else if (!is_pow2(p->page_size) || p->page_size < 16 || p->page_size > 65536)
        snprintf(buf, n, "page size %u is not a power of two from 16 to 65536", p->page_size);
    else if (!is_pow2(p->erase_size))
        snprintf(buf, n, "erase size %u is not a power of two", p->erase_size);
    else if (p->erase_size < p->page_size)
        snprintf(buf, n, "page size %u is larger than the erase size %u", p->page_size,
                 p->erase_size);
    else if (p->erase_size > (16u << 20))
        snprintf(buf, n, "erase size %u is larger than 16 MiB", p->erase_size);
    else if (p->block_size && p->block_size % p->erase_size)
        snprintf(buf, n, "block size %u is not a multiple of the erase size %u", p->block_size,
                 p->erase_size);
    else if (p->block_size > OD_MAX_IMAGE_SIZE)
        snprintf(buf, n, "block size %u is larger than 1 GiB", p->block_size);
    else if (!p->block_size && !p->restart_interval) /* blocks would be unbounded */
        snprintf(buf, n, "block size and restart interval cannot both be 0");
    else if (p->effort != OD_DIFF_EFFORT_BEST && p->effort != OD_DIFF_EFFORT_FAST)
        snprintf(buf, n, "effort %d is neither best nor fast", p->effort);
    else
        return NULL;
    return buf;
}

static int check_geometry(const od_diff_params *p)
{
    char why[96];
    return od_diff_param_problem(p, why, sizeof(why)) ? OD_DIFF_ERR_PARAM : OD_DIFF_OK;
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
    c->level = p->effort == OD_DIFF_EFFORT_FAST ? OD_LEVEL_FAST : OD_LEVEL_MAX;
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
 * zero bytes. LZMA codes such a stretch as one or two rep-matches (at most
 * 273 bytes each), which tends to cost less than ending the run and coding
 * two unpredictable lengths, so up to two maximal matches stay inline.
 * Measured on the shared corpus: 547 beat 256 by 0.5 % geomean
 * (nina-patch -3.7 %, pyboard-tweak -2.2 %, at most +0.2 % on a pair), 384
 * and 768 gave half that; short gaps are far worse on ARM code (gap 4: +3 %
 * on Cortex-M pairs, 64: +2 % overall). Deflate agrees: 258 +0.4 %, 64
 * +1.8 %, 16 +3.0 %.
 */
#define DIFF_GAP 547

/*
 * Without a codec every zero byte is sent as it is, while ending a run
 * costs two varints, a byte each for short runs: a stretch of 3 or more is
 * cheaper as a zero run. Measured on the shared corpus (--codec none):
 * packages 0.202 of the new image (geometric mean) against 0.667 with
 * DIFF_GAP; gap 2 the same, 4 +2.7 %, 6 +6.4 %.
 */
#define DIFF_GAP_NONE 3

/* The gap for packages compressed with codec. */
static uint32_t diff_gap(int codec)
{
    return codec == OD_CODEC_NONE ? DIFF_GAP_NONE : DIFF_GAP;
}

/*
 * Where an add part sits, for the thumb filter: the page mask of the
 * package (words stay within a page) and the absolute offsets of its first
 * byte in old and new. thumb 0: no filter.
 */
typedef struct add_at {
    int thumb;
    uint32_t page_mask, old_pos, new_pos;
} add_at;

/*
 * The bytes of one difference run, old[i..end) -> new[i..end): bytewise
 * differences, except for the thumb filter's words, which carry the change
 * of their value (branches through od_thumb_mix; FORMAT.md, "Filter 1:
 * thumb").
 * The scan is the applier's, front to back: a word takes 4 bytes, anything
 * else 1.
 */
static void run_bytes(uint8_t *out, const uint8_t *nw, const uint8_t *old, uint32_t i,
                      uint32_t end, const add_at *at)
{
    while (i < end) {
        if (at->thumb && end - i >= 4 && !((at->old_pos + i) & 1) &&
            ((at->new_pos + i) & at->page_mask) <= at->page_mask - 3) {
            uint32_t wo = od_get_le32(old + i), wn = od_get_le32(nw + i);
            int word = 1;
            if (OD_THUMB_IS_BRANCH(wo))
                od_put_le32(out, od_thumb_mix(wn) - od_thumb_mix(wo));
            else if (!((at->old_pos + i) & 2) && OD_THUMB_IS_ADDRESS(wo))
                od_put_le32(out, wn - wo);
            else
                word = 0;
            if (word) {
                out += 4;
                i += 4;
                continue;
            }
        }
        *out++ = (uint8_t)(nw[i] - old[i]);
        i++;
    }
}

/*
 * Emits an add part: new[i] = old[i] + d[i]. It is coded as alternating
 * runs, varint(zero run) then varint(diff run) + the differences, until the
 * part is covered, so unchanged stretches of gap bytes or more cost a
 * varint instead of a zero per byte. Runs follow the bytes that changed; a
 * filter only changes what a difference run's bytes say.
 */
static int emit_add(od_bytes *raw, const uint8_t *nw, const uint8_t *old, uint32_t len,
                    const add_at *at, uint32_t gap)
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
            while (j + zr < len && nw[j + zr] == old[j + zr] && zr < gap)
                zr++;
            if (zr >= gap || j + zr == len)
                break;
            j += zr;
        }
        if ((r = od__bytes_varint(raw, last - i + 1)) || (r = od__bytes_reserve(raw, last - i + 1)))
            return r;
        run_bytes(raw->p + raw->len, nw, old, i, last + 1, at);
        raw->len += last - i + 1;
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
                         const uint8_t *nw, const uint32_t *outs, uint32_t nblocks, int filter,
                         od_bytes *raw, size_t *offs)
{
    add_at at;
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
                at.thumb = filter == OD_FILTER_THUMB;
                at.page_mask = p->page_size - 1;
                at.old_pos = o->old_start + (uint32_t)(lo - s);
                at.new_pos = (uint32_t)lo;
                if (add && (r = emit_add(raw, nw + lo, old + at.old_pos, add, &at,
                                         diff_gap(p->codec))))
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
                      uint32_t gap, od_bytes *scratch)
{
    add_at none = {0, 0, 0, 0}; /* a filter changes no run or length */
    scratch->len = 0;
    if (o->add && emit_add(scratch, nw + at, old + o->old_start, o->add, &none, gap) != OD_DIFF_OK)
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
        op_cost_j = op_cost(&ops->ops[0], old, nw, 0, diff_gap(p->codec), &scratch);
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
                    op_cost_j = op_cost(&ops->ops[j], old, nw, op_start, diff_gap(p->codec),
                                        &scratch);
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
 * Progress and cancellation for the caller. Each phase owns a fixed slice
 * of one scale and moves through it as its work items finish, so the
 * caller sees one figure that only grows. The slices follow uboot-arm's
 * profile (suffix array 5 %, matching 55 %, ranking 10 %, picking the
 * filter 8 %, compression 22 %); images with fewer blocks or candidates
 * than threads move in coarser steps. Both callbacks run under the mutex,
 * so the caller never sees two calls at once.
 */
#define METER_SCALE 1000u

typedef struct meter {
    const od_diff_params *p;
    pthread_mutex_t mu;
    uint32_t from, span; /* the current phase's slice of METER_SCALE */
    size_t items, done;
    uint32_t shown;      /* last value reported */
    int stop;            /* sticky once cancel() said so */
} meter;

static void meter_show(meter *m, uint32_t v) /* mu held */
{
    if (v > m->shown) {
        m->shown = v;
        if (m->p->progress)
            m->p->progress(m->p->progress_ctx, v, METER_SCALE);
    }
}

/* Starts a phase of `items` work items in [from, from + span). */
static void meter_phase(meter *m, uint32_t from, uint32_t span, size_t items)
{
    pthread_mutex_lock(&m->mu);
    m->from = from;
    m->span = span;
    m->items = items ? items : 1;
    m->done = 0;
    meter_show(m, from);
    pthread_mutex_unlock(&m->mu);
}

static void meter_step(meter *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->done < m->items)
        m->done++;
    meter_show(m, m->from + (uint32_t)(m->span * m->done / m->items));
    pthread_mutex_unlock(&m->mu);
}

/* Nonzero once the caller asked to stop; any thread may ask. */
static int meter_stopped(void *ctx)
{
    meter *m = ctx;
    int stop;
    pthread_mutex_lock(&m->mu);
    if (!m->stop && m->p->cancel && m->p->cancel(m->p->cancel_ctx))
        m->stop = 1;
    stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

/* meter_stopped for a scan that is a phase of its own: each poll (one per
 * OD_MATCH_POLL bytes of the new image) is a step. */
static int meter_scan_poll(void *ctx)
{
    meter_step(ctx);
    return meter_stopped(ctx);
}

/*
 * Work items (candidates, blocks) are coarse and independent, so a plain
 * pool that hands out indices is enough. Each item writes only its own
 * slots and results are combined in index order afterwards, so the output
 * does not depend on the number of threads or on scheduling. Each worker
 * keeps one encoder for the items it runs: a new one costs more than a
 * small stream's compression (its match-finder tables, about 0.5 MiB at
 * every setting, faulted in and cleared).
 */
#define MAX_THREADS 8

typedef int (*par_fn)(void *ctx, size_t i, od_codec_state **enc);

typedef struct par_job {
    par_fn fn;
    void *ctx;
    meter *m;
    size_t n, next;
    int *rs;
} par_job;

static void *par_worker(void *arg)
{
    par_job *j = arg;
    od_codec_state *enc = NULL;
    size_t i;
    while ((i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->n) {
        if (meter_stopped(j->m)) { /* skipped items do not count as progress */
            j->rs[i] = OD_DIFF_ERR_CANCELLED;
            continue;
        }
        j->rs[i] = j->fn(j->ctx, i, &enc);
        meter_step(j->m);
    }
    od__codec_state_free(enc);
    return NULL;
}

/* Threads one generation may use: p->threads, else the CPUs this process
 * may run on (its affinity mask, which taskset and cgroup cpusets narrow;
 * the count of online CPUs where there is none), at most MAX_THREADS. */
static long thread_budget(const od_diff_params *p)
{
    long n = 0;
    if (p->threads)
        return p->threads > MAX_THREADS ? MAX_THREADS : (long)p->threads;
#if defined(__linux__)
    {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) == 0)
            n = CPU_COUNT(&set);
    }
#endif
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* Runs fn(ctx, 0..n-1) on up to thread_budget() threads, as the current
 * phase of m; returns the error of the lowest failing index, or
 * OD_DIFF_OK. */
static int par_for(size_t n, par_fn fn, void *ctx, meter *m)
{
    pthread_t th[MAX_THREADS - 1];
    par_job j;
    size_t i, nth = 0;
    long cpus = thread_budget(m->p);
    int r = OD_DIFF_OK;

    j.fn = fn;
    j.ctx = ctx;
    j.m = m;
    j.n = n;
    j.next = 0;
    if (!(j.rs = calloc(n ? n : 1, sizeof(*j.rs))))
        return OD_DIFF_ERR_NOMEM;
    /* A thread that cannot be created only means more work for this one. */
    while ((long)nth + 1 < cpus && nth + 1 < n &&
           pthread_create(&th[nth], NULL, par_worker, &j) == 0)
        nth++;
    par_worker(&j);
    for (i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < n && r == OD_DIFF_OK; i++)
        r = j.rs[i];
    free(j.rs);
    return r;
}

/* Stream variants build_package compresses side by side: one per filter
 * it tries. */
#define MAX_VARIANTS 2

typedef struct block_job {
    const od_codec_cfg *codec;
    uint32_t nblocks;
    const od_bytes *raw;  /* one per variant */
    size_t *const *offs;  /* one per variant: nblocks + 1 stream offsets */
    od_bytes *out;        /* variant * nblocks + block: stream + CRC-32 */
} block_job;

static int compress_one(void *ctx, size_t i, od_codec_state **enc)
{
    block_job *j = ctx;
    size_t v = i / j->nblocks, b = i % j->nblocks;
    const size_t *offs = j->offs[v];
    od_bytes *o = &j->out[i];
    uint8_t crc[4];
    int r = od__compress_block(j->codec, enc, j->raw[v].p + offs[b], offs[b + 1] - offs[b], o);
    if (r)
        return r;
    od_put_le32(crc, od_crc32(0, o->p, o->len));
    return od__bytes_put(o, crc, 4);
}

/* Compresses every block of nvar stream variants into out[variant *
 * nblocks + block] (in parallel: blocks are independent streams). */
static int compress_variants(const od_codec_cfg *codec, const od_bytes *raw,
                             size_t *const *offs, size_t nvar, uint32_t nblocks, od_bytes *out,
                             meter *m)
{
    block_job j;
    j.codec = codec;
    j.nblocks = nblocks;
    j.raw = raw;
    j.offs = offs;
    j.out = out;
    return nblocks ? par_for(nvar * nblocks, compress_one, &j, m) : OD_DIFF_OK;
}

static void free_outs(od_bytes *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(out[i].p);
        out[i].p = NULL;
        out[i].len = out[i].cap = 0;
    }
}

/*
 * The variant whose blocks compress smallest with a quick setting (the
 * first of equal ones). On all 15 pairs of the shared corpus it picked
 * what compressing both variants in full would, at a fraction of the time
 * (uboot-arm: 0.71 s instead of 0.84 s for the whole diff). At
 * OD_LEVEL_FAST the final setting is about as cheap as the quick one, so
 * every variant is compressed with it and out keeps the blocks to use
 * (on success). Otherwise out is left empty.
 */
static int pick_variant(const od_codec_cfg *codec, const od_bytes *raw, size_t *const *offs,
                        size_t nvar, uint32_t nblocks, od_bytes *out, size_t *best, meter *m)
{
    od_codec_cfg quick = *codec;
    size_t total[MAX_VARIANTS] = {0}, v, i;
    int r;
    if (codec->level != OD_LEVEL_FAST)
        quick.level = OD_LEVEL_RANK;
    r = compress_variants(&quick, raw, offs, nvar, nblocks, out, m);
    for (i = 0; i < nvar * nblocks; i++)
        total[i / nblocks] += out[i].len;
    if (codec->level != OD_LEVEL_FAST || r != OD_DIFF_OK)
        free_outs(out, nvar * nblocks);
    *best = 0;
    for (v = 1; v < nvar; v++)
        if (total[v] < total[*best])
            *best = v;
    return r;
}

/*
 * Where the codec gained nothing over the raw streams (an already
 * compressed or encrypted image: LZMA made a 2 MiB random image's full
 * package 101.4 % of it), the blocks at outb[*first] are replaced by the
 * unfiltered streams themselves and the plan by codec none's: as small or
 * smaller, decoded by every applier profile with a page of RAM. Streams
 * of the same length as a filter's, so the lengths of variant *best
 * decide; variant 0 is the unfiltered one unless a filter was asked for,
 * and that one is kept.
 */
static int fall_back_to_none(const od_diff_params *p, const od_bytes *raw, size_t *const *offs,
                             uint32_t nblocks, size_t max_stream, od_bytes *outb, size_t *first,
                             size_t *best, od_codec_cfg *codec, uint32_t *ram_needed)
{
    od_diff_params q = *p;
    block_job j;
    uint64_t packed = 0, stored = 0;
    uint32_t b;
    int r;
    for (b = 0; b < nblocks; b++) {
        packed += outb[*first + b].len - 4; /* less its CRC-32 */
        stored += offs[*best][b + 1] - offs[*best][b];
    }
    if (packed < stored)
        return OD_DIFF_OK;
    q.codec = OD_CODEC_NONE;
    if ((r = plan(&q, max_stream, codec, ram_needed)) != OD_DIFF_OK)
        return r;
    j.codec = codec;
    j.nblocks = nblocks;
    j.raw = raw;
    j.offs = offs;
    j.out = outb + *first;
    for (b = 0; b < nblocks && r == OD_DIFF_OK; b++) {
        j.out[b].len = 0;
        r = compress_one(&j, b, NULL); /* a copy: no encoder state */
    }
    *best = 0;
    return r;
}

/*
 * Builds the whole package for one op list (empty for full packages):
 * block cuts, streams, codec planning, compression, assembly.
 */
static int build_package(const od_diff_params *p, const od_op_list *ops, const uint8_t *old,
                         size_t old_size, const uint8_t *nw, size_t new_size, meter *m,
                         uint8_t **out, size_t *out_size)
{
    od_bytes raw[MAX_VARIANTS] = {{0}}, payload = {0}, *outb = NULL;
    od_pkg_header h;
    od_codec_cfg codec;
    size_t *offs[MAX_VARIANTS] = {NULL}, max_stream = 0, nvar = 0, v, best = 0, first = 0;
    uint32_t *block_offs = NULL, *outs = NULL;
    uint32_t block_size, nblocks, b, ram_needed;
    int filters[MAX_VARIANTS], r;

    /* The filter only makes difference bytes more compressible, so it is
     * tried where a codec could gain from it; the smaller variant wins. */
    if (p->kind == OD_KIND_FULL)
        filters[nvar++] = OD_FILTER_NONE;
    else if (p->filter != OD_DIFF_FILTER_AUTO)
        filters[nvar++] = p->filter;
    else {
        filters[nvar++] = OD_FILTER_NONE;
        if (p->codec != OD_CODEC_NONE)
            filters[nvar++] = OD_FILTER_THUMB;
    }
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
        r = OD_DIFF_ERR_BLOCKS;
        goto done;
    }
    block_offs = malloc(sizeof(*block_offs) * (nblocks + 1));
    if (!block_offs) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    for (v = 0; v < nvar; v++) {
        if (!(offs[v] = malloc(sizeof(*offs[v]) * (nblocks + 1)))) {
            r = OD_DIFF_ERR_NOMEM;
            goto done;
        }
        if ((r = build_streams(p, ops, old, nw, outs, nblocks, filters[v], &raw[v], offs[v])))
            goto done;
    }
    /* A filter that changed nothing (no branch or address word among the
     * differences, as in non-Arm code) cannot win, as ties go to the
     * unfiltered variant: it is dropped unmeasured. */
    if (nvar == 2 && raw[1].len == raw[0].len &&
        (!raw[0].len || !memcmp(raw[1].p, raw[0].p, raw[0].len)))
        nvar = 1;
    /* A filter changes no stream length, so every variant plans alike. */
    for (b = 0; b < nblocks; b++)
        if (offs[0][b + 1] - offs[0][b] > max_stream)
            max_stream = offs[0][b + 1] - offs[0][b];
    if ((r = plan(p, max_stream, &codec, &ram_needed)) != OD_DIFF_OK)
        goto done;

    if (!(outb = calloc(nvar * nblocks + 1, sizeof(*outb)))) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    if (nvar > 1) {
        meter_phase(m, 700, codec.level == OD_LEVEL_FAST ? 280 : 80, nvar * nblocks);
        if ((r = pick_variant(&codec, raw, offs, nvar, nblocks, outb, &best, m)))
            goto done;
    }
    if (nvar > 1 && codec.level == OD_LEVEL_FAST) { /* pick_variant kept its blocks */
        first = best * nblocks;
    } else {
        /* A full package is all compression. */
        if (p->kind == OD_KIND_FULL)
            meter_phase(m, 0, 980, nblocks);
        else
            meter_phase(m, 780, 200, nblocks);
        if ((r = compress_variants(&codec, &raw[best], &offs[best], 1, nblocks, outb, m)))
            goto done;
    }
    if (codec.codec != OD_CODEC_NONE && !p->exact_codec &&
        (r = fall_back_to_none(p, raw, offs, nblocks, max_stream, outb, &first, &best, &codec,
                               &ram_needed)))
        goto done;
    for (b = 0; b < nblocks; b++) {
        const od_bytes *o = &outb[first + b];
        if (payload.len > 0xFFFFFFFFu - o->len) {
            r = OD_DIFF_ERR_TOO_LARGE;
            goto done;
        }
        block_offs[b] = (uint32_t)payload.len;
        if ((r = od__bytes_put(&payload, o->p, o->len)))
            goto done;
    }

    memset(&h, 0, sizeof(h));
    h.kind = (uint8_t)p->kind;
    h.codec = (uint8_t)codec.codec;
    h.filter = (uint8_t)filters[best];
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
    for (v = 0; v < MAX_VARIANTS; v++) {
        free(raw[v].p);
        free(offs[v]);
    }
    if (outb)
        free_outs(outb, nvar * nblocks);
    free(outb);
    free(payload.p);
    free(block_offs);
    free(outs);
    return r;
}

/*
 * Matcher settings tried for every delta (see od_match.c). Measured on
 * the shared corpus, small Cortex-M images do best near bsdiff's threshold
 * of 8 or below and large, very different images at 12-16 (uboot-arm -4 %
 * at 12); extending alignments more eagerly (ext 12) helps small Cortex-M
 * pairs by up to 1.5 % and hurts large ones. Pruning with a low literal
 * price (40: 2.5 bits) wins on large, very different images and loses on
 * Cortex-M code, whose literals compress worse; a low threshold with very
 * eager extension and a high price (4/16/80) wins on many Cortex-M
 * segments. No single setting wins everywhere, and every entry here wins
 * some 32 KiB segments of the corpus (others that never or hardly did
 * were dropped: ext 8 threshold 6, ext 16 threshold 8, ext 24/32, prices
 * 30 and 100-120). Measured in turn as each was added: 4/16/60 -0.33 %
 * geomean, 4/16/80 -0.14 %, 4/12/80 -0.05 %.
 */
static const struct {
    size_t threshold;
    int ext;
    int32_t lit; /* od__prune's literal price; 0 keeps every op */
} candidates[] = {{8, 8, 0},   {12, 8, 0},  {16, 8, 0},  {6, 12, 0},
                  {4, 8, 40},  {8, 8, 40},  {8, 12, 40}, {6, 8, 50},
                  {4, 12, 50}, {6, 12, 70}, {4, 16, 60}, {4, 16, 80}, {4, 12, 80}};
#define NCAND (sizeof(candidates) / sizeof(candidates[0]))

/* Prices for od__prune besides the literal one, in 1/16 bit. Measured on
 * uboot-arm's streams: a nonzero difference ~7 bits, an op's header ~30
 * bits after compression; slightly lower prices did best. */
#define PRUNE_DIFF 100
#define PRUNE_ZERO 4
#define PRUNE_OP 400
#define PRUNE_SEEK 16

/* The one candidate OD_DIFF_EFFORT_FAST runs (4/16/60). Each of the 13
 * run alone at that effort on the 15 corpus pairs: this one came closest
 * to the best single candidate of each pair (0.7 % above it, geometric
 * mean; 8/8/0 2.6 %, 4/12/80 1.4 % though best on 8 pairs). */
#define FAST_CAND 10

/* Prunes ops with candidate t's literal price, if it has one. */
static void prune(size_t t, od_op_list *l, const uint8_t *old, const uint8_t *nw)
{
    if (candidates[t].lit) {
        od_prune_cost c = {candidates[t].lit, PRUNE_DIFF, PRUNE_ZERO, PRUNE_OP, PRUNE_SEEK};
        od__prune(l, old, nw, &c);
    }
}

/* The ops of candidate t alone, into l (empty); m may be NULL. */
static int match_one(size_t t, const uint8_t *old, size_t old_size, const int32_t *sa,
                     const uint8_t *nw, size_t new_size, meter *m, od_op_list *l)
{
    int r = od__match(old, old_size, sa, nw, new_size, candidates[t].threshold,
                      candidates[t].ext, NULL, l, m ? meter_scan_poll : NULL, m);
    if (r == OD_DIFF_OK)
        prune(t, l, old, nw);
    return r;
}

/*
 * The best candidate differs between regions of one image (code that
 * moved a little next to code that was rewritten), so candidates are
 * ranked per segment of this much output, by a quick compression of each
 * segment on its own, and the winners' ops are stitched together.
 * Measured: 16 KiB and 32 KiB equal, 64 KiB +0.1 %, 128 KiB +0.15 %;
 * smaller segments rank on noise.
 */
#define SEGMENT (32u << 10)

/* Candidates whose deflate size is within 1/SHORTLIST of a segment's best
 * are ranked again with LZMA. Ranking by deflate alone cost 0.03-0.1 %
 * geomean (up to 0.5 % on a pair); LZMA for all cost up to 25 % more CPU
 * on the large pairs than this shortlist, for the same sizes. */
#define SHORTLIST 256

/* Images up to this size remember every search (8 bytes per new byte, at
 * most 32 MiB), so the candidates after the first cost little. Larger
 * images search afresh for each candidate: slower, but memory stays near
 * the suffix array's 4 bytes per old byte plus the images. */
#define MEMO_MAX_NEW (4u << 20)

typedef struct cand_job {
    const od_diff_params *p;
    meter *m;
    const uint8_t *old, *nw;
    size_t old_size, new_size;
    const int32_t *sa;
    uint64_t *memo;
    const uint32_t *segs; /* nsegs + 1 segment starts in new */
    uint32_t nsegs;
    od_codec_cfg quick, rank; /* deflate shortlist, LZMA ranking */
    od_op_list *ops;  /* one per candidate */
    uint64_t *hash;   /* nsegs per candidate: hash of the segment stream */
    size_t *qcost;    /* nsegs per candidate: deflate size, for the shortlist */
    size_t *cost;     /* nsegs per candidate: quick LZMA size, or SIZE_MAX */
} cand_job;

/* FNV-1a: tells which segment streams candidates share. */
static uint64_t stream_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ n;
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* The per-segment streams of candidate t, into raw (emptied first). */
static int candidate_streams(cand_job *j, size_t t, od_bytes *raw, size_t *offs)
{
    raw->len = 0;
    /* Ranked unfiltered: ranking with the thumb filter measured the same. */
    return build_streams(j->p, &j->ops[t], j->old, j->nw, j->segs, j->nsegs, OD_FILTER_NONE, raw,
                         offs);
}

/* The first candidate scanning with the same settings as t: only the
 * pruning differs, so they share one scan. */
static size_t scan_owner(size_t t)
{
    size_t u;
    for (u = 0; u < t; u++)
        if (candidates[u].threshold == candidates[t].threshold &&
            candidates[u].ext == candidates[t].ext)
            return u;
    return t;
}

/* Hashes and deflates every segment stream of candidate t. */
static int measure_candidate(cand_job *j, size_t t, od_bytes *raw, size_t *offs)
{
    od_bytes z = {0};
    uint32_t g;
    int r = candidate_streams(j, t, raw, offs);
    for (g = 0; g < j->nsegs && r == OD_DIFF_OK; g++) {
        j->hash[t * j->nsegs + g] = stream_hash(raw->p + offs[g], offs[g + 1] - offs[g]);
        z.len = 0;
        r = od__compress_block(&j->quick, NULL, raw->p + offs[g], offs[g + 1] - offs[g], &z);
        j->qcost[t * j->nsegs + g] = z.len;
    }
    free(z.p);
    return r;
}

/* Scans once for candidate t and every later one it owns, then prunes. */
static int match_candidate(void *ctx, size_t t, od_codec_state **enc)
{
    cand_job *j = ctx;
    od_bytes raw = {0};
    size_t *offs, s;
    int r;

    (void)enc;
    if (scan_owner(t) != t)
        return OD_DIFF_OK;
    if (!(offs = malloc(sizeof(*offs) * (j->nsegs + 1))))
        return OD_DIFF_ERR_NOMEM;
    r = od__match(j->old, j->old_size, j->sa, j->nw, j->new_size, candidates[t].threshold,
                  candidates[t].ext, j->memo, &j->ops[t], meter_stopped, j->m);
    /* Later owned candidates first: they copy the scan before t prunes it. */
    for (s = NCAND; s-- > t && r == OD_DIFF_OK;) {
        od_op_list *l = &j->ops[s];
        if (scan_owner(s) != t)
            continue;
        if (s != t) {
            l->count = l->cap = j->ops[t].count;
            if (!(l->ops = malloc(sizeof(*l->ops) * (l->cap ? l->cap : 1)))) {
                r = OD_DIFF_ERR_NOMEM;
                break;
            }
            memcpy(l->ops, j->ops[t].ops, sizeof(*l->ops) * l->count);
        }
        prune(s, l, j->old, j->nw);
        r = measure_candidate(j, s, &raw, offs);
    }
    free(offs);
    free(raw.p);
    return r;
}

/* The first earlier candidate with the same stream for segment g, or t.
 * Candidates agree on much of an image, and an equal stream compresses to
 * an equal size; a hash collision could only misrank, deterministically. */
static size_t same_as(const cand_job *j, size_t t, uint32_t g)
{
    size_t u;
    for (u = 0; u < t; u++)
        if (j->hash[u * j->nsegs + g] == j->hash[t * j->nsegs + g])
            return u;
    return t;
}

/* Whether candidate t's own stream for segment g is within 1/SHORTLIST of
 * the smallest deflate size there. */
static int near_best(const cand_job *j, size_t t, uint32_t g)
{
    size_t u, best = SIZE_MAX;
    for (u = 0; u < NCAND; u++)
        if (j->qcost[u * j->nsegs + g] < best)
            best = j->qcost[u * j->nsegs + g];
    return same_as(j, t, g) == t && j->qcost[t * j->nsegs + g] <= best + best / SHORTLIST;
}

/* How many candidates are near the best for segment g (counting to 2). */
static int near_count(const cand_job *j, uint32_t g)
{
    size_t u;
    int n = 0;
    for (u = 0; u < NCAND && n < 2; u++)
        n += near_best(j, u, g);
    return n;
}

/* Compresses candidate t's shortlisted segments with quick LZMA. */
static int rank_candidate(void *ctx, size_t t, od_codec_state **enc)
{
    cand_job *j = ctx;
    od_bytes raw = {0}, z = {0};
    size_t *offs = NULL, *cost = j->cost + t * j->nsegs;
    uint32_t g, todo = 0;
    int r = OD_DIFF_OK;

    /* SIZE_MAX: off the shortlist; 0: alone on it, so it wins unmeasured;
     * 1: to be measured. */
    for (g = 0; g < j->nsegs; g++) {
        cost[g] = !near_best(j, t, g) ? SIZE_MAX : near_count(j, g) == 1 ? 0 : 1;
        todo += cost[g] == 1;
    }
    if (!todo)
        return OD_DIFF_OK;
    if (!(offs = malloc(sizeof(*offs) * (j->nsegs + 1))))
        return OD_DIFF_ERR_NOMEM;
    r = candidate_streams(j, t, &raw, offs);
    for (g = 0; g < j->nsegs && r == OD_DIFF_OK; g++) {
        if (cost[g] != 1)
            continue;
        z.len = 0;
        r = od__compress_block(&j->rank, enc, raw.p + offs[g], offs[g + 1] - offs[g], &z);
        cost[g] = z.len;
    }
    free(offs);
    free(raw.p);
    free(z.p);
    return r;
}

typedef struct op_cursor {
    size_t k;   /* first op not yet wholly consumed */
    uint64_t s; /* new offset where it begins */
} op_cursor;

/* Appends src's ops for new[a..b) to dst, clipped at both ends; ranges
 * must come in increasing order for one cursor. */
static int clip_ops(const od_op_list *src, op_cursor *cur, uint64_t a, uint64_t b,
                    od_op_list *dst)
{
    while (cur->k < src->count && cur->s < b) {
        const od_op *o = &src->ops[cur->k];
        uint64_t add_end = cur->s + o->add, end = add_end + o->extra;
        if (end > a) {
            uint64_t lo = cur->s > a ? cur->s : a, hi = end < b ? end : b;
            uint32_t add = lo < add_end ? (uint32_t)((hi < add_end ? hi : add_end) - lo) : 0;
            uint32_t start = o->old_start + (uint32_t)((lo < add_end ? lo : add_end) - cur->s);
            int r = od__push_op(dst, start, add, (uint32_t)(hi - lo) - add);
            if (r)
                return r;
        }
        if (end > b)
            break; /* the rest of this op belongs to a later range */
        cur->s = end;
        cur->k++;
    }
    return OD_DIFF_OK;
}

/* Runs every candidate and stitches the best one of each segment into
 * best (which must be empty). */
static int choose_ops(const od_diff_params *p, const uint8_t *old, size_t old_size,
                      const int32_t *sa, const uint8_t *nw, size_t new_size, meter *m,
                      od_op_list *best)
{
    cand_job j;
    op_cursor cur[NCAND];
    uint32_t *segs = NULL, g, ram;
    size_t t, *win = NULL;
    int r;

    memset(&j, 0, sizeof(j));
    memset(cur, 0, sizeof(cur));
    j.p = p;
    j.m = m;
    j.old = old;
    j.old_size = old_size;
    j.nw = nw;
    j.new_size = new_size;
    j.sa = sa;
    j.nsegs = (uint32_t)((new_size + SEGMENT - 1) / SEGMENT);
    /* Each segment's stream is compressed on its own, so a dictionary
     * beyond a segment's stream (its output plus op headers: well under
     * twice SEGMENT) is never used, but each worker's encoder would still
     * allocate its tables for it: with a 64 MiB budget, 400 MB of address
     * space per thread. */
    if ((r = plan(p, 2 * SEGMENT, &j.rank, &ram)) != OD_DIFF_OK)
        return r;
    j.rank.level = OD_LEVEL_RANK;
    /* A deflate window near the LZMA dictionary sees the same history.
     * Without a codec the raw size is the package's size, and the cheapest
     * measure too, so it shortlists as well (measured against the deflate
     * shortlist: none packages 0.5 % smaller, uboot-arm 4.6 %). */
    j.quick = j.rank;
    if (j.rank.codec != OD_CODEC_NONE) {
        j.quick.codec = OD_CODEC_DEFLATE;
        for (j.quick.props = 9; j.quick.props < 15 && (1u << j.quick.props) < j.rank.dict_size;)
            j.quick.props++;
    }
    segs = malloc(sizeof(*segs) * (j.nsegs + 1));
    win = malloc(sizeof(*win) * (j.nsegs + 1));
    j.ops = calloc(NCAND, sizeof(*j.ops));
    j.cost = calloc((size_t)j.nsegs * NCAND + 1, sizeof(*j.cost));
    j.qcost = calloc((size_t)j.nsegs * NCAND + 1, sizeof(*j.qcost));
    j.hash = calloc((size_t)j.nsegs * NCAND + 1, sizeof(*j.hash));
    if (!segs || !win || !j.ops || !j.cost || !j.qcost || !j.hash) {
        r = OD_DIFF_ERR_NOMEM;
        goto done;
    }
    for (g = 0; g < j.nsegs; g++)
        segs[g] = g * SEGMENT;
    segs[j.nsegs] = (uint32_t)new_size;
    j.segs = segs;
    if (new_size <= MEMO_MAX_NEW && (j.memo = malloc(new_size * sizeof(*j.memo))) != NULL)
        memset(j.memo, 0xFF, new_size * sizeof(*j.memo));
    /* Deflate, the cheaper one, shortlists; quick LZMA decides. */
    meter_phase(m, 50, 550, NCAND);
    if ((r = par_for(NCAND, match_candidate, &j, m)) != OD_DIFF_OK)
        goto done;
    meter_phase(m, 600, 100, NCAND);
    if ((r = par_for(NCAND, rank_candidate, &j, m)) != OD_DIFF_OK)
        goto done;
    for (t = 1; t < NCAND; t++)
        for (g = 0; g < j.nsegs; g++)
            if (same_as(&j, t, g) != t)
                j.cost[t * j.nsegs + g] = j.cost[same_as(&j, t, g) * j.nsegs + g];

    /* Ties go to the earlier candidate, so the choice is deterministic. */
    for (g = 0; g < j.nsegs; g++) {
        win[g] = 0;
        for (t = 1; t < NCAND; t++)
            if (j.cost[t * j.nsegs + g] < j.cost[win[g] * j.nsegs + g])
                win[g] = t;
    }
    /* Runs of segments with one winner are clipped as one range, so no op
     * is cut where nothing changes hands. */
    for (g = 0; g < j.nsegs && r == OD_DIFF_OK;) {
        uint32_t e = g + 1;
        while (e < j.nsegs && win[e] == win[g])
            e++;
        r = clip_ops(&j.ops[win[g]], &cur[win[g]], segs[g], segs[e], best);
        g = e;
    }
done:
    if (j.ops)
        for (t = 0; t < NCAND; t++)
            free(j.ops[t].ops);
    free(j.ops);
    free(j.cost);
    free(j.qcost);
    free(j.hash);
    free(j.memo);
    free(segs);
    free(win);
    return r;
}

int od_diff_create(const uint8_t *old, size_t old_size, const uint8_t *nw, size_t new_size,
                   const od_diff_params *p, uint8_t **out, size_t *out_size)
{
    od_op_list best = {0};
    od_codec_cfg codec;
    int32_t *sa = NULL;
    uint32_t ram_needed;
    meter m;
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

    memset(&m, 0, sizeof(m));
    m.p = p;
    pthread_mutex_init(&m.mu, NULL);
    if (meter_stopped(&m))
        r = OD_DIFF_ERR_CANCELLED;
    else if (p->kind == OD_KIND_DELTA) {
        meter_phase(&m, 0, 50, 1);
        if (old_size && new_size && !(sa = od__suffix_array(old, old_size)))
            r = OD_DIFF_ERR_NOMEM;
        else if (sa && p->effort == OD_DIFF_EFFORT_BEST)
            r = choose_ops(p, old, old_size, sa, nw, new_size, &m, &best);
        else if (sa) {
            meter_phase(&m, 50, 650, new_size / OD_MATCH_POLL + 1);
            r = match_one(FAST_CAND, old, old_size, sa, nw, new_size, &m, &best);
        } else /* with nothing to match, every candidate gives the same ops */
            r = match_one(0, old, old_size, sa, nw, new_size, NULL, &best);
        free(sa);
    }
    if (r == OD_DIFF_OK && !meter_stopped(&m))
        r = build_package(p, &best, old, old_size, nw, new_size, &m, out, out_size);
    else if (r == OD_DIFF_OK)
        r = OD_DIFF_ERR_CANCELLED;
    if (r == OD_DIFF_OK) {
        pthread_mutex_lock(&m.mu);
        meter_show(&m, METER_SCALE);
        pthread_mutex_unlock(&m.mu);
    }
    pthread_mutex_destroy(&m.mu);
    free(best.ops);
    return r;
}
