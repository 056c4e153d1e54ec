/*
 * od_srv_store_sqlite.c - the SQLite backend of the storage interface.
 *
 * One connection per thread (SQLite connections are not meant to be
 * shared under load), WAL so downloads read while progress reports write,
 * BEGIN IMMEDIATE for every write transaction so two writers never
 * deadlock upgrading a read lock, and a busy timeout to queue them.
 * synchronous=NORMAL: in WAL mode a committed transaction survives the
 * process being killed (kill -9); only an OS crash may lose the last few.
 */
#define _POSIX_C_SOURCE 200809L /* O_NOFOLLOW, O_CLOEXEC, fchmod */
#include "od_srv_store.h"

#include "od_diff.h"
#include "od_pkgfmt_host.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#define BUSY_MS 15000
#define TOKEN_LIFE (48 * 3600) /* OneNET: a download token lives 2 days */

typedef struct sq sq;

typedef struct conn {
    sqlite3 *db;
    struct {
        const char *sql; /* identity: the static string's address */
        sqlite3_stmt *st;
    } *cache; /* grows, never evicts: see prep() */
    int n, cap;
    sq *owner;
    struct conn *next;
} conn;

struct sq {
    od_srv_store base;
    char path[4096];
    pthread_key_t key;
    pthread_mutex_t mu; /* guards conns */
    conn *conns;
};

/* In two pieces: one string literal may hold 4095 characters in C99. */
static const char schema_core[] =
    "CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE, access_key TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS products(id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE, access_key TEXT NOT NULL, created INTEGER NOT NULL,"
    " user_id INTEGER REFERENCES users(id));"
    "CREATE TABLE IF NOT EXISTS firmware(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " product_id INTEGER NOT NULL REFERENCES products(id), version TEXT NOT NULL,"
    " component INTEGER NOT NULL, manuf TEXT NOT NULL, model TEXT NOT NULL,"
    " size INTEGER NOT NULL, md5 TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " file TEXT NOT NULL, created INTEGER NOT NULL,"
    " UNIQUE(product_id, component, version));"
    "CREATE TABLE IF NOT EXISTS packages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " product_id INTEGER NOT NULL REFERENCES products(id), kind INTEGER NOT NULL,"
    " component INTEGER NOT NULL, source_fw INTEGER, target_fw INTEGER NOT NULL,"
    " source_version TEXT NOT NULL, target_version TEXT NOT NULL,"
    " ram_budget INTEGER NOT NULL, status INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,"
    " md5 TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT '',"
    " file TEXT NOT NULL DEFAULT '', error TEXT, created INTEGER NOT NULL,"
    " block_size INTEGER NOT NULL DEFAULT 0, codec INTEGER NOT NULL DEFAULT 2,"
    " filter INTEGER NOT NULL DEFAULT -1, effort INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " package_id INTEGER NOT NULL, status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0,"
    " error TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);"
    "CREATE TABLE IF NOT EXISTS devices(id INTEGER PRIMARY KEY,"
    " product_id INTEGER NOT NULL REFERENCES products(id), name TEXT NOT NULL,"
    " dev_key TEXT NOT NULL, manuf TEXT NOT NULL, model TEXT NOT NULL,"
    " f_version TEXT NOT NULL DEFAULT '', s_version TEXT NOT NULL DEFAULT '',"
    " last_seen INTEGER NOT NULL DEFAULT 0, UNIQUE(product_id, name));"
    "CREATE TABLE IF NOT EXISTS dgroups(id INTEGER PRIMARY KEY,"
    " product_id INTEGER NOT NULL REFERENCES products(id), name TEXT NOT NULL,"
    " type TEXT NOT NULL, UNIQUE(product_id, name));"
    "CREATE TABLE IF NOT EXISTS group_members(group_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL, PRIMARY KEY(group_id, device_id));"
    "CREATE TABLE IF NOT EXISTS tasks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " product_id INTEGER NOT NULL, package_id INTEGER NOT NULL, name TEXT NOT NULL,"
    " component INTEGER NOT NULL, target_fw INTEGER NOT NULL, target_version TEXT NOT NULL,"
    " state INTEGER NOT NULL, resolved INTEGER NOT NULL DEFAULT 0,"
    " retry INTEGER NOT NULL, interval_s INTEGER NOT NULL, min_signal INTEGER NOT NULL,"
    " min_power INTEGER NOT NULL, start_time INTEGER NOT NULL, deadline INTEGER NOT NULL,"
    " confirm INTEGER NOT NULL, scope TEXT NOT NULL, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS task_devices(task_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL, state INTEGER NOT NULL, dl_state INTEGER NOT NULL,"
    " percent INTEGER NOT NULL, retries INTEGER NOT NULL, last_code INTEGER NOT NULL,"
    " status_text TEXT NOT NULL DEFAULT '', package_id INTEGER NOT NULL DEFAULT 0,"
    " token TEXT UNIQUE, token_exp INTEGER NOT NULL DEFAULT 0,"
    " updated INTEGER NOT NULL, repeat_ok INTEGER NOT NULL DEFAULT 0, prev_token TEXT,"
    " PRIMARY KEY(task_id, device_id));"
    "CREATE INDEX IF NOT EXISTS td_device ON task_devices(device_id);";
static const char schema_push[] =
    /* Push notifications. A delivery keeps the URL it was queued for and
     * its whole body, so it goes out as queued after a restart, or after
     * the configuration changed. */
    "CREATE TABLE IF NOT EXISTS push_config(product_id INTEGER PRIMARY KEY,"
    " url TEXT NOT NULL, token TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS push_deliveries(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " product_id INTEGER NOT NULL, task_id INTEGER NOT NULL, url TEXT NOT NULL,"
    " body TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
    " http_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL, token TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS push_due ON push_deliveries(status, next_at);"
    "CREATE INDEX IF NOT EXISTS push_product ON push_deliveries(product_id, id);"
    "CREATE INDEX IF NOT EXISTS push_task ON push_deliveries(task_id);";

/* Creates what the schema names and is missing; 0, or -1 with *err. */
static int schema_exec(sqlite3 *db, char **err)
{
    return sqlite3_exec(db, schema_core, NULL, NULL, err) == SQLITE_OK &&
                   sqlite3_exec(db, schema_push, NULL, NULL, err) == SQLITE_OK
               ? 0
               : -1;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* SET items for a task_devices row the store ends itself (cancel, the
 * deadline, a manuf/model mismatch), as od_srv_dev_report() ends one: a
 * download under way shows failed, and no resend window stays open. */
#define ROW_ENDS_SQL " dl_state=CASE dl_state WHEN 1 THEN 3 ELSE dl_state END, repeat_ok=0,"

/* ------------------------------------------------------------------ */
/* Connections and statements                                           */

static void reset_all(conn *c)
{
    for (int i = 0; i < c->n; i++)
        sqlite3_reset(c->cache[i].st);
}

static void conn_free(conn *c)
{
    for (int i = 0; i < c->n; i++)
        sqlite3_finalize(c->cache[i].st);
    sqlite3_close(c->db);
    free(c->cache);
    free(c);
}

/* A thread's connection ends with the thread. Threads come and go (the
 * generator reports progress from its own short-lived ones, and the
 * progress callback writes it here), so keeping every connection until
 * the store closes would leak descriptors and page caches without bound. */
static void conn_release(void *arg)
{
    conn *c = arg, **pp;
    sq *s = c->owner;
    pthread_mutex_lock(&s->mu);
    for (pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    conn_free(c);
}

static conn *get_conn(sq *s)
{
    conn *c = pthread_getspecific(s->key);
    if (c) {
        /* A statement left on a row holds a read snapshot; start every
         * operation from a clean slate so it sees the latest commit. */
        reset_all(c);
        return c;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (sqlite3_open_v2(s->path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, BUSY_MS);
    sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                 NULL, NULL, NULL);
    c->owner = s;
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    pthread_setspecific(s->key, c);
    return c;
}

/* Cached prepare keyed by the SQL string's address: every SQL text here
 * is a literal, so the pointer identifies it and lookup is a short scan.
 * The cache holds every statement the connection has used (there are
 * about a hundred) and never evicts one: a caller may still be reading
 * the rows of a statement when it runs another, and finalizing the first
 * then would free what it reads. */
static sqlite3_stmt *prep(conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    for (int i = 0; i < c->n; i++) {
        if (c->cache[i].sql == sql) {
            st = c->cache[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "otadelta-server: SQL prepare: %s\n",
                sqlite3_errmsg(c->db));
        return NULL;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        void *grown = realloc(c->cache, (size_t)cap * sizeof(*c->cache));
        if (!grown) {
            sqlite3_finalize(st);
            return NULL;
        }
        c->cache = grown;
        c->cap = cap;
    }
    c->cache[c->n].sql = sql;
    c->cache[c->n].st = st;
    c->n++;
    return st;
}

static int begin(conn *c)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "otadelta-server: BEGIN: %s\n", sqlite3_errmsg(c->db));
        return OD_SRV_ERR_DB;
    }
    return OD_SRV_OK;
}

static int commit(conn *c)
{
    reset_all(c);
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return OD_SRV_ERR_DB;
    }
    return OD_SRV_OK;
}

static void rollback(conn *c)
{
    reset_all(c);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Binds arguments described by fmt: i int64, s text (NULL -> NULL). */
static int bindv(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int idx = 1;
    for (const char *f = fmt; *f; f++, idx++) {
        int rc;
        if (*f == 'i') {
            rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
        } else {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, idx);
        }
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

/* Prepares, binds and steps once. Returns the statement positioned on the
 * first row (SQLITE_ROW in *rc) or done; NULL on error. */
static sqlite3_stmt *run(conn *c, const char *sql, int *rc, const char *fmt,
                         ...)
{
    va_list ap;
    sqlite3_stmt *st = prep(c, sql);
    if (!st)
        return NULL;
    va_start(ap, fmt);
    if (bindv(st, fmt, ap) != 0) {
        va_end(ap);
        return NULL;
    }
    va_end(ap);
    *rc = sqlite3_step(st);
    if (*rc != SQLITE_ROW && *rc != SQLITE_DONE) {
        if (*rc != SQLITE_CONSTRAINT)
            fprintf(stderr, "otadelta-server: SQL step: %s (in: %.60s)\n",
                    sqlite3_errmsg(c->db), sqlite3_sql(st));
        return NULL;
    }
    return st;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", v ? (const char *)v : "");
}

/* One row as a JSON object keyed by column names. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);
    if (!o)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: v = json_integer(sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: v = json_real(sqlite3_column_double(st, i)); break;
        case SQLITE_TEXT:
            v = json_string((const char *)sqlite3_column_text(st, i));
            break;
        default: v = json_null(); break;
        }
        if (!v || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* All remaining rows of a stepped statement as a JSON array. */
static int rows_json(conn *c, sqlite3_stmt *st, int rc, json_t **out)
{
    json_t *a = json_array();
    if (!a)
        return OD_SRV_ERR_NOMEM;
    while (rc == SQLITE_ROW) {
        json_t *o = row_json(st);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return OD_SRV_ERR_NOMEM;
        }
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "otadelta-server: SQL: %s\n", sqlite3_errmsg(c->db));
        json_decref(a);
        return OD_SRV_ERR_DB;
    }
    *out = a;
    return OD_SRV_OK;
}

static int one_json(sqlite3_stmt *st, int rc, json_t **out)
{
    if (!st)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    *out = row_json(st);
    return *out ? OD_SRV_OK : OD_SRV_ERR_NOMEM;
}

#define CONN(st_)                         \
    sq *s = (sq *)(st_);                  \
    conn *c = get_conn(s);                \
    int rc = 0;                           \
    sqlite3_stmt *q;                      \
    if (!c)                               \
        return OD_SRV_ERR_DB;             \
    (void)rc;                             \
    (void)q

/* What a write that run() refused (rc) means. The schema's foreign keys
 * (products.user_id) make a reference to a missing row fail the statement
 * itself, so no separate lookup can race it: that is NOT_FOUND, any other
 * constraint (a UNIQUE name) EXISTS. */
static int write_err(conn *c, int rc)
{
    if (rc != SQLITE_CONSTRAINT)
        return OD_SRV_ERR_DB;
    return sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_FOREIGNKEY
               ? OD_SRV_ERR_NOT_FOUND
               : OD_SRV_ERR_EXISTS;
}

/* The outcome of an INSERT run() made (q, rc from it): the new row's id. */
static int inserted(conn *c, sqlite3_stmt *q, int rc, int64_t *id)
{
    if (!q)
        return write_err(c, rc);
    *id = sqlite3_last_insert_rowid(c->db);
    return OD_SRV_OK;
}

/* The row sql selects by id (a parameter), positioned on it: NULL and *r
 * NOT_FOUND or DB when there is none. */
