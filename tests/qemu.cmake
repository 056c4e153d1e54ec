# The applier on an emulated Cortex-M3 (examples/qemu-mps2): every codec on
# the example firmware pair, straight and with forced power cuts, and on
# three real Cortex-M corpus pairs (microbit-v1-minor gets the thumb
# filter, the other two do not). Needs arm-none-eabi-gcc and
# qemu-system-arm; without them one test says why and is skipped (77).
# Each case takes about a second.
find_program(OD_QEMU_ARM qemu-system-arm)
find_program(OD_ARM_NONE_EABI_GCC arm-none-eabi-gcc)
if(NOT TARGET otadelta)
  return()
endif()
if(NOT OD_QEMU_ARM OR NOT OD_ARM_NONE_EABI_GCC)
  add_test(NAME qemu_port COMMAND sh -c
    "echo 'SKIP: qemu-system-arm or arm-none-eabi-gcc not found at configure time'; exit 77")
  set_tests_properties(qemu_port PROPERTIES SKIP_RETURN_CODE 77)
  return()
endif()

set(_od_qemu_dir ${CMAKE_CURRENT_BINARY_DIR}/qemu)
set(_od_qemu_case ${CMAKE_CURRENT_SOURCE_DIR}/qemu/qemu_case.sh)
add_test(NAME qemu_firmware
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/qemu/build_firmware.sh ${_od_qemu_dir}/fw)
set_tests_properties(qemu_firmware PROPERTIES FIXTURES_SETUP od_qemu_fw SKIP_RETURN_CODE 77)

foreach(codec lzma deflate none)
  foreach(reset 0 40)
    if(reset)
      set(_sfx ${codec}_reset)
    else()
      set(_sfx ${codec})
    endif()
    add_test(NAME qemu_fw_${_sfx}
      COMMAND bash ${_od_qemu_case} $<TARGET_FILE:otadelta> ${_od_qemu_dir}/fw_${_sfx} ${codec} ${reset}
              ${_od_qemu_dir}/fw/fw-v1.bin ${_od_qemu_dir}/fw/fw-v2.bin)
    set_tests_properties(qemu_fw_${_sfx} PROPERTIES FIXTURES_REQUIRED od_qemu_fw
      SKIP_RETURN_CODE 77 TIMEOUT 120)
    foreach(pair altos-easymini hackrf-one microbit-v1-minor)
      add_test(NAME qemu_${pair}_${_sfx}
        COMMAND bash ${_od_qemu_case} $<TARGET_FILE:otadelta> ${_od_qemu_dir}/${pair}_${_sfx}
                ${codec} ${reset} --pair ${pair} ${OD_CORPUS_DIR})
      set_tests_properties(qemu_${pair}_${_sfx} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
    endforeach()
  endforeach()
endforeach()
