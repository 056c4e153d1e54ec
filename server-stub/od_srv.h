/*
 * od_srv.h - otadelta-server, the publishing service.
 *
 * The server stores firmware images, generates packages (full or delta)
 * on a bounded worker pool, publishes them to devices with resumable Range
 * downloads, and tracks upgrade tasks device by device. Its device API is
 * shaped after OneNET's legacy OTA API and its new ("fuse") one
 * (docs/API.md has every route).
 *
 * This header holds the parts a program embedding the server needs (start,
 * stop, TLS reload) and the pure building blocks other tools and the tests use on
 * their own: the OneNET Authorization token, the Range parser and the
 * conditional request validators, and the task and device state machines. Everything else is private to server-stub/.
 *
 * Thread-safety: the pure functions are reentrant. od_srv_start() and
 * od_srv_stop() must not race each other on the same handle.
 */
#ifndef OD_SRV_H
#define OD_SRV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The server library's one error enum. Negative values are errors. The
 * HTTP layer maps each class to a status code (in parentheses).
 */
typedef enum od_srv_ret {
    OD_SRV_OK = 0,
    OD_SRV_ERR_PARAM = -1,     /* bad argument or request field (400) */
    OD_SRV_ERR_NOT_FOUND = -2, /* no such object (404) */
    OD_SRV_ERR_EXISTS = -3,    /* unique name/version already used (409) */
    OD_SRV_ERR_STATE = -4,     /* operation not allowed in this state (409) */
    OD_SRV_ERR_BUSY = -5,      /* object in use by an active task (409) */
    OD_SRV_ERR_TOO_LARGE = -6, /* body or upload over its limit (413) */
    OD_SRV_ERR_AUTH = -7,      /* missing, forged or expired credentials (401) */
    OD_SRV_ERR_NOMEM = -8,     /* allocation failed (500) */
    OD_SRV_ERR_IO = -9,        /* file system error (500) */
    OD_SRV_ERR_DB = -10,       /* database error (500) */
    OD_SRV_ERR_GENERATE = -11, /* the package generator refused the input (422) */
    OD_SRV_ERR_INTERNAL = -12  /* a self-check failed: a bug (500) */
} od_srv_ret;

/* Returns a static English description of an od_srv_ret value (never NULL). */
const char *od_srv_strerror(int ret);

/* ------------------------------------------------------------------ */
/* Server lifecycle                                                     */

typedef struct od_srv_config {
    const char *data_dir;    /* required: database and files live here; created
                                if missing */
    const char *listen_addr; /* IPv4 address, e.g. "127.0.0.1" */
    uint16_t port;           /* 0 = ephemeral; read it back with od_srv_port() */
    const char *admin_token; /* required, 8..200 chars; management API secret */
    unsigned workers;        /* generation threads, 1..64; 0 = 2 */
    unsigned http_threads;   /* HTTP thread pool, 1..64; 0 = number of CPUs */
    unsigned max_connections;/* 0 = 4096 */
    unsigned per_ip_connections; /* connections one client address may hold at
                                    once; 0 = no per-address limit (a fleet
                                    behind carrier-grade NAT shares one) */
    unsigned conn_timeout_s; /* idle connection timeout; 0 = 30 */
    unsigned push_attempts;  /* push deliveries: attempts before "failed",
                                1..100; 0 = 6 */
    unsigned push_backoff_ms;/* delay before the first retry, doubling per
                                attempt up to 10 min; 0 = 2000 */
    /* HTTPS: both set, or both NULL for plain HTTP. With them the port
     * speaks TLS 1.2 and 1.3 only (OD_SRV_TLS_PRIORITIES), never plain
     * HTTP. Read by od_srv_start(), and again by od_srv_tls_reload() (the
     * paths are copied; a relative one is resolved against the working
     * directory at each read). */
    const char *tls_cert_file; /* PEM: the server's certificate first, then
                                  any intermediates (16 in all at most) */
    const char *tls_key_file;  /* PEM private key of that certificate, not
                                  passphrase-protected; its text is wiped
                                  from the server's memory once parsed */
    /* PEM file of the CA certificates an https push receiver's certificate
     * must chain to, instead of the system's store (a receiver with a
     * private CA); NULL = the system's store. Checked by od_srv_start()
     * and read again at each request, so a replaced file needs no
     * restart. */
    const char *push_ca_file;
} od_srv_config;

