# install(): CLI, libraries, headers, the two .pc modules and the CMake package.
# Consumers are built plainly, so only a plain (non-sanitizer) build is
# installable for them.
if(TARGET otadelta AND NOT OD_SANITIZE)
  add_test(NAME install_consumers
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install_check.sh ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install_check)
endif()
