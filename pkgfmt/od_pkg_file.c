/*
 * od_pkg_file.c - durable, atomic file replacement for the host tools.
 *
 * The CLI writes packages and restored images with it, the server the
 * packages it generates, keygen its key files (od_pkg_sign.c, through
 * od__pkg_write_temp); both need "old file or complete new file" across
 * crashes, kill -9 and power cuts, because a half-written package under
 * its final name is what a device would download.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat */
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

/* Puts a fresh temporary name for path in tmp (room for strlen(path) +
 * TMP_ROOM bytes). Returns 0, or -1 with errno set. */
static int tmp_name(const char *path, char *tmp)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const char *slash = strrchr(path, '/');
    size_t n = strlen(path), dir = slash ? (size_t)(slash - path) + 1 : 0, i;
    unsigned char rnd[TMP_RANDOM];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        errno = EAGAIN;
        return -1;
    }
    memcpy(tmp, path, n);
    /* A name too long to take the suffix within NAME_MAX (255 on Linux)
     * is still a valid output: its temporary file is DIR/.od.tmp.XXXXXX. */
    if (n - dir + 5 + TMP_RANDOM > 255) {
        memcpy(tmp + dir, ".od", 3);
        n = dir + 3;
    }
    memcpy(tmp + n, ".tmp.", 5);
    /* 256 % 62 = 8: the first 8 characters come up a little more often,
     * which costs uniqueness nothing that O_EXCL (or link) does not catch. */
    for (i = 0; i < TMP_RANDOM; i++)
        tmp[n + 5 + i] = chars[rnd[i] % 62];
    tmp[n + 5 + TMP_RANDOM] = '\0';
    return 0;
}

/* Creates the temporary file: tmp gets its name. Returns its descriptor,
 * or -1 with errno set. */
static int create_tmp(const char *path, char *tmp, mode_t mode)
{
    int t;
    for (t = 0; t < TMP_TRIES; t++) {
        int fd;
        if (tmp_name(path, tmp) != 0)
            return -1;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Writes data, sets the mode (if set_mode) and flushes. 0, or -1 with
 * errno set. */
static int fill(int fd, const void *data, size_t size, unsigned set_mode)
{
    if (write_all(fd, data, size) != 0 || (set_mode && fchmod(fd, (mode_t)set_mode) != 0) ||
        fsync(fd) != 0)
        return -1;
    return 0;
}

/* The directory holding path, written into buf (room for strlen(path) +
 * 1 bytes), or "." for a bare name. */
static const char *dir_of(const char *path, char *buf)
{
    char *slash;
    strcpy(buf, path);
    slash = strrchr(buf, '/');
    if (!slash)
        return ".";
    slash[slash == buf ? 1 : 0] = '\0';
    return buf;
}

#ifdef O_TMPFILE
/*
 * Linux: the bytes go to an unnamed file in path's directory, which gets
 * its temporary name only once complete and flushed, so a kill or crash
 * while writing (a package can take seconds) leaves no stray file. tmp is
 * scratch space as for tmp_name. Returns 0 with the name in tmp, -1 with
 * errno set when writing failed, or 1 when the file system or the lack of
 * /proc rules it out (the caller writes a named file instead).
 */
static int write_unnamed(const char *path, const void *data, size_t size, unsigned create_mode,
                         unsigned set_mode, char *tmp)
{
    char proc[40];
    int fd, t, err;

    fd = open(dir_of(path, tmp), O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)create_mode);
    if (fd < 0)
        return 1;
    if (fill(fd, data, size, set_mode) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    for (t = 0; t < TMP_TRIES; t++) {
        if (tmp_name(path, tmp) != 0)
            break;
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    close(fd);
    return 1;
}
#endif

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
    return od_pkg_sync_dir(dir_of(path, tmp));
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
#ifdef O_TMPFILE
    switch (write_unnamed(path, data, size, create_mode, set_mode, name)) {
    case 0:
        *tmp = name;
        return OD_PKG_OK;
    case -1:
        err = errno;
        free(name);
        errno = err;
        return OD_PKG_ERR_IO;
    default:
        break;
    }
#endif
    if ((fd = create_tmp(path, name, (mode_t)create_mode)) < 0) {
        err = errno;
        free(name);
        errno = err;
        return OD_PKG_ERR_IO_CREATE;
    }
    if (fill(fd, data, size, set_mode) != 0) {
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
    struct stat st;
    char *tmp;
    int err, r;

    /* A replaced file keeps its permissions: a package someone made
     * private (or group-writable) should not change that by being
     * regenerated. lstat: a link at path is replaced, not read through. */
    r = od__pkg_write_temp(path, data, size, 0644,
                           lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0,
                           &tmp);

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
