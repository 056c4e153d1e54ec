/*
 * od_srv_test_unit.c - unit tests for the server's pure parts: OneNET
 * tokens (the documented test vectors), Range parsing and clamping, the
 * validators of conditional requests, and the task and device state
 * machines.
 */
#include "od_srv.h"
#include "od_test.h"

#include <stdio.h>
#include <string.h>

static const char *const sample_key = "KuF3NT/jUBJ62LNBB/A8XZA9CqS3Cu79B/ABmfA1UCw=";

static void test_token_vectors(void)
{
    static const struct {
        const char *version, *res;
        int method;
        const char *sign;
    } v[] = {
        {"2018-10-31", "products/123123", OD_SRV_SIG_MD5, "M3jB6jcSNUuGcvW3dFcrWA=="},
        {"2018-10-31", "products/123123", OD_SRV_SIG_SHA1, "lsaPSiiGvEFFjXu5WU7a6IkScqE="},
        {"2018-10-31", "products/123123", OD_SRV_SIG_SHA256,
         "tuFMd8Cc5krZO+RiNaW4mad5tauSFq2J89Gd70MXQPI="},
        {"2022-05-01", "userid/123", OD_SRV_SIG_SHA1, "b3PZb6EXM/PEuOW+ehcI7WUbY8w="},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char sign[96];
        OD_CHECK_EQ(od_srv_token_sign(sample_key, v[i].version, v[i].res,
                                      1537255523, v[i].method, sign,
                                      sizeof(sign)),
                    OD_SRV_OK);
        OD_CHECK(!strcmp(sign, v[i].sign));
    }
}

static void test_token_header(void)
{
    char hdr[OD_SRV_TOKEN_MAX];
    od_srv_token t;

    OD_REQUIRE(od_srv_token_build(sample_key, "2018-10-31", "products/123123",
                                  1537255523, OD_SRV_SIG_MD5, hdr,
                                  sizeof(hdr)) == OD_SRV_OK);
    OD_CHECK(!strcmp(hdr, "version=2018-10-31&res=products%2F123123&et=1537255523"
                          "&method=md5&sign=M3jB6jcSNUuGcvW3dFcrWA%3D%3D"));
    OD_REQUIRE(od_srv_token_parse(hdr, &t) == OD_SRV_OK);
    OD_CHECK(!strcmp(t.res, "products/123123"));
    OD_CHECK(!strcmp(t.sign, "M3jB6jcSNUuGcvW3dFcrWA=="));
    OD_CHECK_EQ(t.et, 1537255523);
    OD_CHECK_EQ(t.method, OD_SRV_SIG_MD5);
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 1537255523), OD_SRV_OK);
    /* Expired one second later. */
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 1537255524), OD_SRV_ERR_AUTH);
    /* Wrong key. */
    OD_CHECK_EQ(od_srv_token_verify(&t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0),
                OD_SRV_ERR_AUTH);
    /* Forged: the resource changed but the signature kept. */
    strcpy(t.res, "products/123124");
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 0), OD_SRV_ERR_AUTH);
    /* Forged: a later expiry with the old signature. */
    OD_REQUIRE(od_srv_token_parse(hdr, &t) == OD_SRV_OK);
    t.et += 1000;
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 0), OD_SRV_ERR_AUTH);

    /* Unescaped sign with literal '+' and '=' (sloppy devices). */
    OD_REQUIRE(od_srv_token_parse("version=2018-10-31&res=products/123123&et=1537255523"
                                  "&method=sha256&sign=tuFMd8Cc5krZO+RiNaW4mad5tauSFq2J89Gd70MXQPI=",
                                  &t) == OD_SRV_OK);
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 100), OD_SRV_OK);
    /* 2022 user token vector through the whole header. */
    OD_REQUIRE(od_srv_token_build(sample_key, "2022-05-01", "userid/123", 1537255523,
                                  OD_SRV_SIG_SHA1, hdr, sizeof(hdr)) == OD_SRV_OK);
    OD_CHECK(strstr(hdr, "sign=b3PZb6EXM%2FPEuOW%2BehcI7WUbY8w%3D") != NULL);
    /* and back: the server reads res as userid/123 and verifies it. */
    OD_REQUIRE(od_srv_token_parse(hdr, &t) == OD_SRV_OK);
    OD_CHECK(!strcmp(t.res, "userid/123") && !strcmp(t.version, "2022-05-01"));
    OD_CHECK_EQ(od_srv_token_verify(&t, sample_key, 1537255523), OD_SRV_OK);
}

