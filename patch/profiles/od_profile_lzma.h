/*
 * od_profile_lzma.h - applier with the LZMA decoder only: smallest
 * packages within a 16 KiB RAM budget.
 *
 * Build with -DOD_CONFIG=\"od_profile_lzma.h\" (and -Ipatch/profiles).
 * Accepts `--codec lzma` (otadelta's default) and `--codec none`
 * packages; deflate ones are refused before anything is written
 * (OD_PATCH_ERR_UNSUPPORTED).
 *
 * RAM: the work buffer is the header's ram_needed = page + LZMA
 * probabilities (2 x (1846 + 768 << (lc + lp)) bytes) + dictionary; at
 * the default budget the generator picks lc = lp = 0, so 256 + 5228 +
 * 8704 = 14188 bytes, plus sizeof(od_patch) for the caller-owned state.
 * MD5 is off (see od_profile_tiny.h for why SHA-256 alone suffices).
 */
#ifndef OD_PROFILE_LZMA_H
#define OD_PROFILE_LZMA_H

#define OD_PROFILE_NAME "lzma"
#define OD_HAS_LZMA 1
#define OD_HAS_DEFLATE 0
#ifndef OD_HAS_MD5
#define OD_HAS_MD5 0
#endif

#endif /* OD_PROFILE_LZMA_H */
