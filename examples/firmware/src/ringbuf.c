/*
 * ringbuf.c - single-producer/single-consumer byte ring buffer.
 */
#include "ringbuf.h"

int rb_init(ringbuf *rb, uint8_t *storage, size_t size)
{
    if (size < 2u || size > 32768u || (size & (size - 1u)) != 0u)
        return -1;
    rb->buf = storage;
    rb->mask = (uint16_t)(size - 1u);
    rb->head = 0;
    rb->tail = 0;
    rb->dropped = 0;
    return 0;
}

size_t rb_count(const ringbuf *rb)
{
    return (uint16_t)(rb->head - rb->tail);
}

size_t rb_space(const ringbuf *rb)
{
    return (size_t)rb->mask + 1u - rb_count(rb);
}

int rb_put(ringbuf *rb, uint8_t c)
{
    uint16_t head = rb->head;

    if ((uint16_t)(head - rb->tail) > rb->mask) {
        rb->dropped++;
        return -1;
    }
    rb->buf[head & rb->mask] = c;
    rb->head = (uint16_t)(head + 1u);
    return 0;
}

int rb_get(ringbuf *rb, uint8_t *c)
{
    uint16_t tail = rb->tail;

    if (tail == rb->head)
        return -1;
    *c = rb->buf[tail & rb->mask];
    rb->tail = (uint16_t)(tail + 1u);
    return 0;
}

int rb_peek(const ringbuf *rb, size_t offset, uint8_t *c)
{
    if (offset >= rb_count(rb))
        return -1;
    *c = rb->buf[(rb->tail + offset) & rb->mask];
    return 0;
}

size_t rb_write(ringbuf *rb, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t n = 0;

    while (n < len && rb_put(rb, p[n]) == 0)
        n++;
    return n;
}

size_t rb_read(ringbuf *rb, void *data, size_t len)
{
    uint8_t *p = data;
    size_t n = 0;

    while (n < len && rb_get(rb, &p[n]) == 0)
        n++;
    return n;
}

void rb_clear(ringbuf *rb)
{
    rb->tail = rb->head;
}
