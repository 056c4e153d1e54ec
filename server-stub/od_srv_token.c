/*
 * od_srv_token.c - OneNET's Authorization token (HMAC over et, method,
 * res, version), computed and checked exactly as the platform does so
 * that device code written for OneNET authenticates here unchanged.
 */
#include "od_srv.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Access keys are 32..64 random bytes in practice; 128 leaves room. */
#define KEY_MAX 128

static int b64_decode(const char *in, unsigned char *out, size_t out_size,
                      size_t *out_len)
{
    size_t n = strlen(in), pad = 0;
    int got;
    unsigned char tmp[KEY_MAX + 4];

    /* EVP_DecodeBlock wants whole quanta and reports padding as data. */
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(tmp))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '+' || c == '/' ||
                 (c == '=' && i >= n - 2);
        if (!ok)
            return -1;
    }
    if (in[n - 1] == '=')
        pad++;
    if (in[n - 2] == '=')
        pad++;
    if (pad == 1 && in[n - 2] == '=')
        return -1;
    got = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (got < 0 || (size_t)got < pad || (size_t)got - pad > out_size)
        return -1;
    memcpy(out, tmp, (size_t)got - pad);
    *out_len = (size_t)got - pad;
    return 0;
}

static const char *method_name(int m)
{
    switch (m) {
    case OD_SRV_SIG_MD5: return "md5";
    case OD_SRV_SIG_SHA1: return "sha1";
    case OD_SRV_SIG_SHA256: return "sha256";
    default: return NULL;
    }
}

static const EVP_MD *method_md(int m)
{
    switch (m) {
    case OD_SRV_SIG_MD5: return EVP_md5();
    case OD_SRV_SIG_SHA1: return EVP_sha1();
    case OD_SRV_SIG_SHA256: return EVP_sha256();
    default: return NULL;
    }
}

int od_srv_token_sign(const char *key_b64, const char *version,
                      const char *res, int64_t et, int method, char *sign,
                      size_t sign_size)
{
    unsigned char key[KEY_MAX], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t key_len = 0;
    char msg[OD_SRV_TOKEN_MAX];
    const EVP_MD *md = method_md(method);
    int n;

    if (!key_b64 || !version || !res || !sign || !md)
        return OD_SRV_ERR_PARAM;
    if (b64_decode(key_b64, key, sizeof(key), &key_len) != 0)
        return OD_SRV_ERR_PARAM;
    /* Field values in alphabetical order of the field names. */
    n = snprintf(msg, sizeof(msg), "%lld\n%s\n%s\n%s", (long long)et,
                 method_name(method), res, version);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return OD_SRV_ERR_PARAM;
    if (!HMAC(md, key, (int)key_len, (const unsigned char *)msg, (size_t)n,
              mac, &mac_len))
        return OD_SRV_ERR_INTERNAL;
    if (sign_size < 4 * ((mac_len + 2) / 3) + 1)
        return OD_SRV_ERR_PARAM;
    EVP_EncodeBlock((unsigned char *)sign, mac, (int)mac_len);
    OPENSSL_cleanse(key, sizeof(key));
    return OD_SRV_OK;
}

/* The documented escape set; unreserved characters pass through. */
static int url_encode(const char *in, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || c == '~';
        if (plain) {
            if (o + 1 >= out_size)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= out_size)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= out_size)
        return -1;
    out[o] = '\0';
    return 0;
}

int od_srv_token_build(const char *key_b64, const char *version,
                       const char *res, int64_t et, int method, char *out,
                       size_t out_size)
{
    char sign[96], esign[160], eres[3 * 160];
    int n, rc;

    if (!out || !res || strlen(res) >= 160)
        return OD_SRV_ERR_PARAM;
    rc = od_srv_token_sign(key_b64, version, res, et, method, sign,
                           sizeof(sign));
    if (rc != OD_SRV_OK)
        return rc;
    if (url_encode(sign, esign, sizeof(esign)) != 0 ||
        url_encode(res, eres, sizeof(eres)) != 0)
        return OD_SRV_ERR_PARAM;
    n = snprintf(out, out_size, "version=%s&res=%s&et=%lld&method=%s&sign=%s",
                 version, eres, (long long)et, method_name(method), esign);
    if (n < 0 || (size_t)n >= out_size)
        return OD_SRV_ERR_PARAM;
    return OD_SRV_OK;
}

