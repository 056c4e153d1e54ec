/*
 * image.h - the firmware information block and image-level helpers.
 *
 * The info block sits right after the vector table at a fixed offset
 * (0x100) so a bootloader or the update agent can read the version and
 * size of the image in a slot without running it.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define FW_INFO_MAGIC 0x4641544fu /* "OTAF" */
#define FW_INFO_OFFSET 0x100u

typedef struct {
    uint32_t magic;
    uint8_t header_version;
    uint8_t ver_major;
    uint8_t ver_minor;
    uint8_t ver_patch;
    uint32_t image_size; /* bytes from the slot start to the end of .data's load image */
    uint32_t entry;      /* reset handler address */
    char name[24];
} fw_info_t;

extern const fw_info_t g_fw_info;

const uint8_t *image_base(void);
size_t image_size(void);
void image_sha256(uint8_t digest[32]);
uint32_t image_crc32(void);
void image_print_info(void);

#endif /* IMAGE_H */
