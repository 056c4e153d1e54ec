/*
 * config.c - persistent settings with layout migration.
 */
#include "config.h"

#include <string.h>

#include "crc.h"
#include "filter.h"
#include "fmt.h"

fw_config g_config;

/* Stand-in for the last flash page of the slot. */
static uint8_t config_page[CONFIG_PAGE_SIZE];

/* The on-flash size of layout 1, from magic to crc32 inclusive. */
#define LAYOUT1_SIZE 24u

typedef struct {
    const char *name;
    size_t offset;
    uint8_t size; /* 1, 2 */
    uint8_t is_signed;
    long min, max;
} cfg_field;

static const cfg_field fields[] = {
    {"led_mask", offsetof(fw_config, led_mask), 1, 0, 0, 3},
    {"verbose", offsetof(fw_config, verbose), 1, 0, 0, 2},
    {"temp_offset", offsetof(fw_config, temp_offset_dc), 2, 1, -200, 200},
    {"iir_alpha", offsetof(fw_config, iir_alpha_q15), 2, 1, 1, 32767},
    {"report_ms", offsetof(fw_config, report_ms), 2, 0, 10, 60000},
#if FW_CONFIG_LAYOUT >= 2
    {"stats_window", offsetof(fw_config, stats_window), 2, 0, 4, 1024},
#endif
};

void cfg_defaults(fw_config *c)
{
    memset(c, 0, sizeof *c);
    c->magic = CONFIG_MAGIC;
    c->layout = FW_CONFIG_LAYOUT;
    c->length = FW_CONFIG_LAYOUT >= 2 ? 24u : 20u;
    c->led_mask = 1;
    c->verbose = 1;
    c->temp_offset_dc = 0;
    c->iir_alpha_q15 = filter_default_alpha_q15;
    c->report_ms = 1000;
#if FW_CONFIG_LAYOUT >= 2
    c->stats_window = 64;
#endif
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/*
 * Serialised little-endian, field by field, so the page format does not
 * depend on struct padding. Layout 1:
 *   0 magic, 4 layout, 6 length, 8 sequence, 12 led_mask, 13 verbose,
 *   14 temp_offset, 16 iir_alpha, 18 report_ms, 20 crc32
 * Layout 2 inserts stats_window and reserved at 20 and moves crc32 to 24.
 */
size_t cfg_encode(fw_config *c, uint8_t *page, size_t size)
{
    size_t n = 20;

    if (size < LAYOUT1_SIZE + 4u)
        return 0;
    put32(page + 0, CONFIG_MAGIC);
    put16(page + 4, FW_CONFIG_LAYOUT);
    page[12] = c->led_mask;
    page[13] = c->verbose;
    put16(page + 14, (uint16_t)c->temp_offset_dc);
    put16(page + 16, (uint16_t)c->iir_alpha_q15);
    put16(page + 18, c->report_ms);
#if FW_CONFIG_LAYOUT >= 2
    put16(page + 20, c->stats_window);
    put16(page + 22, 0);
    n = 24;
#endif
    put16(page + 6, (uint16_t)n);
    put32(page + 8, c->sequence);
    c->crc32 = crc32_update(CRC32_INIT, page, n);
    put32(page + n, c->crc32);
    return n + 4u;
}

cfg_status cfg_decode(const uint8_t *page, size_t len, fw_config *out)
{
    uint16_t layout, length;

    cfg_defaults(out);
    if (len < LAYOUT1_SIZE || get32(page) != CONFIG_MAGIC)
        return CFG_DEFAULTS;
    layout = get16(page + 4);
    length = get16(page + 6);
    if (layout < 1 || layout > FW_CONFIG_LAYOUT || length < 20u || length + 4u > len)
        return CFG_DEFAULTS;
    if ((layout == 1 && length != 20u) || (layout == 2 && length != 24u))
        return CFG_DEFAULTS;
    if (crc32_update(CRC32_INIT, page, length) != get32(page + length))
        return CFG_DEFAULTS;

    out->sequence = get32(page + 8);
    out->led_mask = page[12];
    out->verbose = page[13];
    out->temp_offset_dc = (int16_t)get16(page + 14);
    out->iir_alpha_q15 = (int16_t)get16(page + 16);
    out->report_ms = get16(page + 18);
    out->crc32 = get32(page + length);
#if FW_CONFIG_LAYOUT >= 2
    if (layout >= 2) {
        out->stats_window = get16(page + 20);
        return CFG_OK;
    }
    /* Layout 1 has no stats_window: keep the default and re-save. */
    return CFG_MIGRATED;
#else
    return CFG_OK;
#endif
}

cfg_status cfg_load(void)
{
    cfg_status st = cfg_decode(config_page, sizeof config_page, &g_config);

    if (st != CFG_OK)
        cfg_save();
    return st;
}

int cfg_save(void)
{
    uint8_t page[CONFIG_PAGE_SIZE];

    memset(page, 0xff, sizeof page); /* erased flash reads as 0xff */
    g_config.sequence++;
    if (cfg_encode(&g_config, page, sizeof page) == 0)
        return -1;
    memcpy(config_page, page, sizeof page);
    return 0;
}

int cfg_set(const char *key, long value)
{
    size_t i;

    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cfg_field *f = &fields[i];
        uint8_t *p = (uint8_t *)&g_config + f->offset;

        if (strcmp(key, f->name) != 0)
            continue;
        if (value < f->min || value > f->max)
            return -1;
        if (f->size == 1)
            *p = (uint8_t)value;
        else if (f->is_signed)
            *(int16_t *)(void *)p = (int16_t)value;
        else
            *(uint16_t *)(void *)p = (uint16_t)value;
        return 0;
    }
    return -1;
}

void cfg_print(void)
{
    size_t i;

    fw_printf("config layout %u, sequence %lu, crc32 %08lx\n", (unsigned)g_config.layout,
              (unsigned long)g_config.sequence, (unsigned long)g_config.crc32);
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cfg_field *f = &fields[i];
        const uint8_t *p = (const uint8_t *)&g_config + f->offset;
        long v;

        if (f->size == 1)
            v = *p;
        else if (f->is_signed)
            v = *(const int16_t *)(const void *)p;
        else
            v = *(const uint16_t *)(const void *)p;
        fw_printf("  %-13s %6ld  [%ld..%ld]\n", f->name, v, f->min, f->max);
    }
}
