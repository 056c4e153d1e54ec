/*
 * od_srv_hcli.h - a minimal blocking HTTP/1.1 client over a socket, for
 * the fleet simulator and the server tests (no libcurl dependency).
 *
 * One keep-alive connection per handle, to 127.0.0.1 only; responses must
 * carry Content-Length (the server sends it everywhere but on download
 * errors, which end at close as OneNET's do) or end at close.
 * Bodies are capped at OD_SRV_HCLI_BODY_MAX.
 * Thread-safety: one handle per thread.
 */
#ifndef OD_SRV_HCLI_H
#define OD_SRV_HCLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OD_SRV_HCLI_BODY_MAX (8u << 20)
#define OD_SRV_HCLI_HDR_MAX 16384

/*
 * A layer between the socket and HTTP, such as TLS; the client itself
 * links no TLS library, the caller brings one. Every function gets the
 * handle open returned.
 */
typedef struct od_srv_hcli_io {
    /* Starts a session on the connected socket fd (handshake included);
     * returns its handle, or NULL to fail the connection. */
    void *(*open)(void *arg, int fd);
    /* Like send(2)/recv(2): bytes moved, 0 at the end of the stream
     * (recv), -1 on an error. */
    ssize_t (*send)(void *sess, const void *buf, size_t len);
    ssize_t (*recv)(void *sess, void *buf, size_t len);
    /* Whether decoded bytes wait in the session, where poll(2) on the
     * socket cannot see them. */
    int (*pending)(void *sess);
    /* Frees the session; the client closes the socket after. */
    void (*close)(void *sess);
    void *arg;
} od_srv_hcli_io;

typedef struct od_srv_hcli {
    int fd;          /* -1 when not connected */
    uint16_t port;
    unsigned timeout_ms;
    const od_srv_hcli_io *io; /* NULL: plain TCP; set after init */
    void *sess;               /* io's handle while connected */
} od_srv_hcli;

typedef struct od_srv_hresp {
    int status;                      /* HTTP status, 0 if none */
    char headers[OD_SRV_HCLI_HDR_MAX]; /* raw header block, NUL-terminated */
    uint8_t *body;                   /* malloc()'d, NUL-terminated; caller
                                        frees with od_srv_hresp_free */
    size_t body_len;
} od_srv_hresp;

/* Prepares a handle for 127.0.0.1:port (connects lazily). */
void od_srv_hcli_init(od_srv_hcli *c, uint16_t port);

/* Closes the connection (the next request reconnects). */
void od_srv_hcli_close(od_srv_hcli *c);

/*
 * Sends one request and reads the response.
 * extra_headers: "Name: value\r\n" lines or NULL. body may be NULL.
 * A request on a keep-alive connection the server closed is retried once
 * on a fresh connection. Returns 0 and fills *resp, or -1 on a network
 * error (resp->body is NULL then).
 */
int od_srv_hcli_request(od_srv_hcli *c, const char *method, const char *path,
                        const char *extra_headers, const void *body,
                        size_t body_len, od_srv_hresp *resp);

/*
 * Sends raw bytes as a request (for malformed-input tests) and reads a
 * response as above. Closes the connection afterwards.
 */
int od_srv_hcli_raw(od_srv_hcli *c, const void *req, size_t len,
                    od_srv_hresp *resp);

/* Value of header name in resp (case-insensitive), copied to out; 0 if
 * found. */
int od_srv_hresp_header(const od_srv_hresp *resp, const char *name, char *out,
                        size_t out_size);

void od_srv_hresp_free(od_srv_hresp *resp);

#endif /* OD_SRV_HCLI_H */
