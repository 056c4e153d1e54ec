/*
 * semihost.c - ARM semihosting exit.
 */
#include <stdint.h>

#include "semihost.h"

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;

    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_exit(int status)
{
    if (status == 0) {
        /* On AArch32 the argument is the reason code itself, not a block. */
        semihost_call(SEMIHOST_SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
    } else {
        const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};

        semihost_call(SEMIHOST_SYS_EXIT_EXTENDED, block);
        semihost_call(SEMIHOST_SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_RUNTIME_ERROR_UNKNOWN);
    }
    for (;;)
        __asm__ volatile("wfi");
}
