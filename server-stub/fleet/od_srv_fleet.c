/*
 * od_srv_fleet.c - the simulated device fleet (see od_srv_fleet.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_fleet.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "od_patch.h"
#include "od_srv.h"
#include "od_srv_hcli.h"

#define WORK_SIZE (256u * 1024u) /* applier work buffer per thread */
#define ERASE 4096u
#define MAX_RESTARTS 200         /* corrupt-chunk restarts before giving up */

static atomic_uint g_started;

unsigned od_srv_fleet_started(void)
{
    return atomic_load(&g_started);
}

typedef struct shared {
    const od_srv_fleet_cfg *cfg;
    od_srv_fleet_result *res;
    char auth[OD_SRV_TOKEN_MAX + 32];
    atomic_uint next;
    unsigned total;
    double t0;
    pthread_mutex_t mu; /* guards res counters */
} shared;

/* One simulated device's flash and persisted state. */
typedef struct device {
    const uint8_t *old_img;
    size_t old_len;
    uint8_t *flash;
    uint32_t cap;
    uint32_t blocks_done; /* what a real device keeps in flash */
} device;

typedef struct worker {
    shared *sh;
    od_srv_hcli cli;
    uint8_t *work;
    unsigned rng;
    uint64_t requests, bytes, drops, corrupts, powercuts, paused_waits, resumes;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned rnd(worker *w)
{
    /* xorshift: deterministic per seed, no shared state between threads */
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    return w->rng;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int cb_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    device *d = ctx;
    if ((uint64_t)off + len > d->old_len)
        return -1;
    memcpy(buf, d->old_img + off, len);
    return 0;
}

static int cb_erase(void *ctx, uint32_t off, uint32_t len)
{
    device *d = ctx;
    if ((uint64_t)off + len > d->cap)
        return -1;
    memset(d->flash + off, 0xFF, len);
    return 0;
}

static int cb_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    device *d = ctx;
    if ((uint64_t)off + len > d->cap)
        return -1;
    memcpy(d->flash + off, buf, len);
    return 0;
}

static int cb_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    device *d = ctx;
    if ((uint64_t)off + len > d->cap)
        return -1;
    memcpy(buf, d->flash + off, len);
    return 0;
}

static int cb_save(void *ctx, uint32_t blocks_done)
{
    ((device *)ctx)->blocks_done = blocks_done;
    return 0;
}

/* GET/POST returning the JSON errno (and the object in *out if wanted);
 * -1 on a network or format failure. */
static int api(worker *w, const char *method, const char *path, const char *body,
               json_t **out)
{
    od_srv_hresp r;
    json_error_t err;
    json_t *j;
    int eno;
    w->requests++;
    if (od_srv_hcli_request(&w->cli, method, path, w->sh->auth, body,
                            body ? strlen(body) : 0, &r) != 0)
        return -1;
    j = json_loadb((const char *)r.body, r.body_len, 0, &err);
    od_srv_hresp_free(&r);
    if (!j)
        return -1;
    eno = (int)json_integer_value(json_object_get(j, "errno"));
    if (out)
        *out = j;
    else
        json_decref(j);
    return eno;
}

static int progress(worker *w, int64_t id, const char *token, int step)
{
    char path[200], body[32];
    snprintf(path, sizeof(path), "/ota/south/device/download/%s/progress?dev_id=%lld",
             token, (long long)id);
    snprintf(body, sizeof(body), "{\"step\":%d}", step);
    return api(w, "POST", path, body, NULL);
}

static int expired(worker *w)
{
    const od_srv_fleet_cfg *cfg = w->sh->cfg;
    return now_s() - w->sh->t0 > (double)(cfg->deadline_s ? cfg->deadline_s : 120);
}

/*
 * Downloads and applies one package. Returns 1 on DONE (image written
 * and verified by the applier), 0 to go back to polling (token refused,
 * task cancelled), -1 on a permanent failure (reported to the server).
 */
