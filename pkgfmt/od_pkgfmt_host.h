/*
 * od_pkgfmt_host.h - host-side package writing and whole-package checking.
 *
 * Not for the MCU: uses malloc and OpenSSL. The generator (diff/) builds
 * packages with od_pkg_assemble(); the CLI and server check them with
 * od_pkg_check(). Thread-safety: every function is reentrant.
 */
#ifndef OD_PKGFMT_HOST_H
#define OD_PKGFMT_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "od_pkgfmt.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Serialises h into the core header at out (room for OD_HDR_MAX bytes),
 * magic, header_size and header CRC included, and returns its size
 * (od_pkg_header_size_for(h)). The caller has validated the version
 * strings; page_size and erase_size are powers of two. Fields
 * kind..payload_sha256 are taken as they are.
 */
uint32_t od_pkg_encode_header(const od_pkg_header *h, uint8_t out[OD_HDR_MAX]);

/* Size of the core header h encodes to: it grows with the version strings. */
uint32_t od_pkg_header_size_for(const od_pkg_header *h);

/* MD5 and SHA-256 of an image (OpenSSL). data may be NULL when size is 0. */
void od_pkg_hash_image(const uint8_t *data, size_t size,
                       uint8_t md5[OD_MD5_LEN], uint8_t sha256[OD_SHA256_LEN]);

/*
 * Builds a whole package in memory.
 * h: every field set except format_version, header_size, block_count,
 *    payload_size, index_crc32, payload_sha256 and ext_size, which this
 *    computes (h is updated with them).
 * ext/ext_size: TLV records to place after the header (may be NULL/0).
 * block_offsets, out_offsets: per block, its payload offset and output
 *    offset (both 0 for the first); each block is a codec stream plus its
 *    CRC32 trailer, as FORMAT.md says.
 * payload/payload_size: the blocks back to back.
 * On success *out is malloc()'d (caller frees) and 0 is returned; -1 on
 * allocation failure or a size that overflows the format.
 */
int od_pkg_assemble(od_pkg_header *h, const uint8_t *ext, uint32_t ext_size,
                    const uint32_t *block_offsets, const uint32_t *out_offsets,
                    uint32_t block_count,
                    const uint8_t *payload, uint32_t payload_size,
                    uint8_t **out, size_t *out_size);

/*
 * Checks a whole package in memory without applying it: header, extension
 * records, block index (CRC and rules), every block's CRC trailer, the
 * payload SHA-256, and that the size is exactly what the header implies.
 * h may be NULL; when not, it receives the header if that much parsed.
 * Returns OD_PKG_OK or the first od_pkg_ret error found.
 */
int od_pkg_check(const uint8_t *pkg, size_t size, od_pkg_header *h);

/*
 * Recomputes the CRC-32s a package stores, from its bytes as they are now:
 * what is OD_PKG_FIX_INDEX_CRC and/or OD_PKG_FIX_HEADER_CRC (the index CRC
 * first, since the header holds it). For tools and tests that edit
 * packages. Nothing else is validated; a CRC whose bytes would lie outside
 * pkg[0..size) (header_size or index out of range) is left alone.
 */
#define OD_PKG_FIX_HEADER_CRC 0x01u
#define OD_PKG_FIX_INDEX_CRC 0x02u
void od_pkg_fix_crcs(uint8_t *pkg, size_t size, unsigned what);

/* Human-readable codec name ("none", "deflate", "lzma", or "unknown"). */
const char *od_pkg_codec_name(int codec);

/* Human-readable filter name ("none", "thumb", or "unknown"). */
const char *od_pkg_filter_name(int filter);

/* The inverses: OD_CODEC_* / OD_FILTER_* for a name those functions give,
 * -1 for anything else (NULL included). */
int od_pkg_codec_from_name(const char *name);
int od_pkg_filter_from_name(const char *name);

/*
 * Stores size bytes of data (a package, or any file a tool produces) at
 * path so that a crash or power cut at any moment leaves either the file
 * that was there or the complete new one, never a mix: the bytes go to a
 * new temporary file beside path (path.tmp.XXXXXX, 6 random letters and
 * digits as mkstemp makes them, or DIR/.od.tmp.XXXXXX for a name too long
 * to take the suffix, close-on-exec; mode 0644 less the umask
 * for a new file, while a regular file it replaces keeps its permission
 * bits unless they are all clear; hard links to it keep the old
 * contents), are flushed to disk, renamed over path, and
 * then the directory is flushed so the rename itself survives. Where the
 * system allows (Linux O_TMPFILE with /proc), the bytes first go to an
 * unnamed file that gets the temporary name only once flushed, so a kill
 * while writing leaves no stray file either. path must
 * name a regular file or nothing; a symbolic link at path is replaced, not
 * followed (resolve it first to write through it). Safe to call from
 * several threads and processes at once, even for the same path: the
 * last rename wins.
 * Returns OD_PKG_OK; OD_PKG_ERR_IO_CREATE with errno set when the
 * temporary file cannot be created (path's directory is missing or not
 * writable, even if path itself is); OD_PKG_ERR_IO with errno set when it
 * could not be written, flushed or renamed (path is unchanged and the
 * temporary file removed); or OD_PKG_ERR_IO_DIR with errno set when
 * path was replaced but its directory could not be flushed (file systems
 * that cannot sync a directory, EINVAL, count as success).
 */
int od_pkg_write_file(const char *path, const void *data, size_t size);

/*
 * Flushes the directory dir to disk, so that a rename or new file in it
 * survives a power cut (od_pkg_write_file does this for its own rename;
 * this is for a caller that renames a file into place itself). File
 * systems that cannot sync a directory (EINVAL) count as success.
 * Returns OD_PKG_OK, or OD_PKG_ERR_IO_DIR with errno set (dir cannot be
 * opened as a directory, or the flush failed).
 */
int od_pkg_sync_dir(const char *dir);

#ifdef __cplusplus
}
#endif
#endif /* OD_PKGFMT_HOST_H */
