/*
 * od_srv_store.h - the storage interface of otadelta-server (private).
 *
 * Everything the server keeps (users, products, firmware and package
 * metadata, generation jobs, devices, groups, tasks and per-device task
 * rows) goes through this table of operations, so a PostgreSQL backend
 * can replace the SQLite one (od_srv_store_sqlite.c) without touching
 * the HTTP layer.
 * Package and firmware bytes are files under the data directory; the
 * store only keeps their names relative to it.
 *
 * Rules every backend follows:
 * - Each operation is atomic (one transaction) and callable from any
 *   thread at any time; the backend manages its own connections.
 * - The task and device state rules are od_srv_task_apply() and
 *   od_srv_dev_report() / od_srv_dev_token_check() / od_srv_dev_checked()
 *   from od_srv.h, applied inside the backend's transaction; a backend
 *   does not invent its own. A row the backend ends itself (cancelled,
 *   failed at the deadline, a manuf/model mismatch) follows their download
 *   rule: a download under way shows failed.
 * - Returned json_t objects are new references the caller must
 *   json_decref(); strings in the C records are NUL-terminated copies.
 * - Return values are od_srv_ret (device operations return an
 *   OD_SRV_ENO_* errno instead, as documented per operation).
 */
#ifndef OD_SRV_STORE_H
#define OD_SRV_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "od_srv.h"

#define OD_SRV_NAME_MAX 64      /* product, device, group and task names */
#define OD_SRV_VER_MAX 50       /* version strings, as in the container */
#define OD_SRV_MM_MAX 32        /* manuf / model codes */
#define OD_SRV_KEY_MAX 64       /* base64 access keys */
#define OD_SRV_FILE_MAX 96      /* file names relative to the data dir */
#define OD_SRV_DEVTOKEN_LEN 32  /* hex characters in a download token */
#define OD_SRV_LIST_MAX 100000  /* devices/groups named in one task */

/* Components: OneNET's check "type". */
#define OD_SRV_COMP_FOTA 1 /* the module's own firmware */
#define OD_SRV_COMP_SOTA 2 /* the application MCU's firmware */

typedef struct od_srv_fw {
    int64_t id, product_id;
    char version[OD_SRV_VER_MAX + 1];
    int component;
    char manuf[OD_SRV_MM_MAX + 1], model[OD_SRV_MM_MAX + 1];
    int64_t size;
    char md5[33], sha256[65];
    char file[OD_SRV_FILE_MAX];
} od_srv_fw;

/* Package status values. */
#define OD_SRV_PKG_GENERATING 0
#define OD_SRV_PKG_READY 1
#define OD_SRV_PKG_FAILED 2

typedef struct od_srv_pkg {
    int64_t id, product_id;
    int kind;         /* OD_KIND_FULL (1) or OD_KIND_DELTA (2) */
    int component;
    int64_t source_fw; /* 0 for full packages */
    int64_t target_fw;
    char source_version[OD_SRV_VER_MAX + 1];
    char target_version[OD_SRV_VER_MAX + 1];
    uint32_t ram_budget;
    uint32_t block_size; /* most output bytes per restart block; 0 = default */
    int codec;        /* OD_CODEC_* */
    int filter;       /* od_diff_params.filter: OD_DIFF_FILTER_AUTO or OD_FILTER_* */
    int effort;       /* od_diff_params.effort: OD_DIFF_EFFORT_BEST (0) or _FAST */
    int status;       /* OD_SRV_PKG_* */
    int64_t size;
    char md5[33], sha256[65];
    char file[OD_SRV_FILE_MAX];
} od_srv_pkg;

/* A generation job claimed by a worker. */
typedef struct od_srv_job {
    int64_t id, package_id;
} od_srv_job;

typedef struct od_srv_dev {
    int64_t id, product_id;
    char name[OD_SRV_NAME_MAX + 1];
    char dev_key[OD_SRV_KEY_MAX + 1];
    char manuf[OD_SRV_MM_MAX + 1], model[OD_SRV_MM_MAX + 1];
    char f_version[OD_SRV_VER_MAX + 1], s_version[OD_SRV_VER_MAX + 1];
} od_srv_dev;

