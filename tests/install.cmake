# install(): CLI, libraries, headers, otadelta.pc and the CMake package.
if(TARGET otadelta)
  add_test(NAME install_consumers
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install_check.sh ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install_check)
endif()