static sqlite3_stmt *row_by_id(conn *c, const char *sql, int64_t id, int *r)
{
    int rc = 0;
    sqlite3_stmt *q = run(c, sql, &rc, "i", id);
    *r = !q ? OD_SRV_ERR_DB : rc != SQLITE_ROW ? OD_SRV_ERR_NOT_FOUND : OD_SRV_OK;
    return *r == OD_SRV_OK ? q : NULL;
}

/* The row sql selects by id, as a JSON object: product_get, user_get. */
static int id_json(od_srv_store *st, const char *sql, int64_t id, json_t **out)
{
    CONN(st);
    q = run(c, sql, &rc, "i", id);
    return one_json(q, rc, out);
}

/* Every row sql (without parameters) selects, as a JSON array. */
static int all_json(od_srv_store *st, const char *sql, json_t **out)
{
    CONN(st);
    q = run(c, sql, &rc, "");
    if (!q)
        return OD_SRV_ERR_DB;
    return rows_json(c, q, rc, out);
}

/* The access key that sql selects by id: product_key and user_key. */
static int key_by_id(od_srv_store *st, const char *sql, int64_t id,
                     char key_b64[OD_SRV_KEY_MAX + 1])
{
    CONN(st);
    if (!(q = row_by_id(c, sql, id, &rc)))
        return rc;
    copy_col(key_b64, OD_SRV_KEY_MAX + 1, q, 0);
    return OD_SRV_OK;
}

static int delete_row(od_srv_store *st, int64_t id, char file[OD_SRV_FILE_MAX],
                      const char *sel, const char *const *busy, const char *const *del);

/* ------------------------------------------------------------------ */
/* Users and products                                                   */

static int user_create(od_srv_store *st, const char *name, const char *key_b64, int64_t *id)
{
    CONN(st);
    q = run(c, "INSERT INTO users(name, access_key, created) VALUES(?,?,?)", &rc, "ssi", name,
            key_b64, now_s());
    return inserted(c, q, rc, id);
}

static int user_get(od_srv_store *st, int64_t id, json_t **out)
{
    return id_json(st, "SELECT id, name, access_key, created FROM users WHERE id=?", id, out);
}

static int user_list(od_srv_store *st, json_t **out)
{
    return all_json(st, "SELECT id, name, created FROM users ORDER BY id", out);
}

static int user_key(od_srv_store *st, int64_t id, char key_b64[OD_SRV_KEY_MAX + 1])
{
    return key_by_id(st, "SELECT access_key FROM users WHERE id=?", id, key_b64);
}

/* The key is read from its row at every request (key_by_id, dev_find), and
 * nothing keeps a copy, so the next request already meets the new one. */
static int set_key_by_id(od_srv_store *st, const char *sql, int64_t id, const char *key_b64)
{
    CONN(st);
    q = run(c, sql, &rc, "si", key_b64, id);
    if (!q)
        return write_err(c, rc);
    return sqlite3_changes(c->db) ? OD_SRV_OK : OD_SRV_ERR_NOT_FOUND;
}

static int user_set_key(od_srv_store *st, int64_t id, const char *key_b64)
{
    return set_key_by_id(st, "UPDATE users SET access_key=? WHERE id=?", id, key_b64);
}

static int user_delete(od_srv_store *st, int64_t id)
{
    /* An owner id must keep naming its user. The foreign key would refuse
     * the delete too, but as a bare constraint error; this says why. */
    static const char *const busy[] = {"SELECT 1 FROM products WHERE user_id=?1 LIMIT 1",
                                       NULL};
    static const char *const del[] = {"DELETE FROM users WHERE id=?1", NULL};
    return delete_row(st, id, NULL, "SELECT '' FROM users WHERE id=?1", busy, del);
}

/* Owner 0 is stored as NULL (NULLIF), which the foreign key lets pass. */
static int product_create(od_srv_store *st, const char *name,
                          const char *key_b64, int64_t owner, int64_t *id)
{
    CONN(st);
    q = run(c,
            "INSERT INTO products(name, access_key, user_id, created)"
            " VALUES(?,?,NULLIF(?,0),?)",
            &rc, "ssii", name, key_b64, owner, now_s());
    return inserted(c, q, rc, id);
}

static int product_get(od_srv_store *st, int64_t id, json_t **out)
{
    return id_json(st, "SELECT id, name, access_key, user_id, created FROM products WHERE id=?",
                   id, out);
}

static int product_list(od_srv_store *st, json_t **out)
{
    return all_json(st, "SELECT id, name, user_id, created FROM products ORDER BY id", out);
}

static int product_key(od_srv_store *st, int64_t id, char key_b64[OD_SRV_KEY_MAX + 1])
{
    return key_by_id(st, "SELECT access_key FROM products WHERE id=?", id, key_b64);
}

static int product_set_key(od_srv_store *st, int64_t id, const char *key_b64)
{
    return set_key_by_id(st, "UPDATE products SET access_key=? WHERE id=?", id, key_b64);
}

static int product_owner(od_srv_store *st, int64_t id, int64_t *owner)
{
    CONN(st);
    if (!(q = row_by_id(c, "SELECT user_id FROM products WHERE id=?", id, &rc)))
        return rc;
    *owner = sqlite3_column_int64(q, 0); /* NULL reads as 0: no owner */
    return OD_SRV_OK;
}

static int product_set_owner(od_srv_store *st, int64_t id, int64_t owner)
{
    CONN(st);
    q = run(c, "UPDATE products SET user_id=NULLIF(?,0) WHERE id=?", &rc, "ii", owner, id);
    if (!q)
        return write_err(c, rc);
    return sqlite3_changes(c->db) ? OD_SRV_OK : OD_SRV_ERR_NOT_FOUND;
}

/*
 * Starts the write transaction of an INSERT into a product's table and
 * checks the product exists (else rolls back: OD_SRV_ERR_NOT_FOUND). The
 * check must be inside the transaction: a read left open before an
 * autocommit INSERT cannot be upgraded once another connection commits
 * (SQLite answers SQLITE_BUSY at once, without the busy wait), and the
 * product must not vanish in between.
 */
static int begin_for_product(conn *c, int64_t product_id)
{
    int rc = 0;
    sqlite3_stmt *q;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, "SELECT 1 FROM products WHERE id=?", &rc, "i", product_id);
    if (!q || rc != SQLITE_ROW) {
        rollback(c);
        return q ? OD_SRV_ERR_NOT_FOUND : OD_SRV_ERR_DB;
    }
    return OD_SRV_OK;
}

/* Ends what begin_for_product() started once its INSERT ran (q, rc from
 * run()): commits and returns the new row's id, or rolls back. */
static int end_insert(conn *c, sqlite3_stmt *q, int rc, int64_t *id)
{
    int r = inserted(c, q, rc, id);
    if (r != OD_SRV_OK) {
        rollback(c);
        return r;
    }
    return commit(c);
}

/* ------------------------------------------------------------------ */
/* Firmware                                                             */

static int fw_insert(od_srv_store *st, const od_srv_fw *fw, int64_t *id)
{
    CONN(st);
    if ((rc = begin_for_product(c, fw->product_id)) != OD_SRV_OK)
        return rc;
    q = run(c,
            "INSERT INTO firmware(product_id, version, component, manuf, model,"
            " size, md5, sha256, file, created) VALUES(?,?,?,?,?,?,?,?,?,?)",
            &rc, "isississsi", fw->product_id, fw->version,
            (int64_t)fw->component, fw->manuf, fw->model, fw->size, fw->md5,
            fw->sha256, fw->file, now_s());
    return end_insert(c, q, rc, id);
}

static int fw_get(od_srv_store *st, int64_t id, od_srv_fw *out)
{
    CONN(st);
    q = run(c,
            "SELECT id, product_id, version, component, manuf, model, size, md5,"
            " sha256, file FROM firmware WHERE id=?",
            &rc, "i", id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(q, 0);
    out->product_id = sqlite3_column_int64(q, 1);
    copy_col(out->version, sizeof(out->version), q, 2);
    out->component = sqlite3_column_int(q, 3);
    copy_col(out->manuf, sizeof(out->manuf), q, 4);
    copy_col(out->model, sizeof(out->model), q, 5);
    out->size = sqlite3_column_int64(q, 6);
    copy_col(out->md5, sizeof(out->md5), q, 7);
    copy_col(out->sha256, sizeof(out->sha256), q, 8);
    copy_col(out->file, sizeof(out->file), q, 9);
    return OD_SRV_OK;
}

static int fw_list(od_srv_store *st, int64_t product_id, json_t **out)
{
    CONN(st);
    q = run(c,
            "SELECT id, version, component, manuf, model, size, md5, sha256,"
            " created FROM firmware WHERE product_id=? ORDER BY id",
            &rc, "i", product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    return rows_json(c, q, rc, out);
}

/* ------------------------------------------------------------------ */
/* Packages and jobs                                                    */

static int pkg_create(od_srv_store *st, const od_srv_pkg *p, int64_t *pkg_id,
                      int64_t *job_id)
{
    CONN(st);
    int64_t now = now_s();
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    /* The caller looked the images up before this transaction; one deleted
     * since (fw_delete checks for packages in a transaction of its own)
     * must not leave a package, and a job, naming a missing file. */
    q = run(c, "SELECT COUNT(*) FROM firmware WHERE product_id=?1 AND (id=?2 OR id=?3)", &rc,
            "iii", p->product_id, p->target_fw, p->source_fw);
    if (!q || rc != SQLITE_ROW)
        goto fail;
    if (sqlite3_column_int(q, 0) != (p->kind == OD_KIND_DELTA ? 2 : 1)) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND;
    }
    q = run(c,
            "INSERT INTO packages(product_id, kind, component, source_fw, target_fw,"
            " source_version, target_version, ram_budget, status, created, block_size,"
            " codec, filter, effort)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &rc, "iiiiissiiiiiii", p->product_id, (int64_t)p->kind,
            (int64_t)p->component, p->source_fw, p->target_fw,
            p->source_version, p->target_version, (int64_t)p->ram_budget,
            (int64_t)OD_SRV_PKG_GENERATING, now, (int64_t)p->block_size,
            (int64_t)p->codec, (int64_t)p->filter, (int64_t)p->effort);
    if (!q)
        goto fail;
    *pkg_id = sqlite3_last_insert_rowid(c->db);
    q = run(c,
            "INSERT INTO jobs(package_id, status, created, updated)"
            " VALUES(?, 'queued', ?, ?)",
            &rc, "iii", *pkg_id, now, now);
    if (!q)
        goto fail;
    *job_id = sqlite3_last_insert_rowid(c->db);
    return commit(c);
fail:
    rollback(c);
    return OD_SRV_ERR_DB;
}

static void pkg_from_row(sqlite3_stmt *q, od_srv_pkg *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(q, 0);
    out->product_id = sqlite3_column_int64(q, 1);
    out->kind = sqlite3_column_int(q, 2);
    out->component = sqlite3_column_int(q, 3);
    out->source_fw = sqlite3_column_int64(q, 4);
    out->target_fw = sqlite3_column_int64(q, 5);
    copy_col(out->source_version, sizeof(out->source_version), q, 6);
    copy_col(out->target_version, sizeof(out->target_version), q, 7);
    out->ram_budget = (uint32_t)sqlite3_column_int64(q, 8);
    out->status = sqlite3_column_int(q, 9);
    out->size = sqlite3_column_int64(q, 10);
    copy_col(out->md5, sizeof(out->md5), q, 11);
    copy_col(out->sha256, sizeof(out->sha256), q, 12);
    copy_col(out->file, sizeof(out->file), q, 13);
    out->block_size = (uint32_t)sqlite3_column_int64(q, 14);
    out->codec = sqlite3_column_int(q, 15);
    out->filter = sqlite3_column_int(q, 16);
    out->effort = sqlite3_column_int(q, 17);
}

#define PKG_COLS                                                              \
    "id, product_id, kind, component, source_fw, target_fw, source_version," \
    " target_version, ram_budget, status, size, md5, sha256, file, block_size," \
    " codec, filter, effort"

static int pkg_get(od_srv_store *st, int64_t id, od_srv_pkg *out)
{
    CONN(st);
    q = run(c, "SELECT " PKG_COLS " FROM packages WHERE id=?", &rc, "i", id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    pkg_from_row(q, out);
    return OD_SRV_OK;
}

#define PKG_JSON_SQL                                                           \
    "SELECT p.id, p.product_id, CASE p.kind WHEN 1 THEN 'full' ELSE 'diff' END" \
    " AS type, p.component, p.source_fw, p.target_fw, p.source_version,"        \
    " p.target_version, p.ram_budget, p.block_size, p.codec, p.filter,"        \
    " p.effort,"                                                                \
    " CASE p.status WHEN 0 THEN 'generating'"                                   \
    " WHEN 1 THEN 'ready' ELSE 'failed' END AS status, p.size, p.md5, p.sha256," \
    " p.error, p.created, j.id AS job_id, j.progress"                           \
    " FROM packages p LEFT JOIN jobs j ON j.package_id = p.id"

/* Codec, filter and effort ids of a PKG_JSON_SQL row as the names the API
 * takes (pkgfmt's, plus "auto" for a filter the generator chooses). */
static void pkg_finish_json(json_t *o)
{
    int codec = (int)json_integer_value(json_object_get(o, "codec"));
    int filter = (int)json_integer_value(json_object_get(o, "filter"));
    int effort = (int)json_integer_value(json_object_get(o, "effort"));
    json_object_set_new(o, "codec", json_string(od_pkg_codec_name(codec)));
    json_object_set_new(o, "filter", json_string(filter == OD_DIFF_FILTER_AUTO
                                                     ? "auto"
                                                     : od_pkg_filter_name(filter)));
    json_object_set_new(o, "effort",
                        json_string(effort == OD_DIFF_EFFORT_FAST ? "fast" : "best"));
}

static int pkg_info(od_srv_store *st, int64_t id, json_t **out)
{
    CONN(st);
    int r;
    q = run(c, PKG_JSON_SQL " WHERE p.id=?", &rc, "i", id);
    if ((r = one_json(q, rc, out)) == OD_SRV_OK)
        pkg_finish_json(*out);
    return r;
}

static int pkg_list(od_srv_store *st, int64_t product_id, json_t **out)
{
    CONN(st);
    size_t i;
    json_t *v;
    int r;
    q = run(c, PKG_JSON_SQL " WHERE p.product_id=? ORDER BY p.id", &rc, "i",
            product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    if ((r = rows_json(c, q, rc, out)) == OD_SRV_OK)
        json_array_foreach(*out, i, v) pkg_finish_json(v);
    return r;
}

/*
 * Deletes row id in one transaction: sel (?1 = id) selects the row, NOT_FOUND
 * without one; any of the busy queries (?1 = id) finding a row refuses with
 * BUSY; then the del statements (?1 = id) run. For a table whose rows name
 * a file, sel's first column is the file name, and on OK it is in file (the
 * caller unlinks it); file is NULL for a table without files.
 */
static int delete_row(od_srv_store *st, int64_t id, char file[OD_SRV_FILE_MAX],
                      const char *sel, const char *const *busy, const char *const *del)
{
    char name[OD_SRV_FILE_MAX];
    CONN(st);
    if (!file)
        file = name;
    file[0] = '\0';
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, sel, &rc, "i", id);
    if (!q)
        goto fail;
    if (rc != SQLITE_ROW) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND;
    }
    copy_col(file, OD_SRV_FILE_MAX, q, 0);
    for (; *busy; busy++) {
        if (!(q = run(c, *busy, &rc, "i", id)))
            goto fail;
        if (rc == SQLITE_ROW) {
            rollback(c);
            file[0] = '\0';
            return OD_SRV_ERR_BUSY;
        }
    }
    for (; *del; del++)
        if (!run(c, *del, &rc, "i", id))
            goto fail;
    return commit(c);
fail:
    rollback(c);
    file[0] = '\0';
    return OD_SRV_ERR_DB;
}

static int fw_delete(od_srv_store *st, int64_t id, char file[OD_SRV_FILE_MAX])
{
    /* A package (being) made from it keeps it: its source must stay
     * checkable, and a worker may be reading it. */
    static const char *const busy[] = {
        "SELECT 1 FROM packages WHERE source_fw=?1 OR target_fw=?1 LIMIT 1", NULL};
    static const char *const del[] = {"DELETE FROM firmware WHERE id=?1", NULL};
    return delete_row(st, id, file, "SELECT file FROM firmware WHERE id=?1", busy, del);
}

static int pkg_delete(od_srv_store *st, int64_t id, char file[OD_SRV_FILE_MAX])
{
    /* One still generating goes too: with its job row gone, the worker
     * stops at its next progress step (od_srv_jobs.c) or, done already,
     * finds nothing to publish to and removes its file. */
    static const char *const busy[] = {
        /* In use: named by a task still alive, or handed to a device of one. */
        "SELECT 1 FROM tasks t WHERE t.state IN (0,1,2) AND (t.package_id=?1"
        " OR EXISTS(SELECT 1 FROM task_devices d WHERE d.task_id=t.id"
        " AND d.package_id=?1)) LIMIT 1",
        NULL};
    static const char *const del[] = {"DELETE FROM jobs WHERE package_id=?1",
                                      "DELETE FROM packages WHERE id=?1", NULL};
    return delete_row(st, id, file, "SELECT file FROM packages WHERE id=?1", busy, del);
}

static int job_claim(od_srv_store *st, od_srv_job *out)
{
    CONN(st);
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c,
            "SELECT id, package_id FROM jobs WHERE status='queued' ORDER BY id LIMIT 1",
            &rc, "");
    if (!q)
        goto fail;
    if (rc != SQLITE_ROW) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND;
    }
    out->id = sqlite3_column_int64(q, 0);
    out->package_id = sqlite3_column_int64(q, 1);
    if (!run(c, "UPDATE jobs SET status='running', progress=0, updated=? WHERE id=?",
             &rc, "ii", now_s(), out->id))
        goto fail;
    return commit(c);
