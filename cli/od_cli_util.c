/*
 * od_cli_util.c - messages and file input/output shared by the otadelta
 * command's source files.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "od_cli_util.h"
#include "od_pkgfmt_host.h"

void od_cli_msg(const char *fmt, ...)
{
    va_list ap;
    fputs("otadelta: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/*
 * Opens path for reading and requires a regular file. O_NONBLOCK keeps a
 * FIFO from blocking the open (and the read after it) until a writer
 * comes; it changes nothing for a regular file. Returns the descriptor,
 * or -1 after saying why.
 */
static int open_input(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        od_cli_msg("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        od_cli_msg("'%s' is not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

int od_cli_read_file(const char *path, size_t limit, uint8_t **out, size_t *size)
{
    struct stat st;
    uint8_t *buf;
    size_t got = 0;
    int fd = open_input(path, &st);

    if (fd < 0)
        return OD_CLI_EX_INPUT;
    if ((uint64_t)st.st_size > limit) {
        od_cli_msg("'%s' is %lld bytes; the limit is %zu bytes", path, (long long)st.st_size, limit);
        close(fd);
        return OD_CLI_EX_INPUT;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        od_cli_msg("cannot read '%s': out of memory", path);
        close(fd);
        return OD_CLI_EX_INPUT;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            od_cli_msg("cannot read '%s': %s", path,
                n ? strerror(errno) : "it shrank while being read");
            /* It may have been a private key (od_cli_sign.c wipes the
             * bytes of one it reads whole). */
            OPENSSL_cleanse(buf, got);
            free(buf);
            close(fd);
            return OD_CLI_EX_INPUT;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *size = got;
    return OD_CLI_EX_OK;
}

/* 1 if a and b name the same file: the same string, or two existing paths
 * with the same device and inode. 0 otherwise or when either is NULL. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b)
        return 0;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int od_cli_refuse_same(const char *role, const char *path, const od_cli_file *others, size_t n,
                       const char *hint)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (same_file(path, others[i].path)) {
            od_cli_msg("%s '%s' is the same file as %s '%s'; %s", role, path, others[i].role,
                others[i].path, hint);
            return OD_CLI_EX_USAGE;
        }
    return OD_CLI_EX_OK;
}

FILE *od_cli_summary_stream(const char *out)
{
    struct stat so, sd;
    if (stat(out, &so) != 0)
        return stdout;
    if (!S_ISREG(so.st_mode) ||
        (fstat(STDOUT_FILENO, &sd) == 0 && sd.st_dev == so.st_dev && sd.st_ino == so.st_ino))
        return stderr;
    return stdout;
}

int od_cli_fd_name(const char *path)
{
    static const char *const dirs[] = {"/dev/fd/", "/proc/self/fd/"};
    size_t i, n;
    if (!strcmp(path, "/dev/stdout"))
        return 1;
    if (!strcmp(path, "/dev/stderr"))
        return 2;
    for (i = 0; i < 2; i++) {
        const char *d;
        long v = 0;
        n = strlen(dirs[i]);
        if (strncmp(path, dirs[i], n) != 0 || !path[n])
            continue;
        for (d = path + n; *d >= '0' && *d <= '9' && v <= 65535; d++)
            v = v * 10 + (*d - '0');
        return *d || v > 65535 ? -1 : (int)v;
    }
    return -1;
}

int od_cli_check_output(const char *path, int resume)
{
    struct stat st;
    size_t n = strlen(path);
    int fd = od_cli_fd_name(path);
    char *dir, *slash;

    if (fd >= 0) {
        if (resume) {
            od_cli_msg("--resume builds NEW in a file beside it: '%s' is a descriptor, not a file; "
                "write to a file, or drop --resume", path);
            return OD_CLI_EX_USAGE;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
            od_cli_msg("cannot write '%s': %s", path,
                fl < 0 ? strerror(errno) : "the descriptor is open for reading only");
            return OD_CLI_EX_OUTPUT;
        }
        return OD_CLI_EX_OK;
    }
    if (n == 0 || path[n - 1] == '/') {
        od_cli_msg("cannot write '%s': give a file name, not a directory", path);
        return OD_CLI_EX_OUTPUT;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            od_cli_msg("cannot write '%s': it is a directory", path);
            return OD_CLI_EX_OUTPUT;
        }
        if (resume && !S_ISREG(st.st_mode)) {
            od_cli_msg("--resume builds NEW in a file beside it and then renames it: '%s' is not a "
                "regular file (a pipe or a device); drop --resume to write to it directly", path);
            return OD_CLI_EX_USAGE;
        }
        return OD_CLI_EX_OK;
    }
    if (errno != ENOENT) {
        od_cli_msg("cannot write '%s': %s", path, strerror(errno));
        return OD_CLI_EX_OUTPUT;
    }
    if (lstat(path, &st) == 0) {
        od_cli_msg("cannot write '%s': it is a symbolic link to a missing file", path);
        return OD_CLI_EX_OUTPUT;
    }
    /* A missing file is fine if the directory it goes in exists. */
    if (!(dir = strdup(path))) {
        od_cli_msg("out of memory");
        return OD_CLI_EX_OUTPUT;
    }
    slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    if (slash) {
        int e = stat(dir, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (e) {
            od_cli_msg("cannot write '%s': '%s': %s", path, dir, strerror(e));
            free(dir);
            return OD_CLI_EX_OUTPUT;
        }
    }
    free(dir);
    return OD_CLI_EX_OK;
}

/* Writes all of data to an open descriptor that the command did not open
 * (standard output through /dev/stdout): in place, at its offset, as a
 * shell redirection set it up, never truncated or replaced. */
static int write_fd(const char *path, int fd, const uint8_t *data, size_t size)
{
    fflush(NULL); /* anything printed before goes first */
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            od_cli_msg("cannot write '%s': %s", path, w ? strerror(errno) : "nothing written");
            return OD_CLI_EX_OUTPUT;
        }
        data += w;
        size -= (size_t)w;
    }
    return OD_CLI_EX_OK;
}

/* Plain write for outputs that are not regular files (a terminal, a pipe,
 * /dev/stdout): there is nothing to replace atomically, and O_TRUNC, which
 * "wb" adds, means nothing to them. */
static int write_direct(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok)
        return OD_CLI_EX_OK;
    od_cli_msg("cannot write '%s': %s", path, strerror(errno));
    return OD_CLI_EX_OUTPUT;
}

