/*
 * od_pkg_write.c - host-side package assembly and whole-package checks.
 *
 * Hashes go through od_hash.h, as on the MCU: OpenSSL's on hosts built
 * with OD_HASH_OPENSSL, else the portable code (tests prove them equal).
 */
#include <stdlib.h>
#include <string.h>

#include "od_pkgfmt_host.h"

/* Length of a version string, never past the field (strnlen is POSIX). */
static size_t version_len(const char *s)
{
    size_t n = 0;
    while (n < OD_VERSION_MAX && s[n])
        n++;
    return n;
}

static uint8_t log2_of(uint32_t x)
{
    uint8_t n = 0;
    while (x >>= 1)
        n++;
    return n;
}

uint32_t od_pkg_header_size_for(const od_pkg_header *h)
{
    return (uint32_t)(OD_HDR_FIXED + version_len(h->source_version) +
                      version_len(h->target_version) + 4);
}

uint32_t od_pkg_encode_header(const od_pkg_header *h, uint8_t o[OD_HDR_MAX])
{
    size_t ls = version_len(h->source_version), lt = version_len(h->target_version);
    uint32_t size = od_pkg_header_size_for(h);

    memset(o, 0, size);
    memcpy(o, od_pkg_magic, OD_MAGIC_LEN);
    od_put_le16(o + OD_HF_VERSION, OD_FORMAT_VERSION);
    od_put_le16(o + OD_HF_HDR_SIZE, (uint16_t)size);
    o[OD_HF_KIND] = h->kind;
    o[OD_HF_CODEC] = h->codec;
    o[OD_HF_FILTER] = h->filter;
    o[OD_HF_PROPS] = h->codec_props;
    od_put_le32(o + OD_HF_DICT, h->dict_size);
    o[OD_HF_PAGE_LOG2] = log2_of(h->page_size);
    o[OD_HF_ERASE_LOG2] = log2_of(h->erase_size);
    od_put_le16(o + OD_HF_FLAGS, (uint16_t)h->flags);
    od_put_le32(o + OD_HF_RAM, h->ram_needed);
    od_put_le32(o + OD_HF_BLOCK_SIZE, h->block_size);
    od_put_le32(o + OD_HF_BLOCK_COUNT, h->block_count);
    od_put_le32(o + OD_HF_EXT_SIZE, h->ext_size);
    od_put_le32(o + OD_HF_SRC_SIZE, h->source_size);
    od_put_le32(o + OD_HF_TGT_SIZE, h->target_size);
    od_put_le32(o + OD_HF_PAYLOAD_SIZE, h->payload_size);
    od_put_le32(o + OD_HF_INDEX_CRC, h->index_crc32);
    memcpy(o + OD_HF_SRC_MD5, h->source_md5, OD_MD5_LEN);
    memcpy(o + OD_HF_SRC_SHA, h->source_sha256, OD_SHA256_LEN);
    memcpy(o + OD_HF_TGT_MD5, h->target_md5, OD_MD5_LEN);
    memcpy(o + OD_HF_TGT_SHA, h->target_sha256, OD_SHA256_LEN);
    memcpy(o + OD_HF_PAYLOAD_SHA, h->payload_sha256, OD_SHA256_LEN);
    o[OD_HF_SRC_VER_LEN] = (uint8_t)ls;
    o[OD_HF_TGT_VER_LEN] = (uint8_t)lt;
    memcpy(o + OD_HF_STRINGS, h->source_version, ls);
    memcpy(o + OD_HF_STRINGS + ls, h->target_version, lt);
    od_put_le32(o + size - 4, od_crc32(0, o, size - 4));
    return size;
}

/*
 * One-shot MD5 (md5 nonzero) or SHA-256 through od_hash.h: OpenSSL's
 * fixed-size contexts on the host, or the portable code. Neither can
 * fail, unlike EVP_Digest, which writes nothing when it cannot digest (out
 * of memory, or a provider configuration without MD5, as under FIPS) and
 * left callers comparing stale bytes.
 */
static void digest(int md5, const uint8_t *d, size_t n, uint8_t *out)
{
    if (md5) {
        od_md5_ctx c;
        od_md5_init(&c);
        od_md5_update(&c, d, n);
        od_md5_final(&c, out);
    } else {
        od_sha256_ctx c;
        od_sha256_init(&c);
        od_sha256_update(&c, d, n);
        od_sha256_final(&c, out);
    }
}

void od_pkg_hash_image(const uint8_t *data, size_t size, uint8_t md5[OD_MD5_LEN],
                       uint8_t sha256[OD_SHA256_LEN])
{
    digest(1, data, size, md5);
    digest(0, data, size, sha256);
}

int od_pkg_assemble(od_pkg_header *h, const uint8_t *ext, uint32_t ext_size,
                    const uint32_t *block_offsets, const uint32_t *out_offsets,
                    uint32_t block_count,
                    const uint8_t *payload, uint32_t payload_size, uint8_t **out,
                    size_t *out_size)
{
    uint32_t hsize = od_pkg_header_size_for(h);
    uint64_t total = (uint64_t)hsize + ext_size +
                     (uint64_t)block_count * OD_INDEX_ENTRY_SIZE + payload_size;
    uint8_t *buf, *idx;
    uint32_t i;

    if (total > 0xFFFFFFFFu)
        return -1;
    buf = malloc((size_t)total);
    if (!buf)
        return -1;
    h->format_version = OD_FORMAT_VERSION;
    h->header_size = (uint16_t)hsize;
    h->block_count = block_count;
    h->ext_size = ext_size;
    h->payload_size = payload_size;

    idx = buf + hsize + ext_size;
    for (i = 0; i < block_count; i++) {
        od_put_le32(idx + (size_t)i * OD_INDEX_ENTRY_SIZE, block_offsets[i]);
        od_put_le32(idx + (size_t)i * OD_INDEX_ENTRY_SIZE + 4, out_offsets[i]);
    }
    h->index_crc32 = od_crc32(0, idx, (size_t)block_count * OD_INDEX_ENTRY_SIZE);
    digest(0, payload, payload_size, h->payload_sha256);

    if (ext_size)
        memcpy(buf + hsize, ext, ext_size);
    if (payload_size)
        memcpy(idx + (size_t)block_count * OD_INDEX_ENTRY_SIZE, payload, payload_size);
    od_pkg_encode_header(h, buf);
    *out = buf;
    *out_size = (size_t)total;
    return 0;
}

