/*
 * od_srv_test_live.c - tests against a real otadelta-server process on
 * 127.0.0.1 and an ephemeral port, driven by the fleet simulator.
 *
 *   od_srv_test_live SERVER_BIN flow     [N]  whole flow, N devices (200)
 *   od_srv_test_live SERVER_BIN fast     [N]  flow on packages made with effort fast
 *   od_srv_test_live SERVER_BIN pause    [N]  pause and resume mid-flight
 *   od_srv_test_live SERVER_BIN crash    [N]  kill -9 mid-task, restart
 *   od_srv_test_live SERVER_BIN badinput      clean 4xx for bad requests
 *   od_srv_test_live SERVER_BIN migrate       upgrade an old database in place
 *   od_srv_test_live SERVER_BIN stop          SIGTERM during generation
 *   od_srv_test_live SERVER_BIN conns         generation leaves no database connection
 *   od_srv_test_live SERVER_BIN legacy        devInfo, tasking and report; what
 *                                             a device's row shows and counts
 *   od_srv_test_live SERVER_BIN http          HEAD, 405, Host and the request
 *                                             target, conditional downloads,
 *                                             --per-ip-connections
 *   od_srv_test_live SERVER_BIN fuse          the new OneNET /fuse-ota/ routes,
 *                                             users and their userid/ tokens
 *   od_srv_test_live SERVER_BIN keys          replacing product, device and user
 *                                             keys; deleting users
 *   od_srv_test_live SERVER_BIN sweep         deadlines enforced while the
 *                                             generation workers are busy
 *   od_srv_test_live SERVER_BIN tls      [N]  HTTPS: handshake and start-up
 *                                             checks, then flow over TLS
 *   od_srv_test_live SERVER_BIN tlsreload     SIGHUP: a renewed certificate,
 *                                             then a broken one refused
 *   od_srv_test_live SERVER_BIN push          push notifications to a receiver
 *                                             run here (verification, retries)
 *   od_srv_test_live SERVER_BIN bench    [N]  fleet timing, prints a row
 *
 * Exit 0 pass, 1 fail, 77 skip (no loopback sockets; for tls and
 * tlsreload, also a libmicrohttpd without TLS).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "od_srv.h"
#include "od_srv_fleet.h"
#include "od_srv_hcli.h"

#define ADMIN "test-admin-token-1234"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static const char *server_bin;
static char data_dir[256];
static pid_t server_pid;
static uint16_t port;
/* What the helpers below speak to the server: NULL = plain HTTP, or the
 * TLS client of mode tls. server_extra_args: options added to the server's
 * command line (mode tls: its certificate; mode push: fast retries and one
 * HTTP thread, then the CA of its https receiver). */
static const od_srv_hcli_io *cli_io;
static const char *server_extra_args[9];
/* Where the server's stderr goes, appended to; NULL: the test's own. */
static const char *server_err_path;
static int server_said(const char *want);
static int tcp_open(void);

/* A client handle for the server under test, in the current transport. */
static void cli_init(od_srv_hcli *c)
{
    od_srv_hcli_init(c, port);
    c->io = cli_io;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A file's text, NUL-terminated (caller frees), or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *t = malloc(65536);
    size_t n = f && t ? fread(t, 1, 65535, f) : 0;
    if (f)
        fclose(f);
    if (!n) {
        free(t);
        return NULL;
    }
    t[n] = '\0';
    return t;
}

/* Runs the server binary with argv (NULL-terminated; execv takes it
 * without const but does not change it). Does not return. */
static void exec_server(const char *const *argv)
{
    char *a[24];
    size_t i;
    for (i = 0; argv[i] && i < 23; i++)
        a[i] = (char *)(uintptr_t)argv[i];
    a[i] = NULL;
    execv(server_bin, a);
    _exit(127);
}

/* Starts the server; listen_port 0 = ephemeral. Returns 0 when it answers. */
static int server_start(uint16_t listen_port)
{
    char listen[64], pf[300];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", listen_port);
    snprintf(pf, sizeof(pf), "%s/port", data_dir);
    unlink(pf);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        const char *argv[20] = {server_bin, "--data", data_dir, "--listen", listen,
                                "--admin-token", ADMIN, "--port-file", pf, "--workers", "2"};
        for (size_t i = 0; server_extra_args[i]; i++)
            argv[11 + i] = server_extra_args[i];
        if (server_err_path && !freopen(server_err_path, "a", stderr))
            _exit(126);
        exec_server(argv);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(pf, "r");
        unsigned p = 0;
        if (f) {
            int n = fscanf(f, "%u", &p);
            fclose(f);
            if (n == 1 && p) {
                port = (uint16_t)p;
                return 0;
            }
        }
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
            return -1;
        sleep_ms(50);
    }
    return -1;
}

static int server_stop(int sig)
{
    int st = 0;
    if (server_pid <= 0)
        return -1;
    kill(server_pid, sig);
    waitpid(server_pid, &st, 0);
    server_pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Starts the server on dir with the extra options args (NULL-terminated):
 * it must exit at once with status 1 or 2 (a sanitizer's leak report is
 * another status) and print want on stderr. */
static void start_refused(const char *dir, const char *const *args, const char *want)
{
    static int runs;
    char err_path[300], text[2048] = "";
    const char *argv[16] = {server_bin, "--data", dir, "--listen", "127.0.0.1:0",
                            "--admin-token", ADMIN};
    size_t n = 7;
    int st = -1, waited = 0;
    pid_t pid;
    FILE *f;

    snprintf(err_path, sizeof(err_path), "%s.refused-%d.err", data_dir, ++runs);
    while (*args && n < 15)
        argv[n++] = *args++;
    pid = fork();
    if (pid == 0) {
        if (!freopen(err_path, "w", stderr))
            _exit(126);
        exec_server(argv);
    }
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    while (waitpid(pid, &st, WNOHANG) == 0 && waited < 200) {
        sleep_ms(50);
        waited++;
    }
    if (waited == 200) { /* it started: that is the failure */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    f = fopen(err_path, "r");
    if (f) {
        size_t got = fread(text, 1, sizeof(text) - 1, f);
        text[got] = '\0';
        fclose(f);
    }
    unlink(err_path);
    fprintf(stderr, "refused start (want \"%s\"):\n%s", want, text);
    CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 2));
    CHECK(strstr(text, want) != NULL);
}

/* Admin request; returns HTTP status, *out the parsed reply if wanted. */
static int admin(const char *method, const char *path, const char *body,
                 size_t body_len, json_t **out)
{
    od_srv_hcli c;
    od_srv_hresp r;
    int st;
    cli_init(&c);
    if (od_srv_hcli_request(&c, method, path, "Authorization: Bearer " ADMIN "\r\n", body,
                            body ? (body_len ? body_len : strlen(body)) : 0, &r) != 0) {
        od_srv_hcli_close(&c);
        return -1;
    }
    st = r.status;
    if (out) {
        json_error_t e;
        *out = json_loadb((const char *)r.body, r.body_len, 0, &e);
    }
    od_srv_hresp_free(&r);
    od_srv_hcli_close(&c);
    return st;
}

static int64_t data_int(json_t *j, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(j, "data"), k));
}

static const char *dstr(json_t *data, const char *k)
{
    const char *v = json_string_value(json_object_get(data, k));
    return v ? v : "";
}

/* 1 if package pkg's record has the string member k equal to want. */
static int pkg_shows(int64_t pkg, const char *k, const char *want)
{
    char path[64];
    json_t *j = NULL;
    const char *v;
    int ok;
    snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)pkg);
    ok = admin("GET", path, NULL, 0, &j) == 200 &&
         (v = json_string_value(json_object_get(json_object_get(j, "data"), k))) &&
         !strcmp(v, want);
    json_decref(j);
    return ok;
}

/* 1 if product pid's record shows user_id uid (0: null, but present). */
static int owner_shows(int64_t pid, int64_t uid)
{
    char path[64];
    json_t *j = NULL, *v;
    int ok;
    snprintf(path, sizeof(path), "/api/v1/products/%lld", (long long)pid);
    ok = admin("GET", path, NULL, 0, &j) == 200 &&
         (v = json_object_get(json_object_get(j, "data"), "user_id")) &&
         (uid ? json_integer_value(v) == uid : json_is_null(v));
    json_decref(j);
    return ok;
}

/* PUT /api/v1/products/{pid}/owner with body: the HTTP status. */
static int owner_put(int64_t pid, const char *body)
{
    char path[80];
    snprintf(path, sizeof(path), "/api/v1/products/%lld/owner", (long long)pid);
    return admin("PUT", path, body, 0, NULL);
}

/* POST path body, answered 201: the new object's id, and its access_key
 * into key (80 bytes) if key; 0 for any other answer. */
static int64_t create_keyed(const char *path, const char *body, char *key)
{
    json_t *j = NULL;
    int64_t id = 0;
    if (admin("POST", path, body, 0, &j) == 201) {
        id = data_int(j, "id");
        if (key)
            snprintf(key, 80, "%s", dstr(json_object_get(j, "data"), "access_key"));
    }
    json_decref(j);
    return id;
}

/* Deterministic firmware-like images: a code-ish body, then a change set. */
static void make_images(uint8_t *v0, uint8_t *v1, uint8_t *v2, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        /* mostly small values, like Thumb code and tables */
        v1[i] = (uint8_t)((i % 7 == 0) ? (x & 0xFF) : ((x >> 8) & 0x1F));
    }
    memcpy(v2, v1, n);
    for (size_t i = 1000; i < n; i += 9973)
        v2[i] ^= 0x5A;
    memcpy(v2 + 20000, v1 + 20100, 3000); /* a moved function */
    memcpy(v0, v1, n);
    for (size_t i = 0; i < n; i += 101)
        v0[i] = (uint8_t)(v0[i] + 1);
}

typedef struct scenario {
    int64_t pid, task, group, pkg_diff, pkg_full, fw0;
    char key[80];
    int64_t *ids_a, *ids_b, black;
    unsigned na, nb;
    uint8_t *v0, *v1, *v2;
    size_t len;
} scenario;

static int wait_job(int64_t job)
{
    char path[64];
    for (int i = 0; i < 600; i++) {
        json_t *j = NULL;
        const char *s;
        int done;
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld", (long long)job);
        admin("GET", path, NULL, 0, &j);
        s = json_string_value(json_object_get(json_object_get(j, "data"), "status"));
        done = s && (!strcmp(s, "done") || !strcmp(s, "failed"));
        if (done) {
            int ok = !strcmp(s, "done");
            json_decref(j);
            return ok ? 0 : -1;
        }
        json_decref(j);
        sleep_ms(50);
    }
    return -1;
}

static int upload(scenario *s, const uint8_t *img, const char *ver, int64_t *id)
{
    char path[200];
    json_t *j = NULL;
    int st;
    snprintf(path, sizeof(path),
             "/api/v1/products/%lld/firmware?version=%s&component=sota&manuf=101&model=10101",
             (long long)s->pid, ver);
    st = admin("POST", path, (const char *)img, s->len, &j);
    *id = data_int(j, "id");
    json_decref(j);
    return st == 201 ? 0 : -1;
}

static void scenario_free(scenario *s);

/* The effort setup asks its packages to be made with; NULL leaves it to
 * the server's default. The applier must not care, which mode fast
 * checks by running the whole flow on fast packages. */
static const char *setup_effort;

/* A delta from the scenario's target 1.1.0 to a new 1.2.0 (image v0),
 * with no full package of 1.2.0: its id, or 0. */
static int64_t delta_to_120(scenario *s)
{
    char path[120], body[120];
    json_t *j = NULL;
    int64_t from, fw3, pk, jb;
    snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)s->pkg_diff);
    if (admin("GET", path, NULL, 0, &j) != 200) {
        json_decref(j);
        return 0;
    }
    from = data_int(j, "target_fw");
    json_decref(j);
    j = NULL;
    if (upload(s, s->v0, "1.2.0", &fw3) != 0)
        return 0;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s->pid);
    snprintf(body, sizeof(body), "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld}",
             (long long)from, (long long)fw3);
    if (admin("POST", path, body, 0, &j) != 202) {
        json_decref(j);
        return 0;
    }
    pk = data_int(j, "package_id");
    jb = data_int(j, "job_id");
    json_decref(j);
    return wait_job(jb) == 0 ? pk : 0;
}

/* A product token of s's product, token version ver, into out
 * (OD_SRV_TOKEN_MAX bytes): 0, or -1. */
static int product_token(const scenario *s, const char *ver, int method, char *out)
{
    char res[64];
    snprintf(res, sizeof(res), "products/%lld", (long long)s->pid);
    return od_srv_token_build(s->key, ver, res, time(NULL) + 600, method, out,
                              OD_SRV_TOKEN_MAX) == OD_SRV_OK ? 0 : -1;
}

/* A check call for dev (type 2, version ver) with the device-API token
 * auth: the download token into t (64 bytes) and the package size. */
static int check_call(const char *auth, int64_t dev, const char *ver, char *t, int64_t *size)
{
    char path[160], hdr[700];
    od_srv_hcli c;
    od_srv_hresp r;
    json_t *j;
    const char *tv;
    int rc = -1;
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=%s",
             (long long)dev, ver);
    snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", auth);
    cli_init(&c);
    if (od_srv_hcli_request(&c, "GET", path, hdr, NULL, 0, &r) != 0) {
        od_srv_hcli_close(&c);
        return -1;
    }
    j = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    od_srv_hresp_free(&r);
    od_srv_hcli_close(&c);
    tv = json_string_value(json_object_get(json_object_get(j, "data"), "token"));
    if (tv && strlen(tv) < 64) {
        snprintf(t, 64, "%s", tv);
        *size = data_int(j, "size");
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* Product, three versions, packages, na+nb devices, a group and a task. */
static int setup_steps(scenario *s, unsigned n)
{
    json_t *j = NULL, *ids;
    int64_t fw0, fw1, fw2, job1, job2;
    char path[160], body[256], effort[32] = "";

    memset(s, 0, sizeof(*s));
    s->len = 64 * 1024;
    s->v0 = malloc(s->len);
    s->v1 = malloc(s->len);
    s->v2 = malloc(s->len);
    if (!s->v0 || !s->v1 || !s->v2)
        return -1;
    make_images(s->v0, s->v1, s->v2, s->len);
    if (admin("POST", "/api/v1/products", "{\"name\":\"fleet\"}", 0, &j) != 201)
        return -1;
    s->pid = data_int(j, "id");
    snprintf(s->key, sizeof(s->key), "%s",
             json_string_value(json_object_get(json_object_get(j, "data"), "access_key")));
    json_decref(j);
    if (upload(s, s->v0, "0.9.0", &fw0) || upload(s, s->v1, "1.0.0", &fw1) ||
        upload(s, s->v2, "1.1.0", &fw2))
        return -1;
    s->fw0 = fw0;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s->pid);
    if (setup_effort)
        snprintf(effort, sizeof(effort), ",\"effort\":\"%s\"", setup_effort);
    /* Small blocks, so that power cuts resume mid-package. */
    snprintf(body, sizeof(body),
             "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld,\"block_size\":4096%s}",
             (long long)fw1, (long long)fw2, effort);
    if (admin("POST", path, body, 0, &j) != 202)
        return -1;
    s->pkg_diff = data_int(j, "package_id");
    job1 = data_int(j, "job_id");
    json_decref(j);
    snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld,\"block_size\":16384%s}",
             (long long)fw2, effort);
    if (admin("POST", path, body, 0, &j) != 202)
        return -1;
    s->pkg_full = data_int(j, "package_id");
    job2 = data_int(j, "job_id");
    json_decref(j);
    if (wait_job(job1) || wait_job(job2))
        return -1;
    CHECK(pkg_shows(s->pkg_diff, "effort", setup_effort ? setup_effort : "best"));
    CHECK(pkg_shows(s->pkg_full, "effort", setup_effort ? setup_effort : "best"));

    /* 10% of the fleet runs 0.9.0, for which only the full package fits. */
    s->nb = n / 10;
    s->na = n - s->nb;
    s->ids_a = calloc(s->na + 1, sizeof(int64_t));
    s->ids_b = calloc(s->nb + 1, sizeof(int64_t));
    if (!s->ids_a || !s->ids_b)
        return -1;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/devices", (long long)s->pid);
    for (unsigned i = 0; i <= n; i++) {
        snprintf(body, sizeof(body), "{\"name\":\"dev-%05u\",\"manuf\":\"101\",\"model\":\"10101\"}", i);
        if (admin("POST", path, body, 0, &j) != 201)
            return -1;
        if (i == n)
            s->black = data_int(j, "id");
        else if (i < s->na)
            s->ids_a[i] = data_int(j, "id");
        else
            s->ids_b[i - s->na] = data_int(j, "id");
        json_decref(j);
    }
    snprintf(path, sizeof(path), "/api/v1/products/%lld/groups", (long long)s->pid);
    if (admin("POST", path, "{\"name\":\"all\",\"type\":\"formal\"}", 0, &j) != 201)
        return -1;
    s->group = data_int(j, "id");
    json_decref(j);
    /* Group: population A plus the blacklisted device. */
    j = json_object();
    ids = json_array();
    for (unsigned i = 0; i < s->na; i++)
        json_array_append_new(ids, json_integer(s->ids_a[i]));
    json_array_append_new(ids, json_integer(s->black));
    json_object_set_new(j, "add", ids);
    {
        char *txt = json_dumps(j, JSON_COMPACT);
        snprintf(path, sizeof(path), "/api/v1/groups/%lld/members", (long long)s->group);
        CHECK(admin("POST", path, txt, 0, NULL) == 200);
        free(txt);
    }
    json_decref(j);
    /* Task: the group, population B by id, the extra device blacklisted. */
    j = json_pack("{sI,si,si,s[I],s[I],ss}", "package_id", (json_int_t)s->pkg_diff,
                  "retry", 5, "interval", 1, "groups", (json_int_t)s->group,
                  "blacklist", (json_int_t)s->black, "name", "fleet task");
    ids = json_array();
    for (unsigned i = 0; i < s->nb; i++)
        json_array_append_new(ids, json_integer(s->ids_b[i]));
    json_object_set_new(j, "devices", ids);
    {
        char *txt = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        j = NULL;
        snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s->pid);
        if (admin("POST", path, txt, 0, &j) != 201) {
            free(txt);
            return -1;
        }
        free(txt);
    }
    s->task = data_int(j, "id");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)s->task);
    return admin("POST", path, NULL, 0, NULL) == 200 ? 0 : -1;
}

static void scenario_free(scenario *s)
{
    free(s->v0);
    free(s->v1);
    free(s->v2);
    free(s->ids_a);
    free(s->ids_b);
    memset(s, 0, sizeof(*s));
}

/* setup_steps, leaving nothing allocated when it fails (a later
 * scenario_free is harmless either way). */
static int setup(scenario *s, unsigned n)
{
    if (setup_steps(s, n) == 0)
        return 0;
    scenario_free(s);
    return -1;
}

static void fleet_cfg(scenario *s, od_srv_fleet_cfg *c, unsigned threads, int faults)
{
    memset(c, 0, sizeof(*c));
    c->port = port;
    c->io = cli_io;
    c->product_id = s->pid;
    c->product_key = s->key;
    c->pops[0] = (od_srv_fleet_pop){s->ids_a, s->na, s->v1, s->len, "1.0.0"};
    c->pops[1] = (od_srv_fleet_pop){s->ids_b, s->nb, s->v0, s->len, "0.9.0"};
    c->npops = 2;
    c->new_img = s->v2;
    c->new_len = s->len;
    c->new_version = "1.1.0";
    c->threads = threads;
    c->chunk = 1024;
    c->jitter_ms = 20;
    c->poll_ms = 20;
    c->deadline_s = 150;
    if (faults) {
        c->drop_permille = 20;
        c->corrupt_permille = 10;
        c->powercut_permille = 10;
    }
    c->seed = 7;
}

/* Compares the fleet's view with the server's, device by device. */
static void verify(scenario *s, const od_srv_fleet_result *r)
{
    char path[80];
    json_t *j = NULL, *d, *row;
    size_t i;
    unsigned ok_rows = 0;
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s->task);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    d = json_object_get(j, "data");
    CHECK(json_integer_value(json_object_get(d, "total")) == (json_int_t)(s->na + s->nb));
    CHECK(json_real_value(json_object_get(d, "success_rate")) == 1.0);
    CHECK(!strcmp(json_string_value(json_object_get(d, "state")), "completed"));
    json_array_foreach(json_object_get(d, "devices"), i, row) {
        const char *st = json_string_value(json_object_get(row, "state"));
        CHECK(json_integer_value(json_object_get(row, "device_id")) != s->black);
        if (st && !strcmp(st, "succeeded"))
            ok_rows++;
    }
    CHECK(ok_rows == r->succeeded);
    CHECK(r->bad_image == 0);
    fprintf(stderr, "server: %u/%u succeeded, success_rate %.3f\n", ok_rows,
            s->na + s->nb, json_real_value(json_object_get(d, "success_rate")));
    json_decref(j);
    /* Devices now report 1.1.0. */
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)s->ids_a[0]);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "data"), "s_version")),
                  "1.1.0"));
    json_decref(j);
}

static void print_result(const char *what, const od_srv_fleet_result *r)
{
    fprintf(stderr,
            "%s: %u devices, %u succeeded, %u failed, %.2f s, %llu requests, %llu bytes,"
            " drops %llu, corrupt %llu, power cuts %llu, resumes %llu, paused waits %llu\n",
            what, r->devices, r->succeeded, r->failed, r->seconds,
            (unsigned long long)r->requests, (unsigned long long)r->bytes,
            (unsigned long long)r->drops, (unsigned long long)r->corrupts,
            (unsigned long long)r->powercuts, (unsigned long long)r->resumes,
            (unsigned long long)r->paused_waits);
}

typedef struct bg {
    od_srv_fleet_cfg cfg;
    od_srv_fleet_result res;
    pthread_t th;
} bg;

static void *bg_main(void *arg)
{
    bg *b = arg;
    od_srv_fleet_run(&b->cfg, &b->res);
    return NULL;
}

static int test_flow(unsigned n)
{
    scenario s;
    od_srv_fleet_cfg c;
    od_srv_fleet_result r;
    char path[80];
    json_t *j = NULL;
    if (setup(&s, n) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    fleet_cfg(&s, &c, 16, 1);
    CHECK(od_srv_fleet_run(&c, &r) == 0);
    print_result("flow", &r);
    CHECK(r.succeeded == n);
    /* Devices cut off mid-package went on from their saved block. */
    CHECK(r.resumes > 0);
    verify(&s, &r);
    /* CSV export: header plus one line per device. */
    {
        od_srv_hcli cl;
        od_srv_hresp h;
        unsigned lines = 0;
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/export.csv", (long long)s.task);
        cli_init(&cl);
        CHECK(od_srv_hcli_request(&cl, "GET", path, "Authorization: Bearer " ADMIN "\r\n",
                                  NULL, 0, &h) == 0);
        for (size_t i = 0; i < h.body_len; i++)
            lines += h.body[i] == '\n';
        CHECK(h.status == 200 && lines == n + 1);
        od_srv_hresp_free(&h);
        od_srv_hcli_close(&cl);
    }
    /* Completed tasks can be deleted; then their package can be too. */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    CHECK(admin("DELETE", path, NULL, 0, &j) == 200);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)s.pkg_full);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
    od_srv_fleet_free(&r);
    scenario_free(&s);
    return 0;
}

static int test_pause(unsigned n)
{
    scenario s;
    bg b;
    char path[80];
    json_t *j = NULL;
    if (setup(&s, n) != 0)
        return 1;
    fleet_cfg(&s, &b.cfg, 16, 0);
    b.cfg.chunk = 512; /* more requests per device: a wider window to pause in */
    pthread_create(&b.th, NULL, bg_main, &b);
    for (int i = 0; i < 2000 && od_srv_fleet_started() < n / 4; i++)
        sleep_ms(2);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/pause", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    CHECK(admin("POST", path, NULL, 0, NULL) == 409); /* not upgrading now */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    admin("GET", path, NULL, 0, &j);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "data"), "state")),
                  "paused"));
    fprintf(stderr, "paused with %lld/%u succeeded\n",
            (long long)data_int(j, "succeeded"), n);
    CHECK(data_int(j, "succeeded") < (json_int_t)n);
    json_decref(j);
    sleep_ms(700);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    pthread_join(b.th, NULL);
    print_result("pause", &b.res);
    CHECK(b.res.paused_waits > 0);
    CHECK(b.res.succeeded == n);
    verify(&s, &b.res);
    od_srv_fleet_free(&b.res);
    scenario_free(&s);
    return 0;
}

/* Runs sql on the database in dir while no server has it open: 0, or -1. */
static int db_exec(const char *dir, const char *sql)
{
    char path[600];
    sqlite3 *db;
    int rc;
    snprintf(path, sizeof(path), "%s/otadelta.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The packages table as the first release created it, before the codec,
 * filter and effort columns, and the products table as it was before
 * users: the server must add the columns and the users table when it
 * opens the file. */
/* Whether the database and its -wal/-shm (where they exist) are for the
 * server's user alone: they hold every key. */
static int db_private(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[sizeof(data_dir) + 20];
    struct stat sb;
    int ok = 1;
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/otadelta.db%s", data_dir, suffix[i]);
        if (stat(p, &sb) == 0 && (sb.st_mode & 077)) {
            fprintf(stderr, "  %s has mode %03o\n", p, (unsigned)(sb.st_mode & 0777));
            ok = 0;
        } else if (i == 0 && stat(p, &sb) != 0) {
            ok = 0;
        }
    }
    return ok;
}

static int make_old_db(const char *dir)
{
    return db_exec(dir,
                   "CREATE TABLE products(id INTEGER PRIMARY KEY,"
                   " name TEXT NOT NULL UNIQUE, access_key TEXT NOT NULL,"
                   " created INTEGER NOT NULL);"
                   "INSERT INTO products VALUES(40, 'old-product',"
                   " 'KuF3NT/jUBJ62LNBB/A8XZA9CqS3Cu79B/ABmfA1UCw=', 1);"
                   "CREATE TABLE packages(id INTEGER PRIMARY KEY,"
                   " product_id INTEGER NOT NULL REFERENCES products(id), kind INTEGER NOT NULL,"
                   " component INTEGER NOT NULL, source_fw INTEGER, target_fw INTEGER NOT NULL,"
                   " source_version TEXT NOT NULL, target_version TEXT NOT NULL,"
                   " ram_budget INTEGER NOT NULL, status INTEGER NOT NULL, size INTEGER NOT NULL"
                   " DEFAULT 0, md5 TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT '',"
                   " file TEXT NOT NULL DEFAULT '', error TEXT, created INTEGER NOT NULL,"
                   " block_size INTEGER NOT NULL DEFAULT 0);"
                   /* A row of its own, which must survive the rebuild
                    * that makes ids never reused. */
                   "INSERT INTO packages(id, product_id, kind, component, target_fw,"
                   " source_version, target_version, ram_budget, status, error, created)"
                   " VALUES(50, 999, 1, 2, 999, '', '9.9', 16384, 2, 'old', 1);");
}

/* Stops the server, runs sql on its database, as a release before `what`
 * left it, and starts the server on it: 0, or -1 (said) when the server
 * does not start, as the upgrade then failed. */
static int restart_on(const char *sql, const char *what)
{
    CHECK(server_stop(SIGTERM) == 0);
    CHECK(db_exec(data_dir, sql) == 0);
    if (server_start(0) == 0)
        return 0;
    fprintf(stderr, "FAIL migrate: the server did not start on a database from before %s\n",
            what);
    return -1;
}

/* A database from before the codec/filter/effort columns: the whole setup
 * (uploads, package generation, a task) works on it. */
static int test_migrate(void)
{
    scenario s;
    json_t *j = NULL;
    char path[80];
    if (setup(&s, 2) != 0) {
        fprintf(stderr, "setup on an old database failed\n");
        return 1;
    }
    /* The old database was readable by all (main made it 0644): the
     * server narrowed it. */
    CHECK(db_private());
    CHECK(pkg_shows(s.pkg_diff, "codec", "lzma"));
    /* Tables added since (push notifications) exist too. */
    snprintf(path, sizeof(path), "/api/v1/products/%lld/push", (long long)s.pid);
    CHECK(admin("GET", path, NULL, 0, NULL) == 200);
    /* The old row kept its id through the rebuild, and reads back with
     * the added columns' defaults. */
    CHECK(pkg_shows(50, "target_version", "9.9"));
    CHECK(pkg_shows(50, "codec", "lzma") && pkg_shows(50, "filter", "auto"));
    CHECK(pkg_shows(50, "effort", "best"));
    /* Ids are never reused: the newest package and task, deleted, do not
     * come back under their ids (push receivers key on the task id). */
    {
        char body[120];
        int64_t pkg[2], task[2];
        snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld}",
                 (long long)s.fw0);
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
            CHECK(admin("POST", path, body, 0, &j) == 202);
            pkg[i] = data_int(j, "package_id");
            CHECK(wait_job(data_int(j, "job_id")) == 0);
            json_decref(j);
            snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s.pid);
            snprintf(body + 60, sizeof(body) - 60, "{\"package_id\":%lld}", (long long)pkg[i]);
            CHECK(admin("POST", path, body + 60, 0, &j) == 201);
            task[i] = data_int(j, "id");
            json_decref(j);
            snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task[i]);
            CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
            snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)pkg[i]);
            CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
        }
        fprintf(stderr, "  ids after deletes: packages %lld then %lld, tasks %lld then %lld\n",
                (long long)pkg[0], (long long)pkg[1], (long long)task[0], (long long)task[1]);
        CHECK(pkg[1] > pkg[0] && task[1] > task[0]);
    }
    /* A database of the release before effort: its tables already have
     * AUTOINCREMENT, so no rebuild runs and the column must come from the
     * added columns alone. That release's rows read back as best. */
    if (restart_on("ALTER TABLE packages DROP COLUMN effort;"
                   "INSERT INTO packages(id, product_id, kind, component, target_fw,"
                   " source_version, target_version, ram_budget, status, error, created,"
                   " codec, filter) VALUES(60, 999, 1, 2, 999, '', '9.10', 16384, 2, 'old', 1,"
                   " 1, 0);",
                   "effort") != 0) {
        scenario_free(&s);
        return 1;
    }
    CHECK(pkg_shows(60, "codec", "deflate") && pkg_shows(60, "filter", "none"));
    CHECK(pkg_shows(60, "effort", "best") && pkg_shows(s.pkg_diff, "effort", "best"));
    /* The product from before users kept its row, without an owner, and
     * can be given to a user of the users table the server added. */
    CHECK(admin("GET", "/api/v1/products/40", NULL, 0, &j) == 200);
    CHECK(!strcmp(dstr(json_object_get(j, "data"), "name"), "old-product"));
    json_decref(j);
    j = NULL;
    CHECK(owner_shows(40, 0) && owner_shows(s.pid, 0));
    {
        char body[64];
        int64_t uid = create_keyed("/api/v1/users", "{\"name\":\"old-owner\"}", NULL);
        CHECK(uid > 0);
        snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)uid);
        CHECK(owner_put(40, body) == 200 && owner_shows(40, uid));
        CHECK(owner_put(40, "{\"user_id\":999999}") == 404 && owner_shows(40, uid));
    }
    {
        char body[120];
        snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld,\"effort\":\"fast\"}",
                 (long long)s.fw0);
        snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
        CHECK(admin("POST", path, body, 0, &j) == 202);
        CHECK(wait_job(data_int(j, "job_id")) == 0);
        CHECK(pkg_shows(data_int(j, "package_id"), "effort", "fast"));
        json_decref(j);
    }
    /* A database of the release before users could be deleted: its users
     * table reuses ids. The rebuild keeps the rows and the owner (the
     * products' foreign key still names users: a user that exists can be
     * given a product, one that does not is 404), and the largest id,
     * deleted, does not come back. */
    if (restart_on("CREATE TABLE users_prev(id INTEGER PRIMARY KEY,"
                   " name TEXT NOT NULL UNIQUE, access_key TEXT NOT NULL,"
                   " created INTEGER NOT NULL);"
                   "INSERT INTO users_prev SELECT id, name, access_key, created FROM users;"
                   "DROP TABLE users; ALTER TABLE users_prev RENAME TO users;"
                   "INSERT INTO users VALUES(70, 'last-user',"
                   " 'KuF3NT/jUBJ62LNBB/A8XZA9CqS3Cu79B/ABmfA1UCw=', 1);",
                   "user deletion") != 0) {
        scenario_free(&s);
        return 1;
    }
    {
        int64_t uid, next;
        char body[64];
        j = NULL;
        CHECK(admin("GET", "/api/v1/products/40", NULL, 0, &j) == 200);
        uid = data_int(j, "user_id");
        json_decref(j);
        CHECK(uid > 0 && owner_shows(40, uid));
        CHECK(owner_put(40, "{\"user_id\":999999}") == 404 && owner_shows(40, uid));
        CHECK(owner_put(40, "{\"user_id\":70}") == 200 && owner_shows(40, 70));
        CHECK(admin("DELETE", "/api/v1/users/70", NULL, 0, NULL) == 409);
        snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)uid);
        CHECK(owner_put(40, body) == 200);
        CHECK(admin("DELETE", "/api/v1/users/70", NULL, 0, NULL) == 200);
        next = create_keyed("/api/v1/users", "{\"name\":\"after-upgrade\"}", NULL);
        fprintf(stderr, "  user ids after the upgrade: 70 deleted, then %lld\n", (long long)next);
        CHECK(next > 70);
        CHECK(owner_put(40, "{\"user_id\":70}") == 404 && owner_shows(40, uid));
    }
    scenario_free(&s);
    return 0;
}

