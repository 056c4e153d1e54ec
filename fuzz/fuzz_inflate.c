/*
 * fuzz_inflate.c - the applier's raw DEFLATE decoder alone.
 *
 * Input: window selector, input-chunk selector, output-chunk selector,
 * then the stream. Decoded twice, in one call and in small chunks (1 byte
 * when a selector says so) into exactly sized output buffers; both runs
 * must end the same way and, when the stream ends, agree byte for byte.
 */
#include <string.h>

#include "od_fuzz.h"
#include "od_inflate.h"

#define OUT_MAX (64u * 1024u)

typedef struct run {
    int status;      /* final od_inflate_ret, 2 = input ran out, 3 = output limit */
    size_t in_used;
    size_t out_len;
} run;

static run decode(size_t wsize, const uint8_t *in, size_t n, size_t ichunk, size_t ochunk,
                  uint8_t *out)
{
    od_inflate_dec *d = malloc(sizeof(*d));
    uint8_t *win = malloc(wsize);
    run res = {0, 0, 0};
    size_t stalls = 0;
    uint8_t *ob = NULL;
    int r;

    OD_FUZZ_ASSERT(d && win);
    r = od_inflate_init(d, win, wsize);
    if (r != OD_INFLATE_OK) {
        res.status = r;
        goto done;
    }
    /* One output buffer of exactly ochunk bytes: a byte written past the
     * room offered lands outside it and ASan reports it. */
    ob = malloc(ochunk);
    OD_FUZZ_ASSERT(ob != NULL);
    for (;;) {
        size_t ie = n - res.in_used < ichunk ? n : res.in_used + ichunk;
        size_t room = OUT_MAX - res.out_len < ochunk ? OUT_MAX - res.out_len : ochunk;
        size_t ip = res.in_used, op = 0;
        r = od_inflate_decode(d, in, &ip, ie, ob, &op, room);
        OD_FUZZ_ASSERT(ip >= res.in_used && ip <= ie && op <= room);
        memcpy(out + res.out_len, ob, op);
        stalls = ip == res.in_used && op == 0 ? stalls + 1 : 0;
        res.in_used = ip;
        res.out_len += op;
        if (r != OD_INFLATE_OK && r != OD_INFLATE_BUF_ERROR) {
            res.status = r;
            break;
        }
        if (res.out_len == OUT_MAX) {
            res.status = 3;
            break;
        }
        if (res.in_used == n && (op == 0 || r == OD_INFLATE_BUF_ERROR)) {
            res.status = 2;
            break;
        }
        OD_FUZZ_ASSERT(stalls < 3);
    }
    OD_FUZZ_ASSERT(r >= OD_INFLATE_BUF_ERROR && r <= OD_INFLATE_STREAM_END);
    if (r == OD_INFLATE_STREAM_END) {
        size_t ip = 0, op = 0;
        uint8_t x;
        OD_FUZZ_ASSERT(od_inflate_decode(d, in, &ip, n, &x, &op, 1) == OD_INFLATE_STREAM_END);
        OD_FUZZ_ASSERT(ip == 0 && op == 0);
    }
    free(ob);
done:
    free(win);
    free(d);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t wsel = od_fuzz_take(&data, &size);
    uint8_t isel = od_fuzz_take(&data, &size);
    uint8_t osel = od_fuzz_take(&data, &size);
    /* 256..32768, and now and then a size the decoder must refuse. */
    size_t wsize = wsel == 0xFF ? 1000 : (size_t)256 << (wsel & 7);
    size_t ichunk = isel & 0x80 ? 1 : (size_t)(isel & 0x7F) + 1;
    size_t ochunk = osel & 0x80 ? 1 : (size_t)(osel & 0x7F) + 1;
    uint8_t *a = malloc(OUT_MAX), *b = malloc(OUT_MAX);
    run ra, rb;

    if (!a || !b)
        goto out;
    ra = decode(wsize, data, size, size ? size : 1, OUT_MAX, a);
    rb = decode(wsize, data, size, ichunk, ochunk, b);
    if (ra.status != 3 && rb.status != 3) {
        OD_FUZZ_ASSERT(ra.status == rb.status);
        if (ra.status == OD_INFLATE_STREAM_END) {
            OD_FUZZ_ASSERT(ra.out_len == rb.out_len && ra.in_used == rb.in_used);
            OD_FUZZ_ASSERT(memcmp(a, b, ra.out_len) == 0);
        }
    }
out:
    free(a);
    free(b);
    return 0;
}
