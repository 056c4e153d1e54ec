/*
 * od_srv_http.c - libmicrohttpd plumbing: request objects, the request
 * line and Host rules, body limits, streaming uploads, admin
 * authentication, dispatch (404 / 405) and JSON replies.
 *
 * MHD calls the access handler several times per request: once with the
 * headers, then once per body piece, then once with no data. Limits are
 * enforced at the first call when the client declares a Content-Length
 * (so a 5 GiB upload is refused before a byte of it is read) and again
 * per piece for chunked bodies, whose excess is discarded, never stored.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* ------------------------------------------------------------------ */
/* Replies                                                              */

static unsigned status_of(int ret)
{
    switch (ret) {
    case OD_SRV_OK: return MHD_HTTP_OK;
    case OD_SRV_ERR_PARAM: return MHD_HTTP_BAD_REQUEST;
    case OD_SRV_ERR_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
    case OD_SRV_ERR_EXISTS:
    case OD_SRV_ERR_STATE:
    case OD_SRV_ERR_BUSY: return MHD_HTTP_CONFLICT;
    case OD_SRV_ERR_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
    case OD_SRV_ERR_AUTH: return MHD_HTTP_UNAUTHORIZED;
    case OD_SRV_ERR_GENERATE: return 422; /* Unprocessable Content; its macro name changed across MHD versions */
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* Whether r's path is under /api/: the management API's errno and
 * challenge, whatever follows (anything else answers as the device API). */
static int is_mgmt(const od_srv_req *r)
{
    return r->nseg >= 1 && !strcmp(r->seg[0], "api");
}

void od_srv_std_headers(od_srv_req *r, struct MHD_Response *resp, unsigned status)
{
    /* RFC 9110 wants a challenge with every 401 and the methods with
     * every 405. */
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                is_mgmt(r) ? "Bearer realm=\"otadelta\""
                                           : "Token realm=\"otadelta-device\"");
    else if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        /* In the order of the OD_SRV_M_* bits. */
        static const char *const names[] = {"GET, HEAD", "POST", "PUT, PATCH", "DELETE"};
        char allow[64] = "";
        for (unsigned i = 0; i < 4; i++)
            if (r->allow & (1u << i))
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                         allow[0] ? ", " : "", names[i]);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
}