static void test_token_malformed(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "version=2018-10-31&res=products%2F1&et=1&method=md5",            /* no sign */
        "version=2018-10-31&res=products%2F1&et=1&method=md4&sign=AA==",  /* method */
        "version=2017-01-01&res=products%2F1&et=1&method=md5&sign=AA==",  /* version */
        "version=2018-10-31&res=products%2F1&et=x1&method=md5&sign=AA==", /* et */
        "version=2018-10-31&res=products%2F1&et=1&et=2&method=md5&sign=AA==",
        "version=2018-10-31&res=products%2&et=1&method=md5&sign=AA==",   /* escape */
        "version=2018-10-31&res=a%00b&et=1&method=md5&sign=AA==",        /* NUL */
        "version=2018-10-31&res=products%2F1&et=1&method=md5&sign=AA==&x=1",
        "version=2018-10-31&res=products%2F1&et=9999999999999&method=md5&sign=AA==",
    };
    od_srv_token t;
    char big[OD_SRV_TOKEN_MAX + 10];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        OD_CHECK_EQ(od_srv_token_parse(bad[i], &t), OD_SRV_ERR_AUTH);
    OD_CHECK_EQ(od_srv_token_parse(NULL, &t), OD_SRV_ERR_AUTH);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    OD_CHECK_EQ(od_srv_token_parse(big, &t), OD_SRV_ERR_AUTH);
    /* A bad key is a parameter error when signing. */
    {
        char sign[96];
        OD_CHECK_EQ(od_srv_token_sign("not base64!", "2018-10-31", "products/1", 1,
                                      OD_SRV_SIG_MD5, sign, sizeof(sign)),
                    OD_SRV_ERR_PARAM);
        OD_CHECK_EQ(od_srv_token_sign(sample_key, "2018-10-31", "products/1", 1,
                                      OD_SRV_SIG_SHA256, sign, 10),
                    OD_SRV_ERR_PARAM);
    }
}

static void check_range(const char *hdr, uint64_t len, int partial,
                        uint64_t start, uint64_t end, int line)
{
    od_srv_range r;
    od_srv_range_parse(hdr, len, &r);
    if (r.partial != partial || r.start != start || r.end != end) {
        fprintf(stderr, "line %d: range \"%s\" len %llu -> %d %llu-%llu\n", line,
                hdr ? hdr : "(null)", (unsigned long long)len, r.partial,
                (unsigned long long)r.start, (unsigned long long)r.end);
        od_test_failed_checks++;
    }
}
#define RANGE(h, len, p, s, e) check_range(h, len, p, s, e, __LINE__)

static void test_range(void)
{
    /* The forms OneNET devices send. */
    RANGE("50500-50999", 100000, 1, 50500, 50999);
    RANGE("0-1", 100, 1, 0, 1);
    RANGE("10-", 100, 1, 10, 99);
    RANGE("-10", 100, 1, 90, 99);
    /* Standard unit prefix. */
    RANGE("bytes=0-1023", 4096, 1, 0, 1023);
    RANGE("bytes=4000-", 4096, 1, 4000, 4095);
    RANGE("bytes=-96", 4096, 1, 4000, 4095);
    RANGE("BYTES=0-5", 4096, 1, 0, 5); /* units are case-insensitive */
    RANGE("Bytes=4000-", 4096, 1, 4000, 4095);
    /* Clamping, exactly as documented. */
    RANGE("100-200", 100, 1, 0, 99);    /* start >= len -> 0, end -> len-1 */
    RANGE("5-1000", 100, 1, 5, 99);     /* end >= len -> len-1 */
    RANGE("50-10", 100, 1, 0, 10);      /* start > end -> start 0 */
    RANGE("200-", 100, 1, 0, 99);
    RANGE("-1000", 100, 1, 0, 99);      /* suffix larger than file */
    RANGE("-0", 100, 1, 0, 99);
    RANGE("99-99", 100, 1, 99, 99);
    /* Malformed: whole file, 200. */
    RANGE(NULL, 100, 0, 0, 99);
    RANGE("", 100, 0, 0, 99);
    RANGE("01-02", 100, 0, 0, 99);
    RANGE("-", 100, 0, 0, 99);
    RANGE("abc", 100, 0, 0, 99);
    RANGE("1-2,5-6", 100, 0, 0, 99);
    RANGE("bytes=1-2,5-6", 100, 0, 0, 99);
    RANGE("1-2x", 100, 0, 0, 99);
    RANGE("+1-2", 100, 0, 0, 99);
    RANGE("1--2", 100, 0, 0, 99);
    RANGE("items=1-2", 100, 0, 0, 99);
    RANGE("99999999999999999999-", 100, 0, 0, 99); /* 20 digits */
    RANGE("9999999999999999999-", 100, 1, 0, 99);  /* 19 digits: clamps */
    RANGE("0-18446744073709551615", 100, 0, 0, 99);
    /* Empty file: nothing to serve, always 200. */
    RANGE("0-10", 0, 0, 0, 0);
}

