/*
 * od_profile_deflate.h - applier with the raw-deflate decoder only.
 *
 * Build with -DOD_CONFIG=\"od_profile_deflate.h\" (and -Ipatch/profiles).
 * Accepts `--codec deflate` and `--codec none` packages; LZMA packages are
 * refused before anything is written (OD_PATCH_ERR_UNSUPPORTED).
 *
 * The middle ground: an inflater is a fraction of the LZMA decoder's code,
 * and its workspace is just the history window (dict_size = 1 << window
 * log; 8 KiB at the default 16 KiB budget). Deflate deltas are typically
 * 5-15 % larger than LZMA ones. MD5 stays off as in the tiny profile
 * (SHA-256 of the read-back image is the check that counts); define
 * OD_HAS_MD5 1 before including this file if your server reports MD5.
 */
#ifndef OD_PROFILE_DEFLATE_H
#define OD_PROFILE_DEFLATE_H

#define OD_PROFILE_NAME "deflate"
#define OD_HAS_LZMA 0
#define OD_HAS_DEFLATE 1
#ifndef OD_HAS_MD5
#define OD_HAS_MD5 0
#endif

#endif /* OD_PROFILE_DEFLATE_H */
