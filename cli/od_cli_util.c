/*
 * od_cli_util.c - messages and file input/output shared by the otadelta
 * command's source files.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "od_cli_util.h"

void od_cli_msg(const char *fmt, ...)
{
    va_list ap;
    fputs("otadelta: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int od_cli_read_file(const char *path, size_t limit, uint8_t **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;

    if (!f) {
        od_cli_msg("cannot open '%s': %s", path, strerror(errno));
        return OD_CLI_EX_INPUT;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        od_cli_msg("'%s' is not a regular file", path);
        fclose(f);
        return OD_CLI_EX_INPUT;
    }
    if ((uint64_t)st.st_size > limit) {
        od_cli_msg("'%s' is %lld bytes; the limit is %zu bytes", path, (long long)st.st_size, limit);
        fclose(f);
        return OD_CLI_EX_INPUT;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        od_cli_msg("cannot read '%s': %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        fclose(f);
        return OD_CLI_EX_INPUT;
    }
    fclose(f);
    *out = buf;
    *size = (size_t)st.st_size;
    return OD_CLI_EX_OK;
}

/*
 * Temp file + fsync + rename + fsync of the directory, as the server's
 * store does. The temporary name is unique (mkstemp) so that concurrent
 * runs writing beside the same output cannot collide.
 */
int od_cli_write_atomic(const char *path, const uint8_t *data, size_t size)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    int fd;
    size_t off = 0;

    if (!tmp) {
        od_cli_msg("out of memory");
        return OD_CLI_EX_OUTPUT;
    }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        od_cli_msg("cannot create a file next to '%s': %s", path, strerror(errno));
        free(tmp);
        return OD_CLI_EX_OUTPUT;
    }
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    /* The rename is durable only once the directory entry is on disk: a
     * power cut before that can bring back the old file, or none. Some
     * file systems cannot sync a directory (EINVAL); then there is nothing
     * more to do. */
    {
        char *slash = strrchr(tmp, '/');
        int dfd;
        if (slash)
            slash[slash == tmp ? 1 : 0] = '\0';
        dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
            od_cli_msg("wrote '%s' but cannot sync its directory: %s", path, strerror(errno));
            if (dfd >= 0)
                close(dfd);
            free(tmp);
            return OD_CLI_EX_OUTPUT;
        }
        close(dfd);
    }
    free(tmp);
    return OD_CLI_EX_OK;
fail:
    od_cli_msg("cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return OD_CLI_EX_OUTPUT;
}

const char *od_cli_need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        od_cli_msg("option '%s' needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
