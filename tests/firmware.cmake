# The bundled example firmware, both releases, through the CLI: the README's
# main job as a test. Needs arm-none-eabi-gcc; skipped (77) without it.
if(TARGET otadelta)
  add_test(NAME example_firmware
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/example_firmware.sh $<TARGET_FILE:otadelta>
            ${PROJECT_SOURCE_DIR}/examples/firmware ${CMAKE_CURRENT_BINARY_DIR}/example_firmware)
  set_tests_properties(example_firmware PROPERTIES SKIP_RETURN_CODE 77)
endif()