static int session(worker *w, int64_t id, device *d, const char *token,
                   uint32_t size)
{
    const od_srv_fleet_cfg *cfg = w->sh->cfg;
    unsigned chunk = cfg->chunk ? cfg->chunk : 1024;
    od_patch_config pc;
    od_patch p;
    char path[160], hdr[OD_SRV_TOKEN_MAX + 96];
    int restarts = 0, next_pct = 25, counted = 0;

    memset(&pc, 0, sizeof(pc));
    pc.ctx = d;
    pc.read_old = cb_read_old;
    pc.erase = cb_erase;
    pc.write = cb_write;
    pc.read_new = cb_read_new;
    pc.save_progress = cb_save;
    pc.work = w->work;
    pc.work_size = WORK_SIZE;
    pc.page_size = 256;
    pc.erase_size = ERASE;
    pc.new_capacity = d->cap;
    pc.old_size = (uint32_t)d->old_len;
    pc.erased_value = 0xFF;
    if (od_patch_init(&p, &pc, d->blocks_done) != OD_PATCH_OK)
        return -1;
    snprintf(path, sizeof(path), "/ota/south/download/%s", token);

    while (!expired(w)) {
        uint32_t off = od_patch_offset(&p), end;
        od_srv_hresp r;
        size_t pos = 0;
        int rc;
        char cr[96];
        unsigned long long rs = 0;

        if (cfg->powercut_permille && rnd(w) % 1000 < cfg->powercut_permille) {
            /* Power cut: RAM is lost, flash and blocks_done survive. */
            w->powercuts++;
            od_patch_init(&p, &pc, d->blocks_done);
            continue;
        }
        if (off >= size) {
            /* Only a bug in the applier or the package gets here. */
            return -1;
        }
        end = off + chunk - 1;
        if (end >= size)
            end = size - 1;
        snprintf(hdr, sizeof(hdr), "%sRange: %u-%u\r\n", w->sh->auth, off, end);
        w->requests++;
        if (od_srv_hcli_request(&w->cli, "GET", path, hdr, NULL, 0, &r) != 0) {
            sleep_ms(5);
            continue;
        }
        if (cfg->drop_permille && rnd(w) % 1000 < cfg->drop_permille) {
            /* The connection dies with the reply in flight. */
            w->drops++;
            od_srv_hresp_free(&r);
            od_srv_hcli_close(&w->cli);
            continue;
        }
        if (r.status == 503) { /* paused: wait without spending a retry */
            od_srv_hresp_free(&r);
            w->paused_waits++;
            sleep_ms(cfg->poll_ms ? cfg->poll_ms : 50);
            continue;
        }
        if (r.status != 206 && r.status != 200) {
            od_srv_hresp_free(&r);
            return 0;
        }
        if (od_srv_hresp_header(&r, "Content-Range", cr, sizeof(cr)) != 0 ||
            sscanf(cr, "bytes %llu-", &rs) != 1 || rs != off ||
            r.body_len != (size_t)(end - off + 1)) {
            od_srv_hresp_free(&r);
            return -1;
        }
        w->bytes += r.body_len;
        if (!counted) {
            counted = 1;
            atomic_fetch_add(&g_started, 1);
        }
        if (cfg->corrupt_permille && rnd(w) % 1000 < cfg->corrupt_permille) {
            w->corrupts++;
            r.body[rnd(w) % r.body_len] ^= (uint8_t)(1u << (rnd(w) % 8));
        }
        rc = od_patch_feed(&p, r.body, &pos, r.body_len);
        od_srv_hresp_free(&r);
        if (rc == OD_PATCH_DONE)
            return 1;
        if (rc == OD_PATCH_SEEK)
            w->resumes++;
        if (rc < 0) {
            if (++restarts > MAX_RESTARTS) {
                progress(w, id, token, 107);
                return -1;
            }
            if (rc == OD_PATCH_ERR_VERIFY)
                d->blocks_done = 0; /* nothing written can be trusted */
            else if (rc != OD_PATCH_ERR_CORRUPT && rc != OD_PATCH_ERR_HEADER &&
                     rc != OD_PATCH_ERR_INDEX && rc != OD_PATCH_ERR_MAGIC) {
                fprintf(stderr, "fleet: device %lld: %s\n", (long long)id,
                        od_patch_strerror(rc));
                progress(w, id, token, rc == OD_PATCH_ERR_WRONG_SOURCE ? 204 : 206);
                return -1;
            }
            /* A damaged chunk: reboot from the last finished block. */
            od_patch_init(&p, &pc, d->blocks_done);
            continue;
        }
        if (od_patch_offset(&p) * 100u / size >= (unsigned)next_pct && next_pct < 100) {
            progress(w, id, token, next_pct);
            next_pct += 25;
        }
    }
    return 0;
}

