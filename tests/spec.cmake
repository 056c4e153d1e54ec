# FORMAT.md as a specification: tests/spec/od_spec_read.py is a package reader
# written from the document alone (Python standard library only). It must
# rebuild every good sample and every package the CLI makes (each codec, delta
# and full, signed, several blocks; the example firmware, a synthesized Thumb
# pair and three corpus pairs) byte for byte, and refuse every bad sample for
# the reason tests/files/README.md gives (tests/spec/run_spec.py). Without a
# Python 3 interpreter one test says so and is skipped (77).
find_package(Python3 COMPONENTS Interpreter)
if(NOT TARGET otadelta)
  return()
endif()
if(NOT Python3_Interpreter_FOUND)
  add_test(NAME spec COMMAND sh -c "echo 'SKIP: no Python 3 interpreter found at configure time'; exit 77")
  set_tests_properties(spec PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

# The images tests/files was made from, which the reader needs as --old; the
# same od_sample_images.h test_files.c rebuilds them with.
add_executable(od_spec_images ${CMAKE_CURRENT_SOURCE_DIR}/spec/od_spec_images.c)
target_include_directories(od_spec_images PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/files)

add_test(NAME spec
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/spec/run_spec.py
          --reader ${CMAKE_CURRENT_SOURCE_DIR}/spec/od_spec_read.py
          --otadelta $<TARGET_FILE:otadelta> --images $<TARGET_FILE:od_spec_images>
          --files ${CMAKE_CURRENT_SOURCE_DIR}/files
          --firmware ${PROJECT_SOURCE_DIR}/examples/firmware
          --corpus ${OD_CORPUS_DIR} --work ${CMAKE_CURRENT_BINARY_DIR}/spec)
set_tests_properties(spec PROPERTIES TIMEOUT 180)
