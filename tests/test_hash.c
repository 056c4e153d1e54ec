/*
 * test_hash.c - od_sha256, od_md5 and od_crc32 against OpenSSL and zlib.
 *
 * The device-side hashes must give exactly the digests the host tools
 * (OpenSSL, zlib) put into a package, whatever length the image has and
 * however the applier happens to chunk it while streaming from flash. So
 * beyond the published known answers, every case here compares against the
 * reference libraries on the same bytes.
 */
/* Only for the count-carry case, which needs OpenSSL's low-level contexts. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "od_hash.h"

#if OD_SHA256_PORT || OD_MD5_PORT || OD_CRC32_PORT
#error "test_hash must test the portable hashes, not a port"
#endif
#include "od_test.h"

/* Our three results for one message. */
struct digests {
    uint8_t sha[OD_SHA256_LEN];
    uint8_t md5[OD_MD5_LEN];
    uint32_t crc;
};

static void ref_digests(const uint8_t *p, size_t n, struct digests *d)
{
    unsigned int len = 0;
    static const uint8_t empty[1];
    /* zlib's crc32() treats a NULL buffer as a request for the initial 0. */
    if (n == 0)
        p = empty;
    if (!EVP_Digest(p, n, d->sha, &len, EVP_sha256(), NULL) ||
        len != OD_SHA256_LEN)
        abort();
    if (!EVP_Digest(p, n, d->md5, &len, EVP_md5(), NULL) || len != OD_MD5_LEN)
        abort();
    d->crc = (uint32_t)crc32_z(0, p, n);
}

static void our_digests_oneshot(const uint8_t *p, size_t n, struct digests *d)
{
    od_sha256_ctx s;
    od_md5_ctx m;
    od_sha256_init(&s);
    od_sha256_update(&s, p, n);
    od_sha256_final(&s, d->sha);
    od_md5_init(&m);
    od_md5_update(&m, p, n);
    od_md5_final(&m, d->md5);
    d->crc = od_crc32(0, p, n);
}

/*
 * Feeds p in chunks of 0..maxchunk bytes chosen by *rng (0 included so that
 * empty updates in mid-stream are exercised), or exactly `fixed` bytes each
 * when fixed is non-zero. The CRC is chained through the same chunks.
 */
static void our_digests_chunked(const uint8_t *p, size_t n, size_t maxchunk,
                                size_t fixed, unsigned long long *rng,
                                struct digests *d)
{
    od_sha256_ctx s;
    od_md5_ctx m;
    size_t off = 0;
    uint32_t crc = 0;
    od_sha256_init(&s);
    od_md5_init(&m);
    while (off < n) {
        size_t k = fixed ? fixed : (size_t)(od_test_rand(rng) % (maxchunk + 1));
        if (k > n - off)
            k = n - off;
        od_sha256_update(&s, p + off, k);
        od_md5_update(&m, p + off, k);
        crc = od_crc32(crc, p + off, k);
        off += k;
    }
    od_sha256_final(&s, d->sha);
    od_md5_final(&m, d->md5);
    d->crc = crc;
}

/* Compares, printing which input failed so a failure is easy to replay. */
static int same(const struct digests *a, const struct digests *b,
                const char *what, size_t n)
{
    int ok = 1;
    if (memcmp(a->sha, b->sha, OD_SHA256_LEN) != 0) {
        fprintf(stderr, "  sha256 mismatch: %s, %zu bytes\n", what, n);
        ok = 0;
    }
    if (memcmp(a->md5, b->md5, OD_MD5_LEN) != 0) {
        fprintf(stderr, "  md5 mismatch: %s, %zu bytes\n", what, n);
        ok = 0;
    }
    if (a->crc != b->crc) {
        fprintf(stderr, "  crc32 mismatch: %s, %zu bytes (%08lx vs %08lx)\n",
                what, n, (unsigned long)a->crc, (unsigned long)b->crc);
        ok = 0;
    }
    return ok;
}

