/*
 * od_install_probe.c - compiled exactly like od_patch (patch/CMakeLists.txt)
 * so that its object holds, as text, every setting the layout of struct
 * od_patch depends on and the size that results; od_install_config.cmake
 * reads them back into the installed od_install_config.h. Never linked.
 *
 * Each entry is "<10 decimal digits> NAME", a string of its own (found
 * with file(STRINGS)): the digits are a char list, the name a string.
 */
#include "od_patch.h"

#define OD__DIGIT(val, p) (char)('0' + (int)((unsigned long)(val) / (p) % 10u))
#define OD__PROBE(nm, val)                                                               \
    struct od__probe_##nm {                                                              \
        char digits[11];                                                                 \
        char key[sizeof #nm];                                                            \
    } od__probe_##nm = {{OD__DIGIT(val, 1000000000u), OD__DIGIT(val, 100000000u),        \
                         OD__DIGIT(val, 10000000u), OD__DIGIT(val, 1000000u),             \
                         OD__DIGIT(val, 100000u), OD__DIGIT(val, 10000u),                 \
                         OD__DIGIT(val, 1000u), OD__DIGIT(val, 100u), OD__DIGIT(val, 10u), \
                         OD__DIGIT(val, 1u), ' '},                                        \
                        #nm};

#if defined(OD_HASH_OPENSSL) && OD_HASH_OPENSSL
OD__PROBE(OD_HASH_OPENSSL, 1)
#else
OD__PROBE(OD_HASH_OPENSSL, 0)
#endif
OD__PROBE(OD_SHA256_PORT, !!(OD_SHA256_PORT))
OD__PROBE(OD_MD5_PORT, !!(OD_MD5_PORT))
OD__PROBE(OD_HAS_LZMA, !!(OD_HAS_LZMA))
OD__PROBE(OD_HAS_DEFLATE, !!(OD_HAS_DEFLATE))
OD__PROBE(OD_HAS_THUMB, !!(OD_HAS_THUMB))
OD__PROBE(OD_HAS_MD5, !!(OD_HAS_MD5))
OD__PROBE(OD_PATCH_OBUF, OD_PATCH_OBUF)
/* Not a setting: what the ones above (and the ABI) make of the handle. */
OD__PROBE(OD_INSTALL_PATCH_SIZE, sizeof(od_patch))
