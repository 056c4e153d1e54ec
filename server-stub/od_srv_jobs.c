/*
 * od_srv_jobs.c - the bounded generation worker pool.
 *
 * Package generation costs seconds and several times the image size in
 * memory, so it never runs on an HTTP thread: a request only inserts a
 * queued job, and one of N workers claims it from the store. The queue
 * lives in the database, not in memory, so a job survives a restart (a
 * job left "running" by a crash is put back to "queued" at start-up) and
 * several server nodes could share one PostgreSQL queue later.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "od_diff.h"
#include "od_pkgfmt_host.h"

#define WORKERS_MAX 64
#define IDLE_POLL_MS 1000 /* also picks up jobs another node queued */

#define SWEEP_MS 1000

struct od_srv_jobs {
    od_srv *srv;
    pthread_t th[WORKERS_MAX];
    unsigned n;
    od_srv_waker w;
    pthread_t sweep_th; /* the deadline sweeper, once sweeping is set */
    int sweeping;
    od_srv_waker sw;    /* its sleep and stop, apart from the workers' kicks */
};

typedef struct prog_ctx {
    od_srv *srv;
    int64_t job_id;
    int last;
    int gone; /* the job's row was deleted (its package deleted): stop */
    int64_t polled_ms; /* when on_cancel last looked at the row */
} prog_ctx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    prog_ctx *p = ctx;
    int pct = total ? (int)(done * 99 / total) : 0;
    /* One write per percent at most: the store is shared with devices.
     * The write also says whether the job is still wanted. */
    if (pct > p->last) {
        p->last = pct;
        if (p->srv->store->ops->job_progress(p->srv->store, p->job_id, pct) ==
            OD_SRV_ERR_NOT_FOUND)
            p->gone = 1;
    }
}

/* A stopping server, or a package deleted while it is generated, cuts
 * generation short instead of waiting for it. Progress moves in coarse
 * steps (a matcher candidate at a time), so between them the job's row is
 * looked at once a second too (the generator serialises these calls). */
static int on_cancel(void *ctx)
{
    prog_ctx *p = ctx;
    int64_t now = mono_ms();
    if (!p->gone && now - p->polled_ms >= 1000) {
        od_srv_store *st = p->srv->store;
        p->polled_ms = now;
        if (st->ops->job_progress(st, p->job_id, p->last < 0 ? 0 : p->last) ==
            OD_SRV_ERR_NOT_FOUND)
            p->gone = 1;
    }
    return p->gone || od_srv_waker_stopping(&p->srv->jobs->w);
}

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    od_srv_hex(d, n, out);
}

/* Runs one job to the end; the outcome is recorded in the store. */
static void run_job(od_srv *s, const od_srv_job *job)
{
    od_srv_store *st = s->store;
    od_srv_pkg p, res;
    od_srv_fw sfw, tfw;
    od_diff_params dp;
    uint8_t *old = NULL, *img = NULL, *pkg = NULL;
    size_t old_len = 0, img_len = 0, pkg_len = 0;
    uint8_t md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
    char err[160] = "";
    prog_ctx pc = {s, job->id, -1, 0, 0};
    int rc;

    if (st->ops->pkg_get(st, job->package_id, &p) != OD_SRV_OK) {
        snprintf(err, sizeof(err), "package row missing");
        goto fail;
    }
    if (st->ops->fw_get(st, p.target_fw, &tfw) != OD_SRV_OK ||
        od_srv_file_read(s->data_dir, tfw.file, OD_SRV_UPLOAD_MAX, &img, &img_len) !=
            OD_SRV_OK) {
        snprintf(err, sizeof(err), "target firmware unreadable");
        goto fail;
    }
    if (p.kind == OD_KIND_DELTA &&
        (st->ops->fw_get(st, p.source_fw, &sfw) != OD_SRV_OK ||
         od_srv_file_read(s->data_dir, sfw.file, OD_SRV_UPLOAD_MAX, &old, &old_len) !=
             OD_SRV_OK)) {
        snprintf(err, sizeof(err), "source firmware unreadable");
        goto fail;
    }
    od_diff_params_init(&dp);
    dp.kind = p.kind;
    dp.codec = p.codec;
    dp.filter = p.filter;
    dp.effort = p.effort;
    dp.ram_budget = p.ram_budget;
    if (p.block_size)
        dp.block_size = p.block_size;
    dp.source_version = p.kind == OD_KIND_DELTA ? p.source_version : NULL;
    dp.target_version = p.target_version;
    dp.progress = on_progress;
    dp.progress_ctx = &pc;
    dp.cancel = on_cancel;
    dp.cancel_ctx = &pc;
    rc = od_diff_create(old, old_len, img, img_len, &dp, &pkg, &pkg_len);
    if (rc == OD_DIFF_ERR_CANCELLED && pc.gone) {
        fprintf(stderr, "otadelta-server: job %lld cancelled: its package was deleted\n",
                (long long)job->id);
        goto out;
    }
    if (rc == OD_DIFF_ERR_CANCELLED) {
        /* Left "running" on purpose: the next start re-queues it. */
        fprintf(stderr, "otadelta-server: job %lld interrupted by shutdown, runs again at the next start\n",
                (long long)job->id);
        goto out;
    }
    if (rc != OD_DIFF_OK) {
        snprintf(err, sizeof(err), "generator: %s", od_diff_strerror(rc));
        goto fail;
    }
    /* Never publish bytes we have not checked end to end. */
    rc = od_pkg_check(pkg, pkg_len, NULL);
    if (rc != OD_PKG_OK) {
        snprintf(err, sizeof(err), "generated package fails its check: %s",
                 od_pkg_strerror(rc));
        goto fail;
    }
    memset(&res, 0, sizeof(res));
    od_pkg_hash_image(pkg, pkg_len, md5, sha);
    hex_of(md5, sizeof(md5), res.md5);
    hex_of(sha, sizeof(sha), res.sha256);
    res.size = (int64_t)pkg_len;
    {
        char rnd[17];
        if (od_srv_random_hex(rnd, 8) != OD_SRV_OK) {
            snprintf(err, sizeof(err), "no randomness");
            goto fail;
        }
        snprintf(res.file, sizeof(res.file), "pkg/%lld-%s.otad",
                 (long long)p.id, rnd);
    }
    if (od_srv_file_write_atomic(s->data_dir, res.file, pkg, pkg_len) != OD_SRV_OK) {
        snprintf(err, sizeof(err), "cannot write the package file");
        goto fail;
    }
    if (st->ops->job_finish(st, job->id, 1, &res, NULL) != OD_SRV_OK) {
        /* Deleted meanwhile, or the store failed: drop the orphan file. */
        char path[OD_SRV_PATH_MAX];
        if (od_srv_file_path(s->data_dir, res.file, path, sizeof(path)) == OD_SRV_OK)
            remove(path);
    }
    goto out;
fail:
    fprintf(stderr, "otadelta-server: job %lld: %s\n", (long long)job->id, err);
    st->ops->job_finish(st, job->id, 0, NULL, err);
out:
    free(old);
    free(img);
    free(pkg);
}

