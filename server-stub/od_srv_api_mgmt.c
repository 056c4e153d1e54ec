/*
 * od_srv_api_mgmt.c - the management API (/api/v1/...): users,
 * products, firmware, packages and generation jobs, devices, groups and
 * tasks.
 * Every field is validated here, before the store sees it; docs/API.md
 * lists the routes and their fields.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_http.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "od_diff.h"
#include "od_pkgfmt_host.h"

/* ------------------------------------------------------------------ */
/* Field validation                                                     */

/* 1..max printable ASCII characters without quotes or control bytes. */
static int name_ok(const char *s, size_t max)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++)
        if (n >= max || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0;
}

/* 0..max characters of [A-Za-z0-9] (manuf/model codes). */
static int code_ok(const char *s, size_t max)
{
    size_t n = 0;
    if (!s)
        return 1;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max || !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                          (c >= 'a' && c <= 'z')))
            return 0;
    }
    return 1;
}

/* Optional string field: *out NULL if absent; -1 if present but not a
 * string. */
static int get_str(json_t *o, const char *k, const char **out)
{
    json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* Optional integer field in [lo, hi]; def when absent. */
static int get_int(json_t *o, const char *k, int64_t lo, int64_t hi,
                   int64_t def, int64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return (*out < lo || *out > hi) ? -1 : 0;
}

/* Optional array of positive ids, at most OD_SRV_LIST_MAX. */
static int id_list_ok(json_t *a)
{
    size_t i;
    json_t *v;
    if (!a || json_is_null(a))
        return 1;
    if (!json_is_array(a) || json_array_size(a) > OD_SRV_LIST_MAX)
        return 0;
    json_array_foreach(a, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return 0;
    }
    return 1;
}

static int parse_component(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "sota") || !strcmp(s, "SOTA") || !strcmp(s, "2"))
        return OD_SRV_COMP_SOTA;
    if (!strcmp(s, "fota") || !strcmp(s, "FOTA") || !strcmp(s, "1"))
        return OD_SRV_COMP_FOTA;
    return -1;
}

static enum MHD_Result ok_json(od_srv_req *r, unsigned status, json_t *data)
{
    return od_srv_reply(r, status, 0, "succ", data);
}

/* data is passed by address so the call that fills it is sequenced
 * before it is read (argument evaluation order is unspecified). */
static enum MHD_Result store_reply(od_srv_req *r, int rc, json_t **datap)
{
    json_t *data = datap ? *datap : NULL;
    if (rc != OD_SRV_OK) {
        json_decref(data);
        return od_srv_reply_err(r, rc, NULL);
    }
    return ok_json(r, MHD_HTTP_OK, data);
}

static int random_key(char out[OD_SRV_KEY_MAX + 1])
{
    unsigned char b[32];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, b, sizeof(b));
    return 0;
}

#define BAD(msg) return od_srv_reply_err(r, OD_SRV_ERR_PARAM, msg)

#define PUSH_LIST_MAX 50 /* deliveries GET .../push shows, newest first */
#define PUSH_URL_MSG "url: an http:// or https:// URL with a host, up to 1024 characters, no spaces"

#define OWNER_MSG "user_id: a user id, or null for no owner"

/* ------------------------------------------------------------------ */
/* Firmware upload (body already streamed to a temp file)               */

/*
 * The upload's query arguments and product: fills fw's product_id,
 * version, component, manuf and model, and *raw_only (as_is absent or 0).
 * 0, or -1 with the refusal queued into *ret. The body is not looked at.
 */
static int upload_args(od_srv_req *r, od_srv_fw *fw, int *raw_only, enum MHD_Result *ret)
{
    od_srv_store *st = r->srv->store;
    const char *version = od_srv_arg(r, "version");
    const char *comp = od_srv_arg(r, "component");
    const char *manuf = od_srv_arg(r, "manuf");
    const char *model = od_srv_arg(r, "model");
    const char *as_is = NULL, *bad = NULL;
    size_t as_is_len = 0;
    /* Present without a value ("?as_is") is as wrong as any other value. */
    int has_as_is = MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "as_is", 5,
                                                  &as_is, &as_is_len) == MHD_YES;
    int64_t owner;
    int rc;

    memset(fw, 0, sizeof(*fw));
    fw->product_id = r->ids[0];
    fw->component = parse_component(comp);
    if (!od_srv_version_valid(version))
        bad = "version must be 1..50 characters of A-Za-z0-9._-";
    else if (fw->component <= 0)
        bad = "component must be fota or sota";
    else if (!code_ok(manuf, OD_SRV_MM_MAX) || !code_ok(model, OD_SRV_MM_MAX))
        bad = "manuf and model are up to 32 letters or digits";
    else if (has_as_is && (!as_is || (strcmp(as_is, "0") && strcmp(as_is, "1"))))
        bad = "as_is must be 0 or 1";
    if (bad) {
        *ret = od_srv_reply_err(r, OD_SRV_ERR_PARAM, bad);
        return -1;
    }
    /* A missing product is the first thing to say, before the file's
     * contents are judged. */
    if ((rc = st->ops->product_owner(st, fw->product_id, &owner)) != OD_SRV_OK) {
        *ret = od_srv_reply_err(r, rc, NULL);
        return -1;
    }
    snprintf(fw->version, sizeof(fw->version), "%s", version);
    snprintf(fw->manuf, sizeof(fw->manuf), "%s", manuf ? manuf : "");
    snprintf(fw->model, sizeof(fw->model), "%s", model ? model : "");
    *raw_only = !has_as_is || !strcmp(as_is, "0");
    return 0;
}

