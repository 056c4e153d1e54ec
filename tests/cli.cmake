# Command-line tests: every command's help, round trips, the documented exit
# codes, error messages and golden outputs (tests/cli/run.sh).
if(TARGET otadelta)
  add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/run.sh $<TARGET_FILE:otadelta>)
  set_tests_properties(cli PROPERTIES TIMEOUT 120)
endif()
