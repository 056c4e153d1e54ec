/*
 * od_srv_api_dev.c - the device API, shaped after OneNET's legacy OTA
 * API so device code written for OneNET works against it: version report,
 * check task, token check, Range download, progress report, and the
 * legacy extras: current token (tasking), status report, device id lookup.
 *
 * The new OneNET ("fuse") routes under /fuse-ota/{pro_id}/{dev_name}/ are
 * the same handlers: the device comes from the path instead of dev_id,
 * its row in a task from the task id (tid) instead of a download token
 * (od_srv_row_key), and od_srv_reply() answers {code, msg, request_id,
 * data} for them (r->fuse). A fuse device never sees a download token.
 *
 * HTTP status policy: request-level failures (malformed request, failed
 * authentication, unknown device) get a 4xx with the OneNET errno in the
 * body; business answers (no task, paused, finished, ...) are 200 with the
 * errno, because OneNET devices branch on errno and some treat any non-200
 * as a network failure worth retrying.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_http.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *eno_text(const od_srv_req *r, int eno)
{
    /* The fuse routes name a row by its task id, and OneNET's fuse API
     * says "task finish". */
    if (r->fuse) {
        switch (eno) {
        case OD_SRV_ENO_TOKEN_OWNER: return "this device has no such task";
        case OD_SRV_ENO_EXPIRED: return "task expired";
        case OD_SRV_ENO_FINISHED: return "task finish";
        default: break;
        }
    }
    switch (eno) {
    case OD_SRV_ENO_OK: return "succ";
    case OD_SRV_ENO_AUTH: return "authentication failed or no such device";
    case OD_SRV_ENO_PARAM: return "bad parameter";
    case OD_SRV_ENO_TOKEN_OWNER: return "token does not belong to this device";
    case OD_SRV_ENO_INTERNAL: return "internal error";
    case OD_SRV_ENO_MANUF: return "manuf or model mismatch";
    case OD_SRV_ENO_NO_TASK: return "no task";
    case OD_SRV_ENO_EXPIRED:
        return "token expired or replaced by a later check, or the task's deadline passed:"
               " check again";
    case OD_SRV_ENO_STATE: return "invalid state";
    case OD_SRV_ENO_FINISHED: return "task finished";
    case OD_SRV_ENO_INVALID_OP: return "invalid operation";
    case OD_SRV_ENO_CANCELLED: return "task cancelled";
    case OD_SRV_ENO_BAD_RESULT: return "bad result";
    case OD_SRV_ENO_PAUSED: return "task paused";
    case OD_SRV_ENO_BAD_VERSION: return "bad version format";
    case OD_SRV_ENO_NO_DIFF: return "no package matches the device version";
    default: return "error";
    }
}

/* Replies for the server's errno eno (which sets the HTTP status) with the
 * errno a route's OneNET table has for it, shown (the same for most). */
static enum MHD_Result dev_reply_as(od_srv_req *r, int eno, int shown, json_t *data)
{
    unsigned status = MHD_HTTP_OK;
    if (eno < 0) { /* storage failure */
        json_decref(data);
        return od_srv_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, OD_SRV_ENO_INTERNAL,
                            eno_text(r, OD_SRV_ENO_INTERNAL), NULL);
    }
    if (eno == OD_SRV_ENO_PARAM || eno == OD_SRV_ENO_BAD_VERSION ||
        eno == OD_SRV_ENO_BAD_RESULT)
        status = MHD_HTTP_BAD_REQUEST;
    else if (eno == OD_SRV_ENO_AUTH)
        status = MHD_HTTP_NOT_FOUND; /* authenticated, but no such device */
    else if (eno == OD_SRV_ENO_TOKEN_OWNER)
        status = MHD_HTTP_FORBIDDEN;
    return od_srv_reply(r, status, shown, eno_text(r, shown), data);
}

static enum MHD_Result dev_reply(od_srv_req *r, int eno, json_t *data)
{
    return dev_reply_as(r, eno, eno, data);
}

static int token_hex_ok(const char *t)
{
    size_t n = 0;
    for (; t[n]; n++)
        if (!((t[n] >= '0' && t[n] <= '9') || (t[n] >= 'a' && t[n] <= 'f')))
            return 0;
    return n == OD_SRV_DEVTOKEN_LEN;
}

