/*
 * od_inflate.h - push-fed raw DEFLATE (RFC 1951) decoder for the applier.
 *
 * Thread-safety: all state is in the caller's od_inflate_dec and window;
 * decoders share nothing.
 *
 * Built for a bootloader: no heap, no libc beyond od_port.h, a fixed-size
 * state struct of about 1 KiB and a history window in memory the caller
 * owns. Input and output arrive in whatever pieces the transport and the
 * flash writer allow, down to one byte each, so the decoder can stop at any
 * byte of input or output and resume exactly there.
 *
 * The Huffman tables are canonical count/symbol lists rather than the big
 * lookup tables zlib uses: decoding walks one bit per code length, which is
 * slower but needs only 2 bytes per symbol, and RAM is what a small MCU
 * lacks. Untrusted input never makes the decoder touch memory out of bounds
 * or assert; every malformed stream ends in OD_INFLATE_DATA_ERROR.
 */
#ifndef OD_INFLATE_H
#define OD_INFLATE_H

#include "od_port.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum od_inflate_ret {
    OD_INFLATE_OK = 0,          /* progress; call again with more input and/or output space */
    OD_INFLATE_STREAM_END = 1,  /* the final block is complete; no more output; trailing input bits of the last byte ignored */
    OD_INFLATE_DATA_ERROR = -1, /* corrupt stream */
    OD_INFLATE_MEM_ERROR = -3,  /* window_size not a power of two in [256, 32768] */
    OD_INFLATE_BUF_ERROR = -4   /* second call in a row with no progress possible */
} od_inflate_ret;

/* Largest symbol counts a table can hold: 288 literal/length codes (fixed
   code) and 32 distance codes (fixed code); the code-length code (19
   symbols) borrows the distance table while a dynamic header is read. */
#define OD_INFLATE_NLEN 288
#define OD_INFLATE_NDIST 32

/*
 * Decoder state. Treat as opaque; it is public only so the caller can place
 * it statically. It holds no pointer into itself, so it may be copied
 * between calls; the only pointer is to the caller's window.
 */
typedef struct od_inflate_dec {
    uint8_t *window;    /* caller's history buffer */
    uint32_t wmask;     /* window_size - 1 */
    uint32_t wpos;      /* next window byte to write */
    uint32_t have;      /* valid history bytes, saturates at window_size */
    uint32_t bits;      /* bit accumulator, LSB first */
    uint16_t len;       /* match or stored bytes still to copy */
    uint16_t dist;      /* match distance */
    uint16_t nlen;      /* dynamic header: literal/length code count */
    uint16_t ndist;     /* dynamic header: distance code count */
    uint16_t ncode;     /* dynamic header: code-length code count */
    uint16_t index;     /* dynamic header: next length to read */
    uint8_t bitcnt;     /* valid bits in the accumulator */
    uint8_t state;      /* where decoding resumes (internal enum) */
    uint8_t last;       /* the current block is the final one */
    uint8_t stalled;    /* the previous call made no progress */
    uint8_t extra;      /* distance extra bits still to read */
    uint16_t lcount[16];               /* literal/length codes per bit length */
    uint16_t lsym[OD_INFLATE_NLEN];    /* literal/length symbols in code order */
    uint16_t dcount[16];               /* distance codes per bit length */
    uint16_t dsym[OD_INFLATE_NDIST];   /* distance symbols in code order */
    uint8_t lens[OD_INFLATE_NLEN + OD_INFLATE_NDIST]; /* code lengths being built */
} od_inflate_dec;

/*
 * Prepares d to decode one raw DEFLATE stream.
 *   d           state to initialise; owned by the caller, no cleanup needed.
 *   window      history memory of window_size bytes; owned by the caller,
 *               must stay valid (and untouched by others) while d is used.
 *               Its prior contents are never read.
 *   window_size power of two in [256, 32768]. It must be at least the
 *               encoder's window (zlib: 1 << windowBits), because a
 *               back-reference farther than window_size, or farther than
 *               the bytes produced so far, is reported as DATA_ERROR.
 * Returns OD_INFLATE_OK, or OD_INFLATE_MEM_ERROR if window is NULL or
 * window_size is out of range; then every od_inflate_decode() on d returns
 * OD_INFLATE_MEM_ERROR too.
 */
od_inflate_ret od_inflate_init(od_inflate_dec *d, void *window, size_t window_size);

/*
 * Starts a new independent stream on an initialised d with the same window.
 * The history is forgotten (a back-reference into the old stream is a data
 * error) and a sticky DATA_ERROR or STREAM_END is cleared. Does nothing
 * useful on a d whose init failed: that one stays in MEM_ERROR.
 */
void od_inflate_reset(od_inflate_dec *d);

/*
 * Decodes as much as the given input and output room allow.
 *   in[*in_pos .. in_size)    compressed bytes; *in_pos is advanced past the
 *                             bytes consumed. Input is taken only when the
 *                             decoder needs more bits, so after STREAM_END
 *                             *in_pos is just past the stream's last byte.
 *   out[*out_pos .. out_size) room for decoded bytes; *out_pos is advanced.
 * Either buffer may be NULL when its range is empty. Nothing is retained
 * from in or out across calls: the history lives in the window.
 * Returns:
 *   OD_INFLATE_OK          progress was made (or this is the first call in a
 *                          row without progress); call again with more input
 *                          and/or output room.
 *   OD_INFLATE_STREAM_END  the final block ended; repeats on later calls.
 *   OD_INFLATE_DATA_ERROR  corrupt stream; sticky until od_inflate_reset().
 *   OD_INFLATE_MEM_ERROR   od_inflate_init() failed on d.
 *   OD_INFLATE_BUF_ERROR   neither this call nor the previous one could
 *                          consume or produce a byte; not fatal, supply
 *                          input or output room and call again.
 */
od_inflate_ret od_inflate_decode(od_inflate_dec *d, const uint8_t *in, size_t *in_pos,
                                 size_t in_size, uint8_t *out, size_t *out_pos,
                                 size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* OD_INFLATE_H */
