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
    case OD_PKG_ERR_IO_CREATE: return "no file can be created in the target's directory";
    case OD_PKG_ERR_IO: return "file could not be written";
    case OD_PKG_ERR_IO_DIR:
        return "directory could not be opened or synced (a file just written there may not "
               "survive a power cut)";
    default: return "unknown package error";
    }
}

/* Length of s if it is 1..50 valid characters, else 0. */
static size_t version_len(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || n >= OD_VERSION_MAX)
            return 0;
    }
    return n;
}

int od_pkg_version_valid(const char *s)
{
    return s && version_len(s) != 0;
}

/* Copies an n-byte version string out of the header and checks it (an
 * empty one is invalid). */
OD_NOINLINE static int read_version(const uint8_t *f, uint32_t n, char *out)
{
    OD_MEMCPY(out, f, n); /* n <= OD_VERSION_MAX: checked by the caller */
    out[n] = '\0';
    return n && version_len(out) == n; /* no NUL inside */
}

/* lc + lp of an LZMA props byte ((pb * 5 + lp) * 9 + lc): all that the
 * workspace depends on. Subtraction instead of / and %, which a
 * Cortex-M0+ would have to call a library routine for. */
OD_NOINLINE static uint32_t lzma_lclp(uint32_t props)
{
    uint32_t q = 0;
    while (props >= 9) {
        props -= 9;
        q++;
    }
    while (q >= 5)
        q -= 5;
    return props + q;
}

uint32_t od_pkg_codec_workspace(const od_pkg_header *h)
{
    switch (h->codec) {
    case OD_CODEC_LZMA:
        return OD_LZMA_PROBS(0, lzma_lclp(h->codec_props)) * 2u + h->dict_size;
    case OD_CODEC_DEFLATE:
        return h->dict_size;
    default:
        return 0;
    }
}

int od_pkg_parse_prefix(const uint8_t *b, uint32_t *size)
{
    if (OD_MEMCMP(b, od_pkg_magic, OD_MAGIC_LEN) != 0)
        return OD_PKG_ERR_MAGIC;
    /* Version right after the magic: another format may lay out the rest
     * differently. Version 1 (fixed 320-byte header) was never released. */
    if (od_get_le16(b + OD_HF_VERSION) != OD_FORMAT_VERSION)
        return OD_PKG_ERR_VERSION;
    *size = od_get_le16(b + OD_HF_HDR_SIZE);
    return (*size < OD_HDR_MIN || *size > OD_HDR_MAX) ? OD_PKG_ERR_FIELD : OD_PKG_OK;
}

/* The header's four byte fields from OD_HF_KIND on are four consecutive
 * u8 members of od_pkg_header, its eight consecutive u32 fields from
 * OD_HF_RAM on are eight consecutive members, and its five digests
 * (OD_HF_SRC_MD5 up to the version lengths) five consecutive byte arrays:
 * each run is decoded in one go. */
#define HDR_U32_FIRST offsetof(od_pkg_header, ram_needed)
#define HDR_DIGESTS (OD_HF_SRC_VER_LEN - OD_HF_SRC_MD5)
typedef char od_hdr_u8_run[(offsetof(od_pkg_header, codec_props) -
                            offsetof(od_pkg_header, kind) == 3 &&
                            OD_HF_PROPS - OD_HF_KIND == 3) ? 1 : -1];
typedef char od_hdr_u32_run[(offsetof(od_pkg_header, index_crc32) - HDR_U32_FIRST == 28 &&
                             OD_HF_INDEX_CRC - OD_HF_RAM == 28) ? 1 : -1];
typedef char od_hdr_digest_run[(offsetof(od_pkg_header, payload_sha256) + OD_SHA256_LEN -
                                offsetof(od_pkg_header, source_md5) == HDR_DIGESTS) ? 1 : -1];