/* Authenticated identity of a device-API request. */
typedef struct who {
    int64_t product_id;
    int device_form; /* res = products/{pid}/devices/{name} */
    od_srv_dev dev;  /* that device, when device_form */
    int64_t user_id; /* res = userid/{uid} (fuse routes): product_id is 0
                        until reach_named() finds the path's product is
                        the user's */
} who;

/* The key that signs a token for resource res, filling *w with the
 * identity res names: buf (the product's or the user's key) or the
 * device's key in w->dev; NULL if res names nothing that exists, or a
 * user outside the fuse routes (fuse 0). */
static const char *res_key(od_srv_store *st, int fuse, const char *res, who *w,
                           char buf[OD_SRV_KEY_MAX + 1])
{
    char num[20];
    size_t n;
    if (fuse && strncmp(res, "userid/", 7) == 0) {
        w->user_id = od_srv_parse_id(res + 7);
        return w->user_id && st->ops->user_key(st, w->user_id, buf) == OD_SRV_OK ? buf : NULL;
    }
    if (strncmp(res, "products/", 9) != 0)
        return NULL;
    res += 9;
    n = strcspn(res, "/");
    if (n == 0 || n >= sizeof(num))
        return NULL;
    memcpy(num, res, n);
    num[n] = '\0';
    w->product_id = od_srv_parse_id(num);
    if (!w->product_id)
        return NULL;
    res += n;
    if (*res == '\0')
        return st->ops->product_key(st, w->product_id, buf) == OD_SRV_OK ? buf : NULL;
    if (strncmp(res, "/devices/", 9) != 0 || !res[9] || strlen(res + 9) > OD_SRV_NAME_MAX)
        return NULL;
    w->device_form = 1;
    return st->ops->dev_find(st, w->product_id, res + 9, &w->dev) == OD_SRV_OK ? w->dev.dev_key
                                                                               : NULL;
}

/* Parses the Authorization header and checks its signature: with the
 * product's key, with the key of the device a device-key token names,
 * or, on the fuse routes, with the key of the user a userid/{uid} token
 * names. Every failure looks the same, so an unauthenticated caller
 * learns nothing about which users, products or devices exist. The
 * legacy routes refuse userid/ tokens: they name a device by dev_id and
 * a download by its token, with no product in the path to match the
 * user's products against, and OneNET's legacy API is product-based.
 * Returns 0 or -1. */
static int auth_parse(od_srv_req *r, who *w)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    const char *key;
    char buf[OD_SRV_KEY_MAX + 1];
    od_srv_token tok;

    memset(w, 0, sizeof(*w));
    if (od_srv_token_parse(h, &tok) != OD_SRV_OK ||
        !(key = res_key(r->srv->store, r->fuse, tok.res, w, buf)))
        return -1;
    return od_srv_token_verify(&tok, key, (int64_t)time(NULL)) == OD_SRV_OK ? 0 : -1;
}

static enum MHD_Result auth_fail(od_srv_req *r)
{
    return od_srv_reply(r, MHD_HTTP_UNAUTHORIZED, OD_SRV_ENO_AUTH,
                        "authorization token missing, forged or expired", NULL);
}

/* The device called name in product pid into *d, if the authenticated
 * token reaches it: a product token of pid, that device's own device-key
 * token, or a user token of the user who owns pid. A user reaches what
 * the product key of each product it owns reaches, no more: once pid is
 * found to be the user's, the token is a product token of pid from here
 * on (download() hands w->product_id to the store). Whose pid is comes
 * from the path, so it is only looked up after the signature held.
 * Returns 0 or -1 (no such device within reach; a product not the
 * user's, or without an owner, is no product). */
static int reach_named(od_srv_store *st, who *w, int64_t pid, const char *name,
                       od_srv_dev *d)
{
    int64_t owner;
    if (w->user_id) {
        if (st->ops->product_owner(st, pid, &owner) != OD_SRV_OK || owner != w->user_id)
            return -1;
        w->product_id = pid;
    }
    if (w->product_id != pid)
        return -1;
    if (w->device_form) {
        if (strcmp(w->dev.name, name) != 0)
            return -1;
        *d = w->dev;
        return 0;
    }
    return st->ops->dev_find(st, pid, name, d) == OD_SRV_OK ? 0 : -1;
}

