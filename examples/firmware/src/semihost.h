/*
 * semihost.h - the two ARM semihosting calls the firmware needs to end a
 * run under QEMU (or a debugger) with a meaningful exit status.
 *
 * Semihosting traps with BKPT 0xAB. Without a debugger or QEMU's
 * -semihosting flag attached that BKPT escalates to a HardFault, so
 * production firmware would compile this out.
 */
#ifndef SEMIHOST_H
#define SEMIHOST_H

/* Angel reason codes (ARM "Semihosting for AArch32 and AArch64", 2.0). */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023u

#define SEMIHOST_SYS_EXIT 0x18u
#define SEMIHOST_SYS_EXIT_EXTENDED 0x20u

/*
 * status 0: SYS_EXIT with ADP_Stopped_ApplicationExit (host exit code 0).
 * Otherwise SYS_EXIT_EXTENDED carries the status to the host; a host that
 * lacks it falls through to SYS_EXIT with a run-time error (exit code 1).
 */
__attribute__((noreturn)) void semihost_exit(int status);

#endif /* SEMIHOST_H */
