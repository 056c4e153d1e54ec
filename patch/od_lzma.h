/*
 * od_lzma.h - push-fed raw LZMA1 decoder for the applier.
 *
 * Decodes exactly what liblzma's lzma_raw_encoder() writes for the filter
 * LZMA_FILTER_LZMA1: the 5-byte range-coder start, the packets, and the
 * end-of-payload marker (EOPM). There is no header and no size field, so
 * the marker is the only way the stream says it is done.
 *
 * Thread-safety: all state is in the caller's od_lzma_dec and workspace;
 * decoders share nothing.
 *
 * Built for a bootloader: no heap, no libc beyond od_port.h, a small fixed
 * state struct, and one block of caller memory (the "workspace") holding
 * the probability model followed by the history dictionary. Input and
 * output arrive in pieces of any size, down to one byte each.
 *
 * Stopping between any two input bytes is the hard part of a range decoder:
 * a packet (one literal or match) may span up to 20 input bytes, and
 * decoding half of it would leave the probability model half updated. So
 * the decoder only commits to a packet once all of its bytes are at hand.
 * With at least OD_LZMA_TEMP_SIZE bytes available that is certain; with
 * fewer, it first decodes the packet on a scratch copy of the coder that
 * leaves the model untouched, and keeps the bytes in a small carry buffer
 * if they turn out not to be enough. This copes with a stream that ends
 * less than a packet's worth of bytes after the last full chunk, which the
 * usual "wait for 20 bytes" rule cannot handle without knowing the input
 * length.
 *
 * Untrusted input never makes the decoder touch memory out of bounds or
 * assert; every malformed stream ends in OD_LZMA_DATA_ERROR.
 */
#ifndef OD_LZMA_H
#define OD_LZMA_H

#include "od_port.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum od_lzma_ret {
    OD_LZMA_OK = 0,             /* progress made; call again with more input and/or output space */
    OD_LZMA_STREAM_END = 1,     /* end-of-payload marker decoded and range coder finished cleanly; no more output */
    OD_LZMA_DATA_ERROR = -1,    /* corrupt stream (bad distance, bad marker, range coder not finished at EOPM, ...) */
    OD_LZMA_OPTIONS_ERROR = -2, /* props byte invalid (>= 225) or lc+lp too large for the workspace, dict_size 0 */
    OD_LZMA_MEM_ERROR = -3,     /* workspace smaller than OD_LZMA_WORKSPACE(lc, lp, dict) */
    OD_LZMA_BUF_ERROR = -4      /* second call in a row with no progress possible (no input and no output space) */
} od_lzma_ret;

/* Bytes of workspace a decoder needs: 16-bit probabilities then the dictionary. */
#define OD_LZMA_PROBS(lc, lp) (1846u + (768u << ((lc) + (lp))))
#define OD_LZMA_WORKSPACE(lc, lp, dict) (OD_LZMA_PROBS(lc, lp) * 2u + (uint32_t)(dict))

/*
 * Largest lc + lp accepted. The format allows lc <= 8 and lp <= 4, whose
 * literal tables alone take 6 MiB; an integrator who knows its encoder
 * settings can lower this (liblzma itself never writes lc + lp > 4) so a
 * hostile props byte is refused as OPTIONS_ERROR rather than as MEM_ERROR.
 */
#ifndef OD_LZMA_LCLP_MAX
#define OD_LZMA_LCLP_MAX 12
#endif

/* Input bytes one packet can need at most (20, see od_lzma.c); the carry
   buffer holds that many. */
#define OD_LZMA_TEMP_SIZE 20

/*
 * Decoder state. Treat as opaque; it is public only so the caller can place
 * it statically. It holds no pointer into itself, so it may be copied
 * between calls; its pointers are into the caller's workspace.
 */
