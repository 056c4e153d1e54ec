/*
 * od_patch.h - the otadelta applier: restores a new firmware image on an MCU
 * from a package fed in arbitrary chunks as it downloads.
 *
 * C99, freestanding, no malloc. The caller owns every byte of state: one
 * struct od_patch (fixed size, see OD_PATCH_STATE_RESERVE) and one work
 * buffer (the header's ram_needed bytes: a flash page buffer plus the
 * decoder's dictionary). Flash is reached only through the callbacks in
 * od_patch_config; the new image is written in whole, aligned pages.
 *
 * Typical use (see examples/ and docs/PORTING.md):
 *
 *     od_patch p;
 *     od_patch_init(&p, &cfg, blocks_done_from_flash);
 *     for (;;) {
 *         n = download(od_patch_offset(&p), buf, 1024);   // Range request
 *         if (n == 0) fail("download ended early");       // retry later
 *         size_t pos = 0;
 *         int r = od_patch_feed(&p, buf, &pos, n);
 *         if (r == OD_PATCH_DONE) break;                  // verified
 *         if (r == OD_PATCH_ERR_RESUME) restart_from_block_0();
 *         if (r < 0) fail(od_patch_strerror(r));
 *         // OD_PATCH_OK or OD_PATCH_SEEK: just loop; the next download
 *         // starts at od_patch_offset(), which a SEEK moved forward.
 *     }
 *
 * Thread-safety: a handle is used by one thread at a time; handles share
 * nothing.
 */
#ifndef OD_PATCH_H
#define OD_PATCH_H

#include "od_pkgfmt.h"
#include "od_lzma.h"
#include "od_inflate.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Results. OK/SEEK/DONE are statuses; negative values are errors, all
 * fatal for this run: the handle stays in the error and returns it again.
 * After an error the device may start over with od_patch_init(); blocks
 * reported through save_progress are still good.
 */
typedef enum od_patch_ret {
    OD_PATCH_OK = 0,    /* all input taken; feed more */
    OD_PATCH_DONE = 1,  /* image written and verified by read-back */
    OD_PATCH_SEEK = 2,  /* resuming: continue feeding from od_patch_offset() */

    OD_PATCH_ERR_MAGIC = -1,       /* not an otadelta package */
    OD_PATCH_ERR_VERSION = -2,     /* package format version not this applier's */
    OD_PATCH_ERR_HEADER = -3,      /* header damaged (CRC) or inconsistent */
    OD_PATCH_ERR_UNSUPPORTED = -4, /* codec, filter or critical extension not
                                      built into this applier */
    OD_PATCH_ERR_NO_MEM = -5,      /* work buffer smaller than ram_needed */
    OD_PATCH_ERR_GEOMETRY = -6,    /* package's erase/page size incompatible
                                      with this flash, or target too large */
    OD_PATCH_ERR_WRONG_SOURCE = -7,/* old image size or SHA-256 is not the
                                      package's source: wrong base version */
    OD_PATCH_ERR_SIGNATURE = -8,   /* verify hook refused the package, or a
                                      signature is required and absent */
    OD_PATCH_ERR_INDEX = -9,       /* block index damaged or inconsistent */
    OD_PATCH_ERR_CORRUPT = -10,    /* block data damaged: decoder error, op
                                      out of range, block CRC or payload
                                      SHA-256 mismatch */
    OD_PATCH_ERR_VERIFY = -11,     /* read-back of the written image does not
                                      match the target SHA-256/MD5 */
    OD_PATCH_ERR_READ = -12,       /* read_old or read_new callback failed */
    OD_PATCH_ERR_WRITE = -13,      /* write, erase or save_progress failed */
    OD_PATCH_ERR_MISUSE = -14,     /* bad arguments or config */
    OD_PATCH_ERR_RESUME = -15      /* start_block is past the package's
                                      last block: the saved progress is of
                                      another package; start from block 0 */
} od_patch_ret;

/* Returns a static English description of any od_patch_ret value. */
const char *od_patch_strerror(int ret);

/*
 * Platform configuration: callbacks and buffers. Must outlive the handle.
 * Callbacks return 0 on success and anything else on failure; they are
 * only called from inside od_patch_init/od_patch_feed.
 */