/* The GnuTLS priority string HTTPS uses: GnuTLS's NORMAL set of ciphers,
 * key exchanges and signatures, with every protocol version below TLS 1.2
 * removed. Left wide within 1.2 (AES-CBC, plain RSA key exchange) because
 * the TLS stacks of small cellular modules often have nothing else; the
 * server's order decides (%SERVER_PRECEDENCE), so a client that also has
 * ECDHE and an AEAD cipher gets those even if it lists CBC first.
 * /etc/gnutls/config can narrow it on a given host (docs/API.md). */
#define OD_SRV_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

typedef struct od_srv od_srv;

/*
 * Opens (creating if needed) the database in cfg->data_dir, re-queues
 * generation jobs a previous run left queued or running, starts the
 * worker pool and the HTTP daemon.
 * cfg: read during the call only (strings are copied).
 * out: receives the handle; free it with od_srv_stop().
 * The options and the TLS and push CA files, if any, are checked first,
 * before the data directory is touched: a problem (admin token length, a
 * listen address that is not IPv4, one TLS file without the other,
 * unreadable, not PEM, a key that does not match the certificate, a
 * libmicrohttpd without TLS) is printed to stderr naming it, and returned
 * as OD_SRV_ERR_IO (unreadable) or OD_SRV_ERR_PARAM. Then the data
 * directory is locked: if another server holds it, that is printed and
 * OD_SRV_ERR_BUSY returned. A port that cannot be bound is printed and
 * returned as OD_SRV_ERR_IO.
 * Returns OD_SRV_OK or a negative od_srv_ret; *out is NULL on error.
 */
int od_srv_start(const od_srv_config *cfg, od_srv **out);

/* The TCP port actually bound (useful when cfg->port was 0). */
uint16_t od_srv_port(const od_srv *s);

/*
 * Reads the TLS certificate and key again from the files od_srv_start()
 * was given, for a certificate renewed in place. The new pair gets the
 * start's checks (readable PEM, a certificate, an unencrypted key that
 * matches it; an expired certificate is only a warning). If any fails,
 * the reason is printed to stderr naming the file, and the server goes on
 * with the pair it had. Otherwise the new pair serves every handshake
 * that picks its certificate after the call (a handshake picks it on the
 * client's first message); connections that have picked one already,
 * open or still shaking hands, keep it.
 * Returns OD_SRV_OK; OD_SRV_ERR_STATE for a server without TLS (nothing
 * to reload) or a NULL s; OD_SRV_ERR_IO (a file unreadable) or
 * OD_SRV_ERR_PARAM (wrong content); OD_SRV_ERR_NOMEM.
 * Thread-safety: may run while the server serves, from any thread, but
 * not concurrently with od_srv_stop() on the same handle. Not from a
 * signal handler: it reads files and allocates (otadelta-server calls it
 * from its main loop after SIGHUP).
 */
int od_srv_tls_reload(od_srv *s);

/*
 * Stops accepting requests, stops running generation jobs and frees
 * everything. A job is cut short at its generator's next poll (see
 * od_diff_cancel_fn): within tens of milliseconds, except while it builds
 * the old image's suffix array, which takes about 50 ms per MiB on the
 * benchmark machine and cannot be interrupted. A job cut short this way,
 * or by a crash or kill, stays "running" in the database and is re-queued
 * at the next start. NULL is a no-op.
 */
void od_srv_stop(od_srv *s);

/* ------------------------------------------------------------------ */
/* OneNET Authorization tokens                                          */

#define OD_SRV_TOKEN_MAX 512 /* longest header value accepted or produced */

typedef enum od_srv_sig_method {
    OD_SRV_SIG_MD5 = 1,
    OD_SRV_SIG_SHA1 = 2,
    OD_SRV_SIG_SHA256 = 3
} od_srv_sig_method;

/* A decoded Authorization header; the strings are NUL-terminated copies. */
typedef struct od_srv_token {
    char version[16]; /* "2018-10-31" or "2022-05-01" */
    char res[160];    /* raw (URL-decoded) resource, e.g. "products/123" */
    int64_t et;       /* expiry, Unix seconds */
    int method;       /* od_srv_sig_method */
    char sign[96];    /* base64 signature, URL-decoded */
} od_srv_token;

/*
 * Computes the base64 signature of a token, exactly as OneNET does:
 * base64(HMAC-<method>(base64decode(key_b64), et "\n" method "\n" res "\n"
 * version)).
 * key_b64: the access key in base64. res: the raw resource ("/" unescaped).
 * sign: output buffer of sign_size bytes, NUL-terminated on success.
 * Returns OD_SRV_OK, or OD_SRV_ERR_PARAM (bad key, method, or buffer).
 */
int od_srv_token_sign(const char *key_b64, const char *version,
                      const char *res, int64_t et, int method, char *sign,
                      size_t sign_size);

