/*
 * config.h - persistent settings kept in a CRC-protected block in the
 * last flash page of the application slot (simulated in RAM here, since
 * QEMU's SSRAM "flash" is not programmed through a flash controller).
 *
 * Layout 1 (firmware 1.x) and layout 2 (firmware 2.x) share a header; a
 * 2.x firmware that finds a valid layout 1 block migrates it, so settings
 * survive the update.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "fwconfig.h"

#define CONFIG_MAGIC 0x47464e43u /* "CNFG" */
#define CONFIG_PAGE_SIZE 256u

typedef struct {
    uint32_t magic;
    uint16_t layout;
    uint16_t length;       /* bytes covered by the CRC, header included */
    uint32_t sequence;     /* incremented by every save */
    uint8_t led_mask;
    uint8_t verbose;
    int16_t temp_offset_dc;
    int16_t iir_alpha_q15;
    uint16_t report_ms;
#if FW_CONFIG_LAYOUT >= 2
    uint16_t stats_window; /* layout 2 */
    uint16_t reserved;
#endif
    uint32_t crc32;        /* over everything above */
} fw_config;

typedef enum {
    CFG_OK = 0,
    CFG_DEFAULTS = 1, /* nothing valid stored; defaults loaded */
    CFG_MIGRATED = 2, /* an older layout was converted */
} cfg_status;

/* The live configuration. */
extern fw_config g_config;

cfg_status cfg_load(void);
int cfg_save(void);
void cfg_defaults(fw_config *c);
/* Validates and decodes a raw page image into *out (any known layout). */
cfg_status cfg_decode(const uint8_t *page, size_t len, fw_config *out);
/* Encodes c as the current layout into page; returns the byte count. */
size_t cfg_encode(fw_config *c, uint8_t *page, size_t size);

/* Named access for the shell: returns 0 or -1 for an unknown key / bad value. */
int cfg_set(const char *key, long value);
void cfg_print(void);

#endif /* CONFIG_H */
