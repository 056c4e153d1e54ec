# od_sha256 / od_md5 / od_crc32 against OpenSSL and zlib.
# It compiles the portable sources itself, without the host's hash port,
# so that it always tests the code the MCU runs.
od_add_test(test_hash ${CMAKE_CURRENT_SOURCE_DIR}/test_hash.c
  ${PROJECT_SOURCE_DIR}/pkgfmt/od_sha256.c ${PROJECT_SOURCE_DIR}/pkgfmt/od_md5.c
  ${PROJECT_SOURCE_DIR}/pkgfmt/od_crc32.c)
target_include_directories(test_hash PRIVATE ${PROJECT_SOURCE_DIR}/pkgfmt)
target_link_libraries(test_hash PRIVATE OpenSSL::Crypto ZLIB::ZLIB)
