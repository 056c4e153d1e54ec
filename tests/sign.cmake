# Package signatures, the update policy and the CLI signing commands
# (pkgfmt/od_pkg_sign.c, cli/od_cli_sign.c). Until pkgfmt/CMakeLists.txt
# lists od_pkg_sign.c in od_pkgfmt, the test compiles it itself.
get_target_property(_od_pkgfmt_srcs od_pkgfmt SOURCES)
set(_od_sign_srcs ${CMAKE_CURRENT_SOURCE_DIR}/test_sign.c ${PROJECT_SOURCE_DIR}/cli/od_cli_sign.c
    ${PROJECT_SOURCE_DIR}/cli/od_cli_util.c)
if(NOT _od_pkgfmt_srcs MATCHES "od_pkg_sign\\.c")
  list(APPEND _od_sign_srcs ${PROJECT_SOURCE_DIR}/pkgfmt/od_pkg_sign.c)
endif()
od_add_test(test_sign ${_od_sign_srcs})
target_include_directories(test_sign PRIVATE ${PROJECT_SOURCE_DIR}/cli)
target_link_libraries(test_sign PRIVATE od_diff od_patch od_pkgfmt OpenSSL::Crypto)
# A key loader that waited on a FIFO would hang, not fail: bound it.
set_tests_properties(test_sign PROPERTIES TIMEOUT 300)
