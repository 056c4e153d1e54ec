/*
 * image.c - firmware information block and image fingerprints.
 */
#include "image.h"

#include "board.h"
#include "crc.h"
#include "fmt.h"
#include "fwconfig.h"
#include "sha256.h"

/* Provided by fw.ld. */
extern const uint8_t __image_start[];
extern const uint8_t __image_end[];
extern const uint8_t __image_size[];
extern uint32_t _sdata[], _ebss[], _estack[];

void Reset_Handler(void);

__attribute__((section(".fw_info"), used))
const fw_info_t g_fw_info = {
    .magic = FW_INFO_MAGIC,
    .header_version = 1,
    .ver_major = FW_VERSION,
    .ver_minor = 0,
    .ver_patch = 0,
    .image_size = (uint32_t)(uintptr_t)__image_size,
    .entry = (uint32_t)(uintptr_t)Reset_Handler,
    .name = FW_NAME,
};

const uint8_t *image_base(void)
{
    return __image_start;
}

size_t image_size(void)
{
    return (size_t)(__image_end - __image_start);
}

void image_sha256(uint8_t digest[32])
{
    sha256(image_base(), image_size(), digest);
}

uint32_t image_crc32(void)
{
    return crc32_update(CRC32_INIT, image_base(), image_size());
}

void image_print_info(void)
{
    uint8_t digest[32];
    unsigned i;

    image_sha256(digest);
    fw_printf("image:   %s %u.%u.%u, header v%u at %p\n", g_fw_info.name,
              g_fw_info.ver_major, g_fw_info.ver_minor, g_fw_info.ver_patch,
              g_fw_info.header_version, (const void *)&g_fw_info);
    fw_printf("size:    %lu bytes (header says %lu), entry %08lx\n",
              (unsigned long)image_size(), (unsigned long)g_fw_info.image_size,
              (unsigned long)g_fw_info.entry);
    fw_printf("ram:     %lu bytes static, stack top %p\n",
              (unsigned long)((uintptr_t)_ebss - (uintptr_t)_sdata), (const void *)_estack);
    fw_printf("crc32:   %08lx\n", (unsigned long)image_crc32());
    fw_printf("sha256:  ");
    for (i = 0; i < 32u; i++)
        fw_printf("%02x", digest[i]);
    fw_printf("\n");
}
