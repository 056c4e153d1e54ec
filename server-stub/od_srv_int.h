/*
 * od_srv_int.h - declarations shared between the server's source files
 * (private; not installed). See od_srv.h for the public API.
 */
#ifndef OD_SRV_INT_H
#define OD_SRV_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "od_srv.h"
#include "od_srv_store.h"

struct MHD_Daemon;

/* Hard limits on what a request may make us hold. */
#define OD_SRV_JSON_MAX (1u << 20)          /* management JSON bodies */
#define OD_SRV_DEV_BODY_MAX 4096u           /* device API bodies */
#define OD_SRV_UPLOAD_MAX (100u << 20)      /* firmware image uploads */
#define OD_SRV_PATH_MAX 4096

typedef struct od_srv_jobs od_srv_jobs;

struct od_srv {
    char data_dir[OD_SRV_PATH_MAX];
    char admin_token[256];
    od_srv_store *store;
    struct MHD_Daemon *mhd;
    uint16_t port;
    od_srv_jobs *jobs;
};

/* ---- files (od_srv_files.c) ---- */

/*
 * Writes len bytes to data_dir/rel atomically: a temp file in the same
 * directory, fsync, rename over rel, fsync of the directory. After a
 * crash either the old file or the complete new one exists.
 * Returns OD_SRV_OK or OD_SRV_ERR_IO.
 */
int od_srv_file_write_atomic(const char *data_dir, const char *rel,
                             const void *buf, size_t len);

/* Reads data_dir/rel whole into a malloc()'d buffer (caller frees).
 * TOO_LARGE past max bytes; IO if missing or unreadable. */
int od_srv_file_read(const char *data_dir, const char *rel, size_t max,
                     uint8_t **buf, size_t *len);

/* The same for any path. *buf has a NUL after its *len bytes, so text
 * files can be used as C strings. On IO, errno says why (for messages). */
int od_srv_file_read_path(const char *path, size_t max, uint8_t **buf, size_t *len);

/* Joins data_dir and rel into out; PARAM if it does not fit or rel is not
 * a plain relative name of [A-Za-z0-9._-/] without "..". */
int od_srv_file_path(const char *data_dir, const char *rel, char *out,
                     size_t out_size);

/* Makes the fw/, pkg/ and tmp/ directories and empties tmp/. */
int od_srv_files_init(const char *data_dir);

/* fsyncs a directory so a rename in it is durable. */
int od_srv_fsync_dir(const char *dir);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void od_srv_hex(const uint8_t *in, size_t n, char *out);

/* 2*nbytes random lower-case hex characters plus NUL into out. */
int od_srv_random_hex(char *out, size_t nbytes);

/* ---- generation workers (od_srv_jobs.c) ---- */

/* Starts n worker threads that claim queued jobs from the store. */
int od_srv_jobs_start(od_srv *s, unsigned n);
/* Wakes an idle worker after a job was queued. */
void od_srv_jobs_kick(od_srv *s);
/* Asks the workers to stop after their current job and joins them. */
void od_srv_jobs_stop(od_srv *s);

/* ---- TLS certificate and key (od_srv_tls.c) ---- */

/* The PEM text MHD is given, NUL-terminated (MHD measures it with strlen). */
typedef struct od_srv_tls_pem {
    char *cert;     /* NULL: plain HTTP */
    char *key;
    size_t key_len; /* bytes to wipe */
} od_srv_tls_pem;

/*
 * Reads cfg->tls_cert_file and cfg->tls_key_file, if given, and checks
 * them with OpenSSL (a certificate, an unencrypted private key, the key
 * matching the certificate) and that libmicrohttpd has TLS. Prints what
 * is wrong, naming the file, to stderr. Returns OD_SRV_OK (pem->cert NULL
 * when neither file is set), PARAM (one file without the other, wrong
 * content, no TLS in libmicrohttpd), IO (unreadable) or NOMEM; on error
 * nothing is held.
 */
int od_srv_tls_load(const od_srv_config *cfg, od_srv_tls_pem *pem);

/* Wipes the key, frees both. Safe on a zeroed or freed pem. */
void od_srv_tls_free(od_srv_tls_pem *pem);

/* ---- HTTP (od_srv_http.c) ---- */

/* Starts the MHD daemon; HTTPS when tls->cert is set. MHD reads tls only
 * during this call (od_srv_tls.c), so the caller may free it after. */
int od_srv_http_start(od_srv *s, const od_srv_config *cfg, const od_srv_tls_pem *tls);
void od_srv_http_stop(od_srv *s);

#endif /* OD_SRV_INT_H */
