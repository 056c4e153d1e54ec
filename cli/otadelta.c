/*
 * otadelta - command-line front end: diff, full, apply, info, verify.
 *
 * `apply` deliberately drives the freestanding applier exactly as an MCU
 * would: the package is fed in small chunks, the old image is read and the
 * new image written only through the flash callbacks, and the final
 * read-back verification is the applier's own. The output file appears
 * under its final name only once the applier has verified it.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "od_cli_sign.h"
#include "od_cli_util.h"
#include "od_diff.h"
#include "od_patch.h"
#include "od_pkgfmt_host.h"
#include "od_pkgfmt_sign.h"

/* Short names for the exit codes in od_cli_util.h. */
enum {
    EX_OK = OD_CLI_EX_OK,
    EX_USAGE = OD_CLI_EX_USAGE,
    EX_INPUT = OD_CLI_EX_INPUT,
    EX_PACKAGE = OD_CLI_EX_PACKAGE,
    EX_MISMATCH = OD_CLI_EX_MISMATCH,
    EX_OUTPUT = OD_CLI_EX_OUTPUT,
    EX_GENERATE = OD_CLI_EX_GENERATE
};

static const char *prog = "otadelta";
static int quiet;

/* ---- progress bar: only on a terminal, at most ~10 redraws a second ---- */

static struct {
    int on;
    const char *label;
    struct timespec last;
    int drawn;
} bar;

static void bar_start(const char *label)
{
    bar.on = !quiet && isatty(STDERR_FILENO);
    bar.label = label;
    bar.drawn = 0;
    clock_gettime(CLOCK_MONOTONIC, &bar.last);
}

static void bar_update(uint64_t done, uint64_t total)
{
    struct timespec now;
    int pct, i;
    if (!bar.on || !total)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done < total && bar.drawn &&
        (now.tv_sec - bar.last.tv_sec) * 1000000000L + (now.tv_nsec - bar.last.tv_nsec) < 100000000L)
        return;
    bar.last = now;
    bar.drawn = 1;
    pct = (int)(done * 100 / total);
    fprintf(stderr, "\r%-8s [", bar.label);
    for (i = 0; i < 40; i++)
        fputc(i < pct * 40 / 100 ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%%", pct);
    fflush(stderr);
}

static void bar_end(void)
{
    if (bar.on && bar.drawn)
        fputc('\n', stderr);
    bar.on = 0;
}

static void diff_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    bar_update(done, total);
}

/* ---- files ---- */

/* ---- option parsing helpers ---- */

/* Parses a size: digits, optionally followed by K, M, KiB or MiB (any
 * case of K and M). */