typedef struct od_patch_config {
    void *ctx; /* passed to every callback */

    /* Reads len bytes of the old image at off. Random access: the applier
     * reads wherever the delta copies from, always within old_size (a
     * package whose ops reach past its source_size is refused as
     * CORRUPT). Required for delta packages. */
    int (*read_old)(void *ctx, uint32_t off, uint8_t *buf, uint32_t len);
    /* Erases [off, off + erase_size) of the new-image region before its
     * first page is written. NULL if write() handles erasing itself or the
     * memory needs none (RAM, FRAM). */
    int (*erase)(void *ctx, uint32_t off, uint32_t len);
    /* Programs one page: off is a multiple of page_size, len == page_size.
     * The last page is padded with erased_value. Required. */
    int (*write)(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len);
    /* Reads back the new image for the final verification. Required. */
    int (*read_new)(void *ctx, uint32_t off, uint8_t *buf, uint32_t len);
    /* Persists "blocks_done" (a few bytes) after each block is written and
     * checked; pass it to od_patch_init() after a reset. May be NULL. */
    int (*save_progress)(void *ctx, uint32_t blocks_done);
    /* Progress in output bytes written so far. May be NULL. */
    void (*progress)(void *ctx, uint32_t done, uint32_t total);
    /* Authenticity hook: called once with the raw core header (the signed
     * message; it holds the payload and image hashes) and the signature
     * extension's value (sig NULL, sig_len 0 when the package has none),
     * before anything is written. Return 0 to accept. It must refuse a
     * missing signature, a value that is not 65 bytes or names another
     * algorithm than the device key's, and then apply the update policy
     * (docs/PORTING.md, "Checking the signature in verify_header";
     * od_pkg_verify_hook_openssl is the host reference). May be NULL: then
     * nothing checks authenticity. */
    int (*verify_header)(void *ctx, const uint8_t *header, uint32_t header_len,
                         const uint8_t *sig, uint32_t sig_len);

    uint8_t *work;       /* work buffer, 4-byte aligned (else MISUSE), of at least
                            ram_needed - the package's page_size + this
                            page_size bytes (ram_needed when they match) */
    uint32_t work_size;  /* bytes at work */
    uint32_t page_size;  /* write granularity, power of two >= 16; must
                            divide the package's erase size */
    uint32_t erase_size; /* the flash's erase unit, passed to erase(): a
                            power of two >= page_size (else MISUSE) that
                            divides the package's erase size (else
                            GEOMETRY). Set it even without erase(): it is
                            what restart points must align to (page_size
                            for memory that needs no erase). */
    uint32_t new_capacity; /* bytes of the new image's slot: a package
                            whose target_size rounded up to erase_size
                            exceeds it is refused (GEOMETRY) before anything
                            is written. 0 turns the check off, and then
                            nothing here bounds the writes: a bootloader
                            sets its slot size (a zeroed config has 0) */
    uint32_t old_size;   /* exact size of the running image: a delta whose
                            source_size differs is refused (WRONG_SOURCE),
                            so read_old is only asked for bytes below it */
    /* If non-NULL, a delta whose source SHA-256 differs is refused. */
    const uint8_t *expect_source_sha256;
    /* Nonzero: hash the old image through read_old before writing anything
     * and refuse the package unless it is the source. Costs one read of the
     * old image; catches a device that is not on the version it claims. */
    uint8_t check_source;
    uint8_t erased_value; /* value of erased flash, for last-page padding */
} od_patch_config;

#ifndef OD_PATCH_OBUF
/* Decoded-byte staging buffer: bigger means fewer decoder calls. */
#define OD_PATCH_OBUF 64
#endif

/* The handle. Treat as opaque; its size is fixed at compile time. */
typedef struct od_patch {
    /* The small fields come first: on Thumb a load or store within the
     * first 32 bytes (byte fields) or 128 bytes (words) of the struct is a
     * 16-bit instruction, further out a 32-bit one. */
    uint8_t stage;          /* where the parser is (enum in od_patch.c) */
    uint8_t op_field;       /* which op field is being decoded */
    uint8_t op_shift;       /* varint shift */
    uint8_t hashing_payload;/* 1 when started at block 0 */
    int32_t err;            /* sticky result once negative or DONE */
#if OD_HAS_THUMB
    uint32_t w_old, w_diff; /* thumb filter: the last 4 source bytes and
                               run bytes of the current difference run */
    uint32_t w_len;         /* run bytes since the run or last word began */
#endif
    const od_patch_config *cfg;
    uint32_t pkg_pos;       /* package offset of the next byte expected */
    uint32_t fill;          /* bytes of the current fixed-size item gathered */
    uint32_t want;          /* bytes the current fixed-size item needs */
    uint32_t block_left;    /* output bytes the current block still owes */
    uint32_t run_left;      /* bytes left in the current zero/diff/extra run */
    uint32_t add_left, extra_left;
    uint32_t varint;
    uint32_t page_fill;
    uint32_t old_loaded;    /* old bytes already read past page_fill */
    uint32_t old_pos;       /* read cursor in the old image */
    uint32_t next_pos;      /* old cursor once the current op is done */
    uint32_t ob_pos, ob_len;/* unconsumed decoded bytes in obuf */
    uint32_t out_pos;       /* output offset of the page buffer's start */
    uint32_t block;         /* current block */
    uint32_t block_crc;
    uint32_t block_end;     /* output offset where the current block ends */
    uint32_t ext_left;      /* extension bytes still to walk */
    uint32_t start_block;
    uint32_t index_crc;     /* CRC of the index read, then of the index the
                               blocks really form (runs from block 0) */
    uint32_t resume_off;    /* payload offset of start_block */
    uint32_t resume_out;    /* output offset of start_block */
    uint32_t sig_len;
    uint8_t *page;          /* carved from cfg->work */
    uint8_t *codec_work;
    od_pkg_block prev;      /* previous index entry, for validation */
    od_pkg_header h;
    od_sha256_ctx sha;      /* payload while streaming, target at the end */
    union {
        struct {
            uint8_t hdr[OD_HDR_MAX];
            uint8_t sig[128];
        } pre;              /* header and signature, until blocks start */
#if OD_HAS_LZMA
        od_lzma_dec lzma;
#endif
#if OD_HAS_DEFLATE
        od_inflate_dec inflate;
#endif
#if OD_HAS_MD5
        od_md5_ctx md5;     /* final verification only */
#endif
    } u;
    uint8_t obuf[OD_PATCH_OBUF];
} od_patch;

