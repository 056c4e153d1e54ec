/*
 * regression_driver.c - main() for a harness built without libFuzzer:
 * replays every file named on the command line, and every regular file in
 * every directory named, through LLVMFuzzerTestOneInput. Used under plain
 * CTest (regress_* tests) for the committed crashers in
 * fuzz/regressions/<harness>/ and the generated seed corpora, with any
 * compiler. A finding aborts, which fails the test; a clean run prints how
 * many inputs were replayed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "od_fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (!f) {
        fprintf(stderr, "regression_driver: cannot open %s\n", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    /* An exact-size heap copy, as libFuzzer gives, so ASan sees overreads. */
    buf = malloc(n ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "  %s (%ld bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int i, count = 0, errors = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            /* A corpus directory that was never created holds no crashers. */
            fprintf(stderr, "regression_driver: %s does not exist, skipped\n", argv[i]);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            if (!d) {
                errors++;
                continue;
            }
            while ((e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
                    continue;
                snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                    continue;
                if (run_file(path) == 0)
                    count++;
                else
                    errors++;
            }
            closedir(d);
        } else if (run_file(argv[i]) == 0) {
            count++;
        } else {
            errors++;
        }
    }
    fprintf(stderr, "regression_driver: %d inputs replayed, %d unreadable\n", count, errors);
    return errors ? 1 : 0;
}
