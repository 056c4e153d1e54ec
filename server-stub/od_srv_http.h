/*
 * od_srv_http.h - the request object and reply helpers shared by the
 * HTTP plumbing (od_srv_http.c) and the two APIs (od_srv_api_mgmt.c,
 * od_srv_api_dev.c). Private to server-stub/.
 */
#ifndef OD_SRV_HTTP_H
#define OD_SRV_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "od_srv_int.h"

#define OD_SRV_SEGS_MAX 8    /* path segments a route may have */
#define OD_SRV_SEG_LEN 128   /* longest path segment accepted */

/* Methods a route takes, as bits (od_srv_route_m, the Allow of a 405). */
#define OD_SRV_M_GET 1u    /* GET, and HEAD with it (RFC 9110 9.3.2) */
#define OD_SRV_M_POST 2u
#define OD_SRV_M_PUT 4u    /* PUT, and PATCH taken as PUT */
#define OD_SRV_M_DELETE 8u

typedef struct od_srv_req {
    od_srv *srv;
    struct MHD_Connection *conn;
    const char *method;
    unsigned method_bit; /* OD_SRV_M_* of method; 0 for any other method */
    int head;            /* a HEAD request: answered as its GET, changing nothing */
    unsigned allow;      /* a 405's Allow: the methods the route takes */
    const char *url;     /* the path (an absolute-form target's, from its '/') */
    int nseg;
    char seg[OD_SRV_SEGS_MAX][OD_SRV_SEG_LEN];
    int64_t ids[OD_SRV_SEGS_MAX]; /* numeric segments matched by '#' */
    const char *strs[OD_SRV_SEGS_MAX]; /* segments matched by '*' */
    int bad_path;                 /* too many or too long segments */
    int fuse;                     /* under /fuse-ota/: replies in the fuse form */

    /* What the raw request target said, before libmicrohttpd decoded it
     * (on_uri in od_srv_http.c): the access handler sees the path only as
     * a C string, which a %00 would cut short. */
    int started;        /* the access handler has seen this request */
    int path_nul;       /* an encoded NUL (%00) before the query */
    int bad_target;     /* an absolute-form target of another scheme, or with
                           no valid host[:port] */
    size_t target_skip; /* absolute-form: decoded bytes before the path */

    /* Body held in memory, up to body_max bytes. */
    char *body;
    size_t body_len, body_cap, body_max;
    int too_large;

    /* Streaming firmware upload. */
    int upload;
    int fd;
    char tmp_path[OD_SRV_PATH_MAX + 64];
    EVP_MD_CTX *md5, *sha256;
    uint64_t up_len;
    int io_error;

    /* PUT .../push: the URL check its connection is suspended for. */
    od_srv_push_check *push_check;
} od_srv_req;

/* A positive decimal id of 1-18 digits without a leading zero, as path
 * segments and device API arguments carry them; 0 for anything else
 * (NULL included). */
int64_t od_srv_parse_id(const char *s);

/* Matches r's path against pat ("api/v1/products/#/firmware"; '#' is a
 * positive decimal id up to 18 digits, '*' any segment). Fills r->ids /
 * r->strs in order. Returns 1 on match. */
int od_srv_route(od_srv_req *r, const char *pat);

/* od_srv_route for a request whose method is in methods; when only the
 * method differs, adds methods to *allow, for od_srv_reply_unrouted(). */
int od_srv_route_m(od_srv_req *r, unsigned methods, const char *pat, unsigned *allow);

/* The answer to a request no route took: 405 with Allow listing allow
 * when its path is a route's with another method, else 404 ("no such
 * route"). In its API's form: under /api/ the management one (errno
 * OD_SRV_ERR_PARAM for 405, OD_SRV_ERR_NOT_FOUND for 404), anywhere else
 * the device one (errno 2, the fuse form under /fuse-ota/). */
enum MHD_Result od_srv_reply_unrouted(od_srv_req *r, unsigned allow);

/* Queues a JSON reply {errno, error, data}; for a fuse request (r->fuse)
 * {code, msg, request_id, data} with the same values and a new random
 * request_id. Takes ownership of data (may be NULL). */
enum MHD_Result od_srv_reply(od_srv_req *r, unsigned status, int eno,
                             const char *error, json_t *data);

/* Reply for an od_srv_ret (status from the error class); msg may be NULL
 * to use od_srv_strerror(). */
enum MHD_Result od_srv_reply_err(od_srv_req *r, int ret, const char *msg);

/* Whether r is for a download route (legacy or fuse), whose errors have
 * their own form (od_srv_dl_error). Sets r's route captures. */
int od_srv_is_download(od_srv_req *r);

/* A download route's error as OneNET devices expect it: status, a
 * one-byte body byte ('3' auth, '5' parameter, ...) and the errno in an
 * Ota-Errno header. */
enum MHD_Result od_srv_dl_error(od_srv_req *r, unsigned status, char byte, int eno);

/* Headers RFC 9110 requires of some statuses: a WWW-Authenticate
 * challenge on 401 (Bearer for the management API), Allow on 405 (from
 * r->allow). Every reply function calls it. */
void od_srv_std_headers(od_srv_req *r, struct MHD_Response *resp, unsigned status);

/* Reply with an arbitrary body (copied). */
enum MHD_Result od_srv_reply_raw(od_srv_req *r, unsigned status,
                                 const char *ctype, const void *body,
                                 size_t len);

/* Query argument, or NULL. */
const char *od_srv_arg(od_srv_req *r, const char *name);

/* Parses the body as a JSON object; NULL (and a 400 queued by the
 * caller) when malformed or not an object. */
json_t *od_srv_body_json(od_srv_req *r);

/* Why od_srv_body_json gave NULL, for the 400's message: an empty body,
 * jansson's own account of a syntax error (with line and column: a
 * duplicate key, an integer too large), or the wrong type. At most n
 * bytes into out, NUL-terminated. */
void od_srv_body_problem(od_srv_req *r, char *out, size_t n);

/* Management API entry point; returns the queued result. */
enum MHD_Result od_srv_api_mgmt(od_srv_req *r);
/* Device API entry point. */
enum MHD_Result od_srv_api_dev(od_srv_req *r);
/* Finishes a streamed firmware upload (body already on disk). */
enum MHD_Result od_srv_api_upload_done(od_srv_req *r);
/* At an upload's first call, before any of its body is read: 1 with the
 * refusal queued into *ret when its query arguments or product are wrong
 * (no point streaming 100 MiB to be told so), else 0. */
int od_srv_api_upload_refused(od_srv_req *r, enum MHD_Result *ret);

#endif /* OD_SRV_HTTP_H */
