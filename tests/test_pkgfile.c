/*
 * test_pkgfile.c - od_pkg_write_file: what a caller finds at the path and
 * beside it after every outcome, including racing writers.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "od_pkgfmt_host.h"
#include "od_test.h"

static char dir[64];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Bytes of the file at path into buf (at most cap); -1 if unreadable. */
static long slurp(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = read(fd, buf, cap);
    close(fd);
    return (long)n;
}

/* Entries of the test directory whose name holds ".tmp.". */
static int leftovers(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void t_new_and_replace(void)
{
    char p[128];
    uint8_t got[64];
    struct stat st;
    mode_t old = umask(022);

    path_in(p, sizeof(p), "a.otad");
    OD_CHECK_EQ(od_pkg_write_file(p, "first version", 13), OD_PKG_OK);
    OD_CHECK_EQ(slurp(p, got, sizeof(got)), 13);
    OD_CHECK(memcmp(got, "first version", 13) == 0);
    OD_REQUIRE(stat(p, &st) == 0);
    OD_CHECK_EQ(st.st_mode & 0777, 0644);
    /* Shorter content must not leave the old tail behind. */
    OD_CHECK_EQ(od_pkg_write_file(p, "v2", 2), OD_PKG_OK);
    OD_CHECK_EQ(slurp(p, got, sizeof(got)), 2);
    OD_CHECK(memcmp(got, "v2", 2) == 0);
    OD_CHECK_EQ(od_pkg_write_file(p, "", 0), OD_PKG_OK);
    OD_CHECK_EQ(slurp(p, got, sizeof(got)), 0);
    /* A file made private, or group-writable, stays so when replaced. */
    OD_REQUIRE(chmod(p, 0600) == 0);
    OD_CHECK_EQ(od_pkg_write_file(p, "v3", 2), OD_PKG_OK);
    OD_REQUIRE(stat(p, &st) == 0);
    OD_CHECK_EQ(st.st_mode & 07777, 0600);
    OD_REQUIRE(chmod(p, 0664) == 0);
    OD_CHECK_EQ(od_pkg_write_file(p, "v4", 2), OD_PKG_OK);
    OD_REQUIRE(stat(p, &st) == 0);
    OD_CHECK_EQ(st.st_mode & 07777, 0664);
    /* The umask decides, as for any new file. */
    umask(077);
    path_in(p, sizeof(p), "private.bin");
    OD_CHECK_EQ(od_pkg_write_file(p, "k", 1), OD_PKG_OK);
    OD_REQUIRE(stat(p, &st) == 0);
    OD_CHECK_EQ(st.st_mode & 0777, 0600);
    umask(old);
    OD_CHECK_EQ(leftovers(), 0);
}

/* The temporary name adds as much as mkstemp's ".tmp.XXXXXX" (11 bytes)
 * to a name component up to NAME_MAX - 11 (244 on Linux); a longer one,
 * up to NAME_MAX itself, gets a short temporary name and works too. */
static void t_long_name(void)
{
    static const size_t lens[] = {244, 245, 255};
    char name[256], p[400];
    uint8_t got[8];
    size_t i;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(name, 'n', lens[i]);
        name[lens[i]] = '\0';
        path_in(p, sizeof(p), name);
        OD_CHECK_EQ(od_pkg_write_file(p, "long", 4), OD_PKG_OK);
        OD_CHECK_EQ(slurp(p, got, sizeof(got)), 4);
        OD_CHECK(unlink(p) == 0);
        OD_CHECK_EQ(leftovers(), 0);
    }
}

static void t_relative_path(void)
{
    char cwd[512];
    uint8_t got[8];
    OD_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
    OD_REQUIRE(chdir(dir) == 0);
    /* No slash: the directory to sync is the current one. */
    OD_CHECK_EQ(od_pkg_write_file("rel.bin", "rel", 3), OD_PKG_OK);
    OD_CHECK_EQ(slurp("rel.bin", got, sizeof(got)), 3);
    OD_REQUIRE(chdir(cwd) == 0);
    OD_CHECK_EQ(leftovers(), 0);
}