int od_srv_api_upload_refused(od_srv_req *r, enum MHD_Result *ret)
{
    od_srv_fw fw;
    int raw_only;
    return upload_args(r, &fw, &raw_only, ret) != 0;
}

enum MHD_Result od_srv_api_upload_done(od_srv_req *r)
{
    od_srv_store *st = r->srv->store;
    od_srv_fw fw;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    char rnd[17], final[OD_SRV_PATH_MAX];
    enum MHD_Result ret;
    int64_t id;
    int rc, raw_only;

    /* Checked at the start too; the product is looked up again here. */
    if (upload_args(r, &fw, &raw_only, &ret) != 0)
        return ret;
    if (r->up_len == 0)
        BAD("empty image");
    if (raw_only) {
        /* A build output stored as firmware would reach devices as it is,
         * and verify there: its hash is the file's. */
        uint8_t head[OD_IMAGE_PROBE];
        ssize_t n = pread(r->fd, head, sizeof(head), 0);
        int kind;
        if (n < 0)
            return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
        if ((kind = od_diff_image_kind(head, (size_t)n)) != OD_IMAGE_RAW) {
            char msg[400];
            const char *hint, *name = od_diff_image_kind_name(kind, &hint);
            snprintf(msg, sizeof(msg),
                     "the body is %s, not a raw flash image: devices would store the file"
                     " itself; %s (or add as_is=1 if these bytes are what devices must hold)",
                     name, hint);
            return od_srv_reply(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, OD_SRV_ERR_PARAM, msg, NULL);
        }
    }
    fw.size = (int64_t)r->up_len;
    EVP_DigestFinal_ex(r->md5, md, &mdlen);
    od_srv_hex(md, mdlen, fw.md5);
    EVP_DigestFinal_ex(r->sha256, md, &mdlen);
    od_srv_hex(md, mdlen, fw.sha256);

    /* Make the bytes durable under their final name before the row that
     * names them exists. */
    {
        int synced = fsync(r->fd) == 0;
        int closed = close(r->fd) == 0; /* whatever fsync said */
        r->fd = -1;
        if (!synced || !closed)
            return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
    }
    if (od_srv_random_hex(rnd, 8) != OD_SRV_OK)
        return od_srv_reply_err(r, OD_SRV_ERR_INTERNAL, NULL);
    snprintf(fw.file, sizeof(fw.file), "fw/%s-%s.bin", fw.sha256, rnd);
    if (od_srv_file_path(r->srv->data_dir, fw.file, final, sizeof(final)) != OD_SRV_OK ||
        rename(r->tmp_path, final) != 0)
        return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
    r->tmp_path[0] = '\0';
    {
        /* Without the directory on disk a power cut could lose the file
         * that the row below names. */
        char dir[OD_SRV_PATH_MAX + 8];
        snprintf(dir, sizeof(dir), "%s/fw", r->srv->data_dir);
        if (od_pkg_sync_dir(dir) != OD_PKG_OK) {
            unlink(final);
            return od_srv_reply_err(r, OD_SRV_ERR_IO, NULL);
        }
    }
    rc = st->ops->fw_insert(st, &fw, &id);
    if (rc != OD_SRV_OK) {
        unlink(final);
        return od_srv_reply_err(r, rc,
                                rc == OD_SRV_ERR_EXISTS
                                    ? "this version of this component exists"
                                    : NULL);
    }
    return ok_json(r, MHD_HTTP_CREATED,
                   json_pack("{sI,sI,ss,ss,ss,ss,sI,ss,ss}", "id", (json_int_t)id,
                             "product_id", (json_int_t)fw.product_id, "version",
                             fw.version, "component", fw.component == 1 ? "fota" : "sota",
                             "manuf", fw.manuf, "model", fw.model, "size",
                             (json_int_t)fw.size, "md5", fw.md5, "sha256",
                             fw.sha256));
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */

/* POST /api/v1/products (user 0) and POST /api/v1/users (user 1): a name
 * and a new access key; a product may also name its owner. */
static enum MHD_Result keyed_create(od_srv_req *r, json_t *b, int user)
{
    od_srv_store *st = r->srv->store;
    const char *name;
    char key[OD_SRV_KEY_MAX + 1];
    int64_t id, owner = 0;
    int rc;
    if (get_str(b, "name", &name) != 0 || !name_ok(name, OD_SRV_NAME_MAX))
        BAD("name: 1..64 printable characters");
    if (!user && get_int(b, "user_id", 1, INT64_MAX, 0, &owner) != 0)
        BAD(OWNER_MSG);
    if (random_key(key) != 0)
        return od_srv_reply_err(r, OD_SRV_ERR_INTERNAL, NULL);
    rc = user ? st->ops->user_create(st, name, key, &id)
              : st->ops->product_create(st, name, key, owner, &id);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, rc == OD_SRV_ERR_NOT_FOUND ? "user_id: no such user" : NULL);
    return ok_json(r, MHD_HTTP_CREATED,
                   json_pack("{sI,ss,ss}", "id", (json_int_t)id, "name", name,
                             "access_key", key));
}

