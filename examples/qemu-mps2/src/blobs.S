/*
 * blobs.S - links the running image and the package into "flash". The
 * build passes their paths (generated files, never committed):
 *   -DOD_OLD_BIN=\"path/old.bin\" -DOD_PKG_BIN=\"path/update.otad\"
 */
    .section .blob.old, "a"
    .balign 4
    .global od_blob_old
od_blob_old:
    .incbin OD_OLD_BIN
    .global od_blob_old_end
od_blob_old_end:

    .section .blob.pkg, "a"
    .balign 4
    .global od_blob_pkg
od_blob_pkg:
    .incbin OD_PKG_BIN
    .global od_blob_pkg_end
od_blob_pkg_end:
