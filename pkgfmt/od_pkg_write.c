/*
 * od_pkg_write.c - host-side package assembly and whole-package checks.
 *
 * Hashes here use OpenSSL; the freestanding od_sha256/od_md5 are what the
 * MCU runs and tests prove them equal, so either side may compute a field.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "od_pkgfmt_host.h"

/* Length of a version string, never past the field (strnlen is POSIX). */
static size_t version_len(const char *s)
{
    size_t n = 0;
    while (n < OD_VERSION_MAX && s[n])
        n++;
    return n;
}

void od_pkg_encode_header(const od_pkg_header *h, uint8_t o[OD_HDR_SIZE])
{
    memset(o, 0, OD_HDR_SIZE);
    memcpy(o, od_pkg_magic, OD_MAGIC_LEN);
    od_put_le16(o + 8, OD_FORMAT_VERSION);
    od_put_le16(o + 10, OD_HDR_SIZE);
    o[12] = h->kind;
    o[13] = h->codec;
    o[14] = h->filter;
    o[15] = h->codec_props;
    od_put_le32(o + 16, h->dict_size);
    od_put_le32(o + 20, h->page_size);
    od_put_le32(o + 24, h->erase_size);
    od_put_le32(o + 28, h->ram_needed);
    od_put_le32(o + 32, h->block_size);
    od_put_le32(o + 36, h->block_count);
    od_put_le32(o + 40, h->ext_size);
    od_put_le32(o + 44, h->source_size);
    od_put_le32(o + 48, h->target_size);
    od_put_le32(o + 52, h->payload_size);
    od_put_le32(o + 56, h->index_crc32);
    od_put_le32(o + 60, h->flags);
    memcpy(o + 64, h->source_md5, OD_MD5_LEN);
    memcpy(o + 80, h->source_sha256, OD_SHA256_LEN);
    memcpy(o + 112, h->target_md5, OD_MD5_LEN);
    memcpy(o + 128, h->target_sha256, OD_SHA256_LEN);
    memcpy(o + 160, h->payload_sha256, OD_SHA256_LEN);
    memcpy(o + 192, h->source_version, version_len(h->source_version));
    memcpy(o + 248, h->target_version, version_len(h->target_version));
    od_put_le32(o + 316, od_crc32(0, o, 316));
}

static void digest(const EVP_MD *md, const uint8_t *d, size_t n, uint8_t *out)
{
    static const uint8_t empty = 0;
    unsigned len = 0;
    /* EVP_Digest wants a valid pointer even for an empty message. */
    EVP_Digest(d ? (const void *)d : (const void *)&empty, n, out, &len, md, NULL);
}

void od_pkg_hash_image(const uint8_t *data, size_t size, uint8_t md5[OD_MD5_LEN],
                       uint8_t sha256[OD_SHA256_LEN])
{
    digest(EVP_md5(), data, size, md5);
    digest(EVP_sha256(), data, size, sha256);
}

int od_pkg_assemble(od_pkg_header *h, const uint8_t *ext, uint32_t ext_size,
                    const uint32_t *block_offsets, const uint32_t *out_offsets,
                    uint32_t block_count,
                    const uint8_t *payload, uint32_t payload_size, uint8_t **out,
                    size_t *out_size)
{
    uint64_t total = (uint64_t)OD_HDR_SIZE + ext_size +
                     (uint64_t)block_count * OD_INDEX_ENTRY_SIZE + payload_size;
    uint8_t *buf, *idx;
    uint32_t i;

    if (total > 0xFFFFFFFFu)
        return -1;
    buf = malloc((size_t)total);
    if (!buf)
        return -1;
    h->format_version = OD_FORMAT_VERSION;
    h->header_size = OD_HDR_SIZE;
    h->block_count = block_count;
    h->ext_size = ext_size;
    h->payload_size = payload_size;

    idx = buf + OD_HDR_SIZE + ext_size;
    for (i = 0; i < block_count; i++) {
        od_put_le32(idx + (size_t)i * OD_INDEX_ENTRY_SIZE, block_offsets[i]);
        od_put_le32(idx + (size_t)i * OD_INDEX_ENTRY_SIZE + 4, out_offsets[i]);
    }
    h->index_crc32 = od_crc32(0, idx, (size_t)block_count * OD_INDEX_ENTRY_SIZE);
    digest(EVP_sha256(), payload, payload_size, h->payload_sha256);

    if (ext_size)
        memcpy(buf + OD_HDR_SIZE, ext, ext_size);
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

    ext = pkg + OD_HDR_SIZE;
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
    digest(EVP_sha256(), payload, h.payload_size, sha);
    if (memcmp(sha, h.payload_sha256, OD_SHA256_LEN) != 0)
        return OD_PKG_ERR_PAYLOAD;
    if (size > od_pkg_total_size(&h))
        return OD_PKG_ERR_TRAILING;
    return OD_PKG_OK;
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