static int test_crash(unsigned n)
{
    scenario s;
    bg b;
    uint16_t p;
    int64_t big_job;
    char path[120], body[160];
    json_t *j = NULL;
    if (setup(&s, n) != 0)
        return 1;
    fleet_cfg(&s, &b.cfg, 16, 0);
    b.cfg.chunk = 512;
    /* A generation job that is running when the server dies. */
    {
        size_t big = 4u << 20;
        uint8_t *img = malloc(big);
        int64_t fw_big;
        uint32_t x = 1;
        for (size_t i = 0; i < big; i++) {
            x = x * 1103515245u + 12345u;
            img[i] = (uint8_t)(x >> 16);
        }
        s.len = big;
        CHECK(upload(&s, img, "2.0.0", &fw_big) == 0);
        s.len = 64 * 1024;
        free(img);
        snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
        snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld}", (long long)fw_big);
        CHECK(admin("POST", path, body, 0, &j) == 202);
        big_job = data_int(j, "job_id");
        json_decref(j);
    }
    pthread_create(&b.th, NULL, bg_main, &b);
    for (int i = 0; i < 2000 && od_srv_fleet_started() < n / 3; i++)
        sleep_ms(2);
    p = port;
    CHECK(server_stop(SIGKILL) == 128 + SIGKILL);
    fprintf(stderr, "killed the server with %u devices started\n", od_srv_fleet_started());
    sleep_ms(300);
    CHECK(server_start(p) == 0);
    pthread_join(b.th, NULL);
    print_result("crash", &b.res);
    CHECK(b.res.succeeded == n);
    verify(&s, &b.res);
    CHECK(wait_job(big_job) == 0); /* re-queued after the restart, then done */
    od_srv_fleet_free(&b.res);
    scenario_free(&s);
    return 0;
}

/* The status of a job ("" if it cannot be read). */
static void job_status(int64_t job, char *out, size_t cap)
{
    char path[64];
    json_t *j = NULL;
    const char *st;
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", (long long)job);
    admin("GET", path, NULL, 0, &j);
    st = json_string_value(json_object_get(json_object_get(j, "data"), "status"));
    snprintf(out, cap, "%s", st ? st : "");
    json_decref(j);
}

/* SIGTERM while a long generation runs: the server cuts it short instead
 * of waiting (so after a restart it is not done yet) and does not fail
 * it; the next start runs it again to the end. */
/*
 * Uploads two 24 MiB images to s->pid as versions va and vb (ids into *fa,
 * *fb): about 2 s of generation each way here, far longer than a stop or
 * a deadline sweep takes. s->len is left as it was. 0, or -1.
 */
static int upload_big_pair(scenario *s, const char *va, const char *vb, int64_t *fa,
                           int64_t *fb)
{
    size_t len = s->len;
    uint8_t *a, *b;
    uint32_t x = 7;
    int r;

    s->len = 24u << 20;
    a = malloc(s->len);
    b = malloc(s->len);
    r = a && b ? 0 : -1;
    for (size_t i = 0; r == 0 && i < s->len; i++) {
        x = x * 1103515245u + 12345u;
        a[i] = (uint8_t)(x >> 16);
    }
    if (r == 0) {
        memcpy(b, a, s->len);
        for (size_t i = 0; i < s->len; i += 4099)
            b[i] ^= 0x33;
        r = upload(s, a, va, fa) == 0 && upload(s, b, vb, fb) == 0 ? 0 : -1;
    }
    free(a);
    free(b);
    s->len = len;
    return r;
}

static int test_stop(void)
{
    scenario s;
    json_t *j = NULL;
    int64_t fw_a, fw_b, job;
    char path[120], body[200], st[32] = "";

    memset(&s, 0, sizeof(s));
    /* Clients that go away mid-request (a device losing its link) are
     * routine on cellular fleets: libmicrohttpd's line for each is not
     * passed on to the log. */
    for (int i = 0; i < 3; i++) {
        static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b";
        int fd = tcp_open();
        CHECK(fd >= 0 && write(fd, half, sizeof(half) - 1) == (ssize_t)sizeof(half) - 1);
        sleep_ms(50);
        if (fd >= 0)
            close(fd);
    }
    sleep_ms(300);
    {
        char *log = read_text(server_err_path);
        CHECK(log && !strstr(log, "closed by remote side"));
        free(log);
    }
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"stop\"}", 0, &j) == 201);
    s.pid = data_int(j, "id");
    json_decref(j);
    CHECK(upload_big_pair(&s, "1.0.0", "1.1.0", &fw_a, &fw_b) == 0);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
    snprintf(body, sizeof(body), "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld}",
             (long long)fw_a, (long long)fw_b);
    CHECK(admin("POST", path, body, 0, &j) == 202);
    job = data_int(j, "job_id");
    json_decref(j);
    for (int i = 0; i < 400 && strcmp(st, "running") != 0; i++) {
        job_status(job, st, sizeof(st));
        if (strcmp(st, "running") != 0)
            sleep_ms(5);
    }
    CHECK(!strcmp(st, "running"));
    /* A second server on the same directory is refused, naming the first,
     * and takes nothing from it: the job stays the first one's. */
    {
        const char *none[] = {NULL};
        char want[400];
        snprintf(want, sizeof(want), "data directory %s is in use by another otadelta-server"
                 " (pid %ld)", data_dir, (long)server_pid);
        start_refused(data_dir, none, want);
        job_status(job, st, sizeof(st));
        CHECK(!strcmp(st, "running"));
    }
    CHECK(server_stop(SIGTERM) == 0);
    CHECK(server_start(0) == 0);
    job_status(job, st, sizeof(st));
    CHECK(!strcmp(st, "queued") || !strcmp(st, "running"));
    CHECK(wait_job(job) == 0);
    /* A package deleted while it is generated: the job goes at once and
     * the worker stops instead of finishing a generation nobody wants. */
    {
        char want[96], pkgpath[64];
        int64_t pkg;
        snprintf(body, sizeof(body), "{\"type\":\"diff\",\"source_fw\":%lld,"
                 "\"target_fw\":%lld}", (long long)fw_b, (long long)fw_a);
        CHECK(admin("POST", path, body, 0, &j) == 202);
        job = data_int(j, "job_id");
        pkg = data_int(j, "package_id");
        json_decref(j);
        st[0] = '\0';
        for (int i = 0; i < 400 && strcmp(st, "running") != 0; i++) {
            job_status(job, st, sizeof(st));
            if (strcmp(st, "running") != 0)
                sleep_ms(5);
        }
        CHECK(!strcmp(st, "running"));
        snprintf(pkgpath, sizeof(pkgpath), "/api/v1/packages/%lld", (long long)pkg);
        CHECK(admin("DELETE", pkgpath, NULL, 0, NULL) == 200);
        snprintf(want, sizeof(want), "job %lld cancelled: its package was deleted",
                 (long long)job);
        CHECK(server_said(want));
        CHECK(admin("GET", pkgpath, NULL, 0, NULL) == 404);
        snprintf(pkgpath, sizeof(pkgpath), "/api/v1/jobs/%lld", (long long)job);
        CHECK(admin("GET", pkgpath, NULL, 0, NULL) == 404);
    }
    return 0;
}

/* Open descriptors of the server process on its database files
 * (otadelta.db and its -wal/-shm), or -1 when /proc cannot say. */
static int db_fds(void)
{
    char dir[64], link[384], target[512];
    struct dirent *e;
    DIR *d;
    int n = 0;
    snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)server_pid);
    if (!(d = opendir(dir)))
        return -1;
    while ((e = readdir(d)) != NULL) {
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strstr(target, "/otadelta.db"))
            n++;
    }
    closedir(d);
    return n;
}

/* The generator reports progress from its own short-lived threads; the
 * server's progress callback writes it to the store, whose connections
 * are per thread. Generating packages must not leave a connection (two
 * or three descriptors and its cache) behind per thread that reported. */
static int test_conns(void)
{
    scenario s;
    json_t *j = NULL;
    int64_t fw1, fw2, job = 0;
    char path[120], body[200];
    int before = -1, after;

    memset(&s, 0, sizeof(s));
    s.len = 256 * 1024;
    s.v0 = malloc(s.len);
    s.v1 = malloc(s.len);
    s.v2 = malloc(s.len);
    if (!s.v0 || !s.v1 || !s.v2) {
        scenario_free(&s);
        return 1;
    }
    make_images(s.v0, s.v1, s.v2, s.len);
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"conns\"}", 0, &j) == 201);
    s.pid = data_int(j, "id");
    json_decref(j);
    CHECK(upload(&s, s.v1, "1.0.0", &fw1) == 0);
    CHECK(upload(&s, s.v2, "1.1.0", &fw2) == 0);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
    snprintf(body, sizeof(body),
             "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld,\"block_size\":16384}",
             (long long)fw1, (long long)fw2);
    /* One job first, so every long-lived thread has its connection. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < (round ? 10 : 1); i++) {
            j = NULL;
            CHECK(admin("POST", path, body, 0, &j) == 202);
            job = data_int(j, "job_id");
            json_decref(j);
            CHECK(wait_job(job) == 0);
        }
        if (round == 0)
            before = db_fds();
    }
    after = db_fds();
    if (before < 0 || after < 0) {
        fprintf(stderr, "note: /proc/PID/fd unreadable, descriptors not counted\n");
    } else {
        fprintf(stderr, "server descriptors on the database: %d before, %d after 10 jobs\n",
                before, after);
        /* A little slack for an HTTP thread serving its first request. */
        CHECK(after <= before + 3);
    }
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */

/* Sends a device-API request with Authorization (if auth), one more
 * header line (if extra, without CRLF) and a body (if body). Returns the
 * HTTP status and the response in *r, or -1 on a network error. */
static int dev_send(const char *method, const char *path, const char *auth,
                    const char *extra, const char *body, od_srv_hresp *r)
{
    od_srv_hcli c;
    char hdr[1024];
    int rc;
    snprintf(hdr, sizeof(hdr), "%s%s%s%s%s", auth ? "Authorization: " : "", auth ? auth : "",
             auth ? "\r\n" : "", extra ? extra : "", extra ? "\r\n" : "");
    cli_init(&c);
    rc = od_srv_hcli_request(&c, method, path, hdr, body, body ? strlen(body) : 0, r);
    od_srv_hcli_close(&c);
    return rc == 0 ? r->status : -1;
}

/* The errno of a JSON reply (-1000 if it is not one); *data, if wanted,
 * a new reference to its data member (NULL if none). */
static int reply_eno(const od_srv_hresp *r, json_t **data)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)r->body, r->body_len, 0, &e);
    int eno = j ? (int)json_integer_value(json_object_get(j, "errno")) : -1000;
    if (data) {
        *data = json_object_get(j, "data");
        json_incref(*data);
    }
    json_decref(j);
    return eno;
}

/* A raw request (req, a whole message): the status, the errno of a JSON
 * reply into *eno (-1000 if none). */
static int raw_call(const char *req, int *eno)
{
    od_srv_hcli c;
    od_srv_hresp r;
    int st;
    *eno = -1000;
    cli_init(&c);
    if (od_srv_hcli_raw(&c, req, strlen(req), &r) != 0)
        return -1;
    st = r.status;
    *eno = reply_eno(&r, NULL);
    od_srv_hresp_free(&r);
    return st;
}

static int raw_status(const char *req)
{
    int eno;
    return raw_call(req, &eno);
}

static int dev_get(const char *path, const char *auth, const char *range, int *eno,
                   char *cr, size_t cr_size)
{
    od_srv_hresp r;
    int st = dev_send("GET", path, auth, range, NULL, &r);
    if (st < 0)
        return -1;
    if (eno)
        *eno = reply_eno(&r, NULL);
    if (cr) {
        cr[0] = '\0';
        od_srv_hresp_header(&r, "Content-Range", cr, cr_size);
    }
    od_srv_hresp_free(&r);
    return st;
}

/* A device-API call with a body (may be NULL): the HTTP status, *eno the
 * reply's errno, *data (if wanted) its data member, for the caller to
 * json_decref. */
static int dev_call(const char *method, const char *path, const char *auth, const char *body,
                    int *eno, json_t **data)
{
    od_srv_hresp r;
    int st = dev_send(method, path, auth, NULL, body, &r);
    *eno = -2000;
    if (data)
        *data = NULL;
    if (st < 0)
        return -1;
    *eno = reply_eno(&r, data);
    od_srv_hresp_free(&r);
    return st;
}

/* Creates (does not start) a task of package pkg for device dev alone:
 * its id, or 0. */
static int64_t task_for(const scenario *s, int64_t pkg, int64_t dev)
{
    char path[80], body[96];
    json_t *j = NULL;
    int64_t id = 0;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s->pid);
    snprintf(body, sizeof(body), "{\"package_id\":%lld,\"devices\":[%lld]}", (long long)pkg,
             (long long)dev);
    if (admin("POST", path, body, 0, &j) == 201)
        id = data_int(j, "id");
    json_decref(j);
    return id;
}

/* Waits until the wall clock reaches Unix second t. */
static void wait_for_second(int64_t t)
{
    while ((int64_t)time(NULL) < t)
        sleep_ms(5);
}

/*
 * The deadline's own second is still open (the devices and the sweep see
 * it so), so a first start in it is accepted. A task on dev with package
 * pkg is created through tasks_path for the next second, and started as
 * soon as that second begins. A refusal proves the bug only if the reply
 * came within that second too; a machine too slow for that tries again.
 * The task is cancelled after, so dev is free for the next one.
 */
static void start_in_deadline_second(const char *tasks_path, int64_t pkg, int64_t dev)
{
    char body[200], path[80];
    int64_t task = 0, dl;
    int st = 0, tries;
    json_t *j = NULL;

    for (tries = 0; tries < 3; tries++) {
        dl = (int64_t)time(NULL) + 1;
        snprintf(body, sizeof(body), "{\"package_id\":%lld,\"devices\":[%lld],\"deadline\":%lld}",
                 (long long)pkg, (long long)dev, (long long)dl);
        CHECK(admin("POST", tasks_path, body, 0, &j) == 201);
        task = data_int(j, "id");
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)task);
        wait_for_second(dl);
        st = admin("POST", path, NULL, 0, NULL);
        if (st == 200 || (int64_t)time(NULL) == dl)
            break;
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task);
        CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
    }
    fprintf(stderr, "start in the deadline's second: HTTP %d (try %d)\n", st, tries + 1);
    CHECK(tries < 3 && st == 200);
    /* Cancelled, or completed already by the sweep once the second was
     * over: either way the device's row is over. */
    if (st == 200) {
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/cancel", (long long)task);
        admin("POST", path, NULL, 0, NULL);
    }
}

/* One side of the package-create / firmware-delete race: the HTTP status
 * into *st once both threads are at the start line. */
typedef struct race_arg {
    const char *method, *path, *body;
    pthread_barrier_t *go;
    int st;
} race_arg;

static void *race_side(void *p)
{
    race_arg *a = p;
    pthread_barrier_wait(a->go);
    a->st = admin(a->method, a->path, a->body, 0, NULL);
    return NULL;
}

