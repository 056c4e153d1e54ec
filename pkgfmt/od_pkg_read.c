/*
 * od_pkg_read.c - freestanding decoding and validation of package headers,
 * extensions and block index (docs/FORMAT.md).
 *
 * Every rule a header must satisfy is checked here, once, so that the
 * applier and the host tools agree on what a valid package is and the
 * applier can trust the decoded fields afterwards (no division by zero,
 * no overflow in offsets, no block geometry it cannot honour).
 */
#include "od_pkgfmt.h"

const uint8_t od_pkg_magic[OD_MAGIC_LEN] = {OD_MAGIC_0, OD_MAGIC_1, OD_MAGIC_2,
                                            OD_MAGIC_3, 0x0D, 0x0A, 0x1A, 0x0A};

#define MAX_EXT_SIZE 65536u
/* Smallest block: a one-byte codec stream plus its CRC trailer. */
#define MIN_BLOCK_BYTES (OD_BLOCK_TRAILER + 1u)

unsigned od_version(void)
{
    return OD_VERSION_NUMBER;
}

const char *od_pkg_strerror(int ret)
{
    switch (ret) {
    case OD_PKG_OK: return "ok";
    case OD_PKG_ERR_MAGIC: return "not an otadelta package (bad magic)";
    case OD_PKG_ERR_VERSION: return "package format version is not supported by this reader";
    case OD_PKG_ERR_HEADER_CRC: return "package header is damaged (CRC mismatch)";
    case OD_PKG_ERR_FIELD: return "package header has a field out of range";
    case OD_PKG_ERR_UNSUPPORTED: return "package uses a codec, filter or feature this build does not support";
    case OD_PKG_ERR_TLV: return "package extension area is malformed";
    case OD_PKG_ERR_INDEX: return "package block index is inconsistent";
    case OD_PKG_ERR_INDEX_CRC: return "package block index is damaged (CRC mismatch)";
    case OD_PKG_ERR_TRUNCATED: return "package is shorter than its header says (incomplete download?)";
    case OD_PKG_ERR_PAYLOAD: return "package payload is damaged (block CRC or payload SHA-256 mismatch)";
    case OD_PKG_ERR_TRAILING: return "package has unexpected bytes after its end";
    default: return "unknown package error";
    }
}

int od_pkg_version_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || n >= OD_VERSION_MAX)
            return 0;
    }
    return n >= 1;
}

/* Copies an n-byte version string out of the header and checks it. */
static int read_version(const uint8_t *f, uint32_t n, char *out, int allow_empty)
{
    OD_MEMCPY(out, f, n); /* n <= OD_VERSION_MAX: checked by the caller */
    out[n] = '\0';
    return n == 0 ? allow_empty : od_pkg_version_valid(out);
}

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

uint32_t od_pkg_codec_workspace(const od_pkg_header *h)
{
    switch (h->codec) {
    case OD_CODEC_LZMA: {
        uint32_t lc = h->codec_props % 9u, lp = (h->codec_props / 9u) % 5u;
        return OD_LZMA_WORKSPACE(lc, lp, h->dict_size);
    }
    case OD_CODEC_DEFLATE:
        return h->dict_size;
    default:
        return 0;
    }
}

static int check_codec(const od_pkg_header *h)
{
    switch (h->codec) {
    case OD_CODEC_NONE:
        return (h->codec_props == 0 && h->dict_size == 0) ? OD_PKG_OK : OD_PKG_ERR_FIELD;
    case OD_CODEC_DEFLATE:
        if (h->codec_props < 9 || h->codec_props > 15 ||
            h->dict_size != (1u << h->codec_props))
            return OD_PKG_ERR_FIELD;
        return OD_PKG_OK;
    case OD_CODEC_LZMA:
        /* lc+lp above 8 would need more than 400 KiB of probabilities;
         * no encoder setting we emit goes there, so treat it as damage. */
        if (h->codec_props >= 225 || h->codec_props % 9u + (h->codec_props / 9u) % 5u > 8u ||
            h->dict_size < OD_MIN_DICT || h->dict_size > OD_MAX_DICT)
            return OD_PKG_ERR_FIELD;
        return OD_PKG_OK;
    default:
        return OD_PKG_ERR_UNSUPPORTED;
    }
}