/* One device from first poll to final state. Returns 1 if it succeeded. */
static int run_device(worker *w, int64_t id, const od_srv_fleet_pop *pop)
{
    const od_srv_fleet_cfg *cfg = w->sh->cfg;
    char path[256], body[160];
    device d;
    int ok = 0;
    unsigned poll = cfg->poll_ms ? cfg->poll_ms : 50;

    memset(&d, 0, sizeof(d));
    d.old_img = pop->old_img;
    d.old_len = pop->old_len;
    d.cap = (uint32_t)((cfg->new_len + 2 * ERASE) / ERASE * ERASE);
    d.flash = malloc(d.cap);
    if (!d.flash)
        return 0;
    memset(d.flash, 0xFF, d.cap);
    if (cfg->jitter_ms)
        sleep_ms(rnd(w) % cfg->jitter_ms);
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)id);
    snprintf(body, sizeof(body), "{\"s_version\":\"%s\"}", pop->old_version);
    while (api(w, "POST", path, body, NULL) != 0) {
        if (expired(w))
            goto out;
        sleep_ms(poll);
    }
    while (!expired(w)) {
        json_t *j = NULL, *data;
        char token[64];
        uint32_t size;
        int eno, s;

        snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=%s",
                 (long long)id, pop->old_version);
        eno = api(w, "GET", path, NULL, &j);
        if (eno != 0) {
            json_decref(j);
            if (eno == OD_SRV_ENO_PAUSED)
                w->paused_waits++;
            sleep_ms(poll + rnd(w) % (poll + 1));
            continue;
        }
        data = json_object_get(j, "data");
        snprintf(token, sizeof(token), "%s",
                 json_string_value(json_object_get(data, "token")) ?
                 json_string_value(json_object_get(data, "token")) : "");
        size = (uint32_t)json_integer_value(json_object_get(data, "size"));
        json_decref(j);
        snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", token,
                 (long long)id);
        eno = api(w, "GET", path, NULL, NULL);
        if (eno != 0) {
            sleep_ms(poll);
            continue;
        }
        s = session(w, id, &d, token, size);
        if (s < 0)
            break;
        if (s == 0)
            continue;
        /* Applied and verified by the applier; check it ourselves too. */
        if (memcmp(d.flash, cfg->new_img, cfg->new_len) != 0) {
            pthread_mutex_lock(&w->sh->mu);
            w->sh->res->bad_image++;
            pthread_mutex_unlock(&w->sh->mu);
            progress(w, id, token, 205);
            break;
        }
        while (!expired(w)) {
            eno = progress(w, id, token, 100);
            if (eno == OD_SRV_ENO_PAUSED) {
                sleep_ms(poll);
                continue;
            }
            break;
        }
        while (!expired(w)) {
            eno = progress(w, id, token, 201);
            if (eno == OD_SRV_ENO_PAUSED || eno < 0) {
                sleep_ms(poll);
                continue;
            }
            /* A retried report whose first copy landed (the reply was lost,
             * e.g. the server restarted) is answered "task finished". */
            if (eno == OD_SRV_ENO_FINISHED)
                eno = 0;
            break;
        }
        if (eno != 0)
            break;
        snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)id);
        snprintf(body, sizeof(body), "{\"s_version\":\"%s\"}", cfg->new_version);
        api(w, "POST", path, body, NULL);
        ok = 1;
        break;
    }