/* Identifies and authenticates the device a request is for: dev_id in
 * the query (legacy), or {pro_id}/{dev_name} in the path (fuse:
 * r->strs[0], r->strs[1]). The token's signature is checked before any
 * lookup, and a device outside the token's reach (another product, a
 * product the user does not own, or another device than a device-key
 * token's) looks like no device at all.
 * Returns 0 and *d, else the HTTP status of the failure: 400 malformed
 * id or name, 401 token missing, forged or expired, 404 no such device
 * within the token's reach. */
static unsigned find_device(od_srv_req *r, who *w, od_srv_dev *d)
{
    od_srv_store *st = r->srv->store;
    int64_t id;
    if (r->fuse) {
        id = od_srv_parse_id(r->strs[0]);
        if (!id || strlen(r->strs[1]) > OD_SRV_NAME_MAX)
            return MHD_HTTP_BAD_REQUEST;
        if (auth_parse(r, w) != 0)
            return MHD_HTTP_UNAUTHORIZED;
        return reach_named(st, w, id, r->strs[1], d) == 0 ? 0 : MHD_HTTP_NOT_FOUND;
    }
    id = od_srv_parse_id(od_srv_arg(r, "dev_id"));
    if (!id)
        return MHD_HTTP_BAD_REQUEST;
    if (auth_parse(r, w) != 0)
        return MHD_HTTP_UNAUTHORIZED;
    if (w->device_form) {
        if (id != w->dev.id)
            return MHD_HTTP_NOT_FOUND;
        *d = w->dev;
        return 0;
    }
    return st->ops->dev_get(st, id, d) == OD_SRV_OK && d->product_id == w->product_id
               ? 0
               : MHD_HTTP_NOT_FOUND;
}

/* Common prologue of the routes that name a device: find_device, with
 * its failure answered. Returns 1 when a reply was already queued (into
 * *ret). */
static int prologue(od_srv_req *r, who *w, od_srv_dev *d, enum MHD_Result *ret)
{
    switch (find_device(r, w, d)) {
    case 0: return 0;
    case MHD_HTTP_BAD_REQUEST: *ret = dev_reply(r, OD_SRV_ENO_PARAM, NULL); return 1;
    case MHD_HTTP_UNAUTHORIZED: *ret = auth_fail(r); return 1;
    default: *ret = dev_reply(r, OD_SRV_ENO_AUTH, NULL); return 1;
    }
}

/* The task row a request addresses into *k: a legacy route's download
 * token, or a fuse route's task id (r->strs[2]; token is then unused).
 * Returns OD_SRV_ENO_OK, PARAM (no token; a malformed tid) or
 * TOKEN_OWNER (a malformed token: one no device could hold). Checked
 * before authentication, as every malformed parameter is. */
static int row_key(od_srv_req *r, const char *token, od_srv_row_key *k)
{
    memset(k, 0, sizeof(*k));
    if (r->fuse) {
        k->task_id = od_srv_parse_id(r->strs[2]);
        return k->task_id ? OD_SRV_ENO_OK : OD_SRV_ENO_PARAM;
    }
    if (!token)
        return OD_SRV_ENO_PARAM;
    k->token = token;
    return token_hex_ok(token) ? OD_SRV_ENO_OK : OD_SRV_ENO_TOKEN_OWNER;
}

static enum MHD_Result report_version(od_srv_req *r)
{
    who w;
    od_srv_dev d;
    enum MHD_Result ret;
    json_t *b;
    const char *fv = NULL, *sv = NULL;
    json_t *jf, *js;
    int eno;

    if (prologue(r, &w, &d, &ret))
        return ret;
    b = od_srv_body_json(r);
    if (!b)
        return dev_reply(r, OD_SRV_ENO_PARAM, NULL);
    jf = json_object_get(b, "f_version");
    js = json_object_get(b, "s_version");
    if ((jf && !json_is_string(jf)) || (js && !json_is_string(js)) || (!jf && !js)) {
        json_decref(b);
        return dev_reply(r, OD_SRV_ENO_PARAM, NULL);
    }
    fv = jf ? json_string_value(jf) : NULL;
    sv = js ? json_string_value(js) : NULL;
    /* OneNET sends "" for a component the device does not have. */
    if (fv && !fv[0])
        fv = NULL;
    if (sv && !sv[0])
        sv = NULL;
    if ((fv && !od_srv_version_valid(fv)) || (sv && !od_srv_version_valid(sv))) {
        json_decref(b);
        return dev_reply(r, OD_SRV_ENO_BAD_VERSION, NULL);
    }
    eno = r->srv->store->ops->dev_report_version(r->srv->store, d.id, fv, sv,
                                                (int64_t)time(NULL));
    json_decref(b);
    return dev_reply(r, eno, NULL);
}