static int test_badinput(void)
{
    scenario s;
    char tok[OD_SRV_TOKEN_MAX], res[64], path[200], cr[96], *big;
    int eno;
    json_t *j = NULL;
    int64_t dev;

    if (setup(&s, 2) != 0)
        return 1;
    dev = s.ids_a[0];
    /* Admin authentication. */
    CHECK(raw_status("GET /api/v1/products HTTP/1.1\r\nHost: x\r\n\r\n") == 401);
    CHECK(raw_status("GET /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n") == 401);
    /* A body that is no JSON object says why, in jansson's words. */
    {
        static const char *const bodies[][2] = {
            {"{\"type\":\"full\",\"type\":\"diff\"}", "duplicate object key"},
            {"{\"target_fw\":99999999999999999999}", "too big"},
            {"[1]", "not an array"},
            {"{\"name\":", "not valid JSON"}};
        char pp[96];
        const char *err;
        snprintf(pp, sizeof(pp), "/api/v1/products/%lld/packages", (long long)s.pid);
        for (size_t k = 0; k < 4; k++) {
            CHECK(admin("POST", pp, bodies[k][0], 0, &j) == 400);
            err = json_string_value(json_object_get(j, "error"));
            if (!err || !strstr(err, bodies[k][1]))
                fprintf(stderr, "body %s: %s\n", bodies[k][0], err ? err : "(none)");
            CHECK(err && strstr(err, bodies[k][1]));
            json_decref(j);
        }
    }
    /* A route's path with a method it does not take is 405 whatever the
     * body; a route that takes a body and got none is 400. */
    {
        char pp[96];
        snprintf(pp, sizeof(pp), "/api/v1/products/%lld", (long long)s.pid);
        CHECK(admin("POST", pp, NULL, 0, NULL) == 405);
        CHECK(admin("PUT", pp, "{}", 0, NULL) == 405);
        snprintf(pp, sizeof(pp), "/api/v1/products/%lld/devices", (long long)s.pid);
        CHECK(admin("POST", pp, NULL, 0, NULL) == 400);
    }
    /* A product's lists: 404 for a product that does not exist, not an
     * empty list that says it has none. */
    {
        static const char *const what[] = {"firmware", "packages", "devices", "groups", "tasks"};
        char lp[96];
        for (size_t k = 0; k < 5; k++) {
            snprintf(lp, sizeof(lp), "/api/v1/products/999999/%s", what[k]);
            CHECK(admin("GET", lp, NULL, 0, NULL) == 404);
            snprintf(lp, sizeof(lp), "/api/v1/products/%lld/%s", (long long)s.pid, what[k]);
            CHECK(admin("GET", lp, NULL, 0, NULL) == 200);
        }
    }
    /* Device names appear in token resources and fuse paths: "." and ".."
     * are refused there; an empty version is "none yet", as the device API
     * reads one. */
    {
        char dp[96];
        snprintf(dp, sizeof(dp), "/api/v1/products/%lld/devices", (long long)s.pid);
        CHECK(admin("POST", dp, "{\"name\":\".\"}", 0, NULL) == 400);
        CHECK(admin("POST", dp, "{\"name\":\"..\"}", 0, NULL) == 400);
        CHECK(admin("POST", dp, "{\"name\":\"...\"}", 0, NULL) == 201);
        CHECK(admin("POST", dp, "{\"name\":\"nover\",\"f_version\":\"\",\"s_version\":\"\"}",
                    0, NULL) == 201);
        CHECK(admin("POST", dp, "{\"name\":\"badver\",\"f_version\":\"1 0\"}", 0, NULL) == 400);
    }
    /* Task bodies: a misspelt member is refused, not ignored (an ignored
     * "device" leaves the scope empty: the whole product); scope ids must
     * be the product's devices and groups; PUT changes only what it names. */
    {
        char tp[96], tb[200], tget[64];
        const char *err;
        int64_t t;
        json_t *d;
        snprintf(tp, sizeof(tp), "/api/v1/products/%lld/tasks", (long long)s.pid);
        static const char *const bad[][2] = {
            {"\"device\"", "unknown member \"device\""},
            {"\"devices\"", "devices: 999999 is not a device of this product"}};
        for (size_t k = 0; k < 2; k++) {
            snprintf(tb, sizeof(tb), "{\"package_id\":%lld,%s:[%lld,999999]}",
                     (long long)s.pkg_full, bad[k][0], (long long)dev);
            CHECK(admin("POST", tp, tb, 0, &j) == 400);
            err = json_string_value(json_object_get(j, "error"));
            CHECK(err && strstr(err, bad[k][1]));
            json_decref(j);
        }
        snprintf(tb, sizeof(tb), "{\"package_id\":%lld,\"groups\":[999999]}",
                 (long long)s.pkg_full);
        CHECK(admin("POST", tp, tb, 0, NULL) == 400);
        snprintf(tb, sizeof(tb), "{\"package_id\":%lld,\"devices\":[%lld],\"retry\":7,"
                 "\"deadline\":1900000000,\"name\":\"first\"}", (long long)s.pkg_full,
                 (long long)dev);
        CHECK(admin("POST", tp, tb, 0, &j) == 201);
        t = data_int(j, "id");
        json_decref(j);
        snprintf(tget, sizeof(tget), "/api/v1/tasks/%lld", (long long)t);
        CHECK(admin("PUT", tget, "{\"name\":\"renamed\"}", 0, NULL) == 200);
        CHECK(admin("GET", tget, NULL, 0, &j) == 200);
        d = json_object_get(j, "data");
        CHECK(!strcmp(dstr(d, "name"), "renamed"));
        CHECK(json_integer_value(json_object_get(d, "retry")) == 7);
        CHECK(json_integer_value(json_object_get(d, "deadline")) == 1900000000);
        CHECK(json_array_size(json_object_get(json_object_get(d, "scope"), "devices")) == 1);
        CHECK(json_integer_value(json_object_get(d, "package_id")) == s.pkg_full);
        json_decref(j);
        CHECK(admin("PUT", tget, "{\"devices\":[],\"retry\":2}", 0, NULL) == 200);
        CHECK(admin("GET", tget, NULL, 0, &j) == 200);
        d = json_object_get(j, "data");
        CHECK(json_array_size(json_object_get(json_object_get(d, "scope"), "devices")) == 0);
        CHECK(json_integer_value(json_object_get(d, "retry")) == 2);
        CHECK(!strcmp(dstr(d, "name"), "renamed"));
        json_decref(j);
        CHECK(admin("PUT", tget, "{\"retries\":2}", 0, NULL) == 400);
        CHECK(admin("PUT", tget, "{\"devices\":[999999]}", 0, NULL) == 400);
        CHECK(admin("DELETE", tget, NULL, 0, NULL) == 200);
    }
    /* A task operation takes no body: with an id that is no id it is no
     * route (404), not a request missing its body (400). */
    CHECK(admin("POST", "/api/v1/tasks/0/start", NULL, 0, NULL) == 404);
    CHECK(admin("POST", "/api/v1/tasks/x/stop", NULL, 0, NULL) == 404);
    /* The scheme is case-insensitive; a 401 names it (RFC 9110). */
    CHECK(raw_status("GET /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: bearer " ADMIN
                     "\r\n\r\n") == 200);
    {
        static const char req[] = "GET /api/v1/products HTTP/1.1\r\nHost: x\r\n\r\n";
        od_srv_hcli c;
        od_srv_hresp r;
        char h[80] = "";
        int got;
        cli_init(&c);
        got = od_srv_hcli_raw(&c, req, sizeof(req) - 1, &r);
        CHECK(got == 0 && r.status == 401 &&
              od_srv_hresp_header(&r, "WWW-Authenticate", h, sizeof(h)) == 0 &&
              !strncmp(h, "Bearer ", 7));
        if (got == 0)
            od_srv_hresp_free(&r);
    }
    /* A form upload is refused (it would store the multipart wrapper as
     * the image), leaving the version free; firmware a package was made
     * from cannot be deleted, other firmware can, and its version is free
     * again. */
    {
        char up[200];
        od_srv_hcli c;
        od_srv_hresp r;
        json_t *pj = NULL;
        int64_t fw, used;
        int got;
        snprintf(up, sizeof(up), "/api/v1/packages/%lld", (long long)s.pkg_diff);
        CHECK(admin("GET", up, NULL, 0, &pj) == 200);
        used = data_int(pj, "source_fw");
        json_decref(pj);
        snprintf(up, sizeof(up), "/api/v1/products/%lld/firmware?version=9.0&component=sota",
                 (long long)s.pid);
        cli_init(&c);
        got = od_srv_hcli_request(&c, "POST", up,
                                  "Authorization: Bearer " ADMIN "\r\n"
                                  "Content-Type: multipart/form-data; boundary=x\r\n",
                                  "--x\r\n\r\nabc\r\n--x--\r\n", 19, &r);
        CHECK(got == 0 && r.status == 415 && strstr((const char *)r.body, "--data-binary"));
        if (got == 0)
            od_srv_hresp_free(&r);
        od_srv_hcli_close(&c);
        CHECK(upload(&s, s.v1, "9.0", &fw) == 0);
        snprintf(up, sizeof(up), "/api/v1/firmware/%lld", (long long)used);
        CHECK(used > 0 && admin("DELETE", up, NULL, 0, NULL) == 409);
        snprintf(up, sizeof(up), "/api/v1/firmware/%lld", (long long)fw);
        CHECK(admin("DELETE", up, NULL, 0, NULL) == 200);
        CHECK(admin("DELETE", up, NULL, 0, NULL) == 404);
        CHECK(upload(&s, s.v1, "9.0", &fw) == 0);
    }
    /* Build outputs are refused with how to convert them, and leave the
     * version free; as_is=1 stores them as they are. */
    {
        static const char hex[] = ":04000000004000209C\n:00000001FF\n";
        static const char elf[] = "\177ELF\001\001\001\0\0\0\0\0\0\0\0\0";
        static const struct {
            const char *body;
            size_t len;
            const char *query, *name;
            int status;
            int64_t pid; /* 0: the test's product */
        } ups[] = {{hex, sizeof(hex) - 1, "", "Intel HEX", 415, 0},
                   /* no such product: said before the contents are judged */
                   {hex, sizeof(hex) - 1, "", "errno", 404, 999999},
                   {elf, sizeof(elf) - 1, "&as_is=0", "ELF", 415, 0},
                   {hex, sizeof(hex) - 1, "&as_is=yes", "as_is must be 0 or 1", 400, 0},
                   {hex, sizeof(hex) - 1, "&as_is", "as_is must be 0 or 1", 400, 0},
                   {hex, sizeof(hex) - 1, "&as_is=1", "\"size\":", 201, 0}};
        size_t i;
        for (i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
            char up[200];
            od_srv_hcli c;
            od_srv_hresp r;
            int got;
            snprintf(up, sizeof(up), "/api/v1/products/%lld/firmware?version=9.1&component=sota%s",
                     (long long)(ups[i].pid ? ups[i].pid : s.pid), ups[i].query);
            cli_init(&c);
            got = od_srv_hcli_request(&c, "POST", up,
                                      "Authorization: Bearer " ADMIN "\r\n"
                                      "Content-Type: application/octet-stream\r\n",
                                      ups[i].body, ups[i].len, &r);
            CHECK(got == 0 && r.status == ups[i].status && strstr((const char *)r.body, ups[i].name));
            if (got == 0 && ups[i].status == 415)
                CHECK(strstr((const char *)r.body, "as_is=1") != NULL);
            if (got == 0)
                od_srv_hresp_free(&r);
            od_srv_hcli_close(&c);
        }
    }
    /* Malformed and wrong-shaped JSON. */
    CHECK(admin("POST", "/api/v1/products", "{\"name\":", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/products", "[1,2]", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/products", "{\"name\":12}", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"a\",\"name\":\"b\"}", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"\"}", 0, NULL) == 400);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s.pid);
    CHECK(admin("POST", path, "{\"package_id\":1,\"retry\":-1}", 0, NULL) == 400);
    CHECK(admin("POST", path, "{\"package_id\":1,\"devices\":[\"x\"]}", 0, NULL) == 400);
    CHECK(admin("POST", path, "{\"package_id\":99999}", 0, NULL) == 404);
    /* Huge bodies: declared and actual. */
    CHECK(raw_status("POST /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                     "\r\nContent-Length: 5000000\r\n\r\n") == 413);
    snprintf(path, sizeof(path),
             "POST /api/v1/products/%lld/firmware?version=9.9.9&component=sota HTTP/1.1\r\n"
             "Host: x\r\nAuthorization: Bearer " ADMIN "\r\nContent-Length: 209715200\r\n\r\n",
             (long long)s.pid);
    CHECK(raw_status(path) == 413);
    /* An upload to a missing product, or with bad arguments, is refused
     * before its body: these declare 50 MiB and send none of it, and the
     * answer comes anyway. */
    {
        static const struct {
            int product, want;
            const char *args;
        } ups[] = {{0, 404, "version=1.0&component=sota"},
                   {1, 400, "version=1%200&component=sota"},
                   {1, 400, "version=1.0&component=sota&as_is=2"}};
        char req[400];
        for (size_t k = 0; k < 3; k++) {
            snprintf(req, sizeof(req),
                     "POST /api/v1/products/%lld/firmware?%s HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer " ADMIN "\r\nContent-Length: 52428800\r\n\r\n",
                     ups[k].product ? (long long)s.pid : 999999LL, ups[k].args);
            CHECK(raw_status(req) == ups[k].want);
        }
    }
    big = malloc(2u << 20);
    memset(big, ' ', 2u << 20);
    big[0] = '{';
    big[(2u << 20) - 1] = '}';
    CHECK(admin("POST", "/api/v1/products", big, 2u << 20, NULL) == 413);
    free(big);
    /* Bad upload parameters. */
    snprintf(path, sizeof(path), "/api/v1/products/%lld/firmware?version=../../x&component=sota",
             (long long)s.pid);
    CHECK(admin("POST", path, "abc", 0, NULL) == 400);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/firmware?version=1.0.0&component=sota",
             (long long)s.pid);
    CHECK(admin("POST", path, "abc", 0, NULL) == 409); /* version exists */
    /* An encoded NUL would cut a value short: refused, nothing stored. */
    snprintf(path, sizeof(path), "/api/v1/products/%lld/firmware?version=3.0.0%%00x&component=sota",
             (long long)s.pid);
    CHECK(admin("POST", path, "abc", 0, NULL) == 400);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/firmware?version=3.0.0&component=sota",
             (long long)s.pid);
    CHECK(admin("POST", path, "abc", 0, NULL) == 201);
    /* Package codec, filter and effort: checked, stored, used. */
    {
        int64_t fa, fb, pk, jb;
        static const char *const key[3] = {"codec", "filter", "effort"};
        /* Members added to a full package (k even) or a diff package (k
         * odd), and what the package record must show. */
        static const char *const extra[6] = {",\"codec\":\"none\"", "", ",\"codec\":\"lzma\"",
                                             ",\"filter\":\"none\"", ",\"effort\":\"fast\"",
                                             ",\"filter\":\"none\",\"effort\":\"fast\""};
        static const char *const want[6][3] = {
            {"none", "auto", "best"}, {"lzma", "auto", "best"}, {"lzma", "auto", "best"},
            {"lzma", "none", "best"}, {"lzma", "auto", "fast"}, {"lzma", "none", "fast"}};
        int64_t size[6] = {0};
        char sha[6][65] = {""};
        /* A target whose difference stream LZMA shrinks: with the few
         * changes of s.v2 it gains nothing, and the generator stores the
         * stream as it is whatever the effort (od_diff.h, codec). */
        uint8_t *w = malloc(s.len);
        CHECK(w != NULL);
        if (w) {
            memcpy(w, s.v2, s.len);
            for (size_t i = 0; i < s.len; i += 61)
                w[i] ^= 0x5A;
        }
        CHECK(upload(&s, s.v1, "2.0.0", &fa) == 0 && w && upload(&s, w, "2.1.0", &fb) == 0);
        free(w);
        snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
        big = malloc(512);
        snprintf(big, 512, "{\"type\":\"full\",\"target_fw\":%lld,\"codec\":\"zstd\"}",
                 (long long)fb);
        CHECK(admin("POST", path, big, 0, NULL) == 400);
        snprintf(big, 512, "{\"type\":\"full\",\"target_fw\":%lld,\"codec\":7}", (long long)fb);
        CHECK(admin("POST", path, big, 0, NULL) == 400);
        snprintf(big, 512, "{\"type\":\"full\",\"target_fw\":%lld,\"filter\":\"thumb\"}",
                 (long long)fb);
        CHECK(admin("POST", path, big, 0, NULL) == 400);
        snprintf(big, 512,
                 "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld,\"filter\":\"arm\"}",
                 (long long)fa, (long long)fb);
        CHECK(admin("POST", path, big, 0, NULL) == 400);
        snprintf(big, 512,
                 "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld,\"effort\":\"slow\"}",
                 (long long)fa, (long long)fb);
        CHECK(admin("POST", path, big, 0, &j) == 400);
        CHECK(strstr(dstr(j, "error"), "effort") != NULL);
        json_decref(j);
        j = NULL;
        snprintf(big, 512, "{\"type\":\"full\",\"target_fw\":%lld,\"effort\":1}", (long long)fb);
        CHECK(admin("POST", path, big, 0, NULL) == 400);
        for (int k = 0; k < 6; k++) {
            if (k % 2 == 0)
                snprintf(big, 512, "{\"type\":\"full\",\"target_fw\":%lld%s}", (long long)fb,
                         extra[k]);
            else
                snprintf(big, 512, "{\"type\":\"diff\",\"source_fw\":%lld,\"target_fw\":%lld%s}",
                         (long long)fa, (long long)fb, extra[k]);
            CHECK(admin("POST", path, big, 0, &j) == 202);
            pk = data_int(j, "package_id");
            jb = data_int(j, "job_id");
            json_decref(j);
            j = NULL;
            CHECK(wait_job(jb) == 0);
            for (int f = 0; f < 3; f++)
                CHECK(pkg_shows(pk, key[f], want[k][f]));
            snprintf(big, 512, "/api/v1/packages/%lld", (long long)pk);
            CHECK(admin("GET", big, NULL, 0, &j) == 200);
            size[k] = data_int(j, "size");
            snprintf(sha[k], sizeof(sha[k]), "%s",
                     dstr(json_object_get(j, "data"), "sha256"));
            json_decref(j);
            j = NULL;
        }
        /* The codec was used: without one the full package is larger than
         * the image, with LZMA smaller. */
        CHECK(size[0] > (int64_t)s.len && size[2] < size[0] && size[2] > 0);
        /* The effort reached the generator: its output is deterministic,
         * so requests that differ in effort alone give other bytes only if
         * it did. Sizes are not compared: od_diff.h's "fast is larger"
         * is about the corpus, not a promise for every pair. */
        CHECK(sha[2][0] && sha[4][0] && strcmp(sha[2], sha[4]) != 0);
        CHECK(sha[3][0] && sha[5][0] && strcmp(sha[3], sha[5]) != 0);
        free(big);
    }
    /* Path traversal. */
    CHECK(raw_status("GET /api/v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(raw_status("GET /ota/south/download/..%2F..%2Fotadelta.db HTTP/1.1\r\nHost: x\r\n\r\n") >= 400);
    CHECK(raw_status("GET /ota/south/download/../../otadelta.db HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    /* A device may be live in one active task per component: starting a
     * second task with it is 409 and names it; the task stays unstarted. */
    {
        int64_t t2 = task_for(&s, s.pkg_diff, dev);
        json_t *msg;
        CHECK(t2 > 0);
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)t2);
        CHECK(admin("POST", path, NULL, 0, &j) == 409);
        msg = json_object_get(j, "error");
        CHECK(json_is_string(msg) && strstr(json_string_value(msg), "already in active task"));
        json_decref(j);
        j = NULL;
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)t2);
        CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
    }
    /* Group type is fixed; a package in an active task cannot go. */
    snprintf(path, sizeof(path), "/api/v1/groups/%lld", (long long)s.group);
    CHECK(admin("PUT", path, "{\"type\":\"test\"}", 0, NULL) == 409);
    snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)s.pkg_diff);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 409);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 409); /* upgrading */
    CHECK(admin("PUT", path, "{\"package_id\":1}", 0, NULL) == 409);

    /* Device tokens. */
    snprintf(res, sizeof(res), "products/%lld", (long long)s.pid);
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=1.0.0", (long long)dev);
    CHECK(dev_get(path, NULL, NULL, &eno, NULL, 0) == 401 && eno == 1);
    od_srv_token_build(s.key, "2018-10-31", res, time(NULL) - 10, OD_SRV_SIG_SHA1, tok, sizeof(tok));
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 401); /* expired */
    od_srv_token_build(s.key, "2018-10-31", res, time(NULL) + 600, OD_SRV_SIG_MD5, tok, sizeof(tok));
    {
        char forged[OD_SRV_TOKEN_MAX];
        char *sig;
        snprintf(forged, sizeof(forged), "%s", tok);
        sig = strstr(forged, "sign=") + 5;
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
        CHECK(dev_get(path, forged, NULL, &eno, NULL, 0) == 401);
        snprintf(forged, sizeof(forged), "%s", tok);
        /* a later expiry with the old signature */
        {
            char *et = strstr(forged, "et=") + 3;
            et[0] = et[0] == '9' ? '8' : (char)(et[0] + 1);
        }
        CHECK(dev_get(path, forged, NULL, &eno, NULL, 0) == 401);
    }
    CHECK(dev_get(path, "garbage", NULL, &eno, NULL, 0) == 401);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 200 && eno == 0);
    /* Device-key token for the right device works, for another fails. */
    {
        char dres[128], dtok[OD_SRV_TOKEN_MAX];
        json_t *dj = NULL;
        const char *dkey;
        snprintf(dres, sizeof(dres), "/api/v1/devices/%lld", (long long)dev);
        admin("GET", dres, NULL, 0, &dj);
        dkey = json_string_value(json_object_get(json_object_get(dj, "data"), "dev_key"));
        snprintf(dres, sizeof(dres), "products/%lld/devices/dev-00000", (long long)s.pid);
        od_srv_token_build(dkey, "2018-10-31", dres, time(NULL) + 600, OD_SRV_SIG_SHA256,
                           dtok, sizeof(dtok));
        CHECK(dev_get(path, dtok, NULL, &eno, NULL, 0) == 200 && eno == 0);
        /* Another device of the product looks like no device at all. */
        snprintf(dres, sizeof(dres), "/ota/south/check?dev_id=%lld&type=2", (long long)s.ids_a[1]);
        CHECK(dev_get(dres, dtok, NULL, &eno, NULL, 0) == 404 && eno == 1);
        /* A token signed with a wrong key is 401 whether or not the
         * dev_id exists, and so is one naming a device that does not. */
        snprintf(dres, sizeof(dres), "products/%lld/devices/dev-00000", (long long)s.pid);
        od_srv_token_build("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "2018-10-31", dres,
                           time(NULL) + 600, OD_SRV_SIG_SHA256, dtok, sizeof(dtok));
        CHECK(dev_get(path, dtok, NULL, &eno, NULL, 0) == 401 && eno == 1);
        CHECK(dev_get("/ota/device/version?dev_id=999999", dtok, NULL, &eno, NULL, 0) == 401 &&
              eno == 1);
        snprintf(dres, sizeof(dres), "products/%lld/devices/nobody", (long long)s.pid);
        od_srv_token_build(dkey, "2018-10-31", dres, time(NULL) + 600, OD_SRV_SIG_SHA256,
                           dtok, sizeof(dtok));
        CHECK(dev_get(path, dtok, NULL, &eno, NULL, 0) == 401 && eno == 1);
        json_decref(dj);
    }
    /* Unknown devices and bad parameters. */
    CHECK(dev_get("/ota/south/check?dev_id=999999&type=2", tok, NULL, &eno, NULL, 0) == 404 && eno == 1);
    CHECK(dev_get("/ota/south/check?dev_id=abc&type=2", tok, NULL, &eno, NULL, 0) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=7", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=bad%%20v", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 400 && eno == 27);
    /* An encoded NUL in a query argument: errno 2 as documented, not the
     * management API's negative code. */
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld%%00&type=2", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 400 && eno == 2);

    /* Ranges on a real token. */
    {
        char dl[160], t[64];
        json_t *cj = NULL;
        od_srv_hcli c;
        od_srv_hresp r;
        char hdr[700];
        int64_t size;
        snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", tok);
        CHECK(check_call(tok, dev, "1.0.0", t, &size) == 0);
        /* A package of another codec for the same versions is never handed
         * to the task's devices, and the token they hold stays. */
        {
            char t2[64];
            int64_t size2 = 0, jb, target_fw;
            snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)s.pkg_diff);
            CHECK(admin("GET", path, NULL, 0, &cj) == 200);
            target_fw = data_int(cj, "target_fw");
            snprintf(path, sizeof(path), "{\"type\":\"diff\",\"source_fw\":%lld,"
                     "\"target_fw\":%lld,\"codec\":\"deflate\"}",
                     (long long)data_int(cj, "source_fw"), (long long)target_fw);
            json_decref(cj);
            snprintf(dl, sizeof(dl), "/api/v1/products/%lld/packages", (long long)s.pid);
            CHECK(admin("POST", dl, path, 0, &cj) == 202);
            jb = data_int(cj, "job_id");
            json_decref(cj);
            CHECK(wait_job(jb) == 0);
            CHECK(check_call(tok, dev, "1.0.0", t2, &size2) == 0 && !strcmp(t, t2) && size2 == size);
            /* A device checking for the first time gets the task's too. */
            CHECK(check_call(tok, s.ids_a[1], "1.0.0", t2, &size2) == 0 && size2 == size);
            /* From 0.9.0 only a deflate delta exists: the device gets the
             * (LZMA) full package instead. */
            snprintf(path, sizeof(path), "{\"type\":\"diff\",\"source_fw\":%lld,"
                     "\"target_fw\":%lld,\"codec\":\"deflate\"}",
                     (long long)s.fw0, (long long)target_fw);
            CHECK(admin("POST", dl, path, 0, &cj) == 202);
            jb = data_int(cj, "job_id");
            json_decref(cj);
            CHECK(wait_job(jb) == 0);
            snprintf(path, sizeof(path), "/api/v1/packages/%lld", (long long)s.pkg_full);
            CHECK(admin("GET", path, NULL, 0, &cj) == 200);
            size = data_int(cj, "size");
            json_decref(cj);
            CHECK(check_call(tok, s.ids_a[1], "0.9.0", t2, &size2) == 0 && size2 == size);
            CHECK(check_call(tok, dev, "1.0.0", t, &size) == 0);
        }
        snprintf(dl, sizeof(dl), "/ota/south/download/%s", t);
        CHECK(dev_get(dl, tok, "Range: 0-9", NULL, cr, sizeof(cr)) == 206);
        snprintf(path, sizeof(path), "bytes 0-9/%lld", (long long)size);
        CHECK(!strcmp(cr, path));
        /* The path OneNET's notes give (ipPort/ota/download/{token}) is
         * the same download, errors in the byte form included. */
        snprintf(dl, sizeof(dl), "/ota/download/%s", t);
        cr[0] = '\0';
        CHECK(dev_get(dl, tok, "Range: 0-9", NULL, cr, sizeof(cr)) == 206);
        CHECK(!strcmp(cr, path));
        {
            od_srv_hresp er;
            int st = dev_send("GET", "/ota/download/nosuchtoken", tok, NULL, NULL, &er);
            char cl[32];
            CHECK(st >= 400 && er.body_len == 1 && er.body[0] >= '1' && er.body[0] <= '5');
            /* OneNET's error signal: no Content-Length. */
            CHECK(st >= 0 && od_srv_hresp_header(&er, "Content-Length", cl, sizeof(cl)) != 0);
            if (st >= 0)
                od_srv_hresp_free(&er);
        }
        snprintf(dl, sizeof(dl), "/ota/south/download/%s", t);
        CHECK(dev_get(dl, tok, "Range: bytes=10-", NULL, cr, sizeof(cr)) == 206);
        CHECK(dev_get(dl, tok, "Range: -5", NULL, cr, sizeof(cr)) == 206);
        snprintf(path, sizeof(path), "bytes %lld-%lld/%lld", (long long)size - 5,
                 (long long)size - 1, (long long)size);
        CHECK(!strcmp(cr, path));
        CHECK(dev_get(dl, tok, "Range: 99999999-", NULL, cr, sizeof(cr)) == 206);
        CHECK(!strncmp(cr, "bytes 0-", 8));
        CHECK(dev_get(dl, tok, "Range: 01-02", NULL, NULL, 0) == 200);
        CHECK(dev_get(dl, tok, "Range: garbage", NULL, NULL, 0) == 200);
        CHECK(dev_get(dl, tok, "Range: 1-2,4-5", NULL, NULL, 0) == 200);
        CHECK(dev_get(dl, tok, "Range: 99999999999999999999999-1", NULL, NULL, 0) == 200);
        CHECK(dev_get(dl, NULL, "Range: 0-9", NULL, NULL, 0) == 401);
        /* Another device's own (device-key) token: 403, not 401. */
        {
            char dres[128], dtok[OD_SRV_TOKEN_MAX];
            json_t *dj = NULL;
            snprintf(dres, sizeof(dres), "/api/v1/devices/%lld", (long long)s.ids_a[1]);
            CHECK(admin("GET", dres, NULL, 0, &dj) == 200);
            snprintf(dres, sizeof(dres), "products/%lld/devices/dev-00001", (long long)s.pid);
            od_srv_token_build(
                json_string_value(json_object_get(json_object_get(dj, "data"), "dev_key")),
                "2018-10-31", dres, time(NULL) + 600, OD_SRV_SIG_SHA256, dtok, sizeof(dtok));
            json_decref(dj);
            CHECK(dev_get(dl, dtok, "Range: 0-9", NULL, NULL, 0) == 403);
        }
        CHECK(dev_get("/ota/south/download/0123456789abcdef0123456789abcdef", tok, NULL, NULL, NULL, 0) == 403);
        CHECK(dev_get("/ota/south/download/nothex", tok, NULL, NULL, NULL, 0) == 403);
        /* progress with a bad step and for a token of another device */
        {
            char pp[200];
            cli_init(&c);
            snprintf(pp, sizeof(pp), "/ota/south/device/download/%s/progress?dev_id=%lld", t,
                     (long long)dev);
            CHECK(od_srv_hcli_request(&c, "POST", pp, hdr, "{\"step\":150}", 12, &r) == 0 &&
                  r.status == 400 && strstr((const char *)r.body, "\"errno\":2"));
            od_srv_hresp_free(&r);
            CHECK(od_srv_hcli_request(&c, "POST", pp, hdr, "{\"step\":\"x\"}", 12, &r) == 0 &&
                  r.status == 400);
            od_srv_hresp_free(&r);
            snprintf(pp, sizeof(pp), "/ota/south/device/download/%s/progress?dev_id=%lld", t,
                     (long long)s.ids_a[1]);
            CHECK(od_srv_hcli_request(&c, "POST", pp, hdr, "{\"step\":10}", 11, &r) == 0 &&
                  r.status == 403 && strstr((const char *)r.body, "\"errno\":4"));
            od_srv_hresp_free(&r);
            od_srv_hcli_close(&c);
        }
    }
    /* Garbage on the wire, then the server must still answer. */
    raw_status("GARBAGE\r\n\r\n");
    raw_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
    {
        char *longurl = malloc(20000);
        memcpy(longurl, "GET /", 5);
        memset(longurl + 5, 'a', 15000);
        strcpy(longurl + 15005, " HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(raw_status(longurl) >= 400);
        free(longurl);
    }
    CHECK(admin("GET", "/api/v1/products", NULL, 0, &j) == 200);
    json_decref(j);
    /* Every device finishes while the task is paused (a version report
     * counts): resuming it completes it. */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/pause", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    for (unsigned i = 0; i < s.na; i++) {
        od_srv_hcli c;
        od_srv_hresp r;
        char hdr[700];
        snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)s.ids_a[i]);
        snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", tok);
        cli_init(&c);
        CHECK(od_srv_hcli_request(&c, "POST", path, hdr, "{\"s_version\":\"1.1.0\"}", 21,
                                  &r) == 0 && r.status == 200);
        od_srv_hresp_free(&r);
        od_srv_hcli_close(&c);
    }
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "data"), "state")),
                  "completed"));
    json_decref(j);
    j = NULL;
    /* A task's deadline also binds a device that already holds a token
     * (its next call is refused) and one that never calls again: both
     * rows fail with 208 and the task completes. */
    {
        int64_t pk = delta_to_120(&s), task, size;
        char t[64], pp[200], hdr[700];
        od_srv_hcli c;
        od_srv_hresp r;
        json_t *row;
        CHECK(pk > 0);
        snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s.pid);
        /* A first start past the deadline is refused, saying so. */
        snprintf(pp, sizeof(pp), "{\"package_id\":%lld,\"devices\":[%lld],\"deadline\":%lld}",
                 (long long)pk, (long long)dev, (long long)time(NULL) - 10);
        CHECK(admin("POST", path, pp, 0, &j) == 201);
        task = data_int(j, "id");
        json_decref(j);
        snprintf(pp, sizeof(pp), "/api/v1/tasks/%lld/start", (long long)task);
        CHECK(admin("POST", pp, NULL, 0, &j) == 409 &&
              strstr(json_string_value(json_object_get(j, "error")), "deadline"));
        json_decref(j);
        start_in_deadline_second(path, pk, dev);
        snprintf(pp, sizeof(pp), "{\"package_id\":%lld,\"devices\":[%lld,%lld],\"deadline\":%lld}",
                 (long long)pk, (long long)dev, (long long)s.ids_a[1], (long long)time(NULL) + 2);
        CHECK(admin("POST", path, pp, 0, &j) == 201);
        task = data_int(j, "id");
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)task);
        CHECK(admin("POST", path, NULL, 0, NULL) == 200);
        CHECK(check_call(tok, dev, "1.1.0", t, &size) == 0);
        sleep_ms(3200);
        snprintf(pp, sizeof(pp), "/ota/south/device/download/%s/progress?dev_id=%lld", t,
                 (long long)dev);
        snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", tok);
        cli_init(&c);
        /* 12 (expired) if the device calls first, 20 (finished) if the
         * server's sweep got there first. */
        CHECK(od_srv_hcli_request(&c, "POST", pp, hdr, "{\"step\":10}", 11, &r) == 0 &&
              (strstr((const char *)r.body, "\"errno\":12") ||
               strstr((const char *)r.body, "\"errno\":20")));
        od_srv_hresp_free(&r);
        od_srv_hcli_close(&c);
        snprintf(path, sizeof(path), "/ota/south/download/%s", t);
        CHECK(dev_get(path, tok, NULL, NULL, NULL, 0) == 403);
        /* The row that never calls again is failed by the idle workers'
         * sweep, once a second: on a loaded machine that may still be
         * due. */
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task);
        for (int i = 0; i < 100; i++) {
            const char *state;
            j = NULL;
            CHECK(admin("GET", path, NULL, 0, &j) == 200);
            state = json_string_value(json_object_get(json_object_get(j, "data"), "state"));
            if (state && !strcmp(state, "completed"))
                break;
            json_decref(j);
            j = NULL;
            sleep_ms(100);
        }
        CHECK(j != NULL);
        for (size_t k = 0; k < 2; k++) {
            row = json_array_get(json_object_get(json_object_get(j, "data"), "devices"), k);
            CHECK(json_integer_value(json_object_get(row, "last_code")) == 208);
        }
        json_decref(j);
    }
    /* A package asked for while its firmware is being deleted: one of the
     * two wins, never both (a package accepted for a deleted image used to
     * fail later, "target firmware unreadable"). A race, so it is run many
     * times; the invariant holds on every run. */
    {
        int both = 0, neither = 0;
        for (int i = 0; i < 40; i++) {
            char ver[16], del[80], pkgs[80], body[96];
            int64_t fw;
            pthread_barrier_t go;
            pthread_t th[2];
            race_arg a[2];
            snprintf(ver, sizeof(ver), "7.%d", i);
            CHECK(upload(&s, s.v2, ver, &fw) == 0);
            snprintf(del, sizeof(del), "/api/v1/firmware/%lld", (long long)fw);
            snprintf(pkgs, sizeof(pkgs), "/api/v1/products/%lld/packages", (long long)s.pid);
            snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld,"
                     "\"codec\":\"none\"}", (long long)fw);
            a[0] = (race_arg){"POST", pkgs, body, &go, 0};
            a[1] = (race_arg){"DELETE", del, NULL, &go, 0};
            pthread_barrier_init(&go, NULL, 2);
            for (int k = 0; k < 2; k++)
                pthread_create(&th[k], NULL, race_side, &a[k]);
            for (int k = 0; k < 2; k++)
                pthread_join(th[k], NULL);
            pthread_barrier_destroy(&go);
            both += a[0].st == 202 && a[1].st == 200;
            neither += a[0].st != 202 && a[1].st != 200;
            CHECK((a[0].st == 202 && a[1].st == 409) || (a[0].st == 404 && a[1].st == 200));
        }
        CHECK(both == 0 && neither == 0);
    }
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */
/* The legacy OneNET extras: devInfo, tasking, report.               */

/* A device-key token (token version ver) for the device called name (id
 * dev) into out. */
static int dev_key_token_v(const scenario *s, int64_t dev, const char *name, const char *ver,
                           char *out)
{
    char path[200];
    json_t *j = NULL;
    const char *key;
    int rc = -1;
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)dev);
    if (admin("GET", path, NULL, 0, &j) == 200 &&
        (key = json_string_value(json_object_get(json_object_get(j, "data"), "dev_key")))) {
        snprintf(path, sizeof(path), "products/%lld/devices/%s", (long long)s->pid, name);
        rc = od_srv_token_build(key, ver, path, time(NULL) + 600, OD_SRV_SIG_SHA256,
                                out, OD_SRV_TOKEN_MAX) == OD_SRV_OK ? 0 : -1;
    }
    json_decref(j);
    return rc;
}

/* The same for the legacy routes' token version. */
static int dev_key_token(const scenario *s, int64_t dev, const char *name, char *out)
{
    return dev_key_token_v(s, dev, name, "2018-10-31", out);
}

/* tok with its signature's first character changed. */
static void forge(const char *tok, char *out)
{
    char *sig;
    snprintf(out, OD_SRV_TOKEN_MAX, "%s", tok);
    sig = strstr(out, "sign=") + 5;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
}

/* Device dev's row in task as "state download percent retries last_code"
 * into out ("" if none). */
static const char *row_line(int64_t task, int64_t dev, char *out, size_t n)
{
    char path[80];
    json_t *j = NULL, *row;
    size_t i;
    out[0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task);
    if (admin("GET", path, NULL, 0, &j) == 200)
        json_array_foreach(json_object_get(json_object_get(j, "data"), "devices"), i, row)
            if (json_integer_value(json_object_get(row, "device_id")) == dev)
                snprintf(out, n, "%s %s %lld %lld %lld", dstr(row, "state"), dstr(row, "download"),
                         (long long)json_integer_value(json_object_get(row, "percent")),
                         (long long)json_integer_value(json_object_get(row, "retries")),
                         (long long)json_integer_value(json_object_get(row, "last_code")));
    json_decref(j);
    return out;
}

/* The state of device dev's row in task into out ("" if none). */
static const char *row_state(int64_t task, int64_t dev, char *out, size_t n)
{
    char line[160];
    row_line(task, dev, line, sizeof(line));
    snprintf(out, n, "%.*s", (int)strcspn(line, " "), line);
    return out;
}

/* Bytes [range] of the package behind token, appended to buf at *len. */
static int fetch(const char *token, const char *auth, const char *range, uint8_t *buf,
                 size_t cap, size_t *len)
{
    char path[120];
    od_srv_hresp r;
    int st;
    snprintf(path, sizeof(path), "/ota/south/download/%s", token);
    st = dev_send("GET", path, auth, range, NULL, &r);
    if (st < 0)
        return -1;
    if (r.body_len <= cap - *len) {
        memcpy(buf + *len, r.body, r.body_len);
        *len += r.body_len;
    } else {
        st = -1;
    }
    od_srv_hresp_free(&r);
    return st;
}

/* Runs an UPDATE on the running server's database (WAL takes a second
 * writer), for what the API cannot do at once: a token's 48 hours or a
 * task's deadline passing. 0 if it changed exactly one row. */
static int db_update(const char *sql)
{
    char path[300];
    sqlite3 *db = NULL;
    int ok;
    snprintf(path, sizeof(path), "%s/otadelta.db", data_dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK && sqlite3_changes(db) == 1;
    sqlite3_close(db);
    return ok ? 0 : -1;
}

/* Moves task's deadline into the past, as if it had passed: 0, or -1. */
static int task_expire(int64_t task)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "UPDATE tasks SET deadline=1 WHERE id=%lld", (long long)task);
    return db_update(sql);
}

/*
 * A row past its task's deadline fails (208) within about a second even
 * while every generation worker is busy and jobs wait in the queue: idle
 * workers used to run the sweep, so a long queue kept such rows live, and
 * their devices out of their next task, for as long as it lasted. Here
 * six 2-second jobs keep both workers busy for about 6 s; the row must
 * fail while one of them is still queued.
 */
static int test_sweep(void)
{
    scenario s;
    char path[120], body[200], st[32] = "";
    int64_t fa, fb, task, dev, jobs[6];
    int queued_when_failed = -1;
    json_t *j = NULL;
    unsigned k = 0;

    if (setup(&s, 1) != 0)
        return 1;
    dev = s.ids_a[0];
    CHECK(upload_big_pair(&s, "5.0.0", "5.1.0", &fa, &fb) == 0);
    task = s.task; /* started, its rows live */
    CHECK(!strcmp(row_state(task, dev, st, sizeof(st)), "pending"));
    snprintf(path, sizeof(path), "/api/v1/products/%lld/packages", (long long)s.pid);
    for (unsigned i = 0; i < 6; i++) {
        static const char *const codec[] = {"lzma", "deflate", "none"};
        if (i < 4)
            snprintf(body, sizeof(body), "{\"type\":\"diff\",\"source_fw\":%lld,"
                     "\"target_fw\":%lld,\"codec\":\"%s\"}", (long long)(i & 1 ? fb : fa),
                     (long long)(i & 1 ? fa : fb), codec[i / 2]);
        else
            snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld}",
                     (long long)(i & 1 ? fa : fb));
        CHECK(admin("POST", path, body, 0, &j) == 202);
        jobs[k++] = data_int(j, "job_id");
        json_decref(j);
    }
    CHECK(task_expire(task) == 0);
    for (int i = 0; i < 60 && queued_when_failed < 0; i++) {
        sleep_ms(50);
        if (strcmp(row_state(task, dev, st, sizeof(st)), "failed") != 0)
            continue;
        queued_when_failed = 0;
        for (unsigned q = 0; q < k; q++) {
            char js[32] = "";
            job_status(jobs[q], js, sizeof(js));
            queued_when_failed += !strcmp(js, "queued");
        }
    }
    fprintf(stderr, "sweep: row %s, %d job(s) still queued then\n", st, queued_when_failed);
    CHECK(!strcmp(st, "failed"));
    CHECK(queued_when_failed > 0);
    scenario_free(&s);
    return 0;
}