/*
 * Builds a whole header value "version=..&res=..&et=..&method=..&sign=.."
 * with res and sign URL-encoded. out: out_size bytes, NUL-terminated.
 * Returns OD_SRV_OK or OD_SRV_ERR_PARAM.
 */
int od_srv_token_build(const char *key_b64, const char *version,
                       const char *res, int64_t et, int method, char *out,
                       size_t out_size);

/*
 * Parses a header value into *t (fields in any order, values URL-decoded).
 * hdr: untrusted, NUL-terminated; may be NULL. Returns OD_SRV_OK, or
 * OD_SRV_ERR_AUTH if a field is missing, duplicated, too long or malformed.
 */
int od_srv_token_parse(const char *hdr, od_srv_token *t);

/*
 * Checks a parsed token's signature against key_b64 (constant-time
 * comparison) and its expiry against now (Unix seconds): a token is valid
 * while now <= et. Returns OD_SRV_OK or OD_SRV_ERR_AUTH.
 */
int od_srv_token_verify(const od_srv_token *t, const char *key_b64,
                        int64_t now);

/* ------------------------------------------------------------------ */
/* Range and conditional requests                                       */

/* What od_srv_range_parse() decided. */
typedef struct od_srv_range {
    int partial;    /* 1: answer 206 with Content-Range; 0: 200, whole file */
    uint64_t start; /* first byte served */
    uint64_t end;   /* last byte served, inclusive (0 and meaningless when
                       len is 0: serve an empty 200) */
} od_srv_range;

/*
 * Whether an If-Match or If-None-Match field value (RFC 9110 13.1.1,
 * 13.1.2: "*" or a comma-separated list of entity-tags, each "..." or
 * W/"...") names etag, the current strong entity-tag with its quotes.
 * weak: the weak comparison (If-None-Match), where W/"x" matches "x";
 * otherwise the strong one (If-Match), where a weak tag never matches.
 * "*" always matches (the representation exists). A list that is not
 * valid syntax matches nothing. list: untrusted, may be NULL (no match).
 */
int od_srv_etag_match(const char *list, const char *etag, int weak);

/*
 * Parses an HTTP-date (RFC 9110 5.6.7) in any of its three forms
 * (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", the obsolete RFC 850 and
 * asctime forms) into Unix seconds. s: untrusted, may be NULL. Returns 0
 * and *out, or -1 if s is not a valid HTTP-date (the caller then ignores
 * the field, as RFC 9110 13.1.3 and 13.1.4 require).
 */
int od_srv_http_date_parse(const char *s, int64_t *out);

/*
 * Interprets a Range header for a file of len bytes with OneNET's rules,
 * which never fail a request (docs/API.md):
 *   "start-end", "start-", "-N", each optionally after "bytes=";
 *   start >= len becomes 0; end >= len becomes len-1; start > end makes
 *   start 0; "-N" with N >= len (or N == 0) is the whole file;
 *   a malformed value (missing, several ranges, non-digits, a leading zero
 *   such as "01-02", more than 19 digits) serves the whole file with 200.
 * A clamped range that covers the whole file is still a 206 if the client
 * asked for a range, so a device's resume logic sees what it asked for.
 * hdr: untrusted, may be NULL. Never fails.
 */
void od_srv_range_parse(const char *hdr, uint64_t len, od_srv_range *r);

/* ------------------------------------------------------------------ */
/* Task and device state machines                                       */

/* Task states (OneNET's names in docs/API.md). */
typedef enum od_srv_task_state {
    OD_SRV_TASK_NOT_STARTED = 0,
    OD_SRV_TASK_UPGRADING = 1,
    OD_SRV_TASK_PAUSED = 2,
    OD_SRV_TASK_STOPPED = 3, /* cancelled by the operator */
    OD_SRV_TASK_COMPLETED = 4
} od_srv_task_state;

/* Operator operations on a task. */
typedef enum od_srv_task_op {
    OD_SRV_OP_EDIT = 0,
    OD_SRV_OP_DELETE = 1,
    OD_SRV_OP_START = 2,
    OD_SRV_OP_PAUSE = 3,
    OD_SRV_OP_CANCEL = 4
} od_srv_task_op;

/*
 * Applies operator op to a task in state *state.
 * On OD_SRV_OK *state holds the new state (unchanged for edit and delete,
 * which the caller carries out). Returns OD_SRV_ERR_STATE if the op is not
 * allowed in that state, OD_SRV_ERR_PARAM for unknown values.
 */
int od_srv_task_apply(int *state, int op);

/* Name of a task state or op ("not_started", "pause", ...), or "?". */
const char *od_srv_task_state_name(int state);
const char *od_srv_task_op_name(int op);

