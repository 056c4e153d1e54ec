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
 * extended while more than 4/ext of its bytes match (bsdiff: 8). memo:
 * NULL, or new_size entries set to UINT64_MAX before the first call,
 * shared by calls on the same images (also concurrent ones) to remember
 * searches. poll: NULL, or called with poll_ctx every OD_MATCH_POLL bytes
 * of new scanned; a nonzero return stops the scan. Returns OD_DIFF_OK,
 * _NOMEM or _CANCELLED.
 */
#define OD_MATCH_POLL (256u << 10)
int od__match(const uint8_t *old, size_t old_size, const int32_t *sa, const uint8_t *new_img,
              size_t new_size, size_t threshold, int ext, uint64_t *memo, od_op_list *list,
              int (*poll)(void *ctx), void *poll_ctx);

/* Appends an op (none if it is empty); OD_DIFF_OK or _NOMEM. */
int od__push_op(od_op_list *l, uint32_t old_start, uint32_t add, uint32_t extra);

/* Estimated coded costs in 1/16 bit: a literal byte, a nonzero and a zero
 * difference byte, an op's header, and a seek per significant bit. */
typedef struct od_prune_cost {
    int32_t lit, diff, zero, op, seek;
} od_prune_cost;

/* Drops ops whose add part saves less than the op costs, folding their
 * bytes into the previous kept op's extra. */
void od__prune(od_op_list *l, const uint8_t *old, const uint8_t *nw, const od_prune_cost *c);

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
    int level; /* one of the OD_LEVEL_* below */
} od_codec_cfg;

/* Compression settings od_codec_cfg.level selects. */
#define OD_LEVEL_MAX 0  /* the strongest: final blocks at best effort */
#define OD_LEVEL_RANK 1 /* quick: only ranks candidates by their size */
#define OD_LEVEL_FAST 2 /* final blocks at OD_DIFF_EFFORT_FAST */

/* An encoder kept between calls with the same settings (LZMA only). */
typedef struct od_codec_state od_codec_state;
void od__codec_state_free(od_codec_state *st);

/*
 * Compresses one block's raw stream as one independent codec stream,
 * appending it to out. state: NULL, or where to keep an encoder for the
 * next call of this thread (*state NULL at first; free it with
 * od__codec_state_free). Returns OD_DIFF_OK, _NOMEM or _CODEC.
 */
int od__compress_block(const od_codec_cfg *c, od_codec_state **state, const uint8_t *raw,
                       size_t raw_len, od_bytes *out);

#endif
