# The CLI's --resume survives kill -9 at random moments.
if(TARGET otadelta)
  add_test(NAME cli_resume_kill
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/resume_kill.sh $<TARGET_FILE:otadelta> ${CMAKE_CURRENT_BINARY_DIR}/resume_kill)
  set_tests_properties(cli_resume_kill PROPERTIES TIMEOUT 300)
endif()
