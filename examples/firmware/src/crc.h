/*
 * crc.h - checksums used by the firmware.
 *
 *   CRC-32/ISO-HDLC   (zlib, Ethernet)    check("123456789") = 0xCBF43926
 *   CRC-16/IBM-3740   (a.k.a. CCITT-FALSE) check("123456789") = 0x29B1
 *   CRC-8/NRSC-5      (Sensirion sensors) check("123456789") = 0xF7
 */
#ifndef CRC_H
#define CRC_H

#include <stddef.h>
#include <stdint.h>

#define CRC32_INIT 0u
#define CRC16_INIT 0xFFFFu
#define CRC8_INIT 0xFFu

/* Incremental: crc = crc32_update(CRC32_INIT, a, n); crc = crc32_update(crc, b, m); */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);
uint16_t crc16_update(uint16_t crc, const void *data, size_t len);
uint8_t crc8_update(uint8_t crc, const void *data, size_t len);

/* Adler-32 as used by zlib streams. */
uint32_t adler32_update(uint32_t adler, const void *data, size_t len);

#endif /* CRC_H */
