# CMake toolchain file: Cortex-M4 with arm-none-eabi-gcc.
#   cmake -S . -B build-m4 -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m4.cmake
# Everything else (flags, search paths, options) is in
# toolchain-arm-none-eabi.cmake; see the comments at its top.
# Default is the hard-float ABI with -mfpu=fpv4-sp-d16 (Cortex-M4F, as the
# STM32F4/L4/G4 and nRF52 SDKs build). For an M4 without FPU, or firmware
# built soft-float, add -DOD_ARM_FLOAT_ABI=soft.
set(OD_CORTEX_M_CORE cortex-m4)
include("${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake")