int od_pkg_check(const uint8_t *pkg, size_t size, od_pkg_header *hout)
{
    od_pkg_header h;
    const uint8_t *ext, *idx, *payload, *value;
    uint32_t pos = 0, i;
    od_pkg_block prev = {0, 0};
    uint16_t type, len;
    uint8_t sha[OD_SHA256_LEN];
    int r;

    if ((r = od_pkg_parse_header(pkg, size, &h)) != OD_PKG_OK)
        return r;
    if (hout)
        *hout = h;
    if (size < od_pkg_total_size(&h))
        return OD_PKG_ERR_TRUNCATED;

    ext = pkg + h.header_size;
    while ((r = od_pkg_next_tlv(ext, h.ext_size, &pos, &type, &value, &len)) == OD_PKG_OK) {
        if ((type & OD_TLV_CRITICAL) != 0)
            return OD_PKG_ERR_UNSUPPORTED;
    }
    if (r < 0)
        return r;

    idx = pkg + od_pkg_index_offset(&h);
    if (od_crc32(0, idx, (size_t)h.block_count * OD_INDEX_ENTRY_SIZE) != h.index_crc32)
        return OD_PKG_ERR_INDEX_CRC;
    payload = pkg + od_pkg_payload_offset(&h);
    /* The whole index first, so a damaged index is reported as such rather
     * than as a damaged block found through it. */
    for (i = 0; i < h.block_count; i++) {
        od_pkg_block b;
        if (od_pkg_parse_block(&h, idx + (size_t)i * OD_INDEX_ENTRY_SIZE, i, &prev, &b) != OD_PKG_OK)
            return OD_PKG_ERR_INDEX;
        prev = b;
    }
    for (i = 0; i < h.block_count; i++) {
        od_pkg_block b;
        uint32_t end;
        od_pkg_parse_block(&h, idx + (size_t)i * OD_INDEX_ENTRY_SIZE, i, &prev, &b);
        if (i + 1 < h.block_count)
            end = od_get_le32(idx + (size_t)(i + 1) * OD_INDEX_ENTRY_SIZE);
        else
            end = h.payload_size;
        if (end > h.payload_size || end < b.pkg_offset + OD_BLOCK_TRAILER + 1u)
            return OD_PKG_ERR_INDEX;
        if (od_crc32(0, payload + b.pkg_offset, end - OD_BLOCK_TRAILER - b.pkg_offset) !=
            od_get_le32(payload + end - OD_BLOCK_TRAILER))
            return OD_PKG_ERR_PAYLOAD;
        prev = b;
    }
    digest(0, payload, h.payload_size, sha);
    if (memcmp(sha, h.payload_sha256, OD_SHA256_LEN) != 0)
        return OD_PKG_ERR_PAYLOAD;
    if (size > od_pkg_total_size(&h))
        return OD_PKG_ERR_TRAILING;
    return OD_PKG_OK;
}

void od_pkg_fix_crcs(uint8_t *pkg, size_t size, unsigned what)
{
    uint32_t hs;
    if (!pkg || size < OD_HDR_PREFIX)
        return;
    hs = od_get_le16(pkg + OD_HF_HDR_SIZE);
    if (hs < OD_HDR_MIN || hs > size)
        return;
    if (what & OD_PKG_FIX_INDEX_CRC) {
        uint64_t off = hs + (uint64_t)od_get_le32(pkg + OD_HF_EXT_SIZE);
        uint64_t len = (uint64_t)od_get_le32(pkg + OD_HF_BLOCK_COUNT) * OD_INDEX_ENTRY_SIZE;
        if (off + len <= size)
            od_put_le32(pkg + OD_HF_INDEX_CRC, od_crc32(0, pkg + off, (size_t)len));
    }
    if (what & OD_PKG_FIX_HEADER_CRC)
        od_put_le32(pkg + hs - 4, od_crc32(0, pkg, hs - 4));
}

const char *od_pkg_codec_name(int codec)
{
    switch (codec) {
    case OD_CODEC_NONE: return "none";
    case OD_CODEC_DEFLATE: return "deflate";
    case OD_CODEC_LZMA: return "lzma";
    default: return "unknown";
    }
}

const char *od_pkg_filter_name(int filter)
{
    switch (filter) {
    case OD_FILTER_NONE: return "none";
    case OD_FILTER_THUMB: return "thumb";
    default: return "unknown";
    }
}

/* The id in 0..last that name_of() names name, or -1. */
static int id_of(const char *name, const char *(*name_of)(int), int last)
{
    int i;
    for (i = 0; name && i <= last; i++)
        if (!strcmp(name, name_of(i)))
            return i;
    return -1;
}

int od_pkg_codec_from_name(const char *name)
{
    return id_of(name, od_pkg_codec_name, OD_CODEC_LZMA);
}

int od_pkg_filter_from_name(const char *name)
{
    return id_of(name, od_pkg_filter_name, OD_FILTER_THUMB);
}