static enum MHD_Result query_version(od_srv_req *r)
{
    who w;
    od_srv_dev d;
    enum MHD_Result ret;
    if (prologue(r, &w, &d, &ret))
        return ret;
    return dev_reply(r, OD_SRV_ENO_OK,
                     json_pack("{ss,ss}", "f_version", d.f_version, "s_version",
                               d.s_version));
}

/* prologue, then the "type" argument of check and tasking into *comp:
 * OD_SRV_COMP_FOTA (1) or OD_SRV_COMP_SOTA (2). */
static int typed_prologue(od_srv_req *r, od_srv_dev *d, int *comp, enum MHD_Result *ret)
{
    who w;
    const char *type = od_srv_arg(r, "type");
    if (prologue(r, &w, d, ret))
        return 1;
    if (!type || (strcmp(type, "1") && strcmp(type, "2"))) {
        *ret = dev_reply(r, OD_SRV_ENO_PARAM, NULL);
        return 1;
    }
    *comp = type[0] - '0';
    return 0;
}

/* The reply of check and tasking: the data fields on OK, shown as the
 * route's errno for eno. The fuse check has no token (a fuse device
 * names its row by tid) but the row's status: 1 pending, 2 downloading,
 * 3 upgrading. */
static enum MHD_Result check_reply(od_srv_req *r, int eno, int shown, const od_srv_check *c)
{
    if (eno != OD_SRV_ENO_OK)
        return dev_reply_as(r, eno, shown, NULL);
    if (r->fuse)
        return dev_reply(
            r, eno,
            json_pack("{ss,sI,sI,ss,si,si,ss,si,si,si,si}", "target", c->target, "tid",
                      (json_int_t)c->task_id, "size", (json_int_t)c->size, "md5", c->md5,
                      "status", c->state, "type", c->type, "sha256", c->sha256, "signal",
                      c->signal, "power", c->power, "retry", c->retry, "interval",
                      c->interval));
    return dev_reply(r, eno,
                     json_pack("{ss,ss,sI,ss,ss,si,si,si,si,si,sI}", "target", c->target,
                               "token", c->token, "size", (json_int_t)c->size, "md5",
                               c->md5, "sha256", c->sha256, "signal", c->signal, "power",
                               c->power, "retry", c->retry, "interval", c->interval,
                               "type", c->type, "tid", (json_int_t)c->task_id));
}

static enum MHD_Result check_task(od_srv_req *r)
{
    od_srv_dev d;
    od_srv_check c;
    enum MHD_Result ret;
    const char *version = od_srv_arg(r, "version");
    const char *manuf = od_srv_arg(r, "manuf"), *model = od_srv_arg(r, "model");
    int comp, eno;

    if (typed_prologue(r, &d, &comp, &ret))
        return ret;
    if (version && version[0] && !od_srv_version_valid(version))
        return dev_reply(r, OD_SRV_ENO_BAD_VERSION, NULL);
    if ((manuf && strlen(manuf) > OD_SRV_MM_MAX) || (model && strlen(model) > OD_SRV_MM_MAX))
        return dev_reply(r, OD_SRV_ENO_PARAM, NULL);
    eno = r->srv->store->ops->dev_check(r->srv->store, d.id, comp, version, manuf,
                                       model, (int64_t)time(NULL), r->head, &c);
    return check_reply(r, eno, eno, &c);
}

/* GET /ota/south/tasking?dev_id&type[&cdn]: the token the device holds
 * for its active task of that type, to resume after a reboot. OneNET's
 * errno 4 is "no valid token" here (an answer, so 200), not the
 * token-of-another-device 4 of the other routes. cdn is ignored: this
 * server serves the packages itself. */
static enum MHD_Result tasking(od_srv_req *r)
{
    od_srv_dev d;
    od_srv_check c;
    enum MHD_Result ret;
    int comp, eno;

