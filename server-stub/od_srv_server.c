/*
 * od_srv_server.c - server lifecycle: od_srv_start() / od_srv_stop().
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int od_srv_start(const od_srv_config *cfg, od_srv **out)
{
    od_srv *s;
    od_srv_tls *tls;
    struct in_addr addr;
    int rc;
    size_t tl;

    *out = NULL;
    if (!cfg || !cfg->data_dir || !cfg->admin_token)
        return OD_SRV_ERR_PARAM;
    tl = strlen(cfg->admin_token);
    if (tl < 8 || tl > 200) {
        fprintf(stderr, "otadelta-server: the admin token has %zu characters; it needs 8 to"
                        " 200 (a long random one: openssl rand -hex 32)\n", tl);
        return OD_SRV_ERR_PARAM;
    }
    if (strlen(cfg->data_dir) >= OD_SRV_PATH_MAX - 128) {
        fprintf(stderr, "otadelta-server: the data directory's path is longer than %d bytes\n",
                OD_SRV_PATH_MAX - 129);
        return OD_SRV_ERR_PARAM;
    }
    if (inet_pton(AF_INET, cfg->listen_addr ? cfg->listen_addr : "127.0.0.1", &addr) != 1) {
        fprintf(stderr, "otadelta-server: listen address '%s' is not an IPv4 address (such as"
                        " 127.0.0.1, or 0.0.0.0 for every interface)\n", cfg->listen_addr);
        return OD_SRV_ERR_PARAM;
    }
    /* First, so a wrong file is reported before anything is changed. */
    rc = od_srv_tls_check_ca(cfg);
    if (rc == OD_SRV_OK)
        rc = od_srv_tls_open(cfg, &tls);
    if (rc != OD_SRV_OK)
        return rc;
    /* A device that hangs up mid-download must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    s = calloc(1, sizeof(*s));
    if (!s) {
        od_srv_tls_close(tls);
        return OD_SRV_ERR_NOMEM;
    }
    s->lock_fd = -1;
    s->tls = tls;
    snprintf(s->data_dir, sizeof(s->data_dir), "%s", cfg->data_dir);
    snprintf(s->admin_token, sizeof(s->admin_token), "%s", cfg->admin_token);
    rc = od_srv_files_init(s->data_dir, &s->lock_fd);
    if (rc == OD_SRV_OK)
        rc = od_srv_store_sqlite_open(s->data_dir, &s->store);
    if (rc == OD_SRV_OK)
        rc = od_srv_jobs_start(s, cfg->workers);
    if (rc == OD_SRV_OK)
        rc = od_srv_push_start(s, cfg->push_attempts, cfg->push_backoff_ms,
                               cfg->push_ca_file);
    if (rc == OD_SRV_OK)
        rc = od_srv_http_start(s, cfg);
    if (rc != OD_SRV_OK) {
        od_srv_stop(s);
        return rc;
    }
    *out = s;
    return OD_SRV_OK;
}

uint16_t od_srv_port(const od_srv *s)
{
    return s ? s->port : 0;
}

void od_srv_stop(od_srv *s)
{
    if (!s)
        return;
    od_srv_push_checks_stop(s); /* resumes the connections they suspended */
    od_srv_http_stop(s);
    od_srv_tls_close(s->tls); /* no handshake runs now */
    od_srv_jobs_stop(s);
    od_srv_push_stop(s);
    if (s->store)
        s->store->ops->close(s->store);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* last: nothing of ours touches the directory now */
    free(s);
}
