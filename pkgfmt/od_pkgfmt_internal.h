/*
 * od_pkgfmt_internal.h - shared between pkgfmt's host files; not installed.
 */
#ifndef OD_PKGFMT_INTERNAL_H
#define OD_PKGFMT_INTERNAL_H

#include <stddef.h>

/*
 * The first half of a crash-safe file replacement: writes size bytes of
 * data to a new file beside path, named path.tmp.XXXXXX (6 random letters
 * and digits, as mkstemp makes them), created close-on-exec with
 * create_mode less the umask, then given exactly set_mode if that is
 * nonzero, flushed to disk and closed (on Linux written unnamed first,
 * O_TMPFILE, and linked to that name once flushed, so a kill mid-write
 * leaves nothing behind). The caller ends it with rename()
 * (replace) or link() (never overwrite) and removes the temporary name.
 * Returns OD_PKG_OK with *tmp set to the name (malloc'd, for free());
 * OD_PKG_ERR_IO_CREATE when no file could be created beside path (errno
 * ENOMEM: no memory for the name); or OD_PKG_ERR_IO when writing, setting
 * the mode or flushing failed (the file is removed). errno says why.
 */
int od__pkg_write_temp(const char *path, const void *data, size_t size, unsigned create_mode,
                       unsigned set_mode, char **tmp);

#endif /* OD_PKGFMT_INTERNAL_H */