    if (typed_prologue(r, &d, &comp, &ret))
        return ret;
    eno = r->srv->store->ops->dev_tasking(r->srv->store, d.id, comp, (int64_t)time(NULL),
                                         r->head, &c);
    if (eno == OD_SRV_ENO_NO_TASK)
        return od_srv_reply(r, MHD_HTTP_OK, OD_SRV_ENO_TOKEN_OWNER,
                            "no valid token: check for a task first", NULL);
    return check_reply(r, eno, eno, &c);
}

/* GET /ota/south/download/{token}/check?dev_id: the token check, pending
 * -> downloading. GET /fuse-ota/{pro_id}/{dev_name}/{tid}/check: the
 * state of the device's row in task tid (read-only; 1..6 as
 * od_srv_dev_state numbers them). */
static enum MHD_Result row_check(od_srv_req *r)
{
    od_srv_store *st = r->srv->store;
    who w;
    od_srv_dev d;
    od_srv_row_key k;
    enum MHD_Result ret;
    int eno = row_key(r, r->strs[0], &k), state;
    if (eno != OD_SRV_ENO_OK)
        return dev_reply(r, eno, NULL);
    if (prologue(r, &w, &d, &ret))
        return ret;
    if (!r->fuse)
        return dev_reply(r, st->ops->dev_token_check(st, d.id, &k, (int64_t)time(NULL), r->head),
                         NULL);
    eno = st->ops->dev_row_state(st, d.id, &k, (int64_t)time(NULL), r->head, &state);
    return dev_reply(r, eno, eno == OD_SRV_ENO_OK ? json_pack("{si}", "status", state) : NULL);
}

/* The errno OneNET's /ota/south/report table has for a dev_progress
 * answer: 1 (token authentication) for a token that is unknown or another
 * device's (still 403), 21 (invalid operation) for a code the row's state
 * does not allow; 20, 22 and otadelta's 12 and 25 as everywhere. */
static int report_errno(int eno)
{
    switch (eno) {
    case OD_SRV_ENO_TOKEN_OWNER: return OD_SRV_ENO_AUTH;
    case OD_SRV_ENO_STATE: return OD_SRV_ENO_INVALID_OP;
    default: return eno;
    }
}

/* The progress route ({"step"}, token in the path), the fuse status route
 * ({"step"}, tid in the path) and the alternative status report
 * ({"result"}, token in the query, status codes only) drive the same row
 * through the same store operation and state machine; they differ in
 * what they accept and in the errno table they answer with. */
static enum MHD_Result report_step(od_srv_req *r, const char *token, int report)
{
    who w;
    od_srv_dev d;
    od_srv_row_key k;
    enum MHD_Result ret;
    json_t *b, *v;
    json_int_t n;
    int eno = row_key(r, token, &k), is_int;

    if (eno != OD_SRV_ENO_OK)
        return dev_reply_as(r, eno, report ? report_errno(eno) : eno, NULL);
    if (prologue(r, &w, &d, &ret))
        return ret;
    b = od_srv_body_json(r);
    v = b ? json_object_get(b, report ? "result" : "step") : NULL;
    is_int = json_is_integer(v);
    n = is_int ? json_integer_value(v) : -1;
    json_decref(b);
    if (report && !is_int)
        return dev_reply(r, OD_SRV_ENO_BAD_RESULT, NULL);
    /* report: 101..107 and 201..208 only (OneNET's 2, "code not
     * recognised"); download percents go to the progress route. */
    if (n < 0 || n > 1000 || (report && (n < 101 || !od_srv_status_text((int)n))))
        return dev_reply(r, OD_SRV_ENO_PARAM, NULL);
    eno = r->srv->store->ops->dev_progress(r->srv->store, d.id, &k, (int)n,
                                          (int64_t)time(NULL));
    return dev_reply_as(r, eno, report ? report_errno(eno) : eno, NULL);
}

/* POST /ota/south/device/download/{token}/progress?dev_id {"step"};
 * POST /fuse-ota/{pro_id}/{dev_name}/{tid}/status {"step"} */
static enum MHD_Result progress(od_srv_req *r)
{
    return report_step(r, r->strs[0], 0);
}

/* POST /ota/south/report?dev_id&token {"result"}: OneNET's alternative
 * status report, called twice (1xx, then 2xx). */
static enum MHD_Result report(od_srv_req *r)
{
    return report_step(r, od_srv_arg(r, "token"), 1);
}