fail:
    rollback(c);
    return OD_SRV_ERR_DB;
}

static int job_requeue_running(od_srv_store *st, int *count)
{
    CONN(st);
    q = run(c, "UPDATE jobs SET status='queued', progress=0 WHERE status='running'",
            &rc, "");
    if (!q)
        return OD_SRV_ERR_DB;
    *count = sqlite3_changes(c->db);
    return OD_SRV_OK;
}

static int job_progress(od_srv_store *st, int64_t id, int percent)
{
    CONN(st);
    q = run(c, "UPDATE jobs SET progress=?, updated=? WHERE id=? AND status='running'",
            &rc, "iii", (int64_t)percent, now_s(), id);
    if (!q)
        return OD_SRV_ERR_DB;
    return sqlite3_changes(c->db) ? OD_SRV_OK : OD_SRV_ERR_NOT_FOUND;
}

static int job_finish(od_srv_store *st, int64_t job_id, int ok,
                      const od_srv_pkg *res, const char *error)
{
    CONN(st);
    int64_t pkg_id, now = now_s();
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, "SELECT package_id FROM jobs WHERE id=?", &rc, "i", job_id);
    if (!q)
        goto fail;
    if (rc != SQLITE_ROW) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND; /* package deleted meanwhile */
    }
    pkg_id = sqlite3_column_int64(q, 0);
    if (ok) {
        q = run(c,
                "UPDATE packages SET status=?, size=?, md5=?, sha256=?, file=?,"
                " error=NULL WHERE id=?",
                &rc, "iisssi", (int64_t)OD_SRV_PKG_READY, res->size, res->md5,
                res->sha256, res->file, pkg_id);
    } else {
        q = run(c, "UPDATE packages SET status=?, error=? WHERE id=?", &rc,
                "isi", (int64_t)OD_SRV_PKG_FAILED, error, pkg_id);
    }
    if (!q)
        goto fail;
    if (!run(c, "UPDATE jobs SET status=?, progress=?, error=?, updated=? WHERE id=?",
             &rc, "sisii", ok ? "done" : "failed", (int64_t)(ok ? 100 : 0),
             ok ? NULL : error, now, job_id))
        goto fail;
    return commit(c);
fail:
    rollback(c);
    return OD_SRV_ERR_DB;
}

static int job_get(od_srv_store *st, int64_t id, json_t **out)
{
    CONN(st);
    q = run(c,
            "SELECT id, package_id, status, progress, error, created, updated"
            " FROM jobs WHERE id=?",
            &rc, "i", id);
    return one_json(q, rc, out);
}

/* ------------------------------------------------------------------ */
/* Devices and groups                                                   */

static int dev_create(od_srv_store *st, const od_srv_dev *d, int64_t *id)
{
    CONN(st);
    if ((rc = begin_for_product(c, d->product_id)) != OD_SRV_OK)
        return rc;
    q = run(c,
            "INSERT INTO devices(product_id, name, dev_key, manuf, model, f_version,"
            " s_version) VALUES(?,?,?,?,?,?,?)",
            &rc, "issssss", d->product_id, d->name, d->dev_key, d->manuf, d->model,
            d->f_version, d->s_version);
    return end_insert(c, q, rc, id);
}

#define DEV_COLS "id, product_id, name, dev_key, manuf, model, f_version, s_version"

/* A device row of DEV_COLS, or NOT_FOUND. */
static int dev_row(sqlite3_stmt *q, int rc, od_srv_dev *out)
{
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(q, 0);
    out->product_id = sqlite3_column_int64(q, 1);
    copy_col(out->name, sizeof(out->name), q, 2);
    copy_col(out->dev_key, sizeof(out->dev_key), q, 3);
    copy_col(out->manuf, sizeof(out->manuf), q, 4);
    copy_col(out->model, sizeof(out->model), q, 5);
    copy_col(out->f_version, sizeof(out->f_version), q, 6);
    copy_col(out->s_version, sizeof(out->s_version), q, 7);
    return OD_SRV_OK;
}

static int dev_get(od_srv_store *st, int64_t id, od_srv_dev *out)
{
    CONN(st);
    q = run(c, "SELECT " DEV_COLS " FROM devices WHERE id=?", &rc, "i", id);
    return dev_row(q, rc, out);
}

static int dev_find(od_srv_store *st, int64_t product_id, const char *name, od_srv_dev *out)
{
    CONN(st);
    q = run(c, "SELECT " DEV_COLS " FROM devices WHERE product_id=? AND name=?", &rc, "is",
            product_id, name);
    return dev_row(q, rc, out);
}

static int dev_set_key(od_srv_store *st, int64_t id, const char *key_b64)
{
    return set_key_by_id(st, "UPDATE devices SET dev_key=? WHERE id=?", id, key_b64);
}

static int dev_info(od_srv_store *st, int64_t id, json_t **out)
{
    CONN(st);
    q = run(c,
            "SELECT id, product_id, name, dev_key, manuf, model, f_version, s_version,"
            " last_seen FROM devices WHERE id=?",
            &rc, "i", id);
    return one_json(q, rc, out);
}

static int dev_list(od_srv_store *st, int64_t product_id, json_t **out)
{
    CONN(st);
    q = run(c,
            "SELECT id, name, manuf, model, f_version, s_version, last_seen"
            " FROM devices WHERE product_id=? ORDER BY id",
            &rc, "i", product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    return rows_json(c, q, rc, out);
}

static int group_create(od_srv_store *st, int64_t product_id, const char *name,
                        const char *type, int64_t *id)
{
    CONN(st);
    if ((rc = begin_for_product(c, product_id)) != OD_SRV_OK)
        return rc;
    q = run(c, "INSERT INTO dgroups(product_id, name, type) VALUES(?,?,?)", &rc,
            "iss", product_id, name, type);
    return end_insert(c, q, rc, id);
}

static int group_update(od_srv_store *st, int64_t id, const char *name,
                        const char *type)
{
    CONN(st);
    char cur[16];
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, "SELECT type FROM dgroups WHERE id=?", &rc, "i", id);
    if (!q)
        goto fail;
    if (rc != SQLITE_ROW) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND;
    }
    copy_col(cur, sizeof(cur), q, 0);
    if (type && strcmp(type, cur) != 0) {
        rollback(c);
        return OD_SRV_ERR_STATE; /* a group's type is fixed at creation */
    }
    if (name) {
        q = run(c, "UPDATE dgroups SET name=? WHERE id=?", &rc, "si", name, id);
        if (!q) {
            rollback(c);
            return rc == SQLITE_CONSTRAINT ? OD_SRV_ERR_EXISTS : OD_SRV_ERR_DB;
        }
    }
    return commit(c);
fail:
    rollback(c);
    return OD_SRV_ERR_DB;
}

static int group_members(od_srv_store *st, int64_t id, const json_t *add,
                         const json_t *remove)
{
    CONN(st);
    int64_t pid;
    size_t i;
    json_t *v;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, "SELECT product_id FROM dgroups WHERE id=?", &rc, "i", id);
    if (!q)
        goto fail;
    if (rc != SQLITE_ROW) {
        rollback(c);
        return OD_SRV_ERR_NOT_FOUND;
    }
    pid = sqlite3_column_int64(q, 0);
    json_array_foreach(add, i, v) {
        q = run(c, "SELECT 1 FROM devices WHERE id=? AND product_id=?", &rc, "ii",
                (int64_t)json_integer_value(v), pid);
        if (!q)
            goto fail;
        if (rc != SQLITE_ROW) {
            rollback(c);
            return OD_SRV_ERR_NOT_FOUND;
        }
        if (!run(c, "INSERT OR IGNORE INTO group_members VALUES(?,?)", &rc, "ii",
                 id, (int64_t)json_integer_value(v)))
            goto fail;
    }
    json_array_foreach(remove, i, v) {
        if (!run(c, "DELETE FROM group_members WHERE group_id=? AND device_id=?",
                 &rc, "ii", id, (int64_t)json_integer_value(v)))
            goto fail;
    }
    return commit(c);