static void md5_hex(const uint8_t *p, size_t n, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(p, n, md, &len, EVP_md5(), NULL);
    for (unsigned i = 0; i < len && i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

/* GET /ota/south/tasking for dev, type 2: the HTTP status, *eno, and the
 * token into t (64 bytes; "" if none). */
static int tasking_call(int64_t dev, const char *auth, int *eno, char *t)
{
    char path[120];
    json_t *d = NULL;
    int st;
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=2", (long long)dev);
    st = dev_call("GET", path, auth, NULL, eno, &d);
    snprintf(t, 64, "%s", dstr(d, "token"));
    json_decref(d);
    return st;
}

/* POST /ota/south/report for dev and token with body: the HTTP status. */
static int report_call(int64_t dev, const char *token, const char *auth, const char *body,
                       int *eno)
{
    char path[160];
    snprintf(path, sizeof(path), "/ota/south/report?dev_id=%lld&token=%s", (long long)dev, token);
    return dev_call("POST", path, auth, body, eno, NULL);
}

static void test_dev_info(const scenario *s, const char *tok, int64_t dev0)
{
    char body[256], want[32], other_tok[OD_SRV_TOKEN_MAX], forged[OD_SRV_TOKEN_MAX];
    char dk0[OD_SRV_TOKEN_MAX], res[64], big[100];
    json_t *d = NULL, *j = NULL;
    int eno;
    int64_t other;

    snprintf(want, sizeof(want), "%lld", (long long)dev0);
    /* The device name under the product; dev_id is a string, as on OneNET. */
    snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"dev-00000\"}", (long long)s->pid);
    CHECK(dev_call("GET", "/ota/devInfo", tok, body, &eno, &d) == 200 && eno == 0);
    CHECK(json_is_string(json_object_get(d, "dev_id")) && !strcmp(dstr(d, "dev_id"), want));
    json_decref(d);
    /* pid as a string; POST for stacks that cannot send a GET body. */
    snprintf(body, sizeof(body), "{\"pid\":\"%lld\",\"authInfo\":\"dev-00000\"}",
             (long long)s->pid);
    CHECK(dev_call("POST", "/ota/devInfo", tok, body, &eno, &d) == 200 && eno == 0);
    CHECK(!strcmp(dstr(d, "dev_id"), want));
    json_decref(d);
    /* The device's own device-key token reaches it, and only it. */
    CHECK(dev_key_token(s, dev0, "dev-00000", dk0) == 0);
    CHECK(dev_call("GET", "/ota/devInfo", dk0, body, &eno, &d) == 200 && eno == 0);
    CHECK(!strcmp(dstr(d, "dev_id"), want));
    json_decref(d);
    snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"dev-00001\"}", (long long)s->pid);
    CHECK(dev_call("GET", "/ota/devInfo", dk0, body, &eno, NULL) == 404 && eno == 1);
    CHECK(dev_call("GET", "/ota/devInfo", tok, body, &eno, &d) == 200 && eno == 0);
    CHECK(strcmp(dstr(d, "dev_id"), want) != 0 && dstr(d, "dev_id")[0]);
    json_decref(d);
    /* Unknown name: 404; the same with a forged or missing token is 401
     * (the signature is checked before anything is looked up). */
    snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"nobody\"}", (long long)s->pid);
    CHECK(dev_call("GET", "/ota/devInfo", tok, body, &eno, NULL) == 404 && eno == 1);
    forge(tok, forged);
    CHECK(dev_call("GET", "/ota/devInfo", forged, body, &eno, NULL) == 401 && eno == 1);
    snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"dev-00000\"}", (long long)s->pid);
    CHECK(dev_call("GET", "/ota/devInfo", forged, body, &eno, NULL) == 401 && eno == 1);
    CHECK(dev_call("GET", "/ota/devInfo", NULL, body, &eno, NULL) == 401 && eno == 1);
    /* Another product's token does not reach this product, nor this
     * product's token that one. */
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"other\"}", 0, &j) == 201);
    other = data_int(j, "id");
    snprintf(res, sizeof(res), "products/%lld", (long long)other);
    CHECK(od_srv_token_build(json_string_value(json_object_get(json_object_get(j, "data"),
                                                               "access_key")),
                             "2018-10-31", res, time(NULL) + 600, OD_SRV_SIG_MD5, other_tok,
                             sizeof(other_tok)) == OD_SRV_OK);
    json_decref(j);
    CHECK(dev_call("GET", "/ota/devInfo", other_tok, body, &eno, NULL) == 404 && eno == 1);
    snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"dev-00000\"}", (long long)other);
    CHECK(dev_call("GET", "/ota/devInfo", tok, body, &eno, NULL) == 404 && eno == 1);
    /* Malformed bodies: 400, errno 2. */
    {
        static const char *const bad[] = {
            NULL, "", "{", "[1]", "{\"authInfo\":\"dev-00000\"}", "{\"pid\":0,\"authInfo\":\"x\"}",
            "{\"pid\":-3,\"authInfo\":\"x\"}", "{\"pid\":\"abc\",\"authInfo\":\"x\"}",
            "{\"pid\":1.5,\"authInfo\":\"x\"}", "{\"pid\":1}", "{\"pid\":1,\"authInfo\":\"\"}",
            "{\"pid\":1,\"authInfo\":7}"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            int st = dev_call("GET", "/ota/devInfo", tok, bad[i], &eno, NULL);
            if (st != 400 || eno != 2)
                fprintf(stderr, "devInfo body %zu: %d %d\n", i, st, eno);
            CHECK(st == 400 && eno == 2);
        }
        memset(big, 'a', 65);
        big[65] = '\0';
        snprintf(body, sizeof(body), "{\"pid\":%lld,\"authInfo\":\"%s\"}", (long long)s->pid, big);
        CHECK(dev_call("GET", "/ota/devInfo", tok, body, &eno, NULL) == 400 && eno == 2);
    }
    CHECK(dev_call("PUT", "/ota/devInfo", tok, body, &eno, NULL) == 405 && eno == 2);
}

/* Whether dev's row in task reads want; says what it read if not. */
static int row_is(int64_t task, int64_t dev, const char *want, int line)
{
    char got[96];
    row_line(task, dev, got, sizeof(got));
    if (!strcmp(got, want))
        return 1;
    fprintf(stderr, "line %d: row of device %lld: \"%s\", want \"%s\"\n", line, (long long)dev,
            got, want);
    return 0;
}
#define ROW_IS(task, dev, want) row_is(task, dev, want, __LINE__)

/* POST .../progress {"step"} with download token t for dev: the status. */
static int step_call(int64_t dev, const char *t, const char *auth, int step, int *eno)
{
    char path[160], body[32];
    snprintf(path, sizeof(path), "/ota/south/device/download/%s/progress?dev_id=%lld", t,
             (long long)dev);
    snprintf(body, sizeof(body), "{\"step\":%d}", step);
    return dev_call("POST", path, auth, body, eno, NULL);
}

/* GET (or HEAD) /ota/south/download/{t}/check for dev: the status. */
static int token_check_call(const char *method, int64_t dev, const char *t, const char *auth,
                            int *eno)
{
    char path[160];
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t, (long long)dev);
    return dev_call(method, path, auth, NULL, eno, NULL);
}

/* A download of token t with one more header line (NULL: none): the
 * status, and the Ota-Errno header into *eno (-1 if none). */
static int dl_call(const char *method, const char *t, const char *auth, const char *extra,
                   int *eno)
{
    char path[120], v[16] = "";
    od_srv_hresp r;
    int st;
    snprintf(path, sizeof(path), "/ota/south/download/%s", t);
    st = dev_send(method, path, auth, extra, NULL, &r);
    if (st < 0)
        return -1;
    *eno = od_srv_hresp_header(&r, "Ota-Errno", v, sizeof(v)) == 0 ? atoi(v) : -1;
    od_srv_hresp_free(&r);
    return st;
}

/* dev's token check with token t, then its steps a and b (-1: none), each
 * answered 0; then its row in task must read want. */
static void attempt_at(int64_t task, int64_t dev, const char *t, const char *tok, int a, int b,
                       const char *want, int line)
{
    int eno;
    CHECK(token_check_call("GET", dev, t, tok, &eno) == 200 && eno == 0);
    CHECK(step_call(dev, t, tok, a, &eno) == 200 && eno == 0);
    if (b >= 0)
        CHECK(step_call(dev, t, tok, b, &eno) == 200 && eno == 0);
    CHECK(row_is(task, dev, want, line));
}
#define attempt(task, dev, t, tok, a, b, want) attempt_at(task, dev, t, tok, a, b, want, __LINE__)

/*
 * What a device's row shows and counts (docs/API.md, Upgrade tasks and
 * Device API): a failure resent before any check is counted once; the
 * download sub-state and percent describe the current attempt; a first
 * download without a token check moves the row; a token a later check
 * replaced is answered as expired. A task with retry 2 on devices of
 * their own.
 */
static void test_rows(scenario *s, const char *tok)
{
    char path[200], body[300], t[8][64], t4b[64];
    int64_t d[8], task, size;
    json_t *j = NULL, *ids = json_array();
    int eno;

    snprintf(path, sizeof(path), "/api/v1/products/%lld/devices", (long long)s->pid);
    for (int i = 0; i < 8; i++) {
        snprintf(body, sizeof(body), "{\"name\":\"rows-%d\",\"s_version\":\"1.0.0\"}", i);
        CHECK(admin("POST", path, body, 0, &j) == 201);
        d[i] = data_int(j, "id");
        json_decref(j);
        json_array_append_new(ids, json_integer(d[i]));
    }
    j = json_pack("{sI,so,si}", "package_id", (json_int_t)s->pkg_diff, "devices", ids, "retry", 2);
    {
        char *txt = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        j = NULL;
        snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s->pid);
        CHECK(txt && admin("POST", path, txt, 0, &j) == 201);
        free(txt);
    }
    task = data_int(j, "id");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    for (int i = 0; i < 8; i++)
        CHECK(check_call(tok, d[i], "1.0.0", t[i], &size) == 0);

    /* 1. A failure resent (its reply lost) is counted once, on either
     * route; after a check the same code is a new failure; another code
     * in the window counts; the one that failed the row is answered 0
     * again, not 20. */
    CHECK(token_check_call("GET", d[0], t[0], tok, &eno) == 200 && eno == 0);
    CHECK(step_call(d[0], t[0], tok, 40, &eno) == 200 && eno == 0);
    for (int i = 0; i < 3; i++)
        CHECK(step_call(d[0], t[0], tok, 102, &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[0], "pending none 0 1 102"));
    CHECK(report_call(d[0], t[0], tok, "{\"result\":102}", &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[0], "pending none 0 1 102"));
    CHECK(check_call(tok, d[0], "1.0.0", t[0], &size) == 0);
    CHECK(step_call(d[0], t[0], tok, 102, &eno) == 200 && eno == 0);
    CHECK(step_call(d[0], t[0], tok, 102, &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[0], "pending none 0 2 102"));
    CHECK(report_call(d[0], t[0], tok, "{\"result\":104}", &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[0], "failed failed 0 3 104"));
    CHECK(report_call(d[0], t[0], tok, "{\"result\":104}", &eno) == 200 && eno == 0);
    CHECK(step_call(d[0], t[0], tok, 104, &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[0], "failed failed 0 3 104"));
    CHECK(step_call(d[0], t[0], tok, 102, &eno) == 200 && eno == 20);
    /* A 2xx failure too, from upgrading. */
    CHECK(step_call(d[7], t[7], tok, 100, &eno) == 200 && eno == 0);
    for (int i = 0; i < 3; i++)
        CHECK(report_call(d[7], t[7], tok, "{\"result\":205}", &eno) == 200 && eno == 0);
    CHECK(ROW_IS(task, d[7], "pending none 0 1 205"));

    /* 2. download and percent follow the state: an attempt that ends
     * while downloading shows a failed download; one that goes back to
     * pending starts from none / 0. */
    attempt(task, d[1], t[1], tok, 10, 207, "failed failed 10 0 207");
    attempt(task, d[2], t[2], tok, 60, 205, "pending none 0 1 205");
    attempt(task, d[3], t[3], tok, 100, 205, "pending none 0 1 205");
    /* A check that picks another package (the device now reports 0.9.0:
     * the full one) starts over: pending, none, 0. */
    attempt(task, d[4], t[4], tok, 30, -1, "downloading downloading 30 0 0");
    CHECK(check_call(tok, d[4], "0.9.0", t4b, &size) == 0 && strcmp(t4b, t[4]) != 0);
    CHECK(ROW_IS(task, d[4], "pending none 0 0 0"));

    /* 9. The token that check replaced is answered as an expired one:
     * 12, check again; not 4, another device's. */
    CHECK(step_call(d[4], t[4], tok, 40, &eno) == 200 && eno == 12);
    CHECK(token_check_call("GET", d[4], t[4], tok, &eno) == 200 && eno == 12);
    CHECK(report_call(d[4], t[4], tok, "{\"result\":101}", &eno) == 200 && eno == 12);
    CHECK(dl_call("GET", t[4], tok, "Range: 0-9", &eno) == 403 && eno == 12);
    CHECK(step_call(d[5], t[4], tok, 40, &eno) == 403 && eno == 4); /* still not d5's */
    CHECK(ROW_IS(task, d[4], "pending none 0 0 0"));
    CHECK(token_check_call("GET", d[4], t4b, tok, &eno) == 200 && eno == 0);

    /* 3. A first download without the token check moves the row, as the
     * token check would; a HEAD does not, nor a 304. */
    CHECK(dl_call("HEAD", t[6], tok, "Range: 0-9", &eno) == 206 && eno == 0);
    CHECK(ROW_IS(task, d[6], "pending none 0 0 0"));
    CHECK(dl_call("GET", t[6], tok, "If-None-Match: *", &eno) == 304);
    CHECK(ROW_IS(task, d[6], "pending none 0 0 0"));
    CHECK(dl_call("GET", t[6], tok, "Range: 0-9", &eno) == 206 && eno == 0);
    CHECK(ROW_IS(task, d[6], "downloading downloading 0 0 0"));
    CHECK(dl_call("GET", t[6], tok, "Range: 10-19", &eno) == 206 && eno == 0);
    CHECK(ROW_IS(task, d[6], "downloading downloading 0 0 0"));

    /* 2. Cancelled while downloading: the download failed. */
    attempt(task, d[5], t[5], tok, 20, -1, "downloading downloading 20 0 0");
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/cancel", (long long)task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    CHECK(ROW_IS(task, d[5], "cancelled failed 20 0 0"));
    CHECK(ROW_IS(task, d[3], "cancelled none 0 1 205"));
}

static int test_legacy(void)
{
    scenario s;
    char tok[OD_SRV_TOKEN_MAX], forged[OD_SRV_TOKEN_MAX], dk1[OD_SRV_TOKEN_MAX];
    char path[256], t0[64], t1[64], t1b[64], t[64], st[32], md5[33];
    static const char *const zero_token = "0123456789abcdef0123456789abcdef";
    int eno;
    json_t *cd = NULL, *td = NULL, *j = NULL;
    int64_t dev0, dev1, size = 0, size1 = 0;
    uint8_t *buf;
    size_t got = 0;

    if (setup(&s, 2) != 0)
        return 1;
    dev0 = s.ids_a[0];
    dev1 = s.ids_a[1];
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_SHA1, tok) == 0);
    forge(tok, forged);
    CHECK(dev_key_token(&s, dev1, "dev-00001", dk1) == 0);

    test_dev_info(&s, tok, dev0);

    /* --- tasking: errors before the device holds a token --- */
    CHECK(tasking_call(dev0, tok, &eno, t) == 200 && eno == 4 && !t[0]); /* not checked */
    CHECK(tasking_call(dev0, NULL, &eno, t) == 401 && eno == 1);
    CHECK(tasking_call(dev0, forged, &eno, t) == 401 && eno == 1);
    CHECK(tasking_call(dev0, dk1, &eno, t) == 404 && eno == 1); /* not dk1's device */
    CHECK(tasking_call(999999, tok, &eno, t) == 404 && eno == 1);
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=2", (long long)dev0);
    CHECK(dev_call("POST", path, tok, NULL, &eno, NULL) == 405 && eno == 2);
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=1&cdn=false",
             (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 200 && eno == 4); /* no FOTA task */
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=3", (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld", (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 400 && eno == 2);
    CHECK(dev_call("GET", "/ota/south/tasking?dev_id=x&type=2", tok, NULL, &eno, NULL) == 400 &&
          eno == 2);

    /* --- reboot and resume: check, token check, half the package, then
     * (after the reboot) tasking gives the same token, and the device
     * continues where it stopped --- */
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=1.0.0",
             (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, &cd) == 200 && eno == 0);
    snprintf(t0, sizeof(t0), "%s", dstr(cd, "token"));
    size = json_integer_value(json_object_get(cd, "size"));
    CHECK(strlen(t0) == 32 && size > 2);
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t0, (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 200 && eno == 0);
    buf = malloc(size > 2 ? (size_t)size : 1);
    CHECK(buf != NULL);
    if (!buf || size <= 2) {
        free(buf);
        json_decref(cd);
        scenario_free(&s);
        return 1;
    }
    snprintf(path, sizeof(path), "Range: 0-%lld", (long long)size / 2 - 1);
    CHECK(fetch(t0, tok, path, buf, (size_t)size, &got) == 206 && got == (size_t)size / 2);
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=2&cdn=true",
             (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, &td) == 200 && eno == 0);
    CHECK(!strcmp(dstr(td, "token"), t0));
    CHECK(json_equal(cd, td)); /* every field as the check answered */
    json_decref(td);
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t0, (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 200 && eno == 0);
    snprintf(path, sizeof(path), "Range: %lld-", (long long)size / 2);
    CHECK(fetch(t0, tok, path, buf, (size_t)size, &got) == 206 && got == (size_t)size);
    md5_hex(buf, got, md5);
    CHECK(!strcmp(md5, dstr(cd, "md5")));
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "downloading"));

    /* --- report: 1xx, then 2xx --- */
    CHECK(report_call(dev0, t0, forged, "{\"result\":101}", &eno) == 401 && eno == 1);
    CHECK(report_call(dev0, t0, dk1, "{\"result\":101}", &eno) == 404 && eno == 1);
    CHECK(report_call(dev0, t0, tok, "{\"result\":150}", &eno) == 400 && eno == 2);
    CHECK(report_call(dev0, t0, tok, "{\"result\":50}", &eno) == 400 && eno == 2);
    CHECK(report_call(dev0, t0, tok, "{\"result\":100}", &eno) == 400 && eno == 2);
    CHECK(report_call(dev0, t0, tok, "{\"result\":209}", &eno) == 400 && eno == 2);
    CHECK(report_call(dev0, t0, tok, "{\"result\":\"101\"}", &eno) == 400 && eno == 24);
    CHECK(report_call(dev0, t0, tok, "{\"step\":101}", &eno) == 400 && eno == 24);
    CHECK(report_call(dev0, t0, tok, "not json", &eno) == 400 && eno == 24);
    CHECK(report_call(dev0, t0, tok, NULL, &eno) == 400 && eno == 24);
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "downloading")); /* untouched */
    CHECK(report_call(dev0, t0, tok, "{\"result\":101}", &eno) == 200 && eno == 0);
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "upgrading"));
    /* The token still answers while the device applies (it needs it to
     * report after a reboot), and the 1xx class is over. */
    CHECK(tasking_call(dev0, tok, &eno, t) == 200 && eno == 0 && !strcmp(t, t0));
    CHECK(report_call(dev0, t0, tok, "{\"result\":101}", &eno) == 200 && eno == 21);
    CHECK(report_call(dev0, t0, tok, "{\"result\":201}", &eno) == 200 && eno == 0);
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "succeeded"));
    CHECK(report_call(dev0, t0, tok, "{\"result\":201}", &eno) == 200 && eno == 20);
    /* The progress route sees the same row. */
    snprintf(path, sizeof(path), "/ota/south/device/download/%s/progress?dev_id=%lld", t0,
             (long long)dev0);
    CHECK(dev_call("POST", path, tok, "{\"step\":201}", &eno, NULL) == 200 && eno == 20);
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)dev0);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(!strcmp(dstr(json_object_get(j, "data"), "s_version"), "1.1.0"));
    json_decref(j);
    CHECK(tasking_call(dev0, tok, &eno, t) == 200 && eno == 4); /* done */

    /* --- the other device: tokens of another device, lapsed tokens,
     * paused and cancelled tasks --- */
    CHECK(check_call(dk1, dev1, "1.0.0", t1, &size1) == 0 && size1 == size);
    CHECK(strlen(t1) == 32 && strcmp(t1, t0) != 0);
    /* dev1's token reported as dev0's: 403, OneNET's "token auth" 1. */
    CHECK(report_call(dev0, t1, tok, "{\"result\":101}", &eno) == 403 && eno == 1);
    CHECK(report_call(dev1, zero_token, tok, "{\"result\":101}", &eno) == 403 && eno == 1);
    CHECK(report_call(dev1, "nothex", tok, "{\"result\":101}", &eno) == 403 && eno == 1);
    snprintf(path, sizeof(path), "/ota/south/report?dev_id=%lld", (long long)dev1);
    CHECK(dev_call("POST", path, tok, "{\"result\":101}", &eno, NULL) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/ota/south/report?token=%s", t1);
    CHECK(dev_call("POST", path, tok, "{\"result\":101}", &eno, NULL) == 400 && eno == 2);
    CHECK(!strcmp(row_state(s.task, dev1, st, sizeof(st)), "pending"));
    /* A lapsed token: tasking and report say 12; a new check issues a new
     * token, which tasking then gives. */
    snprintf(path, sizeof(path), "UPDATE task_devices SET token_exp=1 WHERE token='%s'", t1);
    CHECK(db_update(path) == 0);
    CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 12);
    CHECK(report_call(dev1, t1, dk1, "{\"result\":101}", &eno) == 200 && eno == 12);
    CHECK(check_call(dk1, dev1, "1.0.0", t1b, &size1) == 0);
    CHECK(strlen(t1b) == 32 && strcmp(t1b, t1) != 0);
    CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 0 && !strcmp(t, t1b));
    /* A token about to lapse: a check keeps it (a download may be using
     * it) and renews its 48 h. */
    {
        char sql[200];
        snprintf(sql, sizeof(sql),
                 "UPDATE task_devices SET token_exp=strftime('%%s','now')+5 WHERE token='%s'", t1b);
        CHECK(db_update(sql) == 0);
        CHECK(check_call(dk1, dev1, "1.0.0", t, &size1) == 0 && !strcmp(t, t1b));
        snprintf(sql, sizeof(sql),
                 "UPDATE task_devices SET updated=updated WHERE token='%s'"
                 " AND token_exp > strftime('%%s','now') + 47 * 3600", t1b);
        CHECK(db_update(sql) == 0);
    }
    /* Report 101 straight from pending (no token check): upgrading. */
    CHECK(report_call(dev1, t1b, dk1, "{\"result\":101}", &eno) == 200 && eno == 0);
    CHECK(!strcmp(row_state(s.task, dev1, st, sizeof(st)), "upgrading"));
    /* Paused: 25 from both. */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/pause", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 25);
    CHECK(report_call(dev1, t1b, dk1, "{\"result\":201}", &eno) == 200 && eno == 25);
    CHECK(!strcmp(row_state(s.task, dev1, st, sizeof(st)), "upgrading"));
    /* Cancelled: 22 from report; tasking has no token any more. */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/cancel", (long long)s.task);
    CHECK(admin("POST", path, NULL, 0, NULL) == 200);
    CHECK(report_call(dev1, t1b, dk1, "{\"result\":201}", &eno) == 200 && eno == 22);
    CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 4);
    CHECK(!strcmp(row_state(s.task, dev1, st, sizeof(st)), "cancelled"));

    /* Past the task's deadline: 12, the row fails with 208 and the task
     * completes (4 if the server's sweep got there first). */
    {
        int64_t task = task_for(&s, s.pkg_full, dev1);
        CHECK(task > 0);
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld/start", (long long)task);
        CHECK(admin("POST", path, NULL, 0, NULL) == 200);
        CHECK(check_call(dk1, dev1, "1.0.0", t1, &size1) == 0);
        CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 0 && !strcmp(t, t1));
        CHECK(task_expire(task) == 0);
        CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && (eno == 12 || eno == 4));
        CHECK(tasking_call(dev1, dk1, &eno, t) == 200 && eno == 4);
        CHECK(!strcmp(row_state(task, dev1, st, sizeof(st)), "failed"));
        snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task);
        CHECK(admin("GET", path, NULL, 0, &j) == 200);
        CHECK(!strcmp(dstr(json_object_get(j, "data"), "state"), "completed"));
        CHECK(json_integer_value(json_object_get(
                  json_array_get(json_object_get(json_object_get(j, "data"), "devices"), 0),
                  "last_code")) == 208);
        json_decref(j);
    }

    /* A task whose package was asked for with filter none is for devices
     * whose applier lacks the thumb filter: they get no delta that may use
     * it (the scenario's delta was asked for with auto), here the full
     * package instead. */
    {
        char body[160], pp[96], tp[96], tn[64];
        int64_t tfw, fpkg, job, dnew, task, fsize, got_size = 0;
        snprintf(pp, sizeof(pp), "/api/v1/packages/%lld", (long long)s.pkg_full);
        CHECK(admin("GET", pp, NULL, 0, &j) == 200);
        tfw = data_int(j, "target_fw");
        json_decref(j);
        snprintf(pp, sizeof(pp), "/api/v1/products/%lld/packages", (long long)s.pid);
        snprintf(body, sizeof(body), "{\"type\":\"full\",\"target_fw\":%lld,\"filter\":"
                 "\"none\"}", (long long)tfw);
        CHECK(admin("POST", pp, body, 0, &j) == 202);
        fpkg = data_int(j, "package_id");
        job = data_int(j, "job_id");
        json_decref(j);
        CHECK(wait_job(job) == 0);
        snprintf(pp, sizeof(pp), "/api/v1/packages/%lld", (long long)fpkg);
        CHECK(admin("GET", pp, NULL, 0, &j) == 200);
        fsize = data_int(j, "size");
        json_decref(j);
        snprintf(pp, sizeof(pp), "/api/v1/products/%lld/devices", (long long)s.pid);
        CHECK(admin("POST", pp, "{\"name\":\"no-thumb\",\"s_version\":\"1.0.0\"}", 0, &j) ==
              201);
        dnew = data_int(j, "id");
        json_decref(j);
        task = task_for(&s, fpkg, dnew);
        CHECK(task > 0);
        snprintf(tp, sizeof(tp), "/api/v1/tasks/%lld/start", (long long)task);
        CHECK(admin("POST", tp, NULL, 0, NULL) == 200);
        CHECK(check_call(tok, dnew, "1.0.0", tn, &got_size) == 0);
        CHECK(got_size == fsize);
    }

    test_rows(&s, tok);
    free(buf);
    json_decref(cd);
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */
/* The new OneNET ("fuse") routes: /fuse-ota/{pro_id}/{dev_name}/...  */

static char fuse_rid[40], fuse_msg[80];

/* A fuse call: the HTTP status, *code the reply's code (-1000 if the
 * body is not JSON), *data (if wanted) its data member for the caller to
 * json_decref, fuse_msg its msg. Checks the fuse form on the way: code,
 * msg, a 32-hex request_id unlike the previous reply's, and no legacy
 * errno. */
static int fuse_call(const char *method, const char *path, const char *auth, const char *body,
                     int *code, json_t **data)
{
    od_srv_hresp r;
    json_t *j;
    const char *rid, *msg;
    int st = dev_send(method, path, auth, NULL, body, &r);
    *code = -2000;
    fuse_msg[0] = '\0';
    if (data)
        *data = NULL;
    if (st < 0)
        return -1;
    j = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    od_srv_hresp_free(&r);
    *code = j ? (int)json_integer_value(json_object_get(j, "code")) : -1000;
    rid = json_string_value(json_object_get(j, "request_id"));
    msg = json_string_value(json_object_get(j, "msg"));
    CHECK(json_is_integer(json_object_get(j, "code")) && msg && !json_object_get(j, "errno"));
    CHECK(rid && strlen(rid) == 32 && strspn(rid, "0123456789abcdef") == 32 &&
          strcmp(rid, fuse_rid) != 0);
    snprintf(fuse_rid, sizeof(fuse_rid), "%s", rid ? rid : "");
    snprintf(fuse_msg, sizeof(fuse_msg), "%s", msg ? msg : "");
    if (data) {
        *data = json_object_get(j, "data");
        json_incref(*data);
    }
    json_decref(j);
    return st;
}

/* "/fuse-ota/{pid}/{name}/{rest}" into out (256 bytes). */
static const char *fpath(char *out, int64_t pid, const char *name, const char *rest)
{
    snprintf(out, 256, "/fuse-ota/%lld/%s/%s", (long long)pid, name, rest);
    return out;
}

/* The same with a task id: "/fuse-ota/{pid}/{name}/{tid}/{rest}". */
static const char *ftid(char *out, int64_t pid, const char *name, int64_t tid, const char *rest)
{
    snprintf(out, 256, "/fuse-ota/%lld/%s/%lld/%s", (long long)pid, name, (long long)tid, rest);
    return out;
}

/* The task status (GET .../{tid}/check): the HTTP status, *code, and
 * the status in *status (0 if none). */
static int fuse_status(int64_t pid, const char *name, int64_t tid, const char *auth, int *code,
                       int *status)
{
    char path[256];
    json_t *d = NULL;
    int st = fuse_call("GET", ftid(path, pid, name, tid, "check"), auth, NULL, code, &d);
    *status = (int)json_integer_value(json_object_get(d, "status"));
    json_decref(d);
    return st;
}

/* POST .../{tid}/status {"step": step}: the HTTP status and *code. */
static int fuse_step(int64_t pid, const char *name, int64_t tid, const char *auth, int step,
                     int *code)
{
    char path[256], body[32];
    snprintf(body, sizeof(body), "{\"step\":%d}", step);
    return fuse_call("POST", ftid(path, pid, name, tid, "status"), auth, body, code, NULL);
}

/* GET .../{tid}/download[?query] with one more header line (may be
 * NULL): the HTTP status; the body appended to buf at *len when buf,
 * *ota the Ota-Errno header (-1 if none), cr the Content-Range. */
static int fuse_dl(int64_t pid, const char *name, int64_t tid, const char *query,
                   const char *auth, const char *extra, uint8_t *buf, size_t cap, size_t *len,
                   int *ota, char *cr, size_t cr_size)
{
    char path[256], h[32];
    od_srv_hresp r;
    int st;
    snprintf(path, sizeof(path), "/fuse-ota/%lld/%s/%lld/download%s%s", (long long)pid, name,
             (long long)tid, query ? "?" : "", query ? query : "");
    st = dev_send("GET", path, auth, extra, NULL, &r);
    if (st < 0)
        return -1;
    *ota = od_srv_hresp_header(&r, "Ota-Errno", h, sizeof(h)) == 0 ? atoi(h) : -1;
    if (cr) {
        cr[0] = '\0';
        od_srv_hresp_header(&r, "Content-Range", cr, cr_size);
    }
    if (buf) {
        if (r.body_len <= cap - *len) {
            memcpy(buf + *len, r.body, r.body_len);
            *len += r.body_len;
        } else {
            st = -1;
        }
    } else if (st >= 400) {
        /* OneNET's one-byte error body */
        CHECK(r.body_len == 1 && r.body[0] >= '1' && r.body[0] <= '5');
    }
    od_srv_hresp_free(&r);
    return st;
}