/* POST /api/v1/products/{pid}/access_key, /api/v1/devices/{id}/dev_key and
 * /api/v1/users/{uid}/access_key: a new key, made as at creation, replaces
 * the one that may have leaked. set is the owner's store operation, field
 * the reply member that carries the key, as in the owner's record. */
static enum MHD_Result key_rotate(od_srv_req *r,
                                  int (*set)(od_srv_store *, int64_t, const char *),
                                  const char *field)
{
    char key[OD_SRV_KEY_MAX + 1];
    int rc;
    if (random_key(key) != 0)
        return od_srv_reply_err(r, OD_SRV_ERR_INTERNAL, NULL);
    rc = set(r->srv->store, r->ids[0], key);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, NULL);
    return ok_json(r, MHD_HTTP_OK,
                   json_pack("{sI,ss}", "id", (json_int_t)r->ids[0], field, key));
}

/* DELETE /api/v1/users/{uid}. */
static enum MHD_Result user_delete(od_srv_req *r)
{
    int rc = r->srv->store->ops->user_delete(r->srv->store, r->ids[0]);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc,
                                rc == OD_SRV_ERR_BUSY
                                    ? "the user owns products: give each another owner or none"
                                      " with PUT /api/v1/products/{pid}/owner (GET"
                                      " /api/v1/products lists user_id), then delete the user"
                                    : NULL);
    return ok_json(r, MHD_HTTP_OK, NULL);
}

/* GET /api/v1/products/{pid}/firmware (packages, devices, groups, tasks):
 * the product's list by `list`, or 404 for a product that does not exist,
 * which an empty list would pass off as one that has none. */
static enum MHD_Result product_list(od_srv_req *r,
                                    int (*list)(od_srv_store *, int64_t, json_t **))
{
    od_srv_store *st = r->srv->store;
    json_t *out = NULL;
    int64_t owner;
    int rc = st->ops->product_owner(st, r->ids[0], &owner);
    if (rc == OD_SRV_OK)
        rc = list(st, r->ids[0], &out);
    return store_reply(r, rc, &out);
}

/* PUT /api/v1/products/{pid}/owner {"user_id": uid or null}: the user
 * whose userid/ tokens reach the product from now on, or nobody. The
 * member is required, so that a typo in its name does not clear it. */
static enum MHD_Result owner_put(od_srv_req *r, json_t *b)
{
    int64_t owner;
    int rc;
    if (!json_object_get(b, "user_id") || get_int(b, "user_id", 1, INT64_MAX, 0, &owner) != 0)
        BAD(OWNER_MSG);
    rc = r->srv->store->ops->product_set_owner(r->srv->store, r->ids[0], owner);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc,
                                rc != OD_SRV_ERR_NOT_FOUND ? NULL
                                : owner ? "no such product, or user_id names no user"
                                        : "no such product");
    return ok_json(r, MHD_HTTP_OK,
                   json_pack("{so}", "user_id", owner ? json_integer(owner) : json_null()));
}

static enum MHD_Result package_create(od_srv_req *r, json_t *b)
{
    od_srv_store *st = r->srv->store;
    const char *type, *codec, *filter, *effort;
    int64_t src, dst, budget, block, pkg_id, job_id;
    od_srv_fw sfw, tfw;
    od_srv_pkg p;
    int rc;