static void fill_random(uint8_t *p, size_t n, unsigned long long seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(od_test_rand(&seed) >> 56);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_is(const uint8_t *p, size_t n, const char *want)
{
    char got[2 * OD_SHA256_LEN + 1];
    to_hex(p, n, got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  got  %s\n  want %s\n", got, want);
        return 0;
    }
    return 1;
}

/* FIPS 180-2 appendix B / RFC 1321 appendix A.5 / the usual CRC check. */
static void test_known_answers(void)
{
    static const struct {
        const char *msg;
        const char *sha, *md5;
    } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "900150983cd24fb0d6963f7d28e17f72"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
         NULL},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
         "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
         NULL},
        {"a", NULL, "0cc175b9c0f1b6a831c399e269772661"},
        {"message digest", NULL, "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", NULL,
         "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         NULL, "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890"
         "1234567890123456789012345678901234567890",
         NULL, "57edf4a22be3c955ac49da2e2107b67a"},
        {"123456789", NULL, NULL},
    };
    size_t i;
    for (i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        const uint8_t *p = (const uint8_t *)kat[i].msg;
        size_t n = strlen(kat[i].msg);
        struct digests ours, ref;
        our_digests_oneshot(p, n, &ours);
        ref_digests(p, n, &ref);
        OD_CHECK(same(&ours, &ref, kat[i].msg, n));
        if (kat[i].sha)
            OD_CHECK(hex_is(ours.sha, OD_SHA256_LEN, kat[i].sha));
        if (kat[i].md5)
            OD_CHECK(hex_is(ours.md5, OD_MD5_LEN, kat[i].md5));
    }
    /* The CRC-32 "check" value from the catalogue of parametrised CRCs. */
    OD_CHECK_EQ(od_crc32(0, "123456789", 9), 0xCBF43926u);
}

/* One million 'a' (FIPS 180-2 B.3, RFC 1321 suite), whole and in pieces. */
static void test_million_a(void)
{
    enum { N = 1000000 };
    static uint8_t buf[N];
    struct digests ours, ref;
    unsigned long long rng = 42;
    memset(buf, 'a', N);
    ref_digests(buf, N, &ref);
    OD_CHECK(hex_is(ref.sha, OD_SHA256_LEN,
                    "cdc76e5c9914fb9281a1c7e284d73e67"
                    "f1809a48a497200e046d39ccc7112cd0"));
    OD_CHECK(hex_is(ref.md5, OD_MD5_LEN, "7707d6ae4e027c70eea2a935c2296f21"));
    our_digests_oneshot(buf, N, &ours);
    OD_CHECK(same(&ours, &ref, "million a", N));
    our_digests_chunked(buf, N, 0, 1000, &rng, &ours);
    OD_CHECK(same(&ours, &ref, "million a by 1000", N));
    our_digests_chunked(buf, N, 777, 0, &rng, &ours);
    OD_CHECK(same(&ours, &ref, "million a random chunks", N));
}

/* Every length 0..1000, at every start alignment mod 8. */
static void test_every_length(void)
{
    static uint8_t buf[1000 + 8];
    size_t n;
    fill_random(buf, sizeof buf, 1);
    for (n = 0; n <= 1000; n++) {
        const uint8_t *p = buf + (n & 7);
        struct digests ours, ref;
        ref_digests(p, n, &ref);
        our_digests_oneshot(p, n, &ours);
        OD_CHECK(same(&ours, &ref, "one-shot", n));
    }
}

/* Incremental updates must not depend on where the caller splits. */
static void test_splits(void)
{
    static uint8_t buf[4096];
    static const size_t edges[] = {1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129};
    unsigned long long rng = 7;
    size_t n, i, j;
    fill_random(buf, sizeof buf, 2);

    /* One byte at a time, across several block boundaries. */
    for (n = 0; n <= 300; n++) {
        struct digests ours, ref;
        ref_digests(buf, n, &ref);
        our_digests_chunked(buf, n, 0, 1, &rng, &ours);
        OD_CHECK(same(&ours, &ref, "byte at a time", n));
    }

    /* Fixed chunk sizes around the 56-byte padding and 64-byte block edges. */
    for (i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (n = 0; n <= 1000; n += 37) {
            struct digests ours, ref;
            ref_digests(buf, n, &ref);
            our_digests_chunked(buf, n, 0, edges[i], &rng, &ours);
            OD_CHECK(same(&ours, &ref, "fixed chunks", n));
        }
    }

    /* Exactly two pieces, first piece on each edge, total on each edge. */
    for (i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (j = 0; j < sizeof edges / sizeof edges[0]; j++) {
            size_t first = edges[i], total = edges[i] + edges[j];
            struct digests ours, ref;
            od_sha256_ctx s;
            od_md5_ctx m;
            od_sha256_init(&s);
            od_sha256_update(&s, buf, first);
            od_sha256_update(&s, buf + first, total - first);
            od_sha256_final(&s, ours.sha);
            od_md5_init(&m);
            od_md5_update(&m, buf, first);
            od_md5_update(&m, buf + first, total - first);
            od_md5_final(&m, ours.md5);
            ours.crc = od_crc32(od_crc32(0, buf, first), buf + first,
                                total - first);
            ref_digests(buf, total, &ref);
            OD_CHECK(same(&ours, &ref, "two pieces", total));
        }
    }

    /* Random split points, many trials per length. */
    for (n = 0; n <= 4096; n += 1 + (size_t)(od_test_rand(&rng) % 97)) {
        struct digests ref;
        int t;
        ref_digests(buf, n, &ref);
        for (t = 0; t < 8; t++) {
            struct digests ours;
            size_t maxchunk = t < 4 ? 70 : 300;
            our_digests_chunked(buf, n, maxchunk, 0, &rng, &ours);
            OD_CHECK(same(&ours, &ref, "random chunks", n));
        }
    }
}

