/*
 * od_diff.h - the host-side package generator ("online differential").
 *
 * Given an old and a new firmware image, builds a delta package the
 * applier in patch/ can restore on an MCU within a stated RAM budget; or,
 * given only a new image, a full package in the same container.
 *
 * Thread-safety: every function is reentrant; separate calls share nothing.
 * od_diff_create runs its work on up to one thread per core (at most 8);
 * the output does not depend on how many.
 * Memory at the peak (suffix array of the old image, op streams,
 * compressed blocks), measured in bench/RESULTS.md: 6.1x the old image for
 * a 64 MiB pair; 13-48x on the corpus images, the fixed cost subtracted.
 */
#ifndef OD_DIFF_H
#define OD_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "od_pkgfmt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum od_diff_ret {
    OD_DIFF_OK = 0,
    OD_DIFF_ERR_PARAM = -1,      /* a parameter is out of range (see the field docs) */
    OD_DIFF_ERR_VERSION = -2,    /* version string not 1..50 chars of A-Za-z0-9._- */
    OD_DIFF_ERR_TOO_LARGE = -3,  /* an image exceeds OD_MAX_IMAGE_SIZE */
    OD_DIFF_ERR_BUDGET = -4,     /* the RAM budget cannot fit even the smallest
                                    decoder for this codec and page size */
    OD_DIFF_ERR_NOMEM = -5,      /* host allocation failed */
    OD_DIFF_ERR_CODEC = -6,      /* zlib/liblzma reported an internal error */
    OD_DIFF_ERR_INTERNAL = -7,   /* a self-check failed: please report it */
    OD_DIFF_ERR_BLOCKS = -8,     /* the image needs more than OD_MAX_BLOCKS blocks
                                    with this block_size / erase_size / restart */
    OD_DIFF_ERR_CANCELLED = -9   /* od_diff_params.cancel asked to stop */
} od_diff_ret;

/* Returns a static English description of an od_diff_ret value. */
const char *od_diff_strerror(int ret);

/* Fallback defaults, also what od_diff_params_init() sets. */
#define OD_DIFF_DEFAULT_RAM (16u * 1024u)
#define OD_DIFF_DEFAULT_PAGE 256u
#define OD_DIFF_DEFAULT_ERASE 4096u
#define OD_DIFF_DEFAULT_BLOCK (1024u * 1024u)
#define OD_DIFF_DEFAULT_RESTART (128u * 1024u)

/* od_diff_params.filter: build the delta with and without OD_FILTER_THUMB
 * and keep the smaller package. */
#define OD_DIFF_FILTER_AUTO (-1)

/* od_diff_params.effort: how hard the generator works for a small package. */
enum od_diff_effort {
    /* Tries 13 matcher settings per 32 KiB of output and keeps the best of
     * each, then compresses with LZMA's strongest settings: the smallest
     * packages, at about 2.5x bsdiff's time on the shared corpus. */
    OD_DIFF_EFFORT_BEST = 0,
    /* One matcher setting, and lighter compression (liblzma preset 3,
     * zlib level 6): on the shared corpus about 3x quicker than best and
     * about 9 % larger (bench/RESULTS.md has both on every pair). For
     * packages made often and downloaded little (tests, previews), not
     * for one a fleet downloads. */
    OD_DIFF_EFFORT_FAST = 1
};

/*
 * Progress of od_diff_create: done out of total (done <= total; the ratio
 * only grows, and a successful run ends with done == total). Calls never
 * overlap, but they may come from any of the generator's threads, so ctx
 * must not rely on thread-local state. Keep it quick: a generator thread
 * waits for it.
 */