    memset(&p, 0, sizeof(p));
    if (get_str(b, "type", &type) != 0 || !type ||
        (strcmp(type, "full") && strcmp(type, "diff")))
        BAD("type: full or diff");
    if (get_int(b, "target_fw", 1, INT64_MAX, 0, &dst) != 0 || dst == 0)
        BAD("target_fw: a firmware id");
    if (get_int(b, "source_fw", 1, INT64_MAX, 0, &src) != 0)
        BAD("source_fw: a firmware id");
    if (get_int(b, "ram_budget", 1024, 64 << 20, OD_DIFF_DEFAULT_RAM, &budget) != 0)
        BAD("ram_budget: 1024..67108864 bytes");
    /* Restart-point spacing: smaller blocks mean less to redo after a
     * power cut, a little less compression. 0 keeps the generator's. */
    if (get_int(b, "block_size", 0, 1 << 30, 0, &block) != 0 ||
        block % OD_DIFF_DEFAULT_ERASE != 0)
        BAD("block_size: 0 (default) or a multiple of 4096 bytes up to 1 GiB");
    p.kind = !strcmp(type, "full") ? OD_KIND_FULL : OD_KIND_DELTA;
    if (p.kind == OD_KIND_DELTA && src == 0)
        BAD("a diff package needs source_fw");
    /* What the devices' applier build accepts (docs/PORTING.md, profiles). */
    if (get_str(b, "codec", &codec) != 0 ||
        (p.codec = codec ? od_pkg_codec_from_name(codec) : OD_CODEC_LZMA) < 0)
        BAD("codec: lzma (default), deflate or none");
    p.filter = OD_DIFF_FILTER_AUTO;
    if (get_str(b, "filter", &filter) != 0 ||
        (filter && strcmp(filter, "auto") && (p.filter = od_pkg_filter_from_name(filter)) < 0))
        BAD("filter: auto (default), none or thumb");
    if (p.kind == OD_KIND_FULL && p.filter == OD_FILTER_THUMB)
        BAD("filter thumb applies to diff packages only");
    /* Generation time against package size. Unlike codec and filter the
     * devices' applier cannot tell the two apart: either suits any device
     * and both package kinds. */
    if (get_str(b, "effort", &effort) != 0 ||
        (effort && strcmp(effort, "best") && strcmp(effort, "fast")))
        BAD("effort: best (default) or fast");
    p.effort = effort && !strcmp(effort, "fast") ? OD_DIFF_EFFORT_FAST : OD_DIFF_EFFORT_BEST;
    rc = st->ops->fw_get(st, dst, &tfw);
    if (rc == OD_SRV_OK && tfw.product_id != r->ids[0])
        rc = OD_SRV_ERR_NOT_FOUND;
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, "target_fw not found");
    if (p.kind == OD_KIND_DELTA) {
        rc = st->ops->fw_get(st, src, &sfw);
        if (rc == OD_SRV_OK && sfw.product_id != r->ids[0])
            rc = OD_SRV_ERR_NOT_FOUND;
        if (rc != OD_SRV_OK)
            return od_srv_reply_err(r, rc, "source_fw not found");
        if (sfw.component != tfw.component)
            BAD("source and target are different components");
        if (src == dst)
            BAD("source and target are the same firmware");
        p.source_fw = src;
        snprintf(p.source_version, sizeof(p.source_version), "%s", sfw.version);
    }
    p.product_id = r->ids[0];
    p.component = tfw.component;
    p.target_fw = dst;
    snprintf(p.target_version, sizeof(p.target_version), "%s", tfw.version);
    p.ram_budget = (uint32_t)budget;
    p.block_size = (uint32_t)block;
    rc = st->ops->pkg_create(st, &p, &pkg_id, &job_id);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, rc == OD_SRV_ERR_NOT_FOUND
                                           ? "source_fw or target_fw was deleted meanwhile"
                                           : NULL);
    od_srv_jobs_kick(r->srv);
    return ok_json(r, MHD_HTTP_ACCEPTED,
                   json_pack("{sI,sI,ss}", "package_id", (json_int_t)pkg_id,
                             "job_id", (json_int_t)job_id, "status", "generating"));
}

/* DELETE of a package (fw 0) or a firmware image (fw 1): the row, then
 * its file. A crash between the two leaves an orphan file, never a row
 * without its file. */
static enum MHD_Result file_row_delete(od_srv_req *r, int fw)
{
    od_srv_store *st = r->srv->store;
    char file[OD_SRV_FILE_MAX], path[OD_SRV_PATH_MAX];
    int rc = fw ? st->ops->fw_delete(st, r->ids[0], file)
                : st->ops->pkg_delete(st, r->ids[0], file);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(
            r, rc,
            rc != OD_SRV_ERR_BUSY ? NULL
            : fw ? "firmware used by a package: delete the packages made from or to it first"
                 : "package in use by an active task or generating");
    if (file[0] &&
        od_srv_file_path(r->srv->data_dir, file, path, sizeof(path)) == OD_SRV_OK)
        unlink(path);
    return ok_json(r, MHD_HTTP_OK, NULL);
}

static enum MHD_Result device_create(od_srv_req *r, json_t *b)
{
    od_srv_dev d;
    const char *name, *manuf, *model;
    int64_t id;
    int rc;
    memset(&d, 0, sizeof(d));
    if (get_str(b, "name", &name) != 0 || !name_ok(name, OD_SRV_NAME_MAX))
        BAD("name: 1..64 printable characters");
    /* Device names appear in the token resource products/{pid}/devices/{name}. */
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '&' || *p == '%')
            BAD("name may not contain / & %");
    /* ... and in the fuse routes' paths, where these two are no name. */
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        BAD("name may not be . or ..");
    if (get_str(b, "manuf", &manuf) != 0 || !code_ok(manuf, OD_SRV_MM_MAX) ||
        get_str(b, "model", &model) != 0 || !code_ok(model, OD_SRV_MM_MAX))
        BAD("manuf and model are up to 32 letters or digits");
    {
        const char *fv, *sv;
        /* "" is "none yet", as the device API reads an empty version. */
        if (get_str(b, "f_version", &fv) != 0 || (fv && *fv && !od_srv_version_valid(fv)) ||
            get_str(b, "s_version", &sv) != 0 || (sv && *sv && !od_srv_version_valid(sv)))
            BAD("f_version / s_version: empty, or 1..50 characters of A-Za-z0-9._-");
        snprintf(d.f_version, sizeof(d.f_version), "%s", fv ? fv : "");
        snprintf(d.s_version, sizeof(d.s_version), "%s", sv ? sv : "");
    }
    d.product_id = r->ids[0];
    snprintf(d.name, sizeof(d.name), "%s", name);
    snprintf(d.manuf, sizeof(d.manuf), "%s", manuf ? manuf : "");
    snprintf(d.model, sizeof(d.model), "%s", model ? model : "");
    if (random_key(d.dev_key) != 0)
        return od_srv_reply_err(r, OD_SRV_ERR_INTERNAL, NULL);
    rc = r->srv->store->ops->dev_create(r->srv->store, &d, &id);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, NULL);
    return ok_json(r, MHD_HTTP_CREATED,
                   json_pack("{sI,ss,ss}", "id", (json_int_t)id, "name", d.name,
                             "dev_key", d.dev_key));
}

