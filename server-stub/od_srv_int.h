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

struct MHD_Connection;
struct MHD_Daemon;
struct MHD_OptionItem;

/* Hard limits on what a request may make us hold. */
#define OD_SRV_JSON_MAX (1u << 20)          /* management JSON bodies */
#define OD_SRV_DEV_BODY_MAX 4096u           /* device API bodies */
#define OD_SRV_UPLOAD_MAX (100u << 20)      /* firmware image uploads */
#define OD_SRV_PATH_MAX 4096

typedef struct od_srv_jobs od_srv_jobs;
typedef struct od_srv_pusher od_srv_pusher;
typedef struct od_srv_tls od_srv_tls;

struct od_srv {
    char data_dir[OD_SRV_PATH_MAX];
    char admin_token[256];
    od_srv_store *store;
    struct MHD_Daemon *mhd;
    uint16_t port;
    od_srv_jobs *jobs;
    od_srv_pusher *push;
    od_srv_tls *tls; /* HTTPS certificate and key; NULL: plain HTTP */
    int lock_fd; /* data_dir/lock, held while the server runs; -1 none */
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

/* Creates data_dir if needed and locks it for this process (data_dir/lock
 * holds our pid; *lock_fd gets the descriptor, whose close releases it),
 * then makes the fw/, pkg/ and tmp/ directories and empties tmp/. Prints
 * what failed. BUSY: another server holds the directory; IO. */
int od_srv_files_init(const char *data_dir, int *lock_fd);


/* Lower-case hex of n bytes into out (2n+1 bytes). */
void od_srv_hex(const uint8_t *in, size_t n, char *out);

/* 2*nbytes random lower-case hex characters plus NUL into out. */
int od_srv_random_hex(char *out, size_t nbytes);

/* ---- background thread wake-ups (od_srv_waker.c) ---- */

/* How the server's background threads (generation workers, push delivery)
 * are woken and stopped: a stop flag, and wake-ups counted so that one
 * given while no thread waits is not lost. */
typedef struct od_srv_waker {
    pthread_mutex_t mu; /* also free for the owner's own small state */
    pthread_cond_t cv;
    int stop;
    unsigned kicks; /* wake-ups not yet consumed */
} od_srv_waker;

void od_srv_waker_init(od_srv_waker *w);
void od_srv_waker_destroy(od_srv_waker *w);
/* Wakes one waiting thread, or the next one to wait. */
void od_srv_waker_kick(od_srv_waker *w);
/* Sets the stop flag and wakes every thread. */
void od_srv_waker_stop(od_srv_waker *w);
/* 1 once od_srv_waker_stop() was called. */
int od_srv_waker_stopping(od_srv_waker *w);
/* Waits up to ms, or less when kicked or stopped. */
void od_srv_waker_wait(od_srv_waker *w, unsigned ms);

/* ---- generation workers (od_srv_jobs.c) ---- */

/* Starts n worker threads that claim queued jobs from the store, and the
 * thread that fails, every second, the rows of tasks past their deadline.
 * Returns OD_SRV_OK, OD_SRV_ERR_DB (re-queuing interrupted jobs failed) or
 * OD_SRV_ERR_NOMEM (a thread could not start; none is left running). */
int od_srv_jobs_start(od_srv *s, unsigned n);
/* Wakes an idle worker after a job was queued. */
void od_srv_jobs_kick(od_srv *s);
/* Asks the workers to stop after their current job and joins them. */
void od_srv_jobs_stop(od_srv *s);

/* ---- push notifications (od_srv_push.c) ---- */

#define OD_SRV_PUSH_TIMEOUT_MS 5000 /* whole outbound request, verification too */
#define OD_SRV_PUSH_ATTEMPTS 6      /* default od_srv_config.push_attempts */
#define OD_SRV_PUSH_BACKOFF_MS 2000 /* default od_srv_config.push_backoff_ms */
#define OD_SRV_PUSH_CHECKS 4        /* URL checks pending at once, a thread each */

typedef struct od_srv_push_check od_srv_push_check;

/*
 * Starts checking a push URL as OneNET does: GET url with the query
 * parameter signature = md5(token + uid), uid the product id in decimal,
 * which must answer 200 with the body PASSED (trailing white space
 * allowed), within OD_SRV_PUSH_TIMEOUT_MS. The check runs on a check
 * thread, never the caller's: conn, whose access handler is the caller,
 * is suspended, and resumed once the check ended; the handler, called
 * again, reads the outcome with od_srv_push_check_result() and frees *out
 * with od_srv_push_check_free(), as the request's completion must when
 * that call never comes. OK with *out set; otherwise conn is not
 * suspended and *out is NULL: BUSY (OD_SRV_PUSH_CHECKS checks pending),
 * STATE (the checks are stopping) or NOMEM.
 */
int od_srv_push_check_start(od_srv *s, struct MHD_Connection *conn, int64_t product_id,
                            const char *url, const char *token, od_srv_push_check **out);
/* A resumed check's outcome: OK; PARAM with *msg saying what failed
 * (unreachable and why, the status, the body); STATE when the server
 * stopped before the check ended. *msg lives as long as c. */
int od_srv_push_check_result(const od_srv_push_check *c, const char **msg);
/* Frees c (NULL is a no-op); only once its connection was resumed. */
void od_srv_push_check_free(od_srv_push_check *c);
/* Aborts the checks pending and joins their threads, which resume their
 * connections first; later starts answer STATE. Before the HTTP daemon
 * stops, as libmicrohttpd must not stop with a connection suspended. */
void od_srv_push_checks_stop(od_srv *s);
/* Starts the delivery thread: attempts per delivery (0 = default), the
 * first retry's delay in ms, doubling per attempt (0 = default), and the
 * CA file https receivers are verified against (NULL = the system's;
 * copied). */
int od_srv_push_start(od_srv *s, unsigned attempts, unsigned backoff_ms, const char *ca_file);
/* Wakes the delivery thread after a delivery was queued. */
void od_srv_push_kick(od_srv *s);
/* Stops the thread, aborting a transfer in flight (it stays queued, or
 * fails if that was its last attempt), and joins it; stops the checks
 * too if od_srv_push_checks_stop() was not called. */
void od_srv_push_stop(od_srv *s);

/* ---- TLS certificate and key (od_srv_tls.c) ---- */

/*
 * Checks cfg's TLS options and, when set, reads cfg->tls_cert_file and
 * cfg->tls_key_file, checks them with OpenSSL (a certificate, an
 * unencrypted private key, the key matching the certificate; an expired
 * certificate only warns) and has GnuTLS parse them; also that
 * libmicrohttpd has TLS. Prints what is wrong, naming the file, to
 * stderr. *out: the server's HTTPS credentials, or NULL when neither file
 * is set (plain HTTP); free with od_srv_tls_close(). Returns OD_SRV_OK,
 * PARAM (one file without the other, wrong content, no TLS in
 * libmicrohttpd), IO (unreadable) or NOMEM; on error nothing is held.
 * od_srv_tls_reload() (od_srv.h) reads the same paths again.
 */
int od_srv_tls_open(const od_srv_config *cfg, od_srv_tls **out);

/* Frees t (NULL is a no-op). Only once no handshake can run: after the
 * daemon has stopped. */
void od_srv_tls_close(od_srv_tls *t);

/* Entries od_srv_tls_mhd_options() fills, MHD_OPTION_END included. */
#define OD_SRV_TLS_MHD_OPTS 4

/* Fills opts[0 .. OD_SRV_TLS_MHD_OPTS - 1] with the options an HTTPS
 * daemon needs to take its certificate from t at each handshake, and the
 * protocol versions (OD_SRV_TLS_PRIORITIES); the last is MHD_OPTION_END.
 * t must outlive the daemon. */
void od_srv_tls_mhd_options(od_srv_tls *t, struct MHD_OptionItem *opts);

/* Checks cfg->push_ca_file, if given: readable PEM holding at least one
 * certificate. Prints what is wrong, naming the file. OD_SRV_OK, PARAM,
 * IO or NOMEM. */
int od_srv_tls_check_ca(const od_srv_config *cfg);

/* ---- HTTP (od_srv_http.c) ---- */

/* Starts the MHD daemon; HTTPS when s->tls is set. */
int od_srv_http_start(od_srv *s, const od_srv_config *cfg);
void od_srv_http_stop(od_srv *s);

#endif /* OD_SRV_INT_H */
