# od_lzma (the applier's raw LZMA1 decoder) against liblzma's raw encoder.
od_add_test(test_lzma ${CMAKE_CURRENT_SOURCE_DIR}/test_lzma.c)
target_link_libraries(test_lzma PRIVATE od_patch LibLZMA::LibLZMA)