enum MHD_Result od_srv_reply_raw(od_srv_req *r, unsigned status,
                                 const char *ctype, const void *body,
                                 size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    od_srv_std_headers(r, resp, status);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result od_srv_reply(od_srv_req *r, unsigned status, int eno,
                             const char *error, json_t *data)
{
    json_t *o = json_object();
    char *txt;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!o) {
        json_decref(data);
        return MHD_NO;
    }
    json_object_set_new(o, r->fuse ? "code" : "errno", json_integer(eno));
    json_object_set_new(o, r->fuse ? "msg" : "error", json_string(error ? error : "succ"));
    if (r->fuse) {
        /* 128 random bits: unique per request without shared state. */
        char rid[33];
        if (od_srv_random_hex(rid, 16) != OD_SRV_OK) {
            json_decref(o);
            json_decref(data);
            return MHD_NO;
        }
        json_object_set_new(o, "request_id", json_string(rid));
    }
    if (data)
        json_object_set_new(o, "data", data);
    txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(txt), txt,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(txt);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    od_srv_std_headers(r, resp, status);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result od_srv_reply_err(od_srv_req *r, int ret, const char *msg)
{
    return od_srv_reply(r, status_of(ret), ret, msg ? msg : od_srv_strerror(ret),
                        NULL);
}

const char *od_srv_arg(od_srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *od_srv_body_json(od_srv_req *r)
{
    json_error_t err;
    json_t *j;
    if (!r->body || r->body_len == 0)
        return NULL;
    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void od_srv_body_problem(od_srv_req *r, char *out, size_t n)
{
    json_error_t err;
    json_t *j;
    if (!r->body || r->body_len == 0) {
        snprintf(out, n, "body must be a JSON object (it is empty)");
        return;
    }
    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        snprintf(out, n, "body is not valid JSON: %s (line %d, column %d)", err.text, err.line,
                 err.column);
        return;
    }
    /* Without JSON_DECODE_ANY only an array parses as something else. */
    snprintf(out, n, "body must be a JSON object, not an array");
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Routing                                                              */

static void split_path(od_srv_req *r)
{
    const char *p = r->url;
    r->nseg = 0;
    if (!p || *p != '/') {
        r->bad_path = 1;
        return;
    }
    while (*p) {
        const char *start, *end;
        size_t n;
        p++; /* skip '/' */
        start = p;
        end = strchr(p, '/');
        if (!end)
            end = p + strlen(p);
        n = (size_t)(end - start);
        if (n == 0 && *end == '\0')
            break; /* trailing slash */
        if (n == 0 || n >= OD_SRV_SEG_LEN || r->nseg == OD_SRV_SEGS_MAX) {
            r->bad_path = 1;
            return;
        }
        memcpy(r->seg[r->nseg], start, n);
        r->seg[r->nseg][n] = '\0';
        /* Nothing here maps a path to a file, but refuse dot segments so
         * traversal attempts get a clear 400 instead of a 404. */
        if (!strcmp(r->seg[r->nseg], "..") || !strcmp(r->seg[r->nseg], ".")) {
            r->bad_path = 1;
            return;
        }
        r->nseg++;
        p = end;
    }
}

int64_t od_srv_parse_id(const char *s)
{
    int64_t v = 0;
    size_t n;
    if (!s)
        return 0;
    n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int od_srv_route_m(od_srv_req *r, unsigned methods, const char *pat, unsigned *allow)
{
    if (!od_srv_route(r, pat))
        return 0;
    if (methods & r->method_bit)
        return 1;
    *allow |= methods;
    return 0;
}

enum MHD_Result od_srv_reply_unrouted(od_srv_req *r, unsigned allow)
{
    unsigned status = allow ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND;
    const char *msg = allow ? "method not allowed on this route (see Allow)" : "no such route";
    r->allow = allow;
    if (is_mgmt(r))
        return od_srv_reply(r, status, allow ? OD_SRV_ERR_PARAM : OD_SRV_ERR_NOT_FOUND, msg,
                            NULL);
    return od_srv_reply(r, status, OD_SRV_ENO_PARAM, msg, NULL);
}

int od_srv_route(od_srv_req *r, const char *pat)
{
    int i = 0, ni = 0, ns = 0;
    const char *p = pat;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (i >= r->nseg)
            return 0;
        if (n == 1 && *p == '#') {
            int64_t v = od_srv_parse_id(r->seg[i]);
            if (!v)
                return 0;
            r->ids[ni++] = v;
        } else if (n == 1 && *p == '*') {
            r->strs[ns++] = r->seg[i];
        } else if (strlen(r->seg[i]) != n || memcmp(r->seg[i], p, n) != 0) {
            return 0;
        }
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    return i == r->nseg;
}

/* ------------------------------------------------------------------ */
/* Request lifecycle                                                    */

static int admin_ok(od_srv_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    const char *want = r->srv->admin_token;
    size_t n = strlen(want);
    /* The scheme name is case-insensitive (RFC 9110, 11.1). */
    if (h && !strncasecmp(h, "Bearer ", 7))
        h += 7;
    else
        h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                        "X-Admin-Token");
    if (!h || strlen(h) != n)
        return 0;
    return CRYPTO_memcmp(h, want, n) == 0;
}

static int is_upload(od_srv_req *r)
{
    return !strcmp(r->method, "POST") &&
           od_srv_route(r, "api/v1/products/#/firmware");
}

static int upload_open(od_srv_req *r)
{
    char rnd[33];
    int n;
    if (od_srv_random_hex(rnd, 16) != OD_SRV_OK)
        return -1;
    n = snprintf(r->tmp_path, sizeof(r->tmp_path), "%s/tmp/up-%s",
                 r->srv->data_dir, rnd);
    if (n < 0 || (size_t)n >= sizeof(r->tmp_path))
        return -1;
    /* Read-write: od_srv_api_upload_done() reads the first bytes back to
     * tell what kind of file it is. */
    r->fd = open(r->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        r->tmp_path[0] = '\0';
        return -1;
    }
    r->md5 = EVP_MD_CTX_new();
    r->sha256 = EVP_MD_CTX_new();
    if (!r->md5 || !r->sha256 || !EVP_DigestInit_ex(r->md5, EVP_md5(), NULL) ||
        !EVP_DigestInit_ex(r->sha256, EVP_sha256(), NULL))
        return -1;
    r->upload = 1;
    return 0;
}

static void upload_write(od_srv_req *r, const char *data, size_t len)
{
    if (r->up_len + len > OD_SRV_UPLOAD_MAX) {
        r->too_large = 1;
        return;
    }
    r->up_len += len;
    EVP_DigestUpdate(r->md5, data, len);
    EVP_DigestUpdate(r->sha256, data, len);
    while (len > 0) {
        ssize_t w = write(r->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r->io_error = 1;
            return;
        }
        data += w;
        len -= (size_t)w;
    }
}

static void body_append(od_srv_req *r, const char *data, size_t len)
{
    if (r->body_len + len > r->body_max) {
        r->too_large = 1;
        free(r->body); /* hold nothing for a body we will refuse */
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        char *nb;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        if (cap > r->body_max + 1)
            cap = r->body_max + 1;
        nb = realloc(r->body, cap);
        if (!nb) {
            r->io_error = 1;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

/* What is wrong with a request's query arguments, if anything. */
#define ARGS_MAX 64
typedef struct args_seen {
    const char *why;
    const char *key[ARGS_MAX];
    unsigned n;
} args_seen;

/* Stops at an argument whose decoded name or value holds a NUL (%00):
 * every reader takes arguments as C strings and would see a shorter value
 * than was sent. And at a name given twice: readers take the first, a
 * proxy or firewall in front may judge by the last (dev_id=12&dev_id=13). */
static enum MHD_Result arg_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    args_seen *a = cls;
    (void)kind;
    if ((key && strlen(key) != key_size) || (value && strlen(value) != value_size))
        a->why = "query argument with a NUL byte";
    else if (a->n == ARGS_MAX)
        a->why = "more than 64 query arguments";
    for (unsigned i = 0; !a->why && key && i < a->n; i++)
        if (!strcmp(a->key[i], key))
            a->why = "a query argument given more than once";
    if (a->why)
        return MHD_NO;
    a->key[a->n++] = key ? key : "";
    return MHD_YES;
}

/* A request refused before routing: the management API answers with the
 * od_srv_ret, anything else with the device API's errno table (2, bad
 * parameter; a download in its byte-and-header form). */
static enum MHD_Result early_err(od_srv_req *r, int ret, const char *msg)
{
    if (is_mgmt(r))
        return od_srv_reply_err(r, ret, msg);
    if (od_srv_is_download(r))
        return od_srv_dl_error(r, status_of(ret), '5', OD_SRV_ENO_PARAM);
    return od_srv_reply(r, status_of(ret), OD_SRV_ENO_PARAM, msg ? msg : od_srv_strerror(ret),
                        NULL);
}

/* ------------------------------------------------------------------ */
/* Request line and Host (RFC 9112 3.2)                                 */

/* Whether [h, h + n) is host[:port] (RFC 3986 uri-host: IP-literal,
 * IPv4address or reg-name, the last two one character set), as the Host
 * field and an absolute-form target's authority carry it. empty_ok: an
 * empty host (a Host field may be empty; an http URI's host may not). */
static int host_ok(const char *h, size_t n, int empty_ok)
{
    static const char sub_delims[] = "!$&'()*+,;=";
    size_t i = 0;
    if (n > 0 && h[0] == '[') {
        /* IPv6address or IPvFuture: hex digits, ':' and '.', or "v"
         * followed by unreserved, sub-delims and ':'. Their finer grammar
         * is not ours to judge: nothing here dials it. */
        for (i = 1; i < n && h[i] != ']'; i++)
            if (!isalnum((unsigned char)h[i]) && !strchr(":._~-", h[i]) &&
                !strchr(sub_delims, h[i]))
                return 0;
        if (i >= n || i == 1)
            return 0;
        i++;
    } else {
        for (; i < n && h[i] != ':'; i++) {
            if (h[i] == '%') {
                if (i + 2 >= n || !isxdigit((unsigned char)h[i + 1]) ||
                    !isxdigit((unsigned char)h[i + 2]))
                    return 0;
                i += 2;
            } else if (!isalnum((unsigned char)h[i]) && !strchr("._~-", h[i]) &&
                       !strchr(sub_delims, h[i])) {
                return 0;
            }
        }
        if (i == 0 && !empty_ok)
            return 0;
    }
    if (i == n)
        return 1;
    if (h[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (!isdigit((unsigned char)h[i]))
            return 0;
    return 1;
}

/*
 * libmicrohttpd's URI log callback: it sees the request target as sent,
 * before decoding, and what it returns is the request's *con_cls, so the
 * request object is made here. Two things only the raw target tells: an
 * encoded NUL before the query (the decoded path, a C string, would end
 * at it, and /ota/device/version%00junk be served as /ota/device/version),
 * and where an absolute-form target's path begins. NULL (no memory): the
 * access handler drops the connection.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    od_srv_req *r = calloc(1, sizeof(*r));
    size_t n = strcspn(uri, "?"), skip, alen, pct = 0;
    const char *p;
    (void)cls;
    (void)conn;
    if (!r)
        return NULL;
    r->fd = -1;
    p = strstr(uri, "%00");
    r->path_nul = p && p < uri + n;
    /* RFC 9112 3.2.2: a server MUST accept the absolute-form. The
     * authority is checked as a Host field is; the path is what follows
     * it, in the decoded target the access handler gets, where each %XX
     * of the authority is one byte. */
    if (!strncasecmp(uri, "http://", 7))
        skip = 7;
    else if (!strncasecmp(uri, "https://", 8))
        skip = 8;
    else {
        r->bad_target = uri[0] != '/'; /* another scheme, '*', garbage */
        return r;
    }
    alen = strcspn(uri + skip, "/?");
    for (size_t i = 0; i < alen; i++)
        pct += uri[skip + i] == '%';
    /* No userinfo (RFC 9110 4.2.4: its presence is an error). */
    if (!host_ok(uri + skip, alen, 0))
        r->bad_target = 1;
    r->target_skip = skip + alen - 2 * pct;
    return r;
}

/* What the header fields say about RFC 9112's rules: how many Host
 * fields, whether one is not a valid host[:port], and whether a field
 * name ended in white space (3.2 and 5.1: each is a 400). */
typedef struct fields_seen {
    int hosts, bad_host, ws_name, auths;
} fields_seen;

static enum MHD_Result see_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    fields_seen *f = cls;
    (void)kind;
    /* "Name : value" keeps the space in the name libmicrohttpd stores. */
    if (key_size && (key[key_size - 1] == ' ' || key[key_size - 1] == '\t'))
        f->ws_name = 1;
    /* A singleton (RFC 9110 11.6.2): with two, which one is checked? */
    if (key_size == 13 && !strncasecmp(key, "Authorization", 13))
        f->auths++;
    if (key_size == 4 && !strncasecmp(key, "Host", 4)) {
        f->hosts++;
        if (!value || !host_ok(value, value_size, 1))
            f->bad_host = 1;
    }
    return MHD_YES;
}

/* Why r breaks RFC 9112's request rules, or NULL. libmicrohttpd 0.9.75's
 * MHD_OPTION_STRICT_FOR_CLIENT (level 1) checks only that an HTTP/1.1
 * request has a Host field, and its 400 for that repeats its own header
 * block in the body; it also drops a target with a space without any
 * reply. So the server leaves it off and checks all four here. */
static const char *request_broken(od_srv_req *r, const char *version)
{
    fields_seen f = {0, 0, 0, 0};
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, see_field, &f);
    if (f.ws_name)
        return "white space between a header field name and its colon";
    if (f.hosts > 1)
        return "more than one Host header field";
    if (f.auths > 1)
        return "more than one Authorization header field";
    if (f.bad_host)
        return "the Host header field is not a valid host[:port]";
    /* HTTP/1.0 had no Host field. */
    if (!f.hosts && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return "HTTP/1.1 request without a Host header field";
    if (r->bad_target)
        return "request target: an origin-form path, or an absolute http(s) URI with a host";
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    od_srv *s = cls;
    od_srv_req *r = *con_cls;

    if (!r)
        return MHD_NO; /* on_uri had no memory for it */
    if (!r->started) {
        static const struct {
            const char *name;
            unsigned bit;
        } methods[] = {{"GET", OD_SRV_M_GET},   {"HEAD", OD_SRV_M_GET},
                       {"POST", OD_SRV_M_POST}, {"PUT", OD_SRV_M_PUT},
                       {"PATCH", OD_SRV_M_PUT}, {"DELETE", OD_SRV_M_DELETE}};
        const char *cl, *broken;
        int mgmt;
        r->started = 1;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
            if (!strcmp(method, methods[i].name))
                r->method_bit = methods[i].bit;
        r->head = !strcmp(method, "HEAD");
        r->url = url;
        if (r->target_skip && !r->bad_target)
            r->url = strlen(url) < r->target_skip ? "" /* bad path */
                     : url[r->target_skip] ? url + r->target_skip
                                           : "/"; /* "http://host" is its "/" */
        split_path(r);
        r->fuse = r->nseg >= 1 && !strcmp(r->seg[0], "fuse-ota");
        if ((broken = request_broken(r, version)))
            return early_err(r, OD_SRV_ERR_PARAM, broken);
        if (r->bad_path)
            return early_err(r, OD_SRV_ERR_PARAM, "bad path");
        if (r->path_nul)
            return early_err(r, OD_SRV_ERR_PARAM, "path with an encoded NUL byte (%00)");
        {
            args_seen a;
            a.why = NULL;
            a.n = 0;
            MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, arg_check, &a);
            if (a.why)
                return early_err(r, OD_SRV_ERR_PARAM, a.why);
        }
        mgmt = r->nseg >= 2 && !strcmp(r->seg[0], "api") && !strcmp(r->seg[1], "v1");
        r->body_max = mgmt ? OD_SRV_JSON_MAX : OD_SRV_DEV_BODY_MAX;
        if (mgmt && !admin_ok(r))
            return od_srv_reply_err(r, OD_SRV_ERR_AUTH, "admin token required");
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (mgmt && is_upload(r)) {
            const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_TYPE);
            /* A form upload (curl -F) would store the multipart wrapper as
             * the image, under a version that can then not be reused. */
            if (ct && !strncasecmp(ct, "multipart/", 10))
                return od_srv_reply(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, OD_SRV_ERR_PARAM,
                                    "send the raw image as the body (curl --data-binary @FILE"
                                    " -H 'Content-Type: application/octet-stream'), not a form",
                                    NULL);
            enum MHD_Result refused;
            if (cl && strtoull(cl, NULL, 10) > OD_SRV_UPLOAD_MAX)
                return od_srv_reply_err(r, OD_SRV_ERR_TOO_LARGE,
                                        "upload limit is 100 MiB");
            if (od_srv_api_upload_refused(r, &refused))
                return refused;
            if (upload_open(r) != 0)
                return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
        } else if (cl && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > r->body_max)) {
            return early_err(r, OD_SRV_ERR_TOO_LARGE, "body too large");
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_large && !r->io_error) {
            if (r->upload)
                upload_write(r, upload_data, *upload_data_size);
            else
                body_append(r, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return early_err(r, OD_SRV_ERR_TOO_LARGE, NULL);
    if (r->io_error)
        return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
    if (r->upload)
        return od_srv_api_upload_done(r);
    if (r->nseg == 1 && !strcmp(r->seg[0], "healthz"))
        return r->method_bit == OD_SRV_M_GET ? od_srv_reply(r, MHD_HTTP_OK, 0, "succ", NULL)
                                              : od_srv_reply_unrouted(r, OD_SRV_M_GET);
    if (r->nseg >= 2 && !strcmp(r->seg[0], "api") && !strcmp(r->seg[1], "v1"))
        return od_srv_api_mgmt(r);
    if (is_mgmt(r))
        return od_srv_reply_unrouted(r, 0);
    /* Every other path is the device API's to refuse, in its form. */
    return od_srv_api_dev(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    od_srv_req *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp_path[0])
        unlink(r->tmp_path); /* gone already if the upload was kept */
    EVP_MD_CTX_free(r->md5);
    EVP_MD_CTX_free(r->sha256);
    od_srv_push_check_free(r->push_check);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/*
 * libmicrohttpd's messages, except those that only say a client went away
 * (a device that lost its link mid-download, a client that timed out):
 * on a fleet on cellular links they are routine, one per dropped
 * download, and would bury everything else in the log.
 */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    static const char *const routine[] = {
        "Failed to send the response", "Failed to send data in request",
        "Failed to send the chunked response", "Failed to send the footers",
        "forcibly closed by remote peer", "closed by remote side with incomplete request"};
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    for (size_t i = 0; i < sizeof(routine) / sizeof(routine[0]); i++)
        if (strstr(msg, routine[i]))
            return;
    fprintf(stderr, "otadelta-server: libmicrohttpd: %s%s", msg,
            msg[0] && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

int od_srv_http_start(od_srv *s, const od_srv_config *cfg)
{
    struct sockaddr_in sin;
    /* Suspend and resume: a push URL check waits off the HTTP threads. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    unsigned threads = cfg->http_threads;
    const union MHD_DaemonInfo *info;
    /* Passed as an option array so plain HTTP passes an empty one. */
    struct MHD_OptionItem tls_opts[OD_SRV_TLS_MHD_OPTS] = {{MHD_OPTION_END, 0, NULL}};
    struct MHD_OptionItem pool[2] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(cfg->port);
    if (inet_pton(AF_INET, cfg->listen_addr ? cfg->listen_addr : "127.0.0.1",
                  &sin.sin_addr) != 1)
        return OD_SRV_ERR_PARAM;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 2;
    }
    if (threads > 64)
        threads = 64;
    /* One thread is no pool: libmicrohttpd warns at a pool size of 1 (or
     * 0), so the option is left out then. */
    if (threads > 1)
        pool[0] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    if (s->tls) {
        flags |= MHD_USE_TLS;
        od_srv_tls_mhd_options(s->tls, tls_opts);
    }
    s->mhd = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_request, s,
        /* First, so that it takes every message, the options' own too. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &sin,
        MHD_OPTION_ARRAY, pool, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : 4096u,
        MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->conn_timeout_s ? cfg->conn_timeout_s : 30u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!s->mhd) {
        fprintf(stderr, "otadelta-server: cannot listen on %s:%u (libmicrohttpd says why above:"
                        " the port taken by another program? ports below 1024 need privileges)\n",
                cfg->listen_addr ? cfg->listen_addr : "127.0.0.1", (unsigned)cfg->port);
        return OD_SRV_ERR_IO;
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    return OD_SRV_OK;
}

void od_srv_http_stop(od_srv *s)
{
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
}