#ifdef OD_INSTALL_PATCH_SIZE
/* Installed libraries (od_install_config.h): besides the settings checked
 * there, the handle must come out the size they were built with (a
 * compiler flag that changes the ABI, a hash port's context type). */
typedef char od_patch_size_differs_from_the_installed_libraries
    [sizeof(od_patch) == OD_INSTALL_PATCH_SIZE ? 1 : -1];
#endif

/*
 * Prepares a handle. cfg must outlive it. start_block is what
 * save_progress last stored (0 for a fresh update); if it equals the
 * package's block count, only the final verification runs; if it is
 * larger, the first od_patch_feed() past the header returns
 * OD_PATCH_ERR_RESUME (the progress is another package's).
 * Returns OD_PATCH_OK or OD_PATCH_ERR_MISUSE: p or cfg NULL, write,
 * read_new or work NULL, work not 4-byte aligned, page_size not a power of
 * two >= 16, erase_size not a power of two >= page_size.
 */
int od_patch_init(od_patch *p, const od_patch_config *cfg, uint32_t start_block);

/*
 * Feeds package bytes in[*in_pos..in_size), any amount, which must start
 * at package offset od_patch_offset(p); no bytes (in NULL with in_size 0,
 * or *in_pos == in_size) is allowed and changes nothing that needs input;
 * in NULL with in_size above 0 is OD_PATCH_ERR_MISUSE, whatever *in_pos. Advances
 * *in_pos past what it took. Returns:
 *   OD_PATCH_OK    everything taken; feed the next bytes.
 *   OD_PATCH_SEEK  resuming: the header and index are read and the rest of
 *                  this input is not wanted; continue at od_patch_offset().
 *   OD_PATCH_DONE  the image is written, read back and verified; bytes
 *                  left in the input were not taken (a well-formed package
 *                  has none: the last block ends at the header's
 *                  payload_size, which the applier checks).
 *   < 0            an error (see od_patch_ret); nothing after it is taken.
 * Before the first write the header has been checked in full: magic,
 * format version, codec, RAM, geometry, source size/hash, signature hook.
 */
int od_patch_feed(od_patch *p, const uint8_t *in, size_t *in_pos, size_t in_size);

/* Package offset of the next byte od_patch_feed wants. */
uint32_t od_patch_offset(const od_patch *p);

/* The decoded header once the applier has read and parsed it (after its
 * first header_size bytes were fed), else NULL. It is available inside
 * and before the verify_header hook, so it is not yet authenticated:
 * decide about the package inside the hook, not from this. It stays
 * available after the refusals that come from comparing it with this
 * device (UNSUPPORTED, NO_MEM, GEOMETRY, WRONG_SOURCE, RESUME, SIGNATURE),
 * for a report of what the package wanted. On a resume it is set before
 * anything is written (writes come only after OD_PATCH_SEEK, and none when
 * every block was counted done): check after each od_patch_feed() that
 * did not return OD_PATCH_DONE, once this is non-NULL, that the saved
 * progress belongs to this package (compare payload_sha256 with the one
 * saved with the progress; docs/PORTING.md, section 5). */
const od_pkg_header *od_patch_header(const od_patch *p);

/* Maps an od_pkg_ret from the reader to the applier's error space. */
int od_patch_from_pkg_error(int pkg_ret);

#ifdef __cplusplus
}
#endif
#endif /* OD_PATCH_H */
