/*
 * od_srv_range.c - Range header interpretation with OneNET's rules.
 *
 * OneNET never answers 416: devices in the field send odd ranges (off by
 * one at the end, stale offsets after a package changed) and expect the
 * platform to clamp. We do the same, so the same device code works here.
 */
#include "od_srv.h"

#include <string.h>
#include <strings.h>

/* Parses 1..19 decimal digits without a leading zero (except "0" itself).
 * OneNET reads "01-02" as malformed, not as 1-2; we follow it. */
static int parse_num(const char **pp, uint64_t *v)
{
    const char *p = *pp;
    uint64_t n = 0;
    int digits = 0;

    while (*p >= '0' && *p <= '9') {
        if (digits == 19)
            return -1; /* would not fit; also no real file is that big */
        n = n * 10 + (uint64_t)(*p - '0');
        digits++;
        p++;
    }
    if (digits == 0 || (digits > 1 && **pp == '0'))
        return -1;
    *pp = p;
    *v = n;
    return 0;
}

static void whole(uint64_t len, od_srv_range *r)
{
    r->partial = 0;
    r->start = 0;
    r->end = len ? len - 1 : 0;
}

void od_srv_range_parse(const char *hdr, uint64_t len, od_srv_range *r)
{
    const char *p = hdr;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;

    whole(len, r);
    if (!p || len == 0)
        return;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!strncasecmp(p, "bytes=", 6)) /* units are case-insensitive (RFC 9110, 14.1) */
        p += 6;
    while (*p == ' ')
        p++;
    if (*p != '-') {
        if (parse_num(&p, &a) != 0)
            return;
        has_a = 1;
    }
    if (*p != '-')
        return;
    p++;
    if (*p >= '0' && *p <= '9') {
        if (parse_num(&p, &b) != 0)
            return;
        has_b = 1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0') /* trailing junk or a second range: malformed */
        return;
    if (!has_a && !has_b)
        return; /* "-" alone */

    if (!has_a) {
        /* Suffix form: the last b bytes. */
        r->partial = 1;
        r->end = len - 1;
        r->start = (b == 0 || b >= len) ? 0 : len - b;
        return;
    }
    if (!has_b)
        b = len - 1;
    if (a >= len)
        a = 0;
    if (b >= len)
        b = len - 1;
    if (a > b)
        a = 0;
    r->partial = 1;
    r->start = a;
    r->end = b;
}