static int group_type_ok(const char *t)
{
    return t && (!strcmp(t, "formal") || !strcmp(t, "test"));
}

static enum MHD_Result group_create(od_srv_req *r, json_t *b)
{
    const char *name, *type;
    int64_t id;
    int rc;
    if (get_str(b, "name", &name) != 0 || !name_ok(name, OD_SRV_NAME_MAX))
        BAD("name: 1..64 printable characters");
    if (get_str(b, "type", &type) != 0 || !group_type_ok(type))
        BAD("type: formal or test");
    rc = r->srv->store->ops->group_create(r->srv->store, r->ids[0], name, type, &id);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, NULL);
    return ok_json(r, MHD_HTTP_CREATED, json_pack("{sI,ss,ss}", "id", (json_int_t)id,
                                                  "name", name, "type", type));
}

static enum MHD_Result group_update(od_srv_req *r, json_t *b)
{
    const char *name, *type;
    int rc;
    if (get_str(b, "name", &name) != 0 || (name && !name_ok(name, OD_SRV_NAME_MAX)))
        BAD("name: 1..64 printable characters");
    if (get_str(b, "type", &type) != 0 || (type && !group_type_ok(type)))
        BAD("type: formal or test");
    rc = r->srv->store->ops->group_update(r->srv->store, r->ids[0], name, type);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc,
                                rc == OD_SRV_ERR_STATE ? "a group's type cannot change"
                                                       : NULL);
    return ok_json(r, MHD_HTTP_OK, NULL);
}

static enum MHD_Result group_members(od_srv_req *r, json_t *b)
{
    json_t *add = json_object_get(b, "add"), *rem = json_object_get(b, "remove");
    int rc;
    if (!id_list_ok(add) || !id_list_ok(rem))
        BAD("add / remove: arrays of device ids");
    rc = r->srv->store->ops->group_members(r->srv->store, r->ids[0], add, rem);
    return store_reply(r, rc, NULL);
}

/* Reads a task definition; msg explains a refusal. */
static int task_def(od_srv_req *r, json_t *b, int64_t pid, od_srv_task_def *t,
                    const char **msg)
{
    static const char *const lists[] = {"devices", "groups", "blacklist",
                                        "whitelist"};
    int64_t v;
    const char *s;
    memset(t, 0, sizeof(*t));
    (void)r;
    t->product_id = pid;
    *msg = "package_id: a ready package of this product";
    if (get_int(b, "package_id", 1, INT64_MAX, 0, &t->package_id) != 0 ||
        t->package_id == 0)
        return -1;
    *msg = "name: up to 64 printable characters";
    if (get_str(b, "name", &s) != 0 || (s && s[0] && !name_ok(s, OD_SRV_NAME_MAX)))
        return -1;
    snprintf(t->name, sizeof(t->name), "%s", s ? s : "");
    *msg = "retry: 0..100";
    if (get_int(b, "retry", 0, 100, 3, &v) != 0)
        return -1;
    t->retry = (int)v;
    *msg = "interval: 0..86400 seconds";
    if (get_int(b, "interval", 0, 86400, 60, &v) != 0)
        return -1;
    t->interval_s = (int)v;
    *msg = "min_signal: -150..0 dBm";
    /* Default: no minimum. 0 dBm would be a signal no cellular device
     * reaches; -150 is below anything a modem reports. */
    if (get_int(b, "min_signal", -150, 0, -150, &v) != 0)
        return -1;
    t->min_signal = (int)v;
    *msg = "min_power: 0..100 percent";
    if (get_int(b, "min_power", 0, 100, 0, &v) != 0)
        return -1;
    t->min_power = (int)v;
    *msg = "start_time / deadline: Unix seconds, deadline after start";
    if (get_int(b, "start_time", 0, 1LL << 40, 0, &t->start_time) != 0 ||
        get_int(b, "deadline", 0, 1LL << 40, 0, &t->deadline) != 0 ||
        (t->deadline && t->deadline <= t->start_time))
        return -1;
    *msg = "confirm: silent or user";
    if (get_str(b, "confirm", &s) != 0 ||
        (s && strcmp(s, "silent") && strcmp(s, "user")))
        return -1;
    t->confirm = s && !strcmp(s, "user");
    t->scope = json_object();
    if (!t->scope)
        return -1;
    for (int i = 0; i < 4; i++) {
        json_t *a = json_object_get(b, lists[i]);
        *msg = "devices / groups / blacklist / whitelist: arrays of ids";
        if (!id_list_ok(a)) {
            json_decref(t->scope);
            t->scope = NULL;
            return -1;
        }
        json_object_set_new(t->scope, lists[i], a ? json_deep_copy(a) : json_array());
    }
    return 0;
}

/* A task body's members, as task_def reads them; the first nine are also
 * what task_get answers under the same names. */
static const char *const task_members[] = {
    "package_id", "name", "retry", "interval", "min_signal", "min_power", "start_time",
    "deadline", "confirm", "devices", "groups", "blacklist", "whitelist"};
