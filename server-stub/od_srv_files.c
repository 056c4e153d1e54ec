/*
 * od_srv_files.c - package and firmware files under the data directory.
 *
 * Every package is written with od_pkg_write_file (temp + fsync + rename
 * + fsync of the directory) so that a crash (or kill -9) never leaves a
 * half-written package that the database already points to: the database
 * row is updated only after the rename is durable.
 */
#define _POSIX_C_SOURCE 200809L
#include "od_srv_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "od_pkgfmt_host.h"

void od_srv_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int od_srv_random_hex(char *out, size_t nbytes)
{
    uint8_t b[64];
    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
        return OD_SRV_ERR_INTERNAL;
    od_srv_hex(b, nbytes, out);
    return OD_SRV_OK;
}

int od_srv_file_path(const char *data_dir, const char *rel, char *out,
                     size_t out_size)
{
    int n;
    /* Names come from our own database, but a corrupted or hand-edited
     * row must still not reach outside the data directory. */
    if (!rel || !rel[0] || rel[0] == '/' || strstr(rel, ".."))
        return OD_SRV_ERR_PARAM;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
              c == '/'))
            return OD_SRV_ERR_PARAM;
    }
    n = snprintf(out, out_size, "%s/%s", data_dir, rel);
    if (n < 0 || (size_t)n >= out_size)
        return OD_SRV_ERR_PARAM;
    return OD_SRV_OK;
}

int od_srv_file_write_atomic(const char *data_dir, const char *rel,
                             const void *buf, size_t len)
{
    char path[OD_SRV_PATH_MAX];

    if (od_srv_file_path(data_dir, rel, path, sizeof(path)) != OD_SRV_OK)
        return OD_SRV_ERR_PARAM;
    switch (od_pkg_write_file(path, buf, len)) {
    case OD_PKG_OK:
        return OD_SRV_OK;
    case OD_PKG_ERR_IO_DIR:
        /* A power cut could lose the file after a row names it, so no row
         * will: remove it rather than leave it unreferenced. */
        unlink(path);
        return OD_SRV_ERR_IO;
    default:
        return OD_SRV_ERR_IO;
    }
}

int od_srv_file_read_path(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    struct stat sb;
    uint8_t *b;
    size_t got = 0;
    int fd, err;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return OD_SRV_ERR_IO;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
        err = errno;
        close(fd);
        errno = err;
        return OD_SRV_ERR_IO;
    }
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return OD_SRV_ERR_TOO_LARGE;
    }
    b = malloc((size_t)sb.st_size + 1); /* +1: malloc(0) may be NULL, and the NUL */
    if (!b) {
        close(fd);
        return OD_SRV_ERR_NOMEM;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : EIO; /* 0: the file shrank under us */
            /* The caller may be reading a private key. */
            OPENSSL_cleanse(b, got);
            free(b);
            close(fd);
            errno = err;
            return OD_SRV_ERR_IO;
        }
        got += (size_t)r;
    }
    close(fd);
    b[got] = '\0';
    *buf = b;
    *len = got;
    return OD_SRV_OK;
}

int od_srv_file_read(const char *data_dir, const char *rel, size_t max,
                     uint8_t **buf, size_t *len)
{
    char path[OD_SRV_PATH_MAX];

    if (od_srv_file_path(data_dir, rel, path, sizeof(path)) != OD_SRV_OK)
        return OD_SRV_ERR_PARAM;
    return od_srv_file_read_path(path, max, buf, len);
}

/*
 * Takes data_dir/lock for this process (flock: the kernel drops it when
 * the process ends, however it ends) and writes our pid into it. A second
 * server on the same directory would re-queue the first one's running
 * jobs, generate them again, send pushes twice and delete its temp files.
 */
static int lock_dir(const char *data_dir, int *lock_fd)
{
    char path[OD_SRV_PATH_MAX + 8], pid[24] = "";
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/lock", data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "otadelta-server: cannot open %s: %s\n", path, strerror(errno));
        return OD_SRV_ERR_IO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        n = busy ? pread(fd, pid, sizeof(pid) - 1, 0) : 0;
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (busy)
            fprintf(stderr,
                    "otadelta-server: data directory %s is in use by another otadelta-server"
                    " (pid %s): stop it first, or give this one its own --data\n",
                    data_dir, pid[0] ? pid : "unknown");
        else
            fprintf(stderr, "otadelta-server: cannot lock %s: %s\n", path, strerror(errno));
        close(fd);
        return busy ? OD_SRV_ERR_BUSY : OD_SRV_ERR_IO;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        fprintf(stderr, "otadelta-server: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return OD_SRV_ERR_IO;
    }
    *lock_fd = fd;
    return OD_SRV_OK;
}

int od_srv_files_init(const char *data_dir, int *lock_fd)
{
    static const char *const sub[] = {"fw", "pkg", "tmp"};
    char path[OD_SRV_PATH_MAX];
    DIR *d;
    struct dirent *e;
    int rc;

    /* Only the server's user: the database in it holds every key. */
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "otadelta-server: cannot create %s: %s\n", data_dir, strerror(errno));
        return OD_SRV_ERR_IO;
    }
    /* Before anything in the directory is touched. */
    if ((rc = lock_dir(data_dir, lock_fd)) != OD_SRV_OK)
        return rc;
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", data_dir, sub[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return OD_SRV_ERR_IO;
    }
    /* Uploads interrupted by a crash leave temp files; nothing refers to
     * them, so they go. */
    snprintf(path, sizeof(path), "%s/tmp", data_dir);
    d = opendir(path);
    if (!d)
        return OD_SRV_ERR_IO;
    while ((e = readdir(d)) != NULL) {
        char f[OD_SRV_PATH_MAX + 300];
        if (e->d_name[0] == '.')
            continue;
        snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
        unlink(f);
    }
    closedir(d);
    return OD_SRV_OK;
}