int od_pkg_parse_header(const uint8_t *b, size_t len, od_pkg_header *h)
{
    uint32_t size, ls, lt, page_log, erase_log, i, fixed, bad;
    uint8_t src_bytes = 0;
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
    OD_MEMCPY(&h->kind, b + OD_HF_KIND, OD_HF_PROPS + 1 - OD_HF_KIND);
    h->dict_size = od_get_le32(b + OD_HF_DICT);
    page_log = b[OD_HF_PAGE_LOG2];
    erase_log = b[OD_HF_ERASE_LOG2];
    h->flags = od_get_le16(b + OD_HF_FLAGS);
    for (i = 0; i < 8; i++)
        *(uint32_t *)((uint8_t *)h + HDR_U32_FIRST + 4 * i) = od_get_le32(b + OD_HF_RAM + 4 * i);
    OD_MEMCPY((uint8_t *)h + offsetof(od_pkg_header, source_md5), b + OD_HF_SRC_MD5, HDR_DIGESTS);

    if (h->kind != OD_KIND_FULL && h->kind != OD_KIND_DELTA)
        return OD_PKG_ERR_FIELD;
    /* Unknown filters, flags and codecs change how bytes are interpreted,
     * so an applier that does not know them must refuse rather than guess. */
    if (h->filter > OD_FILTER_THUMB || h->flags != 0 || h->codec > OD_CODEC_LZMA)
        return OD_PKG_ERR_UNSUPPORTED;

    /* From here on every failure is OD_PKG_ERR_FIELD. */
    switch (h->codec) {
    case OD_CODEC_NONE:
        bad = h->codec_props != 0 || h->dict_size != 0;
        break;
    case OD_CODEC_DEFLATE:
        bad = h->codec_props < 9 || h->codec_props > 15 || h->dict_size != (1u << h->codec_props);
        break;
    default: /* OD_CODEC_LZMA */
        /* lc+lp above 8 would need more than 400 KiB of probabilities;
         * no encoder setting we emit goes there, so treat it as damage. */
        bad = h->codec_props >= 225 || lzma_lclp(h->codec_props) > 8u ||
              h->dict_size < OD_MIN_DICT || h->dict_size > OD_MAX_DICT;
        break;
    }

    /* Sizes travel as log2, so they are powers of two by construction. */
    bad |= page_log < 4 || page_log > 16 || erase_log < page_log || erase_log > 24;
    if (bad)
        return OD_PKG_ERR_FIELD;
    h->page_size = 1u << page_log;
    h->erase_size = 1u << erase_log;
    /*
     * All in 32 bits, so that an MCU build pulls in no 64-bit helpers from
     * libgcc: sizes are at most 1 GiB, block_count at most OD_MAX_BLOCKS
     * (checked before it is multiplied), the codec workspace below 65 MiB
     * and a page at most 64 KiB. Blocks are variable but erase-aligned: at
     * most one per erase unit.
     */
    fixed = size + h->ext_size + h->block_count * OD_INDEX_ENTRY_SIZE;
    if (h->block_size < h->erase_size || (h->block_size & (h->erase_size - 1)) != 0 ||
        h->block_size > OD_MAX_IMAGE_SIZE || h->source_size > OD_MAX_IMAGE_SIZE ||
        h->target_size > OD_MAX_IMAGE_SIZE ||
        h->block_count > (h->target_size + h->erase_size - 1) >> erase_log ||
        h->block_count > OD_MAX_BLOCKS ||
        (h->block_count == 0 && (h->target_size | h->payload_size) != 0) ||
        h->ram_needed != h->page_size + od_pkg_codec_workspace(h) ||
        h->ext_size > MAX_EXT_SIZE || h->payload_size < h->block_count * MIN_BLOCK_BYTES ||
        h->payload_size > 0xFFFFFFFFu - fixed)
        return OD_PKG_ERR_FIELD;

    /* The strings fill the header exactly: one encoding per version pair,
     * which matters because a signature covers these bytes. */
    ls = b[OD_HF_SRC_VER_LEN];
    lt = b[OD_HF_TGT_VER_LEN];
    if (ls > OD_VERSION_MAX || lt > OD_VERSION_MAX || OD_HDR_FIXED + ls + lt + 4 != size ||
        !read_version(b + OD_HF_STRINGS + ls, lt, h->target_version))
        return OD_PKG_ERR_FIELD;
    r = read_version(b + OD_HF_STRINGS, ls, h->source_version);
    if (h->kind == OD_KIND_FULL) {
        /* A full package has no source: its source fields must be empty so
         * that nothing can be read into them. */
        for (i = OD_HF_SRC_MD5; i < OD_HF_TGT_MD5; i++)
            src_bytes |= b[i];
        r = h->source_size == 0 && ls == 0 && src_bytes == 0;
    }
    return r ? OD_PKG_OK : OD_PKG_ERR_FIELD;
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