#define TASK_MEMBERS (sizeof(task_members) / sizeof(task_members[0]))

/*
 * For PUT: the task as stored (cur, from task_get), in a body's terms, with
 * b's members laid over it, so that an edit changes what it names and
 * nothing else (a rename must not empty the scope, which would widen the
 * task to every device of the product). New reference.
 */
static json_t *task_merge(json_t *cur, json_t *b)
{
    json_t *m = json_object(), *scope = json_object_get(cur, "scope");
    if (!m)
        return NULL;
    for (size_t k = 0; k < TASK_MEMBERS; k++) {
        json_t *v = json_object_get(k < 9 ? cur : scope, task_members[k]);
        if (v)
            json_object_set(m, task_members[k], v);
    }
    json_object_update(m, b);
    return m;
}

static enum MHD_Result task_create(od_srv_req *r, json_t *b, int64_t edit_id)
{
    od_srv_store *st = r->srv->store;
    od_srv_task_def t;
    const char *msg, *key;
    char why[160];
    int64_t id = edit_id, pid = r->ids[0];
    json_t *body = b, *v;
    int rc;
    /* A misspelt member ("device") would otherwise be ignored, and an
     * empty scope means every device of the product. */
    json_object_foreach(b, key, v) {
        size_t k = 0;
        while (k < TASK_MEMBERS && strcmp(key, task_members[k]))
            k++;
        if (k == TASK_MEMBERS) {
            snprintf(why, sizeof(why), "unknown member \"%.40s\" (see docs/API.md, Upgrade "
                     "tasks)", key);
            BAD(why);
        }
    }
    if (edit_id) {
        json_t *cur;
        rc = st->ops->task_get(st, edit_id, 0, &cur);
        if (rc != OD_SRV_OK)
            return od_srv_reply_err(r, rc, NULL);
        pid = json_integer_value(json_object_get(cur, "product_id"));
        body = task_merge(cur, b);
        json_decref(cur);
        if (!body)
            return od_srv_reply_err(r, OD_SRV_ERR_NOMEM, NULL);
    }
    rc = task_def(r, body, pid, &t, &msg);
    if (body != b)
        json_decref(body);
    if (rc != 0)
        BAD(msg);
    rc = st->ops->task_scope_check(st, pid, t.scope, why, sizeof(why));
    if (rc == OD_SRV_OK)
        rc = edit_id ? st->ops->task_edit(st, edit_id, &t) : st->ops->task_create(st, &t, &id);
    else if (rc == OD_SRV_ERR_PARAM) {
        json_decref(t.scope);
        BAD(why);
    }
    json_decref(t.scope);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc,
                                rc == OD_SRV_ERR_PARAM ? "package_id: a ready package of this product"
                                : rc == OD_SRV_ERR_STATE ? "only a task not started can be edited"
                                                         : NULL);
    return ok_json(r, edit_id ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                   json_pack("{sI}", "id", (json_int_t)id));
}

static enum MHD_Result task_op(od_srv_req *r, int op)
{
    char msg[160];
    int rc = r->srv->store->ops->task_op(r->srv->store, r->ids[0], op, msg, sizeof(msg));
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, msg[0] ? msg : NULL);
    /* A first start may have queued a push: send it now, not at the
     * delivery thread's next poll. */
    if (op == OD_SRV_OP_START)
        od_srv_push_kick(r->srv);
    return ok_json(r, MHD_HTTP_OK, NULL);
}

/* Why u is no push URL, or NULL when it is one: an absolute http:// or
 * https:// URL with a host, of printable ASCII without spaces (libcurl
 * would otherwise be the one to refuse it, or take another scheme). */
static const char *push_url_bad(const char *u)
{
    size_t skip;
    if (!u || strlen(u) > OD_SRV_PUSH_URL_MAX)
        return PUSH_URL_MSG;
    if (!strncasecmp(u, "http://", 7))
        skip = 7;
    else if (!strncasecmp(u, "https://", 8))
        skip = 8;
    else
        return PUSH_URL_MSG;
    if (!u[skip] || u[skip] == '/' || u[skip] == '?')
        return PUSH_URL_MSG;
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c > 0x7e)
            return PUSH_URL_MSG;
    /* The signature goes into the query, and what follows a '#' is never
     * sent: the receiver would see no signature. */
    if (strchr(u, '#'))
        return "url: no #fragment: the signature is added to the query, and nothing after"
               " a '#' reaches the receiver";
    /* The receiver knows the server by the signature (its token), and GET
     * shows the URL, as the deliveries and the log do. */
    if (memchr(u + skip, '@', strcspn(u + skip, "/?")))
        return "url: no user:password@ in it: the receiver checks the signature made with"
               " the token, and the url is shown by GET";
    return NULL;
}

/* PUT /api/v1/products/{pid}/push: stored only once the receiver passed
 * OneNET's check, so a typo is refused now rather than found when the
 * first task's push fails. The check suspends the request; its handler
 * is called again once it ended, with r->push_check set. */