/* A task definition as the operator gives it. Lists are owned by the
 * caller and read during the call only. */
typedef struct od_srv_task_def {
    int64_t product_id, package_id;
    char name[OD_SRV_NAME_MAX + 1];
    int retry;        /* failures allowed per device, 0..100 */
    int interval_s;   /* seconds between a device's retries, 0..86400 */
    int min_signal;   /* dBm the device should exceed, -150..0 (0 = none) */
    int min_power;    /* battery percent, 0..100 */
    int64_t start_time, deadline; /* Unix seconds; 0 = none */
    int confirm;      /* 0 silent, 1 the user confirms on the device */
    json_t *scope;    /* {"devices":[ids],"groups":[ids],"blacklist":[ids],
                         "whitelist":[ids]}; borrowed */
} od_srv_task_def;

/* What the check-task call answers. */
typedef struct od_srv_check {
    char target[OD_SRV_VER_MAX + 1];
    char token[OD_SRV_DEVTOKEN_LEN + 1];
    int64_t size;
    char md5[33], sha256[65];
    int signal, power, retry, interval;
    int type; /* 1 full, 2 diff */
    int64_t task_id;
    int state; /* the row's od_srv_dev_state: 1 pending, 2 downloading, 3 upgrading */
} od_srv_check;

/* Which task row a device-API call addresses. The legacy API names it by
 * the download token the check issued (token set; the device follows from
 * the token); the fuse API by the task id in its path (token NULL,
 * task_id set) together with the calling device: its row in that task.
 * Keyed by task id, the row's token is not involved, so its 48 h do not
 * apply (the fuse device never sees it); the task's deadline does. */
typedef struct od_srv_row_key {
    const char *token;
    int64_t task_id;
} od_srv_row_key;

/* Where a download token leads. */
typedef struct od_srv_dl {
    char file[OD_SRV_FILE_MAX];
    char sha256[65];
    int64_t size;
    int64_t package_id;
    int64_t created;   /* the package's creation, Unix seconds: its Last-Modified */
    int64_t device_id; /* the row's device */
    int state;         /* the row's od_srv_dev_state */
} od_srv_dl;

/* Push delivery status values (push_deliveries.status). */
#define OD_SRV_PUSH_QUEUED 0    /* waiting for its next attempt */
#define OD_SRV_PUSH_DELIVERED 1 /* the receiver answered 2xx */
#define OD_SRV_PUSH_FAILED 2    /* every allowed attempt failed */

#define OD_SRV_PUSH_URL_MAX 1024 /* push receiver URLs */
#define OD_SRV_PUSH_TOKEN_MAX 64 /* push verification tokens */

/* A push delivery claimed for one attempt. body is malloc()'d (caller
 * frees); attempts counts this attempt. */
typedef struct od_srv_push {
    int64_t id, task_id;
    char url[OD_SRV_PUSH_URL_MAX + 1];
    char token[OD_SRV_PUSH_TOKEN_MAX + 1]; /* the product's when queued; signs it */
    char *body;
    int attempts;
} od_srv_push;

typedef struct od_srv_store od_srv_store;

