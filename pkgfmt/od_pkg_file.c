/*
 * od_pkg_file.c - durable, atomic file replacement for the host tools.
 *
 * The CLI writes packages and restored images with it, the server the
 * packages it generates, keygen its key files (od_pkg_sign.c, through
 * od__pkg_write_temp); both need "old file or complete new file" across
 * crashes, kill -9 and power cuts, because a half-written package under
 * its final name is what a device would download.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "od_pkgfmt_host.h"
#include "od_pkgfmt_internal.h"

/* The random part is as long as mkstemp's (6 of 62 characters, about 36
 * bits), so a name that fits NAME_MAX with the usual ".tmp.XXXXXX" still
 * fits; O_EXCL turns a collision into another try. */
#define TMP_RANDOM 6
#define TMP_TRIES 16
#define TMP_ROOM (5 + TMP_RANDOM + 1) /* ".tmp." + random + NUL */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Creates the temporary file: tmp gets its name (room for strlen(path) +
 * TMP_ROOM bytes). Returns its descriptor, or -1 with errno set. */
static int create_tmp(const char *path, char *tmp, mode_t mode)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t n = strlen(path), i;
    int t;

    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.", 5);
    tmp[n + 5 + TMP_RANDOM] = '\0';
    for (t = 0; t < TMP_TRIES; t++) {
        unsigned char rnd[TMP_RANDOM];
        int fd;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            errno = EAGAIN;
            return -1;
        }
        /* 256 % 62 = 8: the first 8 characters come up a little more
         * often, which costs uniqueness nothing that O_EXCL does not catch. */
        for (i = 0; i < TMP_RANDOM; i++)
            tmp[n + 5 + i] = chars[rnd[i] % 62];
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

int od_pkg_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, err;

    if (fd < 0)
        return OD_PKG_ERR_IO_DIR;
    r = fsync(fd) != 0 && errno != EINVAL ? OD_PKG_ERR_IO_DIR : OD_PKG_OK;
    err = errno;
    close(fd);
    errno = err;
    return r;
}

/* Flushes the directory holding path (tmp is scratch space as large). The
 * rename is durable only once the directory entry is on disk: a power cut
 * before that can bring back the old file, or none. Returns as
 * od_pkg_sync_dir. */
static int sync_dir(const char *path, char *tmp)
{
    char *slash;

    strcpy(tmp, path);
    slash = strrchr(tmp, '/');
    if (slash)
        slash[slash == tmp ? 1 : 0] = '\0';
    return od_pkg_sync_dir(slash ? tmp : ".");
}

int od__pkg_write_temp(const char *path, const void *data, size_t size, unsigned create_mode,
                       unsigned set_mode, char **tmp)
{
    char *name = malloc(strlen(path) + TMP_ROOM);
    int fd, err;

    *tmp = NULL;
    if (!name) {
        errno = ENOMEM;
        return OD_PKG_ERR_IO_CREATE;
    }
    if ((fd = create_tmp(path, name, (mode_t)create_mode)) < 0) {
        err = errno;
        free(name);
        errno = err;
        return OD_PKG_ERR_IO_CREATE;
    }
    if (write_all(fd, data, size) != 0 || (set_mode && fchmod(fd, (mode_t)set_mode) != 0) ||
        fsync(fd) != 0) {
        err = errno;
        close(fd);
    } else if (close(fd) != 0) {
        err = errno;
    } else {
        *tmp = name;
        return OD_PKG_OK;
    }
    unlink(name);
    free(name);
    errno = err;
    return OD_PKG_ERR_IO;
}

int od_pkg_write_file(const char *path, const void *data, size_t size)
{
    char *tmp;
    int err, r = od__pkg_write_temp(path, data, size, 0644, 0, &tmp);

    if (r != OD_PKG_OK)
        return r;
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        r = OD_PKG_ERR_IO;
    } else {
        r = sync_dir(path, tmp);
        err = errno;
    }
    free(tmp);
    errno = err;
    return r;
}