/* The state of task id ("" if it cannot be read). */
static const char *task_state(int64_t task, char *out, size_t n)
{
    char path[80];
    json_t *j = NULL;
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)task);
    out[0] = '\0';
    if (admin("GET", path, NULL, 0, &j) == 200)
        snprintf(out, n, "%s", dstr(json_object_get(j, "data"), "state"));
    json_decref(j);
    return out;
}

/* Task admin operation op (start, pause, cancel): 0 if it answered 200. */
static int task_do(int64_t task, const char *op)
{
    char path[80];
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld/%s", (long long)task, op);
    return admin("POST", path, NULL, 0, NULL) == 200 ? 0 : -1;
}

/* Authorization, before anything is looked up, and the device's reach. */
static void fuse_auth(const scenario *s, const char *tok, int64_t dev0)
{
    char path[256], res[96], t[OD_SRV_TOKEN_MAX], forged[OD_SRV_TOKEN_MAX];
    json_t *j = NULL;
    int code, status;

    fpath(path, s->pid, "dev-00000", "check?type=2&version=1.0.0");
    CHECK(fuse_call("GET", path, NULL, NULL, &code, NULL) == 401 && code == 1);
    CHECK(fuse_call("GET", path, "garbage", NULL, &code, NULL) == 401 && code == 1);
    forge(tok, forged);
    CHECK(fuse_call("GET", path, forged, NULL, &code, NULL) == 401 && code == 1);
    snprintf(res, sizeof(res), "products/%lld", (long long)s->pid);
    od_srv_token_build(s->key, "2022-05-01", res, time(NULL) - 10, OD_SRV_SIG_SHA1, t, sizeof(t));
    CHECK(fuse_call("GET", path, t, NULL, &code, NULL) == 401 && code == 1); /* expired */
    /* A userid/ token of a user that does not exist (fuse_user has the
     * rest). */
    od_srv_token_build(s->key, "2022-05-01", "userid/1", time(NULL) + 600, OD_SRV_SIG_SHA1, t,
                       sizeof(t));
    CHECK(fuse_call("GET", path, t, NULL, &code, NULL) == 401 && code == 1);
    /* A device-key token signed with a wrong key: 401 whether or not the
     * device, the path's device or the tid exist. */
    snprintf(res, sizeof(res), "products/%lld/devices/dev-00000", (long long)s->pid);
    od_srv_token_build("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "2022-05-01", res,
                       time(NULL) + 600, OD_SRV_SIG_SHA256, t, sizeof(t));
    CHECK(fuse_call("GET", path, t, NULL, &code, NULL) == 401 && code == 1);
    CHECK(fuse_call("GET", fpath(path, s->pid, "nobody", "version"), forged, NULL, &code, NULL) ==
              401 && code == 1);
    CHECK(fuse_status(s->pid, "dev-00000", 999999, forged, &code, &status) == 401 && code == 1);
    CHECK(fuse_status(s->pid, "nobody", 999999, forged, &code, &status) == 401 && code == 1);
    CHECK(fuse_call("GET", fpath(path, 999999, "nobody", "version"), forged, NULL, &code, NULL) ==
              401 && code == 1);
    /* Authenticated, but out of reach: 404, code 1. Another device's own
     * key; an unknown name; another product's token, on this product's
     * device or on its own product with this device's name. */
    CHECK(dev_key_token_v(s, s->ids_a[1], "dev-00001", "2022-05-01", t) == 0);
    CHECK(fuse_call("GET", fpath(path, s->pid, "dev-00000", "version"), t, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(fuse_status(s->pid, "dev-00000", s->task, t, &code, &status) == 404 && code == 1);
    CHECK(fuse_call("GET", fpath(path, s->pid, "nobody", "version"), tok, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"fuse-other\"}", 0, &j) == 201);
    {
        int64_t other = data_int(j, "id");
        snprintf(res, sizeof(res), "products/%lld", (long long)other);
        CHECK(od_srv_token_build(dstr(json_object_get(j, "data"), "access_key"), "2022-05-01",
                                 res, time(NULL) + 600, OD_SRV_SIG_MD5, t,
                                 sizeof(t)) == OD_SRV_OK);
        CHECK(fuse_call("GET", fpath(path, s->pid, "dev-00000", "version"), t, NULL, &code,
                        NULL) == 404 && code == 1);
        CHECK(fuse_call("GET", fpath(path, other, "dev-00000", "version"), t, NULL, &code,
                        NULL) == 404 && code == 1);
        CHECK(fuse_call("GET", fpath(path, other, "dev-00000", "version"), tok, NULL, &code,
                        NULL) == 404 && code == 1);
        CHECK(fuse_dl(s->pid, "dev-00000", s->task, NULL, t, NULL, NULL, 0, NULL, &code, NULL,
                      0) == 404 && code == 1);
    }
    json_decref(j);
    /* The device's own key reaches it (2018-10-31 tokens work here too). */
    CHECK(dev_key_token_v(s, dev0, "dev-00000", "2022-05-01", t) == 0);
    CHECK(fuse_call("GET", fpath(path, s->pid, "dev-00000", "version"), t, NULL, &code, NULL) ==
              200 && code == 0);
    CHECK(dev_key_token(s, dev0, "dev-00000", t) == 0);
    CHECK(fuse_call("GET", fpath(path, s->pid, "dev-00000", "version"), t, NULL, &code, NULL) ==
              200 && code == 0);
    /* Download: 401 with OneNET's byte 3 and Ota-Errno 1. */
    CHECK(fuse_dl(s->pid, "dev-00000", s->task, NULL, forged, NULL, NULL, 0, NULL, &code, NULL,
                  0) == 401 && code == 1);
    CHECK(fuse_dl(s->pid, "dev-00000", s->task, NULL, NULL, NULL, NULL, 0, NULL, &code, NULL,
                  0) == 401 && code == 1);
}

/* Malformed requests: 400 with code 2 (27 for a version), before the
 * token is looked at. */
static void fuse_badinput(const scenario *s, const char *tok)
{
    char path[256], name[80], forged[OD_SRV_TOKEN_MAX];
    int code, status;
    const char *d0 = "dev-00000";

    forge(tok, forged);
    snprintf(path, sizeof(path), "/fuse-ota/abc/%s/check?type=2", d0);
    CHECK(fuse_call("GET", path, forged, NULL, &code, NULL) == 400 && code == 2);
    snprintf(path, sizeof(path), "/fuse-ota/0%lld/%s/version", (long long)s->pid, d0);
    CHECK(fuse_call("GET", path, tok, NULL, &code, NULL) == 400 && code == 2);
    memset(name, 'n', 65);
    name[65] = '\0';
    CHECK(fuse_call("GET", fpath(path, s->pid, name, "version"), tok, NULL, &code, NULL) == 400 &&
          code == 2);
    CHECK(fuse_call("GET", fpath(path, s->pid, d0, "check?type=3"), tok, NULL, &code, NULL) ==
              400 && code == 2);
    CHECK(fuse_call("GET", fpath(path, s->pid, d0, "check"), tok, NULL, &code, NULL) == 400 &&
          code == 2);
    CHECK(fuse_call("GET", fpath(path, s->pid, d0, "check?type=2&version=bad%20v"), tok, NULL,
                    &code, NULL) == 400 && code == 27);
    CHECK(fuse_call("POST", fpath(path, s->pid, d0, "version"), tok, "{\"s_version\":\"b v\"}",
                    &code, NULL) == 400 && code == 27);
    CHECK(fuse_call("POST", fpath(path, s->pid, d0, "version"), tok, "{\"s_version\":5}", &code,
                    NULL) == 400 && code == 2);
    CHECK(fuse_call("POST", fpath(path, s->pid, d0, "version"), tok, "x", &code, NULL) == 400 &&
          code == 2);
    CHECK(fuse_call("POST", fpath(path, s->pid, d0, "version"), tok, NULL, &code, NULL) == 400 &&
          code == 2);
    /* tid: a positive decimal number */
    CHECK(fuse_call("GET", fpath(path, s->pid, d0, "x/check"), forged, NULL, &code, NULL) == 400 &&
          code == 2);
    CHECK(fuse_call("POST", fpath(path, s->pid, d0, "01/status"), tok, "{\"step\":1}", &code,
                    NULL) == 400 && code == 2);
    CHECK(fuse_dl(s->pid, d0, 0, NULL, tok, NULL, NULL, 0, NULL, &code, NULL, 0) == 400 &&
          code == 2);
    /* steps */
    CHECK(fuse_step(s->pid, d0, s->task, tok, 150, &code) == 400 && code == 2);
    CHECK(fuse_step(s->pid, d0, s->task, tok, -1, &code) == 400 && code == 2);
    CHECK(fuse_call("POST", ftid(path, s->pid, d0, s->task, "status"), tok, "{\"step\":\"1\"}",
                    &code, NULL) == 400 && code == 2);
    CHECK(fuse_call("POST", ftid(path, s->pid, d0, s->task, "status"), tok, NULL, &code, NULL) ==
              400 && code == 2);
    CHECK(fuse_status(s->pid, d0, s->task, tok, &code, &status) == 200 && code == 0 &&
          status == 1); /* none of that touched the row */
    /* Routes and methods */
    CHECK(fuse_call("PUT", fpath(path, s->pid, d0, "version"), tok, NULL, &code, NULL) == 405 &&
          code == 2);
    CHECK(fuse_call("GET", ftid(path, s->pid, d0, s->task, "status"), tok, NULL, &code, NULL) ==
              405 && code == 2);
    CHECK(fuse_call("GET", ftid(path, s->pid, d0, s->task, "other"), tok, NULL, &code, NULL) ==
              404 && code == 2);
    CHECK(fuse_call("GET", "/fuse-ota/1", tok, NULL, &code, NULL) == 404 && code == 2);
    /* Refused before any route is looked at, still with the device
     * table's code 2: a name too long for a path segment, a dot segment,
     * an encoded NUL in a query argument, a body over the device limit. */
    {
        char big[5000];
        memset(name, 'n', 79);
        name[79] = '\0';
        snprintf(path, sizeof(path), "/fuse-ota/%lld/%s%s/version", (long long)s->pid, name, name);
        CHECK(fuse_call("GET", path, tok, NULL, &code, NULL) == 400 && code == 2);
        CHECK(fuse_call("GET", fpath(path, s->pid, "%2E%2E", "version"), tok, NULL, &code, NULL) ==
                  400 && code == 2);
        CHECK(fuse_call("GET", fpath(path, s->pid, d0, "check?type=2%00"), tok, NULL, &code,
                        NULL) == 400 && code == 2);
        memset(big, ' ', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK(fuse_call("POST", fpath(path, s->pid, d0, "version"), tok, big, &code, NULL) ==
                  413 && code == 2);
    }
    {
        od_srv_hresp r;
        char h[16];
        CHECK(dev_send("POST", ftid(path, s->pid, d0, s->task, "download"), tok, NULL, "x", &r) ==
                  405 &&
              od_srv_hresp_header(&r, "Ota-Errno", h, sizeof(h)) == 0 && !strcmp(h, "2"));
        CHECK(od_srv_hresp_header(&r, "Allow", h, sizeof(h)) == 0 && !strcmp(h, "GET, HEAD"));
        od_srv_hresp_free(&r);
        /* Refused before routing (a NUL in the query): still a download's
         * error form, byte 5 and Ota-Errno 2, not JSON. */
        CHECK(dev_send("GET", ftid(path, s->pid, d0, s->task, "download?range=1%002"), tok, NULL,
                       NULL, &r) == 400 &&
              r.body_len == 1 && r.body[0] == '5' &&
              od_srv_hresp_header(&r, "Ota-Errno", h, sizeof(h)) == 0 && !strcmp(h, "2"));
        od_srv_hresp_free(&r);
    }
}

/* A userid/{uid} token signed with key, expiring at et, into out
 * (OD_SRV_TOKEN_MAX bytes). */
static void user_token(const char *key, int64_t uid, int64_t et, char *out)
{
    char res[40];
    snprintf(res, sizeof(res), "userid/%lld", (long long)uid);
    CHECK(od_srv_token_build(key, "2022-05-01", res, et, OD_SRV_SIG_SHA1, out,
                             OD_SRV_TOKEN_MAX) == OD_SRV_OK);
}

/* The management routes of users and product owners. Makes users alice
 * (*alice, key akey) and bob (*bob, key bkey), bob's product *bobs and a
 * product without an owner *bare, each with a device dev-00000, and gives
 * s's product to alice. */
static void users_admin(const scenario *s, int64_t *alice, char *akey, int64_t *bob, char *bkey,
                        int64_t *bobs, int64_t *bare)
{
    static const char *const bad[] = {"\"1\"", "0", "-1", "1.5", "true", "[1]"};
    char path[96], body[200], name[70];
    json_t *j = NULL, *row;
    size_t i;
    int seen = 0;

    *alice = create_keyed("/api/v1/users", "{\"name\":\"alice\"}", akey);
    *bob = create_keyed("/api/v1/users", "{\"name\":\"bob\"}", bkey);
    CHECK(*alice > 0 && *bob > 0 && *bob != *alice);
    CHECK(strlen(akey) == 44 && strcmp(akey, bkey) != 0); /* base64 of 32 random bytes */
    /* Names as for products: unique, 1..64 printable characters. */
    CHECK(admin("POST", "/api/v1/users", "{\"name\":\"alice\"}", 0, NULL) == 409);
    CHECK(admin("POST", "/api/v1/users", "{\"name\":\"\"}", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/users", "{\"name\":7}", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/users", "{}", 0, NULL) == 400);
    CHECK(admin("POST", "/api/v1/users", "{\"name\":\"a\\u0001b\"}", 0, NULL) == 400);
    memset(name, 'u', 65);
    name[65] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    CHECK(admin("POST", "/api/v1/users", body, 0, NULL) == 400);
    name[64] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    CHECK(create_keyed("/api/v1/users", body, NULL) > 0);
    /* The record shows the key; the list does not. */
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)*alice);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(!strcmp(dstr(json_object_get(j, "data"), "name"), "alice") &&
          !strcmp(dstr(json_object_get(j, "data"), "access_key"), akey));
    json_decref(j);
    j = NULL;
    CHECK(admin("GET", "/api/v1/users/999999", NULL, 0, NULL) == 404);
    CHECK(admin("GET", "/api/v1/users", NULL, 0, &j) == 200);
    json_array_foreach(json_object_get(j, "data"), i, row) {
        CHECK(!json_object_get(row, "access_key"));
        seen += json_integer_value(json_object_get(row, "id")) == *bob &&
                !strcmp(dstr(row, "name"), "bob");
    }
    CHECK(seen == 1 && json_array_size(json_object_get(j, "data")) == 3);
    json_decref(j);
    j = NULL;

    /* A product's owner: a user id, or null; anything else is 400, an
     * unknown user 404 (and the name stays free). */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"bob-meter\",\"user_id\":%s}", bad[i]);
        CHECK(admin("POST", "/api/v1/products", body, 0, NULL) == 400);
        snprintf(body, sizeof(body), "{\"user_id\":%s}", bad[i]);
        CHECK(owner_put(s->pid, body) == 400);
    }
    CHECK(admin("POST", "/api/v1/products", "{\"name\":\"bob-meter\",\"user_id\":999999}", 0,
                &j) == 404);
    CHECK(strstr(dstr(j, "error"), "user_id") != NULL);
    json_decref(j);
    j = NULL;
    snprintf(body, sizeof(body), "{\"name\":\"bob-meter\",\"user_id\":%lld}", (long long)*bob);
    *bobs = create_keyed("/api/v1/products", body, NULL);
    *bare = create_keyed("/api/v1/products", "{\"name\":\"bare\",\"user_id\":null}", NULL);
    CHECK(*bobs > 0 && *bare > 0);
    CHECK(owner_shows(*bobs, *bob) && owner_shows(*bare, 0) && owner_shows(s->pid, 0));
    CHECK(admin("GET", "/api/v1/products", NULL, 0, &j) == 200);
    json_array_foreach(json_object_get(j, "data"), i, row) {
        json_t *v = json_object_get(row, "user_id");
        CHECK(v && (json_integer_value(json_object_get(row, "id")) == *bobs
                        ? json_integer_value(v) == *bob
                        : json_is_null(v)));
    }
    json_decref(j);
    j = NULL;
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "/api/v1/products/%lld/devices",
                 (long long)(k ? *bare : *bobs));
        CHECK(admin("POST", path, "{\"name\":\"dev-00000\"}", 0, NULL) == 201);
    }
    /* The owner route: the member is required; unknown user or product,
     * 404; otherwise the owner changes. */
    CHECK(owner_put(s->pid, "{}") == 400);
    CHECK(owner_put(s->pid, "{\"owner\":1}") == 400);
    CHECK(owner_put(s->pid, "x") == 400);
    CHECK(owner_put(s->pid, "{\"user_id\":999999}") == 404 && owner_shows(s->pid, 0));
    snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)*alice);
    CHECK(owner_put(999999, body) == 404);
    CHECK(owner_put(s->pid, body) == 200 && owner_shows(s->pid, *alice));
}

/* userid/{uid} tokens on the fuse routes: verified with the user's key,
 * they reach exactly the products the user owns, as those products' own
 * tokens would; every authentication failure is 401, a product not the
 * user's 404 as a device out of reach. The legacy routes refuse them.
 * Runs after the rest of test_fuse, when s's extra device is in no
 * active task. */
static void fuse_user(const scenario *s, const char *tok)
{
    char akey[80], bkey[80], t[OD_SRV_TOKEN_MAX], bt[OD_SRV_TOKEN_MAX], x[OD_SRV_TOKEN_MAX];
    char path[256], md5[33], cr[96], st[32];
    const char *db = "dev-00002";
    int64_t alice, bob, bobs, bare, task, tid, size;
    json_t *cd = NULL, *d = NULL;
    uint8_t *buf;
    size_t got = 0;
    int code, status, eno;

    users_admin(s, &alice, akey, &bob, bkey, &bobs, &bare);
    user_token(akey, alice, time(NULL) + 600, t);
    user_token(bkey, bob, time(NULL) + 600, bt);

    /* Authentication: the user's key, unexpired; a uid as path ids are
     * written. Each failure 401 with code 1, like a forged token. */
    fpath(path, s->pid, db, "version");
    CHECK(fuse_call("GET", path, t, NULL, &code, &d) == 200 && code == 0);
    json_decref(d);
    user_token(bkey, alice, time(NULL) + 600, x); /* bob's key */
    CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    user_token(s->key, alice, time(NULL) + 600, x); /* the product's key */
    CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    forge(t, x);
    CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    user_token(akey, alice, time(NULL) - 10, x);
    CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    user_token(akey, 999999, time(NULL) + 600, x);
    CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    {
        static const char *const res[] = {"userid/", "userid/0", "userid/x", "userid/1/x",
                                          "userid/00000000000000000001"};
        char r0[64];
        for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
            CHECK(od_srv_token_build(akey, "2022-05-01", res[i], time(NULL) + 600,
                                     OD_SRV_SIG_SHA1, x, sizeof(x)) == OD_SRV_OK);
            CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
        }
        snprintf(r0, sizeof(r0), "userid/0%lld", (long long)alice);
        CHECK(od_srv_token_build(akey, "2022-05-01", r0, time(NULL) + 600, OD_SRV_SIG_SHA1, x,
                                 sizeof(x)) == OD_SRV_OK);
        CHECK(fuse_call("GET", path, x, NULL, &code, NULL) == 401 && code == 1);
    }

    /* Reach: the user's products alone. Another user's product, a product
     * without an owner, one that does not exist: 404, code 1, as a
     * product token of another product gets. */
    CHECK(fuse_call("GET", fpath(path, bobs, "dev-00000", "version"), bt, NULL, &code, NULL) ==
              200 && code == 0);
    CHECK(fuse_call("GET", fpath(path, bobs, "dev-00000", "version"), t, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(fuse_call("GET", fpath(path, s->pid, db, "version"), bt, NULL, &code, NULL) == 404 &&
          code == 1);
    CHECK(fuse_call("GET", fpath(path, bare, "dev-00000", "version"), t, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(fuse_call("GET", fpath(path, 999999, "dev-00000", "version"), t, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(fuse_call("GET", fpath(path, s->pid, "nobody", "version"), t, NULL, &code, NULL) ==
              404 && code == 1);
    CHECK(fuse_dl(s->pid, db, s->task, NULL, bt, NULL, NULL, 0, NULL, &code, NULL, 0) == 404 &&
          code == 1);
    CHECK(fuse_dl(s->pid, db, s->task, NULL, x, NULL, NULL, 0, NULL, &code, NULL, 0) == 401 &&
          code == 1); /* x: a malformed uid */

    /* The legacy routes refuse a user token, valid as it is (401, errno
     * 1): dev_id, a download token, devInfo. */
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)s->black);
    CHECK(dev_call("GET", path, t, NULL, &eno, NULL) == 401 && eno == 1);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 200 && eno == 0);
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=1.0.0",
             (long long)s->black);
    CHECK(dev_call("GET", path, t, NULL, &eno, NULL) == 401 && eno == 1);
    snprintf(path, sizeof(path), "{\"pid\":%lld,\"authInfo\":\"%s\"}", (long long)s->pid, db);
    CHECK(dev_call("POST", "/ota/devInfo", t, path, &eno, NULL) == 401 && eno == 1);
    {
        /* Both legacy download paths (OneNET's table and its notes). */
        static const char *const dl[] = {"/ota/south/download/0123456789abcdef0123456789abcdef",
                                         "/ota/download/0123456789abcdef0123456789abcdef"};
        size_t i;
        for (i = 0; i < 2; i++) {
            od_srv_hresp r;
            CHECK(dev_send("GET", dl[i], t, NULL, NULL, &r) == 401 && r.body_len == 1 &&
                  r.body[0] == '3');
            od_srv_hresp_free(&r);
        }
    }

    /* A whole upgrade with the user's token: version, check, the package
     * in two Range pieces, steps, the row and the device's version. */
    task = task_for(s, s->pkg_full, s->black);
    CHECK(task > 0 && task_do(task, "start") == 0);
    CHECK(fuse_call("POST", fpath(path, s->pid, db, "version"), t, "{\"s_version\":\"1.0.0\"}",
                    &code, NULL) == 200 && code == 0);
    CHECK(fuse_call("GET", fpath(path, s->pid, db, "check?type=2&version=1.0.0"), t, NULL, &code,
                    &cd) == 200 && code == 0);
    tid = json_integer_value(json_object_get(cd, "tid"));
    size = json_integer_value(json_object_get(cd, "size"));
    CHECK(tid == task && size > 2);
    buf = size > 2 ? malloc((size_t)size) : NULL;
    if (buf) {
        snprintf(path, sizeof(path), "Range: 0-%lld", (long long)size / 2 - 1);
        CHECK(fuse_dl(s->pid, db, tid, NULL, t, path, buf, (size_t)size, &got, &code, cr,
                      sizeof(cr)) == 206 && code == 0 && got == (size_t)size / 2);
        CHECK(!strcmp(row_state(task, s->black, st, sizeof(st)), "downloading"));
        snprintf(path, sizeof(path), "range=%lld-", (long long)got);
        CHECK(fuse_dl(s->pid, db, tid, path, t, NULL, buf, (size_t)size, &got, &code, cr,
                      sizeof(cr)) == 206 && code == 0 && got == (size_t)size);
        md5_hex(buf, got, md5);
        CHECK(!strcmp(md5, dstr(cd, "md5")));
        free(buf);
    }
    CHECK(fuse_status(s->pid, db, tid, t, &code, &status) == 200 && code == 0 && status == 2);
    CHECK(fuse_step(s->pid, db, tid, t, 100, &code) == 200 && code == 0);
    CHECK(fuse_step(s->pid, db, tid, t, 201, &code) == 200 && code == 0);
    CHECK(fuse_status(s->pid, db, tid, t, &code, &status) == 200 && code == 0 && status == 4);
    CHECK(!strcmp(row_state(task, s->black, st, sizeof(st)), "succeeded"));
    CHECK(fuse_call("GET", fpath(path, s->pid, db, "version"), t, NULL, &code, &d) == 200 &&
          code == 0 && !strcmp(dstr(d, "s_version"), "1.1.0"));
    json_decref(d);
    json_decref(cd);

    /* The product taken from alice: her token no longer reaches it, on
     * any route; given to bob, his does. */
    CHECK(owner_put(s->pid, "{\"user_id\":null}") == 200 && owner_shows(s->pid, 0));
    CHECK(fuse_call("GET", fpath(path, s->pid, db, "version"), t, NULL, &code, NULL) == 404 &&
          code == 1);
    CHECK(fuse_status(s->pid, db, tid, t, &code, &status) == 404 && code == 1);
    CHECK(fuse_dl(s->pid, db, tid, NULL, t, NULL, NULL, 0, NULL, &code, NULL, 0) == 404 &&
          code == 1);
    snprintf(path, sizeof(path), "{\"user_id\":%lld}", (long long)bob);
    CHECK(owner_put(s->pid, path) == 200 && owner_shows(s->pid, bob));
    CHECK(fuse_status(s->pid, db, tid, bt, &code, &status) == 200 && code == 0 && status == 4);
    CHECK(fuse_status(s->pid, db, tid, t, &code, &status) == 404 && code == 1);
}

static int test_fuse(void)
{
    scenario s;
    char tok[OD_SRV_TOKEN_MAX], ltok[OD_SRV_TOKEN_MAX], dk0[OD_SRV_TOKEN_MAX];
    char path[256], st[32], md5[33], cr[96], want[96], t1[64];
    const char *d0 = "dev-00000", *d1 = "dev-00001", *db = "dev-00002";
    json_t *cd = NULL, *d = NULL, *j = NULL;
    int code, status, eno;
    int64_t dev0, dev1, size = 0, tid, size1;
    uint8_t *buf = NULL;
    size_t got = 0;

    if (setup(&s, 2) != 0)
        return 1;
    dev0 = s.ids_a[0];
    dev1 = s.ids_a[1];
    CHECK(product_token(&s, "2022-05-01", OD_SRV_SIG_SHA256, tok) == 0);
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_MD5, ltok) == 0);
    CHECK(dev_key_token_v(&s, dev0, d0, "2022-05-01", dk0) == 0);

    fuse_auth(&s, tok, dev0);
    fuse_badinput(&s, tok);

    /* --- a whole upgrade of dev0 over the fuse routes (its own key) --- */
    CHECK(fuse_call("POST", fpath(path, s.pid, d0, "version"), dk0,
                    "{\"s_version\":\"1.0.0\",\"f_version\":\"\"}", &code, NULL) == 200 &&
          code == 0 && !strcmp(fuse_msg, "succ"));
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "version"), dk0, NULL, &code, &d) == 200 &&
          code == 0);
    CHECK(!strcmp(dstr(d, "s_version"), "1.0.0") && !strcmp(dstr(d, "f_version"), ""));
    json_decref(d);
    /* Before the check: the row is pending, and has no package yet. */
    CHECK(fuse_status(s.pid, d0, s.task, dk0, &code, &status) == 200 && code == 0 && status == 1);
    CHECK(fuse_dl(s.pid, d0, s.task, NULL, dk0, NULL, NULL, 0, NULL, &code, NULL, 0) == 403 &&
          code == 17);
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=1"), dk0, NULL, &code, NULL) ==
              200 && code == 11); /* no FOTA task */
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=2&version=1.0.0"), dk0, NULL, &code,
                    &cd) == 200 && code == 0);
    tid = json_integer_value(json_object_get(cd, "tid"));
    size = json_integer_value(json_object_get(cd, "size"));
    CHECK(tid == s.task && size > 2);
    CHECK(!strcmp(dstr(cd, "target"), "1.1.0") && strlen(dstr(cd, "md5")) == 32);
    CHECK(json_integer_value(json_object_get(cd, "status")) == 1);
    CHECK(json_integer_value(json_object_get(cd, "type")) == 2); /* the 1.0.0 -> 1.1.0 delta */
    CHECK(!json_object_get(cd, "token")); /* a fuse device never sees one */
    /* The check does not move the row; a second one answers the same. */
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "pending"));
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=2"), dk0, NULL, &code, &d) == 200 &&
          code == 0 && json_equal(d, cd));
    json_decref(d);
    if (size <= 2) {
        json_decref(cd);
        scenario_free(&s);
        return 1;
    }
    buf = malloc((size_t)size);
    if (!buf) {
        json_decref(cd);
        scenario_free(&s);
        return 1;
    }
    /* In pieces: a Range header; then the range= query argument; then
     * "bytes=start-". The first download moves the row to downloading. */
    snprintf(path, sizeof(path), "Range: 0-%lld", (long long)size / 3 - 1);
    CHECK(fuse_dl(s.pid, d0, tid, NULL, dk0, path, buf, (size_t)size, &got, &code, cr,
                  sizeof(cr)) == 206 && code == 0 && got == (size_t)size / 3);
    snprintf(want, sizeof(want), "bytes 0-%lld/%lld", (long long)size / 3 - 1, (long long)size);
    CHECK(!strcmp(cr, want));
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "downloading"));
    CHECK(fuse_status(s.pid, d0, tid, dk0, &code, &status) == 200 && code == 0 && status == 2);
    snprintf(path, sizeof(path), "range=%lld-%lld", (long long)got, (long long)size * 2 / 3 - 1);
    CHECK(fuse_dl(s.pid, d0, tid, path, dk0, NULL, buf, (size_t)size, &got, &code, cr,
                  sizeof(cr)) == 206 && code == 0 && got == (size_t)size * 2 / 3);
    snprintf(want, sizeof(want), "bytes %lld-%lld/%lld", (long long)size / 3,
             (long long)size * 2 / 3 - 1, (long long)size);
    CHECK(!strcmp(cr, want));
    /* The header wins over the query argument. */
    CHECK(fuse_dl(s.pid, d0, tid, "range=10-19", dk0, "Range: 0-9", NULL, 0, NULL, &code, cr,
                  sizeof(cr)) == 206 && code == 0 && !strncmp(cr, "bytes 0-9/", 10));
    snprintf(path, sizeof(path), "Range: bytes=%lld-", (long long)got);
    CHECK(fuse_dl(s.pid, d0, tid, NULL, dk0, path, buf, (size_t)size, &got, &code, NULL, 0) ==
              206 && code == 0 && got == (size_t)size);
    md5_hex(buf, got, md5);
    CHECK(!strcmp(md5, dstr(cd, "md5")));
    /* A product token fetches the whole file too (200). */
    CHECK(fuse_dl(s.pid, d0, tid, NULL, tok, NULL, NULL, 0, NULL, &code, NULL, 0) == 200 &&
          code == 0);
    /* Steps 0..100, then 201. */
    CHECK(fuse_step(s.pid, d0, tid, dk0, 0, &code) == 200 && code == 0);
    CHECK(fuse_step(s.pid, d0, tid, dk0, 50, &code) == 200 && code == 0);
    CHECK(fuse_status(s.pid, d0, tid, dk0, &code, &status) == 200 && code == 0 && status == 2);
    CHECK(fuse_step(s.pid, d0, tid, dk0, 100, &code) == 200 && code == 0);
    CHECK(fuse_status(s.pid, d0, tid, dk0, &code, &status) == 200 && code == 0 && status == 3);
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "upgrading"));
    /* After 100, 101 is refused (both mean downloaded). */
    CHECK(fuse_step(s.pid, d0, tid, dk0, 101, &code) == 200 && code == 17);
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=2"), dk0, NULL, &code, &d) == 200 &&
          code == 0 && json_integer_value(json_object_get(d, "status")) == 3);
    json_decref(d);
    CHECK(fuse_step(s.pid, d0, tid, dk0, 201, &code) == 200 && code == 0);
    CHECK(fuse_status(s.pid, d0, tid, dk0, &code, &status) == 200 && code == 0 && status == 4);
    CHECK(!strcmp(row_state(s.task, dev0, st, sizeof(st)), "succeeded"));
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "version"), dk0, NULL, &code, &d) == 200 &&
          code == 0 && !strcmp(dstr(d, "s_version"), "1.1.0"));
    json_decref(d);
    /* After the end: OneNET's {"code":20,"msg":"task finish"}. */
    CHECK(fuse_step(s.pid, d0, tid, dk0, 201, &code) == 200 && code == 20 &&
          !strcmp(fuse_msg, "task finish"));
    CHECK(fuse_step(s.pid, d0, tid, dk0, 50, &code) == 200 && code == 20);
    CHECK(fuse_dl(s.pid, d0, tid, NULL, dk0, NULL, NULL, 0, NULL, &code, NULL, 0) == 403 &&
          code == 20);
    CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=2"), dk0, NULL, &code, NULL) ==
              200 && code == 11);
    CHECK(!strcmp(task_state(s.task, st, sizeof(st)), "upgrading")); /* dev1 is left */

    /* --- dev1 in the same task on the legacy routes, mixed with fuse
     * calls on the same row --- */
    CHECK(check_call(ltok, dev1, "1.0.0", t1, &size1) == 0 && size1 == size);
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t1, (long long)dev1);
    CHECK(dev_call("GET", path, ltok, NULL, &eno, NULL) == 200 && eno == 0);
    CHECK(fuse_status(s.pid, d1, tid, tok, &code, &status) == 200 && code == 0 && status == 2);
    got = 0;
    CHECK(fetch(t1, ltok, NULL, buf, (size_t)size, &got) == 200 && got == (size_t)size);
    md5_hex(buf, got, md5);
    CHECK(!strcmp(md5, dstr(cd, "md5")));
    snprintf(path, sizeof(path), "/ota/south/device/download/%s/progress?dev_id=%lld", t1,
             (long long)dev1);
    CHECK(dev_call("POST", path, ltok, "{\"step\":100}", &eno, NULL) == 200 && eno == 0);
    CHECK(fuse_step(s.pid, d1, tid, tok, 101, &code) == 200 && code == 17);
    CHECK(fuse_status(s.pid, d1, tid, tok, &code, &status) == 200 && code == 0 && status == 3);
    CHECK(fuse_step(s.pid, d1, tid, tok, 201, &code) == 200 && code == 0);
    CHECK(dev_call("POST", path, ltok, "{\"step\":201}", &eno, NULL) == 200 && eno == 20);
    /* Both devices done: the task completed. */
    CHECK(!strcmp(task_state(s.task, st, sizeof(st)), "completed"));
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(data_int(j, "succeeded") == 2 && data_int(j, "total") == 2);
    json_decref(j);
    j = NULL;
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)dev1);
    CHECK(admin("GET", path, NULL, 0, &j) == 200);
    CHECK(!strcmp(dstr(json_object_get(j, "data"), "s_version"), "1.1.0"));
    json_decref(j);
    j = NULL;

    /* --- 4: a task in which the device has no row (403) --- */
    {
        int64_t t2 = task_for(&s, s.pkg_full, s.black);
        CHECK(t2 > 0 && task_do(t2, "start") == 0);
        CHECK(fuse_status(s.pid, d0, t2, tok, &code, &status) == 403 && code == 4);
        CHECK(fuse_step(s.pid, d0, t2, tok, 10, &code) == 403 && code == 4);
        CHECK(fuse_dl(s.pid, d0, t2, NULL, tok, NULL, NULL, 0, NULL, &code, NULL, 0) == 403 &&
              code == 4);
        CHECK(fuse_status(s.pid, d0, 999999, tok, &code, &status) == 403 && code == 4);
        /* 17: a download before the device checked; 25 paused; 22
         * cancelled. */
        CHECK(fuse_dl(s.pid, db, t2, NULL, tok, NULL, NULL, 0, NULL, &code, NULL, 0) == 403 &&
              code == 17);
        /* Steps too: the row has no package yet, so nothing was fetched,
         * applied or failed (a legacy device cannot get this far: only
         * the check issues the token its steps need). */
        CHECK(fuse_step(s.pid, db, t2, tok, 50, &code) == 200 && code == 17);
        CHECK(fuse_step(s.pid, db, t2, tok, 100, &code) == 200 && code == 17);
        CHECK(fuse_step(s.pid, db, t2, tok, 102, &code) == 200 && code == 17);
        CHECK(fuse_step(s.pid, db, t2, tok, 201, &code) == 200 && code == 17);
        CHECK(!strcmp(row_state(t2, s.black, st, sizeof(st)), "pending"));
        CHECK(!strcmp(task_state(t2, st, sizeof(st)), "upgrading"));
        snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)s.black);
        CHECK(admin("GET", path, NULL, 0, &j) == 200);
        CHECK(!strcmp(dstr(json_object_get(j, "data"), "s_version"), ""));
        json_decref(j);
        j = NULL;
        CHECK(task_do(t2, "pause") == 0);
        CHECK(fuse_call("GET", fpath(path, s.pid, db, "check?type=2&version=1.0.0"), tok, NULL,
                        &code, NULL) == 200 && code == 25);
        CHECK(fuse_status(s.pid, db, t2, tok, &code, &status) == 200 && code == 25);
        CHECK(fuse_step(s.pid, db, t2, tok, 10, &code) == 200 && code == 25);
        CHECK(task_do(t2, "start") == 0);
        CHECK(fuse_call("GET", fpath(path, s.pid, db, "check?type=2&version=1.0.0"), tok, NULL,
                        &code, &d) == 200 && code == 0);
        CHECK(json_integer_value(json_object_get(d, "tid")) == t2);
        json_decref(d);
        CHECK(task_do(t2, "pause") == 0);
        CHECK(fuse_dl(s.pid, db, t2, NULL, tok, "Range: 0-1", NULL, 0, NULL, &code, NULL, 0) ==
                  503 && code == 25);
        CHECK(!strcmp(row_state(t2, s.black, st, sizeof(st)), "pending"));
        CHECK(task_do(t2, "start") == 0);
        CHECK(fuse_dl(s.pid, db, t2, NULL, tok, "Range: 0-1", NULL, 0, NULL, &code, NULL, 0) ==
                  206 && code == 0);
        CHECK(!strcmp(row_state(t2, s.black, st, sizeof(st)), "downloading"));
        CHECK(task_do(t2, "cancel") == 0);
        CHECK(fuse_step(s.pid, db, t2, tok, 50, &code) == 200 && code == 22);
        CHECK(fuse_status(s.pid, db, t2, tok, &code, &status) == 200 && code == 0 && status == 6);
        CHECK(fuse_dl(s.pid, db, t2, NULL, tok, NULL, NULL, 0, NULL, &code, NULL, 0) == 403 &&
              code == 22);
    }

    /* --- 32, 8, 7 and 12: a task to 1.2.0 with only a 1.1.0 delta --- */
    {
        int64_t pk = delta_to_120(&s), t3;
        CHECK(pk > 0);
        snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s.pid);
        snprintf(want, sizeof(want), "{\"package_id\":%lld,\"devices\":[%lld,%lld]}",
                 (long long)pk, (long long)dev0, (long long)s.black);
        CHECK(admin("POST", path, want, 0, &j) == 201);
        t3 = data_int(j, "id");
        json_decref(j);
        j = NULL;
        CHECK(task_do(t3, "start") == 0);
        CHECK(fuse_call("GET", fpath(path, s.pid, db, "check?type=2&version=1.0.0"), tok, NULL,
                        &code, NULL) == 200 && code == 32);
        CHECK(fuse_status(s.pid, db, t3, tok, &code, &status) == 200 && code == 0 && status == 1);
        CHECK(fuse_call("GET", fpath(path, s.pid, db, "check?type=2&version=1.1.0&manuf=999"), tok,
                        NULL, &code, NULL) == 200 && code == 8);
        CHECK(fuse_status(s.pid, db, t3, tok, &code, &status) == 200 && code == 0 && status == 5);
        /* dev0 reported 1.1.0 through its 201: the delta fits. */
        CHECK(fuse_call("GET", fpath(path, s.pid, d0, "check?type=2"), dk0, NULL, &code, &d) ==
                  200 && code == 0 && json_integer_value(json_object_get(d, "tid")) == t3);
        CHECK(!strcmp(dstr(d, "target"), "1.2.0"));
        json_decref(d);
        /* The row's package gone: 7, with OneNET's "not found" byte. */
        snprintf(path, sizeof(path),
                 "UPDATE task_devices SET package_id=package_id+1000 WHERE task_id=%lld AND"
                 " device_id=%lld", (long long)t3, (long long)dev0);
        CHECK(db_update(path) == 0);
        CHECK(fuse_dl(s.pid, d0, t3, NULL, dk0, NULL, NULL, 0, NULL, &code, NULL, 0) == 404 &&
              code == 7);
        /* Past the deadline: 12 (20 if the server's sweep got there
         * first), the row fails with 208 and the task completes. */
        CHECK(task_expire(t3) == 0);
        CHECK(fuse_step(s.pid, d0, t3, dk0, 10, &code) == 200 && (code == 12 || code == 20));
        CHECK(fuse_status(s.pid, d0, t3, dk0, &code, &status) == 200 && code == 0 && status == 5);
        CHECK(!strcmp(task_state(t3, st, sizeof(st)), "completed"));
    }
    /* 12 itself, deterministically: a live row in a task whose deadline
     * is past, found by the device before the sweep (the status query
     * gates the row as every device call does). */
    {
        int64_t t4 = task_for(&s, s.pkg_full, dev1);
        CHECK(t4 > 0 && task_do(t4, "start") == 0);
        CHECK(fuse_status(s.pid, d1, t4, tok, &code, &status) == 200 && code == 0 && status == 1);
        CHECK(task_expire(t4) == 0);
        CHECK(fuse_status(s.pid, d1, t4, tok, &code, &status) == 200 &&
              ((code == 12 && !strcmp(fuse_msg, "task expired")) || (code == 0 && status == 5)));
        CHECK(fuse_status(s.pid, d1, t4, tok, &code, &status) == 200 && code == 0 && status == 5);
    }
    /* A device name that needs escaping in the path. */
    {
        char dk[OD_SRV_TOKEN_MAX];
        int64_t id;
        snprintf(path, sizeof(path), "/api/v1/products/%lld/devices", (long long)s.pid);
        CHECK(admin("POST", path, "{\"name\":\"meter #7\"}", 0, &j) == 201);
        id = data_int(j, "id");
        json_decref(j);
        j = NULL;
        CHECK(dev_key_token_v(&s, id, "meter #7", "2022-05-01", dk) == 0);
        CHECK(fuse_call("POST", fpath(path, s.pid, "meter%20%237", "version"), dk,
                        "{\"s_version\":\"0.1\"}", &code, NULL) == 200 && code == 0);
        CHECK(fuse_call("GET", fpath(path, s.pid, "meter%20%237", "version"), tok, NULL, &code,
                        &d) == 200 && code == 0 && !strcmp(dstr(d, "s_version"), "0.1"));
        json_decref(d);
    }
    /* The legacy routes keep their own form. */
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)dev0);
    CHECK(dev_call("GET", path, tok, NULL, &eno, NULL) == 200 && eno == 0);
    fuse_user(&s, tok);

    free(buf);
    json_decref(cd);
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */
/* HTTP itself (RFC 9110, 9112): HEAD, 405, request discipline,        */
/* conditional downloads, the per-address connection limit.           */

