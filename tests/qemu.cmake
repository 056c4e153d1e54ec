# The applier on an emulated Cortex-M3 (examples/qemu-mps2): every codec on
# the example firmware pair, straight and with forced power cuts, and on
# three real Cortex-M corpus pairs (microbit-v1-minor gets the thumb
# filter, the other two do not); then the same port built for a Cortex-M4
# and for ARMv6-M (Cortex-M0/M0+) on their own QEMU boards. Needs arm-none-eabi-gcc and
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

# One board: the example pair and the corpus pairs given, every codec,
# straight and with power cuts. prefix goes in front of each test's name
# (empty for the Cortex-M3 board, the port's own); BOARD is read by
# examples/qemu-mps2/run.sh.
function(od_qemu_board board prefix)
  foreach(codec lzma deflate none)
    foreach(reset 0 40)
      if(reset)
        set(sfx ${codec}_reset)
      else()
        set(sfx ${codec})
      endif()
      add_test(NAME qemu_${prefix}fw_${sfx}
        COMMAND bash ${_od_qemu_case} $<TARGET_FILE:otadelta> ${_od_qemu_dir}/${prefix}fw_${sfx}
                ${codec} ${reset} ${_od_qemu_dir}/fw/fw-v1.bin ${_od_qemu_dir}/fw/fw-v2.bin)
      set_tests_properties(qemu_${prefix}fw_${sfx} PROPERTIES FIXTURES_REQUIRED od_qemu_fw
        SKIP_RETURN_CODE 77 TIMEOUT 120 ENVIRONMENT "BOARD=${board}")
      foreach(pair ${ARGN})
        add_test(NAME qemu_${prefix}${pair}_${sfx}
          COMMAND bash ${_od_qemu_case} $<TARGET_FILE:otadelta> ${_od_qemu_dir}/${prefix}${pair}_${sfx}
                  ${codec} ${reset} --pair ${pair} ${OD_CORPUS_DIR})
        set_tests_properties(qemu_${prefix}${pair}_${sfx} PROPERTIES SKIP_RETURN_CODE 77
          TIMEOUT 120 ENVIRONMENT "BOARD=${board}")
      endforeach()
    endforeach()
  endforeach()
endfunction()

od_qemu_board(mps2-an385 "" altos-easymini hackrf-one microbit-v1-minor)
# The same port built for a Cortex-M4 (mps2-an386, hard-float as the
# footprint's M4) and for ARMv6-M (QEMU's Stellaris board with -cpu
# cortex-m0, as Cortex-M0/M0+ parts run: a smaller instruction set, no
# division instruction); the M0 board's 28 KiB slot takes one corpus pair.
od_qemu_board(mps2-an386 m4_)
od_qemu_board(lm3s6965evb-m0 m0_ altos-easymini)
