# od_inflate: raw DEFLATE decoder of the applier, checked against zlib.
od_add_test(test_inflate ${CMAKE_CURRENT_SOURCE_DIR}/test_inflate.c)
target_link_libraries(test_inflate PRIVATE od_patch ZLIB::ZLIB)