/* HEAD and then GET of path with the header lines hdr ("Name: v\r\n",
 * may be NULL): the same status, Content-Type and Content-Length (the
 * GET body's), and no body for the HEAD. Returns the status. */
static int head_as_get(const char *path, const char *hdr, int line)
{
    od_srv_hcli c;
    od_srv_hresp h, g;
    char hl[32] = "", gl[32] = "", ht[64] = "", gt[64] = "";
    int sh = -1, sg = -2;
    cli_init(&c);
    if (od_srv_hcli_request(&c, "HEAD", path, hdr, NULL, 0, &h) == 0) {
        sh = h.status;
        od_srv_hresp_header(&h, "Content-Length", hl, sizeof(hl));
        od_srv_hresp_header(&h, "Content-Type", ht, sizeof(ht));
        CHECK(h.body_len == 0);
        od_srv_hresp_free(&h);
    }
    if (od_srv_hcli_request(&c, "GET", path, hdr, NULL, 0, &g) == 0) {
        sg = g.status;
        od_srv_hresp_header(&g, "Content-Length", gl, sizeof(gl));
        od_srv_hresp_header(&g, "Content-Type", gt, sizeof(gt));
        CHECK((size_t)atol(gl) == g.body_len);
        od_srv_hresp_free(&g);
    }
    od_srv_hcli_close(&c);
    if (sh != sg || strcmp(hl, gl) || strcmp(ht, gt)) {
        fprintf(stderr, "line %d: %s: HEAD %d (%s, %s), GET %d (%s, %s)\n", line, path, sh, hl,
                ht, sg, gl, gt);
        return -1;
    }
    return sg;
}
#define HEAD_AS_GET(path, hdr) head_as_get(path, hdr, __LINE__)

/* method path (with auth, if any): the status, the reply's errno into
 * *eno (-1000 if no JSON) and its Allow header into allow (64 bytes). */
static int allow_call(const char *method, const char *path, const char *auth, int *eno,
                      char *allow)
{
    od_srv_hresp r;
    json_t *j;
    int st = dev_send(method, path, auth, NULL, NULL, &r);
    allow[0] = '\0';
    *eno = -1000;
    if (st < 0)
        return -1;
    od_srv_hresp_header(&r, "Allow", allow, 64);
    j = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    if (j && json_object_get(j, "errno"))
        *eno = (int)json_integer_value(json_object_get(j, "errno"));
    else if (j)
        *eno = (int)json_integer_value(json_object_get(j, "code"));
    json_decref(j);
    od_srv_hresp_free(&r);
    return st;
}

/* A TCP connection to the server, 3 s receive timeout; -1 if none. */
static int tcp_open(void)
{
    struct sockaddr_in a;
    struct timeval tv = {3, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET /healthz on fd: 1 answered 200, 0 closed without an answer, -1
 * anything else (a timeout included). */
static int tcp_healthz(int fd)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[64];
    ssize_t n;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
        return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    if (n < 12)
        return -1;
    buf[n] = '\0';
    return !strncmp(buf, "HTTP/1.1 200", 12) ? 1 : -1;
}

/* Item 10: N connections from one address are served, the N+1st is
 * closed unanswered; a closed one frees its place. The server is
 * restarted with --per-ip-connections. */
static void http_per_ip(void)
{
    static const char *const args[] = {"--per-ip-connections", "3", NULL};
    int fd[4], got, ok = 0;
    CHECK(server_stop(SIGTERM) == 0);
    for (size_t i = 0; i < 3; i++)
        server_extra_args[i] = args[i];
    if (server_start(0) != 0) {
        CHECK(!"the server restarts with --per-ip-connections 3");
        return;
    }
    for (int i = 0; i < 4; i++) {
        fd[i] = tcp_open();
        CHECK(fd[i] >= 0);
        sleep_ms(50); /* accepted in this order */
    }
    got = tcp_healthz(fd[3]);
    fprintf(stderr, "per-ip: the 4th connection: %d\n", got);
    CHECK(got == 0);
    for (int i = 0; i < 3; i++)
        CHECK(tcp_healthz(fd[i]) == 1);
    for (int i = 0; i < 4; i++)
        close(fd[i]);
    /* The closes reach the server at its next poll. */
    for (int i = 0; i < 40 && !ok; i++) {
        int f = tcp_open();
        ok = f >= 0 && tcp_healthz(f) == 1;
        if (f >= 0)
            close(f);
        if (!ok)
            sleep_ms(50);
    }
    CHECK(ok);
}

static int test_http(void)
{
    scenario s;
    char tok[OD_SRV_TOKEN_MAX], hdr[700], path[300], t[64], t2[64], allow[64], want[80];
    char etag[80] = "", lastmod[64] = "", range[200];
    int64_t dev, dev1, size = 0;
    int eno;
    json_t *j = NULL;

    if (setup(&s, 4) != 0)
        return 1;
    dev = s.ids_a[0];
    dev1 = s.ids_a[1];
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_SHA256, tok) == 0);
    snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", tok);

    /* 5. HEAD answers as GET on every GET route, and changes nothing:
     * the check issues no token, the token check and a download leave the
     * row pending. */
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2&version=1.0.0",
             (long long)dev);
    CHECK(dev_call("HEAD", path, tok, NULL, &eno, NULL) == 200);
    CHECK(tasking_call(dev, tok, &eno, t) == 200 && eno == 4); /* no token issued */
    CHECK(HEAD_AS_GET(path, hdr) == 200);
    CHECK(tasking_call(dev, tok, &eno, t) == 200 && eno == 0 && t[0]); /* the GET did */
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t, (long long)dev);
    CHECK(dev_call("HEAD", path, tok, NULL, &eno, NULL) == 200);
    CHECK(ROW_IS(s.task, dev, "pending none 0 0 0"));
    snprintf(path, sizeof(path), "/ota/south/download/%s", t);
    CHECK(dev_call("HEAD", path, tok, NULL, &eno, NULL) == 200);
    CHECK(ROW_IS(s.task, dev, "pending none 0 0 0"));
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", t, (long long)dev);
    CHECK(HEAD_AS_GET(path, hdr) == 200);
    CHECK(ROW_IS(s.task, dev, "downloading downloading 0 0 0"));
    {
        char fuse_tok[OD_SRV_TOKEN_MAX], fh[700], dname[64];
        /* The last two are 400 (no body, no type): as the GET. */
        static const char *const dev_paths[] = {"/ota/device/version?dev_id=",
                                                "/ota/south/tasking?type=2&dev_id=",
                                                "/ota/south/check?dev_id=", "/ota/devInfo?"};
        for (size_t i = 0; i < sizeof(dev_paths) / sizeof(dev_paths[0]); i++) {
            snprintf(path, sizeof(path), "%s%lld", dev_paths[i], (long long)dev);
            CHECK(HEAD_AS_GET(path, hdr) == (i < 2 ? 200 : 400));
        }
        CHECK(product_token(&s, "2022-05-01", OD_SRV_SIG_SHA256, fuse_tok) == 0);
        snprintf(fh, sizeof(fh), "Authorization: %s\r\n", fuse_tok);
        snprintf(dname, sizeof(dname), "dev-%05d", 1);
        CHECK(HEAD_AS_GET(fpath(path, s.pid, dname, "version"), fh) == 200);
        CHECK(HEAD_AS_GET(fpath(path, s.pid, dname, "check?type=2&version=1.0.0"), fh) == 200);
        CHECK(HEAD_AS_GET(ftid(path, s.pid, dname, s.task, "check"), fh) == 200);
        CHECK(HEAD_AS_GET("/healthz", NULL) == 200);
    }
    {
        /* Every GET route of the management API: the path before the
         * id, the id, what follows it. */
        const struct {
            const char *pre;
            int64_t id;
            const char *post;
        } mgmt[] = {{"/api/v1/products", 0, ""},         {"/api/v1/products/", s.pid, ""},
                    {"/api/v1/products/", s.pid, "/firmware"},
                    {"/api/v1/products/", s.pid, "/packages"},
                    {"/api/v1/products/", s.pid, "/devices"},
                    {"/api/v1/products/", s.pid, "/groups"},
                    {"/api/v1/products/", s.pid, "/tasks"},
                    {"/api/v1/products/", s.pid, "/push"},
                    {"/api/v1/users", 0, ""},            {"/api/v1/jobs/", 1, ""},
                    {"/api/v1/packages/", s.pkg_diff, ""}, {"/api/v1/devices/", dev, ""},
                    {"/api/v1/groups/", s.group, ""},    {"/api/v1/tasks/", s.task, ""},
                    {"/api/v1/tasks/", s.task, "/export.csv"},
                    {"/api/v1/users/", 999, ""}};
        const size_t nm = sizeof(mgmt) / sizeof(mgmt[0]);
        for (size_t i = 0; i < nm; i++) {
            char id[24] = "";
            if (mgmt[i].id)
                snprintf(id, sizeof(id), "%lld", (long long)mgmt[i].id);
            snprintf(path, sizeof(path), "%s%s%s", mgmt[i].pre, id, mgmt[i].post);
            CHECK(HEAD_AS_GET(path, "Authorization: Bearer " ADMIN "\r\n") ==
                  (i == nm - 1 ? 404 : 200));
        }
    }

    /* 6. A route's path with a method it does not take: 405 with Allow,
     * in the route's API's form; no route: 404, errno 2 anywhere but
     * under /api/ (-2 there). */
    snprintf(path, sizeof(path), "/ota/south/check?dev_id=%lld&type=2", (long long)dev);
    CHECK(allow_call("PUT", path, tok, &eno, allow) == 405 && eno == 2 &&
          !strcmp(allow, "GET, HEAD"));
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)dev);
    CHECK(allow_call("DELETE", path, tok, &eno, allow) == 405 && eno == 2 &&
          !strcmp(allow, "GET, HEAD, POST"));
    CHECK(allow_call("GET", "/ota/south/report", tok, &eno, allow) == 405 && eno == 2 &&
          !strcmp(allow, "POST"));
    CHECK(allow_call("PUT", fpath(path, s.pid, "dev-00001", "version"), tok, &eno, allow) ==
              405 && eno == 2 && !strcmp(allow, "GET, HEAD, POST"));
    CHECK(allow_call("POST", "/healthz", NULL, &eno, allow) == 405 && !strcmp(allow, "GET, HEAD"));
    CHECK(allow_call("DELETE", "/api/v1/products", "Bearer " ADMIN, &eno, allow) == 405 &&
          eno == OD_SRV_ERR_PARAM && !strcmp(allow, "GET, HEAD, POST"));
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)s.task);
    CHECK(allow_call("POST", path, "Bearer " ADMIN, &eno, allow) == 405 &&
          !strcmp(allow, "GET, HEAD, PUT, PATCH, DELETE"));
    snprintf(path, sizeof(path), "/ota/south/download/%s", t);
    CHECK(allow_call("POST", path, tok, &eno, allow) == 405 && !strcmp(allow, "GET, HEAD"));
    CHECK(allow_call("GET", "/ota/nope", tok, &eno, allow) == 404 && eno == 2 && !allow[0]);
    CHECK(allow_call("GET", "/OTA/device/version", tok, &eno, allow) == 404 && eno == 2);
    CHECK(allow_call("GET", "/nope", NULL, &eno, allow) == 404 && eno == 2);
    CHECK(allow_call("GET", "/api/v1/nope", "Bearer " ADMIN, &eno, allow) == 404 &&
          eno == OD_SRV_ERR_NOT_FOUND);
    CHECK(allow_call("GET", "/api/nope", NULL, &eno, allow) == 404 &&
          eno == OD_SRV_ERR_NOT_FOUND);

    /* 7. RFC 9112 3.2 and 5.1: Host missing (HTTP/1.1), twice, or not a
     * host[:port], and white space before a field's colon, are 400; the
     * absolute-form is served, its path taken. */
    {
        /* Each: what comes before the target's path, the version, the
         * header lines before the authorization, the status due. */
        static const struct {
            const char *pre, *version, *fields;
            int status;
        } reqs[] = {
            {"", "HTTP/1.1", "", 400},
            {"", "HTTP/1.1", "Host: a\r\nHost: b\r\n", 400},
            {"", "HTTP/1.1", "Host: a b/c\r\n", 400},
            {"", "HTTP/1.1", "Host: a:8x\r\n", 400},
            {"", "HTTP/1.1", "Host: [::1\r\n", 400},
            {"", "HTTP/1.1", "Host: x\r\nX-Foo : 1\r\n", 400},
            {"", "HTTP/1.0", "", 200},
            {"", "HTTP/1.1", "Host: \r\n", 200},
            {"", "HTTP/1.1", "Host: [::1]:8080\r\n", 200},
            {"", "HTTP/1.1", "Host: ota.example.com:80\r\n", 200},
            {"http://127.0.0.1", "HTTP/1.1", "Host: 127.0.0.1\r\n", 200},
            {"HTTP://ota.example.com:8080", "HTTP/1.1", "Host: x\r\n", 200},
            {"http://u@ota.example.com", "HTTP/1.1", "Host: x\r\n", 400},
            {"ftp://ota.example.com", "HTTP/1.1", "Host: x\r\n", 400},
            {"http://", "HTTP/1.1", "Host: x\r\n", 400}};
        char req[1200], target[120], auth[700];
        snprintf(target, sizeof(target), "/ota/device/version?dev_id=%lld", (long long)dev);
        snprintf(auth, sizeof(auth), "Authorization: %s\r\nConnection: close\r\n", tok);
        for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
            int st;
            snprintf(req, sizeof(req), "GET %s%s %s\r\n%s%s\r\n", reqs[i].pre, target,
                     reqs[i].version, reqs[i].fields, auth);
            st = raw_call(req, &eno);
            if (st != reqs[i].status)
                fprintf(stderr, "request %zu: %d, want %d\n", i, st, reqs[i].status);
            CHECK(st == reqs[i].status && eno == (st == 200 ? 0 : 2));
        }
        /* The absolute-form on a download and on the management API. */
        snprintf(req, sizeof(req), "GET http://127.0.0.1/ota/south/download/%s HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nRange: 0-9\r\n%s\r\n", t, auth);
        CHECK(raw_call(req, &eno) == 206);
        CHECK(raw_call("GET http://h/api/v1/products HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "
                       ADMIN "\r\n\r\n", &eno) == 200);
        CHECK(raw_call("GET /api/v1/products HTTP/1.1\r\nHost: h\r\nAuthorization : Bearer "
                       ADMIN "\r\n\r\n", &eno) == 400 && eno == OD_SRV_ERR_PARAM);
    }

    /* 8. An encoded NUL in the path is refused as one in a query is. */
    snprintf(path, sizeof(path), "/ota/device/version%%00junk?dev_id=%lld", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/fuse-ota/%lld/dev-00001%%00x/version", (long long)s.pid);
    CHECK(fuse_call("GET", path, tok, NULL, &eno, NULL) == 400 && eno == 2);
    snprintf(path, sizeof(path), "/api/v1/products%%00/1");
    CHECK(admin("GET", path, NULL, 0, &j) == 400);
    CHECK(json_integer_value(json_object_get(j, "errno")) == OD_SRV_ERR_PARAM);
    json_decref(j);
    j = NULL;
    snprintf(path, sizeof(path), "/ota/south/download/%s%%00", t);
    CHECK(dl_call("GET", path + strlen("/ota/south/download/"), tok, NULL, &eno) == 400 &&
          eno == 2);
    snprintf(path, sizeof(path), "/ota/device/version%%2500junk?dev_id=%lld", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 404 && eno == 2); /* "%00" as text */

    /* Repeated fields: which one the server took would be a guess for
     * whatever sits in front of it. */
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 200 && eno == 0);
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld&dev_id=%lld", (long long)dev,
             (long long)dev);
    CHECK(dev_get(path, tok, NULL, &eno, NULL, 0) == 400 && eno == 2);
    CHECK(admin("GET", "/api/v1/products?a=1&a=2", NULL, 0, &j) == 400);
    CHECK(json_integer_value(json_object_get(j, "errno")) == OD_SRV_ERR_PARAM);
    json_decref(j);
    j = NULL;
    {
        char many[700] = "/api/v1/products?";
        for (int i = 0; i < 65; i++)
            snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sa%d=1", i ? "&" : "", i);
        CHECK(admin("GET", many, NULL, 0, NULL) == 400);
        many[strlen(many) - strlen("&a64=1")] = '\0'; /* 64 are fine */
        CHECK(admin("GET", many, NULL, 0, NULL) == 200);
    }
    CHECK(raw_call("GET /api/v1/products HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " ADMIN
                   "\r\nAuthorization: Bearer " ADMIN "\r\n\r\n", &eno) == 400 &&
          eno == OD_SRV_ERR_PARAM);

    /* 4. Conditional requests on the package (RFC 9110 13.1, 13.2.2),
     * on a row still pending: none of the 304 / 412 moves it. */
    CHECK(check_call(tok, dev1, "1.0.0", t2, &size) == 0);
    {
        od_srv_hresp r;
        snprintf(path, sizeof(path), "/ota/south/download/%s", t2);
        CHECK(dev_send("HEAD", path, tok, NULL, NULL, &r) == 200);
        CHECK(od_srv_hresp_header(&r, "ETag", etag, sizeof(etag)) == 0 && etag[0] == '"');
        CHECK(od_srv_hresp_header(&r, "Last-Modified", lastmod, sizeof(lastmod)) == 0 &&
              strstr(lastmod, " GMT"));
        od_srv_hresp_free(&r);
        snprintf(range, sizeof(range), "If-None-Match: %s", etag);
        CHECK(dev_send("GET", path, tok, range, NULL, &r) == 304);
        CHECK(r.body_len == 0 && od_srv_hresp_header(&r, "ETag", want, sizeof(want)) == 0 &&
              !strcmp(want, etag));
        /* A 304's Content-Length may only be the 200's (RFC 9110 8.6). */
        CHECK(od_srv_hresp_header(&r, "Content-Length", want, sizeof(want)) != 0 ||
              atoll(want) == size);
        od_srv_hresp_free(&r);
    }
    {
        char weak[160], list[200], miss[140];
        const struct {
            const char *h1, *h2;
            int status;
        } cases[] = {
            {range, NULL, 304},                      /* If-None-Match: the ETag */
            {"If-None-Match: *", NULL, 304},
            {weak, NULL, 304},                       /* weak comparison */
            {"If-None-Match: \"other\"", "Range: 0-9", 206},
            {"If-Match: \"other\"", NULL, 412},
            {"If-Match: \"other\"", range, 412},     /* If-Match first */
            {list, "Range: 0-9", 206},               /* a list naming it */
            {"If-Match: *", NULL, 200},
            {miss, NULL, 412},                       /* If-Match: W/ never matches */
            {NULL, NULL, 0},
        };
        snprintf(range, sizeof(range), "If-None-Match: %s", etag);
        snprintf(weak, sizeof(weak), "If-None-Match: \"x\", W/%s", etag);
        snprintf(list, sizeof(list), "If-Match: \"x\", %s", etag);
        snprintf(miss, sizeof(miss), "If-Match: W/%s", etag);
        for (size_t i = 0; cases[i].h1; i++) {
            char extra[400];
            int st;
            snprintf(extra, sizeof(extra), "%s%s%s", cases[i].h1, cases[i].h2 ? "\r\n" : "",
                     cases[i].h2 ? cases[i].h2 : "");
            st = dl_call("GET", t2, tok, extra, &eno);
            if (st != cases[i].status)
                fprintf(stderr, "conditional %zu (%s): %d, want %d\n", i, extra, st,
                        cases[i].status);
            CHECK(st == cases[i].status);
            /* The first answer with bytes moves the row, a 304 none. */
            if (i == 2)
                CHECK(ROW_IS(s.task, dev1, "pending none 0 0 0"));
            if (i == 3)
                CHECK(ROW_IS(s.task, dev1, "downloading downloading 0 0 0"));
        }
        CHECK(dl_call("HEAD", t2, tok, range, &eno) == 304);
        snprintf(weak, sizeof(weak), "If-Modified-Since: %s", lastmod);
        CHECK(dl_call("GET", t2, tok, weak, &eno) == 304);
        CHECK(dl_call("GET", t2, tok, "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT", &eno) ==
              200);
        CHECK(dl_call("GET", t2, tok, "If-Modified-Since: yesterday", &eno) == 200); /* ignored */
        snprintf(list, sizeof(list), "If-None-Match: \"x\"\r\nIf-Modified-Since: %s", lastmod);
        CHECK(dl_call("GET", t2, tok, list, &eno) == 200); /* If-None-Match wins */
        CHECK(dl_call("GET", t2, tok, "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
                      &eno) == 412);
        snprintf(weak, sizeof(weak), "If-Unmodified-Since: %s", lastmod);
        CHECK(dl_call("GET", t2, tok, weak, &eno) == 200);
        /* If-Range still decides the Range after them. */
        snprintf(list, sizeof(list), "If-Range: %s\r\nRange: 0-9", etag);
        CHECK(dl_call("GET", t2, tok, list, &eno) == 206);
        CHECK(dl_call("GET", t2, tok, "If-Range: \"other\"\r\nRange: 0-9", &eno) == 200);
    }

    http_per_ip();
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */
/* Mode keys: replacing a product's, a device's or a user's key, and
 * deleting a user.                                                   */