/* A few MiB, whole and in random flash-page-like chunks. */
static void test_large(void)
{
    enum { N = 5 * 1024 * 1024 + 13 };
    uint8_t *buf = malloc(N);
    struct digests ours, ref;
    unsigned long long rng = 3;
    OD_REQUIRE(buf != NULL);
    fill_random(buf, N, 3);
    ref_digests(buf, N, &ref);
    our_digests_oneshot(buf, N, &ours);
    OD_CHECK(same(&ours, &ref, "large one-shot", N));
    our_digests_chunked(buf, N, 8192, 0, &rng, &ours);
    OD_CHECK(same(&ours, &ref, "large random chunks", N));
    free(buf);
}

/* NULL with length 0 is a no-op anywhere in a stream. */
static void test_null_empty(void)
{
    static const uint8_t msg[] = "hello, bootloader";
    struct digests ours, ref;
    od_sha256_ctx s;
    od_md5_ctx m;
    od_sha256_init(&s);
    od_sha256_update(&s, NULL, 0);
    od_sha256_update(&s, msg, 5);
    od_sha256_update(&s, NULL, 0);
    od_sha256_update(&s, msg + 5, sizeof msg - 5);
    od_sha256_final(&s, ours.sha);
    od_md5_init(&m);
    od_md5_update(&m, NULL, 0);
    od_md5_update(&m, msg, 5);
    od_md5_update(&m, NULL, 0);
    od_md5_update(&m, msg + 5, sizeof msg - 5);
    od_md5_final(&m, ours.md5);
    ours.crc = od_crc32(od_crc32(od_crc32(0, NULL, 0), msg, 5), NULL, 0);
    ours.crc = od_crc32(ours.crc, msg + 5, sizeof msg - 5);
    ref_digests(msg, sizeof msg, &ref);
    OD_CHECK(same(&ours, &ref, "with NULL updates", sizeof msg));
    /* zlib's init idiom crc32(0, NULL, 0) == 0 holds for us too. */
    OD_CHECK_EQ(od_crc32(0, NULL, 0), crc32(0, Z_NULL, 0));
    OD_CHECK_EQ(od_crc32(0x12345678u, NULL, 0), 0x12345678u);
}

/* CRC chaining from arbitrary values, as zlib does it. */
static void test_crc_chain(void)
{
    static uint8_t buf[3000];
    unsigned long long rng = 11;
    int t;
    fill_random(buf, sizeof buf, 4);
    for (t = 0; t < 2000; t++) {
        uint32_t start = (uint32_t)od_test_rand(&rng);
        size_t a = (size_t)(od_test_rand(&rng) % 1500);
        size_t b = (size_t)(od_test_rand(&rng) % 1500);
        uint32_t want = (uint32_t)crc32(start, buf, (uInt)(a + b));
        OD_CHECK_EQ(od_crc32(start, buf, a + b), want);
        OD_CHECK_EQ(od_crc32(od_crc32(start, buf, a), buf + a, b), want);
        OD_CHECK_EQ(
            od_crc32(0, buf, a + b),
            crc32_combine(od_crc32(0, buf, a), od_crc32(0, buf + a, b), (z_off_t)b));
    }
}

/*
 * The 64-bit length in the padding, for messages too long to hash here:
 * both our context and OpenSSL's are started as if `skip` bytes (a whole
 * number of blocks) had already gone through, then fed the same tail. The
 * chaining state is left at the IV in both, so only the length handling
 * differs from a normal run; that is what this checks, including the carry
 * from count_lo into count_hi inside an update.
 */
