/*
 * evlog.h - a small in-RAM event log that keeps the most recent entries.
 */
#ifndef EVLOG_H
#define EVLOG_H

#include <stdint.h>

typedef enum {
    EV_BOOT = 0,
    EV_CONFIG,
    EV_COMMAND,
    EV_BAD_COMMAND,
    EV_LED,
    EV_SELFTEST,
    EV_SENSOR,
    EV_FAULT,
    EV_COUNT
} ev_code;

typedef struct {
    uint32_t tick;
    uint16_t code;
    uint16_t arg;
} ev_entry;

#define EVLOG_DEPTH 16u

void evlog_add(ev_code code, uint32_t arg);
/* Entry i counted from the oldest still held; returns 0 or -1. */
int evlog_get(unsigned i, ev_entry *out);
unsigned evlog_count(void);
uint32_t evlog_total(void);
const char *evlog_name(unsigned code);
void evlog_dump(void);

#endif /* EVLOG_H */
