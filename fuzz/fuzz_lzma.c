/*
 * fuzz_lzma.c - the applier's raw LZMA1 decoder alone.
 *
 * Input: props byte, dictionary selector, input-chunk selector,
 * output-chunk selector, then the stream. The stream is decoded twice:
 * in one call with a large output buffer, and again fed in small chunks
 * (1 byte when a selector says so) into small, exactly sized output
 * buffers (ASan catches a byte written past one). Both runs must end the
 * same way, and when the stream ends both outputs must be equal.
 */
#include <string.h>

#include "od_fuzz.h"
#include "od_lzma.h"

#define OUT_MAX (64u * 1024u)

typedef struct run {
    int status;      /* final od_lzma_ret, or 2 = input ran out */
    size_t in_used;
    size_t out_len;
} run;

static int setup(od_lzma_dec *d, uint8_t props, uint32_t dict, void **work)
{
    uint32_t lc = props % 9u, lp = (props / 9u) % 5u;
    size_t ws = props < 225 && lc + lp <= 8 ? OD_LZMA_WORKSPACE(lc, lp, dict) : 64;
    *work = malloc(ws);
    if (!*work)
        return -100;
    return od_lzma_init(d, props, dict, *work, ws);
}

/* Decodes in[0..n) with the given chunking into out (OUT_MAX bytes). */
static run decode(uint8_t props, uint32_t dict, const uint8_t *in, size_t n, size_t ichunk,
                  size_t ochunk, uint8_t *out)
{
    od_lzma_dec d;
    void *work = NULL;
    run res = {0, 0, 0};
    size_t stalls = 0;
    uint8_t *ob = NULL;
    int r = setup(&d, props, dict, &work);

    if (r == -100) {
        res.status = -100;
        return res;
    }
    if (r != OD_LZMA_OK) {
        res.status = r;
        free(work);
        return res;
    }
    /* One output buffer of exactly ochunk bytes: a byte written past the
     * room offered lands outside it and ASan reports it. */
    ob = malloc(ochunk);
    OD_FUZZ_ASSERT(ob != NULL);
    for (;;) {
        size_t ie = n - res.in_used < ichunk ? n : res.in_used + ichunk;
        size_t room = OUT_MAX - res.out_len < ochunk ? OUT_MAX - res.out_len : ochunk;
        size_t ip = res.in_used, op = 0;
        r = od_lzma_decode(&d, in, &ip, ie, ob, &op, room);
        OD_FUZZ_ASSERT(ip >= res.in_used && ip <= ie && op <= room);
        memcpy(out + res.out_len, ob, op);
        stalls = ip == res.in_used && op == 0 ? stalls + 1 : 0;
        res.in_used = ip;
        res.out_len += op;
        if (r != OD_LZMA_OK && r != OD_LZMA_BUF_ERROR) {
            res.status = r;
            break;
        }
        if (res.out_len == OUT_MAX) {
            res.status = 3; /* output limit: not compared */
            break;
        }
        if (res.in_used == n && (op == 0 || r == OD_LZMA_BUF_ERROR)) {
            res.status = 2;
            break;
        }
        /* Input and output room were offered: more than two idle calls in a
         * row would be a hang. */
        OD_FUZZ_ASSERT(stalls < 3);
    }
    OD_FUZZ_ASSERT(r >= OD_LZMA_BUF_ERROR && r <= OD_LZMA_STREAM_END);
    if (r == OD_LZMA_STREAM_END) {
        /* Sticky: a later call takes nothing and still says STREAM_END. */
        size_t ip = 0, op = 0;
        uint8_t x;
        OD_FUZZ_ASSERT(od_lzma_decode(&d, in, &ip, n, &x, &op, 1) == OD_LZMA_STREAM_END);
        OD_FUZZ_ASSERT(ip == 0 && op == 0);
    }
    free(ob);
    free(work);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t props = od_fuzz_take(&data, &size);
    uint8_t dsel = od_fuzz_take(&data, &size);
    uint8_t isel = od_fuzz_take(&data, &size);
    uint8_t osel = od_fuzz_take(&data, &size);
    uint32_t dict = (4096u << (dsel & 3)) + (dsel & 4 ? 4096u * (uint32_t)(dsel >> 3) : 0);
    size_t ichunk = isel & 0x80 ? 1 : (size_t)(isel & 0x7F) + 1;
    size_t ochunk = osel & 0x80 ? 1 : (size_t)(osel & 0x7F) + 1;
    uint8_t *a = malloc(OUT_MAX), *b = malloc(OUT_MAX);
    run ra, rb;

    if (!a || !b)
        goto out;
    ra = decode(props, dict, data, size, size ? size : 1, OUT_MAX, a);
    rb = decode(props, dict, data, size, ichunk, ochunk, b);
    if (ra.status != 3 && rb.status != 3 && ra.status != -100 && rb.status != -100) {
        OD_FUZZ_ASSERT(ra.status == rb.status);
        if (ra.status == OD_LZMA_STREAM_END) {
            OD_FUZZ_ASSERT(ra.out_len == rb.out_len && ra.in_used == rb.in_used);
            OD_FUZZ_ASSERT(memcmp(a, b, ra.out_len) == 0);
        }
    }
out:
    free(a);
    free(b);
    return 0;
}