static void test_long_length_field(void)
{
    static const unsigned long long skips[] = {
        0x20000000ull,   /* bit count needs 33 bits */
        0xFFFFFFC0ull,   /* byte count carries during the update */
        0x100000000ull,  /* 4 GiB exactly */
        0x12345678C0ull, /* > 2^32 with both halves busy */
    };
    static uint8_t tail[200];
    size_t i, n;
    fill_random(tail, sizeof tail, 5);
    for (i = 0; i < sizeof skips / sizeof skips[0]; i++) {
        unsigned long long skip = skips[i], bits = skip << 3;
        for (n = 0; n <= sizeof tail; n += 25) {
            uint8_t a[OD_SHA256_LEN], b[OD_SHA256_LEN];
            od_sha256_ctx s;
            od_md5_ctx m;
            SHA256_CTX rs;
            MD5_CTX rm;

            od_sha256_init(&s);
            s.count_lo = (uint32_t)skip;
            s.count_hi = (uint32_t)(skip >> 32);
            od_sha256_update(&s, tail, n);
            od_sha256_final(&s, a);
            SHA256_Init(&rs);
            rs.Nl = (SHA_LONG)bits;
            rs.Nh = (SHA_LONG)(bits >> 32);
            SHA256_Update(&rs, tail, n);
            SHA256_Final(b, &rs);
            OD_CHECK(memcmp(a, b, OD_SHA256_LEN) == 0);

            od_md5_init(&m);
            m.count_lo = (uint32_t)skip;
            m.count_hi = (uint32_t)(skip >> 32);
            od_md5_update(&m, tail, n);
            od_md5_final(&m, a);
            MD5_Init(&rm);
            rm.Nl = (MD5_LONG)bits;
            rm.Nh = (MD5_LONG)(bits >> 32);
            MD5_Update(&rm, tail, n);
            MD5_Final(b, &rm);
            OD_CHECK(memcmp(a, b, OD_MD5_LEN) == 0);
        }
    }
}

/* Splits a pairs.tsv line into up to `max` tab-separated fields in place. */
static int split_tabs(char *line, char **f, int max)
{
    int k = 0;
    char *p = line;
    while (k < max) {
        f[k++] = p;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p++ = '\0';
    }
    p = f[k - 1];
    p[strcspn(p, "\r\n")] = '\0';
    return k;
}

static int check_corpus_file(const char *dir, const char *rel,
                             unsigned long long *rng)
{
    char path[4096];
    size_t n = 0;
    uint8_t *buf;
    struct digests ours, ref;
    int ok;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >= sizeof path)
        return 0;
    buf = od_test_read_file(path, &n);
    if (!buf) {
        fprintf(stderr, "  cannot read %s\n", path);
        return 0;
    }
    ref_digests(buf, n, &ref);
    our_digests_oneshot(buf, n, &ours);
    ok = same(&ours, &ref, rel, n);
    /* The applier hashes as it writes, a page or a partial page at a time. */
    our_digests_chunked(buf, n, 4096, 0, rng, &ours);
    ok &= same(&ours, &ref, rel, n);
    free(buf);
    return ok;
}

/* Real firmware images from the shared corpus, when it is there. */
static void test_corpus(void)
{
    const char *dir = getenv("OD_CORPUS_DIR");
    char path[4096], line[4096];
    FILE *f;
    int files = 0, lineno = 0;
    unsigned long long rng = 9;
    if (!dir || !*dir)
        OD_SKIP("OD_CORPUS_DIR not set");
    if ((size_t)snprintf(path, sizeof path, "%s/pairs.tsv", dir) >= sizeof path)
        OD_SKIP("OD_CORPUS_DIR too long");
    f = fopen(path, "r");
    if (!f)
        OD_SKIP("no corpus at %s", path);
    while (fgets(line, sizeof line, f)) {
        char *fld[5];
        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '#')
            continue; /* header: id arch step old new */
        if (split_tabs(line, fld, 5) != 5) {
            fprintf(stderr, "  %s:%d: expected 5 columns\n", path, lineno);
            OD_CHECK(0);
            continue;
        }
        OD_CHECK(check_corpus_file(dir, fld[3], &rng));
        OD_CHECK(check_corpus_file(dir, fld[4], &rng));
        files += 2;
    }
    fclose(f);
    fprintf(stderr, "  corpus: %d files checked\n", files);
    OD_CHECK(files > 0);
}

int main(void)
{
    OD_RUN(test_known_answers);
    OD_RUN(test_million_a);
    OD_RUN(test_every_length);
    OD_RUN(test_splits);
    OD_RUN(test_large);
    OD_RUN(test_null_empty);
    OD_RUN(test_crc_chain);
    OD_RUN(test_long_length_field);
    OD_RUN(test_corpus);
    return od_test_summary();
}