static int parse_size(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v, mult = 1;
    errno = 0;
    /* strtoull would skip leading blanks and take a sign. */
    if (!s || *s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024;
    if (mult > 1) {
        if (v > 0xFFFFFFFFull / mult)
            return -1;
        v *= mult;
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
    }
    if (*end || v > 0xFFFFFFFFull)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A filter name, or "auto"; -2 for anything else. */
static int parse_filter(const char *s)
{
    int f = od_pkg_filter_from_name(s);
    return f >= 0 ? f : !strcmp(s, "auto") ? OD_DIFF_FILTER_AUTO : -2;
}

static void hex(FILE *f, const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}

/* ---- diff / full ---- */

static const char *diff_help =
    "usage: otadelta diff OLD NEW -o PKG --from-version V --to-version V [options]\n"
    "\n"
    "Builds a delta package in the otadelta container. The device restores NEW\n"
    "from OLD and the package.\n"
    "\n"
    "  -o, --output PKG      package to write (written atomically)\n"
    "  --from-version V      version of OLD (1-50 chars of A-Za-z0-9._-)\n"
    "  --to-version V        version of NEW\n"
    "  --filter F            auto (default), none or thumb. thumb codes Cortex-M\n"
    "                        branch and address words by how their value changed;\n"
    "                        auto keeps it where the package gets smaller (never\n"
    "                        with --codec none)\n";

static const char *full_help =
    "usage: otadelta full NEW -o PKG --to-version V [options]\n"
    "\n"
    "Builds a full package in the otadelta container: the device restores NEW\n"
    "from the package alone, whatever image it runs.\n"
    "\n"
    "  -o, --output PKG      package to write (written atomically)\n"
    "  --to-version V        version of NEW (1-50 chars of A-Za-z0-9._-)\n";

/* The options diff and full share, after either's own. */
static const char *package_options_help =
    "  --codec C             lzma (default), deflate or none: the most the devices'\n"
    "                        applier decodes. Where it would make the package\n"
    "                        larger (an image already compressed or encrypted),\n"
    "                        the package stores the bytes as they are (codec\n"
    "                        none, which every applier decodes)\n"
    "  --exact-codec         use --codec even then\n"
    "  --effort E            best (default) or fast. fast tries one matcher setting\n"
    "                        instead of 13 and compresses with lighter settings:\n"
    "                        about 3x quicker, packages about 9% larger; for\n"
    "                        packages made often, not for one a fleet downloads\n"
    "  --ram BYTES           applier's total RAM budget (default 16K)\n"
    "  --page BYTES          flash write page: a power of two, 16 to 64K (default 256)\n"
    "  --erase BYTES         flash erase unit: a power of two, from --page to 16M\n"
    "                        (default 4096)\n"
    "  --block BYTES         most output bytes per restart block: a multiple of\n"
    "                        --erase, at most 1024M (default 1M, or the erase unit\n"
    "                        if larger; 0 = no limit)\n"
    "  --restart BYTES       end a block once its op stream reaches this (default 128K;\n"
    "                        0 = only --block decides); fewer restarts compress better\n"
    "  --sign KEY.pem        sign the package (see 'otadelta keygen')\n"
    "  --no-check            skip applying the package in memory before writing it\n"
    "                        (by default every package is applied with the MCU\n"
    "                        applier and must restore NEW exactly)\n"
    "  --as-is               take images that look like ELF, Intel HEX, S-record,\n"
    "                        UF2 or an otadelta package as they are (by default\n"
    "                        they are refused: the device would store the file,\n"
    "                        not the flash image inside it)\n"
    "  -q, --quiet           no progress bar or summary\n"
    "\n"
    "Sizes are in bytes, or with a K, M, KiB or MiB suffix.\n";

static int roundtrip_check(const uint8_t *old, size_t old_size, const uint8_t *pkg,
                           size_t pkg_size, const uint8_t *nw, size_t new_size);

/* path as one shell word, for a command the user may paste: as it is if
 * it has only characters no shell treats specially, else in single
 * quotes (an embedded quote becomes '\''). Written to buf (n >= 3 bytes;
 * a longer word is cut short, still quoted). */
static const char *shell_word(const char *path, char *buf, size_t n)
{
    size_t i, k = 0;
    if (path[0] && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789._/+-=@%:,") == strlen(path)) {
        snprintf(buf, n, "%s", path);
        return buf;
    }
    buf[k++] = '\'';
    for (i = 0; path[i] && k + 5 < n; i++) {
        if (path[i] == '\'') {
            memcpy(buf + k, "'\\''", 4);
            k += 4;
        } else {
            buf[k++] = path[i];
        }
    }
    buf[k++] = '\'';
    buf[k] = '\0';
    return buf;
}

/* What kind of build output or package path is, and how to make a raw
 * image of it, with the hint's IN placeholder replaced by path (in buf);
 * NULL for a raw image. */
static const char *convert_hint(const char *path, const uint8_t *img, size_t size,
                                const char **name, char *buf, size_t n)
{
    const char *hint, *in;
    char word[2 * PATH_MAX + 3];
    int kind = od_diff_image_kind(img, size);
    if (kind == OD_IMAGE_RAW)
        return NULL;
    *name = od_diff_image_kind_name(kind, &hint);
    in = strstr(hint, " IN ");
    if (in)
        snprintf(buf, n, "%.*s%s%s", (int)(in - hint + 1), hint,
                 shell_word(path, word, sizeof(word)), in + 3);
    else
        snprintf(buf, n, "%s", hint);
    return buf;
}

/* Refuses (EX_INPUT) an image that is a build output or a package rather
 * than flash bytes, saying how to convert it; 0 for a raw image. */
static int refuse_non_raw(const char *path, const uint8_t *img, size_t size)
{
    const char *name;
    char buf[2 * PATH_MAX + 300];
    if (!convert_hint(path, img, size, &name, buf, sizeof(buf)))
        return EX_OK;
    od_cli_msg("'%s' is %s, not a raw flash image: the device would store the file itself; "
        "%s (or pass --as-is if these bytes are what the device must hold)", path, name, buf);
    return EX_INPUT;
}

static int cmd_diff(int argc, char **argv, int full)
{
    od_diff_params p;
    const char *in[2] = {NULL, NULL}, *out = NULL, *v, *sign_key = NULL;
    int nin = 0, i, r, need = full ? 1 : 2, check = 1, as_is = 0, block_given = 0;
    uint8_t *old = NULL, *nw = NULL, *pkg = NULL;
    size_t old_size = 0, new_size = 0, pkg_size = 0;
    EVP_PKEY *key = NULL;
    FILE *summary;

    od_diff_params_init(&p);
    p.kind = full ? OD_KIND_FULL : OD_KIND_DELTA;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(full ? full_help : diff_help, stdout);
            fputs(package_options_help, stdout);
            return EX_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--from-version") && !full) {
            if (!(p.source_version = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--to-version")) {
            if (!(p.target_version = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--codec")) {
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
            if ((p.codec = od_pkg_codec_from_name(v)) < 0) {
                od_cli_msg("unknown codec '%s' (use lzma, deflate or none)", v);
                return EX_USAGE;
            }
        } else if (!strcmp(a, "--exact-codec")) {
            p.exact_codec = 1;
        } else if (!strcmp(a, "--effort")) {
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
            if (!strcmp(v, "best") || !strcmp(v, "fast")) {
                p.effort = v[0] == 'b' ? OD_DIFF_EFFORT_BEST : OD_DIFF_EFFORT_FAST;
            } else {
                od_cli_msg("unknown effort '%s' (use best or fast)", v);
                return EX_USAGE;
            }
        } else if (!strcmp(a, "--filter") && !full) {
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
            if ((p.filter = parse_filter(v)) == -2) {
                od_cli_msg("unknown filter '%s' (use auto, none or thumb)", v);
                return EX_USAGE;
            }
        } else if (!strcmp(a, "--ram") || !strcmp(a, "--page") || !strcmp(a, "--erase") ||
                   !strcmp(a, "--block") || !strcmp(a, "--restart")) {
            uint32_t *dst = !strcmp(a, "--ram") ? &p.ram_budget : a[2] == 'p' ? &p.page_size
                          : a[2] == 'e' ? &p.erase_size : a[2] == 'b' ? &p.block_size
                          : &p.restart_interval;
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
            if (parse_size(v, dst) != 0) {
                od_cli_msg("'%s' is not a size in bytes for %s", v, a);
                return EX_USAGE;
            }
            block_given |= dst == &p.block_size;
        } else if (!strcmp(a, "--sign")) {
            if (!(sign_key = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--no-check")) {
            check = 0;
        } else if (!strcmp(a, "--as-is")) {
            as_is = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            od_cli_msg("unknown option '%s' (see '%s %s --help')", a, prog, full ? "full" : "diff");
            return EX_USAGE;
        } else if (nin < need) {
            in[nin++] = a;
        } else {
            od_cli_msg("too many file arguments (see --help)");
            return EX_USAGE;
        }
    }
    /* The default block (1M) holds whole erase units of up to 1M; a
     * larger --erase alone gets blocks of one unit instead of a refusal
     * about a --block never given. */
    if (!block_given && p.block_size && p.erase_size > p.block_size)
        p.block_size = p.erase_size;
    if (nin != need || !out) {
        od_cli_msg(full ? "need NEW and -o PKG (see 'otadelta full --help')"
                 : "need OLD, NEW and -o PKG (see 'otadelta diff --help')");
        return EX_USAGE;
    }
    if (!p.target_version || (!full && !p.source_version)) {
        od_cli_msg(full ? "need --to-version" : "need --from-version and --to-version");
        return EX_USAGE;
    }
    if (!od_pkg_version_valid(p.target_version) ||
        (!full && !od_pkg_version_valid(p.source_version))) {
        od_cli_msg("invalid version '%s': use 1-50 characters of A-Z a-z 0-9 . _ -",
            od_pkg_version_valid(p.target_version) ? p.source_version : p.target_version);
        return EX_USAGE;
    }
    {
        uint8_t props;
        uint32_t dict, ram;
        r = od_diff_plan(&p, &props, &dict, &ram);
        if (r == OD_DIFF_ERR_BUDGET) {
            uint32_t least = OD_PATCH_STATE_RESERVE + p.page_size +
                            (p.codec == OD_CODEC_LZMA      ? OD_LZMA_WORKSPACE(0, 0, OD_MIN_DICT)
                             : p.codec == OD_CODEC_DEFLATE ? 512u
                                                           : 0u);
            od_cli_msg("--ram %u is too small for codec %s with %u-byte pages: the applier needs its "
                "%u-byte state, the page buffer%s, at least %u bytes in all; raise --ram or lower "
                "--page%s", p.ram_budget, od_pkg_codec_name(p.codec), p.page_size,
                OD_PATCH_STATE_RESERVE, p.codec == OD_CODEC_NONE ? "" : " and the decoder", least,
                p.codec == OD_CODEC_NONE ? "" : ", or use a lighter --codec");
            return EX_GENERATE;
        }
        if (r != OD_DIFF_OK) {
            char why[96];
            od_cli_msg("invalid parameters: %s (see '%s %s --help' for the limits)",
                od_diff_param_problem(&p, why, sizeof(why)) ? why : od_diff_strerror(r), prog,
                full ? "full" : "diff");
            return EX_USAGE;
        }
    }
    {
        const od_cli_file reads[] = {{full ? "NEW" : "OLD", in[0]}, {"NEW", in[1]},
                                     {"--sign", sign_key}};
        if ((r = od_cli_refuse_same("-o", out, reads, 3, "write the package elsewhere")) ||
            (r = od_cli_check_output(out, 0)))
            return r;
    }
    /* A bad key fails now, not after a generation that may take minutes. */
    if (sign_key && !(key = od_cli_load_private_key(sign_key)))
        return EX_INPUT;
    if (!full && (r = od_cli_read_file(in[0], OD_MAX_IMAGE_SIZE, &old, &old_size)))
        goto done;
    if ((r = od_cli_read_file(in[full ? 0 : 1], OD_MAX_IMAGE_SIZE, &nw, &new_size)))
        goto done;
    if (!as_is && ((!full && (r = refuse_non_raw(in[0], old, old_size))) ||
                   (r = refuse_non_raw(in[full ? 0 : 1], nw, new_size))))
        goto done;

    p.progress = diff_progress;
    bar_start(full ? "full" : "diff");
    r = od_diff_create(old, old_size, nw, new_size, &p, &pkg, &pkg_size);
    bar_end();
    if (r != OD_DIFF_OK) {
        od_cli_msg("cannot generate the package: %s", od_diff_strerror(r));
        r = EX_GENERATE;
        goto done;
    }
    if (check && (r = roundtrip_check(old, old_size, pkg, pkg_size, nw, new_size)) != 0) {
        od_cli_msg("internal error: the generated package does not restore %s (%s); nothing "
            "written. Please report this with both images.", in[full ? 0 : 1],
            r > 0 ? "the image differs" : od_patch_strerror(r));
        r = EX_GENERATE;
        goto done;
    }
    if (key && (r = od_cli_sign_buffer(&pkg, &pkg_size, key)))
        goto done;
    summary = od_cli_summary_stream(out);
    if ((r = od_cli_write_atomic(out, pkg, pkg_size)))
        goto done;
    if (!quiet) {
        od_pkg_header h;
        od_pkg_parse_header(pkg, pkg_size, &h);
        char sizes[64];
        if (full)
            snprintf(sizes, sizeof(sizes), "%zu bytes", new_size);
        else
            snprintf(sizes, sizeof(sizes), "%zu -> %zu bytes", old_size, new_size);
        char fell_back[48] = "";
        if (h.codec != p.codec)
            snprintf(fell_back, sizeof(fell_back), " (%s gained nothing)",
                     od_pkg_codec_name(p.codec));
        fprintf(summary, "%s: %s, package %zu bytes (%.2f%% of new), %s%s%s, "
               "device RAM %u bytes + %u state%s\n",
               out, sizes, pkg_size, new_size ? 100.0 * pkg_size / new_size : 0.0,
               od_pkg_codec_name(h.codec), fell_back, h.filter ? " with the thumb filter" : "",
               h.ram_needed, OD_PATCH_STATE_RESERVE, check ? ", checked by applying it" : "");
    }
done:
    EVP_PKEY_free(key);
    free(old);
    free(nw);
    free(pkg);
    return r;
}

/* ---- apply: the MCU applier over memory-backed "flash" ---- */

typedef struct flash {
    const uint8_t *old;
    size_t old_size;
    uint8_t *img;       /* in-memory image, or NULL when backed by fd */
    size_t cap;
    int fd;             /* --resume: the .part file is the flash */
    const char *state;  /* --resume: where blocks_done is kept */
    const char *state_tmp; /* --resume: the state's next version, renamed over it */
    const char *part;   /* --resume: the .part file's name */
    int saved;          /* --resume: this run has saved progress */
    const od_pkg_header *h;
    struct evp_pkey_st *pub; /* --key: signature required */
    const char *failed; /* file whose write or sync failed, for the message */
    int failed_errno;
} flash;

/* Remembers which file failed and why, for the message after the applier
 * reports OD_PATCH_ERR_WRITE; returns -1 for the callback. */
static int fl_fail(flash *f, const char *path)
{
    f->failed = path;
    f->failed_errno = errno;
    return -1;
}

static int fl_read_old(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    const flash *f = ctx;
    if ((uint64_t)off + len > f->old_size)
        return -1;
    memcpy(buf, f->old + off, len);
    return 0;
}

static int fl_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    flash *f = ctx;
    if ((uint64_t)off + len > f->cap)
        return -1;
    if (!f->img)
        return pwrite(f->fd, buf, len, off) == (ssize_t)len ? 0 : fl_fail(f, f->part);
    memcpy(f->img + off, buf, len);
    return 0;
}

static int fl_read_new(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    const flash *f = ctx;
    if ((uint64_t)off + len > f->cap)
        return -1;
    if (!f->img)
        return pread(f->fd, buf, len, off) == (ssize_t)len ? 0 : -1;
    memcpy(buf, f->img + off, len);
    return 0;
}

/* How a --resume state file starts; see state_line. */
static const char state_magic[] = "otadelta-resume ";

/*
 * --resume state file: one line naming the package (its target and payload
 * SHA-256, so a state never applies to another package) and the blocks
 * done. Replaced atomically, after the blocks it counts are on disk.
 */
static void state_line(const od_pkg_header *h, uint32_t blocks, char *out, size_t n)
{
    char *p = out;
    size_t i;
    p += snprintf(p, n, "%s1 ", state_magic);
    for (i = 0; i < OD_SHA256_LEN; i++)
        p += sprintf(p, "%02x", h->target_sha256[i]);
    *p++ = ' ';
    for (i = 0; i < OD_SHA256_LEN; i++)
        p += sprintf(p, "%02x", h->payload_sha256[i]);
    sprintf(p, " %u\n", blocks);
}

/*
 * Replaces the state with one recording blocks_done. The state has one
 * writer (the part file's lock, cmd_apply), so a fixed temporary name
 * suffices: a kill leaves at most that one file, which the next run
 * removes (state_tmp_ok lets it) before its first save. The file is
 * created exclusively and never through a link: in a directory others
 * can write, one planted between two saves fails the save instead of
 * having its target overwritten. Returns 0, or -1 (fl_fail).
 */
static int state_write(flash *f, uint32_t blocks_done)
{
    char line[200];
    int fd, ok;
    size_t n;
    state_line(f->h, blocks_done, line, sizeof(line));
    n = strlen(line);
    fd = open(f->state_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return fl_fail(f, f->state_tmp);
    ok = write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(f->state_tmp, f->state) != 0)
        return fl_fail(f, f->state);
    return 0;
}

/* Records blocks_done once the blocks it counts are on disk. */
static int fl_save_progress(void *ctx, uint32_t blocks_done)
{
    flash *f = ctx;
    if (fsync(f->fd) != 0)
        return fl_fail(f, f->part);
    if (state_write(f, blocks_done) != 0)
        return -1;
    f->saved = 1;
    return 0;
}

/*
 * The state's temporary file may be replaced only if it is missing or one
 * of ours that a kill left behind (empty, or starting as a state does);
 * anything else at that name is someone's file. Returns an exit code,
 * reported.
 */
static int state_tmp_ok(const char *tmp, const char *state)
{
    char have[sizeof(state_magic)];
    struct stat sb;
    ssize_t n = -1;
    int fd;
    if (lstat(tmp, &sb) != 0)
        return EX_OK;
    if (S_ISREG(sb.st_mode) && (fd = open(tmp, O_RDONLY | O_NONBLOCK | O_NOCTTY)) >= 0) {
        n = read(fd, have, sizeof(have) - 1);
        close(fd);
    }
    if (n >= 0 && memcmp(have, state_magic, (size_t)n) == 0)
        return EX_OK;
    od_cli_msg("'%s' exists and is not otadelta's: --resume '%s' keeps its temporary file "
        "there; move it away or give --resume another name", tmp, state);
    return EX_USAGE;
}

/*
 * Reads the state file at path into *blocks: the blocks done it records
 * for this package, else 0 (absent, or another package's); *exists says
 * whether an otadelta state is there: 0 none, STATE_OURS, STATE_OTHER
 * (another package's), STATE_BAD (this package's, counting more blocks
 * than it has). A file that is
 * not an otadelta state is refused (EX_USAGE, reported): the command
 * would replace it and delete it at the end.
 */
enum { STATE_OURS = 1, STATE_OTHER, STATE_BAD };

static int state_read(const char *path, const od_pkg_header *h, uint32_t *blocks, int *exists)
{
    char want[200], have[200];
    struct stat sb;
    ssize_t n = -1;
    unsigned long v;
    /* O_NONBLOCK: a FIFO here must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);

    *blocks = 0;
    *exists = 0;
    if (fd < 0 && errno == ENOENT)
        return EX_OK;
    if (fd < 0) {
        od_cli_msg("cannot read --resume '%s': %s", path, strerror(errno));
        return EX_INPUT;
    }
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        n = read(fd, have, sizeof(have) - 1);
    close(fd);
    if (n < (ssize_t)sizeof(state_magic) - 1 ||
        memcmp(have, state_magic, sizeof(state_magic) - 1) != 0) {
        od_cli_msg("--resume '%s' exists and is not an otadelta resume state; not replacing "
            "it: give the state a name of its own (for example NEW.state)", path);
        return EX_USAGE;
    }
    have[n] = '\0';
    *exists = STATE_OTHER;
    state_line(h, 0, want, sizeof(want));
    /* Compare everything but the trailing count. */
    n = (ssize_t)strlen(want) - 2;
    if (strncmp(have, want, (size_t)n) != 0)
        return EX_OK;
    v = strtoul(have + n, NULL, 10);
    *exists = v <= h->block_count ? STATE_OURS : STATE_BAD;
    *blocks = v <= h->block_count ? (uint32_t)v : 0;
    return EX_OK;
}

/* Says why the applier refuses pages of `page` bytes for h: they must
 * divide its erase unit and, with the thumb filter, hold its pages. */
static void page_msg(const od_pkg_header *h, uint32_t page, const char *pkg)
{
    od_cli_msg("--page %u does not suit '%s' (page %u, erase %u%s): a page must divide its erase "
        "size%s; leave --page out to use the package's own", page, pkg, h->page_size,
        h->erase_size, h->filter ? ", thumb filter" : "",
        h->filter ? " and, with the thumb filter, be at least its page size" : "");
}

/* The applier over fl: memory or the --resume part file as flash, erased
 * pages reading 0xFF as on NOR flash. */
static void fl_config(od_patch_config *cfg, flash *fl, uint8_t *work, uint32_t work_size,
                      uint32_t page)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ctx = fl;
    cfg->read_old = fl_read_old;
    cfg->write = fl_write;
    cfg->read_new = fl_read_new;
    cfg->work = work;
    cfg->work_size = work_size;
    cfg->page_size = page;
    cfg->erase_size = page; /* memory and files need no erase() */
    cfg->new_capacity = (uint32_t)fl->cap;
    cfg->old_size = (uint32_t)fl->old_size;
    cfg->erased_value = 0xFF;
}

/*
 * Applies a package, in memory, with the MCU applier fed the whole package
 * at once, and compares the image with NEW (nw NULL: the applier's own
 * read-back check of the target hashes is enough): the CLI writes no
 * package it has not seen restore its target, and verify with OLD decodes.
 * Returns 0, an OD_PATCH_ERR_* (< 0), or 1 when the applier succeeded but
 * the image differs or bytes follow the package.
 */
static int roundtrip_check(const uint8_t *old, size_t old_size, const uint8_t *pkg,
                           size_t pkg_size, const uint8_t *nw, size_t new_size)
{
    od_pkg_header h;
    od_patch_config cfg;
    od_patch st;
    flash fl;
    uint8_t *work;
    size_t at = 0;
    int r;

    if (od_pkg_parse_header(pkg, pkg_size, &h) != OD_PKG_OK)
        return OD_PATCH_ERR_HEADER;
    memset(&fl, 0, sizeof(fl));
    fl.old = old;
    fl.old_size = old_size;
    fl.fd = -1;
    fl.cap = ((size_t)h.target_size + h.page_size - 1) / h.page_size * h.page_size;
    fl.img = malloc(fl.cap ? fl.cap : 1);
    work = malloc(h.ram_needed);
    if (!fl.img || !work) {
        r = OD_PATCH_ERR_NO_MEM;
        goto done;
    }
    fl_config(&cfg, &fl, work, h.ram_needed, h.page_size);
    r = od_patch_init(&st, &cfg, 0);
    while (r == OD_PATCH_OK && at < pkg_size)
        r = od_patch_feed(&st, pkg, &at, pkg_size);
    if (r == OD_PATCH_DONE)
        r = (at == pkg_size && (!nw || (new_size == h.target_size &&
                                        (new_size == 0 || memcmp(fl.img, nw, new_size) == 0))))
                ? 0
                : 1;
    else if (r == OD_PATCH_OK)
        r = OD_PATCH_ERR_CORRUPT; /* wants more than the whole package */
done:
    free(fl.img);
    free(work);
    return r;
}

/* The applier's authenticity hook, on the host's OpenSSL. */
static int fl_verify(void *ctx, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *sig,
                     uint32_t sig_len)
{
    return od_pkg_verify_hook_openssl(((flash *)ctx)->pub, hdr, hdr_len, sig, sig_len);
}

static void apply_progress(void *ctx, uint32_t done, uint32_t total)
{
    (void)ctx;
    bar_update(done, total);
}

static int patch_exit(int r)
{
    switch (r) {
    case OD_PATCH_ERR_WRONG_SOURCE:
    case OD_PATCH_ERR_VERIFY: return EX_MISMATCH;
    case OD_PATCH_ERR_SIGNATURE: return EX_PACKAGE;
    case OD_PATCH_ERR_READ:
    case OD_PATCH_ERR_WRITE: return EX_OUTPUT;
    default: return EX_PACKAGE;
    }
}

static const char *apply_help =
    "usage: otadelta apply OLD PKG -o NEW [options]\n"
    "       otadelta apply PKG -o NEW [options]          (full package)\n"
    "\n"
    "Restores NEW with the same freestanding applier that runs on the MCU,\n"
    "feeding it the package in chunks, and checks the result by reading it back\n"
    "(target SHA-256 and MD5). NEW appears only if verification succeeds.\n"
    "\n"
    "  -o, --output NEW      image to write (written atomically)\n"
    "  --chunk BYTES         bytes fed per call, as a download delivers them (default 1024)\n"
    "  --page BYTES          flash write page of the simulated device (default: the\n"
    "                        package's own page size): a power of two of at least 16\n"
    "                        that divides the package's erase size, and for a\n"
    "                        thumb-filtered package at least its page size\n"
    "  --check-source        hash OLD before writing and refuse a wrong base image\n"
    "  --key PUB             require a valid signature by this public key\n"
    "  --resume STATE        survive interruption: build NEW in NEW.part, record blocks\n"
    "                        done in STATE; rerunning the same command resumes there.\n"
    "                        STATE must be a name of its own: an existing file that\n"
    "                        is not such a state is refused. Implies --check-source,\n"
    "                        so a wrong OLD is refused before it spoils the progress\n"
    "  -q, --quiet           no progress bar or summary\n";

static int cmd_apply(int argc, char **argv)
{
    const char *in[2] = {NULL, NULL}, *out = NULL, *v, *resume = NULL, *keyp = NULL;
    char *part = NULL, *state_tmp = NULL, *real_out = NULL;
    int nin = 0, i, r, check_src = 0, user_page;
    uint32_t start = 0;
    uint32_t chunk = 1024, page = 0; /* 0: the package's page size */
    FILE *summary;
    uint8_t *old = NULL, *pkg = NULL, *work = NULL;
    size_t old_size = 0, pkg_size = 0;
    od_pkg_header h;
    od_patch_config cfg;
    od_patch st;
    flash fl = {0};

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(apply_help, stdout);
            return EX_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--chunk") || !strcmp(a, "--page")) {
            uint32_t *dst = a[2] == 'c' ? &chunk : &page;
            if (!(v = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
            if (parse_size(v, dst) != 0 || *dst == 0) {
                od_cli_msg("'%s' is not a positive size in bytes for %s", v, a);
                return EX_USAGE;
            }
        } else if (!strcmp(a, "--check-source")) {
            check_src = 1;
        } else if (!strcmp(a, "--resume")) {
            if (!(resume = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "--key")) {
            if (!(keyp = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            od_cli_msg("unknown option '%s' (see '%s apply --help')", a, prog);
            return EX_USAGE;
        } else if (nin < 2) {
            in[nin++] = a;
        } else {
            od_cli_msg("too many file arguments (see 'otadelta apply --help')");
            return EX_USAGE;
        }
    }
    if (nin < 1 || !out) {
        od_cli_msg("need [OLD] PKG and -o NEW (see 'otadelta apply --help')");
        return EX_USAGE;
    }
    if (page && (page < 16 || (page & (page - 1)))) {
        od_cli_msg("--page must be a power of two of at least 16");
        return EX_USAGE;
    }
    user_page = page != 0;
    fl.fd = -1;
    if ((r = od_cli_check_output(out, resume != NULL)))
        return r;
    if (resume) {
        struct stat ls;
        /* The part file is renamed over NEW at the end: through a link,
         * the file it names is replaced (as without --resume), not the
         * link, so the part goes beside that file. */
        if (lstat(out, &ls) == 0 && S_ISLNK(ls.st_mode)) {
            if (!(real_out = realpath(out, NULL))) {
                od_cli_msg("cannot resolve '%s': %s", out, strerror(errno));
                return EX_OUTPUT;
            }
            out = real_out;
        }
        part = malloc(strlen(out) + 6);
        state_tmp = malloc(strlen(resume) + 5);
        if (!part || !state_tmp) {
            od_cli_msg("out of memory");
            r = EX_OUTPUT;
            goto done;
        }
        sprintf(part, "%s.part", out);
        sprintf(state_tmp, "%s.tmp", resume);
    }
    {
        /* Each file written (files[3] on) is checked against those before
         * it: the part becomes NEW, the state is replaced by rename and
         * deleted at the end; landing on another file of this command
         * would lose it. Without --resume the last three are NULL, which
         * od_cli_refuse_same() passes. */
        const od_cli_file files[] = {{"OLD", nin == 2 ? in[0] : NULL}, {"PKG", in[nin - 1]},
                                     {"--key", keyp}, {"-o", out}, {"the part file", part},
                                     {"--resume", resume},
                                     {"the state's temporary file", state_tmp}};
        static const char *const hints[] = {
            "write the new image elsewhere (and move it once it is verified)",
            "choose another -o NEW (--resume builds it in NEW.part)",
            "give the state a name of its own (for example NEW.state)",
            "give --resume another name"};
        size_t k;
        for (k = 3; k < sizeof(files) / sizeof(files[0]); k++)
            if ((r = od_cli_refuse_same(files[k].role, files[k].path, files, k, hints[k - 3])))
                goto done;
    }
    if ((r = od_cli_read_file(in[nin - 1], OD_MAX_IMAGE_SIZE, &pkg, &pkg_size)))
        goto done;
    if (nin == 2 && (r = od_cli_read_file(in[0], OD_MAX_IMAGE_SIZE, &old, &old_size)))
        goto done;
    /* OLD and PKG the wrong way round is the usual slip: name it rather
     * than call the image a damaged package. */
    if (nin == 2 && od_diff_image_kind(old, old_size) == OD_IMAGE_PACKAGE &&
        od_diff_image_kind(pkg, pkg_size) != OD_IMAGE_PACKAGE) {
        char w0[2 * PATH_MAX + 3], w1[2 * PATH_MAX + 3];
        od_cli_msg("'%s' is a package and '%s' is not: the order is OLD PKG (otadelta apply %s %s "
            "-o NEW)", in[0], in[1], shell_word(in[1], w1, sizeof(w1)),
            shell_word(in[0], w0, sizeof(w0)));
        r = EX_USAGE;
        goto done;
    }
    if (keyp && !(fl.pub = od_cli_load_public_key(keyp))) {
        r = EX_INPUT;
        goto done;
    }

    /* Size the device's buffers from the header, as a firmware engineer
     * would from `otadelta info`; a bad header is reported by the applier
     * itself below, so fall back to a page-only buffer. */
    memset(&h, 0, sizeof(h));
    if (od_pkg_parse_header(pkg, pkg_size, &h) != OD_PKG_OK)
        memset(&h, 0, sizeof(h));
    if (h.kind == OD_KIND_DELTA && nin != 2) {
        od_cli_msg("'%s' is a delta package: give the old image too (otadelta apply OLD PKG -o NEW)", in[0]);
        r = EX_USAGE;
        goto done;
    }
    if (h.kind == OD_KIND_FULL && nin == 2 && !quiet)
        od_cli_msg("note: '%s' is a full package; '%s' is not used", in[1], in[0]);
    if (!page)
        page = h.page_size ? h.page_size : OD_DIFF_DEFAULT_PAGE;
    fl.old = old;
    fl.old_size = old_size;
    fl.cap = ((size_t)h.target_size + page - 1) / page * page;
    fl.h = &h;
    /* The applier's own page rules, checked before --resume touches the
     * part file (sized by our page) or the state: a wrong --page must
     * leave the progress as it was. */
    if (user_page && h.format_version &&
        ((h.erase_size & (page - 1)) || (h.filter && page < h.page_size))) {
        page_msg(&h, page, in[nin - 1]);
        r = EX_USAGE;
        goto done;
    }
    if (resume && h.format_version) {
        struct stat sb, sp;
        struct flock lk;
        uint32_t recorded;
        int have_state;
        if ((r = state_read(resume, &h, &recorded, &have_state)) ||
            (r = state_tmp_ok(state_tmp, resume)))
            goto done;
        fl.state = resume;
        fl.state_tmp = state_tmp;
        fl.part = part;
        /* A part file is ours only with a state beside it, or empty (a
         * kill between creating it and the first state write below):
         * nothing is written to it before a state vouches for it. */
        if (lstat(part, &sb) == 0 && (!S_ISREG(sb.st_mode) || (!have_state && sb.st_size))) {
            od_cli_msg("'%s' exists but no --resume state '%s' vouches for it, so it is not "
                "otadelta's to overwrite; move it away, or choose another -o", part, resume);
            r = EX_USAGE;
            goto done;
        }
        if ((fl.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
            od_cli_msg("cannot use '%s': %s", part, strerror(errno));
            r = EX_OUTPUT;
            goto done;
        }
        /* One run at a time, locked before anything is written: a second
         * would interleave writes to the part file and the state. A lock
         * is the file's, not the name's, so the name must still be this
         * file (a run finishing renames it to NEW). The lock goes with the
         * process. */
        memset(&lk, 0, sizeof(lk));
        lk.l_type = F_WRLCK;
        lk.l_whence = SEEK_SET;
        if (fcntl(fl.fd, F_SETLK, &lk) != 0 || fstat(fl.fd, &sb) != 0 ||
            lstat(part, &sp) != 0 || sb.st_dev != sp.st_dev || sb.st_ino != sp.st_ino) {
            od_cli_msg("'%s' is being written by another 'otadelta apply --resume'; let it "
                "finish", part);
            r = EX_OUTPUT;
            goto done;
        }
        /* Read again under the lock: the run that held it may have
         * saved more, or finished. */
        if ((r = state_read(resume, &h, &recorded, &have_state)))
            goto done;
        /* A temporary state a killed run left (state_tmp_ok vouched for
         * it) goes now: state_write creates its file afresh every time,
         * so that nothing planted under that name between two saves (a
         * link to another file) is ever written through. */
        if ((r = state_tmp_ok(state_tmp, resume)))
            goto done;
        if (unlink(state_tmp) != 0 && errno != ENOENT) {
            od_cli_msg("cannot remove '%s': %s", state_tmp, strerror(errno));
            r = EX_OUTPUT;
            goto done;
        }
        /* Blocks recorded in the state are only in a part file that was
         * already there at full size; otherwise start afresh, and (re)set
         * the state before the first write: after a kill it would vouch
         * for blocks this part file does not hold, or be missing. */
        if (recorded && (uint64_t)sb.st_size >= fl.cap)
            start = recorded;
        /* Starting over is always safe; say why, so a lost resume is no
         * surprise. */
        if (!quiet && !start && have_state != STATE_OURS)
            fprintf(stderr, "%s: '%s' records %s; starting from block 0\n", prog, resume,
                    have_state == STATE_OTHER ? "the progress of another package"
                                              : "more blocks done than the package has");
        else if (!quiet && !start && recorded)
            fprintf(stderr, "%s: '%s' is shorter than the state '%s' says; starting from "
                    "block 0\n", prog, part, resume);
        if (!start && state_write(&fl, 0) != 0) {
            od_cli_msg("cannot write '%s': %s", resume, strerror(fl.failed_errno));
            unlink(part); /* it holds nothing a state vouches for */
            r = EX_OUTPUT;
            goto done;
        }
        if ((!start && ftruncate(fl.fd, 0) != 0) || ftruncate(fl.fd, (off_t)fl.cap) != 0) {
            od_cli_msg("cannot use '%s': %s", part, strerror(errno));
            r = EX_OUTPUT;
            goto done;
        }
        if (start && !quiet)
            fprintf(stderr, "%s: resuming at block %u of %u\n", prog, start, h.block_count);
    } else {
        fl.img = malloc(fl.cap ? fl.cap : 1);
    }
    work = malloc((size_t)page + od_pkg_codec_workspace(&h) + 16);
    if ((!fl.img && fl.fd < 0) || !work) {
        od_cli_msg("out of memory");
        r = EX_OUTPUT;
        goto done;
    }
    fl_config(&cfg, &fl, work, page + od_pkg_codec_workspace(&h), page);
    cfg.progress = apply_progress;
    /* Resuming trusts what earlier runs wrote; a wrong OLD must be refused
     * before it writes blocks that progress would then vouch for. */
    cfg.check_source = (uint8_t)(check_src || fl.fd >= 0);
    if (fl.fd >= 0)
        cfg.save_progress = fl_save_progress;
    if (fl.pub)
        cfg.verify_header = fl_verify;

    od_patch_init(&st, &cfg, start);
    bar_start("apply");
    r = OD_PATCH_OK;
    /* As a device does: always continue at the offset the applier wants
     * (a resumed run skips to its block, like an HTTP Range request). */
    while (r == OD_PATCH_OK || r == OD_PATCH_SEEK) {
        size_t at = od_patch_offset(&st), end;
        if (at >= pkg_size)
            break;
        end = pkg_size - at < chunk ? pkg_size : at + chunk;
        r = od_patch_feed(&st, pkg, &at, end);
    }
    bar_end();
    if (r == OD_PATCH_OK) {
        if (od_patch_header(&st))
            od_cli_msg("'%s' ends after %zu bytes, before the package is complete (%u bytes "
                "expected): incomplete download?", in[nin - 1], pkg_size,
                od_pkg_total_size(&st.h));
        else
            od_cli_msg("'%s' (%zu bytes) ends before an otadelta package header does: not a "
                "package, or a download cut short", in[nin - 1], pkg_size);
        r = EX_PACKAGE;
        goto done;
    }
    if (r != OD_PATCH_DONE) {
        /* The package cannot fit the flash only through our --page (the
         * package's own always fits): the command line is at fault. */
        int geometry = r == OD_PATCH_ERR_GEOMETRY && user_page;
        /* A damaged or wrong package leaves nothing worth resuming; a
         * failed write (disk full), a wrong OLD or a wrong --page keeps the
         * progress made, if any was. */
        int keep = r == OD_PATCH_ERR_WRITE || r == OD_PATCH_ERR_READ ||
                   r == OD_PATCH_ERR_WRONG_SOURCE || geometry;
        if (r == OD_PATCH_ERR_WRITE && fl.failed)
            od_cli_msg("cannot apply '%s': cannot write '%s': %s", in[nin - 1], fl.failed,
                strerror(fl.failed_errno));
        else if (geometry)
            page_msg(&h, page, in[nin - 1]);
        else
            od_cli_msg("cannot apply '%s': %s", in[nin - 1], od_patch_strerror(r));
        if (fl.fd >= 0) {
            unlink(state_tmp); /* a failed save's, never needed again */
            if (keep && (start || fl.saved)) {
                if (!quiet)
                    od_cli_msg("progress kept in '%s' and '%s': run the same command again to "
                        "resume", resume, part);
            } else {
                unlink(part);
                unlink(resume);
            }
        }
        /* The applier only knows the hook said no; say why. */
        if (r == OD_PATCH_ERR_SIGNATURE && keyp)
            (void)od_cli_verify_signature(pkg, pkg_size, keyp);
        /* Without --check-source a wrong OLD of the right size shows only
         * at the end, as a target mismatch; name the likelier cause. */
        if (r == OD_PATCH_ERR_VERIFY && nin == 2) {
            uint8_t md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
            od_pkg_hash_image(old, old_size, md5, sha);
            if (memcmp(sha, st.h.source_sha256, OD_SHA256_LEN) != 0)
                od_cli_msg("'%s' is not the package's source image (version %s): its SHA-256 "
                    "differs (--check-source refuses such an image before writing)", in[0],
                    st.h.source_version);
        }
        if (r == OD_PATCH_ERR_WRONG_SOURCE) {
            od_cli_msg("the package expects a source image of %u bytes (version %s)", st.h.source_size,
                st.h.source_version);
            /* The likeliest cause when OLD is a build output: say so. */
            const char *name;
            char buf[2 * PATH_MAX + 300];
            if (convert_hint(in[0], old, old_size, &name, buf, sizeof(buf)))
                od_cli_msg("'%s' is %s, not the raw flash image the package was made from; %s",
                    in[0], name, buf);
        }
        r = geometry ? EX_USAGE : patch_exit(r);
        goto done;
    }
    /* The applier ends at payload_size (a shorter file never reaches
     * DONE); bytes after it are not part of the package. */
    if (pkg_size > od_pkg_total_size(&st.h)) {
        od_cli_msg("'%s' has %zu unexpected bytes after the package; refusing it", in[nin - 1],
            pkg_size - (size_t)od_pkg_total_size(&st.h));
        r = EX_PACKAGE;
        goto done;
    }
    summary = od_cli_summary_stream(out);
    if (fl.fd >= 0) {
        struct stat a, b;
        /* The part file must still be the one written through fl.fd. */
        if (fstat(fl.fd, &a) != 0 || stat(part, &b) != 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino) {
            od_cli_msg("'%s' was replaced while the update ran; not using it", part);
            r = EX_OUTPUT;
            goto done;
        }
        /* The part file holds whole pages; the image ends at target_size.
         * NEW goes first: a kill before the state is gone leaves a state
         * without its part file, which vouches for nothing (the next run
         * starts afresh). */
        if (ftruncate(fl.fd, (off_t)st.h.target_size) != 0 || fsync(fl.fd) != 0 ||
            rename(part, out) != 0) {
            od_cli_msg("cannot write '%s': %s; the verified image is in '%s'", out,
                strerror(errno), part);
            r = EX_OUTPUT;
            goto done;
        }
        unlink(resume);
        unlink(state_tmp);
        r = EX_OK;
    } else if ((r = od_cli_write_atomic(out, fl.img, st.h.target_size))) {
        goto done;
    }
    if (!quiet) {
        fprintf(summary, "%s: %u bytes, version %s, verified sha256 ", out, st.h.target_size,
                st.h.target_version);
        hex(summary, st.h.target_sha256, OD_SHA256_LEN);
        fputc('\n', summary);
    }
done:
    if (fl.fd >= 0)
        close(fl.fd);
    EVP_PKEY_free(fl.pub);
    free(real_out);
    free(part);
    free(state_tmp);
    free(old);
    free(pkg);
    free(work);
    free(fl.img);
    return r;
}

/* ---- info / verify ---- */

#define EXT_SHOWN 16 /* records the text form lists; --json lists them all */

/* A walk over a package's extension records, as `info` shows them. */
typedef struct ext_walk {
    const uint8_t *area;
    uint32_t size, pos;
    uint16_t type, len;
    const uint8_t *value;
} ext_walk;

/*
 * Checks that pkg holds the whole extension area and that its records
 * tile it; *count gets their number. Returns 0, or -1 when the file ends
 * inside the area (info reads only the header's part of a file) or a
 * record runs past it. Nothing is allocated: the records are read in
 * place, as often as they are needed (ext_next).
 */
static int ext_check(const uint8_t *pkg, size_t size, const od_pkg_header *h, unsigned *count)
{
    uint32_t pos = 0;
    uint16_t type, len;
    const uint8_t *value;
    int r;
    *count = 0;
    if (size < (size_t)h->header_size + h->ext_size)
        return -1;
    while ((r = od_pkg_next_tlv(pkg + h->header_size, h->ext_size, &pos, &type, &value, &len)) ==
           OD_PKG_OK)
        (*count)++;
    return r < 0 ? -1 : 0;
}

/* Starts a walk over a package that passed ext_check. */
static void ext_begin(ext_walk *w, const uint8_t *pkg, const od_pkg_header *h)
{
    w->area = pkg + h->header_size;
    w->size = h->ext_size;
    w->pos = 0;
}

/* The next record into w; 0 past the last one. */
static int ext_next(ext_walk *w)
{
    return od_pkg_next_tlv(w->area, w->size, &w->pos, &w->type, &w->value, &w->len) == OD_PKG_OK;
}

static const char *ext_name(uint16_t type)
{
    return type == OD_TLV_SIGNATURE ? "signature" : type == OD_TLV_NOTE ? "note"
           : (type & OD_TLV_CRITICAL) ? "unknown, critical" : "unknown";
}

/* The signature record's algorithm name, "none", or "invalid" for one a
 * verifier would refuse outright (wrong length, unknown id). Not verified. */
static const char *sig_state(const uint8_t *pkg, const od_pkg_header *h)
{
    ext_walk w;
    ext_begin(&w, pkg, h);
    while (ext_next(&w))
        if (w.type == OD_TLV_SIGNATURE)
            return w.len == OD_SIG_VALUE_LEN &&
                   (w.value[0] == OD_SIG_ALG_ED25519 || w.value[0] == OD_SIG_ALG_P256)
                       ? od_cli_alg_name(w.value[0]) : "invalid";
    return "none";
}

static void print_info_text(const od_pkg_header *h, size_t size, const uint8_t *pkg)
{
    ext_walk w;
    unsigned n, i;
    int ext_ok = ext_check(pkg, size, h, &n);

    printf("kind:            %s\n", h->kind == OD_KIND_FULL ? "full" : "delta");
    printf("format version:  %u\n", h->format_version);
    printf("package size:    %zu", size);
    /* info reads whatever it is given; a download cut short or with
     * something appended is worth a word before anyone publishes it. */
    if (size != od_pkg_total_size(h))
        printf(" (%s: the header describes %u bytes)", size < od_pkg_total_size(h) ? "incomplete"
               : "bytes follow the package", od_pkg_total_size(h));
    putchar('\n');
    if (h->kind == OD_KIND_DELTA)
        printf("source:          %s, %u bytes\n", h->source_version, h->source_size);
    printf("target:          %s, %u bytes\n", h->target_version, h->target_size);
    printf("codec:           %s", od_pkg_codec_name(h->codec));
    if (h->codec == OD_CODEC_LZMA)
        printf(" (lc=%u lp=%u pb=%u, dictionary %u bytes)", h->codec_props % 9,
               (h->codec_props / 9) % 5, h->codec_props / 45, h->dict_size);
    else if (h->codec == OD_CODEC_DEFLATE)
        printf(" (window %u bytes)", h->dict_size);
    printf("\nfilter:          %s\n", od_pkg_filter_name(h->filter));
    printf("flash:           page %u, erase %u\n", h->page_size, h->erase_size);
    printf("blocks:          %u of %u bytes\n", h->block_count, h->block_size);
    printf("device RAM:      %u bytes work buffer + %u bytes state\n", h->ram_needed,
           OD_PATCH_STATE_RESERVE);
    if (ext_ok != 0) {
        printf("extensions:      %u bytes, unreadable (file cut short or damaged)\n", h->ext_size);
    } else {
        const char *sig = sig_state(pkg, h);
        printf("signature:       %s%s\n", sig,
               strcmp(sig, "none") ? " (not checked here: otadelta verify PKG --key PUB)" : "");
        printf("extensions:      %s", n ? "" : "none");
        ext_begin(&w, pkg, h);
        for (i = 0; i < EXT_SHOWN && ext_next(&w); i++)
            printf("%s%s 0x%04x (%u bytes)", i ? ", " : "", ext_name(w.type), w.type, w.len);
        if (n > EXT_SHOWN)
            printf(", ... (%u in all; --json lists them)", n);
        printf("\n");
    }
    if (h->kind == OD_KIND_DELTA) {
        printf("source md5:      "); hex(stdout, h->source_md5, OD_MD5_LEN);
        printf("\nsource sha256:   "); hex(stdout, h->source_sha256, OD_SHA256_LEN);
        printf("\n");
    }
    printf("target md5:      "); hex(stdout, h->target_md5, OD_MD5_LEN);
    printf("\ntarget sha256:   "); hex(stdout, h->target_sha256, OD_SHA256_LEN);
    printf("\npayload sha256:  "); hex(stdout, h->payload_sha256, OD_SHA256_LEN);
    printf("\n");
}

static void json_hex(const char *key, const uint8_t *b, size_t n, int comma)
{
    printf("  \"%s\": \"", key);
    hex(stdout, b, n);
    printf("\"%s\n", comma ? "," : "");
}

static void print_info_json(const od_pkg_header *h, size_t size, const uint8_t *pkg)
{
    uint8_t md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
    od_pkg_hash_image(pkg, size, md5, sha);
    printf("{\n");
    printf("  \"kind\": \"%s\",\n", h->kind == OD_KIND_FULL ? "full" : "delta");
    printf("  \"format_version\": %u,\n", h->format_version);
    printf("  \"package_size\": %zu,\n", size);
    printf("  \"expected_size\": %u,\n", od_pkg_total_size(h));
    json_hex("package_md5", md5, OD_MD5_LEN, 1);
    json_hex("package_sha256", sha, OD_SHA256_LEN, 1);
    /* Version strings are restricted to A-Za-z0-9._- so need no escaping. */
    printf("  \"source_version\": \"%s\",\n", h->source_version);
    printf("  \"target_version\": \"%s\",\n", h->target_version);
    printf("  \"source_size\": %u,\n", h->source_size);
    printf("  \"target_size\": %u,\n", h->target_size);
    printf("  \"codec\": \"%s\",\n", od_pkg_codec_name(h->codec));
    printf("  \"codec_props\": %u,\n", h->codec_props);
    printf("  \"filter\": \"%s\",\n", od_pkg_filter_name(h->filter));
    printf("  \"dict_size\": %u,\n", h->dict_size);
    printf("  \"page_size\": %u,\n", h->page_size);
    printf("  \"erase_size\": %u,\n", h->erase_size);
    printf("  \"ram_needed\": %u,\n", h->ram_needed);
    printf("  \"state_reserve\": %u,\n", OD_PATCH_STATE_RESERVE);
    printf("  \"block_size\": %u,\n", h->block_size);
    printf("  \"block_count\": %u,\n", h->block_count);
    printf("  \"ext_size\": %u,\n", h->ext_size);
    {
        ext_walk w;
        unsigned n, i;
        if (ext_check(pkg, size, h, &n) == 0) {
            const char *sig = sig_state(pkg, h);
            if (strcmp(sig, "none"))
                printf("  \"signature\": \"%s\",\n", sig);
            else
                printf("  \"signature\": null,\n");
            printf("  \"extensions\": [");
            ext_begin(&w, pkg, h);
            for (i = 0; ext_next(&w); i++)
                printf("%s{\"type\": %u, \"name\": \"%s\", \"length\": %u}", i ? ", " : "",
                       w.type, ext_name(w.type), w.len);
            printf("],\n");
        } else { /* the file ends inside the area, or it is damaged */
            printf("  \"signature\": null,\n  \"extensions\": null,\n");
        }
    }
    printf("  \"payload_size\": %u,\n", h->payload_size);
    json_hex("source_md5", h->source_md5, OD_MD5_LEN, 1);
    json_hex("source_sha256", h->source_sha256, OD_SHA256_LEN, 1);
    json_hex("target_md5", h->target_md5, OD_MD5_LEN, 1);
    json_hex("target_sha256", h->target_sha256, OD_SHA256_LEN, 1);
    json_hex("payload_sha256", h->payload_sha256, OD_SHA256_LEN, 0);
    printf("}\n");
}

static int cmd_info(int argc, char **argv, int verify)
{
    const char *path = NULL, *oldp = NULL, *newp = NULL, *keyp = NULL;
    int json = 0, i, r, d, decode;
    uint8_t *pkg = NULL, *img[2] = {NULL, NULL};
    size_t size = 0, isz[2] = {0, 0};
    od_pkg_header h;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            if (verify)
                fputs("usage: otadelta verify PKG [--old OLD] [--new NEW] [--key PUB]\n\n"
                      "Checks a package's container: header CRC and fields, extensions,\n"
                      "block index, every block CRC, payload SHA-256 and exact size.\n"
                      "--old / --new also check that the header names those images (size,\n"
                      "MD5 and SHA-256); --key checks its signature with a public key from\n"
                      "'otadelta keygen' (refused if unsigned).\n\n"
                      "With --old (a delta) or for a full package, verify then applies the\n"
                      "package in memory with the MCU applier, as 'otadelta apply' would,\n"
                      "and checks the image it restores (against NEW too, if given): a\n"
                      "package it calls ok with OLD applies to OLD. A delta checked without\n"
                      "--old is not decoded: the applier may still refuse it (ops that\n"
                      "reach outside OLD, an image that does not match the target hash).\n", stdout);
            else
                fputs("usage: otadelta info PKG [--json]\n\n"
                      "Prints what a package says about itself: kind, versions, sizes,\n"
                      "hashes, codec, flash geometry, the RAM the applier needs, and its\n"
                      "extension records, with the signature's algorithm (not checked:\n"
                      "'otadelta verify PKG --key PUB' checks it).\n", stdout);
            return EX_OK;
        } else if (!strcmp(a, "--json") && !verify) {
            json = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (verify && (!strcmp(a, "--old") || !strcmp(a, "--new") || !strcmp(a, "--key"))) {
            const char **dst = a[2] == 'o' ? &oldp : a[2] == 'n' ? &newp : &keyp;
            if (!(*dst = od_cli_need_arg(argc, argv, &i)))
                return EX_USAGE;
        } else if (a[0] == '-' && a[1]) {
            od_cli_msg("unknown option '%s' (see '%s %s --help')", a, prog, verify ? "verify" : "info");
            return EX_USAGE;
        } else if (!path) {
            path = a;
        } else {
            od_cli_msg("too many arguments");
            return EX_USAGE;
        }
    }
    if (!path) {
        od_cli_msg("need a package file (see '%s %s --help')", prog, verify ? "verify" : "info");
        return EX_USAGE;
    }
    if ((r = od_cli_read_file(path, OD_MAX_IMAGE_SIZE, &pkg, &size)))
        return r;
    r = verify ? od_pkg_check(pkg, size, &h) : od_pkg_parse_header(pkg, size, &h);
    if (r != OD_PKG_OK) {
        int kind = od_diff_image_kind(pkg, size);
        od_cli_msg("'%s': %s", path, od_pkg_strerror(r));
        if (r == OD_PKG_ERR_MAGIC && kind != OD_IMAGE_RAW)
            od_cli_msg("'%s' is %s: a build output, not a package", path,
                od_diff_image_kind_name(kind, NULL));
        free(pkg);
        return EX_PACKAGE;
    }
    if (verify && keyp && (r = od_cli_verify_signature(pkg, size, keyp)) != EX_OK) {
        free(pkg);
        return r;
    }
    if (!verify) {
        if (json)
            print_info_json(&h, size, pkg);
        else
            print_info_text(&h, size, pkg);
        free(pkg);
        return EX_OK;
    }
    r = EX_OK;
    for (i = 0; i < 2 && r == EX_OK; i++) {
        const char *ip = i ? newp : oldp;
        uint8_t md5[OD_MD5_LEN], sha[OD_SHA256_LEN];
        uint32_t want_size = i ? h.target_size : h.source_size;
        if (!ip)
            continue;
        if (!i && h.kind == OD_KIND_FULL) {
            od_cli_msg("'%s' is a full package: it has no source image to check", path);
            r = EX_USAGE;
        } else if ((r = od_cli_read_file(ip, OD_MAX_IMAGE_SIZE, &img[i], &isz[i])) == EX_OK) {
            od_pkg_hash_image(img[i], isz[i], md5, sha);
            if (isz[i] != want_size ||
                memcmp(md5, i ? h.target_md5 : h.source_md5, OD_MD5_LEN) ||
                memcmp(sha, i ? h.target_sha256 : h.source_sha256, OD_SHA256_LEN)) {
                od_cli_msg("'%s' is not the package's %s image (version %s, %u bytes)", ip,
                    i ? "target" : "source", i ? h.target_version : h.source_version, want_size);
                r = EX_MISMATCH;
            }
        }
    }
    /* With the source at hand, decode: the container checks cannot see
     * ops that reach outside OLD or an image that misses its hash. NEW is
     * not compared again: the applier accepts only an image whose
     * read-back has the header's target size and hashes, which NEW was
     * shown to have above, so the image it restores is NEW. */
    /* NEW was needed for its hashes only: not kept beside the image the
     * decode below restores (both can be up to 1 GiB). */
    free(img[1]);
    img[1] = NULL;
    decode = r == EX_OK && (oldp || h.kind == OD_KIND_FULL);
    if (decode && (d = roundtrip_check(img[0], isz[0], pkg, size, NULL, 0)) != 0) {
        od_cli_msg("'%s' does not apply%s%s: %s", path, oldp ? " to " : "", oldp ? oldp : "",
            d > 0 ? "unexpected bytes after the package" : od_patch_strerror(d));
        r = d > 0 ? EX_PACKAGE : patch_exit(d);
    }
    if (r == EX_OK && !quiet)
        printf("%s: ok (%s package %s%s%s, %zu bytes%s%s%s%s)\n", path,
               h.kind == OD_KIND_FULL ? "full" : "delta", h.source_version,
               h.kind == OD_KIND_FULL ? "" : " -> ", h.target_version, size,
               oldp ? ", old matches" : "", newp ? ", new matches" : "",
               decode ? ", applies" : "", keyp ? ", signature valid" : "");
    free(img[0]);
    free(img[1]);
    free(pkg);
    return r;
}

static void usage(FILE *f)
{
    fprintf(f,
            "otadelta %s - differential firmware updates for microcontrollers\n"
            "\n"
            "usage: otadelta COMMAND [options]   ('otadelta COMMAND --help' for details)\n"
            "\n"
            "  diff OLD NEW -o PKG   build a delta package\n"
            "  full NEW -o PKG       build a full package\n"
            "  apply [OLD] PKG -o NEW  restore NEW with the MCU applier, verified\n"
            "  info PKG [--json]     show what a package contains\n"
            "  verify PKG            check a package's integrity (--old/--new binding, --key)\n"
            "  keygen -o NAME        make a signing key pair NAME.pem / NAME.pub\n"
            "  sign PKG --key K.pem  sign a package (the signature covers the header)\n"
            "  version               print versions\n"
            "\n"
            "exit codes: 0 ok, 1 usage, 2 input file, 3 bad package, 4 wrong image or\n"
            "verification failed, 5 cannot write output, 6 generation failed\n",
            OD_VERSION_STRING);
}

/*
 * Runs the command. What a command printed on standard output (info
 * --json, help, summaries) is only as good as its delivery: a full disk
 * or a closed descriptor there is an output failure (exit 5), not a
 * success that leaves `info --json > meta.json` empty.
 */
static int run(int argc, char **argv)
{
    const char *cmd;
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EX_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("otadelta %s, format version %d\n", OD_VERSION_STRING, OD_FORMAT_VERSION);
        return EX_OK;
    }
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc - 2, argv + 2, 0);
    if (!strcmp(cmd, "full"))
        return cmd_diff(argc - 2, argv + 2, 1);
    if (!strcmp(cmd, "apply"))
        return cmd_apply(argc - 2, argv + 2);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 2, argv + 2, 0);
    if (!strcmp(cmd, "verify"))
        return cmd_info(argc - 2, argv + 2, 1);
    if (!strcmp(cmd, "keygen"))
        return od_cli_keygen(argc - 2, argv + 2);
    if (!strcmp(cmd, "sign"))
        return od_cli_sign(argc - 2, argv + 2);
    od_cli_msg("unknown command '%s' (try '%s --help')", cmd, prog);
    return EX_USAGE;
}

int main(int argc, char **argv)
{
    int r = run(argc, argv), flushed;
    errno = 0;
    flushed = fflush(stdout) == 0;
    if (!flushed || ferror(stdout)) {
        /* errno is the flush's; a write that failed earlier left no
         * trustworthy one. */
        od_cli_msg("cannot write to standard output%s%s", flushed ? "" : ": ",
            flushed ? " (a write failed)" : strerror(errno));
        if (r == EX_OK)
            r = EX_OUTPUT;
    }
    return r;
}