int od_pkg_parse_prefix(const uint8_t *b, uint32_t *size)
{
    if (OD_MEMCMP(b, od_pkg_magic, OD_MAGIC_LEN) != 0)
        return OD_PKG_ERR_MAGIC;
    /* Version before anything else: another format may lay out the rest
     * differently. Version 1 (fixed 320-byte header) was never released. */
    if (od_get_le16(b + OD_HF_VERSION) != OD_FORMAT_VERSION)
        return OD_PKG_ERR_VERSION;
    *size = od_get_le16(b + OD_HF_HDR_SIZE);
    return (*size < OD_HDR_MIN || *size > OD_HDR_MAX) ? OD_PKG_ERR_FIELD : OD_PKG_OK;
}

int od_pkg_parse_header(const uint8_t *b, size_t len, od_pkg_header *h)
{
    uint32_t max_blocks, size, ls, lt, page_log, erase_log;
    uint64_t total;
    int r;

    if (!b || !h || len < OD_HDR_PREFIX)
        return OD_PKG_ERR_TRUNCATED;
    if ((r = od_pkg_parse_prefix(b, &size)) != OD_PKG_OK)
        return r;
    if (len < size)
        return OD_PKG_ERR_TRUNCATED;
    if (od_crc32(0, b, size - 4) != od_get_le32(b + size - 4))
        return OD_PKG_ERR_HEADER_CRC;

    h->format_version = OD_FORMAT_VERSION;
    h->header_size = (uint16_t)size;
    h->kind = b[OD_HF_KIND];
    h->codec = b[OD_HF_CODEC];
    h->filter = b[OD_HF_FILTER];
    h->codec_props = b[OD_HF_PROPS];
    h->dict_size = od_get_le32(b + OD_HF_DICT);
    page_log = b[OD_HF_PAGE_LOG2];
    erase_log = b[OD_HF_ERASE_LOG2];
    h->flags = od_get_le16(b + OD_HF_FLAGS);
    h->ram_needed = od_get_le32(b + OD_HF_RAM);
    h->block_size = od_get_le32(b + OD_HF_BLOCK_SIZE);
    h->block_count = od_get_le32(b + OD_HF_BLOCK_COUNT);
    h->ext_size = od_get_le32(b + OD_HF_EXT_SIZE);
    h->source_size = od_get_le32(b + OD_HF_SRC_SIZE);
    h->target_size = od_get_le32(b + OD_HF_TGT_SIZE);
    h->payload_size = od_get_le32(b + OD_HF_PAYLOAD_SIZE);
    h->index_crc32 = od_get_le32(b + OD_HF_INDEX_CRC);
    OD_MEMCPY(h->source_md5, b + OD_HF_SRC_MD5, OD_MD5_LEN);
    OD_MEMCPY(h->source_sha256, b + OD_HF_SRC_SHA, OD_SHA256_LEN);
    OD_MEMCPY(h->target_md5, b + OD_HF_TGT_MD5, OD_MD5_LEN);
    OD_MEMCPY(h->target_sha256, b + OD_HF_TGT_SHA, OD_SHA256_LEN);
    OD_MEMCPY(h->payload_sha256, b + OD_HF_PAYLOAD_SHA, OD_SHA256_LEN);

    if (h->kind != OD_KIND_FULL && h->kind != OD_KIND_DELTA)
        return OD_PKG_ERR_FIELD;
    /* Unknown filters and flags change how bytes are interpreted, so an
     * applier that does not know them must refuse rather than guess. */
    if (h->filter != OD_FILTER_NONE || h->flags != 0)
        return OD_PKG_ERR_UNSUPPORTED;
    if ((r = check_codec(h)) != OD_PKG_OK)
        return r;

    /* Sizes travel as log2, so they are powers of two by construction. */
    if (page_log < 4 || page_log > 16 || erase_log < page_log || erase_log > 24)
        return OD_PKG_ERR_FIELD;
    h->page_size = 1u << page_log;
    h->erase_size = 1u << erase_log;
    if (h->block_size < h->erase_size || (h->block_size & (h->erase_size - 1)) != 0 ||
        h->block_size > OD_MAX_IMAGE_SIZE)
        return OD_PKG_ERR_FIELD;
    if (h->source_size > OD_MAX_IMAGE_SIZE || h->target_size > OD_MAX_IMAGE_SIZE)
        return OD_PKG_ERR_FIELD;
    /* Blocks are variable but erase-aligned: at most one per erase unit.
     * 32-bit on purpose (sizes are bounded above), so that an MCU build
     * pulls in no 64-bit division from libgcc. */
    max_blocks = (h->target_size + h->erase_size - 1) >> erase_log;
    if (h->block_count > max_blocks || h->block_count > OD_MAX_BLOCKS ||
        (h->target_size != 0 && h->block_count == 0))
        return OD_PKG_ERR_FIELD;
    if ((uint64_t)h->ram_needed != (uint64_t)h->page_size + od_pkg_codec_workspace(h))
        return OD_PKG_ERR_FIELD;
    if (h->ext_size > MAX_EXT_SIZE ||
        (uint64_t)h->payload_size < (uint64_t)h->block_count * MIN_BLOCK_BYTES ||
        (h->block_count == 0 && h->payload_size != 0))
        return OD_PKG_ERR_FIELD;
    total = (uint64_t)size + h->ext_size +
            (uint64_t)h->block_count * OD_INDEX_ENTRY_SIZE + h->payload_size;
    if (total > 0xFFFFFFFFu)
        return OD_PKG_ERR_FIELD;

    /* The strings fill the header exactly: one encoding per version pair,
     * which matters because a signature covers these bytes. */
    ls = b[OD_HF_SRC_VER_LEN];
    lt = b[OD_HF_TGT_VER_LEN];
    if (ls > OD_VERSION_MAX || lt > OD_VERSION_MAX || OD_HDR_FIXED + ls + lt + 4 != size ||
        !read_version(b + OD_HF_STRINGS + ls, lt, h->target_version, 0))
        return OD_PKG_ERR_FIELD;
    if (h->kind == OD_KIND_FULL) {
        /* A full package has no source: its source fields must be empty so
         * that nothing can be read into them. */
        if (h->source_size != 0 || ls != 0 || !all_zero(b + OD_HF_SRC_MD5, OD_HF_TGT_MD5 - OD_HF_SRC_MD5))
            return OD_PKG_ERR_FIELD;
        h->source_version[0] = '\0';
    } else if (!read_version(b + OD_HF_STRINGS, ls, h->source_version, 0)) {
        return OD_PKG_ERR_FIELD;
    }
    return OD_PKG_OK;
}