static void test_conditional(void)
{
    static const char *const e = "\"abc\"";
    int64_t t = 0;

    /* If-None-Match: weak comparison; If-Match: strong. */
    OD_CHECK_EQ(od_srv_etag_match("\"abc\"", e, 0), 1);
    OD_CHECK_EQ(od_srv_etag_match("W/\"abc\"", e, 1), 1);
    OD_CHECK_EQ(od_srv_etag_match("W/\"abc\"", e, 0), 0);
    OD_CHECK_EQ(od_srv_etag_match("\"x\", \"abc\"", e, 0), 1);
    OD_CHECK_EQ(od_srv_etag_match(" \"x\" ,,\"abc\" ", e, 0), 1);
    OD_CHECK_EQ(od_srv_etag_match("\"x,abc\"", e, 0), 0); /* a comma inside a tag */
    OD_CHECK_EQ(od_srv_etag_match("\"x\"", e, 1), 0);
    OD_CHECK_EQ(od_srv_etag_match("*", e, 0), 1);
    OD_CHECK_EQ(od_srv_etag_match(" * ", e, 1), 1);
    OD_CHECK_EQ(od_srv_etag_match("abc", e, 1), 0);       /* no quotes: not a tag */
    OD_CHECK_EQ(od_srv_etag_match("\"abc", e, 1), 0);
    OD_CHECK_EQ(od_srv_etag_match("\"abc\" x", e, 1), 0);
    OD_CHECK_EQ(od_srv_etag_match("*, \"abc\"", e, 1), 0);
    OD_CHECK_EQ(od_srv_etag_match("", e, 1), 0);
    OD_CHECK_EQ(od_srv_etag_match(NULL, e, 1), 0);

    /* The three HTTP-date forms of RFC 9110's example, one instant. */
    OD_CHECK_EQ(od_srv_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    OD_CHECK_EQ(t, 784111777);
    t = 0;
    OD_CHECK_EQ(od_srv_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    OD_CHECK_EQ(t, 784111777);
    t = 0;
    OD_CHECK_EQ(od_srv_http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
    OD_CHECK_EQ(t, 784111777);
    OD_CHECK_EQ(od_srv_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
    OD_CHECK_EQ(t, 0);
    OD_CHECK_EQ(od_srv_http_date_parse("Sat, 29 Feb 2048 23:59:59 GMT", &t), 0);
    OD_CHECK_EQ(t, 2466633599);
    OD_CHECK_EQ(od_srv_http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT x", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse("Sun, 06 Nvb 1994 08:49:37 GMT", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse("Sun, 06 Nov 1994 25:49:37 GMT", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse("1994-11-06T08:49:37Z", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse("", &t), -1);
    OD_CHECK_EQ(od_srv_http_date_parse(NULL, &t), -1);
}

static void test_task_fsm(void)
{
    static const struct {
        int from, op, rc, to;
    } t[] = {
        {OD_SRV_TASK_NOT_STARTED, OD_SRV_OP_EDIT, OD_SRV_OK, OD_SRV_TASK_NOT_STARTED},
        {OD_SRV_TASK_NOT_STARTED, OD_SRV_OP_DELETE, OD_SRV_OK, OD_SRV_TASK_NOT_STARTED},
        {OD_SRV_TASK_NOT_STARTED, OD_SRV_OP_START, OD_SRV_OK, OD_SRV_TASK_UPGRADING},
        {OD_SRV_TASK_NOT_STARTED, OD_SRV_OP_PAUSE, OD_SRV_ERR_STATE, OD_SRV_TASK_NOT_STARTED},
        {OD_SRV_TASK_NOT_STARTED, OD_SRV_OP_CANCEL, OD_SRV_ERR_STATE, OD_SRV_TASK_NOT_STARTED},
        {OD_SRV_TASK_UPGRADING, OD_SRV_OP_EDIT, OD_SRV_ERR_STATE, OD_SRV_TASK_UPGRADING},
        {OD_SRV_TASK_UPGRADING, OD_SRV_OP_DELETE, OD_SRV_ERR_STATE, OD_SRV_TASK_UPGRADING},
        {OD_SRV_TASK_UPGRADING, OD_SRV_OP_START, OD_SRV_ERR_STATE, OD_SRV_TASK_UPGRADING},
        {OD_SRV_TASK_UPGRADING, OD_SRV_OP_PAUSE, OD_SRV_OK, OD_SRV_TASK_PAUSED},
        {OD_SRV_TASK_UPGRADING, OD_SRV_OP_CANCEL, OD_SRV_OK, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_PAUSED, OD_SRV_OP_EDIT, OD_SRV_ERR_STATE, OD_SRV_TASK_PAUSED},
        {OD_SRV_TASK_PAUSED, OD_SRV_OP_DELETE, OD_SRV_ERR_STATE, OD_SRV_TASK_PAUSED},
        {OD_SRV_TASK_PAUSED, OD_SRV_OP_START, OD_SRV_OK, OD_SRV_TASK_UPGRADING},
        {OD_SRV_TASK_PAUSED, OD_SRV_OP_PAUSE, OD_SRV_ERR_STATE, OD_SRV_TASK_PAUSED},
        {OD_SRV_TASK_PAUSED, OD_SRV_OP_CANCEL, OD_SRV_OK, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_STOPPED, OD_SRV_OP_EDIT, OD_SRV_ERR_STATE, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_STOPPED, OD_SRV_OP_DELETE, OD_SRV_OK, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_STOPPED, OD_SRV_OP_START, OD_SRV_ERR_STATE, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_STOPPED, OD_SRV_OP_PAUSE, OD_SRV_ERR_STATE, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_STOPPED, OD_SRV_OP_CANCEL, OD_SRV_ERR_STATE, OD_SRV_TASK_STOPPED},
        {OD_SRV_TASK_COMPLETED, OD_SRV_OP_EDIT, OD_SRV_ERR_STATE, OD_SRV_TASK_COMPLETED},
        {OD_SRV_TASK_COMPLETED, OD_SRV_OP_DELETE, OD_SRV_OK, OD_SRV_TASK_COMPLETED},
        {OD_SRV_TASK_COMPLETED, OD_SRV_OP_START, OD_SRV_ERR_STATE, OD_SRV_TASK_COMPLETED},
        {OD_SRV_TASK_COMPLETED, OD_SRV_OP_PAUSE, OD_SRV_ERR_STATE, OD_SRV_TASK_COMPLETED},
        {OD_SRV_TASK_COMPLETED, OD_SRV_OP_CANCEL, OD_SRV_ERR_STATE, OD_SRV_TASK_COMPLETED},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int s = t[i].from;
        OD_CHECK_EQ(od_srv_task_apply(&s, t[i].op), t[i].rc);
        OD_CHECK_EQ(s, t[i].to);
    }
    {
        int s = 99;
        OD_CHECK_EQ(od_srv_task_apply(&s, OD_SRV_OP_START), OD_SRV_ERR_PARAM);
        s = 0;
        OD_CHECK_EQ(od_srv_task_apply(&s, 42), OD_SRV_ERR_PARAM);
    }
}

static od_srv_dev_fsm fresh(void)
{
    od_srv_dev_fsm d = {OD_SRV_DEV_PENDING, OD_SRV_DL_NONE, 0, 0, 0, 0};
    return d;
}

/* A failure resent before any check (its reply lost) is counted once. */
static void test_dev_fsm_resend(void)
{
    od_srv_dev_fsm d = fresh(), was;

    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 40, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 102, 2), OD_SRV_ENO_OK);
    was = d;
    for (int i = 0; i < 3; i++) {
        OD_CHECK_EQ(od_srv_dev_report(&d, 102, 2), OD_SRV_ENO_OK);
        OD_CHECK(!memcmp(&d, &was, sizeof(d))); /* nothing changed */
    }
    OD_CHECK_EQ(d.retries, 1);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_PENDING);
    /* Another failure in that window counts. */
    OD_CHECK_EQ(od_srv_dev_report(&d, 104, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 2);
    /* After a check the same code is a new failure: here the last one
     * allowed, and its resends still answer as it did (0, not 20). */
    od_srv_dev_checked(&d, 0);
    OD_CHECK_EQ(od_srv_dev_report(&d, 104, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 3);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_FAILED);
    OD_CHECK_EQ(od_srv_dev_report(&d, 104, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 3);
    OD_CHECK_EQ(od_srv_dev_report(&d, 102, 2), OD_SRV_ENO_FINISHED);

    /* A token check (a new attempt) closes the window as a check does. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 101, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 1);
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 2);
    /* So does any other move: a percent, then the same failure again. */
    OD_CHECK_EQ(od_srv_dev_report(&d, 10, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.retries, 3);

    /* 207 resent: 0 as at first, not "finished". */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 207, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 207, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 208, 3), OD_SRV_ENO_FINISHED);
    /* A success is no failure to resend: a second 201 is "finished". */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 3), OD_SRV_ENO_FINISHED);
    /* A cancelled row answers 22 even to a resend. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 102, 3), OD_SRV_ENO_OK);
    d.state = OD_SRV_DEV_CANCELLED;
    OD_CHECK_EQ(od_srv_dev_report(&d, 102, 3), OD_SRV_ENO_CANCELLED);
}

/* download / percent describe the current attempt (docs/API.md). */
static void test_dev_fsm_download(void)
{
    od_srv_dev_fsm d = fresh();

    /* 207 while downloading: failed, and so is the download. */
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 10, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 207, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_FAILED);
    OD_CHECK_EQ(d.dl_state, OD_SRV_DL_FAILED);
    OD_CHECK_EQ(d.percent, 10);
    /* 205 while downloading, a retry left: pending, none, 0. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 60, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK(d.state == OD_SRV_DEV_PENDING && d.dl_state == OD_SRV_DL_NONE && d.percent == 0);
    /* 205 while upgrading, a retry left: the same. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 100, 3), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 3), OD_SRV_ENO_OK);
    OD_CHECK(d.state == OD_SRV_DEV_PENDING && d.dl_state == OD_SRV_DL_NONE && d.percent == 0);
    /* 205 while upgrading, none left: failed, the download stays done. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 100, 0), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 0), OD_SRV_ENO_OK);
    OD_CHECK(d.state == OD_SRV_DEV_FAILED && d.dl_state == OD_SRV_DL_DONE && d.percent == 100);
    /* A check that picks another package starts over; the same one does
     * not move the row. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(od_srv_dev_report(&d, 30, 3), OD_SRV_ENO_OK);
    od_srv_dev_checked(&d, 0);
    OD_CHECK(d.state == OD_SRV_DEV_DOWNLOADING && d.dl_state == OD_SRV_DL_RUNNING &&
             d.percent == 30);
    od_srv_dev_checked(&d, 1);
    OD_CHECK(d.state == OD_SRV_DEV_PENDING && d.dl_state == OD_SRV_DL_NONE && d.percent == 0);
    OD_CHECK_EQ(od_srv_dev_report(&d, 100, 3), OD_SRV_ENO_OK);
    od_srv_dev_checked(&d, 1);
    OD_CHECK(d.state == OD_SRV_DEV_PENDING && d.dl_state == OD_SRV_DL_NONE && d.percent == 0);
    /* A finished row stays as it is. */
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 3), OD_SRV_ENO_OK);
    od_srv_dev_checked(&d, 1);
    OD_CHECK(d.state == OD_SRV_DEV_SUCCEEDED && d.dl_state == OD_SRV_DL_DONE);
}

