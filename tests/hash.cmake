# od_sha256 / od_md5 / od_crc32 against OpenSSL and zlib.
od_add_test(test_hash ${CMAKE_CURRENT_SOURCE_DIR}/test_hash.c)
target_link_libraries(test_hash PRIVATE od_pkgfmt_core OpenSSL::Crypto ZLIB::ZLIB)
