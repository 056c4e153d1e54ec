# CMake toolchain file: Cortex-M3 with arm-none-eabi-gcc.
#   cmake -S . -B build-m3 -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m3.cmake
# Everything else (flags, search paths, options) is in
# toolchain-arm-none-eabi.cmake; see the comments at its top.
set(OD_CORTEX_M_CORE cortex-m3)
include("${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake")
