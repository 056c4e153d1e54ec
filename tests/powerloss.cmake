# Power loss at every flash operation, torn page programs, dropped
# downloads and cuts during verification (synthetic images always, three
# corpus Cortex-M pairs when OD_CORPUS_DIR exists). Sanitizer builds: set
# OD_SKIP_LARGE=1 (scripts/test.sh does) to tear only every 8th operation.
od_add_test(test_powerloss ${CMAKE_CURRENT_SOURCE_DIR}/test_powerloss.c)
target_link_libraries(test_powerloss PRIVATE od_diff od_patch od_pkgfmt)
set_tests_properties(test_powerloss PROPERTIES TIMEOUT 600)
