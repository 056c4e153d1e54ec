/*
 * od_test.h - the tiny test harness every test program uses.
 *
 * A test program is a main() that calls OD_RUN(test_fn) for each case and
 * returns od_test_summary(). A failed check prints file:line and the
 * expression and marks the current case failed; the case goes on so one run
 * shows every broken check. Exit codes follow automake/CTest: 0 pass,
 * 1 fail, 77 skip (registered with SKIP_RETURN_CODE 77).
 */
#ifndef OD_TEST_H
#define OD_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OD_TEST_SKIP 77

static int od_test_failed_checks;
static int od_test_cases_run, od_test_cases_failed, od_test_cases_skipped;
static int od_test_case_skipped;

#define OD_CHECK(expr)                                                        \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #expr);                                                   \
            od_test_failed_checks++;                                          \
        }                                                                     \
    } while (0)

/* Like OD_CHECK but also prints both integer values. */
#define OD_CHECK_EQ(a, b)                                                     \
    do {                                                                      \
        long long od_a_ = (long long)(a), od_b_ = (long long)(b);             \
        if (od_a_ != od_b_) {                                                 \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld vs %lld)\n", \
                    __FILE__, __LINE__, #a, #b, od_a_, od_b_);                \
            od_test_failed_checks++;                                          \
        }                                                                     \
    } while (0)

/* Stop the current case (for checks later ones depend on). */
#define OD_REQUIRE(expr)                                                      \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: requirement failed: %s\n", __FILE__,     \
                    __LINE__, #expr);                                         \
            od_test_failed_checks++;                                          \
            return;                                                           \
        }                                                                     \
    } while (0)

/* Mark the current case skipped, with the reason, and leave it. */
#define OD_SKIP(...)                                                          \
    do {                                                                      \
        fprintf(stderr, "SKIP: ");                                            \
        fprintf(stderr, __VA_ARGS__);                                         \
        fprintf(stderr, "\n");                                                \
        od_test_case_skipped = 1;                                             \
        return;                                                               \
    } while (0)

#define OD_RUN(fn)                                                            \
    do {                                                                      \
        int od_before_ = od_test_failed_checks;                               \
        od_test_case_skipped = 0;                                             \
        fn();                                                                 \
        od_test_cases_run++;                                                  \
        if (od_test_failed_checks != od_before_) {                            \
            od_test_cases_failed++;                                           \
            fprintf(stderr, "FAIL: %s\n", #fn);                               \
        } else if (od_test_case_skipped) {                                    \
            od_test_cases_skipped++;                                          \
        } else {                                                              \
            fprintf(stderr, "ok: %s\n", #fn);                                 \
        }                                                                     \
    } while (0)

/* Returns the process exit code: 1 if anything failed, 77 if every case skipped. */
static inline int od_test_summary(void)
{
    fprintf(stderr, "%d passed, %d failed, %d skipped\n",
            od_test_cases_run - od_test_cases_failed - od_test_cases_skipped,
            od_test_cases_failed, od_test_cases_skipped);
    if (od_test_cases_failed)
        return 1;
    if (od_test_cases_run && od_test_cases_skipped == od_test_cases_run)
        return OD_TEST_SKIP;
    return 0;
}

/* Deterministic PRNG (xorshift64*) so every failure reproduces. */
static inline unsigned long long od_test_rand(unsigned long long *s)
{
    unsigned long long x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Reads a whole file into a malloc'd buffer; NULL if absent. */
static inline unsigned char *od_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

/*
 * Walks the shared corpus ($OD_CORPUS_DIR/pairs.tsv: id, arch, step, old,
 * new; paths relative to the folder). od_test_corpus_open returns 0 with
 * *why set when there is no corpus, so the caller can skip saying so;
 * od_test_corpus_next fills id and both image paths for each row.
 */
typedef struct od_test_corpus {
    FILE *f;
    const char *dir;
    char id[128];
    char old_path[4096], new_path[4096];
} od_test_corpus;

static inline int od_test_corpus_open(od_test_corpus *c, const char **why)
{
    char path[4096];
    c->dir = getenv("OD_CORPUS_DIR");
    c->f = NULL;
    if (!c->dir || !*c->dir) {
        *why = "OD_CORPUS_DIR not set";
        return 0;
    }
    snprintf(path, sizeof(path), "%s/pairs.tsv", c->dir);
    if (!(c->f = fopen(path, "r"))) {
        *why = "no pairs.tsv in OD_CORPUS_DIR";
        return 0;
    }
    return 1;
}

static inline int od_test_corpus_next(od_test_corpus *c)
{
    char line[4096];
    while (fgets(line, sizeof(line), c->f)) {
        char *id = strtok(line, "\t\n"), *oldp, *newp;
        if (!id || !strcmp(id, "id"))
            continue;
        strtok(NULL, "\t\n");
        strtok(NULL, "\t\n");
        oldp = strtok(NULL, "\t\n");
        newp = strtok(NULL, "\t\n");
        if (!oldp || !newp)
            continue;
        snprintf(c->id, sizeof(c->id), "%s", id);
        snprintf(c->old_path, sizeof(c->old_path), "%s/%s", c->dir, oldp);
        snprintf(c->new_path, sizeof(c->new_path), "%s/%s", c->dir, newp);
        return 1;
    }
    return 0;
}

static inline void od_test_corpus_close(od_test_corpus *c)
{
    if (c->f)
        fclose(c->f);
    c->f = NULL;
}

#endif /* OD_TEST_H */