fail:
    rollback(c);
    return OD_SRV_ERR_DB;
}

static int group_get(od_srv_store *st, int64_t id, json_t **out)
{
    CONN(st);
    json_t *g, *m;
    int r;
    q = run(c, "SELECT id, product_id, name, type FROM dgroups WHERE id=?", &rc,
            "i", id);
    r = one_json(q, rc, &g);
    if (r != OD_SRV_OK)
        return r;
    q = run(c, "SELECT device_id FROM group_members WHERE group_id=? ORDER BY device_id",
            &rc, "i", id);
    m = json_array();
    if (!q || !m) {
        json_decref(g);
        json_decref(m);
        return OD_SRV_ERR_DB;
    }
    while (rc == SQLITE_ROW) {
        json_array_append_new(m, json_integer(sqlite3_column_int64(q, 0)));
        rc = sqlite3_step(q);
    }
    json_object_set_new(g, "devices", m);
    *out = g;
    return OD_SRV_OK;
}

static int group_list(od_srv_store *st, int64_t product_id, json_t **out)
{
    CONN(st);
    q = run(c,
            "SELECT g.id, g.name, g.type, (SELECT count(*) FROM group_members m"
            " WHERE m.group_id=g.id) AS size FROM dgroups g WHERE g.product_id=?"
            " ORDER BY g.id",
            &rc, "i", product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    return rows_json(c, q, rc, out);
}

/* ------------------------------------------------------------------ */
/* Tasks                                                                */

static int task_write(conn *c, int64_t id, const od_srv_task_def *t,
                      int64_t *new_id)
{
    int rc;
    sqlite3_stmt *q;
    char *scope;
    od_srv_pkg p;
    int64_t now = now_s();

    q = run(c, "SELECT " PKG_COLS " FROM packages WHERE id=?", &rc, "i",
            t->package_id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    pkg_from_row(q, &p);
    if (p.product_id != t->product_id || p.status != OD_SRV_PKG_READY)
        return OD_SRV_ERR_PARAM;
    scope = json_dumps(t->scope, JSON_COMPACT);
    if (!scope)
        return OD_SRV_ERR_NOMEM;
    if (id == 0) {
        q = run(c,
                "INSERT INTO tasks(product_id, package_id, name, component, target_fw,"
                " target_version, state, retry, interval_s, min_signal, min_power,"
                " start_time, deadline, confirm, scope, created, updated)"
                " VALUES(?,?,?,?,?,?,0,?,?,?,?,?,?,?,?,?,?)",
                &rc, "iisiisiiiiiiisii", t->product_id, t->package_id, t->name,
                (int64_t)p.component, p.target_fw, p.target_version,
                (int64_t)t->retry, (int64_t)t->interval_s, (int64_t)t->min_signal,
                (int64_t)t->min_power, t->start_time, t->deadline,
                (int64_t)t->confirm, scope, now, now);
        if (q && new_id)
            *new_id = sqlite3_last_insert_rowid(c->db);
    } else {
        q = run(c,
                "UPDATE tasks SET package_id=?, name=?, component=?, target_fw=?,"
                " target_version=?, retry=?, interval_s=?, min_signal=?, min_power=?,"
                " start_time=?, deadline=?, confirm=?, scope=?, updated=? WHERE id=?",
                &rc, "isiisiiiiiiisii", t->package_id, t->name, (int64_t)p.component,
                p.target_fw, p.target_version, (int64_t)t->retry,
                (int64_t)t->interval_s, (int64_t)t->min_signal,
                (int64_t)t->min_power, t->start_time, t->deadline,
                (int64_t)t->confirm, scope, now, id);
    }
    free(scope);
    return q ? OD_SRV_OK : OD_SRV_ERR_DB;
}

static int task_create(od_srv_store *st, const od_srv_task_def *t, int64_t *id)
{
    CONN(st);
    int r;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    r = task_write(c, 0, t, id);
    if (r != OD_SRV_OK) {
        rollback(c);
        return r;
    }
    return commit(c);
}

static int task_state(conn *c, int64_t id, int64_t *product_id, int *state)
{
    int rc;
    sqlite3_stmt *q = run(c, "SELECT product_id, state FROM tasks WHERE id=?", &rc,
                          "i", id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    if (product_id)
        *product_id = sqlite3_column_int64(q, 0);
    *state = sqlite3_column_int(q, 1);
    return OD_SRV_OK;
}

static int task_edit(od_srv_store *st, int64_t id, const od_srv_task_def *t)
{
    CONN(st);
    int state, r;
    int64_t pid;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    r = task_state(c, id, &pid, &state);
    if (r == OD_SRV_OK && pid != t->product_id)
        r = OD_SRV_ERR_PARAM;
    if (r == OD_SRV_OK)
        r = od_srv_task_apply(&state, OD_SRV_OP_EDIT);
    if (r == OD_SRV_OK)
        r = task_write(c, id, t, NULL);
    if (r != OD_SRV_OK) {
        rollback(c);
        return r;
    }
    return commit(c);
}

static int task_scope_check(od_srv_store *st, int64_t pid, const json_t *scope, char *msg,
                            size_t msg_size)
{
    static const char *const lists[] = {"devices", "groups", "blacklist", "whitelist"};
    CONN(st);
    for (int k = 0; k < 4; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(scope, lists[k]), i, v) {
            int64_t ref = (int64_t)json_integer_value(v);
            q = run(c, k == 1 ? "SELECT 1 FROM dgroups WHERE id=?1 AND product_id=?2"
                              : "SELECT 1 FROM devices WHERE id=?1 AND product_id=?2",
                    &rc, "ii", ref, pid);
            if (!q)
                return OD_SRV_ERR_DB;
            if (rc != SQLITE_ROW) {
                snprintf(msg, msg_size, "%s: %lld is not a %s of this product", lists[k],
                         (long long)ref, k == 1 ? "group" : "device");
                return OD_SRV_ERR_PARAM;
            }
        }
    }
    return OD_SRV_OK;
}

/*
 * One active (upgrading or paused) task per device and component: BUSY,
 * naming a device of task id that is live in another active task, else
 * OK (or DB).
 */
static int device_conflict(conn *c, int64_t id, int component, char *msg, size_t msg_size)
{
    int rc;
    sqlite3_stmt *q = run(
        c,
        "SELECT d.device_id, d.task_id FROM task_devices d JOIN tasks t ON t.id=d.task_id"
        " WHERE t.id<>?1 AND t.state IN (1,2) AND t.component=?2 AND d.state IN (1,2,3)"
        " AND d.device_id IN (SELECT device_id FROM task_devices WHERE task_id=?1 AND"
        " state IN (1,2,3)) LIMIT 1",
        &rc, "ii", id, (int64_t)component);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_OK;
    snprintf(msg, msg_size, "device %lld is already in active task %lld",
             (long long)sqlite3_column_int64(q, 0), (long long)sqlite3_column_int64(q, 1));
    return OD_SRV_ERR_BUSY;
}

/*
 * Resolves a task's device set into task_devices:
 *   scope = devices ∪ members(groups), or every device of the product when
 *   both are empty; then ∩ whitelist when one is given; then − blacklist
 *   (black wins over everything).
 * Temp tables keep this a handful of set operations whatever the size.
 */
static int resolve(conn *c, int64_t id, int64_t pid, int component,
                   char *msg, size_t msg_size)
{
    int rc, r = OD_SRV_ERR_DB;
    sqlite3_stmt *q;
    json_t *scope = NULL, *v;
    json_error_t jerr;
    size_t i;
    int has_scope = 0, has_white = 0;
    static const char *const lists[] = {"devices", "groups", "whitelist",
                                        "blacklist"};

    q = run(c, "SELECT scope FROM tasks WHERE id=?", &rc, "i", id);
    if (!q || rc != SQLITE_ROW)
        return OD_SRV_ERR_DB;
    scope = json_loads((const char *)sqlite3_column_text(q, 0), 0, &jerr);
    if (!scope)
        return OD_SRV_ERR_INTERNAL;
    if (sqlite3_exec(c->db,
                     "CREATE TEMP TABLE IF NOT EXISTS rs_list(kind INTEGER, ref INTEGER);"
                     "DELETE FROM rs_list;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    for (int k = 0; k < 4; k++) {
        json_t *a = json_object_get(scope, lists[k]);
        json_array_foreach(a, i, v) {
            if (!run(c, "INSERT INTO rs_list VALUES(?,?)", &rc, "ii", (int64_t)k,
                     (int64_t)json_integer_value(v)))
                goto out;
            if (k < 2)
                has_scope = 1;
            if (k == 2)
                has_white = 1;
        }
    }
    if (has_scope)
        q = run(c,
                "INSERT OR IGNORE INTO task_devices(task_id, device_id, state, dl_state,"
                " percent, retries, last_code, updated)"
                " SELECT ?1, d.id, 1, 0, 0, 0, 0, ?2 FROM devices d WHERE d.product_id=?3"
                " AND (d.id IN (SELECT ref FROM rs_list WHERE kind=0) OR d.id IN"
                " (SELECT m.device_id FROM group_members m JOIN dgroups g ON g.id=m.group_id"
                "  WHERE g.product_id=?3 AND m.group_id IN (SELECT ref FROM rs_list WHERE kind=1)))"
                " AND (?4=0 OR d.id IN (SELECT ref FROM rs_list WHERE kind=2))"
                " AND d.id NOT IN (SELECT ref FROM rs_list WHERE kind=3)",
                &rc, "iiii", id, now_s(), pid, (int64_t)has_white);
    else
        q = run(c,
                "INSERT OR IGNORE INTO task_devices(task_id, device_id, state, dl_state,"
                " percent, retries, last_code, updated)"
                " SELECT ?1, d.id, 1, 0, 0, 0, 0, ?2 FROM devices d WHERE d.product_id=?3"
                " AND (?4=0 OR d.id IN (SELECT ref FROM rs_list WHERE kind=2))"
                " AND d.id NOT IN (SELECT ref FROM rs_list WHERE kind=3)",
                &rc, "iiii", id, now_s(), pid, (int64_t)has_white);
    if (!q)
        goto out;
    if (sqlite3_changes(c->db) == 0) {
        snprintf(msg, msg_size, "the task selects no device");
        r = OD_SRV_ERR_PARAM;
        goto out;
    }
    if ((r = device_conflict(c, id, component, msg, msg_size)) != OD_SRV_OK)
        goto out;
    r = OD_SRV_ERR_DB;
    if (!run(c, "UPDATE tasks SET resolved=1 WHERE id=?", &rc, "i", id))
        goto out;
    r = OD_SRV_OK;
out:
    json_decref(scope);
    (void)v;
    return r;
}

/* Completes an upgrading task whose rows are all terminal. */
static int maybe_complete(conn *c, int64_t task_id)
{
    int rc;
    return run(c,
               "UPDATE tasks SET state=4, updated=?1 WHERE id=?2 AND state=1 AND NOT"
               " EXISTS(SELECT 1 FROM task_devices WHERE task_id=?2 AND state IN (1,2,3))",
               &rc, "ii", now_s(), task_id)
               ? OD_SRV_OK
               : OD_SRV_ERR_DB;
}

/*
 * Queues the push of task id, just resolved, to its product's push URL if
 * one is set (else nothing): OneNET's {dids, startTime, version} plus what
 * a receiver needs to come back to us. start and version are the task's,
 * as task_op read them; startTime is start, or now for a task without one
 * (it starts now). Inside task_op's transaction, so a started task and its
 * push are one commit.
 */
static int push_enqueue(conn *c, int64_t id, int64_t pid, int component, int64_t start,
                        const char *version)
{
    int rc = 0, r = OD_SRV_ERR_DB;
    sqlite3_stmt *q;
    char url[OD_SRV_PUSH_URL_MAX + 1], token[OD_SRV_PUSH_TOKEN_MAX + 1];
    int64_t now = now_s();
    json_t *dids = NULL, *body = NULL;
    char *txt = NULL;

    q = run(c, "SELECT url, token FROM push_config WHERE product_id=?", &rc, "i", pid);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_OK;
    copy_col(url, sizeof(url), q, 0);
    copy_col(token, sizeof(token), q, 1);
    if (!(dids = json_array()))
        return OD_SRV_ERR_NOMEM;
    q = run(c, "SELECT device_id FROM task_devices WHERE task_id=? ORDER BY device_id", &rc,
            "i", id);
    for (; q && rc == SQLITE_ROW; rc = sqlite3_step(q))
        if (json_array_append_new(dids, json_integer(sqlite3_column_int64(q, 0))) != 0) {
            r = OD_SRV_ERR_NOMEM;
            goto out;
        }
    if (!q || rc != SQLITE_DONE)
        goto out;
    body = json_pack("{sO,sI,ss,sI,sI,ss}", "dids", dids, "startTime",
                     (json_int_t)(start ? start : now), "version", version, "product_id",
                     (json_int_t)pid, "task_id", (json_int_t)id, "component",
                     component == OD_SRV_COMP_FOTA ? "fota" : "sota");
    txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!txt) {
        r = OD_SRV_ERR_NOMEM;
        goto out;
    }
    if (run(c,
            "INSERT INTO push_deliveries(product_id, task_id, url, body, next_at, created,"
            " updated, token) VALUES(?1,?2,?3,?4,?5,?5,?5,?6)",
            &rc, "iissis", pid, id, url, txt, now, token))
        r = OD_SRV_OK;
out:
    free(txt);
    json_decref(body);
    json_decref(dids);
    return r;
}

static int task_op(od_srv_store *st, int64_t id, int op, char *msg,
                   size_t msg_size)
{
    CONN(st);
    int state, r, resolved, component;
    int64_t pid, start, deadline;
    char version[OD_SRV_VER_MAX + 1];
    if (msg_size)
        msg[0] = '\0';
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    r = task_state(c, id, &pid, &state);
    if (r != OD_SRV_OK)
        goto out;
    r = od_srv_task_apply(&state, op);
    if (r != OD_SRV_OK) {
        snprintf(msg, msg_size, "cannot %s a task that is %s",
                 od_srv_task_op_name(op),
                 od_srv_task_state_name(state));
        goto out;
    }
    r = OD_SRV_ERR_DB;
    if (op == OD_SRV_OP_DELETE) {
        /* Its push deliveries go too: the history is the task's, and a
         * delivery still queued would announce a task that is gone. */
        if (!run(c, "DELETE FROM task_devices WHERE task_id=?", &rc, "i", id) ||
            !run(c, "DELETE FROM push_deliveries WHERE task_id=?", &rc, "i", id) ||
            !run(c, "DELETE FROM tasks WHERE id=?", &rc, "i", id))
            goto out;
        r = OD_SRV_OK;
        goto out;
    }
    q = run(c, "SELECT resolved, component, deadline, start_time, target_version FROM tasks"
               " WHERE id=?", &rc, "i", id);
    if (!q || rc != SQLITE_ROW)
        goto out;
    resolved = sqlite3_column_int(q, 0);
    component = sqlite3_column_int(q, 1);
    deadline = sqlite3_column_int64(q, 2);
    start = sqlite3_column_int64(q, 3);
    copy_col(version, sizeof(version), q, 4);
    /* A first start past the deadline would fail every device at once and
     * still announce the task to the push receiver. (A paused task past
     * it resumes only to complete, as documented.) The deadline's own
     * second is still open, as for the devices (past_deadline) and the
     * sweep. */
    if (op == OD_SRV_OP_START && !resolved && deadline != 0 && deadline < now_s()) {
        snprintf(msg, msg_size, "the task's deadline has passed: edit it (PUT) first");
        r = OD_SRV_ERR_STATE;
        goto out;
    }
    if (op == OD_SRV_OP_START && !resolved) {
        r = resolve(c, id, pid, component, msg, msg_size);
        if (r == OD_SRV_OK)
            r = push_enqueue(c, id, pid, component, start, version);
        if (r != OD_SRV_OK)
            goto out;
        r = OD_SRV_ERR_DB;
    } else if (op == OD_SRV_OP_START) {
        /* Resuming: another task may have claimed a device meanwhile. */
        if ((r = device_conflict(c, id, component, msg, msg_size)) != OD_SRV_OK)
            goto out;
        r = OD_SRV_ERR_DB;
    }
    if (op == OD_SRV_OP_CANCEL &&
        !run(c,
             "UPDATE task_devices SET state=6," ROW_ENDS_SQL " status_text='cancelled',"
             " updated=? WHERE task_id=? AND state IN (1,2,3)",
             &rc, "ii", now_s(), id))
        goto out;
    if (!run(c, "UPDATE tasks SET state=?, updated=? WHERE id=?", &rc, "iii",
             (int64_t)state, now_s(), id))
        goto out;
    /* Devices finish while their task is paused (a version report still
     * counts), so a resumed task may have nothing left to do. */
    if (op == OD_SRV_OP_START && (r = maybe_complete(c, id)) != OD_SRV_OK)
        goto out;
    r = OD_SRV_OK;
out:
    if (r != OD_SRV_OK) {
        rollback(c);
        return r;
    }
    return commit(c);
}

#define TASK_JSON_SQL                                                          \
    "SELECT t.id, t.product_id, t.package_id, t.name, t.component, t.target_version,"\
    " CASE t.state WHEN 0 THEN 'not_started' WHEN 1 THEN 'upgrading' WHEN 2 THEN"   \
    " 'paused' WHEN 3 THEN 'stopped' ELSE 'completed' END AS state, t.retry,"       \
    " t.interval_s AS interval, t.min_signal, t.min_power, t.start_time, t.deadline,"\
    " CASE t.confirm WHEN 0 THEN 'silent' ELSE 'user' END AS confirm, t.scope,"     \
    " t.created, t.updated,"                                                        \
    " (SELECT count(*) FROM task_devices d WHERE d.task_id=t.id) AS total,"         \
    " (SELECT count(*) FROM task_devices d WHERE d.task_id=t.id AND d.state=4) AS succeeded," \
    " (SELECT count(*) FROM task_devices d WHERE d.task_id=t.id AND d.state=5) AS failed,"   \
    " (SELECT count(*) FROM task_devices d WHERE d.task_id=t.id AND d.state=6) AS cancelled," \
    " (SELECT count(*) FROM task_devices d WHERE d.task_id=t.id AND d.state IN (1,2,3)) AS active" \
    " FROM tasks t"

static int task_finish_json(json_t *o)
{
    json_int_t total = json_integer_value(json_object_get(o, "total"));
    json_int_t ok = json_integer_value(json_object_get(o, "succeeded"));
    const char *scope = json_string_value(json_object_get(o, "scope"));
    json_error_t jerr;
    json_t *sj = scope ? json_loads(scope, 0, &jerr) : NULL;
    /* success rate = succeeded / total, as on OneNET */
    json_object_set_new(o, "success_rate", json_real(total ? (double)ok / (double)total : 0.0));
    if (sj)
        json_object_set_new(o, "scope", sj);
    return 0;
}

static int task_get(od_srv_store *st, int64_t id, int devices, json_t **out)
{
    CONN(st);
    json_t *o, *rows;
    int r;
    q = run(c, TASK_JSON_SQL " WHERE t.id=?", &rc, "i", id);
    r = one_json(q, rc, &o);
    if (r != OD_SRV_OK)
        return r;
    task_finish_json(o);
    if (devices) {
        q = run(c,
                "SELECT d.device_id, v.name, CASE WHEN ?2 - v.last_seen < 600 THEN 1 ELSE 0"
                " END AS online, CASE d.dl_state WHEN 0 THEN 'none' WHEN 1 THEN 'downloading'"
                " WHEN 2 THEN 'done' ELSE 'failed' END AS download, d.percent,"
                " CASE d.state WHEN 1 THEN 'pending' WHEN 2 THEN 'downloading' WHEN 3 THEN"
                " 'upgrading' WHEN 4 THEN 'succeeded' WHEN 5 THEN 'failed' ELSE 'cancelled'"
                " END AS state, d.retries, d.last_code, d.status_text, d.package_id,"
                " d.updated FROM task_devices d JOIN devices v ON v.id=d.device_id"
                " WHERE d.task_id=?1 ORDER BY d.device_id",
                &rc, "ii", id, now_s());
        if (!q || rows_json(c, q, rc, &rows) != OD_SRV_OK) {
            json_decref(o);
            return OD_SRV_ERR_DB;
        }
        json_object_set_new(o, "devices", rows);
    }
    *out = o;
    return OD_SRV_OK;
}

static int task_sweep(od_srv_store *st, int64_t now, int *count)
{
    CONN(st);
    *count = 0;
    /* Once a second: a read first, so that the write lock device reports
     * need is only taken when a task has something to end (a paused task
     * without live rows waits for its resume, and is no reason). */
    q = run(c,
            "SELECT EXISTS(SELECT 1 FROM tasks t WHERE t.state IN (1,2) AND t.deadline>0 AND"
            " t.deadline<?1 AND (t.state=1 OR EXISTS(SELECT 1 FROM task_devices d WHERE"
            " d.task_id=t.id AND d.state IN (1,2,3))))",
            &rc, "i", now);
    if (!q)
        return OD_SRV_ERR_DB;
    rc = sqlite3_column_int(q, 0);
    /* Reset now: a stepped statement would hold this thread's read
     * snapshot for the second until the next sweep. */
    sqlite3_reset(q);
    if (!rc)
        return OD_SRV_OK;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c,
            "UPDATE task_devices SET state=5, last_code=208," ROW_ENDS_SQL " status_text=?1,"
            " updated=?2 WHERE state IN (1,2,3) AND task_id IN (SELECT id FROM tasks WHERE"
            " state IN (1,2) AND deadline>0 AND deadline<?2)",
            &rc, "si", od_srv_status_text(208), now);
    if (q)
        *count = sqlite3_changes(c->db);
    if (!q || !run(c,
                   "UPDATE tasks SET state=4, updated=?1 WHERE state=1 AND deadline>0 AND"
                   " deadline<?1 AND NOT EXISTS(SELECT 1 FROM task_devices d WHERE"
                   " d.task_id=tasks.id AND d.state IN (1,2,3))",
                   &rc, "i", now)) {
        rollback(c);
        return OD_SRV_ERR_DB;
    }
    return commit(c);
}

static int task_list(od_srv_store *st, int64_t product_id, json_t **out)
{
    CONN(st);
    size_t i;
    json_t *v;
    int r;
    q = run(c, TASK_JSON_SQL " WHERE t.product_id=? ORDER BY t.id", &rc, "i",
            product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    r = rows_json(c, q, rc, out);
    if (r == OD_SRV_OK)
        json_array_foreach(*out, i, v) task_finish_json(v);
    return r;
}

/* ------------------------------------------------------------------ */
/* Device API                                                           */

/* Ends a device-API write transaction: rolls back on a storage failure
 * or for a peek (a HEAD request: answered as a GET, nothing kept), else
 * commits; returns the errno r. */
static int dev_end(conn *c, int r, int peek)
{
    if (r < 0 || peek) {
        rollback(c);
        return r;
    }
    return commit(c) == OD_SRV_OK ? r : OD_SRV_ERR_DB;
}

static int dev_report_version(od_srv_store *st, int64_t dev_id,
                              const char *f_version, const char *s_version,
                              int64_t now)
{
    CONN(st);
    int r = OD_SRV_ERR_DB;
    int64_t tasks[64];
    int nt = 0;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c,
            "UPDATE devices SET f_version=coalesce(?, f_version),"
            " s_version=coalesce(?, s_version), last_seen=? WHERE id=?",
            &rc, "ssii", f_version, s_version, now, dev_id);
    if (!q)
        goto out;
    if (sqlite3_changes(c->db) == 0) {
        r = OD_SRV_ENO_AUTH;
        goto out;
    }
    /* A reported version equal to an active task's target completes the
     * device in that task, whatever step it had reached. */
    q = run(c,
            "SELECT t.id FROM task_devices d JOIN tasks t ON t.id=d.task_id"
            " WHERE d.device_id=?1 AND t.state IN (1,2) AND d.state IN (1,2,3) AND"
            " ((t.component=1 AND t.target_version=?2) OR"
            "  (t.component=2 AND t.target_version=?3))",
            &rc, "iss", dev_id, f_version ? f_version : "",
            s_version ? s_version : "");
    if (!q)
        goto out;
    while (rc == SQLITE_ROW && nt < 64) {
        tasks[nt++] = sqlite3_column_int64(q, 0);
        rc = sqlite3_step(q);
    }
    for (int i = 0; i < nt; i++) {
        if (!run(c,
                 "UPDATE task_devices SET state=4, dl_state=2, percent=100,"
                 " status_text='version reported', updated=? WHERE task_id=? AND device_id=?",
                 &rc, "iii", now, tasks[i], dev_id) ||
            maybe_complete(c, tasks[i]) != OD_SRV_OK)
            goto out;
    }
    r = OD_SRV_ENO_OK;
out:
    return dev_end(c, r, 0);
}

static void random_token(char out[OD_SRV_DEVTOKEN_LEN + 1])
{
    unsigned char b[OD_SRV_DEVTOKEN_LEN / 2];
    static const char hex[] = "0123456789abcdef";
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort(); /* no entropy: tokens would be guessable */
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[OD_SRV_DEVTOKEN_LEN] = '\0';
}

/* The live row of a device in its active task of a component. */
typedef struct live_row {
    int64_t task_id, package_id, target_fw, start_time, deadline;
    int task_state, retry, interval, signal, power;
    char target[OD_SRV_VER_MAX + 1], token[OD_SRV_DEVTOKEN_LEN + 1];
    int64_t token_exp;
    int64_t device_id, product_id, task_pkg; /* the row's device, task's product, package */
    int by_token; /* row_by_key found it by its token, whose 48 h then apply */
    int superseded; /* ... by its previous token: a later check replaced it */
    od_srv_dev_fsm fsm;
} live_row;

/* One task_devices row d joined with its task t; ends in WHERE. */
#define LIVE_ROW_SQL                                                                    \
    "SELECT t.id, t.state, t.retry, t.interval_s, t.min_signal, t.min_power,"           \
    " t.target_version, t.target_fw, t.start_time, t.deadline, t.package_id,"           \
    " t.product_id, d.device_id, d.state, d.dl_state, d.percent, d.retries,"            \
    " d.last_code, d.package_id, coalesce(d.token,''), d.token_exp, d.repeat_ok"       \
    " FROM task_devices d JOIN tasks t ON t.id=d.task_id WHERE "

static void live_row_read(sqlite3_stmt *q, live_row *lr)
{
    memset(lr, 0, sizeof(*lr));
    lr->task_id = sqlite3_column_int64(q, 0);
    lr->task_state = sqlite3_column_int(q, 1);
    lr->retry = sqlite3_column_int(q, 2);
    lr->interval = sqlite3_column_int(q, 3);
    lr->signal = sqlite3_column_int(q, 4);
    lr->power = sqlite3_column_int(q, 5);
    copy_col(lr->target, sizeof(lr->target), q, 6);
    lr->target_fw = sqlite3_column_int64(q, 7);
    lr->start_time = sqlite3_column_int64(q, 8);
    lr->deadline = sqlite3_column_int64(q, 9);
    lr->task_pkg = sqlite3_column_int64(q, 10);
    lr->product_id = sqlite3_column_int64(q, 11);
    lr->device_id = sqlite3_column_int64(q, 12);
    lr->fsm.state = sqlite3_column_int(q, 13);
    lr->fsm.dl_state = sqlite3_column_int(q, 14);
    lr->fsm.percent = sqlite3_column_int(q, 15);
    lr->fsm.retries = sqlite3_column_int(q, 16);
    lr->fsm.last_code = sqlite3_column_int(q, 17);
    lr->package_id = sqlite3_column_int64(q, 18);
    copy_col(lr->token, sizeof(lr->token), q, 19);
    lr->token_exp = sqlite3_column_int64(q, 20);
    lr->fsm.repeat_ok = sqlite3_column_int(q, 21);
}

/* Whether the row's task has a deadline and it has passed. */
static int past_deadline(const live_row *lr, int64_t now)
{
    return lr->deadline && now > lr->deadline;
}

/* Past the task's deadline a device's row fails with 208, as a device
 * would report it; the task completes when it was the last live row. */
static int expire_row(conn *c, int64_t task_id, int64_t dev_id, int64_t now)
{
    int rc;
    if (!run(c,
             "UPDATE task_devices SET state=5, last_code=208," ROW_ENDS_SQL " status_text=?,"
             " updated=? WHERE task_id=? AND device_id=?",
             &rc, "siii", od_srv_status_text(208), now, task_id, dev_id))
        return OD_SRV_ERR_DB;
    return maybe_complete(c, task_id);
}

/* Loads the device's live row (pending, downloading or upgrading) in its
 * active (upgrading or paused) task of a component into *lr. OD_SRV_OK,
 * NOT_FOUND or DB. */
static int live_row_load(conn *c, int64_t dev_id, int component, live_row *lr)
{
    int rc;
    sqlite3_stmt *q = run(c,
                          LIVE_ROW_SQL "d.device_id=? AND t.component=? AND t.state IN (1,2)"
                                       " AND d.state IN (1,2,3) ORDER BY t.id LIMIT 1",
                          &rc, "ii", dev_id, (int64_t)component);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    live_row_read(q, lr);
    return OD_SRV_OK;
}

static int gate_row(conn *c, const live_row *lr, int64_t dev_id, int64_t now);
static int save_row(conn *c, const live_row *lr, int64_t dev_id, int64_t now,
                    const char *text);

/* The gate check and tasking share in front of a live row: PAUSED, NO_TASK
 * before the task's start time, EXPIRED past its deadline (the row is
 * failed with 208 here, in the caller's transaction), else OK. */
static int live_gate(conn *c, const live_row *lr, int64_t dev_id, int64_t now)
{
    if (lr->task_state != OD_SRV_TASK_PAUSED && lr->start_time && now < lr->start_time)
        return OD_SRV_ENO_NO_TASK;
    return gate_row(c, lr, dev_id, now);
}

/* Marks the device seen; ENO_AUTH if it does not exist. */
static int touch_device(conn *c, int64_t dev_id, int64_t now)
{
    int rc;
    if (!run(c, "UPDATE devices SET last_seen=? WHERE id=?", &rc, "ii", now, dev_id))
        return OD_SRV_ERR_DB;
    return sqlite3_changes(c->db) ? OD_SRV_ENO_OK : OD_SRV_ENO_AUTH;
}

/* The reply of check and tasking: the row's task and token, the package. */
static void fill_check(od_srv_check *out, const live_row *lr, const od_srv_pkg *pkg)
{
    snprintf(out->target, sizeof(out->target), "%s", lr->target);
    snprintf(out->token, sizeof(out->token), "%s", lr->token);
    out->size = pkg->size;
    memcpy(out->md5, pkg->md5, sizeof(out->md5));
    memcpy(out->sha256, pkg->sha256, sizeof(out->sha256));
    out->signal = lr->signal;
    out->power = lr->power;
    out->retry = lr->retry;
    out->interval = lr->interval;
    out->type = pkg->kind == 1 ? 1 : 2;
    out->task_id = lr->task_id;
    out->state = lr->fsm.state;
}

static int dev_check(od_srv_store *st, int64_t dev_id, int component,
                     const char *version, const char *manuf,
                     const char *model, int64_t now, int peek, od_srv_check *out)
{
    CONN(st);
    int r = OD_SRV_ERR_DB;
    live_row lr;
    od_srv_fw tfw;
    od_srv_pkg pkg;
    char cur[OD_SRV_VER_MAX + 1];
    int has_pkg = 0;

    memset(out, 0, sizeof(*out));
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    q = run(c, "SELECT f_version, s_version FROM devices WHERE id=?", &rc, "i", dev_id);
    if (!q)
        goto out;
    if (rc != SQLITE_ROW) {
        r = OD_SRV_ENO_AUTH;
        goto out;
    }
    copy_col(cur, sizeof(cur), q, component == OD_SRV_COMP_FOTA ? 0 : 1);
    if (version && version[0])
        snprintf(cur, sizeof(cur), "%s", version);
    if (touch_device(c, dev_id, now) < 0)
        goto out;
    r = live_row_load(c, dev_id, component, &lr);
    if (r != OD_SRV_OK) {
        r = r == OD_SRV_ERR_NOT_FOUND ? OD_SRV_ENO_NO_TASK : r;
        goto out;
    }
    r = live_gate(c, &lr, dev_id, now);
    if (r == OD_SRV_ENO_EXPIRED)
        r = OD_SRV_ENO_NO_TASK; /* the row just failed: nothing to do */
    if (r != OD_SRV_ENO_OK)
        goto out;
    r = OD_SRV_ERR_DB;
    if (!od_srv_version_valid(cur)) {
        r = OD_SRV_ENO_BAD_VERSION;
        goto out;
    }
    if (!strcmp(cur, lr.target)) {
        /* Already there: the device is done in this task. */
        if (!run(c,
                 "UPDATE task_devices SET state=4, dl_state=2, percent=100,"
                 " status_text='already at target', updated=? WHERE task_id=? AND device_id=?",
                 &rc, "iii", now, lr.task_id, dev_id) ||
            maybe_complete(c, lr.task_id) != OD_SRV_OK)
            goto out;
        r = OD_SRV_ENO_NO_TASK;
        goto out;
    }
    q = run(c,
            "SELECT id, product_id, version, component, manuf, model FROM firmware WHERE id=?",
            &rc, "i", lr.target_fw);
    if (!q || rc != SQLITE_ROW)
        goto out;
    copy_col(tfw.manuf, sizeof(tfw.manuf), q, 4);
    copy_col(tfw.model, sizeof(tfw.model), q, 5);
    if ((manuf && manuf[0] && tfw.manuf[0] && strcmp(manuf, tfw.manuf)) ||
        (model && model[0] && tfw.model[0] && strcmp(model, tfw.model))) {
        if (!run(c,
                 "UPDATE task_devices SET state=5," ROW_ENDS_SQL
                 " status_text='manuf or model mismatch', updated=? WHERE task_id=? AND"
                 " device_id=?",
                 &rc, "iii", now, lr.task_id, dev_id) ||
            maybe_complete(c, lr.task_id) != OD_SRV_OK)
            goto out;
        r = OD_SRV_ENO_MANUF;
        goto out;
    }
    /* The delta whose source is the device's version, else the full one,
     * that the task's devices can apply: the task package's codec (an
     * applier may have only that decoder), no more RAM than its budget,
     * and, when the task package was asked for with filter none (devices
     * whose applier lacks the thumb filter), no delta that may use it
     * (asked for with auto or thumb). Among those the one the device
     * already has wins, so its token and any download in flight stay
     * valid; then the task's own package, then the newest. */
    q = run(c,
            "SELECT " PKG_COLS " FROM packages WHERE target_fw=?1 AND status=1 AND"
            " ((kind=2 AND source_version=?2) OR kind=1) AND EXISTS(SELECT 1 FROM"
            " packages t WHERE t.id=?3 AND t.codec=packages.codec AND"
            " t.ram_budget>=packages.ram_budget AND"
            " (t.filter<>0 OR packages.filter=0 OR packages.kind=1))"
            " ORDER BY kind DESC, id=?4 DESC, id=?3 DESC, id DESC LIMIT 1",
            &rc, "isii", lr.target_fw, cur, lr.task_pkg, lr.package_id);
    if (!q)
        goto out;
    if (rc == SQLITE_ROW) {
        pkg_from_row(q, &pkg);
        has_pkg = 1;
    }
    if (!has_pkg) {
        r = OD_SRV_ENO_NO_DIFF;
        goto out;
    }
    /* A valid token for this package is kept, so a download in progress
     * goes on with it, but every check renews its 48 h: a device is never
     * handed a token about to lapse. The one a new token replaces is kept
     * as the previous token, so that a device still holding it is told to
     * check again rather than that it holds another device's. */
    if (!lr.token[0] || lr.token_exp < now || lr.package_id != pkg.id)
        random_token(lr.token);
    lr.token_exp = now + TOKEN_LIFE;
    od_srv_dev_checked(&lr.fsm, lr.package_id != pkg.id);
    if (save_row(c, &lr, dev_id, now,
                 lr.package_id && lr.package_id != pkg.id ? "another package: download it"
                                                           : NULL) != OD_SRV_OK ||
        !run(c,
             "UPDATE task_devices SET prev_token=CASE WHEN token<>?1 THEN token ELSE"
             " prev_token END, token=?1, token_exp=?2, package_id=?3, updated=?4"
             " WHERE task_id=?5 AND device_id=?6",
             &rc, "siiiii", lr.token, lr.token_exp, pkg.id, now, lr.task_id, dev_id))
        goto out;
    fill_check(out, &lr, &pkg);
    r = OD_SRV_ENO_OK;
out:
    return dev_end(c, r, peek);
}

static int dev_tasking(od_srv_store *st, int64_t dev_id, int component, int64_t now,
                       int peek, od_srv_check *out)
{
    CONN(st);
    live_row lr;
    od_srv_pkg pkg;
    int r;

    memset(out, 0, sizeof(*out));
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    r = touch_device(c, dev_id, now);
    if (r == OD_SRV_ENO_OK) {
        r = live_row_load(c, dev_id, component, &lr);
        if (r == OD_SRV_ERR_NOT_FOUND)
            r = OD_SRV_ENO_NO_TASK;
    }
    if (r == OD_SRV_ENO_OK)
        r = live_gate(c, &lr, dev_id, now);
    /* A row that was never checked holds no token. */
    if (r == OD_SRV_ENO_OK && !lr.token[0])
        r = OD_SRV_ENO_NO_TASK;
    if (r == OD_SRV_ENO_OK && lr.token_exp < now)
        r = OD_SRV_ENO_EXPIRED;
    if (r == OD_SRV_ENO_OK) {
        q = run(c, "SELECT " PKG_COLS " FROM packages WHERE id=? AND status=1", &rc, "i",
                lr.package_id);
        if (!q)
            r = OD_SRV_ERR_DB;
        else if (rc != SQLITE_ROW)
            r = OD_SRV_ENO_INTERNAL; /* as a download of that token would be */
        else
            pkg_from_row(q, &pkg);
    }
    if (r == OD_SRV_ENO_OK)
        fill_check(out, &lr, &pkg);
    return dev_end(c, r, peek);
}

/* Loads the row k names: the one holding k->token (or holding it as its
 * previous token: lr->superseded), or dev_id's row in task k->task_id.
 * TOKEN_OWNER when there is none. */
static int row_by_key(conn *c, const od_srv_row_key *k, int64_t dev_id, live_row *lr)
{
    int rc, superseded = 0;
    sqlite3_stmt *q = k->token ? run(c, LIVE_ROW_SQL "d.token=?", &rc, "s", k->token)
                               : run(c, LIVE_ROW_SQL "d.task_id=? AND d.device_id=?", &rc, "ii",
                                     k->task_id, dev_id);
    if (q && rc != SQLITE_ROW && k->token) {
        q = run(c, LIVE_ROW_SQL "d.prev_token=?", &rc, "s", k->token);
        superseded = 1;
    }
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ENO_TOKEN_OWNER;
    live_row_read(q, lr);
    lr->by_token = k->token != NULL;
    lr->superseded = superseded;
    return OD_SRV_ENO_OK;
}

/* Task-level gate shared by token check, download and progress. */
static int task_gate(const live_row *lr, int64_t now)
{
    switch (lr->task_state) {
    case OD_SRV_TASK_PAUSED: return OD_SRV_ENO_PAUSED;
    case OD_SRV_TASK_STOPPED: return OD_SRV_ENO_CANCELLED;
    case OD_SRV_TASK_COMPLETED: return OD_SRV_ENO_FINISHED;
    case OD_SRV_TASK_UPGRADING: break;
    default: return OD_SRV_ENO_STATE;
    }
    if ((lr->by_token && (lr->superseded || lr->token_exp < now)) || past_deadline(lr, now))
        return OD_SRV_ENO_EXPIRED;
    return OD_SRV_ENO_OK;
}

/* task_gate for a device's own call, which also fails its row with 208
 * (in the caller's transaction) once the task's deadline has passed. */
static int gate_row(conn *c, const live_row *lr, int64_t dev_id, int64_t now)
{
    int r = task_gate(lr, now);
    if (r == OD_SRV_ENO_EXPIRED && past_deadline(lr, now) &&
        !od_srv_dev_terminal(lr->fsm.state) && expire_row(c, lr->task_id, dev_id, now) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    return r;
}

static int save_row(conn *c, const live_row *lr, int64_t dev_id, int64_t now,
                    const char *text)
{
    int rc;
    return run(c,
               "UPDATE task_devices SET state=?, dl_state=?, percent=?, retries=?,"
               " last_code=?, repeat_ok=?, status_text=coalesce(?, status_text), updated=?"
               " WHERE task_id=? AND device_id=?",
               &rc, "iiiiiisiii", (int64_t)lr->fsm.state, (int64_t)lr->fsm.dl_state,
               (int64_t)lr->fsm.percent, (int64_t)lr->fsm.retries,
               (int64_t)lr->fsm.last_code, (int64_t)lr->fsm.repeat_ok, text, now, lr->task_id,
               dev_id)
               ? OD_SRV_OK
               : OD_SRV_ERR_DB;
}

/* Opens a device's write transaction on the row k names: begins, loads
 * it (TOKEN_OWNER when it is not dev_id's) and passes it through
 * gate_row; a finished row too when gate_finished (the state machine
 * then answers for it), else it passes as it is. Returns the errno; the
 * caller ends the transaction with dev_end whatever it says. */
static int gated_row(conn *c, int64_t dev_id, const od_srv_row_key *k, int64_t now,
                     int gate_finished, live_row *lr)
{
    int r;
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    r = row_by_key(c, k, dev_id, lr);
    if (r == OD_SRV_ENO_OK && lr->device_id != dev_id)
        r = OD_SRV_ENO_TOKEN_OWNER;
    if (r == OD_SRV_ENO_OK && (gate_finished || !od_srv_dev_terminal(lr->fsm.state)))
        r = gate_row(c, lr, dev_id, now);
    return r;
}

static int dev_token_check(od_srv_store *st, int64_t dev_id, const od_srv_row_key *k,
                           int64_t now, int peek)
{
    CONN(st);
    live_row lr;
    int r = gated_row(c, dev_id, k, now, 1, &lr);
    if (r == OD_SRV_ENO_OK)
        r = od_srv_dev_token_check(&lr.fsm);
    if (r == OD_SRV_ENO_OK &&
        (save_row(c, &lr, dev_id, now, "downloading") != OD_SRV_OK ||
         touch_device(c, dev_id, now) < 0))
        r = OD_SRV_ERR_DB;
    return dev_end(c, r, peek);
}

/* Read-only and on the hot path (one call per Range request): no
 * transaction beyond the statement's own. */
static int dev_download(od_srv_store *st, const od_srv_row_key *k, int64_t dev_id,
                        int64_t now, int64_t product_id, od_srv_dl *out)
{
    CONN(st);
    live_row lr;
    int r = row_by_key(c, k, dev_id, &lr);
    if (r != OD_SRV_ENO_OK)
        return r;
    if (lr.product_id != product_id || (dev_id && lr.device_id != dev_id))
        return OD_SRV_ENO_TOKEN_OWNER;
    r = task_gate(&lr, now);
    if (r != OD_SRV_ENO_OK)
        return r;
    if (od_srv_dev_terminal(lr.fsm.state))
        return lr.fsm.state == OD_SRV_DEV_CANCELLED ? OD_SRV_ENO_CANCELLED
                                                    : OD_SRV_ENO_FINISHED;
    /* Keyed by task id: a row whose device never checked has no package
     * chosen yet (a token always has one). */
    if (!lr.package_id)
        return OD_SRV_ENO_STATE;
    q = run(c, "SELECT file, sha256, size, created FROM packages WHERE id=? AND status=1",
            &rc, "i", lr.package_id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ENO_INTERNAL;
    copy_col(out->file, sizeof(out->file), q, 0);
    copy_col(out->sha256, sizeof(out->sha256), q, 1);
    out->size = sqlite3_column_int64(q, 2);
    out->created = sqlite3_column_int64(q, 3);
    out->package_id = lr.package_id;
    out->device_id = lr.device_id;
    out->state = lr.fsm.state;
    reset_all(c); /* release the read snapshot at once */
    return OD_SRV_ENO_OK;
}

static int dev_progress(od_srv_store *st, int64_t dev_id, const od_srv_row_key *k,
                        int step, int64_t now)
{
    CONN(st);
    live_row lr;
    od_srv_dev_fsm was = {0};
    int r = gated_row(c, dev_id, k, now, 1, &lr);
    if (r == OD_SRV_ENO_OK) {
        was = lr.fsm;
        r = od_srv_dev_report(&lr.fsm, step, lr.retry);
    }
    /* Keyed by task id, a live row whose device never checked has no
     * package: nothing was fetched or applied to report on (as its
     * download says; a token always has one). The row is not saved. */
    if (r == OD_SRV_ENO_OK && !lr.package_id)
        r = OD_SRV_ENO_STATE;
    /* A report that moves nothing (a resent failure, a percent sent
     * twice) leaves the row as it is, its text and time included; the
     * device was still seen. The struct is all ints: no padding. */
    if (r == OD_SRV_ENO_OK && !memcmp(&was, &lr.fsm, sizeof(was))) {
        if (touch_device(c, dev_id, now) < 0)
            r = OD_SRV_ERR_DB;
    } else if (r == OD_SRV_ENO_OK) {
        const char *text = step > 100 ? od_srv_status_text(step) : NULL;
        if (step <= 100)
            text = lr.fsm.state == OD_SRV_DEV_UPGRADING ? "downloaded" : "downloading";
        if (lr.fsm.state == OD_SRV_DEV_PENDING && step > 101)
            text = od_srv_status_text(step); /* failed, will retry */
        if (save_row(c, &lr, dev_id, now, text) != OD_SRV_OK || touch_device(c, dev_id, now) < 0)
            r = OD_SRV_ERR_DB;
        /* 201: the platform sets the device version to the target. */
        if (r == OD_SRV_ENO_OK && lr.fsm.state == OD_SRV_DEV_SUCCEEDED &&
            !run(c,
                 "UPDATE devices SET f_version=CASE WHEN t.component=1 THEN t.target_version"
                 " ELSE f_version END, s_version=CASE WHEN t.component=2 THEN"
                 " t.target_version ELSE s_version END FROM (SELECT component,"
                 " target_version FROM tasks WHERE id=?) AS t WHERE devices.id=?",
                 &rc, "ii", lr.task_id, dev_id))
            r = OD_SRV_ERR_DB;
        if (r == OD_SRV_ENO_OK && od_srv_dev_terminal(lr.fsm.state) &&
            maybe_complete(c, lr.task_id) != OD_SRV_OK)
            r = OD_SRV_ERR_DB;
    }
    return dev_end(c, r, 0);
}

/* A finished row answers its state whatever its task does now; a live
 * one goes through the gate first (paused, past the deadline). */
static int dev_row_state(od_srv_store *st, int64_t dev_id, const od_srv_row_key *k,
                         int64_t now, int peek, int *state)
{
    CONN(st);
    live_row lr;
    int r = gated_row(c, dev_id, k, now, 0, &lr);
    *state = 0;
    if (r == OD_SRV_ENO_OK) {
        *state = lr.fsm.state;
        if (touch_device(c, dev_id, now) < 0)
            r = OD_SRV_ERR_DB;
    }
    return dev_end(c, r, peek);
}

/* ------------------------------------------------------------------ */
/* Push notifications                                                   */

static int push_set(od_srv_store *st, int64_t product_id, const char *url, const char *token)
{
    CONN(st);
    if ((rc = begin_for_product(c, product_id)) != OD_SRV_OK)
        return rc;
    if (!run(c,
             "INSERT INTO push_config(product_id, url, token, updated) VALUES(?1,?2,?3,?4)"
             " ON CONFLICT(product_id) DO UPDATE SET url=?2, token=?3, updated=?4",
             &rc, "issi", product_id, url, token, now_s())) {
        rollback(c);
        return OD_SRV_ERR_DB;
    }
    return commit(c);
}

static int push_get(od_srv_store *st, int64_t product_id, int limit, json_t **out)
{
    CONN(st);
    json_t *o, *rows;
    size_t i;
    json_t *v;
    int r;
    q = run(c, "SELECT 1 FROM products WHERE id=?", &rc, "i", product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    if (rc != SQLITE_ROW)
        return OD_SRV_ERR_NOT_FOUND;
    /* Never the token: it is the receiver's secret, written once. */
    q = run(c, "SELECT url, updated FROM push_config WHERE product_id=?", &rc, "i",
            product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    o = rc == SQLITE_ROW ? row_json(q) : json_pack("{sn,sn}", "url", "updated");
    if (!o)
        return OD_SRV_ERR_NOMEM;
    json_object_set_new(o, "configured", json_boolean(rc == SQLITE_ROW));
    q = run(c,
            "SELECT id, task_id, url, CASE status WHEN 0 THEN 'queued' WHEN 1 THEN 'delivered'"
            " ELSE 'failed' END AS status, attempts, http_status, last_error, next_at,"
            " created, updated, body AS payload FROM push_deliveries WHERE product_id=?"
            " ORDER BY id DESC LIMIT ?",
            &rc, "ii", product_id, (int64_t)limit);
    r = q ? rows_json(c, q, rc, &rows) : OD_SRV_ERR_DB;
    if (r != OD_SRV_OK) {
        json_decref(o);
        return r;
    }
    /* The payload as the JSON it is, not a string of it. */
    json_array_foreach(rows, i, v) {
        json_error_t jerr;
        const char *txt = json_string_value(json_object_get(v, "payload"));
        json_t *pj = txt ? json_loads(txt, 0, &jerr) : NULL;
        if (pj)
            json_object_set_new(v, "payload", pj);
    }
    json_object_set_new(o, "deliveries", rows);
    *out = o;
    return OD_SRV_OK;
}

static int push_delete(od_srv_store *st, int64_t product_id)
{
    CONN(st);
    q = run(c, "DELETE FROM push_config WHERE product_id=?", &rc, "i", product_id);
    if (!q)
        return OD_SRV_ERR_DB;
    return sqlite3_changes(c->db) ? OD_SRV_OK : OD_SRV_ERR_NOT_FOUND;
}

static int push_claim(od_srv_store *st, int64_t now, int lease_s, int max_attempts,
                      od_srv_push *out)
{
    CONN(st);
    const unsigned char *body;
    memset(out, 0, sizeof(*out));
    if (begin(c) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    /* Due again with every attempt spent: the last one's lease ran out (a
     * crash; the receiver may have seen it, so it is not repeated), or
     * --push-attempts was lowered since. */
    if (!run(c,
             "UPDATE push_deliveries SET status=?1, last_error='attempts used up (the last"
             " one cut short by a crash, or --push-attempts lowered)', updated=?2"
             " WHERE status=?3 AND next_at<=?2 AND attempts>=?4",
             &rc, "iiii", (int64_t)OD_SRV_PUSH_FAILED, now, (int64_t)OD_SRV_PUSH_QUEUED,
             (int64_t)max_attempts)) {
        rollback(c);
        return OD_SRV_ERR_DB;
    }
    q = run(c,
            "SELECT id, task_id, url, body, attempts, token FROM push_deliveries"
            " WHERE status=0 AND next_at<=? ORDER BY next_at, id LIMIT 1",
            &rc, "i", now);
    if (!q) {
        rollback(c);
        return OD_SRV_ERR_DB;
    }
    if (rc != SQLITE_ROW) { /* keeps what the UPDATE above failed */
        rc = commit(c);
        return rc == OD_SRV_OK ? OD_SRV_ERR_NOT_FOUND : rc;
    }
    out->id = sqlite3_column_int64(q, 0);
    out->task_id = sqlite3_column_int64(q, 1);
    copy_col(out->url, sizeof(out->url), q, 2);
    copy_col(out->token, sizeof(out->token), q, 5);
    body = sqlite3_column_text(q, 3);
    out->body = malloc((size_t)sqlite3_column_bytes(q, 3) + 1);
    out->attempts = sqlite3_column_int(q, 4) + 1;
    if (!out->body) {
        rollback(c);
        return OD_SRV_ERR_NOMEM;
    }
    memcpy(out->body, body ? (const char *)body : "", (size_t)sqlite3_column_bytes(q, 3) + 1);
    if (!run(c, "UPDATE push_deliveries SET attempts=?, next_at=?, updated=? WHERE id=?", &rc,
             "iiii", (int64_t)out->attempts, now + lease_s, now, out->id)) {
        rollback(c);
        free(out->body);
        out->body = NULL;
        return OD_SRV_ERR_DB;
    }
    rc = commit(c);
    if (rc != OD_SRV_OK) {
        free(out->body);
        out->body = NULL;
    }
    return rc;
}

static int push_result(od_srv_store *st, int64_t id, int status, int http_status,
                       const char *error, int64_t next_at)
{
    CONN(st);
    q = run(c,
            "UPDATE push_deliveries SET status=?, http_status=?, last_error=?, next_at=?,"
            " updated=? WHERE id=?",
            &rc, "iisiii", (int64_t)status, (int64_t)http_status, error ? error : "", next_at,
            now_s(), id);
    return q ? OD_SRV_OK : OD_SRV_ERR_DB;
}

/* ------------------------------------------------------------------ */

static void sq_close(od_srv_store *st)
{
    sq *s = (sq *)st;
    conn *c, *next;
    if (!s)
        return;
    /* First, so that no thread ending later runs conn_release on what is
     * freed here. */
    pthread_key_delete(s->key);
    for (c = s->conns; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const od_srv_store_ops sqlite_ops = {
    sq_close,
    product_create, product_get, product_list, product_key, product_set_key, product_owner,
    product_set_owner,
    user_create, user_get, user_list, user_key, user_set_key, user_delete,
    fw_insert, fw_get, fw_list, fw_delete,
    pkg_create, pkg_get, pkg_info, pkg_list, pkg_delete,
    job_claim, job_requeue_running, job_progress, job_finish, job_get,
    dev_create, dev_get, dev_find, dev_set_key, dev_info, dev_list,
    group_create, group_update, group_members, group_get, group_list,
    task_create, task_edit, task_scope_check, task_op, task_get, task_list, task_sweep,
    dev_report_version, dev_check, dev_token_check, dev_download, dev_progress,
    dev_tasking, dev_row_state,
    push_set, push_get, push_delete, push_claim, push_result,
};

/*
 * Columns added to a table after its first release, with the default an
 * older database's rows get. CREATE TABLE IF NOT EXISTS leaves an existing
 * table as it was, so each missing column is added here. Tables added
 * since (push_config, push_deliveries, users) need no entry: the schema's
 * CREATE TABLE IF NOT EXISTS creates them in an older database.
 */
static const struct {
    const char *table, *column, *decl;
} added_columns[] = {
    {"packages", "codec", "INTEGER NOT NULL DEFAULT 2"},
    {"packages", "filter", "INTEGER NOT NULL DEFAULT -1"},
    {"packages", "effort", "INTEGER NOT NULL DEFAULT 0"},
    /* No default: an older product has no owner (NULL). SQLite only adds
     * a column with a foreign key if its default is NULL. */
    {"products", "user_id", "INTEGER REFERENCES users(id)"},
    {"task_devices", "repeat_ok", "INTEGER NOT NULL DEFAULT 0"},
    {"task_devices", "prev_token", "TEXT"},
    /* Deliveries queued before they were signed stay unsigned. */
    {"push_deliveries", "token", "TEXT NOT NULL DEFAULT ''"},
};

/* Indexes on added columns: made once migrate() has added them (the
 * schema runs first, on a table that may not have them yet). */
static const char added_indexes[] =
    "CREATE INDEX IF NOT EXISTS td_prev_token ON task_devices(prev_token);";

/*
 * Tables whose ids must never come back after a delete: a task id is the
 * key push receivers deduplicate on, and packages, jobs and deliveries
 * are named by id in tasks, logs and receivers' records; a platform that
 * still names a deleted user (to give it a product) must meet 404, not
 * another account. AUTOINCREMENT guarantees it (plain INTEGER PRIMARY KEY
 * reuses the largest id once its row is gone); SQLite cannot add it to a
 * table, so an older database's tables are rebuilt once.
 */
static const char *const no_reuse[] = {"firmware", "packages", "jobs", "tasks",
                                        "push_deliveries", "users"};

static int table_sql_has(conn *c, const char *table, const char *word)
{
    sqlite3_stmt *q;
    int has = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        has = strstr((const char *)sqlite3_column_text(q, 0), word) != NULL;
    sqlite3_finalize(q);
    return has;
}

/* "a, b, c": the columns of table, for a copy that does not depend on
 * their order (columns added by migrate() come last in an old table). */
static int column_list(conn *c, const char *table, char *out, size_t n)
{
    sqlite3_stmt *q;
    size_t len = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(c->db, "SELECT name FROM pragma_table_info(?)", -1, &q, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int w = snprintf(out + len, n - len, "%s\"%s\"", len ? ", " : "",
                         (const char *)sqlite3_column_text(q, 0));
        if (w < 0 || (size_t)w >= n - len) {
            sqlite3_finalize(q);
            return -1;
        }
        len += (size_t)w;
    }
    sqlite3_finalize(q);
    return len ? 0 : -1;
}

/* Renames the old tables away, lets the schema create them anew, copies
 * the rows (ids kept) and drops the old ones; the schema runs once more
 * for the indexes that went with them. One transaction: all or nothing. */
static int rebuild_autoincrement(conn *c, char **err)
{
    char cols[2048], sql[2 * sizeof(cols) + 256];
    int todo[sizeof(no_reuse) / sizeof(no_reuse[0])], any = 0, n;
    size_t i;

    for (i = 0; i < sizeof(no_reuse) / sizeof(no_reuse[0]); i++) {
        int has = table_sql_has(c, no_reuse[i], "AUTOINCREMENT");
        if (has < 0)
            return -1;
        todo[i] = !has;
        any |= todo[i];
    }
    if (!any)
        return 0;
    /* SQLite's recipe for a table rebuild: constraints off around it (it
     * only takes effect outside a transaction), as the rows are copied
     * unchanged. legacy_alter_table: otherwise renaming users would point
     * products.user_id's foreign key at users_old, dropped below. */
    if (sqlite3_exec(c->db, "PRAGMA foreign_keys=OFF; PRAGMA legacy_alter_table=ON;"
                     " BEGIN IMMEDIATE", NULL, NULL, err) != SQLITE_OK)
        goto fail;
    for (i = 0; i < sizeof(no_reuse) / sizeof(no_reuse[0]); i++) {
        if (!todo[i])
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE %s RENAME TO %s_old", no_reuse[i], no_reuse[i]);
        if (sqlite3_exec(c->db, sql, NULL, NULL, err) != SQLITE_OK)
            goto fail;
    }
    if (schema_exec(c->db, err) != 0)
        goto fail;
    for (i = 0; i < sizeof(no_reuse) / sizeof(no_reuse[0]); i++) {
        char old[64];
        if (!todo[i])
            continue;
        snprintf(old, sizeof(old), "%s_old", no_reuse[i]);
        if (column_list(c, old, cols, sizeof(cols)) != 0)
            goto fail;
        n = snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) SELECT %s FROM %s; DROP TABLE %s;",
                     no_reuse[i], cols, cols, old, old);
        if (n < 0 || (size_t)n >= sizeof(sql) ||
            sqlite3_exec(c->db, sql, NULL, NULL, err) != SQLITE_OK)
            goto fail;
        fprintf(stderr, "otadelta-server: database upgraded: %s ids are never reused\n",
                no_reuse[i]);
    }
    if (schema_exec(c->db, err) != 0 ||
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, err) != SQLITE_OK)
        goto fail;
    return sqlite3_exec(c->db, "PRAGMA legacy_alter_table=OFF; PRAGMA foreign_keys=ON", NULL,
                        NULL, err) == SQLITE_OK ? 0 : -1;
fail:
    /* Apart: ROLLBACK fails when BEGIN did, and exec stops at an error. */
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(c->db, "PRAGMA legacy_alter_table=OFF; PRAGMA foreign_keys=ON", NULL, NULL,
                 NULL);
    return -1;
}

static int migrate(conn *c, char **err)
{
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
        char sql[200];
        sqlite3_stmt *q;
        int have;
        snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE name='%s'",
                 added_columns[i].table, added_columns[i].column);
        if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) != SQLITE_OK)
            return -1;
        have = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
        if (have)
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", added_columns[i].table,
                 added_columns[i].column, added_columns[i].decl);
        if (sqlite3_exec(c->db, sql, NULL, NULL, err) != SQLITE_OK)
            return -1;
        fprintf(stderr, "otadelta-server: database upgraded: %s.%s added\n",
                added_columns[i].table, added_columns[i].column);
    }
    if (sqlite3_exec(c->db, added_indexes, NULL, NULL, err) != SQLITE_OK)
        return -1;
    return rebuild_autoincrement(c, err);
}

