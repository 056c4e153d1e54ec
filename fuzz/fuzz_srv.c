/*
 * fuzz_srv.c - the server's hand-written parsers of untrusted requests:
 * the OneNET Authorization token (od_srv_token_parse/verify) and the Range
 * header (od_srv_range_parse), plus the device state machine a device
 * drives with its progress reports.
 *
 * Input: one mode byte, then
 *   mode % 3 == 0: the Authorization header value;
 *   mode % 3 == 1: 8 bytes of file length (little-endian, up to 2^40),
 *                  then the Range header value;
 *   mode % 3 == 2: a byte of retry limit, then reported steps, 2 bytes each.
 */
#include <string.h>

#include "od_fuzz.h"
#include "od_srv.h"

static const char *const key = "KuF3NT/jUBJ62LNBB/A8XZA9CqS3Cu79B/ABmfA1UCw=";

/* A bounded field of the token is a C string within its array. */
static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void token(const char *hdr)
{
    od_srv_token t;
    char again[OD_SRV_TOKEN_MAX];
    od_srv_token t2;

    if (od_srv_token_parse(hdr, &t) != OD_SRV_OK)
        return;
    OD_FUZZ_ASSERT(terminated(t.version, sizeof(t.version)));
    OD_FUZZ_ASSERT(terminated(t.res, sizeof(t.res)));
    OD_FUZZ_ASSERT(terminated(t.sign, sizeof(t.sign)));
    /* Any answer is fine; it must not crash or read out of bounds. */
    (void)od_srv_token_verify(&t, key, 0);
    /* What parses can be rebuilt, signed, and parses to the same fields. */
    if (od_srv_token_build(key, t.version, t.res, t.et, t.method, again, sizeof(again)) ==
        OD_SRV_OK) {
        OD_FUZZ_ASSERT(od_srv_token_parse(again, &t2) == OD_SRV_OK);
        OD_FUZZ_ASSERT(!strcmp(t2.version, t.version) && !strcmp(t2.res, t.res));
        OD_FUZZ_ASSERT(t2.et == t.et && t2.method == t.method);
        OD_FUZZ_ASSERT(od_srv_token_verify(&t2, key, t.et) == OD_SRV_OK);
    }
}

static void range(const uint8_t *data, size_t size)
{
    uint64_t len = 0;
    od_srv_range r;
    char *hdr;
    size_t i;

    if (size < 8)
        return;
    for (i = 0; i < 8; i++)
        len |= (uint64_t)data[i] << (8 * i);
    len &= (1ull << 40) - 1;
    hdr = malloc(size - 8 + 1);
    if (!hdr)
        return;
    memcpy(hdr, data + 8, size - 8);
    hdr[size - 8] = '\0';
    od_srv_range_parse(hdr, len, &r);
    /* Whatever was asked, what is served lies inside the file. */
    if (len) {
        OD_FUZZ_ASSERT(r.start <= r.end && r.end < len);
        if (!r.partial)
            OD_FUZZ_ASSERT(r.start == 0 && r.end == len - 1);
    }
    free(hdr);
}

static void device(const uint8_t *data, size_t size)
{
    od_srv_dev_fsm d;
    int max_retry;

    if (size < 1)
        return;
    max_retry = data[0] % 101;
    memset(&d, 0, sizeof(d));
    d.state = OD_SRV_DEV_PENDING;
    for (size_t i = 1; i + 1 < size; i += 2) {
        int step = (int)(data[i] | data[i + 1] << 8) % 1200 - 100;
        int was = d.state;
        if (step == -100)
            (void)od_srv_dev_token_check(&d);
        else if (step == -99 || step == -98)
            od_srv_dev_checked(&d, step == -98); /* a check; -98: another package */
        else
            (void)od_srv_dev_report(&d, step, max_retry);
        OD_FUZZ_ASSERT(d.state >= OD_SRV_DEV_PENDING && d.state <= OD_SRV_DEV_CANCELLED);
        OD_FUZZ_ASSERT(d.percent >= 0 && d.percent <= 100);
        OD_FUZZ_ASSERT(d.retries >= 0 && d.retries <= max_retry + 1);
        /* The download sub-state follows the state (docs/API.md). */
        if (d.state == OD_SRV_DEV_PENDING)
            OD_FUZZ_ASSERT(d.dl_state == OD_SRV_DL_NONE && d.percent == 0);
        if (d.state == OD_SRV_DEV_DOWNLOADING)
            OD_FUZZ_ASSERT(d.dl_state == OD_SRV_DL_RUNNING);
        if (d.state == OD_SRV_DEV_UPGRADING || d.state == OD_SRV_DEV_SUCCEEDED)
            OD_FUZZ_ASSERT(d.dl_state == OD_SRV_DL_DONE);
        if (od_srv_dev_terminal(d.state))
            OD_FUZZ_ASSERT(d.dl_state != OD_SRV_DL_RUNNING);
        /* A finished row stays finished. */
        if (od_srv_dev_terminal(was))
            OD_FUZZ_ASSERT(d.state == was);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned mode = od_fuzz_take(&data, &size) % 3;
    char *hdr;

    if (mode == 1) {
        range(data, size);
        return 0;
    }
    if (mode == 2) {
        device(data, size);
        return 0;
    }
    hdr = malloc(size + 1);
    if (!hdr)
        return 0;
    memcpy(hdr, data, size);
    hdr[size] = '\0';
    token(hdr);
    free(hdr);
    return 0;
}
