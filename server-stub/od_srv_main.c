/*
 * od_srv_main.c - the otadelta-server command.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SIGHUP: the renewed certificate, or a reason to keep the current one. */
static void reload_tls(od_srv *s, const od_srv_config *cfg)
{
    int rc;
    if (!cfg->tls_cert_file)
        fprintf(stderr, "otadelta-server: SIGHUP: plain HTTP, no TLS certificate to reload\n");
    else if ((rc = od_srv_tls_reload(s)) == OD_SRV_OK)
        fprintf(stderr, "otadelta-server: SIGHUP: reloaded TLS certificate %s and key %s;"
                        " new connections use them\n", cfg->tls_cert_file, cfg->tls_key_file);
    else /* the file checks say what they refused; memory is not a file's fault */
        fprintf(stderr, "otadelta-server: SIGHUP: TLS reload failed (%s): still serving"
                        " the previous certificate\n",
                rc == OD_SRV_ERR_NOMEM ? "out of memory" : "see above");
}

static void usage(void)
{
    fprintf(stderr,
            "usage: otadelta-server --data DIR [--listen ADDR:PORT] [--admin-token T]\n"
            "                       [--workers N] [--http-threads N] [--port-file FILE]\n"
            "                       [--per-ip-connections N]\n"
            "                       [--tls-cert FILE --tls-key FILE]\n"
            "                       [--push-attempts N] [--push-backoff-ms MS] [--push-ca FILE]\n"
            "  --listen       IPv4 address and port (default 127.0.0.1:8080; port 0 =\n"
            "                 ephemeral, written to --port-file)\n"
            "  --admin-token  management API secret (or env OTADELTA_ADMIN_TOKEN)\n"
            "  --workers      package generation threads (default 2)\n"
            "  --per-ip-connections  connections one client address may hold at once\n"
            "                 (default 0: no limit, as a fleet behind carrier-grade NAT\n"
            "                 shares one address; the whole server takes 4096); more\n"
            "                 are closed at once, unanswered\n"
            "  --tls-cert     PEM certificate (chain): serve HTTPS only, TLS 1.2+\n"
            "  --tls-key      its PEM private key (unencrypted)\n"
            "                 SIGHUP reads both files again, checked as at start: if\n"
            "                 they are good, new connections use them; if not, the\n"
            "                 reason goes to stderr and the previous pair stays\n"
            "  --push-attempts    tries per push delivery before it fails (1..100, default 6)\n"
            "  --push-backoff-ms  wait before the first retry, doubling (default 2000)\n"
            "  --push-ca          PEM CA certificates for https push receivers, instead of\n"
            "                     the system's (a receiver with a private CA)\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;
    if (!s || !*s)
        return -1;
    v = strtoul(s, &end, 10);
    if (*end || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int main(int argc, char **argv)
{
    od_srv_config cfg;
    od_srv *s;
    sigset_t sigs, stops;
    int sig = 0;
    const char *listen = "127.0.0.1:8080", *port_file = NULL;
    char addr[64];
    unsigned port = 0;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    cfg.admin_token = getenv("OTADELTA_ADMIN_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--data") && v)
            cfg.data_dir = v, i++;
        else if (!strcmp(a, "--listen") && v)
            listen = v, i++;
        else if (!strcmp(a, "--admin-token") && v)
            cfg.admin_token = v, i++;
        else if (!strcmp(a, "--workers") && v && !parse_uint(v, 64, &cfg.workers))
            i++;
        else if (!strcmp(a, "--http-threads") && v && !parse_uint(v, 64, &cfg.http_threads))
            i++;
        else if (!strcmp(a, "--per-ip-connections") && v &&
                 !parse_uint(v, 4096, &cfg.per_ip_connections))
            i++;
        else if (!strcmp(a, "--push-attempts") && v &&
                 !parse_uint(v, 100, &cfg.push_attempts) && cfg.push_attempts)
            i++;
        else if (!strcmp(a, "--push-backoff-ms") && v &&
                 !parse_uint(v, 3600000, &cfg.push_backoff_ms) && cfg.push_backoff_ms)
            i++;
        else if (!strcmp(a, "--port-file") && v)
            port_file = v, i++;
        else if (!strcmp(a, "--tls-cert") && v)
            cfg.tls_cert_file = v, i++;
        else if (!strcmp(a, "--tls-key") && v)
            cfg.tls_key_file = v, i++;
        else if (!strcmp(a, "--push-ca") && v)
            cfg.push_ca_file = v, i++;
        else {
            usage();
            return 2;
        }
    }
    {
        const char *colon = strrchr(listen, ':');
        size_t n = colon ? (size_t)(colon - listen) : 0;
        if (!colon || n == 0 || n >= sizeof(addr) || parse_uint(colon + 1, 65535, &port)) {
            fprintf(stderr, "otadelta-server: --listen wants ADDR:PORT\n");
            return 2;
        }
        memcpy(addr, listen, n);
        addr[n] = '\0';
    }
    if (!cfg.data_dir || !cfg.admin_token) {
        usage();
        return 2;
    }
    if (!cfg.tls_cert_file != !cfg.tls_key_file) {
        fprintf(stderr, "otadelta-server: %s without %s: give both for HTTPS, or neither for"
                        " plain HTTP\n",
                cfg.tls_cert_file ? "--tls-cert" : "--tls-key",
                cfg.tls_cert_file ? "--tls-key" : "--tls-cert");
        return 2;
    }
    cfg.listen_addr = addr;
    cfg.port = (uint16_t)port;
    /* SIGINT, SIGTERM and SIGHUP go to the sigwait() below: blocked here,
     * before the server starts its threads, which inherit the mask. A
     * handler instead would run on whichever thread the kernel picked and
     * leave the main loop to notice at its next poll. */
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigs = stops;
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    rc = od_srv_start(&cfg, &s);
    if (rc != OD_SRV_OK) {
        /* Refused options, files and a busy directory are explained on
         * stderr by od_srv_start itself; their class name would mislead. */
        if (rc == OD_SRV_ERR_PARAM || rc == OD_SRV_ERR_IO || rc == OD_SRV_ERR_BUSY)
            fprintf(stderr, "otadelta-server: not started\n");
        else
            fprintf(stderr, "otadelta-server: not started: %s\n", od_srv_strerror(rc));
        return 1;
    }
    if (port_file) {
        /* Written atomically so a test polling for it never reads half,
         * through a temporary file of its own (mkstemp: never through a
         * link someone planted at a fixed name). */
        char tmp[4200];
        int fd;
        FILE *f = NULL;
        snprintf(tmp, sizeof(tmp), "%s.XXXXXX", port_file);
        if ((fd = mkstemp(tmp)) >= 0 && !(f = fdopen(fd, "w")))
            close(fd);
        if (!f || fprintf(f, "%u\n", od_srv_port(s)) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            if (fd >= 0)
                unlink(tmp);
            fprintf(stderr, "otadelta-server: cannot write %s\n", port_file);
            od_srv_stop(s);
            return 1;
        }
    }
    fprintf(stderr, "otadelta-server: listening on %s://%s:%u\n",
            cfg.tls_cert_file ? "https" : "http", addr, od_srv_port(s));
    /* 127.0.0.0/8 never leaves the host; anything else carries the admin
     * token in clear without TLS. */
    if (!cfg.tls_cert_file && strncmp(addr, "127.", 4) != 0)
        fprintf(stderr, "otadelta-server: warning: plain HTTP on %s: the admin token and device "
                "traffic cross the network in clear; use --tls-cert/--tls-key or a TLS proxy "
                "unless this network is trusted\n", addr);
    while (sigwait(&sigs, &sig) != 0 || sig == SIGHUP) {
        if (sig == SIGHUP)
            reload_tls(s, &cfg);
        sig = 0;
    }
    /* A second SIGINT or SIGTERM ends a slow stop at once. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
    od_srv_stop(s);
    return 0;
}
