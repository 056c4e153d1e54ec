# The applier as a tiny-profile bootloader builds it: its own copy of the
# freestanding sources with -DOD_CONFIG="od_profile_tiny.h" and the portable
# hashes, no host library linked (they hold the full-profile applier).
od_add_test(test_profile ${CMAKE_CURRENT_SOURCE_DIR}/test_profile.c
  ${PROJECT_SOURCE_DIR}/patch/od_patch.c ${PROJECT_SOURCE_DIR}/pkgfmt/od_pkg_read.c
  ${PROJECT_SOURCE_DIR}/pkgfmt/od_sha256.c ${PROJECT_SOURCE_DIR}/pkgfmt/od_crc32.c)
target_include_directories(test_profile PRIVATE ${PROJECT_SOURCE_DIR}/patch
  ${PROJECT_SOURCE_DIR}/patch/profiles ${PROJECT_SOURCE_DIR}/pkgfmt
  ${CMAKE_CURRENT_SOURCE_DIR}/files)
target_compile_definitions(test_profile PRIVATE "OD_CONFIG=\"od_profile_tiny.h\"")