typedef void (*od_diff_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * Polled by od_diff_create between work items and every 256 KiB of the
 * new image it scans; return nonzero to stop it, and it then frees what
 * it allocated and returns OD_DIFF_ERR_CANCELLED. Calls never overlap (the
 * same rules as the progress callback). The one step that cannot stop is
 * building the suffix array: on the benchmark machine about 3.3 s for a
 * 64 MiB image, 19 ms for the 0.8 MiB uboot-arm image.
 */
typedef int (*od_diff_cancel_fn)(void *ctx);

typedef struct od_diff_params {
    int kind;                 /* OD_KIND_DELTA (default) or OD_KIND_FULL */
    int codec;                /* OD_CODEC_LZMA (default), _DEFLATE or _NONE:
                                 the most the devices' applier decodes. Where
                                 it would make the package larger than
                                 storing the streams (an image that is
                                 already compressed or encrypted), the
                                 package uses OD_CODEC_NONE, which every
                                 applier profile decodes with less RAM;
                                 exact_codec turns that off. */
    int exact_codec;          /* nonzero: use codec even then (default 0) */
    uint32_t ram_budget;      /* the applier's total RAM in bytes, including
                                 OD_PATCH_STATE_RESERVE and the page buffer */
    uint32_t page_size;       /* flash write page, power of two, 16..65536 */
    uint32_t erase_size;      /* flash erase unit, power of two, multiple of
                                 page_size, <= block_size, <= 16 MiB */
    uint32_t block_size;      /* most output bytes in one block (a restart
                                 point for resume), multiple of erase_size,
                                 <= 1 GiB; 0 = no limit */
    uint32_t restart_interval;/* end a block at the next erase boundary once
                                 its op stream reaches this many bytes;
                                 0 = only block_size decides (not both 0:
                                 a block would have no bound). Each restart
                                 costs some compression: on the shared corpus
                                 packages were 2.3 % smaller with 128 KiB
                                 than with 32 KiB (geometric mean). */
    int filter;               /* OD_DIFF_FILTER_AUTO (default), OD_FILTER_NONE,
                                 or OD_FILTER_THUMB (deltas only). Auto never
                                 picks thumb with OD_CODEC_NONE, where it
                                 cannot gain, so a package for the tiny
                                 profile (built without the filter) is
                                 accepted there. An applier that applies a
                                 thumb package needs a page buffer of at
                                 least page_size. */
    const char *source_version; /* required for deltas; ignored for full */
    const char *target_version; /* required */
    od_diff_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    od_diff_cancel_fn cancel;     /* may be NULL: never stop early */
    void *cancel_ctx;
    int effort;               /* OD_DIFF_EFFORT_BEST (default) or _FAST */
    unsigned threads;         /* threads this generation may use (the calling
                                 one included): more than 8 is taken as 8;
                                 0 (default) = one
                                 per CPU the process may run on (its affinity
                                 mask). The output does not depend on it. A
                                 service running several generations at once
                                 can give each a share. */
} od_diff_params;

/* Fills p with the defaults above: delta, LZMA, 16 KiB, 256 B pages,
 * 4 KiB erase units, blocks of at most 1 MiB output and about 128 KiB of
 * op stream, filter chosen automatically, best effort, no versions, no
 * progress or cancel callback, threads by CPU count. */
void od_diff_params_init(od_diff_params *p);

/*
 * Builds a package.
 * old/old_size: the source image (ignored, may be NULL, for OD_KIND_FULL).
 * new_img/new_size: the target image. Either image may be empty.
 * p: parameters (copied; need not outlive the call).
 * out/out_size: on success *out is a malloc()'d buffer holding the whole
 * package; the caller frees it with free(). Untouched on error.
 * Output is deterministic: the same inputs and parameters give the same
 * bytes on every run and host.
 */
int od_diff_create(const uint8_t *old, size_t old_size, const uint8_t *new_img,
                   size_t new_size, const od_diff_params *p, uint8_t **out,
                   size_t *out_size);

/*
 * The codec parameters the planner would choose for a budget, without
 * generating anything: useful for showing a user what a budget buys.
 * Fills *props (the header's codec_props), *dict (dictionary or window
 * bytes) and *ram_needed (the header's ram_needed: page buffer plus the
 * decoder's workspace, what the device's work buffer must hold; the
 * applier's state comes on top). Returns OD_DIFF_OK, OD_DIFF_ERR_PARAM for
 * a NULL pointer or invalid geometry (versions are not needed here), or
 * OD_DIFF_ERR_BUDGET.
 *
 * Thread-safety: every function here is reentrant; concurrent
 * od_diff_create calls share nothing (each starts its own threads).
 */
int od_diff_plan(const od_diff_params *p, uint8_t *props, uint32_t *dict,
                 uint32_t *ram_needed);

/*
 * The first rule of the od_diff_params field docs that p breaks (versions
 * aside: those are od_pkg_version_valid's), as an English sentence naming
 * the values, written to buf (96 bytes suffice) and returned; NULL when p
 * is valid. A NULL p is a problem too ("no parameters"). od_diff_create
 * and od_diff_plan return OD_DIFF_ERR_PARAM exactly when this is not NULL.
 */
const char *od_diff_param_problem(const od_diff_params *p, char *buf, size_t n);

/*
 * What an input file is, as far as its first bytes tell. The generator
 * takes every image as the exact bytes the device must hold, so a build
 * output meant for a programmer (ELF, Intel HEX, S-record, UF2) or a
 * package given in place of an image would be stored on the device as it
 * is: its SHA-256 would verify, and the device would boot its text. Tools
 * that take images from people (the CLI, the server's upload) check with
 * od_diff_image_kind() first.
 */
typedef enum od_image_kind {
    OD_IMAGE_RAW = 0, /* none of the below: the flash bytes themselves */
    OD_IMAGE_ELF,     /* ELF object or executable (identification bytes valid) */
    OD_IMAGE_IHEX,    /* Intel HEX text: a whole valid first record (after an
                         optional UTF-8 BOM and blank space) */
    OD_IMAGE_SREC,    /* Motorola S-record text: the same */
    OD_IMAGE_UF2,     /* UF2 (USB flashing format): a first 512-byte block's magics */
    OD_IMAGE_PACKAGE  /* an otadelta package (its magic) */
} od_image_kind;

/* The most bytes od_diff_image_kind() looks at: a whole Intel HEX or
 * S-record record (521 characters at most) after some blank space, a UF2
 * block. */
#define OD_IMAGE_PROBE 1024u

/*
 * Classifies an input by its first len bytes (head may be NULL when len
 * is 0). Pass at least the first OD_IMAGE_PROBE bytes of the file, or all
 * of it when it is shorter; bytes beyond OD_IMAGE_PROBE are ignored, so a
 * text record that ends there is not seen. Text formats count only when
 * their first record is complete and its checksum right, and ELF only with
 * valid identification bytes, so a raw image is not mistaken for one in
 * practice; callers should still offer a way to use a file as it is (an
 * ELF file updated on a device's file system is a legitimate image).
 * Returns an od_image_kind. Reads nothing beyond head[len - 1].
 */
int od_diff_image_kind(const uint8_t *head, size_t len);

/*
 * For an od_image_kind other than OD_IMAGE_RAW: a static string naming it
 * ("an ELF file", ...) and, through *hint, a static sentence saying how
 * to make a raw image of it (a command line with IN and OUT placeholders).
 * OD_IMAGE_RAW and unknown values give "a raw image" and an empty hint.
 * hint may be NULL.
 */
const char *od_diff_image_kind_name(int kind, const char **hint);

#ifdef __cplusplus
}
#endif
#endif /* OD_DIFF_H */
