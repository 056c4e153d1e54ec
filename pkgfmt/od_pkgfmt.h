/*
 * od_pkgfmt.h - the otadelta package container: constants and the
 * freestanding reader.
 *
 * Thread-safety: the reader keeps no state between calls; every function
 * is reentrant.
 *
 * docs/FORMAT.md is the normative description; this header mirrors it. A
 * package is, in order:
 *
 *   core header   header_size bytes (OD_HDR_MIN..OD_HDR_MAX): fixed fields,
 *                 the two version strings, then its CRC32
 *   extensions    ext_size bytes of TLV records (type u16, length u16, value)
 *   block index   block_count entries of OD_INDEX_ENTRY_SIZE bytes
 *   payload       the blocks back to back; each is one codec stream
 *                 followed by the CRC32 of that stream (4 bytes)
 *
 * Everything here is C99 and freestanding (memcpy/memset/memcmp only): it
 * is compiled into the applier that runs on the MCU. The host-side writer
 * lives in od_pkgfmt_host.h.
 */
#ifndef OD_PKGFMT_H
#define OD_PKGFMT_H

#include "od_port.h"
#include "od_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Library version (this code) and format version (the bytes it writes). */
#define OD_VERSION_MAJOR 0
#define OD_VERSION_MINOR 1
#define OD_VERSION_PATCH 0
#define OD_VERSION_NUMBER \
    (OD_VERSION_MAJOR * 10000 + OD_VERSION_MINOR * 100 + OD_VERSION_PATCH)
#define OD_VERSION_STRING "0.1.0"
#define OD_FORMAT_VERSION 2

/* Returns OD_VERSION_NUMBER of the library actually linked. */
unsigned od_version(void);

/* "OTAD" then CR LF SUB LF, so text-mode mangling is caught at once. */
#define OD_MAGIC_0 0x4F
#define OD_MAGIC_1 0x54
#define OD_MAGIC_2 0x41
#define OD_MAGIC_3 0x44
#define OD_MAGIC_LEN 8
extern const uint8_t od_pkg_magic[OD_MAGIC_LEN];

#define OD_INDEX_ENTRY_SIZE 8    /* payload offset, output offset */
#define OD_BLOCK_TRAILER 4       /* CRC32 of the block's codec stream */
#define OD_VERSION_MAX 50        /* longest version string allowed */

/*
 * The core header's size varies with its version strings (FORMAT.md): a
 * fixed part, the strings' bytes, the CRC. The first OD_HDR_PREFIX bytes
 * (magic, format version, header_size) say how long the rest is.
 */
#define OD_HDR_PREFIX 12
#define OD_HDR_FIXED 186 /* bytes before the version strings */
#define OD_HDR_MIN (OD_HDR_FIXED + 1 + 4)                      /* full package */
#define OD_HDR_MAX (OD_HDR_FIXED + 2 * OD_VERSION_MAX + 4)

/* Byte offsets of the core header's fields (FORMAT.md, "Core header"),
 * shared by the reader and the host writer. */
enum {
    OD_HF_VERSION = 8,       /* u16 */
    OD_HF_HDR_SIZE = 10,     /* u16 */
    OD_HF_KIND = 12,
    OD_HF_CODEC = 13,
    OD_HF_FILTER = 14,
    OD_HF_PROPS = 15,
    OD_HF_DICT = 16,         /* u32 */
    OD_HF_PAGE_LOG2 = 20,    /* u8 */
    OD_HF_ERASE_LOG2 = 21,   /* u8 */
    OD_HF_FLAGS = 22,        /* u16 */
    OD_HF_RAM = 24,          /* u32 from here on */
    OD_HF_BLOCK_SIZE = 28,
    OD_HF_BLOCK_COUNT = 32,
    OD_HF_EXT_SIZE = 36,
    OD_HF_SRC_SIZE = 40,
    OD_HF_TGT_SIZE = 44,
    OD_HF_PAYLOAD_SIZE = 48,
    OD_HF_INDEX_CRC = 52,
    OD_HF_SRC_MD5 = 56,
    OD_HF_SRC_SHA = 72,
    OD_HF_TGT_MD5 = 104,
    OD_HF_TGT_SHA = 120,
    OD_HF_PAYLOAD_SHA = 152,
    OD_HF_SRC_VER_LEN = 184, /* u8 */
    OD_HF_TGT_VER_LEN = 185, /* u8 */
    OD_HF_STRINGS = OD_HDR_FIXED /* source then target version, no NULs */
};

/* Package kinds. */
#define OD_KIND_FULL 1   /* blocks hold the target image itself (整包) */
#define OD_KIND_DELTA 2  /* blocks hold an op stream against the source (差分包) */

/* Codecs; each block is one independent stream of this codec. */
#define OD_CODEC_NONE 0
#define OD_CODEC_DEFLATE 1 /* raw RFC 1951; props = window log 9..15 */
#define OD_CODEC_LZMA 2    /* raw LZMA1 with end marker; props = (pb*5+lp)*9+lc */