typedef struct od_srv_store_ops {
    /* Frees the backend; no operation may be running. */
    void (*close)(od_srv_store *st);

    /* Products. key_b64 is the product access key (base64 of 32 bytes);
     * owner the id of the user who owns the product, 0 for none.
     * product_create: EXISTS if the name is taken, NOT_FOUND if owner
     * names no user. product_get answers {id, name, access_key, user_id,
     * created}, product_list [{id, name, user_id, created}]; user_id is
     * null for a product without an owner. */
    int (*product_create)(od_srv_store *st, const char *name,
                          const char *key_b64, int64_t owner, int64_t *id);
    int (*product_get)(od_srv_store *st, int64_t id, json_t **out);
    int (*product_list)(od_srv_store *st, json_t **out);
    /* Hot path of device authentication: copies the key into key_b64. */
    int (*product_key)(od_srv_store *st, int64_t id,
                       char key_b64[OD_SRV_KEY_MAX + 1]);
    /* Replaces the product's access key with key_b64 (copied; as for
     * product_create). A backend keeps no copy of a key outside its row,
     * so product_key answers the new one from the next call on. NOT_FOUND:
     * no such product. The same holds for user_set_key and dev_set_key. */
    int (*product_set_key)(od_srv_store *st, int64_t id, const char *key_b64);
    /* Hot path of a user token's reach: the owner's id into *owner, 0 for
     * none. NOT_FOUND: no such product. */
    int (*product_owner)(od_srv_store *st, int64_t id, int64_t *owner);
    /* Gives the product to user owner, or to nobody (owner 0). NOT_FOUND:
     * no such product, or owner names no user. */
    int (*product_set_owner)(od_srv_store *st, int64_t id, int64_t owner);

    /* Users: OneNET's user accounts. A user's access key signs userid/{uid}
     * tokens, which reach the products the user owns (docs/API.md, fuse
     * device API). user_create: EXISTS if the name is taken; key_b64 as
     * for products. user_get answers {id, name, access_key, created},
     * user_list [{id, name, created}]. */
    int (*user_create)(od_srv_store *st, const char *name,
                       const char *key_b64, int64_t *id);
    int (*user_get)(od_srv_store *st, int64_t id, json_t **out);
    int (*user_list)(od_srv_store *st, json_t **out);
    /* Hot path of user-token authentication, as product_key. */
    int (*user_key)(od_srv_store *st, int64_t id,
                    char key_b64[OD_SRV_KEY_MAX + 1]);
    /* As product_set_key, for user id's access key. */
    int (*user_set_key)(od_srv_store *st, int64_t id, const char *key_b64);
    /* Deletes user id, whose id is never given to another user (a caller
     * still naming it gets NOT_FOUND, not a stranger). BUSY while the user
     * owns a product, so that an owner id always names a user: reassign
     * or clear those owners first. NOT_FOUND: no such user. */
    int (*user_delete)(od_srv_store *st, int64_t id);

    /* Firmware images; EXISTS if (product, component, version) is taken. */
    int (*fw_insert)(od_srv_store *st, const od_srv_fw *fw, int64_t *id);
    int (*fw_get)(od_srv_store *st, int64_t id, od_srv_fw *out);
    int (*fw_list)(od_srv_store *st, int64_t product_id, json_t **out);
    /* BUSY if a package was made from or to it (delete those first); on OK
     * the file name to unlink is copied to file. */
    int (*fw_delete)(od_srv_store *st, int64_t id, char file[OD_SRV_FILE_MAX]);

    /* Packages. pkg_create stores p (status generating) and a queued job;
     * NOT_FOUND if p's target_fw (or, for a delta, source_fw) is not, or
     * no longer, a firmware of p's product. */
    int (*pkg_create)(od_srv_store *st, const od_srv_pkg *p, int64_t *pkg_id,
                      int64_t *job_id);
    int (*pkg_get)(od_srv_store *st, int64_t id, od_srv_pkg *out);
    int (*pkg_info)(od_srv_store *st, int64_t id, json_t **out);
    int (*pkg_list)(od_srv_store *st, int64_t product_id, json_t **out);
    /* BUSY if a task that is not stopped or completed uses it; a package
     * still generating is deleted with its job (the worker notices at its
     * next job_progress). On OK the file name to unlink is copied to file
     * (may be ""). */
    int (*pkg_delete)(od_srv_store *st, int64_t id,
                      char file[OD_SRV_FILE_MAX]);

    /* Jobs. job_claim takes the oldest queued job (NOT_FOUND if none).
     * job_requeue_running puts jobs a crashed run left "running" back. */
    int (*job_claim)(od_srv_store *st, od_srv_job *out);
    int (*job_requeue_running)(od_srv_store *st, int *count);
    /* Records a running job's percent; NOT_FOUND when its row is gone
     * (its package was deleted): the worker should stop. */
    int (*job_progress)(od_srv_store *st, int64_t id, int percent);
    /* Ends a job: res carries size, hashes and file when ok, else error. */
    int (*job_finish)(od_srv_store *st, int64_t job_id, int ok,
                      const od_srv_pkg *res, const char *error);
    int (*job_get)(od_srv_store *st, int64_t id, json_t **out);

    /* Devices. */
    int (*dev_create)(od_srv_store *st, const od_srv_dev *d, int64_t *id);
    int (*dev_get)(od_srv_store *st, int64_t id, od_srv_dev *out);
    /* The device called name in product_id (NOT_FOUND if none): device-key
     * tokens name their device, and its key checks the token. */
    int (*dev_find)(od_srv_store *st, int64_t product_id, const char *name,
                    od_srv_dev *out);
    /* As product_set_key, for device id's dev_key (which dev_get and
     * dev_find answer). */
    int (*dev_set_key)(od_srv_store *st, int64_t id, const char *key_b64);
    int (*dev_info)(od_srv_store *st, int64_t id, json_t **out);
    int (*dev_list)(od_srv_store *st, int64_t product_id, json_t **out);

    /* Groups; type is "formal" or "test" and STATE if an update changes it. */
    int (*group_create)(od_srv_store *st, int64_t product_id, const char *name,
                        const char *type, int64_t *id);
    int (*group_update)(od_srv_store *st, int64_t id, const char *name,
                        const char *type);
    int (*group_members)(od_srv_store *st, int64_t id, const json_t *add,
                         const json_t *remove);
    int (*group_get)(od_srv_store *st, int64_t id, json_t **out);
    int (*group_list)(od_srv_store *st, int64_t product_id, json_t **out);

    /* Tasks. task_op carries out od_srv_task_op values: start resolves the
     * device set on the first start and is BUSY if a device is already in
     * another active task of the same component; cancel cancels live rows;
     * delete removes the task. detail adds per-device rows when devices. */
    int (*task_create)(od_srv_store *st, const od_srv_task_def *t,
                       int64_t *id);
    int (*task_edit)(od_srv_store *st, int64_t id, const od_srv_task_def *t);
    /* Checks a task scope ({"devices", "groups", "blacklist", "whitelist"}
     * arrays of ids, as od_srv_task_def's) against product pid: every id
     * in "groups" must be a group of it, every other id a device of it.
     * PARAM with the first stray id named in msg (msg_size bytes), else OK
     * (or DB). */
    int (*task_scope_check)(od_srv_store *st, int64_t pid, const json_t *scope, char *msg,
                            size_t msg_size);
    int (*task_op)(od_srv_store *st, int64_t id, int op, char *msg,
                   size_t msg_size);
    int (*task_get)(od_srv_store *st, int64_t id, int devices, json_t **out);
    int (*task_list)(od_srv_store *st, int64_t product_id, json_t **out);
    /* Past a task's deadline: fails every live row of the upgrading or
     * paused task with 208 (as its device's next call would) and completes
     * upgrading tasks left with no live row. *count: rows failed. */
    int (*task_sweep)(od_srv_store *st, int64_t now, int *count);

    /* Device API; each returns an OD_SRV_ENO_* value, or a negative
     * od_srv_ret for a storage failure. Those that take peek (the ones a
     * GET route calls) evaluate in full and answer the same with peek 1,
     * but change nothing: a HEAD request. */
    int (*dev_report_version)(od_srv_store *st, int64_t dev_id,
                              const char *f_version, const char *s_version,
                              int64_t now);
    /* A check that answers OK applies od_srv_dev_checked() to the row:
     * new_package when the package it picked is not the one the row had.
     * A token replaced by a new one (another package, or the old one's
     * 48 h over) is kept as the row's previous token. */
    int (*dev_check)(od_srv_store *st, int64_t dev_id, int component,
                     const char *version, const char *manuf,
                     const char *model, int64_t now, int peek, od_srv_check *out);
    /* The row k names, for device dev_id: TOKEN_OWNER when there is no
     * such row (a token unknown or another device's; no row of dev_id in
     * task k->task_id); EXPIRED for the row's previous token, replaced by
     * a later check of the same device (as for its lapsed current one).
     * dev_download also takes dev_id 0 with a token (a product token):
     * the row of any device of product_id; it is read-only, and answers
     * STATE for a row found by task id whose device never checked (no
     * package chosen yet); dev_progress too, leaving such a row as it is.
     * dev_token_check is also the move a first download makes. */
    int (*dev_token_check)(od_srv_store *st, int64_t dev_id,
                           const od_srv_row_key *k, int64_t now, int peek);
    int (*dev_download)(od_srv_store *st, const od_srv_row_key *k,
                        int64_t dev_id, int64_t now, int64_t product_id,
                        od_srv_dl *out);
    int (*dev_progress)(od_srv_store *st, int64_t dev_id,
                        const od_srv_row_key *k, int step, int64_t now);
    /* The token the device already holds for its live row in its active
     * task of a component (a device resuming after a reboot), with the
     * same fields as dev_check. Never issues a token and leaves the row's
     * state alone, except past the task's deadline, where it fails the
     * row with 208 as dev_check does. OK and *out; NO_TASK (no live row,
     * start time not reached, or no token issued yet); PAUSED; EXPIRED
     * (the token's 48 h are over, or the deadline has passed); INTERNAL
     * (the token's package is gone); AUTH (no such device). */
    int (*dev_tasking)(od_srv_store *st, int64_t dev_id, int component,
                       int64_t now, int peek, od_srv_check *out);
    /* The state (od_srv_dev_state) of the row k names into *state, for
     * any state, terminal ones included. Fails a live row past the task's
     * deadline with 208 (EXPIRED) and answers PAUSED while the task is
     * paused, as the other calls do; otherwise read-only. */
    int (*dev_row_state)(od_srv_store *st, int64_t dev_id,
                         const od_srv_row_key *k, int64_t now, int peek, int *state);

    /* Push notifications (docs/API.md "Push notifications"). The first
     * start of a task (task_op) queues one delivery of the new task to its
     * product's push URL, in the same transaction, when one is set.
     * push_set stores or replaces a product's URL and token (NOT_FOUND: no
     * such product). push_get answers {"configured", "url", "updated",
     * "deliveries": [the newest `limit`]}, never the token (NOT_FOUND: no
     * such product). push_delete: NOT_FOUND if no URL was set; deliveries
     * already queued still go to the URL they were queued for. */
    int (*push_set)(od_srv_store *st, int64_t product_id, const char *url,
                    const char *token);
    int (*push_get)(od_srv_store *st, int64_t product_id, int limit,
                    json_t **out);
    int (*push_delete)(od_srv_store *st, int64_t product_id);
    /* Claims the oldest queued delivery due at now for one attempt: counts
     * the attempt and leases the row until now + lease_s, so a crash mid-
     * attempt only delays it (the lease ends, it is due again). A due row
     * that already had max_attempts (the last one cut short by a crash)
     * is failed instead, not tried once more. OK and *out (out->body to
     * free), NOT_FOUND if none is due. */
    int (*push_claim)(od_srv_store *st, int64_t now, int lease_s, int max_attempts,
                      od_srv_push *out);
    /* Records the outcome of the attempt on delivery id: status is an
     * OD_SRV_PUSH_* value, http_status the receiver's (0 if none), error
     * NULL on success, next_at when a queued row is due again. */
    int (*push_result)(od_srv_store *st, int64_t id, int status,
                       int http_status, const char *error, int64_t next_at);
} od_srv_store_ops;

struct od_srv_store {
    const od_srv_store_ops *ops;
};

/*
 * Opens the SQLite backend on DIR/otadelta.db (WAL, one connection per
 * thread, BEGIN IMMEDIATE for writes, busy timeout), creating the schema.
 * Returns OD_SRV_OK and *out, or OD_SRV_ERR_DB / OD_SRV_ERR_NOMEM.
 */
int od_srv_store_sqlite_open(const char *dir, od_srv_store **out);

#endif /* OD_SRV_STORE_H */
