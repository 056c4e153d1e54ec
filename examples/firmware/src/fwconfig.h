/*
 * fwconfig.h - the release switch.
 *
 * Both releases are built from the same sources; FW_VERSION (1 or 2,
 * passed by build.sh as -DFW_VERSION=N) selects what each release
 * contains. Every difference is named after the change it makes so the
 * v1 -> v2 changelog in README.md can be read straight off this file.
 */
#ifndef FWCONFIG_H
#define FWCONFIG_H

#ifndef FW_VERSION
#error "define FW_VERSION (1 or 2), e.g. -DFW_VERSION=1"
#endif

#if FW_VERSION == 1
#define FW_VERSION_STRING "1.0.0"
#elif FW_VERSION == 2
#define FW_VERSION_STRING "2.0.0"
#else
#error "FW_VERSION must be 1 or 2"
#endif

#define FW_NAME "otadelta-example-fw"

/* v2: "%05d" of a negative number printed "000-5"; now "-0005". */
#define FW_FIX_FMT_SIGN_PAD (FW_VERSION >= 2)
/* v2: the moving average truncated towards zero (biased low); now rounds. */
#define FW_FIX_AVG_ROUNDING (FW_VERSION >= 2)
/* v2: new median-of-5 spike filter in front of the temperature pipeline. */
#define FW_HAS_MEDIAN_FILTER (FW_VERSION >= 2)
/* v2: new "stats" shell command (running min/max/mean/stddev). */
#define FW_HAS_STATS_CMD (FW_VERSION >= 2)
/* v2: CRC-16 switched from bit-by-bit to a 256-entry table. */
#define FW_CRC16_TABLE (FW_VERSION >= 2)
/* v2: configuration block layout 2 adds stats_window and migrates layout 1. */
#define FW_CONFIG_LAYOUT (FW_VERSION >= 2 ? 2 : 1)
/* v2: the UART receive buffer grew so pasted command lines are not cut. */
#define FW_UART_RX_BUF (FW_VERSION >= 2 ? 256 : 128)
/* Line editor buffer of the shell. */
#define FW_SHELL_LINE_MAX 96
#define FW_SHELL_MAX_ARGS 8

#endif /* FWCONFIG_H */
