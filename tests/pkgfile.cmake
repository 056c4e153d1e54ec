# od_pkg_write_file: durable, atomic replacement of a file (pkgfmt host).
find_package(Threads REQUIRED)
od_add_test(test_pkgfile ${CMAKE_CURRENT_SOURCE_DIR}/test_pkgfile.c)
target_link_libraries(test_pkgfile PRIVATE od_pkgfmt Threads::Threads)