static enum MHD_Result push_put(od_srv_req *r, json_t *b)
{
    od_srv_store *st = r->srv->store;
    const char *url, *token, *msg;
    char key[OD_SRV_KEY_MAX + 1], busy[160];
    int rc;
    msg = get_str(b, "url", &url) != 0 ? PUSH_URL_MSG : push_url_bad(url);
    if (msg)
        BAD(msg);
    if (get_str(b, "token", &token) != 0 || !name_ok(token, OD_SRV_PUSH_TOKEN_MAX))
        BAD("token: 1..64 printable characters");
    if (!r->push_check) {
        /* The product first: no outbound request on behalf of a wrong id. */
        rc = st->ops->product_key(st, r->ids[0], key);
        if (rc != OD_SRV_OK)
            return od_srv_reply_err(r, rc,
                                    rc == OD_SRV_ERR_NOT_FOUND ? "no such product" : NULL);
        rc = od_srv_push_check_start(r->srv, r->conn, r->ids[0], url, token, &r->push_check);
        if (rc == OD_SRV_OK)
            return MHD_YES; /* the reply comes once the check resumed r */
        msg = NULL;
    } else
        rc = od_srv_push_check_result(r->push_check, &msg);
    if (rc == OD_SRV_ERR_BUSY) {
        snprintf(busy, sizeof(busy),
                 "push url verification busy: %d checks are waiting for their receivers;"
                 " try again in a few seconds",
                 OD_SRV_PUSH_CHECKS);
        return od_srv_reply(r, MHD_HTTP_SERVICE_UNAVAILABLE, rc, busy, NULL);
    }
    if (rc == OD_SRV_ERR_STATE)
        return od_srv_reply(r, MHD_HTTP_SERVICE_UNAVAILABLE, rc,
                            "the server is stopping: push url not verified, nothing stored",
                            NULL);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, msg);
    rc = st->ops->push_set(st, r->ids[0], url, token);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, rc == OD_SRV_ERR_NOT_FOUND ? "no such product" : NULL);
    return ok_json(r, MHD_HTTP_OK, json_pack("{sb,ss}", "configured", 1, "url", url));
}

/* CSV field: quoted, quotes doubled, and a leading = + - @ defused so a
 * spreadsheet does not run it as a formula. */
static void csv_field(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t need = 2 * strlen(s) + 8;
    if (*len + need > *cap) {
        size_t nc = (*cap + need) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return;
        *buf = nb;
        *cap = nc;
    }
    (*buf)[(*len)++] = '"';
    if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
        (*buf)[(*len)++] = '\'';
    for (; *s; s++) {
        if (*s == '"')
            (*buf)[(*len)++] = '"';
        (*buf)[(*len)++] = *s;
    }
    (*buf)[(*len)++] = '"';
}

static enum MHD_Result task_export(od_srv_req *r)
{
    static const char *const cols[] = {"device_id", "name", "online", "download",
                                       "percent", "state", "retries", "last_code",
                                       "status_text"};
    json_t *t, *rows, *row;
    size_t i, len = 0, cap = 4096;
    char *buf;
    enum MHD_Result ret;
    int rc = r->srv->store->ops->task_get(r->srv->store, r->ids[0], 1, &t);
    if (rc != OD_SRV_OK)
        return od_srv_reply_err(r, rc, NULL);
    buf = malloc(cap);
    if (!buf) {
        json_decref(t);
        return od_srv_reply_err(r, OD_SRV_ERR_NOMEM, NULL);
    }
    for (size_t k = 0; k < 9; k++) {
        csv_field(&buf, &len, &cap, cols[k]);
        buf[len++] = k == 8 ? '\n' : ',';
    }
    rows = json_object_get(t, "devices");
    json_array_foreach(rows, i, row) {
        for (size_t k = 0; k < 9; k++) {
            json_t *v = json_object_get(row, cols[k]);
            char num[32];
            const char *s = "";
            if (json_is_string(v))
                s = json_string_value(v);
            else if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
                s = num;
            }
            csv_field(&buf, &len, &cap, s);
            if (len + 2 > cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb)
                    break;
                buf = nb;
                cap *= 2;
            }
            buf[len++] = k == 8 ? '\n' : ',';
        }
    }
    json_decref(t);
    ret = od_srv_reply_raw(r, MHD_HTTP_OK, "text/csv; charset=utf-8", buf, len);
    free(buf);
    return ret;
}

/* ------------------------------------------------------------------ */

/* A route that takes a JSON object got none, or a malformed one: 400
 * saying which. */
static enum MHD_Result body_refused(od_srv_req *r)
{
    char why[200];
    od_srv_body_problem(r, why, sizeof(why));
    return od_srv_reply_err(r, OD_SRV_ERR_PARAM, why);
}

enum MHD_Result od_srv_api_mgmt(od_srv_req *r)
{
    od_srv_store *st = r->srv->store;
    /* Every GET here only reads, so a HEAD is the same call. */
    const unsigned get = OD_SRV_M_GET, post = OD_SRV_M_POST, put = OD_SRV_M_PUT,
                   del = OD_SRV_M_DELETE;
    unsigned allow = 0;
    json_t *out = NULL, *b = NULL;
    enum MHD_Result ret;