/* POST path, a key rotation (no body): the HTTP status; the new key,
 * reply member field, into key (80 bytes) and the reply's id into *id. */
static int rotate(const char *path, const char *field, char *key, int64_t *id)
{
    json_t *j = NULL;
    int st = admin("POST", path, NULL, 0, &j);
    snprintf(key, 80, "%s", dstr(json_object_get(j, "data"), field));
    *id = data_int(j, "id");
    json_decref(j);
    return st;
}

/* 1 if GET path (a management record) shows the string member k = want. */
static int record_shows(const char *path, const char *k, const char *want)
{
    json_t *j = NULL;
    int ok = admin("GET", path, NULL, 0, &j) == 200 &&
             !strcmp(dstr(json_object_get(j, "data"), k), want);
    json_decref(j);
    return ok;
}

/* A device-API GET with auth, reduced to what a refusal consists of, into
 * out: "status errno text" for a JSON reply (legacy errno/error or fuse
 * code/msg; request_id differs by design), "status Ota-Errno byte" for a
 * download (the one-byte body of an error; none for the file). */
static void answer(const char *path, const char *auth, char *out, size_t n)
{
    od_srv_hresp r;
    char ota[16] = "";
    json_t *j;
    int st = dev_send("GET", path, auth, NULL, NULL, &r);
    out[0] = '\0';
    if (st < 0)
        return;
    j = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    if (j) {
        int fuse = json_object_get(j, "code") != NULL;
        snprintf(out, n, "%d %lld %s", st,
                 (long long)json_integer_value(json_object_get(j, fuse ? "code" : "errno")),
                 dstr(j, fuse ? "msg" : "error"));
    } else {
        od_srv_hresp_header(&r, "Ota-Errno", ota, sizeof(ota));
        snprintf(out, n, "%d %s %.*s", st, ota, st >= 400 && r.body_len == 1 ? 1 : 0,
                 (const char *)r.body);
    }
    json_decref(j);
    od_srv_hresp_free(&r);
}

/* After a rotation: path accepts fresh (a token of the new key: 200) and
 * refuses stale (the old key's) exactly as a wrongly signed token, with
 * the same status, errno and text. */
static int rotated(const char *path, const char *stale, const char *fresh)
{
    char forged[OD_SRV_TOKEN_MAX], a[160], b[160], c[160];
    if (!strstr(fresh, "sign=")) /* no new key to sign with */
        return 0;
    forge(fresh, forged);
    answer(path, fresh, a, sizeof(a));
    answer(path, forged, b, sizeof(b));
    answer(path, stale, c, sizeof(c));
    if (strncmp(a, "200 0 ", 6) || strncmp(b, "401 ", 4) || strcmp(b, c)) {
        fprintf(stderr, "  %s: new key \"%s\", forged \"%s\", old key \"%s\"\n", path, a, b, c);
        return 0;
    }
    return 1;
}

static int test_keys(void)
{
    scenario s;
    /* Empty until signed: a token that failed to build is sent as none. */
    char lt[OD_SRV_TOKEN_MAX] = "", ft[OD_SRV_TOKEN_MAX] = "", lt2[OD_SRV_TOKEN_MAX] = "",
         ft2[OD_SRV_TOKEN_MAX] = "", dk[OD_SRV_TOKEN_MAX] = "", dkf[OD_SRV_TOKEN_MAX] = "",
         dk2[OD_SRV_TOKEN_MAX] = "", dkf2[OD_SRV_TOKEN_MAX] = "", other[OD_SRV_TOKEN_MAX] = "",
         ut[OD_SRV_TOKEN_MAX] = "", ut2[OD_SRV_TOKEN_MAX] = "", x[OD_SRV_TOKEN_MAX] = "";
    char key[80], key2[80], ukey[80], path[256], vpath[96], fvpath[256], dlpath[96], body[96],
        dlt[64], md5[33], a[160], b[160];
    const char *d0 = "dev-00000";
    int64_t dev0, dev1, id, uid, uid2, pid2, size = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    json_t *j = NULL, *row;
    size_t i;
    int eno;

    if (setup(&s, 2) != 0)
        return 1;
    /* The database the server created holds the keys below: its user's
     * alone, whatever the umask (this test's is 022 or narrower). */
    CHECK(db_private());
    dev0 = s.ids_a[0];
    dev1 = s.ids_a[1];
    snprintf(vpath, sizeof(vpath), "/ota/device/version?dev_id=%lld", (long long)dev0);
    fpath(fvpath, s.pid, d0, "version");

    /* --- the product key, with a download of dev0 under way --- */
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_SHA256, lt) == 0);
    CHECK(product_token(&s, "2022-05-01", OD_SRV_SIG_SHA256, ft) == 0);
    CHECK(check_call(lt, dev0, "1.0.0", dlt, &size) == 0 && size > 2);
    snprintf(path, sizeof(path), "/ota/south/download/%s/check?dev_id=%lld", dlt, (long long)dev0);
    CHECK(dev_call("GET", path, lt, NULL, &eno, NULL) == 200 && eno == 0);
    snprintf(dlpath, sizeof(dlpath), "/ota/south/download/%s", dlt);
    buf = size > 2 ? malloc((size_t)size) : NULL;
    if (!buf) {
        scenario_free(&s);
        return 1;
    }
    snprintf(path, sizeof(path), "Range: 0-%lld", (long long)size / 2 - 1);
    CHECK(fetch(dlt, lt, path, buf, (size_t)size, &got) == 206 && got == (size_t)size / 2);

    snprintf(path, sizeof(path), "/api/v1/products/%lld/access_key", (long long)s.pid);
    CHECK(rotate(path, "access_key", key, &id) == 200 && id == s.pid);
    CHECK(strlen(key) == 44 && strcmp(key, s.key) != 0); /* base64 of 32 random bytes */
    snprintf(path, sizeof(path), "/api/v1/products/%lld", (long long)s.pid);
    CHECK(record_shows(path, "access_key", key));
    snprintf(s.key, sizeof(s.key), "%s", key);
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_SHA256, lt2) == 0);
    CHECK(product_token(&s, "2022-05-01", OD_SRV_SIG_SHA256, ft2) == 0);
    CHECK(rotated(vpath, lt, lt2));
    CHECK(rotated(fvpath, ft, ft2));
    /* The download: each Range request is authenticated anew, so the old
     * key's next piece is refused (OneNET's byte 3) as a forged token's
     * is; the download token itself names the row, not a key, and the
     * new key's requests resume with it where the device stopped. */
    CHECK(rotated(dlpath, lt, lt2));
    answer(dlpath, lt, a, sizeof(a));
    CHECK(!strcmp(a, "401 1 3"));
    snprintf(path, sizeof(path), "Range: %lld-", (long long)got);
    CHECK(fetch(dlt, lt2, path, buf, (size_t)size, &got) == 206 && got == (size_t)size);
    md5_hex(buf, got, md5);
    CHECK(pkg_shows(s.pkg_diff, "md5", md5));
    /* A second rotation retires the first new key as well. */
    CHECK(rotate("/api/v1/products/999999/access_key", "access_key", key2, &id) == 404);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/access_key", (long long)s.pid);
    CHECK(rotate(path, "access_key", key2, &id) == 200 && strcmp(key2, key) != 0);
    snprintf(s.key, sizeof(s.key), "%s", key2);
    CHECK(product_token(&s, "2018-10-31", OD_SRV_SIG_SHA256, lt) == 0);
    CHECK(rotated(vpath, lt2, lt));
    /* Without the admin token, nothing changes. */
    {
        od_srv_hresp r;
        CHECK(dev_send("POST", path, NULL, NULL, NULL, &r) == 401);
        od_srv_hresp_free(&r);
        snprintf(path, sizeof(path), "/api/v1/products/%lld", (long long)s.pid);
        CHECK(record_shows(path, "access_key", key2));
    }

    /* --- a device key: that device's tokens alone --- */
    CHECK(dev_key_token(&s, dev0, d0, dk) == 0);
    CHECK(dev_key_token_v(&s, dev0, d0, "2022-05-01", dkf) == 0);
    CHECK(dev_key_token(&s, dev1, "dev-00001", other) == 0);
    snprintf(path, sizeof(path), "/api/v1/devices/%lld/dev_key", (long long)dev0);
    CHECK(rotate(path, "dev_key", key, &id) == 200 && id == dev0 && strlen(key) == 44);
    snprintf(path, sizeof(path), "/api/v1/devices/%lld", (long long)dev0);
    CHECK(record_shows(path, "dev_key", key));
    CHECK(dev_key_token(&s, dev0, d0, dk2) == 0); /* signed with the key GET shows */
    CHECK(dev_key_token_v(&s, dev0, d0, "2022-05-01", dkf2) == 0);
    CHECK(rotated(vpath, dk, dk2));
    CHECK(rotated(fvpath, dkf, dkf2));
    CHECK(rotated(dlpath, dk, dk2));
    /* The product key and the other device's key are untouched. */
    CHECK(dev_call("GET", vpath, lt, NULL, &eno, NULL) == 200 && eno == 0);
    snprintf(path, sizeof(path), "/ota/device/version?dev_id=%lld", (long long)dev1);
    CHECK(dev_call("GET", path, other, NULL, &eno, NULL) == 200 && eno == 0);
    CHECK(rotate("/api/v1/devices/999999/dev_key", "dev_key", key, &id) == 404);

    /* --- a user key, on the fuse routes --- */
    uid = create_keyed("/api/v1/users", "{\"name\":\"keys-owner\"}", ukey);
    CHECK(uid > 0);
    snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)uid);
    CHECK(owner_put(s.pid, body) == 200);
    user_token(ukey, uid, time(NULL) + 600, ut);
    snprintf(path, sizeof(path), "/api/v1/users/%lld/access_key", (long long)uid);
    CHECK(rotate(path, "access_key", key, &id) == 200 && id == uid && strlen(key) == 44 &&
          strcmp(key, ukey) != 0);
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)uid);
    CHECK(record_shows(path, "access_key", key));
    user_token(key, uid, time(NULL) + 600, ut2);
    CHECK(rotated(fvpath, ut, ut2));
    CHECK(rotate("/api/v1/users/999999/access_key", "access_key", key2, &id) == 404);
    /* Ids as the other routes take them: anything else is no route. */
    CHECK(rotate("/api/v1/users/0/access_key", "access_key", key2, &id) == 404);
    CHECK(rotate("/api/v1/users/x/access_key", "access_key", key2, &id) == 404);

    /* --- deleting a user: refused while it owns a product --- */
    snprintf(body, sizeof(body), "{\"name\":\"keys-second\",\"user_id\":%lld}", (long long)uid);
    pid2 = create_keyed("/api/v1/products", body, NULL);
    CHECK(pid2 > 0);
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)uid);
    CHECK(admin("DELETE", path, NULL, 0, &j) == 409);
    CHECK(json_integer_value(json_object_get(j, "errno")) == -5 &&
          strstr(dstr(j, "error"), "PUT /api/v1/products/{pid}/owner") != NULL);
    json_decref(j);
    j = NULL;
    CHECK(owner_put(s.pid, "{\"user_id\":null}") == 200);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 409); /* still owns pid2 */
    CHECK(record_shows(path, "access_key", key));
    snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)uid);
    CHECK(owner_put(s.pid, body) == 200);
    answer(fvpath, ut2, a, sizeof(a));
    CHECK(!strncmp(a, "200 0 ", 6));
    CHECK(owner_put(s.pid, "{\"user_id\":null}") == 200);
    CHECK(owner_put(pid2, "{\"user_id\":null}") == 200);
    CHECK(admin("DELETE", path, NULL, 0, &j) == 200);
    CHECK(json_integer_value(json_object_get(j, "errno")) == 0);
    json_decref(j);
    j = NULL;
    CHECK(admin("GET", path, NULL, 0, NULL) == 404);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 404);
    CHECK(admin("DELETE", "/api/v1/users/999999", NULL, 0, NULL) == 404);
    snprintf(path, sizeof(path), "/api/v1/users/%lld/access_key", (long long)uid);
    CHECK(rotate(path, "access_key", key2, &id) == 404);
    CHECK(admin("GET", "/api/v1/users", NULL, 0, &j) == 200);
    json_array_foreach(json_object_get(j, "data"), i, row)
        CHECK(json_integer_value(json_object_get(row, "id")) != uid);
    json_decref(j);
    j = NULL;
    /* Its token now fails as an unknown user's (on a product it owned
     * when the token was made), and its id names nobody. */
    user_token(key, 999999, time(NULL) + 600, x);
    answer(fvpath, x, a, sizeof(a));
    answer(fvpath, ut2, b, sizeof(b));
    CHECK(!strncmp(a, "401 1 ", 6) && !strcmp(a, b));
    snprintf(body, sizeof(body), "{\"user_id\":%lld}", (long long)uid);
    CHECK(owner_put(s.pid, body) == 404 && owner_shows(s.pid, 0));
    /* A user made next does not get the deleted id, the largest so far. */
    uid2 = create_keyed("/api/v1/users", "{\"name\":\"keys-owner\"}", NULL);
    fprintf(stderr, "  user ids: %lld deleted, then %lld\n", (long long)uid, (long long)uid2);
    CHECK(uid2 > uid);
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)uid);
    CHECK(admin("GET", path, NULL, 0, NULL) == 404);

    free(buf);
    scenario_free(&s);
    return 0;
}

/* ---------------------------------------------------------------- */
/* Mode tls: the server with --tls-cert/--tls-key, an OpenSSL client
 * under the same helpers (cli_io), and the device flow over it.      */

static SSL_CTX *tls_ctx; /* trusts the test's self-signed certificate alone */
static char tls_cert[300], tls_key[300], tls_other_key[300], tls_enc_key[300];

