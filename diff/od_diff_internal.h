/*
 * od_diff_internal.h - what the generator's files share; not installed.
 */
#ifndef OD_DIFF_INTERNAL_H
#define OD_DIFF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "od_diff.h"

/*
 * One bsdiff-class op in output order: `add` bytes of new are old[old_start
 * ..] plus a byte-wise difference, then `extra` bytes of new are literal.
 * Ops tile the new image exactly, front to back.
 */
typedef struct od_op {
    uint32_t old_start;
    uint32_t add;
    uint32_t extra;
} od_op;

typedef struct od_op_list {
    od_op *ops;
    size_t count, cap;
} od_op_list;

/* Suffix array of old (libdivsufsort), malloc'd; NULL if empty or no memory. */
int32_t *od__suffix_array(const uint8_t *old, size_t old_size);

/*
 * Finds approximate matches of new_img in old (sa: its suffix array, may be
 * NULL only when old_size is 0) and fills list, which must be empty; the
 * caller frees list->ops. threshold: how many more matching bytes a new
 * alignment needs to replace the current one; ext: an alignment is
 * extended while more than 1/ext of its bytes match (bsdiff: 2). memo: NULL, or 2 * new_size
 * entries set to UINT32_MAX before the first call, shared by calls on the
 * same images to remember searches. Returns OD_DIFF_OK or _NOMEM.
 */
int od__match(const uint8_t *old, size_t old_size, const int32_t *sa, const uint8_t *new_img,
              size_t new_size, size_t threshold, int ext, uint32_t *memo, od_op_list *list,
              od_diff_progress_fn progress, void *progress_ctx);

/* A growable byte buffer with a hard maximum (OD_MAX_IMAGE_SIZE * 2). */
typedef struct od_bytes {
    uint8_t *p;
    size_t len, cap;
} od_bytes;

/* Makes room for n more bytes; OD_DIFF_OK, _NOMEM or _TOO_LARGE. */
int od__bytes_reserve(od_bytes *b, size_t n);
int od__bytes_put(od_bytes *b, const void *data, size_t n);
int od__bytes_varint(od_bytes *b, uint32_t v);

/* Codec parameters chosen by the planner. */
typedef struct od_codec_cfg {
    int codec;
    uint8_t props;
    uint32_t dict_size;
    int fast; /* quick low-effort compression, for ranking candidates */
} od_codec_cfg;

/*
 * Compresses one block's raw stream as one independent codec stream,
 * appending it to out. Returns OD_DIFF_OK, _NOMEM or _CODEC.
 */
int od__compress_block(const od_codec_cfg *c, const uint8_t *raw, size_t raw_len,
                       od_bytes *out);

#endif