/* Durable replace (od_pkg_write_file), with the CLI's messages. */
static int write_regular(const char *path, const uint8_t *data, size_t size)
{
    int r = od_pkg_write_file(path, data, size);
    if (r == OD_PKG_OK)
        return OD_CLI_EX_OK;
    if (r == OD_PKG_ERR_IO_CREATE)
        od_cli_msg("cannot create a file next to '%s': %s", path, strerror(errno));
    else if (r == OD_PKG_ERR_IO_DIR)
        od_cli_msg("wrote '%s' but cannot sync its directory: %s", path, strerror(errno));
    else
        od_cli_msg("cannot write '%s': %s", path, strerror(errno));
    return OD_CLI_EX_OUTPUT;
}

int od_cli_write_atomic(const char *path, const uint8_t *data, size_t size)
{
    struct stat ls, st;
    char *real;
    int fd = od_cli_fd_name(path), r;

    /* Again here, as the path may have changed since the command's own
     * check: one set of rules and messages for what cannot be written. */
    if ((r = od_cli_check_output(path, 0)) != OD_CLI_EX_OK)
        return r;
    if (fd >= 0)
        return write_fd(path, fd, data, size);
    if (lstat(path, &ls) != 0)
        return write_regular(path, data, size);
    if (stat(path, &st) != 0) {
        od_cli_msg("cannot write '%s': %s", path, strerror(errno));
        return OD_CLI_EX_OUTPUT;
    }
    if (!S_ISREG(st.st_mode))
        return write_direct(path, data, size);
    if (!S_ISLNK(ls.st_mode))
        return write_regular(path, data, size);
    /* Replace the file the link names, not the link. */
    if (!(real = realpath(path, NULL))) {
        od_cli_msg("cannot resolve '%s': %s", path, strerror(errno));
        return OD_CLI_EX_OUTPUT;
    }
    r = write_regular(real, data, size);
    free(real);
    return r;
}

const char *od_cli_need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        od_cli_msg("option '%s' needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