static void *tls_open(void *arg, int fd)
{
    SSL *ssl = SSL_new(arg);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

static ssize_t tls_send(void *sess, const void *buf, size_t len)
{
    size_t n = 0;
    if (SSL_write_ex(sess, buf, len, &n) == 1)
        return (ssize_t)n;
    ERR_clear_error();
    errno = EPIPE; /* not a stale EINTR, which the client would retry */
    return -1;
}

static ssize_t tls_recv(void *sess, void *buf, size_t len)
{
    size_t n = 0;
    int e;
    if (SSL_read_ex(sess, buf, len, &n) == 1)
        return (ssize_t)n;
    e = SSL_get_error(sess, 0);
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static int tls_pending(void *sess)
{
    return SSL_has_pending(sess);
}

static void tls_close(void *sess)
{
    SSL_shutdown(sess); /* sends close_notify, does not wait for the reply */
    SSL_free(sess);
    ERR_clear_error();
}

static od_srv_hcli_io tls_io = {tls_open, tls_send, tls_recv, tls_pending, tls_close, NULL};

/* Writes k to path as PEM, encrypted with pass if not NULL. 0 or -1. */
static int tls_write_key(EVP_PKEY *k, const char *path, const char *pass)
{
    FILE *f = k ? fopen(path, "w") : NULL;
    int ok = f && PEM_write_PrivateKey(f, k, pass ? EVP_aes_128_cbc() : NULL,
                                       (const unsigned char *)pass, pass ? (int)strlen(pass) : 0,
                                       NULL, NULL) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* Writes a certificate for k to path: self-signed, for 127.0.0.1 and
 * localhost, valid for a day, with serial number serial. 0 or -1. */
static int tls_write_cert(EVP_PKEY *k, const char *path, long serial)
{
    X509 *x = X509_new();
    X509_NAME *nm = x ? X509_get_subject_name(x) : NULL;
    X509_EXTENSION *san = NULL;
    X509V3_CTX v3;
    FILE *f = NULL;
    int ok = k && nm;

    if (ok) {
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    ok = ok && san && X509_set_version(x, 2) &&
         ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
         X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                                    -1, 0) &&
         X509_set_issuer_name(x, nm) && X509_set_pubkey(x, k) && X509_add_ext(x, san, -1) &&
         X509_sign(x, k, EVP_sha256()) > 0 && (f = fopen(path, "w")) != NULL &&
         PEM_write_X509(f, x) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    X509_EXTENSION_free(san);
    X509_free(x);
    return ok ? 0 : -1;
}

/* tls_cert: tls_write_cert's, serial 1; tls_key its key, tls_enc_key the
 * same under a passphrase; tls_other_key a key that matches nothing. 0 or
 * -1. */
static int tls_make_files(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int ok = tls_write_key(k, tls_key, NULL) == 0 &&
             tls_write_key(k, tls_enc_key, "passphrase") == 0 &&
             tls_write_key(other, tls_other_key, NULL) == 0 && tls_write_cert(k, tls_cert, 1) == 0;

    EVP_PKEY_free(other);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

/* A client context that trusts ca_file alone (NULL: nothing) and wants
 * the certificate to name 127.0.0.1. */
static SSL_CTX *tls_client_ctx(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* A reply without Content-Length ends at the close, which MHD does
     * without close_notify. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if ((ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1") != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Names the TLS files in data_dir and writes them. 0 or -1. */
static int tls_files(void)
{
    snprintf(tls_cert, sizeof(tls_cert), "%s/cert.pem", data_dir);
    snprintf(tls_key, sizeof(tls_key), "%s/key.pem", data_dir);
    snprintf(tls_other_key, sizeof(tls_other_key), "%s/other-key.pem", data_dir);
    snprintf(tls_enc_key, sizeof(tls_enc_key), "%s/enc-key.pem", data_dir);
    return tls_make_files();
}

/* Writes the TLS files, sets the server options and the client. 0, 77
 * (libmicrohttpd without TLS), or -1. */
static int tls_prepare(void)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "SKIP: this libmicrohttpd has no TLS support\n");
        return 77;
    }
    if (tls_files() != 0 || !(tls_ctx = tls_client_ctx(tls_cert))) {
        fprintf(stderr, "cannot make a test certificate\n");
        return -1;
    }
    tls_io.arg = tls_ctx;
    cli_io = &tls_io;
    server_extra_args[0] = "--tls-cert";
    server_extra_args[1] = tls_cert;
    server_extra_args[2] = "--tls-key";
    server_extra_args[3] = tls_key;
    /* A peer that hangs up must fail a write, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* GET /healthz over TLS with ctx: the HTTP status, or -1 without a
 * connection (a failed handshake); ver gets the protocol, "TLSv1.3", and
 * peer (if not NULL) the server's certificate (X509_free it; NULL without
 * one). */
static int tls_healthz(SSL_CTX *ctx, char *ver, size_t ver_size, X509 **peer)
{
    od_srv_hcli_io io = tls_io;
    od_srv_hcli c;
    od_srv_hresp r;
    int st = -1;
    io.arg = ctx;
    cli_init(&c);
    c.io = &io;
    if (od_srv_hcli_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0) {
        st = r.status;
        od_srv_hresp_free(&r);
    }
    if (ver)
        snprintf(ver, ver_size, "%s", c.sess ? SSL_get_version(c.sess) : "");
    if (peer)
        *peer = c.sess ? SSL_get1_peer_certificate(c.sess) : NULL;
    od_srv_hcli_close(&c);
    return st;
}

/* Starts the server with the TLS options args (NULL-terminated) on a
 * data directory of its own: it must refuse (start_refused) without having
 * created the directory. */
static void tls_refused(const char *const *args, const char *want)
{
    static int runs;
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/refused-%d", data_dir, ++runs);
    start_refused(dir, args, want);
    CHECK(access(dir, F_OK) != 0);
}

static int test_tls(unsigned n)
{
    json_t *j = NULL;
    char ver[32], missing[300];
    SSL_CTX *other;

    /* The handshake: our certificate verifies for 127.0.0.1, 1.2 or later. */
    CHECK(tls_healthz(tls_ctx, ver, sizeof(ver), NULL) == 200);
    fprintf(stderr, "tls: negotiated %s\n", ver);
    CHECK(!strcmp(ver, "TLSv1.3") || !strcmp(ver, "TLSv1.2"));
    /* A client that trusts nothing refuses it: verification is on. */
    other = tls_client_ctx(NULL);
    CHECK(other && tls_healthz(other, NULL, 0, NULL) == -1);
    SSL_CTX_free(other);
    /* TLS 1.1 and 1.0 are refused by the server (OD_SRV_TLS_PRIORITIES);
     * OpenSSL offers them at security level 0 only. */
    other = SSL_CTX_new(TLS_client_method());
    CHECK(other && SSL_CTX_set_min_proto_version(other, TLS1_VERSION) == 1 &&
          SSL_CTX_set_max_proto_version(other, TLS1_1_VERSION) == 1 &&
          SSL_CTX_set_cipher_list(other, "DEFAULT:@SECLEVEL=0") == 1);
    if (other) {
        SSL_CTX_set_verify(other, SSL_VERIFY_NONE, NULL);
        CHECK(tls_healthz(other, NULL, 0, NULL) == -1);
        SSL_CTX_free(other);
    }
    /* Plain HTTP on the HTTPS port gets no HTTP reply, and the server
     * goes on serving. */
    {
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        od_srv_hcli plain;
        od_srv_hresp h;
        int got;
        od_srv_hcli_init(&plain, port);
        plain.timeout_ms = 5000;
        got = od_srv_hcli_raw(&plain, req, sizeof(req) - 1, &h);
        CHECK(got != 0);
        if (got == 0)
            od_srv_hresp_free(&h);
        CHECK(tls_healthz(tls_ctx, NULL, 0, NULL) == 200);
    }

    /* The management API: bearer token over TLS. */
    CHECK(admin("GET", "/api/v1/products", NULL, 0, &j) == 200 &&
          json_is_array(json_object_get(j, "data")));
    json_decref(j);
    CHECK(dev_get("/api/v1/products", NULL, NULL, NULL, NULL, 0) == 401);

    /* Start-up refusals, each naming the problem. */
    {
        const char *cert_only[] = {"--tls-cert", tls_cert, NULL};
        const char *key_only[] = {"--tls-key", tls_key, NULL};
        const char *mismatch[] = {"--tls-cert", tls_cert, "--tls-key", tls_other_key, NULL};
        const char *no_cert[] = {"--tls-cert", missing, "--tls-key", tls_key, NULL};
        const char *no_key[] = {"--tls-cert", tls_cert, "--tls-key", missing, NULL};
        const char *cert_as_key[] = {"--tls-cert", tls_cert, "--tls-key", tls_cert, NULL};
        const char *enc_key[] = {"--tls-cert", tls_cert, "--tls-key", tls_enc_key, NULL};
        char want[800];
        snprintf(missing, sizeof(missing), "%s/no-such.pem", data_dir);
        tls_refused(cert_only, "--tls-cert without --tls-key");
        tls_refused(key_only, "--tls-key without --tls-cert");
        snprintf(want, sizeof(want), "%s does not match the certificate in %s", tls_other_key,
                 tls_cert);
        tls_refused(mismatch, want);
        snprintf(want, sizeof(want), "certificate %s: cannot read it: No such file", missing);
        tls_refused(no_cert, want);
        snprintf(want, sizeof(want), "key %s: cannot read it: No such file", missing);
        tls_refused(no_key, want);
        snprintf(want, sizeof(want), "key %s: no unencrypted PEM private key", tls_cert);
        tls_refused(cert_as_key, want);
        /* Without a prompt: the server has no one to ask. */
        snprintf(want, sizeof(want), "key %s: no unencrypted PEM private key", tls_enc_key);
        tls_refused(enc_key, want);
    }

    /* Then mode flow as it is, over HTTPS: uploads, generation, the
     * fleet's downloads in 1 KiB Range pieces checked against
     * Content-Range, with dropped connections, corrupt chunks, power cuts
     * and resumes, the CSV export. */
    return test_flow(n);
}

/* ---------------------------------------------------------------- */
/* Mode tlsreload: SIGHUP reads the certificate and key again.        */

/* Whether the server's stderr (server_err_path) says want within 15 s
 * (generous: a loaded machine). */
static int server_said(const char *want)
{
    for (int i = 0; i < 300; i++) {
        char *t = read_text(server_err_path);
        int found = t && strstr(t, want);
        free(t);
        if (found)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

/* Whether a new connection (ctx) is served want within 5 s. */
static int tls_serves(SSL_CTX *ctx, const X509 *want)
{
    for (int i = 0; i < 100; i++) {
        X509 *peer = NULL;
        int same = tls_healthz(ctx, NULL, 0, &peer) == 200 && peer && !X509_cmp(peer, want);
        X509_free(peer);
        if (same)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

/* The certificate in a PEM file, or NULL. */
static X509 *tls_read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

/*
 * The server starts with certificate A (tls_cert, tls_key). The files are
 * replaced by B, as a renewal does, and after SIGHUP new connections get
 * B while a connection opened on A goes on; then the key is replaced by
 * one that matches nothing, and after SIGHUP the server says why and
 * still serves B.
 */
static int test_tls_reload(void)
{
    char b_cert[300], b_key[300];
    EVP_PKEY *kb = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *a = tls_read_cert(tls_cert), *b = NULL, *peer;
    SSL_CTX *any = tls_client_ctx(NULL); /* verifies nothing: the test compares */
    od_srv_hcli held;
    od_srv_hresp r;

    snprintf(b_cert, sizeof(b_cert), "%s/b-cert.pem", data_dir);
    snprintf(b_key, sizeof(b_key), "%s/b-key.pem", data_dir);
    CHECK(a && any && tls_write_key(kb, b_key, NULL) == 0 && tls_write_cert(kb, b_cert, 2) == 0 &&
          (b = tls_read_cert(b_cert)) != NULL && X509_cmp(a, b) != 0);
    EVP_PKEY_free(kb);
    if (!a || !any || !b) {
        X509_free(a);
        X509_free(b);
        SSL_CTX_free(any);
        return 1;
    }
    SSL_CTX_set_verify(any, SSL_VERIFY_NONE, NULL);
    CHECK(tls_serves(any, a));
    /* Open on A (tls_ctx trusts A alone), kept alive across the reloads. */
    cli_init(&held);
    CHECK(od_srv_hcli_request(&held, "GET", "/healthz", NULL, NULL, 0, &r) == 0 &&
          r.status == 200);
    od_srv_hresp_free(&r);

    CHECK(rename(b_cert, tls_cert) == 0 && rename(b_key, tls_key) == 0);
    CHECK(kill(server_pid, SIGHUP) == 0);
    CHECK(tls_serves(any, b));
    CHECK(server_said("SIGHUP: reloaded TLS certificate"));
    /* Still A's connection: a new one would be B's, which tls_ctx refuses. */
    CHECK(od_srv_hcli_request(&held, "GET", "/healthz", NULL, NULL, 0, &r) == 0 &&
          r.status == 200);
    od_srv_hresp_free(&r);
    peer = held.sess ? SSL_get1_peer_certificate(held.sess) : NULL;
    CHECK(peer && !X509_cmp(peer, a));
    X509_free(peer);
    od_srv_hcli_close(&held);

    /* A broken pair: B's certificate with a key that is not its own. */
    CHECK(rename(tls_other_key, tls_key) == 0);
    CHECK(kill(server_pid, SIGHUP) == 0);
    CHECK(server_said("SIGHUP: TLS reload failed"));
    {
        char want[700], *log = read_text(server_err_path);
        snprintf(want, sizeof(want), "TLS key %s does not match the certificate in %s", tls_key,
                 tls_cert);
        CHECK(log && strstr(log, want));
        free(log);
    }
    CHECK(tls_serves(any, b));
    X509_free(a);
    X509_free(b);
    SSL_CTX_free(any);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Mode push: a push receiver of our own, on an ephemeral port          */

static struct {
    pthread_mutex_t mu;
    char signature[80]; /* of the last verification GET */
    int gets;
    unsigned get_status;  /* the verification's answer */
    const char *get_body;
    int posts;            /* POSTs received, failed ones included */
    int fail_posts;       /* answer that many POSTs 500 before 200 */
    int hang;             /* hold POSTs until cleared (or 20 s) */
    int hung;             /* a POST is being held */
    char last_ctype[80];
    char last_body[4096];
    char last_ts[32], last_sig[100]; /* X-Otadelta-Timestamp / -Signature */
} rx = {PTHREAD_MUTEX_INITIALIZER, "", 0, 200, "PASSED", 0, 0, 0, 0, "", "", "", ""};

typedef struct rx_conn {
    char body[4096];
    size_t n;
} rx_conn;

static enum MHD_Result rx_reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    rx_conn *c = *state;
    unsigned status;
    (void)cls, (void)url, (void)version;
    if (!strcmp(method, "GET")) {
        const char *sig = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "signature");
        const char *body;
        pthread_mutex_lock(&rx.mu);
        snprintf(rx.signature, sizeof(rx.signature), "%s", sig ? sig : "");
        rx.gets++;
        status = rx.get_status;
        body = rx.get_body;
        pthread_mutex_unlock(&rx.mu);
        return rx_reply(conn, status, body);
    }
    if (!c) {
        if (!(c = calloc(1, sizeof(*c))))
            return MHD_NO;
        *state = c;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t take = *upload_size < sizeof(c->body) - 1 - c->n ? *upload_size
                                                                 : sizeof(c->body) - 1 - c->n;
        memcpy(c->body + c->n, upload, take);
        c->n += take;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rx.mu);
    rx.posts++;
    snprintf(rx.last_body, sizeof(rx.last_body), "%s", c->body);
    {
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        snprintf(rx.last_ctype, sizeof(rx.last_ctype), "%s", ct ? ct : "");
        ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Otadelta-Timestamp");
        snprintf(rx.last_ts, sizeof(rx.last_ts), "%s", ct ? ct : "");
        ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Otadelta-Signature");
        snprintf(rx.last_sig, sizeof(rx.last_sig), "%s", ct ? ct : "");
    }
    status = 200;
    if (rx.fail_posts > 0) {
        rx.fail_posts--;
        status = 500;
    }
    rx.hung = rx.hang;
    for (int i = 0; rx.hang && i < 200; i++) {
        pthread_mutex_unlock(&rx.mu);
        sleep_ms(100);
        pthread_mutex_lock(&rx.mu);
    }
    rx.hung = 0;
    pthread_mutex_unlock(&rx.mu);
    return rx_reply(conn, status, "ok");
}

static void rx_done(void *cls, struct MHD_Connection *conn, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*state);
    *state = NULL;
}

static int rx_int(const char *field)
{
    int v;
    pthread_mutex_lock(&rx.mu);
    v = !strcmp(field, "posts") ? rx.posts : !strcmp(field, "gets") ? rx.gets : rx.hung;
    pthread_mutex_unlock(&rx.mu);
    return v;
}

static int64_t data_int_of(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* PUT .../push; the reply's status, *err its error text. */
static int push_put(int64_t pid, const char *url, const char *token, char *err, size_t n)
{
    char path[80];
    json_t *j = json_pack("{ss,ss}", "url", url, "token", token), *out = NULL;
    char *txt = json_dumps(j, JSON_COMPACT);
    int st;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/push", (long long)pid);
    st = admin("PUT", path, txt, 0, &out);
    snprintf(err, n, "%s", dstr(out, "error"));
    free(txt);
    json_decref(j);
    json_decref(out);
    return st;
}

/* GET .../push: data, or NULL. Fails the test if the token is anywhere in
 * the reply. */
static json_t *push_state(int64_t pid, const char *token)
{
    char path[80], *txt;
    json_t *j = NULL, *d;
    snprintf(path, sizeof(path), "/api/v1/products/%lld/push", (long long)pid);
    if (admin("GET", path, NULL, 0, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    txt = json_dumps(j, JSON_COMPACT);
    CHECK(txt && !strstr(txt, token) && !strstr(txt, "\"token\""));
    free(txt);
    d = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return d;
}

/* The delivery of task in GET .../push (a new reference), once its status
 * is want, waiting up to secs; NULL if it never is. */
static json_t *push_wait(int64_t pid, const char *token, int64_t task, const char *want,
                         int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        json_t *d = push_state(pid, token), *v, *found = NULL;
        size_t k;
        json_array_foreach(json_object_get(d, "deliveries"), k, v) {
            if (data_int_of(v, "task_id") == task && !strcmp(dstr(v, "status"), want))
                found = json_incref(v);
        }
        json_decref(d);
        if (found)
            return found;
        sleep_ms(100);
    }
    return NULL;
}

/* A task of pkg for devs[0..n-1] with start_time st, started: its id. */
static int64_t push_task(const scenario *s, int64_t pkg, const int64_t *devs, int n, int64_t st)
{
    char path[80];
    json_t *j = json_pack("{sI,sI}", "package_id", (json_int_t)pkg, "start_time", (json_int_t)st),
           *ids = json_array(), *out = NULL;
    char *txt;
    int64_t id = 0;
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_integer(devs[i]));
    json_object_set_new(j, "devices", ids);
    txt = json_dumps(j, JSON_COMPACT);
    snprintf(path, sizeof(path), "/api/v1/products/%lld/tasks", (long long)s->pid);
    if (admin("POST", path, txt, 0, &out) == 201)
        id = data_int(out, "id");
    free(txt);
    json_decref(j);
    json_decref(out);
    return id && task_do(id, "start") == 0 ? id : 0;
}

/* A task started while the receiver answers its first `fail` POSTs with
 * 500: its delivery ends `want` after the server's 3 attempts, each of
 * which the receiver saw, the last answered `http`. */
static void push_retries(const scenario *s, const char *token, const int64_t *devs, int fail,
                         const char *want, int http)
{
    int64_t t;
    json_t *v;
    int posts;
    pthread_mutex_lock(&rx.mu);
    rx.fail_posts = fail;
    pthread_mutex_unlock(&rx.mu);
    posts = rx_int("posts");
    t = push_task(s, s->pkg_full, devs, 2, (int64_t)time(NULL));
    CHECK(t > 0);
    v = push_wait(s->pid, token, t, want, 20);
    CHECK(v && data_int_of(v, "attempts") == 3 && data_int_of(v, "http_status") == http);
    CHECK(v && (http == 200 || strstr(dstr(v, "last_error"), "HTTP 500")));
    json_decref(v);
    sleep_ms(1500); /* time for an extra attempt to show */
    CHECK(rx_int("posts") == posts + 3);
    CHECK(task_do(t, "cancel") == 0);
}

/*
 * An https receiver with the test's self-signed certificate: the server
 * refuses it while it trusts the system's CAs alone, naming the
 * certificate; restarted with --push-ca it verifies it and delivers to it.
 * A --push-ca that is not a CA file stops the start.
 */
static void push_https(const scenario *s, const char *token, const int64_t *devs)
{
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    char *cert = NULL, *key = NULL, url[120], err[300], want[400], missing[300];
    int64_t t;
    json_t *v;
    int posts;

    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "  https receiver: skipped, this libmicrohttpd has no TLS\n");
        return;
    }
    CHECK(tls_files() == 0 && (cert = read_text(tls_cert)) && (key = read_text(tls_key)));
    if (cert && key)
        d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION |
                                 MHD_USE_INTERNAL_POLLING_THREAD,
                             0, NULL, NULL, rx_handler, NULL, MHD_OPTION_HTTPS_MEM_KEY, key,
                             MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_NOTIFY_COMPLETED,
                             rx_done, NULL, MHD_OPTION_END);
    info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    CHECK(info != NULL);
    if (!info)
        goto out;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ota-receive", info->port);

    CHECK(push_put(s->pid, url, token, err, sizeof(err)) == 400 &&
          strstr(err, "unreachable") && strstr(err, "certificate"));
    fprintf(stderr, "  https, unknown CA: %s\n", err);

    CHECK(server_stop(SIGTERM) == 0);
    server_extra_args[6] = "--push-ca";
    server_extra_args[7] = tls_cert;
    CHECK(server_start(0) == 0);
    CHECK(push_put(s->pid, url, token, err, sizeof(err)) == 200);
    posts = rx_int("posts");
    t = push_task(s, s->pkg_full, devs, 2, (int64_t)time(NULL));
    CHECK(t > 0);
    v = push_wait(s->pid, token, t, "delivered", 10);
    CHECK(v && data_int_of(v, "attempts") == 1 && data_int_of(v, "http_status") == 200 &&
          !strcmp(dstr(v, "url"), url));
    json_decref(v);
    CHECK(rx_int("posts") == posts + 1);
    CHECK(task_do(t, "cancel") == 0);

    {
        const char *not_ca[] = {"--push-ca", tls_key, NULL};
        const char *no_file[] = {"--push-ca", missing, NULL};
        snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", data_dir);
        snprintf(want, sizeof(want), "push CA %s: no PEM certificate in it", tls_key);
        tls_refused(not_ca, want);
        snprintf(want, sizeof(want), "push CA %s: cannot read it: No such file", missing);
        tls_refused(no_file, want);
    }
out:
    if (d)
        MHD_stop_daemon(d);
    free(cert);
    free(key);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until the receiver holds a delivery (rx.hang set), then stops the
 * server, which must not wait for that delivery; clears rx.hang. */
static void stop_while_hung(int sig)
{
    double t0, secs;
    for (int i = 0; i < 100 && !rx_int("hung"); i++)
        sleep_ms(50);
    CHECK(rx_int("hung"));
    t0 = mono_s();
    CHECK(server_stop(sig) == (sig == SIGTERM ? 0 : 128 + sig));
    secs = mono_s() - t0;
    fprintf(stderr, "  stop with a hanging receiver: %.2f s\n", secs);
    CHECK(secs < 3.0);
    pthread_mutex_lock(&rx.mu);
    rx.hang = 0;
    pthread_mutex_unlock(&rx.mu);
}

/*
 * --push-attempts 1 and the one attempt cut short while it hangs, by a
 * stop (the delivery is failed, "interrupted by shutdown") or by a crash
 * (kill -9: once the attempt's lease runs out, made to here, the row is
 * failed, its attempts used up): either way the restarted server does not
 * send it again (attempts never above the limit).
 */
static void push_last_attempt(const scenario *s, const char *token, const int64_t *devs)
{
    static const struct {
        int sig;
        const char *error;
    } ways[] = {{SIGTERM, "interrupted by shutdown"}, {SIGKILL, "attempts used up"}};
    char sql[120];
    int64_t t;
    json_t *v;
    int posts;
    CHECK(server_stop(SIGTERM) == 0);
    server_extra_args[1] = "1";
    CHECK(server_start(0) == 0);
    for (size_t k = 0; k < 2; k++) {
        pthread_mutex_lock(&rx.mu);
        rx.hang = 1;
        pthread_mutex_unlock(&rx.mu);
        posts = rx_int("posts");
        t = push_task(s, s->pkg_full, devs, 1, (int64_t)time(NULL));
        CHECK(t > 0);
        stop_while_hung(ways[k].sig);
        snprintf(sql, sizeof(sql), "UPDATE push_deliveries SET next_at=1 WHERE task_id=%lld",
                 (long long)t);
        if (ways[k].sig == SIGKILL)
            CHECK(db_update(sql) == 0);
        CHECK(server_start(0) == 0);
        v = push_wait(s->pid, token, t, "failed", 10);
        CHECK(v && data_int_of(v, "attempts") == 1 &&
              strstr(dstr(v, "last_error"), ways[k].error));
        json_decref(v);
        sleep_ms(1500); /* time for a second attempt to show */
        CHECK(rx_int("posts") == posts + 1);
        CHECK(task_do(t, "cancel") == 0);
    }
    CHECK(server_stop(SIGTERM) == 0);
    server_extra_args[1] = "3";
    CHECK(server_start(0) == 0);
}

/* A receiver that never answers: a listening socket on an ephemeral port
 * of its own (*port). The descriptor, or -1. */
static int mute_open(uint16_t *port_out)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port_out = ntohs(a.sin_port);
    return fd;
}

/* Takes up to n connections made to the mute receiver fd into held[],
 * waiting up to 15 s for them (they are never read nor answered): how many
 * came. A connection is a URL check under way. */
static int mute_take(int fd, int *held, int n)
{
    int got = 0;
    /* Up to 15 s: on a loaded machine the checks' threads start late. */
    for (int i = 0; i < 300 && got < n; i++) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0)
            held[got++] = c;
        else
            sleep_ms(50);
    }
    return got;
}

/* A PUT .../push on a thread of its own, timed. */
typedef struct put_job {
    pthread_t th;
    int64_t pid;
    const char *url, *token;
    int status;
    double secs;
    char err[300];
} put_job;

static void *put_main(void *arg)
{
    put_job *j = arg;
    double t0 = mono_s();
    j->status = push_put(j->pid, j->url, j->token, j->err, sizeof(j->err));
    j->secs = mono_s() - t0;
    return NULL;
}

static void put_start(put_job *j, int64_t pid, const char *url, const char *token)
{
    memset(j, 0, sizeof(*j));
    j->pid = pid, j->url = url, j->token = token;
    CHECK(pthread_create(&j->th, NULL, put_main, j) == 0);
}

/* A device-API or plain GET (auth may be NULL): the status, or -1;
 * *secs, how long the answer took. */
static int timed_get(const char *path, const char *auth, double *secs)
{
    od_srv_hresp r;
    double t0 = mono_s();
    int st = dev_send("GET", path, auth, NULL, NULL, &r);
    *secs = mono_s() - t0;
    if (st >= 0)
        od_srv_hresp_free(&r);
    return st;
}

/* Whether GET .../push shows want as the product's URL. */
static int push_url_is(int64_t pid, const char *token, const char *want)
{
    json_t *st = push_state(pid, token);
    int same = st && !strcmp(dstr(st, "url"), want);
    json_decref(st);
    return same;
}

/*
 * URL checks wait off the HTTP threads (this server runs a single one)
 * for a receiver that never answers: with OD_SRV_PUSH_CHECKS (4) of them
 * waiting, /healthz, a device call and the management API answer at once,
 * a fifth PUT is refused at once with 503, and the four end with 400 after
 * the 5 s timeout; url stays the product's. Then a stop while a check
 * waits: prompt and clean (a sanitizer's finding would be the exit
 * status), the PUT answered 503 or cut off, nothing stored.
 */
static void push_checks(const scenario *s, const char *token, const char *url)
{
    put_job j[5];
    int fd, held[8], nheld, busy = 0, timed_out = 0, st;
    uint16_t mport = 0;
    char mute[120], tok[OD_SRV_TOKEN_MAX], path[120];
    double secs, t0;

    fd = mute_open(&mport);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    snprintf(mute, sizeof(mute), "http://127.0.0.1:%u/ota-receive", mport);
    for (int i = 0; i < 5; i++)
        put_start(&j[i], s->pid, mute, token);
    nheld = mute_take(fd, held, 4);
    CHECK(nheld == 4);
    st = timed_get("/healthz", NULL, &secs);
    fprintf(stderr, "  4 checks pending: /healthz %d in %.3f s\n", st, secs);
    CHECK(st == 200 && secs < 1.0);
    CHECK(product_token(s, "2018-10-31", OD_SRV_SIG_SHA1, tok) == 0);
    snprintf(path, sizeof(path), "/ota/south/tasking?dev_id=%lld&type=2",
             (long long)s->ids_a[0]);
    st = timed_get(path, tok, &secs);
    fprintf(stderr, "  4 checks pending: device tasking %d in %.3f s\n", st, secs);
    CHECK(st == 200 && secs < 1.0);
    t0 = mono_s();
    CHECK(push_url_is(s->pid, token, url));
    CHECK(mono_s() - t0 < 1.0);
    for (int i = 0; i < 5; i++) {
        pthread_join(j[i].th, NULL);
        fprintf(stderr, "  check %d: %d in %.2f s: %s\n", i, j[i].status, j[i].secs, j[i].err);
        if (j[i].status == 503 && strstr(j[i].err, "busy") && j[i].secs < 1.0)
            busy++;
        else if (j[i].status == 400 && strstr(j[i].err, "unreachable") && j[i].secs > 4.0 &&
                 j[i].secs < 25.0)
            timed_out++;
    }
    CHECK(busy == 1 && timed_out == 4);
    CHECK(push_url_is(s->pid, token, url));
    while (nheld > 0)
        close(held[--nheld]);

    put_start(&j[0], s->pid, mute, token);
    nheld = mute_take(fd, held, 1);
    CHECK(nheld == 1);
    t0 = mono_s();
    CHECK(server_stop(SIGTERM) == 0);
    secs = mono_s() - t0;
    pthread_join(j[0].th, NULL);
    fprintf(stderr, "  stop with a check pending: %.2f s; the PUT: %d %s\n", secs, j[0].status,
            j[0].err);
    CHECK(secs < 3.0);
    CHECK((j[0].status == 503 && strstr(j[0].err, "stopping")) || j[0].status == -1);
    CHECK(server_start(0) == 0);
    CHECK(push_url_is(s->pid, token, url));
    while (nheld > 0)
        close(held[--nheld]);
    close(fd);
}

static int test_push(void)
{
    const char *token = "push-secret-7f3a";
    scenario s;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    uint16_t rx_port, dead_port;
    char url[120], dead[120], bad[160], err[300], want_sig[33], md[80], path[80];
    int64_t devs[3], t1, t4, now = (int64_t)time(NULL);
    json_t *st, *v, *body;
    size_t k;
    int posts, gets;

    if (setup(&s, 2) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    /* The scenario's task holds the devices: free them. */
    CHECK(task_do(s.task, "cancel") == 0);
    devs[0] = s.ids_a[0], devs[1] = s.ids_a[1], devs[2] = s.black;

    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                         NULL, NULL, rx_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_done,
                         NULL, MHD_OPTION_END);
    info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        fprintf(stderr, "cannot start the receiver\n");
        scenario_free(&s);
        return 1;
    }
    rx_port = info->port;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ota-receive", rx_port);
    /* A port nothing listens on: a receiver started and stopped. */
    {
        struct MHD_Daemon *d2 = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                                 rx_handler, NULL, MHD_OPTION_END);
        info = d2 ? MHD_get_daemon_info(d2, MHD_DAEMON_INFO_BIND_PORT) : NULL;
        dead_port = info ? info->port : 1;
        if (d2)
            MHD_stop_daemon(d2);
    }
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%u/ota-receive", dead_port);

    /* Nothing configured yet. */
    st = push_state(s.pid, token);
    CHECK(st && json_is_false(json_object_get(st, "configured")));
    json_decref(st);

    /* Refusals, each naming what failed; nothing is stored. */
    CHECK(push_put(s.pid, dead, token, err, sizeof(err)) == 400 && strstr(err, "unreachable"));
    fprintf(stderr, "  down:   %s\n", err);
    rx.get_body = "NOPE";
    CHECK(push_put(s.pid, url, token, err, sizeof(err)) == 400 && strstr(err, "NOPE") &&
          strstr(err, "PASSED"));
    fprintf(stderr, "  body:   %s\n", err);
    rx.get_body = "PASSED";
    rx.get_status = 403;
    CHECK(push_put(s.pid, url, token, err, sizeof(err)) == 400 && strstr(err, "HTTP 403"));
    fprintf(stderr, "  status: %s\n", err);
    rx.get_status = 200;
    CHECK(push_put(s.pid, "ftp://127.0.0.1/x", token, err, sizeof(err)) == 400 &&
          strstr(err, "url"));
    CHECK(push_put(s.pid, url, "", err, sizeof(err)) == 400 && strstr(err, "token"));
    CHECK(push_put(999999, url, token, err, sizeof(err)) == 404);
    /* Refused before any request: a fragment, which would hide the
     * signature; credentials, which GET would show. */
    gets = rx_int("gets");
    snprintf(bad, sizeof(bad), "%s?a=1#top", url);
    CHECK(push_put(s.pid, bad, token, err, sizeof(err)) == 400 && strstr(err, "no #fragment"));
    fprintf(stderr, "  #:      %s\n", err);
    snprintf(bad, sizeof(bad), "http://ota:pw@127.0.0.1:%u/ota-receive", rx_port);
    CHECK(push_put(s.pid, bad, token, err, sizeof(err)) == 400 &&
          strstr(err, "no user:password@"));
    fprintf(stderr, "  user@:  %s\n", err);
    CHECK(rx_int("gets") == gets);
    st = push_state(s.pid, token);
    CHECK(st && json_is_false(json_object_get(st, "configured")));
    json_decref(st);

    /* Accepted, signed md5(token + product id). */
    snprintf(md, sizeof(md), "%s%lld", token, (long long)s.pid);
    md5_hex((const uint8_t *)md, strlen(md), want_sig);
    CHECK(push_put(s.pid, url, token, err, sizeof(err)) == 200);
    pthread_mutex_lock(&rx.mu);
    CHECK(!strcmp(rx.signature, want_sig));
    pthread_mutex_unlock(&rx.mu);
    st = push_state(s.pid, token);
    CHECK(st && json_is_true(json_object_get(st, "configured")) &&
          !strcmp(dstr(st, "url"), url) && !json_object_get(st, "token"));
    json_decref(st);
    /* An '@' past the host is no credential. */
    snprintf(bad, sizeof(bad), "%s?from=ops@example.com", url);
    CHECK(push_put(s.pid, bad, token, err, sizeof(err)) == 200 &&
          push_url_is(s.pid, token, bad));
    CHECK(push_put(s.pid, url, token, err, sizeof(err)) == 200);

    push_checks(&s, token, url);

    /* A task start: exactly one POST, the task's devices, version, start. */
    t1 = push_task(&s, s.pkg_full, devs, 3, now - 5);
    CHECK(t1 > 0);
    v = push_wait(s.pid, token, t1, "delivered", 10);
    CHECK(v && data_int_of(v, "attempts") == 1);
    json_decref(v);
    sleep_ms(1500); /* time for a duplicate to show */
    CHECK(rx_int("posts") == 1);
    pthread_mutex_lock(&rx.mu);
    CHECK(!strcmp(rx.last_ctype, "application/json"));
    body = json_loads(rx.last_body, 0, NULL);
    /* Signed as API.md says: v1=hex(HMAC-SHA256(token, "<ts>.<body>")),
     * with a current time. */
    {
        char msg[4200], want[100] = "v1=";
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mlen = 0;
        long long ts = strtoll(rx.last_ts, NULL, 10);
        snprintf(msg, sizeof(msg), "%s.%s", rx.last_ts, rx.last_body);
        CHECK(HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)msg,
                   strlen(msg), mac, &mlen) != NULL && mlen == 32);
        for (unsigned i = 0; i < mlen; i++)
            snprintf(want + 3 + 2 * i, sizeof(want) - 3 - 2 * i, "%02x", mac[i]);
        CHECK(!strcmp(rx.last_sig, want));
        CHECK(ts > (long long)time(NULL) - 60 && ts <= (long long)time(NULL));
    }
    pthread_mutex_unlock(&rx.mu);
    CHECK(body && json_is_array(json_object_get(body, "dids")) &&
          json_array_size(json_object_get(body, "dids")) == 3);
    for (int i = 0; body && i < 3; i++) {
        int seen = 0;
        json_array_foreach(json_object_get(body, "dids"), k, v)
            seen |= json_integer_value(v) == devs[i];
        CHECK(seen);
    }
    CHECK(body && !strcmp(dstr(body, "version"), "1.1.0") &&
          data_int_of(body, "startTime") == now - 5 && data_int_of(body, "task_id") == t1 &&
          data_int_of(body, "product_id") == s.pid);
    json_decref(body);
    /* Pausing and resuming is not a new task: no second push. */
    CHECK(task_do(t1, "pause") == 0 && task_do(t1, "start") == 0);
    sleep_ms(1500);
    CHECK(rx_int("posts") == 1);
    CHECK(task_do(t1, "cancel") == 0);

    /* Two failures, then the third attempt (of 3) succeeds; a receiver
     * that always fails: "failed" after 3 attempts, and why. */
    push_retries(&s, token, devs, 2, "delivered", 200);
    push_retries(&s, token, devs, 1000, "failed", 500);
    pthread_mutex_lock(&rx.mu);
    rx.fail_posts = 0;
    rx.hang = 1;
    pthread_mutex_unlock(&rx.mu);

    /* A receiver that hangs does not hold up the server's stop; the
     * delivery stays queued and goes out after the restart. */
    posts = rx_int("posts");
    t4 = push_task(&s, s.pkg_full, devs, 1, now);
    CHECK(t4 > 0);
    stop_while_hung(SIGTERM);
    CHECK(server_start(0) == 0);
    v = push_wait(s.pid, token, t4, "delivered", 10);
    CHECK(v && data_int_of(v, "attempts") == 2);
    json_decref(v);
    CHECK(rx_int("posts") == posts + 2);
    CHECK(task_do(t4, "cancel") == 0);
    /* Unless it was the last attempt allowed. */
    push_last_attempt(&s, token, devs);

    /* DELETE: gone, a second one is 404, the history stays. */
    snprintf(path, sizeof(path), "/api/v1/products/%lld/push", (long long)s.pid);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 404);
    st = push_state(s.pid, token);
    CHECK(st && json_is_false(json_object_get(st, "configured")) &&
          json_array_size(json_object_get(st, "deliveries")) == 6);
    json_decref(st);

    /* Deleting a task takes its deliveries with it, and only those. */
    snprintf(path, sizeof(path), "/api/v1/tasks/%lld", (long long)t1);
    CHECK(admin("DELETE", path, NULL, 0, NULL) == 200);
    st = push_state(s.pid, token);
    CHECK(st && json_array_size(json_object_get(st, "deliveries")) == 5);
    json_array_foreach(json_object_get(st, "deliveries"), k, v)
        CHECK(data_int_of(v, "task_id") != t1);
    json_decref(st);

    push_https(&s, token, devs);
    MHD_stop_daemon(d);
    scenario_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode;
    unsigned n;
    int rc = 0, st;
    char tmpl[] = "/tmp/od_srv_test_XXXXXX", err_path[300];

    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVER_BIN flow|fast|pause|crash|badinput|migrate|stop|conns|legacy|http|fuse|keys|tls|tlsreload|push|bench [N]\n", argv[0]);
        return 2;
    }
    server_bin = argv[1];
    mode = argv[2];
    n = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 200;
    if (n < 2)
        n = 2;
    if (!mkdtemp(tmpl))
        return 1;
    snprintf(data_dir, sizeof(data_dir), "%s", tmpl);
    if (!strcmp(mode, "stop")) { /* the worker's log shows a cancelled job */
        snprintf(err_path, sizeof(err_path), "%s/server.err", data_dir);
        server_err_path = err_path;
    }
    if (!strcmp(mode, "migrate")) {
        char db[sizeof(data_dir) + 16];
        snprintf(db, sizeof(db), "%s/otadelta.db", data_dir);
        if (make_old_db(data_dir) != 0 || chmod(db, 0644) != 0) {
            fprintf(stderr, "cannot create an old database in %s\n", data_dir);
            return 1;
        }
    }
    if (!strcmp(mode, "migrate")) {
        /* The upgrade happens at start: not starting is its failure. */
        if (server_start(0) != 0) {
            fprintf(stderr, "FAIL migrate: the server did not start on the old database\n");
            return 1;
        }
    } else if (!strcmp(mode, "tls") || !strcmp(mode, "tlsreload")) {
        rc = tls_prepare();
        if (rc != 0)
            return rc == 77 ? 77 : 1;
        if (!strcmp(mode, "tlsreload")) {
            snprintf(err_path, sizeof(err_path), "%s/server.err", data_dir);
            server_err_path = err_path;
        }
        /* Plain HTTP starts in every other mode, so here a failure to
         * start is a failure of TLS, not a skip. */
        if (server_start(0) != 0) {
            fprintf(stderr, "FAIL %s: the server did not start with a valid certificate\n", mode);
            return 1;
        }
    } else if (!strcmp(mode, "push") && (server_extra_args[0] = "--push-attempts",
                                          server_extra_args[1] = "3",
                                          server_extra_args[2] = "--push-backoff-ms",
                                          server_extra_args[3] = "300",
                                          server_extra_args[4] = "--http-threads",
                                          server_extra_args[5] = "1", server_start(0) != 0)) {
        fprintf(stderr, "SKIP: cannot start the server on loopback\n");
        return 77;
    } else if (strcmp(mode, "push") && server_start(0) != 0) {
        fprintf(stderr, "SKIP: cannot start the server on loopback\n");
        return 77;
    }
    if (!strcmp(mode, "flow"))
        rc = test_flow(n);
    else if (!strcmp(mode, "fast")) {
        setup_effort = "fast";
        rc = test_flow(n);
    }
    else if (!strcmp(mode, "pause"))
        rc = test_pause(n);
    else if (!strcmp(mode, "crash"))
        rc = test_crash(n);
    else if (!strcmp(mode, "badinput"))
        rc = test_badinput();
    else if (!strcmp(mode, "migrate"))
        rc = test_migrate();
    else if (!strcmp(mode, "stop"))
        rc = test_stop();
    else if (!strcmp(mode, "conns"))
        rc = test_conns();
    else if (!strcmp(mode, "legacy"))
        rc = test_legacy();
    else if (!strcmp(mode, "http"))
        rc = test_http();
    else if (!strcmp(mode, "fuse"))
        rc = test_fuse();
    else if (!strcmp(mode, "keys"))
        rc = test_keys();
    else if (!strcmp(mode, "sweep"))
        rc = test_sweep();
    else if (!strcmp(mode, "tls"))
        rc = test_tls(n);
    else if (!strcmp(mode, "tlsreload"))
        rc = test_tls_reload();
    else if (!strcmp(mode, "push"))
        rc = test_push();
    else if (!strcmp(mode, "bench")) {
        scenario s;
        od_srv_fleet_cfg c;
        od_srv_fleet_result r;
        double t0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        rc = setup(&s, n);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (rc == 0) {
            fleet_cfg(&s, &c, 64, 0);
            c.deadline_s = 600;
            c.jitter_ms = 0;
            rc = od_srv_fleet_run(&c, &r);
            print_result("bench", &r);
            verify(&s, &r);
            printf("| %u devices (64 concurrent, 1 KiB chunks, %u delta + %u full) | setup %.1f s"
                   " | fleet %.2f s | %llu requests | %.0f req/s |\n",
                   n, s.na, s.nb, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0, r.seconds,
                   (unsigned long long)r.requests, (double)r.requests / r.seconds);
            od_srv_fleet_free(&r);
        }
        scenario_free(&s);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        rc = 2;
    }
    st = server_stop(SIGTERM);
    if (st != 0) {
        fprintf(stderr, "server exited with %d\n", st);
        failures++;
    }
    if (!getenv("OD_SRV_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", data_dir);
    }
    if (rc == 0 && failures == 0) {
        fprintf(stderr, "PASS %s\n", mode);
        return 0;
    }
    fprintf(stderr, "FAIL %s (%d checks)\n", mode, failures);
    return 1;
}