/*
 * The database holds every access key, device key and push token: only
 * the server's user may read it. SQLite would create it 0644 (less the
 * umask) and its -wal and -shm files with the database's mode, so it is
 * created here 0600 (an empty file is an empty database), and a database,
 * -wal or -shm an earlier version left readable by others is narrowed to
 * 0600, saying so. Returns -1 (reported) if that fails.
 */
static int db_private(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[4096 + 8]; /* sq.path and a suffix */
    struct stat sb;
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        int fd;
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (i ? 0 : O_CREAT), 0600);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            fprintf(stderr, "otadelta-server: cannot open %s: %s\n", p, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if ((sb.st_mode & 077) && fchmod(fd, sb.st_mode & 0700) != 0) {
            fprintf(stderr, "otadelta-server: %s is readable by others and cannot be made "
                    "private: %s\n", p, strerror(errno));
            close(fd);
            return -1;
        }
        if (sb.st_mode & 077)
            fprintf(stderr, "otadelta-server: %s was readable by other users (it holds every "
                    "key); now mode %03o\n", p, (unsigned)(sb.st_mode & 0700));
        close(fd);
    }
    return 0;
}

int od_srv_store_sqlite_open(const char *dir, od_srv_store **out)
{
    sq *s = calloc(1, sizeof(*s));
    conn *c;
    char *err = NULL;
    int n;

    *out = NULL;
    if (!s)
        return OD_SRV_ERR_NOMEM;
    s->base.ops = &sqlite_ops;
    n = snprintf(s->path, sizeof(s->path), "%s/otadelta.db", dir);
    if (n < 0 || (size_t)n >= sizeof(s->path) ||
        pthread_key_create(&s->key, conn_release) != 0) {
        free(s);
        return OD_SRV_ERR_PARAM;
    }
    pthread_mutex_init(&s->mu, NULL);
    if (db_private(s->path) != 0) {
        sq_close(&s->base);
        return OD_SRV_ERR_IO;
    }
    c = get_conn(s);
    if (!c) {
        sq_close(&s->base);
        return OD_SRV_ERR_DB;
    }
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL;", NULL, NULL, &err) != SQLITE_OK ||
        schema_exec(c->db, &err) != 0 || migrate(c, &err) != 0) {
        fprintf(stderr, "otadelta-server: schema: %s\n", err ? err : "?");
        sqlite3_free(err);
        sq_close(&s->base);
        return OD_SRV_ERR_DB;
    }
    *out = &s->base;
    return OD_SRV_OK;
}