#define OD_FILTER_NONE 0
/* Delta only: in difference runs, Thumb-2 BL / B.W words carry the change
 * of their branch offset and address-like words the change of their value,
 * instead of bytewise differences (FORMAT.md, "Filter 1: thumb"). */
#define OD_FILTER_THUMB 1

/*
 * The thumb filter's word test and its bijection. w is the source word,
 * little-endian (first halfword in the low 16 bits). A word is a candidate
 * when it looks like a 32-bit BL or B.W: first halfword 11110xxx xxxxxxxx,
 * second 1x x1xxxxxxxxxxxx.
 */
#define OD_THUMB_IS_BRANCH(w) (((w) & 0x9000F800u) == 0x9000F000u)

/*
 * The other word the thumb filter recognises, at 4-aligned source offsets:
 * an address, judged by its top byte, which is that of the Cortex-M code
 * region where vendors put flash (0x00: nRF5, SAM, Kinetis, LPC; 0x08:
 * STM32 and its clones; 0x10: RP2040 XIP, LPC55) or of SRAM (0x20).
 * Literal pools and vector tables hold such words, and when code moves
 * they all change by the same amount, which bytewise differences split
 * into carries.
 */
#define OD_THUMB_IS_ADDRESS(w) \
    (((w) & 0xC7000000u) == 0 && (((w) >> 24) & (((w) >> 24) - 1u)) == 0)

/*
 * Moves the offset fields of a BL/B.W word to the low 22 bits in order of
 * significance (imm11 from the second halfword, then S:imm10 from the
 * first), and the opcode, J1 and J2 bits above them. A pure bit
 * permutation, so every word has exactly one image. Within +-4 MiB J1 and
 * J2 are both 1, so for two branches the same way (both forwards or both
 * back) the difference of the images is the difference of their offsets,
 * which repeats across call sites where bytewise differences do not.
 */
OD_INLINE uint32_t od_thumb_mix(uint32_t w)
{
    return (w >> 16 & 0x7FFu) | (w & 0x7FFu) << 11 | (w >> 27) << 22 | (w >> 11 & 0x1Fu) << 27;
}

/* The inverse of od_thumb_mix. */
OD_INLINE uint32_t od_thumb_unmix(uint32_t v)
{
    return (v >> 11 & 0x7FFu) | (v >> 27) << 11 | (v & 0x7FFu) << 16 | (v >> 22 & 0x1Fu) << 27;
}

/* Extension (TLV) types. Bit 15 set: critical, a reader that does not
 * know the type must refuse the package. */
#define OD_TLV_SIGNATURE 0x0001 /* reserved: signature over the core header */
#define OD_TLV_NOTE 0x0002      /* free text for humans, ignored by appliers */
#define OD_TLV_CRITICAL 0x8000u

/* Hard limits a reader enforces whatever the header says. */
#define OD_MAX_IMAGE_SIZE 0x40000000u /* 1 GiB per image */
#define OD_MAX_BLOCKS 65536u
#define OD_MIN_DICT 4096u
#define OD_MAX_DICT (64u << 20)

/* RAM a codec's decoder needs as caller-provided workspace, in bytes. The
 * generator plans with these and the applier checks with them, so both
 * sides agree by construction. */
#define OD_LZMA_PROBS(lc, lp) (1846u + (768u << ((lc) + (lp))))
#define OD_LZMA_WORKSPACE(lc, lp, dict) \
    (OD_LZMA_PROBS(lc, lp) * 2u + (uint32_t)(dict))

/*
 * RAM the generator reserves for the applier's own state (struct od_patch,
 * decoder state, hashes) out of a device's budget; the rest is the work
 * buffer the header's ram_needed describes. patch/ asserts at compile time
 * that its state fits, so a budget always means total applier RAM.
 */
#define OD_PATCH_STATE_RESERVE 2048u

/*
 * The reader's error enum. Values below zero are errors; each says what was
 * wrong so an integrator (or the CLI) can tell the user what to do.
 */
typedef enum od_pkg_ret {
    OD_PKG_OK = 0,
    OD_PKG_ERR_MAGIC = -1,        /* not an otadelta package */
    OD_PKG_ERR_VERSION = -2,      /* format version not this reader's */
    OD_PKG_ERR_HEADER_CRC = -3,   /* header damaged in transit or storage */
    OD_PKG_ERR_FIELD = -4,        /* a header field is out of its range */
    OD_PKG_ERR_UNSUPPORTED = -5,  /* valid, but uses a codec/filter/flag or
                                     critical extension this build lacks */
    OD_PKG_ERR_TLV = -6,          /* extension area malformed */
    OD_PKG_ERR_INDEX = -7,        /* block index inconsistent */
    OD_PKG_ERR_INDEX_CRC = -8,    /* block index damaged */
    OD_PKG_ERR_TRUNCATED = -9,    /* fewer bytes than the header promises */
    OD_PKG_ERR_PAYLOAD = -10,     /* a block CRC or the payload SHA-256 fails */
    OD_PKG_ERR_TRAILING = -11,    /* bytes after the end the header implies */
    /* Host only (od_pkg_write_file); errno says why. */
    OD_PKG_ERR_IO_CREATE = -12,   /* no new file can be made in the target's
                                     directory; the old file is intact */
    OD_PKG_ERR_IO = -13,          /* file not written; the old one is intact */
    OD_PKG_ERR_IO_DIR = -14       /* a directory could not be opened or
                                     synced: a file just replaced in it may
                                     be undone by a power cut */
} od_pkg_ret;