static void test_dev_fsm(void)
{
    od_srv_dev_fsm d = fresh();

    /* Happy path: token check, progress, 100, 201. */
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_DOWNLOADING);
    OD_CHECK_EQ(od_srv_dev_report(&d, 40, 0), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.percent, 40);
    OD_CHECK_EQ(od_srv_dev_report(&d, 100, 0), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_UPGRADING);
    /* After 100, a 1xx is not allowed (fuse: do not send 101 after 100). */
    OD_CHECK_EQ(od_srv_dev_report(&d, 101, 0), OD_SRV_ENO_STATE);
    OD_CHECK_EQ(od_srv_dev_report(&d, 50, 0), OD_SRV_ENO_STATE);
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_STATE);
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 0), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_SUCCEEDED);
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 0), OD_SRV_ENO_FINISHED);
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_FINISHED);

    /* Unknown codes. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 108, 0), OD_SRV_ENO_PARAM);
    OD_CHECK_EQ(od_srv_dev_report(&d, 150, 0), OD_SRV_ENO_PARAM);
    OD_CHECK_EQ(od_srv_dev_report(&d, 209, 0), OD_SRV_ENO_PARAM);
    OD_CHECK_EQ(od_srv_dev_report(&d, -1, 0), OD_SRV_ENO_PARAM);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_PENDING);

    /* 101 then a failed update with retries left, then success. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 101, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_UPGRADING);
    OD_CHECK_EQ(od_srv_dev_report(&d, 205, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_PENDING);
    OD_CHECK_EQ(d.retries, 1);
    OD_CHECK_EQ(od_srv_dev_report(&d, 104, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_PENDING);
    OD_CHECK_EQ(d.dl_state, OD_SRV_DL_NONE); /* the next attempt has fetched nothing */
    OD_CHECK_EQ(d.retries, 2);
    od_srv_dev_checked(&d, 0); /* the same failure after a check is a new one */
    OD_CHECK_EQ(od_srv_dev_report(&d, 104, 2), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_FAILED); /* third failure, retry = 2 */
    OD_CHECK_EQ(d.dl_state, OD_SRV_DL_FAILED);
    OD_CHECK_EQ(od_srv_dev_report(&d, 201, 2), OD_SRV_ENO_FINISHED);

    /* No retries: first failure is final. 207/208 always final. */
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 107, 0), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_FAILED);
    d = fresh();
    OD_CHECK_EQ(od_srv_dev_report(&d, 208, 5), OD_SRV_ENO_OK);
    OD_CHECK_EQ(d.state, OD_SRV_DEV_FAILED);
    OD_CHECK_EQ(d.last_code, 208);

    /* Cancelled rows answer 22. */
    d = fresh();
    d.state = OD_SRV_DEV_CANCELLED;
    OD_CHECK_EQ(od_srv_dev_report(&d, 50, 0), OD_SRV_ENO_CANCELLED);
    OD_CHECK_EQ(od_srv_dev_token_check(&d), OD_SRV_ENO_CANCELLED);

    test_dev_fsm_resend();
    test_dev_fsm_download();

    OD_CHECK(od_srv_status_text(205) != NULL);
    OD_CHECK(od_srv_status_text(300) == NULL);
    OD_CHECK(!strcmp(od_srv_dev_state_name(OD_SRV_DEV_UPGRADING), "upgrading"));
    OD_CHECK(!strcmp(od_srv_strerror(OD_SRV_ERR_BUSY), "in use by an active task"));
    OD_CHECK(!strcmp(od_srv_strerror(12345), "unknown error"));
}

int main(void)
{
    OD_RUN(test_token_vectors);
    OD_RUN(test_token_header);
    OD_RUN(test_token_malformed);
    OD_RUN(test_range);
    OD_RUN(test_conditional);
    OD_RUN(test_task_fsm);
    OD_RUN(test_dev_fsm);
    return od_test_summary();
}