/* GET /ota/devInfo {"pid", "authInfo"}: the dev_id (a string, as on
 * OneNET) of the device of product pid whose name is authInfo (OneNET's
 * device serial for HTTP devices). The token must reach that device: a
 * product token of pid, or the device's own device-key token. POST with
 * the same body is accepted too, for HTTP stacks that cannot send a body
 * with GET. */
static enum MHD_Result dev_id_lookup(od_srv_req *r)
{
    od_srv_store *st = r->srv->store;
    who w;
    od_srv_dev d;
    json_t *b = od_srv_body_json(r), *jp = json_object_get(b, "pid");
    const char *s = json_string_value(json_object_get(b, "authInfo"));
    char name[OD_SRV_NAME_MAX + 1], id[24];
    int64_t pid = 0;
    int ok;

    if (json_is_integer(jp) && json_integer_value(jp) > 0)
        pid = json_integer_value(jp);
    else if (json_is_string(jp))
        pid = od_srv_parse_id(json_string_value(jp));
    ok = pid && s && s[0] && strlen(s) <= OD_SRV_NAME_MAX;
    if (ok)
        snprintf(name, sizeof(name), "%s", s);
    json_decref(b);
    if (!ok)
        return dev_reply(r, OD_SRV_ENO_PARAM, NULL);
    if (auth_parse(r, &w) != 0)
        return auth_fail(r);
    /* As in prologue: a device out of the token's reach is no device. */
    if (reach_named(st, &w, pid, name, &d) != 0)
        return dev_reply(r, OD_SRV_ENO_AUTH, NULL);
    snprintf(id, sizeof(id), "%lld", (long long)d.id);
    return dev_reply(r, OD_SRV_ENO_OK, json_pack("{ss}", "dev_id", id));
}

/* OneNET's download error signalling: one ASCII byte, and no
 * Content-Length, which is how its devices tell an error from a piece of
 * the file. The body is therefore delimited by closing the connection
 * (HTTP/1.0 framing; chunked coding would hide the byte from such a
 * device), and the status and the Ota-Errno header say which error as
 * well, for devices that look there. */
int od_srv_is_download(od_srv_req *r)
{
    /* OneNET's notes put the file at ipPort/ota/download/{token}, its
     * route table at /ota/south/download/{token}: both serve it. */
    return od_srv_route(r, "fuse-ota/*/*/*/download") || od_srv_route(r, "ota/south/download/*") ||
           od_srv_route(r, "ota/download/*");
}

static ssize_t dl_error_byte(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)max; /* at least 1 */
    if (pos > 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    buf[0] = *(const char *)cls;
    return 1;
}

enum MHD_Result od_srv_dl_error(od_srv_req *r, unsigned status, char byte, int eno)
{
    /* The reader's closure outlives this call: point into a constant. */
    static const char bytes[] = "0123456789";
    const char *b = byte >= '0' && byte <= '9' ? &bytes[byte - '0'] : &bytes[5];
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1, dl_error_byte, (void *)(uintptr_t)b, NULL);
    char num[16];
    enum MHD_Result ret;
    if (!resp)
        return MHD_NO;
    if (MHD_set_response_options(resp, MHD_RF_HTTP_VERSION_1_0_ONLY, MHD_RO_END) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    snprintf(num, sizeof(num), "%d", eno);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(resp, "Ota-Errno", num);
    od_srv_std_headers(r, resp, status);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* What the header fields named name say of etag, each a list (RFC 9110
 * 5.3: a list may come in several field lines): -1 none sent, 1 one names
 * it (od_srv_etag_match, weak or strong comparison), 0 none does. */
typedef struct etag_fields {
    const char *name, *etag;
    int weak, seen, match;
} etag_fields;

static enum MHD_Result etag_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    etag_fields *f = cls;
    (void)kind;
    (void)value_size;
    if (strlen(f->name) == key_size && !strncasecmp(key, f->name, key_size)) {
        f->seen = 1;
        f->match |= od_srv_etag_match(value, f->etag, f->weak);
    }
    return MHD_YES;
}

static int etag_fields_match(od_srv_req *r, const char *name, const char *etag, int weak)
{
    etag_fields f = {name, etag, weak, 0, 0};
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, etag_field, &f);
    return f.seen ? f.match : -1;
}

