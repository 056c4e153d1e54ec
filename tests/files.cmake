# Sample packages in tests/files: the reader (od_pkg_check) and the applier
# (od_patch_feed, 1-byte and 1 KiB chunks) must give exactly the result
# tests/files/README.md documents for each, and good ones the exact image.
od_add_test(test_files ${CMAKE_CURRENT_SOURCE_DIR}/test_files.c)
target_include_directories(test_files PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/files)
target_link_libraries(test_files PRIVATE od_patch od_pkgfmt od_diff)

# The generator of those samples. Not part of the default build: the
# committed samples are a compatibility corpus, regenerated only on purpose
# (see tests/files/README.md). -DOD_BUILD_MKFILES=ON adds it to `all`;
# otherwise `cmake --build BUILD --target mkfiles` builds it on demand.
option(OD_BUILD_MKFILES "Build tests/files/mkfiles (sample package generator)" OFF)
if(OD_BUILD_MKFILES)
  add_executable(mkfiles ${CMAKE_CURRENT_SOURCE_DIR}/files/mkfiles.c)
else()
  add_executable(mkfiles EXCLUDE_FROM_ALL ${CMAKE_CURRENT_SOURCE_DIR}/files/mkfiles.c)
endif()
target_link_libraries(mkfiles PRIVATE od_diff od_pkgfmt)
