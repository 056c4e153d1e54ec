/*
 * od_srv_hcli.c - minimal HTTP/1.1 client (see od_srv_hcli.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_hcli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void od_srv_hcli_init(od_srv_hcli *c, uint16_t port)
{
    c->fd = -1;
    c->port = port;
    c->timeout_ms = 30000;
    c->io = NULL;
    c->sess = NULL;
}

void od_srv_hcli_close(od_srv_hcli *c)
{
    if (c->sess)
        c->io->close(c->sess);
    c->sess = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int do_connect(od_srv_hcli *c)
{
    struct sockaddr_in sin;
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(c->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        (c->io && !(c->sess = c->io->open(c->io->arg, c->fd)))) {
        od_srv_hcli_close(c);
        return -1;
    }
    return 0;
}

static int send_all(od_srv_hcli *c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = c->sess ? c->io->send(c->sess, p, len) : send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* recv with the handle's timeout; returns bytes, 0 at EOF, -1 on error. */
static ssize_t recv_some(od_srv_hcli *c, void *buf, size_t len)
{
    struct pollfd pf = {c->fd, POLLIN, 0};
    int pr = 1;
    ssize_t r;
    if (!c->sess || !c->io->pending(c->sess)) {
        do
            pr = poll(&pf, 1, (int)c->timeout_ms);
        while (pr < 0 && errno == EINTR);
    }
    if (pr <= 0)
        return -1;
    if (c->sess)
        return c->io->recv(c->sess, buf, len);
    do
        r = recv(c->fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

int od_srv_hresp_header(const od_srv_hresp *resp, const char *name, char *out,
                        size_t out_size)
{
    size_t n = strlen(name);
    const char *p = strstr(resp->headers, "\r\n");
    while (p) {
        const char *line = p + 2, *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > n && line[n] == ':' && !strncasecmp(line, name, n)) {
            const char *v = line + n + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = (size_t)(eol - v);
            if (vl >= out_size)
                vl = out_size - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p = eol;
    }
    return -1;
}

static int read_response(od_srv_hcli *c, od_srv_hresp *resp, int head)
{
    size_t hl = 0, blen = 0, want = 0;
    char *end = NULL, cl[32];
    int has_cl;

    memset(resp, 0, sizeof(*resp));
    while (!end) {
        ssize_t r;
        if (hl + 1 >= sizeof(resp->headers))
            return -1;
        r = recv_some(c, resp->headers + hl, sizeof(resp->headers) - 1 - hl);
        if (r <= 0)
            return -1;
        hl += (size_t)r;
        resp->headers[hl] = '\0';
        end = strstr(resp->headers, "\r\n\r\n");
    }
    if (sscanf(resp->headers, "HTTP/1.%*d %d", &resp->status) != 1)
        return -1;
    {
        /* Bytes after the header block are the start of the body. */
        size_t hdr_end = (size_t)(end - resp->headers) + 4;
        size_t extra = hl - hdr_end;
        has_cl = od_srv_hresp_header(resp, "Content-Length", cl, sizeof(cl)) == 0;
        if (has_cl) {
            unsigned long long v = strtoull(cl, NULL, 10);
            if (v > OD_SRV_HCLI_BODY_MAX)
                return -1;
            want = (size_t)v;
        } else {
            want = OD_SRV_HCLI_BODY_MAX;
        }
        if (head || resp->status == 204 || resp->status == 304)
            want = 0;
        resp->body = malloc((has_cl ? want : 65536) + 1);
        if (!resp->body)
            return -1;
        if (extra > want)
            extra = want;
        memcpy(resp->body, resp->headers + hdr_end, extra);
        blen = extra;
        resp->headers[hdr_end] = '\0';
    }
    {
        size_t cap = has_cl ? want : 65536;
        while (blen < want) {
            ssize_t r;
            if (!has_cl && blen == cap) {
                uint8_t *nb;
                cap = cap * 2 > OD_SRV_HCLI_BODY_MAX ? OD_SRV_HCLI_BODY_MAX : cap * 2;
                nb = realloc(resp->body, cap + 1);
                if (!nb)
                    return -1;
                resp->body = nb;
            }
            r = recv_some(c, resp->body + blen, cap - blen);
            if (r < 0)
                return -1;
            if (r == 0) {
                if (has_cl)
                    return -1;
                break;
            }
            blen += (size_t)r;
        }
    }
    resp->body[blen] = '\0';
    resp->body_len = blen;
    if (!has_cl)
        od_srv_hcli_close(c);
    {
        char conn[32];
        if (od_srv_hresp_header(resp, "Connection", conn, sizeof(conn)) == 0 &&
            !strcasecmp(conn, "close"))
            od_srv_hcli_close(c);
    }
    return 0;
}

int od_srv_hcli_request(od_srv_hcli *c, const char *method, const char *path,
                        const char *extra_headers, const void *body,
                        size_t body_len, od_srv_hresp *resp)
{
    char hdr[4096];
    int n;

    n = snprintf(hdr, sizeof(hdr),
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%sContent-Length: %zu\r\n\r\n",
                 method, path, c->port, extra_headers ? extra_headers : "", body_len);
    if (n < 0 || (size_t)n >= sizeof(hdr))
        return -1;
    memset(resp, 0, sizeof(*resp));
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = c->fd < 0;
        if (fresh && do_connect(c) != 0)
            return -1;
        /* A server may answer (413, 401) before taking the whole body and
         * close; the answer is still there to read. */
        if (send_all(c, hdr, (size_t)n) == 0) {
            int sent = body_len == 0 || send_all(c, body, body_len) == 0;
            if (read_response(c, resp, !strcmp(method, "HEAD")) == 0)
                return 0;
            if (!sent)
                fresh = 1; /* not a stale connection: do not resend */
        }
        od_srv_hresp_free(resp);
        od_srv_hcli_close(c);
        if (fresh)
            break; /* a new connection failed: not a stale keep-alive */
    }
    return -1;
}

int od_srv_hcli_raw(od_srv_hcli *c, const void *req, size_t len,
                    od_srv_hresp *resp)
{
    int rc = -1;
    memset(resp, 0, sizeof(*resp));
    od_srv_hcli_close(c);
    if (do_connect(c) != 0)
        return -1;
    if (send_all(c, req, len) == 0)
        rc = read_response(c, resp, 0);
    if (rc != 0)
        od_srv_hresp_free(resp);
    od_srv_hcli_close(c);
    return rc;
}

void od_srv_hresp_free(od_srv_hresp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
