/*
 * od_srv_push.c - push notifications, as OneNET's "push option": the
 * server POSTs each newly started task to a receiver URL its product set,
 * after checking that URL with a signed GET (docs/API.md).
 *
 * Deliveries are rows in the store, queued in the same transaction that
 * starts the task, so none is lost in a crash. One thread sends them, not
 * the generation workers: a package that takes minutes to generate must
 * not hold up a notification, and a receiver that hangs must not hold up
 * generation. Every outbound request has a hard timeout, and the thread
 * also aborts its transfer as soon as the server stops.
 *
 * A URL check (PUT .../push) waits up to that timeout for the receiver,
 * which no HTTP thread may spend: the request's connection is suspended
 * and the check runs on a check thread of its own, which resumes it. The
 * check threads are started as needed, at most OD_SRV_PUSH_CHECKS (a
 * check more is refused, not queued behind a hanging receiver), and all
 * are joined before the HTTP daemon stops, which libmicrohttpd wants
 * with no connection left suspended.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "od_hash.h"

#define PUSH_LEASE_S 60          /* a claimed row is due again after this (crash) */
#define PUSH_IDLE_MS 1000        /* polling for rows due later, or queued elsewhere */
#define PUSH_BACKOFF_MAX_MS 600000 /* longest wait between two attempts */
#define PUSH_REPLY_KEEP 128      /* bytes of a reply body kept for messages */

struct od_srv_pusher {
    od_srv *srv;
    pthread_t th;
    int started;
    unsigned attempts, backoff_ms;
    char *ca_file; /* --push-ca, or NULL for the system's store */
    od_srv_waker w;
    /* URL checks: cw.mu guards the queue and the counts; stopping cw
     * aborts the checks, not the deliveries. */
    od_srv_waker cw;
    od_srv_push_check *queue; /* accepted, no check thread on it yet */
    unsigned checks;          /* accepted and not yet resumed */
    unsigned nth;             /* check threads started, in cth */
    pthread_t cth[OD_SRV_PUSH_CHECKS];
};

/* One URL check, from its PUT's handler to a check thread and back. */
struct od_srv_push_check {
    od_srv_push_check *next;
    struct MHD_Connection *conn;
    int64_t product_id;
    char url[OD_SRV_PUSH_URL_MAX + 1];
    char token[OD_SRV_PUSH_TOKEN_MAX + 1];
    int rc;
    char msg[CURL_ERROR_SIZE + 128]; /* the error's wording with curl's message */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* Before any thread uses libcurl, once per process (not thread-safe in
 * every libcurl). Never cleaned up: another od_srv may start later. */
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What we keep of a reply body: its first bytes, NUL-terminated. */
typedef struct reply_buf {
    char b[PUSH_REPLY_KEEP + 1];
    size_t n;
} reply_buf;

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    reply_buf *r = arg;
    size_t len = size * nmemb, take = PUSH_REPLY_KEEP - r->n;
    if (take > len)
        take = len;
    memcpy(r->b + r->n, p, take);
    r->n += take;
    r->b[r->n] = '\0';
    return len; /* the rest is read and dropped, not an error */
}

/* A stopping server cuts a transfer short instead of waiting for it. */
static int on_xfer(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return od_srv_waker_stopping(arg);
}

/*
 * The headers that let a receiver tell a delivery from a forgery (the URL
 * is no secret: GET shows it, as do the deliveries and the log): the time
 * and HMAC-SHA256, keyed with the product's push token, of
 * "<time>.<body>", in lower-case hex. The time lets a receiver refuse a
 * replayed old delivery; each attempt signs afresh. Returns the list to
 * add (NULL: no memory).
 */
