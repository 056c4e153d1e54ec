/*
 * od_profile_tiny.h - smallest applier: uncompressed packages only.
 *
 * Build with -DOD_CONFIG=\"od_profile_tiny.h\" (and -Ipatch/profiles).
 * Generate packages for it with `otadelta diff --codec none`; a package
 * with another codec is refused before anything is written
 * (OD_PATCH_ERR_UNSUPPORTED).
 *
 * Trade-offs, each deliberate:
 *  - No decoder: the op stream arrives as-is (unchanged stretches of 3
 *    bytes or more still go as runs). On the shared corpus a `none` delta
 *    is 1.4-4.1x the size of an LZMA one (geometric mean 1.9x) and
 *    0.8-53 % of the new image (geometric mean 20 %), so pick this profile
 *    when flash for code is scarcer than download bytes.
 *  - No MD5 of the read-back image. The target SHA-256 is still verified
 *    over what is in flash, and SHA-256 alone already rules out accidental
 *    and deliberate mismatches; MD5 only adds a second opinion for
 *    platforms that report MD5 to a server. Saves the MD5 code (820 B on
 *    Cortex-M4); the state is the same size either way (the MD5 context
 *    shares a union with the header bytes).
 *  - No thumb filter: it only makes difference bytes more compressible,
 *    and without a codec nothing gains from that (`otadelta diff` never
 *    picks it for `--codec none`).
 *  - A 16-byte staging buffer: without a decoder it only gathers index
 *    entries (8 bytes), TLV heads and CRC trailers (4 bytes).
 */
#ifndef OD_PROFILE_TINY_H
#define OD_PROFILE_TINY_H

#define OD_PROFILE_NAME "tiny"
#define OD_HAS_LZMA 0
#define OD_HAS_DEFLATE 0
#ifndef OD_HAS_MD5
#define OD_HAS_MD5 0
#endif
#define OD_HAS_THUMB 0
#define OD_PATCH_OBUF 16

#endif /* OD_PROFILE_TINY_H */
