# Generator + applier end to end (corpus, codecs, chunk sizes, resume, edges).
od_add_test(test_roundtrip ${CMAKE_CURRENT_SOURCE_DIR}/test_roundtrip.c)
target_link_libraries(test_roundtrip PRIVATE od_diff od_patch od_pkgfmt)
set_tests_properties(test_roundtrip PROPERTIES TIMEOUT 1200)
