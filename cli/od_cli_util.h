/*
 * od_cli_util.h - what the otadelta command's source files share: exit
 * codes, messages, and file input/output with hard limits and atomic
 * writes. Host-only.
 */
#ifndef OD_CLI_UTIL_H
#define OD_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes, documented in `otadelta --help`, README.md and docs. */
#define OD_CLI_EX_OK 0
#define OD_CLI_EX_USAGE 1    /* bad command line */
#define OD_CLI_EX_INPUT 2    /* an input file missing, unreadable or too large */
#define OD_CLI_EX_PACKAGE 3  /* package invalid, damaged, unsupported or badly signed */
#define OD_CLI_EX_MISMATCH 4 /* wrong old image, or the result does not verify */
#define OD_CLI_EX_OUTPUT 5   /* an output cannot be written */
#define OD_CLI_EX_GENERATE 6 /* generation failed (budget too small, parameters) */

/* Prints "otadelta: <message>" and a newline on stderr. */
void od_cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reads the whole regular file at path, refusing more than limit bytes.
 * On success *out is malloc'd (caller frees) and *size set. Returns an
 * exit code; on failure the reason has been printed.
 */
int od_cli_read_file(const char *path, size_t limit, uint8_t **out, size_t *size);

/*
 * Writes data to path atomically: a temporary file beside it, fsync,
 * rename, so a failure or crash never leaves a partial file under the
 * final name. A symbolic link is followed (the file it names is replaced,
 * the link stays); a path that is neither a regular file nor a directory
 * (a terminal, a pipe, /dev/stdout) is written directly. Returns an exit
 * code; on failure the reason was printed.
 */
int od_cli_write_atomic(const char *path, const uint8_t *data, size_t size);

/* 1 if a and b name the same file: the same string, or two existing paths
 * with the same device and inode. 0 otherwise or when either is NULL. */
int od_cli_same_file(const char *a, const char *b);

/* The value after option argv[*i], advancing *i; NULL (reported) if none. */
const char *od_cli_need_arg(int argc, char **argv, int *i);

#endif