static struct curl_slist *sign_headers(struct curl_slist *hdr, const char *token,
                                       const char *body)
{
    char ts[32], line[200], hex[2 * EVP_MAX_MD_SIZE + 1], *msg;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t n;
    struct curl_slist *h2;
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    n = strlen(ts) + 1 + strlen(body);
    if (!(msg = malloc(n + 1)))
        return NULL;
    snprintf(msg, n + 1, "%s.%s", ts, body);
    if (!HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)msg, n, mac,
              &mac_len)) {
        free(msg);
        return NULL;
    }
    free(msg);
    snprintf(line, sizeof(line), "X-Otadelta-Timestamp: %s", ts);
    if (!(h2 = curl_slist_append(hdr, line)))
        return NULL;
    od_srv_hex(mac, mac_len, hex);
    snprintf(line, sizeof(line), "X-Otadelta-Signature: v1=%s", hex);
    return curl_slist_append(h2, line);
}

/*
 * One HTTP request to url: a GET, or a POST of body as JSON, signed with
 * token unless it is empty (sign_headers). Only http and
 * https (verified against p's CA file, or the system's store), no
 * redirects (the receiver is the URL it verified), and the whole exchange
 * within OD_SRV_PUSH_TIMEOUT_MS. The stop of abort (p's w or cw) cuts the
 * transfer short. Returns 0 and the status in *status with the reply's
 * first bytes in *reply, or -1 with the reason in err (curl's message)
 * when no HTTP reply came.
 */