/* The preconditions of a GET or HEAD of the package (RFC 9110 13.2.2, in
 * its order: If-Match, else If-Unmodified-Since; then If-None-Match, else
 * If-Modified-Since; If-Range comes after, with the Range). Evaluated once
 * the request would otherwise succeed, as 13.2.1 wants. A date that is no
 * HTTP-date is ignored. Returns 0 (serve), 304 or 412. */
static unsigned preconditions(od_srv_req *r, const char *etag, int64_t mtime)
{
    int m = etag_fields_match(r, MHD_HTTP_HEADER_IF_MATCH, etag, 0);
    int64_t t;
    if (m == 0 ||
        (m < 0 && od_srv_http_date_parse(MHD_lookup_connection_value(
                      r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE), &t) == 0 &&
         mtime > t))
        return MHD_HTTP_PRECONDITION_FAILED;
    m = etag_fields_match(r, MHD_HTTP_HEADER_IF_NONE_MATCH, etag, 1);
    if (m == 1 ||
        (m < 0 && od_srv_http_date_parse(MHD_lookup_connection_value(
                      r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE), &t) == 0 &&
         mtime <= t))
        return MHD_HTTP_NOT_MODIFIED;
    return 0;
}

/* GET /ota/south/download/{token} or /ota/download/{token} (any device of the token's product
 * may fetch it: the token names the row) and GET
 * /fuse-ota/{pro_id}/{dev_name}/{tid}/download (the path's device, its
 * row in task tid; the Range also from a range= query argument). */
static enum MHD_Result download(od_srv_req *r)
{
    od_srv_store *st = r->srv->store;
    who w;
    od_srv_dev d;
    od_srv_row_key k;
    od_srv_dl dl;
    od_srv_range rg;
    struct stat sb;
    struct MHD_Response *resp;
    char path[OD_SRV_PATH_MAX], etag[80], buf[96];
    const char *ifr, *range;
    int eno, fd;
    unsigned fail = 0, cond;
    enum MHD_Result ret;
    uint64_t len;
    int64_t now = (int64_t)time(NULL);
    struct tm tm;