/* Returns a static English description of an od_pkg_ret value. */
const char *od_pkg_strerror(int ret);

/* The core header, decoded. Field meanings are in docs/FORMAT.md. */
typedef struct od_pkg_header {
    uint16_t format_version;
    uint16_t header_size;  /* bytes of the core header */
    uint8_t kind;
    uint8_t codec;
    uint8_t filter;
    uint8_t codec_props;
    uint32_t dict_size;
    uint32_t page_size;
    uint32_t erase_size;
    uint32_t ram_needed;   /* work buffer bytes: page buffer + decoder workspace */
    uint32_t block_size;   /* largest output of any block (a multiple of erase_size) */
    uint32_t block_count;
    uint32_t ext_size;
    uint32_t source_size;
    uint32_t target_size;
    uint32_t payload_size;
    uint32_t index_crc32;
    uint32_t flags;
    uint8_t source_md5[OD_MD5_LEN];
    uint8_t source_sha256[OD_SHA256_LEN];
    uint8_t target_md5[OD_MD5_LEN];
    uint8_t target_sha256[OD_SHA256_LEN];
    uint8_t payload_sha256[OD_SHA256_LEN];
    char source_version[OD_VERSION_MAX + 1]; /* NUL-terminated; "" in full packages */
    char target_version[OD_VERSION_MAX + 1];
} od_pkg_header;

/* One decoded block-index entry. */
typedef struct od_pkg_block {
    uint32_t pkg_offset;  /* from the start of the payload */
    uint32_t out_offset;  /* in the target image; erase-aligned, increasing */
} od_pkg_block;

/*
 * Reads the header's first OD_HDR_PREFIX bytes: checks the magic and the
 * format version and stores the core header's size (OD_HDR_MIN..OD_HDR_MAX)
 * in *size, so a streaming reader knows how much more to gather.
 * Returns OD_PKG_OK, OD_PKG_ERR_MAGIC, OD_PKG_ERR_VERSION or
 * OD_PKG_ERR_FIELD (size out of range).
 */
int od_pkg_parse_prefix(const uint8_t *buf, uint32_t *size);

/*
 * Decodes and validates the core header.
 * buf/len: the package's first len bytes; len must cover header_size
 * (more is ignored, less gives OD_PKG_ERR_TRUNCATED). h: filled on success.
 * Checks magic, format version, CRC, every range and cross-field rule of
 * FORMAT.md (sizes, block geometry, codec parameters, version strings).
 * Returns OD_PKG_OK or a negative od_pkg_ret; *h is unspecified on error.
 */
int od_pkg_parse_header(const uint8_t *buf, size_t len, od_pkg_header *h);

/*
 * Decoder workspace the header's codec needs (see OD_LZMA_WORKSPACE), in
 * bytes; 0 for OD_CODEC_NONE. Assumes the header passed od_pkg_parse_header.
 */
uint32_t od_pkg_codec_workspace(const od_pkg_header *h);

/* Byte offset of the block index / payload from the start of the package. */
uint32_t od_pkg_index_offset(const od_pkg_header *h);
uint32_t od_pkg_payload_offset(const od_pkg_header *h);
/* Total package size the header implies. */
uint32_t od_pkg_total_size(const od_pkg_header *h);

/*
 * TLV iteration over the extension area, resumable by cursor so the caller
 * may keep the area anywhere. ext/ext_size: the whole area. *pos: start at
 * 0. On OD_PKG_OK, *type, *value and *len describe the next record and *pos
 * moves past it; returns 1 (as a positive status) at the clean end, or
 * OD_PKG_ERR_TLV if a record runs past the area.
 */
int od_pkg_next_tlv(const uint8_t *ext, uint32_t ext_size, uint32_t *pos,
                    uint16_t *type, const uint8_t **value, uint16_t *len);

/*
 * Decodes entry i (OD_INDEX_ENTRY_SIZE bytes at entry) of the block index
 * and validates it against the header and the previous entry prev (ignored
 * for i == 0): the first block starts at payload offset 0 and output 0;
 * later ones start at least OD_BLOCK_TRAILER + 1 bytes and one erase unit
 * (at most block_size) after their predecessor, on an erase boundary, below
 * target_size; every block leaves room for its own smallest encoding.
 * Returns OD_PKG_OK or OD_PKG_ERR_INDEX.
 */
int od_pkg_parse_block(const od_pkg_header *h, const uint8_t *entry, uint32_t i,
                       const od_pkg_block *prev, od_pkg_block *b);

/* 1 if s (NUL-terminated, may be NULL) is a valid version string: 1..50
 * characters of A-Z a-z 0-9 . _ - ; else 0. */
int od_pkg_version_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif /* OD_PKGFMT_H */