out:
    free(d.flash);
    return ok;
}

static void *thread_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    for (;;) {
        unsigned i = atomic_fetch_add(&sh->next, 1), k = i, p = 0;
        int ok;
        if (i >= sh->total)
            break;
        while (p < sh->cfg->npops && k >= sh->cfg->pops[p].n)
            k -= sh->cfg->pops[p++].n;
        ok = run_device(w, sh->cfg->pops[p].dev_ids[k], &sh->cfg->pops[p]);
        sh->res->dev_ok[i] = (unsigned char)ok;
    }
    od_srv_hcli_close(&w->cli);
    return NULL;
}

int od_srv_fleet_run(const od_srv_fleet_cfg *cfg, od_srv_fleet_result *res)
{
    shared sh;
    worker *ws;
    pthread_t *th;
    unsigned nt = cfg->threads ? cfg->threads : 8;
    int64_t et = (int64_t)time(NULL) + 3600;
    char tok[OD_SRV_TOKEN_MAX], res_s[64];

    memset(res, 0, sizeof(*res));
    if (nt > 256)
        nt = 256;
    memset(&sh, 0, sizeof(sh));
    sh.cfg = cfg;
    sh.res = res;
    for (unsigned p = 0; p < cfg->npops; p++)
        sh.total += cfg->pops[p].n;
    res->devices = sh.total;
    res->dev_ok = calloc(sh.total + 1, 1);
    snprintf(res_s, sizeof(res_s), "products/%lld", (long long)cfg->product_id);
    if (!res->dev_ok ||
        od_srv_token_build(cfg->product_key, "2018-10-31", res_s, et, OD_SRV_SIG_SHA256,
                           tok, sizeof(tok)) != OD_SRV_OK)
        return -1;
    snprintf(sh.auth, sizeof(sh.auth), "Authorization: %s\r\n", tok);
    pthread_mutex_init(&sh.mu, NULL);
    atomic_store(&g_started, 0);
    ws = calloc(nt, sizeof(*ws));
    th = calloc(nt, sizeof(*th));
    if (!ws || !th) {
        free(ws);
        free(th);
        return -1;
    }
    sh.t0 = now_s();
    for (unsigned i = 0; i < nt; i++) {
        ws[i].sh = &sh;
        ws[i].rng = (cfg->seed ? cfg->seed : 12345u) * 2654435761u + i * 40503u + 1u;
        ws[i].work = malloc(WORK_SIZE);
        od_srv_hcli_init(&ws[i].cli, cfg->port);
        ws[i].cli.io = cfg->io;
        if (!ws[i].work || pthread_create(&th[i], NULL, thread_main, &ws[i]) != 0) {
            nt = i;
            free(ws[i].work);
            break;
        }
    }
    for (unsigned i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        res->requests += ws[i].requests;
        res->bytes += ws[i].bytes;
        res->drops += ws[i].drops;
        res->corrupts += ws[i].corrupts;
        res->powercuts += ws[i].powercuts;
        res->paused_waits += ws[i].paused_waits;
        res->resumes += ws[i].resumes;
        free(ws[i].work);
    }
    res->seconds = now_s() - sh.t0;
    for (unsigned i = 0; i < sh.total; i++)
        res->succeeded += res->dev_ok[i];
    res->failed = sh.total - res->succeeded;
    if (res->seconds > (double)(cfg->deadline_s ? cfg->deadline_s : 120))
        res->timed_out = res->failed;
    free(ws);
    free(th);
    pthread_mutex_destroy(&sh.mu);
    return res->succeeded == sh.total && res->bad_image == 0 ? 0 : 1;
}

void od_srv_fleet_free(od_srv_fleet_result *res)
{
    free(res->dev_ok);
    res->dev_ok = NULL;
}
