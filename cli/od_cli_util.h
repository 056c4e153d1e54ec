/*
 * od_cli_util.h - what the otadelta command's source files share: exit
 * codes, messages, and file input/output with hard limits and atomic
 * writes. Host-only.
 */
#ifndef OD_CLI_UTIL_H
#define OD_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in `otadelta --help`, README.md and docs. */
#define OD_CLI_EX_OK 0
#define OD_CLI_EX_USAGE 1    /* bad command line */
#define OD_CLI_EX_INPUT 2    /* an input file missing, unreadable, too large or not a raw image */
#define OD_CLI_EX_PACKAGE 3  /* package invalid, damaged, unsupported or badly signed */
#define OD_CLI_EX_MISMATCH 4 /* wrong old image, or the result does not verify */
#define OD_CLI_EX_OUTPUT 5   /* an output cannot be written */
#define OD_CLI_EX_GENERATE 6 /* generation failed (RAM budget too small, out of memory, self-check) */

/* Prints "otadelta: <message>" and a newline on stderr. */
void od_cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reads the whole regular file at path, refusing more than limit bytes
 * and anything but a regular file (a FIFO, device or directory, without
 * blocking on a FIFO).
 * On success *out is malloc'd (caller frees) and *size set. Returns an
 * exit code; on failure the reason has been printed.
 */
int od_cli_read_file(const char *path, size_t limit, uint8_t **out, size_t *size);

/*
 * Writes data to path atomically: a temporary file beside it, fsync,
 * rename, so a failure or crash never leaves a partial file under the
 * final name. A symbolic link is followed (the file it names is replaced,
 * the link stays); a descriptor's name (od_cli_fd_name) is written to that
 * descriptor in place; any other path that is neither a regular file nor a
 * directory (a terminal, a FIFO, /dev/null) is written directly. Returns an exit
 * code; on failure the reason was printed.
 */
int od_cli_write_atomic(const char *path, const uint8_t *data, size_t size);

/*
 * The descriptor that path names by itself: 1 and 2 for /dev/stdout and
 * /dev/stderr, N for /dev/fd/N and /proc/self/fd/N; -1 for any other
 * path. Outputs so named are written to that descriptor, in
 * place: replacing the file behind it would throw away what a shell
 * redirection (`>> log`) meant to keep.
 */
int od_cli_fd_name(const char *path);

/*
 * Checks, before any work is done, that path can take a command's output:
 * not a directory (nor a name ending in '/'), in a directory that exists,
 * not a link to a missing file, an open descriptor if it names one. With
 * resume set (apply --resume, which builds NEW in a file beside it and
 * renames it over NEW) it must also be a regular file or not exist yet.
 * Returns an exit code (OD_CLI_EX_OUTPUT, or OD_CLI_EX_USAGE for what
 * --resume cannot do); on failure the reason was printed.
 */
int od_cli_check_output(const char *path, int resume);

/* A file a command uses, and how its message names it ("OLD", "--key"). */
typedef struct od_cli_file {
    const char *role;
    const char *path; /* NULL: not given */
} od_cli_file;

/*
 * For a file a command writes (role and path): refuses it when it is the
 * same file as any of others[0..n) (the same string, or the same device
 * and inode, so links count; a NULL path, here or in others, never
 * matches), which the command reads or writes for another purpose:
 * writing it would destroy that one.
 * Returns 0, or OD_CLI_EX_USAGE after naming both files and adding hint
 * (what to do instead).
 */
int od_cli_refuse_same(const char *role, const char *path, const od_cli_file *others, size_t n,
                       const char *hint);

/*
 * Where a command's human summary about its output goes: stdout, unless
 * out is not a regular file (a pipe, a terminal, /dev/stdout) or is the
 * file stdout already writes to; then stderr, so that the summary never
 * lands inside the data. Call it before writing out.
 */
FILE *od_cli_summary_stream(const char *out);

/* The value after option argv[*i], advancing *i; NULL (reported) if none. */
const char *od_cli_need_arg(int argc, char **argv, int *i);

#endif