typedef struct od_lzma_dec {
    uint16_t *probs;    /* workspace start: the probability model */
    uint8_t *dict;      /* workspace after the model: circular history */
    uint32_t dict_size; /* history bytes kept */
    uint8_t lc, lp, pb; /* from the props byte */
    /* From here up to temp[]: per-stream state, zeroed by od_lzma_reset().
       Byte fields first: Thumb reaches the first 32 bytes of a struct with
       16-bit byte loads and stores. */
    uint8_t state;      /* LZMA state machine, 0..11 */
    int8_t status;      /* 0 while decoding, else the sticky return value */
    uint8_t started;    /* the 5 range-coder start bytes were read */
    uint8_t stalled;    /* the previous call made no progress */
    uint8_t temp_len;   /* bytes in temp */
    uint32_t dict_pos;  /* next dictionary byte to write */
    uint32_t filled;    /* valid history bytes, saturates at dict_size */
    uint32_t pos;       /* bytes decoded in this stream, modulo 2^32 */
    uint32_t range;     /* range coder */
    uint32_t code;
    uint32_t rep[4];    /* last four match distances minus one, newest first */
    uint32_t len;       /* match bytes still to copy out */
    uint8_t temp[OD_LZMA_TEMP_SIZE]; /* input carried over between calls */
} od_lzma_dec;

/*
 * Prepares d to decode raw LZMA1 streams.
 *   d          state to initialise; owned by the caller, no cleanup needed.
 *   props      (pb * 5 + lp) * 9 + lc, the classic LZMA properties byte.
 *   dict_size  bytes of history the decoder keeps, >= 1. The encoder must
 *              not reference farther back (liblzma: use the same dict_size
 *              as the encoder); a distance beyond dict_size or beyond the
 *              bytes decoded so far is reported as DATA_ERROR.
 *   work       caller memory of work_size bytes, at least
 *              OD_LZMA_WORKSPACE(lc, lp, dict_size), 2-byte aligned. Owned
 *              by the caller; must stay valid and untouched by others while
 *              d is used. Its prior contents are never read.
 * Returns OD_LZMA_OK and leaves d ready for a new stream; or
 * OD_LZMA_OPTIONS_ERROR (props >= 225, lc + lp > OD_LZMA_LCLP_MAX,
 * dict_size 0) or OD_LZMA_MEM_ERROR (work NULL or too small). After a
 * failure every od_lzma_decode() on d returns that same error.
 */
od_lzma_ret od_lzma_init(od_lzma_dec *d, uint8_t props, uint32_t dict_size, void *work,
                         size_t work_size);

/*
 * Starts a new independent stream on an initialised d with the same props,
 * dictionary size and workspace: the model and history are reset (a
 * distance into the old stream is a data error) and a sticky STREAM_END or
 * DATA_ERROR is cleared. Does nothing on a d whose init failed.
 */
void od_lzma_reset(od_lzma_dec *d);

/*
 * Decodes as much as the given input and output room allow.
 *   in[*in_pos .. in_size)    compressed bytes; *in_pos is advanced past the
 *                             bytes taken. Up to OD_LZMA_TEMP_SIZE - 1 bytes
 *                             may be taken into the decoder's carry buffer
 *                             before they can be decoded; nothing past the
 *                             end-of-payload marker is ever taken, so after
 *                             STREAM_END *in_pos is just past the stream.
 *   out[*out_pos .. out_size) room for decoded bytes; *out_pos is advanced.
 * Either buffer may be NULL when its range is empty. Neither is retained
 * across calls: history lives in the workspace.
 * Returns:
 *   OD_LZMA_OK          progress was made (or this is the first call in a row
 *                       without progress); call again with more input and/or
 *                       output room.
 *   OD_LZMA_STREAM_END  the end-of-payload marker was decoded and the range
 *                       coder ended cleanly; repeats on later calls, which
 *                       take no input.
 *   OD_LZMA_DATA_ERROR  corrupt stream; sticky until od_lzma_reset().
 *   OD_LZMA_OPTIONS_ERROR, OD_LZMA_MEM_ERROR  od_lzma_init() failed on d.
 *   OD_LZMA_BUF_ERROR   neither this call nor the previous one could take or
 *                       produce a byte; not fatal, supply input or output
 *                       room and call again.
 * The marker is decoded even when out has no room left, so a caller that
 * sizes out to the exact payload still sees STREAM_END.
 */
od_lzma_ret od_lzma_decode(od_lzma_dec *d, const uint8_t *in, size_t *in_pos, size_t in_size,
                           uint8_t *out, size_t *out_pos, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* OD_LZMA_H */