static void t_symlink_replaced(void)
{
    char p[128], target[128];
    uint8_t got[16];
    struct stat st;

    path_in(target, sizeof(target), "target.bin");
    path_in(p, sizeof(p), "link.bin");
    OD_REQUIRE(od_pkg_write_file(target, "target", 6) == OD_PKG_OK);
    OD_REQUIRE(symlink(target, p) == 0);
    OD_CHECK_EQ(od_pkg_write_file(p, "new", 3), OD_PKG_OK);
    OD_REQUIRE(lstat(p, &st) == 0);
    OD_CHECK(S_ISREG(st.st_mode));
    OD_CHECK_EQ(slurp(target, got, sizeof(got)), 6);
    OD_CHECK(memcmp(got, "target", 6) == 0);
}

static void t_failures(void)
{
    char p[128];
    struct stat st;

    /* The directory is missing: nothing can be created there. */
    path_in(p, sizeof(p), "missing/x.otad");
    errno = 0;
    OD_CHECK_EQ(od_pkg_write_file(p, "x", 1), OD_PKG_ERR_IO_CREATE);
    OD_CHECK_EQ(errno, ENOENT);
    /* The path is a directory: the rename fails, the directory stays and
     * the temporary file is gone. */
    path_in(p, sizeof(p), "sub");
    OD_REQUIRE(mkdir(p, 0755) == 0);
    errno = 0;
    OD_CHECK_EQ(od_pkg_write_file(p, "x", 1), OD_PKG_ERR_IO);
    OD_CHECK_EQ(errno, EISDIR);
    OD_REQUIRE(stat(p, &st) == 0);
    OD_CHECK(S_ISDIR(st.st_mode));
    OD_CHECK_EQ(leftovers(), 0);
    OD_CHECK(strcmp(od_pkg_strerror(OD_PKG_ERR_IO_CREATE), od_pkg_strerror(OD_PKG_ERR_IO)) != 0);
    OD_CHECK(strcmp(od_pkg_strerror(OD_PKG_ERR_IO_DIR), od_pkg_strerror(-99)) != 0);
}

/* Racing writers of one path: each must succeed, and the file must be
 * one writer's complete content, never a mix. */
#define WRITERS 6
#define RACE_SIZE 65536
static char race_path[128];

static void *racer(void *arg)
{
    uint8_t *buf = malloc(RACE_SIZE);
    intptr_t id = (intptr_t)arg, ok = 1;
    int i;
    if (!buf)
        return (void *)0;
    memset(buf, 'a' + (int)id, RACE_SIZE);
    for (i = 0; i < 20 && ok; i++)
        ok = od_pkg_write_file(race_path, buf, RACE_SIZE) == OD_PKG_OK;
    free(buf);
    return (void *)ok;
}

static void t_race(void)
{
    pthread_t th[WRITERS];
    static uint8_t got[RACE_SIZE + 1];
    void *ok;
    intptr_t i;
    long n, k;

    path_in(race_path, sizeof(race_path), "race.otad");
    for (i = 0; i < WRITERS; i++)
        OD_REQUIRE(pthread_create(&th[i], NULL, racer, (void *)i) == 0);
    for (i = 0; i < WRITERS; i++) {
        pthread_join(th[i], &ok);
        OD_CHECK(ok == (void *)1);
    }
    n = slurp(race_path, got, sizeof(got));
    OD_CHECK_EQ(n, RACE_SIZE);
    for (k = 1; k < n && got[k] == got[0]; k++)
        ;
    OD_CHECK_EQ(k, RACE_SIZE);
    OD_CHECK_EQ(leftovers(), 0);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/od-pkgfile-XXXXXX", base && strlen(base) < 40 ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    OD_RUN(t_new_and_replace);
    OD_RUN(t_long_name);
    OD_RUN(t_relative_path);
    OD_RUN(t_symlink_replaced);
    OD_RUN(t_failures);
    OD_RUN(t_race);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "note: could not remove %s\n", dir);
    }
    return od_test_summary();
}
