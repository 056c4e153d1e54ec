# CMake toolchain file: Cortex-M0+ with arm-none-eabi-gcc.
#   cmake -S . -B build-m0plus -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m0plus.cmake
# Everything else (flags, search paths, options) is in
# toolchain-arm-none-eabi.cmake; see the comments at its top.
set(OD_CORTEX_M_CORE cortex-m0plus)
include("${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake")
