/*
 * od_srv_range.c - Range header interpretation with OneNET's rules, and
 * the validators of conditional requests (RFC 9110 13.1).
 *
 * OneNET never answers 416: devices in the field send odd ranges (off by
 * one at the end, stale offsets after a package changed) and expect the
 * platform to clamp. We do the same, so the same device code works here.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include "od_srv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* ------------------------------------------------------------------ */
/* Conditional requests                                                 */

int od_srv_etag_match(const char *list, const char *etag, int weak)
{
    const char *p = list;
    size_t elen = etag ? strlen(etag) : 0;
    int any = 0;

    if (!p || !elen)
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '*') {
        for (p++; *p == ' ' || *p == '\t'; p++)
            ;
        return *p == '\0';
    }
    /* #entity-tag: empty elements (",,") are allowed, OWS around commas. */
    for (;;) {
        const char *open;
        int is_weak = 0;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = 1;
            p += 2;
        }
        if (*p != '"')
            return 0;
        open = p++;
        /* etagc: %x21 / %x23-7E / obs-text; a comma may be inside. */
        while (*p && *p != '"' && ((unsigned char)*p >= 0x21 && (unsigned char)*p != 0x7f))
            p++;
        if (*p != '"')
            return 0;
        p++;
        if ((weak || !is_weak) && (size_t)(p - open) == elen && !memcmp(open, etag, elen))
            any = 1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ',' && *p != '\0')
            return 0;
    }
    return any;
}

/* Index of a three-letter English name in names (12 or 7 of them), or
 * -1; HTTP-date names are case-sensitive. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strncmp(s, names[i], 3))
            return i;
    return -1;
}

/* Days from 1970-01-01 to y-m-d (m 1..12), proleptic Gregorian; valid for
 * every year an HTTP-date can carry. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int od_srv_http_date_parse(const char *s, int64_t *out)
{
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const long_days[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                             "Friday", "Saturday", "Sunday"};
    char mon[4] = "", dname[10] = "";
    int y, d, hh, mm, ss, n = 0, m;

    if (!s)
        return -1;
    /* Fixed widths (%2d etc. would take " 6" where two digits are due);
     * the %n at the end makes sure nothing follows. */
    if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", dname, &d, mon, &y, &hh,
               &mm, &ss, &n) == 7 && n && !s[n] && strlen(s) == 29 &&
        name_index(dname, days, 7) >= 0) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    } else if (n = 0, sscanf(s, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", dname, &d,
                             mon, &y, &hh, &mm, &ss, &n) == 7 && n && !s[n]) {
        /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT". Its two-digit
         * year is the one of this century, unless that is more than 50
         * years ahead: then the last century's (RFC 9110 5.6.7). */
        int known = 0, now_y;
        struct tm tm;
        time_t now = time(NULL);
        for (int i = 0; i < 7; i++)
            known |= !strcmp(dname, long_days[i]);
        if (!known || y < 0 || !gmtime_r(&now, &tm))
            return -1;
        now_y = tm.tm_year + 1900;
        y += now_y - now_y % 100;
        if (y > now_y + 50)
            y -= 100;
    } else if (n = 0, sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", dname, mon, &d,
                             &hh, &mm, &ss, &y, &n) == 7 && n && !s[n] && strlen(s) == 24 &&
               name_index(dname, days, 7) >= 0) {
        /* asctime-date: "Sun Nov  6 08:49:37 1994" */
    } else {
        return -1;
    }
    m = name_index(mon, months, 12);
    if (m < 0 || strlen(mon) != 3 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 ||
        hh < 0 || mm < 0 || ss < 0 || y < 0)
        return -1;
    *out = days_from_civil(y, m + 1, d) * 86400 + hh * 3600 + mm * 60 + (ss > 59 ? 59 : ss);
    return 0;
}
