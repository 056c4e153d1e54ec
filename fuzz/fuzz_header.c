/*
 * fuzz_header.c - the package reader on hostile bytes: header parsing,
 * TLV iteration, block-index parsing and the whole-package check, plus the
 * version comparison and policy helpers that read header strings; and
 * od_diff_image_kind(), which the CLI and the server's upload run on the
 * images people give them, on the same bytes.
 *
 * Input: one mode byte (OD_FUZZ_FIX_*), then the package.
 */
#include <string.h>

#include "od_diff.h"
#include "od_fuzz.h"
#include "od_pkgfmt_host.h"
#include "od_pkgfmt_sign.h"

static int sign_of(int v)
{
    return (v > 0) - (v < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned mode = od_fuzz_take(&data, &size);
    uint8_t *pkg = calloc(size ? size : 1, 1); /* calloc: gcc cannot see that a short input is never read */
    od_pkg_header h, hc;
    int r;

    if (!pkg)
        return 0;
    memcpy(pkg, data, size);
    od_fuzz_fix_crcs(pkg, size, mode);

    r = od_diff_image_kind(pkg, size); /* exactly size bytes: ASan sees any read past */
    OD_FUZZ_ASSERT(r >= OD_IMAGE_RAW && r <= OD_IMAGE_PACKAGE);

    r = od_pkg_parse_header(pkg, size, &h);
    if (r == OD_PKG_OK) {
        uint64_t avail = size - h.header_size;
        uint32_t ext = (uint32_t)(h.ext_size < avail ? h.ext_size : avail);
        uint32_t pos = 0, i, n = 0;
        const uint8_t *value;
        uint16_t type, len;
        od_pkg_block prev = {0, 0}, b;
        uint64_t idx = od_pkg_index_offset(&h);

        /* Header invariants the rest of the code relies on. */
        OD_FUZZ_ASSERT(h.kind == OD_KIND_FULL || h.kind == OD_KIND_DELTA);
        OD_FUZZ_ASSERT(h.block_count <= OD_MAX_BLOCKS);
        OD_FUZZ_ASSERT((uint64_t)od_pkg_total_size(&h) ==
                       (uint64_t)h.header_size + h.ext_size +
                           (uint64_t)h.block_count * OD_INDEX_ENTRY_SIZE + h.payload_size);
        OD_FUZZ_ASSERT(od_pkg_version_valid(h.target_version));
        OD_FUZZ_ASSERT(od_pkg_codec_workspace(&h) + (uint64_t)h.page_size == h.ram_needed);

        /* TLVs over what is there; each record lies inside the area. */
        while ((r = od_pkg_next_tlv(pkg + h.header_size, ext, &pos, &type, &value, &len)) ==
               OD_PKG_OK) {
            OD_FUZZ_ASSERT(value >= pkg + h.header_size + 4 && value + len <= pkg + h.header_size + ext);
            OD_FUZZ_ASSERT(pos <= ext);
            if (++n > 65536)
                abort(); /* cannot loop: every record takes 4 bytes */
        }
        OD_FUZZ_ASSERT(r == 1 || r == OD_PKG_ERR_TLV);

        /* Index entries that are present, chained as the applier does. */
        for (i = 0; i < h.block_count && idx + (uint64_t)(i + 1) * OD_INDEX_ENTRY_SIZE <= size;
             i++) {
            if (od_pkg_parse_block(&h, pkg + idx + (size_t)i * OD_INDEX_ENTRY_SIZE, i, &prev,
                                   &b) != OD_PKG_OK)
                break;
            OD_FUZZ_ASSERT(b.out_offset < h.target_size || (i == 0 && b.out_offset == 0));
            OD_FUZZ_ASSERT(b.pkg_offset < h.payload_size || h.payload_size == 0);
            OD_FUZZ_ASSERT(i == 0 || b.out_offset > prev.out_offset);
            prev = b;
        }

        /* The policy helpers read the header's strings. */
        {
            od_pkg_policy pol;
            int ab = od_pkg_version_compare(h.source_version, h.target_version);
            int ba = od_pkg_version_compare(h.target_version, h.source_version);
            OD_FUZZ_ASSERT(sign_of(ab) == -sign_of(ba));
            OD_FUZZ_ASSERT(od_pkg_version_compare(h.target_version, h.target_version) == 0);
            memset(&pol, 0, sizeof(pol));
            pol.running_version = h.source_version;
            pol.running_sha256 = h.source_sha256;
            pol.refuse_downgrade = 1;
            r = od_pkg_policy_check(&h, &pol);
            OD_FUZZ_ASSERT(r == OD_POLICY_OK || r == OD_POLICY_ERR_DOWNGRADE);
        }
    }

    r = od_pkg_check(pkg, size, &hc);
    OD_FUZZ_ASSERT(r <= 0 && r >= OD_PKG_ERR_TRAILING);
    if (r == OD_PKG_OK)
        OD_FUZZ_ASSERT(size == od_pkg_total_size(&hc));
    free(pkg);
    return 0;
}