/*
 * Ends, once a second, the rows of tasks whose deadline passed, so that a
 * task completes even when some of its devices never call again. A thread
 * of its own: the generation workers can all be busy for hours, and a row
 * left live past its deadline keeps its device out of its next task.
 */
static void *sweeper(void *arg)
{
    od_srv_jobs *j = arg;
    while (!od_srv_waker_stopping(&j->sw)) {
        int n = 0;
        if (j->srv->store->ops->task_sweep(j->srv->store, (int64_t)time(NULL), &n) ==
                OD_SRV_OK && n)
            fprintf(stderr,
                    "otadelta-server: %d device row(s) past their task's deadline failed (208)\n",
                    n);
        od_srv_waker_wait(&j->sw, SWEEP_MS);
    }
    return NULL;
}

static void *worker(void *arg)
{
    od_srv_jobs *j = arg;
    for (;;) {
        od_srv_job job;
        if (od_srv_waker_stopping(&j->w))
            break;
        if (j->srv->store->ops->job_claim(j->srv->store, &job) == OD_SRV_OK) {
            run_job(j->srv, &job);
            continue;
        }
        od_srv_waker_wait(&j->w, IDLE_POLL_MS);
    }
    return NULL;
}

int od_srv_jobs_start(od_srv *s, unsigned n)
{
    od_srv_jobs *j;
    int requeued = 0;
    if (n == 0)
        n = 2;
    if (n > WORKERS_MAX)
        n = WORKERS_MAX;
    if (s->store->ops->job_requeue_running(s->store, &requeued) != OD_SRV_OK)
        return OD_SRV_ERR_DB;
    if (requeued)
        fprintf(stderr, "otadelta-server: re-queued %d interrupted job(s)\n", requeued);
    j = calloc(1, sizeof(*j));
    if (!j)
        return OD_SRV_ERR_NOMEM;
    j->srv = s;
    od_srv_waker_init(&j->w);
    od_srv_waker_init(&j->sw);
    s->jobs = j;
    if (pthread_create(&j->sweep_th, NULL, sweeper, j) != 0) {
        od_srv_jobs_stop(s);
        return OD_SRV_ERR_NOMEM;
    }
    j->sweeping = 1;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&j->th[i], NULL, worker, j) != 0) {
            od_srv_jobs_stop(s);
            return OD_SRV_ERR_NOMEM;
        }
        j->n++;
    }
    return OD_SRV_OK;
}

void od_srv_jobs_kick(od_srv *s)
{
    if (s->jobs)
        od_srv_waker_kick(&s->jobs->w);
}

void od_srv_jobs_stop(od_srv *s)
{
    od_srv_jobs *j = s->jobs;
    if (!j)
        return;
    od_srv_waker_stop(&j->w);
    od_srv_waker_stop(&j->sw);
    for (unsigned i = 0; i < j->n; i++)
        pthread_join(j->th[i], NULL);
    if (j->sweeping)
        pthread_join(j->sweep_th, NULL);
    od_srv_waker_destroy(&j->w);
    od_srv_waker_destroy(&j->sw);
    free(j);
    s->jobs = NULL;
}
