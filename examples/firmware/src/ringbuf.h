/*
 * ringbuf.h - single-producer/single-consumer byte ring buffer.
 *
 * The capacity must be a power of two. Head and tail are free-running
 * 16-bit counters, so all of the storage is usable and the full/empty
 * cases need no extra flag. One side may run in an interrupt handler as
 * long as each index is only written by its own side.
 */
#ifndef RINGBUF_H
#define RINGBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *buf;
    uint16_t mask;
    volatile uint16_t head; /* written by the producer */
    volatile uint16_t tail; /* written by the consumer */
    uint16_t dropped;       /* bytes rejected because the buffer was full */
} ringbuf;

/* Returns 0, or -1 if size is not a power of two between 2 and 32768. */
int rb_init(ringbuf *rb, uint8_t *storage, size_t size);
size_t rb_count(const ringbuf *rb);
size_t rb_space(const ringbuf *rb);
int rb_put(ringbuf *rb, uint8_t c);
int rb_get(ringbuf *rb, uint8_t *c);
int rb_peek(const ringbuf *rb, size_t offset, uint8_t *c);
size_t rb_write(ringbuf *rb, const void *data, size_t len);
size_t rb_read(ringbuf *rb, void *data, size_t len);
void rb_clear(ringbuf *rb);

#endif /* RINGBUF_H */
