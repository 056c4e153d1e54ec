# od_diff_image_kind: build outputs and packages told from raw images (diff).
od_add_test(test_image ${CMAKE_CURRENT_SOURCE_DIR}/test_image.c)
target_link_libraries(test_image PRIVATE od_diff)
