# Hostile input: mutated packages through the applier and the CLI
# (test_mutate), and the fuzz harnesses built with the normal compiler as
# regress_<harness> tests that replay fuzz/regressions/<harness>/ (committed
# crashers) and, via a fixture, the seed corpora the fuzz build generates.

get_target_property(_od_pkgfmt_srcs od_pkgfmt SOURCES)
set(_od_mutate_extra)
if(NOT _od_pkgfmt_srcs MATCHES "od_pkg_sign\\.c")
  set(_od_mutate_extra ${PROJECT_SOURCE_DIR}/pkgfmt/od_pkg_sign.c)
endif()

od_add_test(test_mutate ${CMAKE_CURRENT_SOURCE_DIR}/test_mutate.c ${_od_mutate_extra})
target_link_libraries(test_mutate PRIVATE od_diff od_patch od_pkgfmt OpenSSL::Crypto)
if(TARGET otadelta)
  set_property(TEST test_mutate APPEND PROPERTY ENVIRONMENT "OD_MUTATE_CLI=$<TARGET_FILE:otadelta>")
  add_dependencies(test_mutate otadelta)
endif()
set_tests_properties(test_mutate PROPERTIES TIMEOUT 600)
if(OD_SANITIZE)
  # ASan/UBSan make each run ~10x slower: fewer mutations, same kinds.
  set_property(TEST test_mutate APPEND PROPERTY ENVIRONMENT "OD_MUTATE_COUNT=1500;OD_MUTATE_CLI_COUNT=40")
endif()

# Seeds for the regress_* replays (same generator as the fuzz build).
set(_od_fuzz_dir ${PROJECT_SOURCE_DIR}/fuzz)
add_executable(regress_mkcorpus ${_od_fuzz_dir}/mkcorpus.c)
target_include_directories(regress_mkcorpus PRIVATE ${_od_fuzz_dir})
target_link_libraries(regress_mkcorpus PRIVATE od_diff od_pkgfmt)
add_test(NAME regress_corpus
  COMMAND regress_mkcorpus ${CMAKE_CURRENT_BINARY_DIR}/regress_corpus)
set_tests_properties(regress_corpus PROPERTIES FIXTURES_SETUP od_regress_corpus)

include(${_od_fuzz_dir}/harnesses.cmake)
# fuzz_srv needs the server's parsers: below, where the server is built.
set(_od_regress_harnesses ${OD_FUZZ_HARNESSES})
list(REMOVE_ITEM _od_regress_harnesses fuzz_srv)
foreach(_h ${_od_regress_harnesses})
  string(REPLACE "fuzz_" "regress_" _t ${_h})
  add_executable(${_t} ${_od_fuzz_dir}/${_h}.c ${_od_fuzz_dir}/regression_driver.c
    ${_od_mutate_extra})
  target_include_directories(${_t} PRIVATE ${_od_fuzz_dir})
  target_link_libraries(${_t} PRIVATE od_diff od_patch od_pkgfmt OpenSSL::Crypto)
  add_test(NAME ${_t} COMMAND ${_t} ${_od_fuzz_dir}/regressions/${_h}
    ${CMAKE_CURRENT_BINARY_DIR}/regress_corpus/${_h})
  set_tests_properties(${_t} PROPERTIES FIXTURES_REQUIRED od_regress_corpus TIMEOUT 300)
endforeach()
# The server's parsers, where the server is built.
if(TARGET od_srv_core)
  add_executable(regress_srv ${_od_fuzz_dir}/fuzz_srv.c ${_od_fuzz_dir}/regression_driver.c)
  target_include_directories(regress_srv PRIVATE ${_od_fuzz_dir})
  target_link_libraries(regress_srv PRIVATE od_srv_core od_pkgfmt)
  add_test(NAME regress_srv COMMAND regress_srv ${_od_fuzz_dir}/regressions/fuzz_srv
    ${CMAKE_CURRENT_BINARY_DIR}/regress_corpus/fuzz_srv)
  set_tests_properties(regress_srv PROPERTIES FIXTURES_REQUIRED od_regress_corpus TIMEOUT 300)
endif()