    /* Parsed once; the routes that take a JSON object refuse a missing or
     * malformed one (BODY), the others ignore it, and a request on no
     * route is 404 (405 on a route's path with another method) whatever
     * its body. */
    if (r->method_bit & (post | put))
        b = od_srv_body_json(r);
#define ROUTE(m, pat) od_srv_route_m(r, m, pat, &allow)
#define BODY(call) (b ? (call) : body_refused(r))
    if (ROUTE(post, "api/v1/users"))
        ret = BODY(keyed_create(r, b, 1));
    else if (ROUTE(get, "api/v1/users"))
        ret = store_reply(r, st->ops->user_list(st, &out), &out);
    else if (ROUTE(get, "api/v1/users/#"))
        ret = store_reply(r, st->ops->user_get(st, r->ids[0], &out), &out);
    else if (ROUTE(del, "api/v1/users/#"))
        ret = user_delete(r);
    else if (ROUTE(post, "api/v1/users/#/access_key"))
        ret = key_rotate(r, st->ops->user_set_key, "access_key");
    else if (ROUTE(post, "api/v1/products/#/access_key"))
        ret = key_rotate(r, st->ops->product_set_key, "access_key");
    else if (ROUTE(put, "api/v1/products/#/owner"))
        ret = BODY(owner_put(r, b));
    else if (ROUTE(post, "api/v1/products"))
        ret = BODY(keyed_create(r, b, 0));
    else if (ROUTE(get, "api/v1/products"))
        ret = store_reply(r, st->ops->product_list(st, &out), &out);
    else if (ROUTE(get, "api/v1/products/#"))
        ret = store_reply(r, st->ops->product_get(st, r->ids[0], &out), &out);
    else if (ROUTE(put, "api/v1/products/#/push"))
        ret = BODY(push_put(r, b));
    else if (ROUTE(get, "api/v1/products/#/push"))
        ret = store_reply(r, st->ops->push_get(st, r->ids[0], PUSH_LIST_MAX, &out), &out);
    else if (ROUTE(del, "api/v1/products/#/push")) {
        int rc = st->ops->push_delete(st, r->ids[0]);
        ret = rc == OD_SRV_ERR_NOT_FOUND
                  ? od_srv_reply_err(r, rc, "no push url set for this product")
                  : store_reply(r, rc, NULL);
    } else if (ROUTE(get, "api/v1/products/#/firmware"))
        ret = product_list(r, st->ops->fw_list);
    else if (ROUTE(post, "api/v1/products/#/packages"))
        ret = BODY(package_create(r, b));
    else if (ROUTE(get, "api/v1/products/#/packages"))
        ret = product_list(r, st->ops->pkg_list);
    else if (ROUTE(get, "api/v1/packages/#"))
        ret = store_reply(r, st->ops->pkg_info(st, r->ids[0], &out), &out);
    else if (ROUTE(del, "api/v1/packages/#"))
        ret = file_row_delete(r, 0);
    else if (ROUTE(del, "api/v1/firmware/#"))
        ret = file_row_delete(r, 1);
    else if (ROUTE(get, "api/v1/jobs/#"))
        ret = store_reply(r, st->ops->job_get(st, r->ids[0], &out), &out);
    else if (ROUTE(post, "api/v1/products/#/devices"))
        ret = BODY(device_create(r, b));
    else if (ROUTE(get, "api/v1/products/#/devices"))
        ret = product_list(r, st->ops->dev_list);
    else if (ROUTE(get, "api/v1/devices/#"))
        ret = store_reply(r, st->ops->dev_info(st, r->ids[0], &out), &out);
    else if (ROUTE(post, "api/v1/devices/#/dev_key"))
        ret = key_rotate(r, st->ops->dev_set_key, "dev_key");
    else if (ROUTE(post, "api/v1/products/#/groups"))
        ret = BODY(group_create(r, b));
    else if (ROUTE(get, "api/v1/products/#/groups"))
        ret = product_list(r, st->ops->group_list);
    else if (ROUTE(get, "api/v1/groups/#"))
        ret = store_reply(r, st->ops->group_get(st, r->ids[0], &out), &out);
    else if (ROUTE(put, "api/v1/groups/#"))
        ret = BODY(group_update(r, b));
    else if (ROUTE(post, "api/v1/groups/#/members"))
        ret = BODY(group_members(r, b));
    else if (ROUTE(post, "api/v1/products/#/tasks"))
        ret = BODY(task_create(r, b, 0));
    else if (ROUTE(get, "api/v1/products/#/tasks"))
        ret = product_list(r, st->ops->task_list);
    else if (ROUTE(get, "api/v1/tasks/#"))
        ret = store_reply(r, st->ops->task_get(st, r->ids[0], 1, &out), &out);
    else if (ROUTE(put, "api/v1/tasks/#"))
        ret = BODY(task_create(r, b, r->ids[0]));
    else if (ROUTE(del, "api/v1/tasks/#"))
        ret = task_op(r, OD_SRV_OP_DELETE);
    else if (ROUTE(get, "api/v1/tasks/#/export.csv"))
        ret = task_export(r);
    else if (ROUTE(post, "api/v1/tasks/#/start"))
        ret = task_op(r, OD_SRV_OP_START);
    else if (ROUTE(post, "api/v1/tasks/#/pause"))
        ret = task_op(r, OD_SRV_OP_PAUSE);
    else if (ROUTE(post, "api/v1/tasks/#/cancel"))
        ret = task_op(r, OD_SRV_OP_CANCEL);
    else
        ret = od_srv_reply_unrouted(r, allow);
#undef BODY
#undef ROUTE
    json_decref(b);
    return ret;
}
