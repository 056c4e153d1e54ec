/*
 * evlog.c - in-RAM event log.
 */
#include "evlog.h"

#include "board.h"
#include "fmt.h"

static ev_entry entries[EVLOG_DEPTH];
static uint32_t total;

static const char *const names[EV_COUNT] = {
    "boot", "config", "command", "bad-command", "led", "selftest", "sensor", "fault",
};

void evlog_add(ev_code code, uint32_t arg)
{
    uint32_t primask = irq_save();
    ev_entry *e = &entries[total % EVLOG_DEPTH];

    e->tick = board_ticks();
    e->code = (uint16_t)code;
    e->arg = arg > 0xffffu ? 0xffffu : (uint16_t)arg;
    total++;
    irq_restore(primask);
}

unsigned evlog_count(void)
{
    return total < EVLOG_DEPTH ? (unsigned)total : EVLOG_DEPTH;
}

uint32_t evlog_total(void)
{
    return total;
}

int evlog_get(unsigned i, ev_entry *out)
{
    uint32_t first = total - evlog_count();

    if (i >= evlog_count())
        return -1;
    *out = entries[(first + i) % EVLOG_DEPTH];
    return 0;
}

const char *evlog_name(unsigned code)
{
    return code < EV_COUNT ? names[code] : "?";
}

void evlog_dump(void)
{
    unsigned i;
    ev_entry e;

    fw_printf("%lu events, last %u:\n", (unsigned long)total, evlog_count());
    for (i = 0; evlog_get(i, &e) == 0; i++)
        fw_printf("  [%8lu ms] %-12s %u\n", (unsigned long)e.tick, evlog_name(e.code), e.arg);
}