/* Decodes in[0..n) into out; refuses NULs, bad escapes and overflow. */
static int url_decode(const char *in, size_t n, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = OPENSSL_hexchar2int((unsigned char)in[i + 1]);
            lo = OPENSSL_hexchar2int((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        /* A bare '+' stays '+' (not a space): base64 signatures contain it
         * and devices that forget to escape it must still authenticate. */
        if (o + 1 >= out_size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int od_srv_token_parse(const char *hdr, od_srv_token *t)
{
    char et_buf[24] = "", method_buf[16] = "";
    unsigned seen = 0;
    const char *p;

    if (!hdr || !t || strlen(hdr) >= OD_SRV_TOKEN_MAX)
        return OD_SRV_ERR_AUTH;
    memset(t, 0, sizeof(*t));
    p = hdr;
    while (*p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen;
        char *dst;
        size_t dst_size;
        unsigned bit;

        if (!eq)
            return OD_SRV_ERR_AUTH;
        klen = (size_t)(eq - p);
        if (klen == 7 && !memcmp(p, "version", 7)) {
            dst = t->version; dst_size = sizeof(t->version); bit = 1;
        } else if (klen == 3 && !memcmp(p, "res", 3)) {
            dst = t->res; dst_size = sizeof(t->res); bit = 2;
        } else if (klen == 2 && !memcmp(p, "et", 2)) {
            dst = et_buf; dst_size = sizeof(et_buf); bit = 4;
        } else if (klen == 6 && !memcmp(p, "method", 6)) {
            dst = method_buf; dst_size = sizeof(method_buf); bit = 8;
        } else if (klen == 4 && !memcmp(p, "sign", 4)) {
            dst = t->sign; dst_size = sizeof(t->sign); bit = 16;
        } else {
            return OD_SRV_ERR_AUTH;
        }
        if (seen & bit)
            return OD_SRV_ERR_AUTH;
        seen |= bit;
        if (url_decode(eq + 1, (size_t)(end - eq - 1), dst, dst_size) != 0)
            return OD_SRV_ERR_AUTH;
        p = amp ? amp + 1 : end;
    }
    if (seen != 31 || !t->version[0] || !t->res[0] || !t->sign[0])
        return OD_SRV_ERR_AUTH;
    if (strcmp(t->version, "2018-10-31") && strcmp(t->version, "2022-05-01"))
        return OD_SRV_ERR_AUTH;
    if (!strcmp(method_buf, "md5"))
        t->method = OD_SRV_SIG_MD5;
    else if (!strcmp(method_buf, "sha1"))
        t->method = OD_SRV_SIG_SHA1;
    else if (!strcmp(method_buf, "sha256"))
        t->method = OD_SRV_SIG_SHA256;
    else
        return OD_SRV_ERR_AUTH;
    {
        int64_t v = 0;
        size_t n = strlen(et_buf);
        if (n == 0 || n > 12)
            return OD_SRV_ERR_AUTH;
        for (size_t i = 0; i < n; i++) {
            if (et_buf[i] < '0' || et_buf[i] > '9')
                return OD_SRV_ERR_AUTH;
            v = v * 10 + (et_buf[i] - '0');
        }
        t->et = v;
    }
    return OD_SRV_OK;
}

int od_srv_token_verify(const od_srv_token *t, const char *key_b64,
                        int64_t now)
{
    char want[96];
    size_t n;

    if (!t || !key_b64)
        return OD_SRV_ERR_AUTH;
    if (od_srv_token_sign(key_b64, t->version, t->res, t->et, t->method, want,
                          sizeof(want)) != OD_SRV_OK)
        return OD_SRV_ERR_AUTH;
    n = strlen(want);
    if (strlen(t->sign) != n || CRYPTO_memcmp(want, t->sign, n) != 0)
        return OD_SRV_ERR_AUTH;
    if (now > t->et)
        return OD_SRV_ERR_AUTH;
    return OD_SRV_OK;
}