uint32_t od_pkg_index_offset(const od_pkg_header *h)
{
    return (uint32_t)h->header_size + h->ext_size;
}

uint32_t od_pkg_payload_offset(const od_pkg_header *h)
{
    return od_pkg_index_offset(h) + h->block_count * OD_INDEX_ENTRY_SIZE;
}

uint32_t od_pkg_total_size(const od_pkg_header *h)
{
    return od_pkg_payload_offset(h) + h->payload_size;
}

int od_pkg_next_tlv(const uint8_t *ext, uint32_t ext_size, uint32_t *pos,
                    uint16_t *type, const uint8_t **value, uint16_t *len)
{
    uint32_t p = *pos;
    if (p == ext_size)
        return 1;
    if (p > ext_size || ext_size - p < 4)
        return OD_PKG_ERR_TLV;
    *type = od_get_le16(ext + p);
    *len = od_get_le16(ext + p + 2);
    if (ext_size - p - 4 < *len)
        return OD_PKG_ERR_TLV;
    *value = ext + p + 4;
    *pos = p + 4 + *len;
    return OD_PKG_OK;
}

int od_pkg_parse_block(const od_pkg_header *h, const uint8_t *entry, uint32_t i,
                       const od_pkg_block *prev, od_pkg_block *b)
{
    b->pkg_offset = od_get_le32(entry);
    b->out_offset = od_get_le32(entry + 4);
    if (i >= h->block_count)
        return OD_PKG_ERR_INDEX;
    if (i == 0) {
        if (b->pkg_offset != 0 || b->out_offset != 0)
            return OD_PKG_ERR_INDEX;
    } else if (b->pkg_offset < prev->pkg_offset ||
               b->pkg_offset - prev->pkg_offset < MIN_BLOCK_BYTES ||
               b->out_offset <= prev->out_offset ||
               b->out_offset - prev->out_offset > h->block_size ||
               (b->out_offset & (h->erase_size - 1)) != 0 || b->out_offset >= h->target_size) {
        return OD_PKG_ERR_INDEX;
    }
    if (b->pkg_offset > h->payload_size || h->payload_size - b->pkg_offset < MIN_BLOCK_BYTES)
        return OD_PKG_ERR_INDEX;
    return OD_PKG_OK;
}