static int http_call(od_srv_pusher *p, od_srv_waker *abort, const char *url, const char *body,
                     const char *token, long *status, reply_buf *reply, char *err,
                     size_t err_size)
{
    CURL *h;
    CURLcode rc;
    struct curl_slist *hdr = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";

    pthread_once(&curl_once, curl_init);
    memset(reply, 0, sizeof(*reply));
    *status = 0;
    if (curl_init_rc != CURLE_OK || !(h = curl_easy_init())) {
        snprintf(err, err_size, "libcurl did not initialise");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM, in threads */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)OD_SRV_PUSH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)OD_SRV_PUSH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "otadelta-server");
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, abort);
    if (p->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
    if (body) {
        hdr = curl_slist_append(NULL, "Content-Type: application/json");
        if (hdr && token && token[0]) {
            struct curl_slist *signed_hdr = sign_headers(hdr, token, body);
            if (!signed_hdr)
                curl_slist_free_all(hdr);
            hdr = signed_hdr;
        }
        if (!hdr) {
            curl_easy_cleanup(h);
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf(err, err_size, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

/* OneNET's check of url, on a check thread; what it returns is what
 * od_srv_push_check_result() answers. */
static int verify(od_srv_pusher *p, int64_t product_id, const char *url, const char *token,
                  char *msg, size_t msg_size)
{
    char uid[24], sig[2 * OD_MD5_LEN + 1], full[OD_SRV_PUSH_URL_MAX + 64];
    char err[CURL_ERROR_SIZE + 32];
    uint8_t md[OD_MD5_LEN];
    od_md5_ctx c;
    reply_buf reply;
    long status;
    size_t n;

    /* signature = md5(token + uid), uid the product id in decimal. */
    snprintf(uid, sizeof(uid), "%lld", (long long)product_id);
    od_md5_init(&c);
    od_md5_update(&c, token, strlen(token));
    od_md5_update(&c, uid, strlen(uid));
    od_md5_final(&c, md);
    od_srv_hex(md, sizeof(md), sig);
    snprintf(full, sizeof(full), "%s%ssignature=%s", url, strchr(url, '?') ? "&" : "?", sig);
    if (od_srv_waker_stopping(&p->cw) ||
        http_call(p, &p->cw, full, NULL, NULL, &status, &reply, err, sizeof(err)) != 0) {
        if (od_srv_waker_stopping(&p->cw))
            return OD_SRV_ERR_STATE;
        snprintf(msg, msg_size, "push url verification failed: url unreachable: %s", err);
        return OD_SRV_ERR_PARAM;
    }
    if (status != 200) {
        snprintf(msg, msg_size,
                 "push url verification failed: the url answered HTTP %ld, want 200 with"
                 " body PASSED",
                 status);
        return OD_SRV_ERR_PARAM;
    }
    /* A trailing newline is what a shell-script receiver adds: allowed. */
    n = reply.n;
    while (n && (reply.b[n - 1] == '\n' || reply.b[n - 1] == '\r' || reply.b[n - 1] == ' '))
        reply.b[--n] = '\0';
    if (strcmp(reply.b, "PASSED") != 0) {
        /* The receiver's bytes go into a JSON error: jansson drops a
         * string that is not UTF-8 (and %.40s may cut one mid-character),
         * which would lose the whole message. Printable ASCII only. */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)reply.b[i] < 0x20 || (unsigned char)reply.b[i] > 0x7e)
                reply.b[i] = '?';
        snprintf(msg, msg_size,
                 "push url verification failed: the url answered body \"%.40s\", want PASSED",
                 reply.b);
        return OD_SRV_ERR_PARAM;
    }
    return OD_SRV_OK;
}

static void *check_main(void *arg)
{
    od_srv_pusher *p = arg;
    for (;;) {
        od_srv_push_check *c;
        pthread_mutex_lock(&p->cw.mu);
        while (!p->queue && !p->cw.stop)
            pthread_cond_wait(&p->cw.cv, &p->cw.mu);
        c = p->queue; /* taken even when stopping: its connection waits */
        if (c)
            p->queue = c->next;
        pthread_mutex_unlock(&p->cw.mu);
        if (!c)
            return NULL;
        c->rc = verify(p, c->product_id, c->url, c->token, c->msg, sizeof(c->msg));
        /* From here c is the handler's again (it may free c at once). */
        MHD_resume_connection(c->conn);
        /* Counted down only now that this thread is free for another. */
        pthread_mutex_lock(&p->cw.mu);
        p->checks--;
        pthread_mutex_unlock(&p->cw.mu);
    }
}

int od_srv_push_check_start(od_srv *s, struct MHD_Connection *conn, int64_t product_id,
                            const char *url, const char *token, od_srv_push_check **out)
{
    od_srv_pusher *p = s->push;
    od_srv_push_check *c = calloc(1, sizeof(*c));
    int rc = OD_SRV_OK;

    *out = NULL;
    if (!c)
        return OD_SRV_ERR_NOMEM;
    c->conn = conn;
    c->product_id = product_id;
    snprintf(c->url, sizeof(c->url), "%s", url);
    snprintf(c->token, sizeof(c->token), "%s", token);
    pthread_mutex_lock(&p->cw.mu);
    if (p->cw.stop)
        rc = OD_SRV_ERR_STATE;
    else if (p->checks == OD_SRV_PUSH_CHECKS)
        rc = OD_SRV_ERR_BUSY;
    else if (p->nth == p->checks) {
        /* A thread per check: none waits behind a receiver that hangs. */
        if (pthread_create(&p->cth[p->nth], NULL, check_main, p) == 0)
            p->nth++;
        else
            rc = OD_SRV_ERR_NOMEM;
    }
    if (rc == OD_SRV_OK) {
        /* Before any check thread sees c, so its resume comes after. */
        MHD_suspend_connection(conn);
        c->next = p->queue;
        p->queue = c;
        p->checks++;
        pthread_cond_signal(&p->cw.cv);
        *out = c;
    }
    pthread_mutex_unlock(&p->cw.mu);
    if (rc != OD_SRV_OK)
        free(c);
    return rc;
}

int od_srv_push_check_result(const od_srv_push_check *c, const char **msg)
{
    *msg = c->msg;
    return c->rc;
}

void od_srv_push_check_free(od_srv_push_check *c)
{
    free(c);
}

void od_srv_push_checks_stop(od_srv *s)
{
    od_srv_pusher *p = s->push;
    unsigned n;
    if (!p)
        return;
    od_srv_waker_stop(&p->cw);
    /* No thread is started once stop is set: nth is final. */
    pthread_mutex_lock(&p->cw.mu);
    n = p->nth;
    p->nth = 0;
    pthread_mutex_unlock(&p->cw.mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->cth[i], NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One attempt of one claimed delivery; the outcome goes to the store. */
static void deliver(od_srv_pusher *p, const od_srv_push *d)
{
    od_srv_store *st = p->srv->store;
    char why[CURL_ERROR_SIZE] = "", err[CURL_ERROR_SIZE + 32] = "";
    reply_buf reply;
    long status = 0;
    int64_t delay, next;
    int outcome, stopping = 0;

    if (http_call(p, &p->w, d->url, d->body, d->token, &status, &reply, why, sizeof(why)) == 0) {
        if (status >= 200 && status <= 299) {
            st->ops->push_result(st, d->id, OD_SRV_PUSH_DELIVERED, (int)status, NULL, 0);
            return;
        }
        snprintf(err, sizeof(err), "receiver answered HTTP %ld", status);
    } else if ((stopping = od_srv_waker_stopping(&p->w))) {
        /* Stopping: not the receiver's fault, so due again at the next
         * start without a wait. The attempt still counts (the receiver
         * may have seen it), and the last one allowed fails here: a
         * receiver never gets more than --push-attempts requests. */
        snprintf(err, sizeof(err), "interrupted by shutdown");
    } else {
        snprintf(err, sizeof(err), "unreachable: %s", why);
    }
    /* Backoff doubles per attempt: backoff, 2x, 4x, ... up to 10 min. */
    delay = (int64_t)p->backoff_ms;
    for (int i = 1; i < d->attempts && delay < PUSH_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > PUSH_BACKOFF_MAX_MS)
        delay = PUSH_BACKOFF_MAX_MS;
    next = stopping ? (int64_t)time(NULL) : (now_ms() + delay + 999) / 1000;
    outcome = d->attempts >= (int)p->attempts ? OD_SRV_PUSH_FAILED : OD_SRV_PUSH_QUEUED;
    fprintf(stderr, "otadelta-server: push %lld (task %lld) attempt %d: %s%s\n",
            (long long)d->id, (long long)d->task_id, d->attempts, err,
            outcome == OD_SRV_PUSH_FAILED ? "; giving up" : "");
    st->ops->push_result(st, d->id, outcome, (int)status, err, next);
}

static void *push_main(void *arg)
{
    od_srv_pusher *p = arg;
    for (;;) {
        od_srv_push d;
        if (od_srv_waker_stopping(&p->w))
            break;
        if (p->srv->store->ops->push_claim(p->srv->store, (int64_t)time(NULL), PUSH_LEASE_S,
                                           (int)p->attempts, &d) == OD_SRV_OK) {
            deliver(p, &d);
            free(d.body);
            continue;
        }
        od_srv_waker_wait(&p->w, PUSH_IDLE_MS);
    }
    return NULL;
}

int od_srv_push_start(od_srv *s, unsigned attempts, unsigned backoff_ms, const char *ca_file)
{
    od_srv_pusher *p;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return OD_SRV_ERR_INTERNAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return OD_SRV_ERR_NOMEM;
    p->srv = s;
    p->attempts = attempts ? attempts : OD_SRV_PUSH_ATTEMPTS;
    p->backoff_ms = backoff_ms ? backoff_ms : OD_SRV_PUSH_BACKOFF_MS;
    od_srv_waker_init(&p->w);
    od_srv_waker_init(&p->cw);
    s->push = p;
    if (ca_file && !(p->ca_file = strdup(ca_file))) {
        od_srv_push_stop(s);
        return OD_SRV_ERR_NOMEM;
    }
    if (pthread_create(&p->th, NULL, push_main, p) != 0) {
        od_srv_push_stop(s);
        return OD_SRV_ERR_NOMEM;
    }
    p->started = 1;
    return OD_SRV_OK;
}

void od_srv_push_kick(od_srv *s)
{
    if (s->push)
        od_srv_waker_kick(&s->push->w);
}

void od_srv_push_stop(od_srv *s)
{
    od_srv_pusher *p = s->push;
    if (!p)
        return;
    od_srv_push_checks_stop(s);
    od_srv_waker_stop(&p->w);
    if (p->started)
        pthread_join(p->th, NULL);
    od_srv_waker_destroy(&p->w);
    od_srv_waker_destroy(&p->cw);
    free(p->ca_file);
    free(p);
    s->push = NULL;
}