    if (r->method_bit != OD_SRV_M_GET) {
        r->allow = OD_SRV_M_GET;
        return od_srv_dl_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, '5', OD_SRV_ENO_PARAM);
    }
    eno = row_key(r, r->strs[0], &k);
    if (eno == OD_SRV_ENO_PARAM)
        return od_srv_dl_error(r, MHD_HTTP_BAD_REQUEST, '5', eno);
    if (eno != OD_SRV_ENO_OK)
        return od_srv_dl_error(r, MHD_HTTP_FORBIDDEN, '3', eno);
    if (r->fuse)
        fail = find_device(r, &w, &d);
    else if (auth_parse(r, &w) != 0)
        fail = MHD_HTTP_UNAUTHORIZED;
    else
        d.id = w.device_form ? w.dev.id : 0; /* a device key reaches its own rows only */
    if (fail == MHD_HTTP_BAD_REQUEST)
        return od_srv_dl_error(r, fail, '5', OD_SRV_ENO_PARAM);
    if (fail == MHD_HTTP_UNAUTHORIZED)
        return od_srv_dl_error(r, fail, '3', OD_SRV_ENO_AUTH);
    if (fail)
        return od_srv_dl_error(r, fail, '1', OD_SRV_ENO_AUTH); /* no such device within reach */
    eno = st->ops->dev_download(st, &k, d.id, now, w.product_id, &dl);
    if (eno < 0)
        return od_srv_dl_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, '4', OD_SRV_ENO_INTERNAL);
    if (eno == OD_SRV_ENO_PAUSED)
        return od_srv_dl_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, '4', eno);
    if (eno == OD_SRV_ENO_INTERNAL)
        return od_srv_dl_error(r, MHD_HTTP_NOT_FOUND, '1', eno);
    if (eno != OD_SRV_ENO_OK)
        return od_srv_dl_error(r, MHD_HTTP_FORBIDDEN, '3', eno);
    if (od_srv_file_path(r->srv->data_dir, dl.file, path, sizeof(path)) != OD_SRV_OK)
        return od_srv_dl_error(r, MHD_HTTP_NOT_FOUND, '1', OD_SRV_ENO_INTERNAL);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return od_srv_dl_error(r, MHD_HTTP_NOT_FOUND, '1', OD_SRV_ENO_INTERNAL);
    if (fstat(fd, &sb) != 0 || (int64_t)sb.st_size != dl.size || dl.size <= 0) {
        close(fd);
        return od_srv_dl_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, '2', OD_SRV_ENO_INTERNAL);
    }
    snprintf(etag, sizeof(etag), "\"%s\"", dl.sha256);
    cond = preconditions(r, etag, dl.created);
    if (cond == MHD_HTTP_PRECONDITION_FAILED) {
        close(fd);
        return od_srv_dl_error(r, cond, '5', OD_SRV_ENO_PARAM);
    }
    /* A device's first download moves its row from pending to downloading
     * as the token check does (a fuse device has none; a legacy one may
     * skip it): once, later requests find it downloading and stay
     * read-only. Not for a HEAD, which changes nothing, nor a 304, which
     * sends no byte. What else the row did meanwhile is for the next call
     * to say; only a storage failure stops this one. */
    if (!cond && !r->head && dl.state == OD_SRV_DEV_PENDING &&
        st->ops->dev_token_check(st, dl.device_id, &k, now, 0) < 0) {
        close(fd);
        return od_srv_dl_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, '4', OD_SRV_ENO_INTERNAL);
    }
    /* The header wins; a fuse device may send range= instead. */
    range = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    if (!range && r->fuse)
        range = od_srv_arg(r, "range");
    od_srv_range_parse(range, (uint64_t)dl.size, &rg);
    /* If-Range with another validator: the client's partial copy is of a
     * different package, so it gets the whole new one. */
    ifr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
    if (ifr && strcmp(ifr, etag) != 0)
        od_srv_range_parse(NULL, (uint64_t)dl.size, &rg);
    len = rg.end - rg.start + 1;
    /* A 304 has no body; sized as the whole package, its Content-Length
     * is the 200's, the only one RFC 9110 8.6 allows on it (libmicrohttpd
     * would otherwise say 0). */
    resp = cond ? MHD_create_response_from_fd_at_offset64((uint64_t)dl.size, fd, 0)
                : MHD_create_response_from_fd_at_offset64(len, fd, rg.start);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "Ota-Errno", "0");
    if (cond) { /* 304: the validator, no representation metadata (RFC 9110 15.4.5) */
        ret = MHD_queue_response(r->conn, cond, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (gmtime_r(&(time_t){(time_t)dl.created}, &tm) &&
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, buf);
    snprintf(buf, sizeof(buf), "attachment; filename=\"package-%lld.otad\"",
             (long long)dl.package_id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, buf);
    snprintf(buf, sizeof(buf), "bytes %llu-%llu/%lld", (unsigned long long)rg.start,
             (unsigned long long)rg.end, (long long)dl.size);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, buf);
    ret = MHD_queue_response(r->conn, rg.partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK,
                             resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result od_srv_api_dev(od_srv_req *r)
{
    unsigned allow = 0;
#define ROUTE(m, pat) od_srv_route_m(r, m, pat, &allow)
    const unsigned get = OD_SRV_M_GET, post = OD_SRV_M_POST;
    /* /fuse-ota/{pro_id}/{dev_name}[/{tid}]/...: the same handlers. A
     * download refuses a wrong method in its own (byte) form. */
    if (od_srv_is_download(r))
        return download(r);
    if (ROUTE(post, "fuse-ota/*/*/version"))
        return report_version(r);
    if (ROUTE(get, "fuse-ota/*/*/version"))
        return query_version(r);
    if (ROUTE(get, "fuse-ota/*/*/check"))
        return check_task(r);
    if (ROUTE(get, "fuse-ota/*/*/*/check"))
        return row_check(r);
    if (ROUTE(post, "fuse-ota/*/*/*/status"))
        return progress(r);
    if (ROUTE(post, "ota/device/version"))
        return report_version(r);
    if (ROUTE(get, "ota/device/version"))
        return query_version(r);
    if (ROUTE(get, "ota/south/check"))
        return check_task(r);
    if (ROUTE(get, "ota/south/download/*/check"))
        return row_check(r);
    if (ROUTE(post, "ota/south/device/download/*/progress"))
        return progress(r);
    if (ROUTE(get, "ota/south/tasking"))
        return tasking(r);
    if (ROUTE(post, "ota/south/report"))
        return report(r);
    if (ROUTE(get | post, "ota/devInfo"))
        return dev_id_lookup(r);
#undef ROUTE
    return od_srv_reply_unrouted(r, allow);
}