/* Per-device upgrade states, numbered like OneNET fuse's task status. */
typedef enum od_srv_dev_state {
    OD_SRV_DEV_PENDING = 1,     /* 待升级: token not yet checked */
    OD_SRV_DEV_DOWNLOADING = 2, /* 下载中 */
    OD_SRV_DEV_UPGRADING = 3,   /* 升级中: downloaded, applying */
    OD_SRV_DEV_SUCCEEDED = 4,
    OD_SRV_DEV_FAILED = 5,
    OD_SRV_DEV_CANCELLED = 6
} od_srv_dev_state;

/* Per-device download sub-state shown in the task detail. */
typedef enum od_srv_dl_state {
    OD_SRV_DL_NONE = 0,
    OD_SRV_DL_RUNNING = 1,
    OD_SRV_DL_DONE = 2,
    OD_SRV_DL_FAILED = 3
} od_srv_dl_state;

/* One device's row in a task, as the state machine sees it. */
typedef struct od_srv_dev_fsm {
    int state;     /* od_srv_dev_state */
    int dl_state;  /* od_srv_dl_state */
    int percent;   /* download percent 0..100 */
    int retries;   /* failures counted so far */
    int last_code; /* last status code reported (0 if none) */
    int repeat_ok; /* 1 while a resend of last_code, a failure this row
                      counted, is answered without counting it again: set
                      by the failure, cleared by the next check or any
                      other move of the row (see od_srv_dev_report) */
} od_srv_dev_fsm;

/* Device API errno values (the OneNET legacy tables; 25 is ours). */
#define OD_SRV_ENO_OK 0
#define OD_SRV_ENO_AUTH 1
#define OD_SRV_ENO_PARAM 2
#define OD_SRV_ENO_TOKEN_OWNER 4
#define OD_SRV_ENO_INTERNAL 7
#define OD_SRV_ENO_MANUF 8
#define OD_SRV_ENO_VERSION_MISMATCH 9 /* OneNET's; never sent: 32 instead (API.md) */
#define OD_SRV_ENO_NO_TASK 11
#define OD_SRV_ENO_EXPIRED 12
#define OD_SRV_ENO_STATE 17
#define OD_SRV_ENO_FINISHED 20
#define OD_SRV_ENO_INVALID_OP 21
#define OD_SRV_ENO_CANCELLED 22
#define OD_SRV_ENO_BAD_RESULT 24 /* /ota/south/report: no integer result */
#define OD_SRV_ENO_PAUSED 25
#define OD_SRV_ENO_BAD_VERSION 27
#define OD_SRV_ENO_NO_DIFF 32

/*
 * Applies a device's progress report to its row.
 * step: 0..100 download percent, 101..107 download result, 201..208
 * upgrade result. max_retry: the task's retry count (failures allowed
 * before the device is failed for good; 0 = one attempt).
 * A failure (102..107, 202..208) that repeats the row's last failure while
 * repeat_ok is set (no check since, nothing else moved the row) is a
 * resend whose reply was lost: OK, and the row is left as it is, so the
 * failure is counted once. The row's download sub-state and percent
 * describe the current attempt: a failure with a retry left puts the row
 * back to pending with none / 0; one that ends the row while its
 * download ran shows failed (docs/API.md, Upgrade tasks).
 * Returns an OD_SRV_ENO_* value: OK (row updated), PARAM (unknown code),
 * STATE (code not allowed in the current state), FINISHED (row already
 * terminal), CANCELLED. On anything but OK the row is unchanged.
 */
int od_srv_dev_report(od_srv_dev_fsm *d, int step, int max_retry);

/* The token check (and the first download of a row): pending ->
 * downloading. Same return convention. */
int od_srv_dev_token_check(od_srv_dev_fsm *d);

/* A check that handed the device its row's package (errno 0): it closes
 * the resend window of the last failure (repeat_ok), and when the package
 * is another than the row had (new_package), the row starts over from
 * pending with download none / 0, its retries and last code kept. */
void od_srv_dev_checked(od_srv_dev_fsm *d, int new_package);

/* 1 if a device state is terminal (succeeded, failed, cancelled). */
int od_srv_dev_terminal(int state);

/* Name of a device state ("pending", ...), or "?". */
const char *od_srv_dev_state_name(int state);

/* 1 if s (may be NULL) is 1..50 characters of A-Z a-z 0-9 . _ - (the
 * container's rule for version strings), else 0. */
int od_srv_version_valid(const char *s);

/* Human text for a status code 101..107 / 201..208, or NULL. */
const char *od_srv_status_text(int code);

#ifdef __cplusplus
}
#endif
#endif /* OD_SRV_H */
