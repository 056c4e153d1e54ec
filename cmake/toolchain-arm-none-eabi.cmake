# CMake toolchain file: bare-metal Cortex-M with the GNU Arm toolchain
# (arm-none-eabi-gcc + newlib), for cross-building the freestanding
# applier library (od_patch + od_pkgfmt_core).
#
# Two ways to use it:
#
#   # one of the per-core wrappers, which set the core and include this file
#   cmake -S . -B build-m0p -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m0plus.cmake
#   cmake -S . -B build-m3  -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m3.cmake
#   cmake -S . -B build-m4  -DCMAKE_TOOLCHAIN_FILE=cmake/cortex-m4.cmake
#
#   # or this file directly, choosing the core with a cache variable
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm-none-eabi.cmake \
#         -DOD_CORTEX_M_CORE=cortex-m4 [-DOD_ARM_FLOAT_ABI=soft]
#
# Variables (cache, may be given with -D):
#   OD_CORTEX_M_CORE   cortex-m0plus | cortex-m3 | cortex-m4   (default cortex-m3)
#   OD_ARM_FLOAT_ABI   cortex-m4 only: hard | softfp | soft    (default hard)
#                      hard/softfp use -mfpu=fpv4-sp-d16. Pick what the
#                      firmware you link into uses: the linker refuses to mix
#                      objects that pass floats in VFP registers with ones
#                      that do not. Cortex-M0+ and M3 have no FPU: always soft.
#   OD_ARM_TOOLCHAIN_PREFIX  tool prefix, default "arm-none-eabi-"; may
#                      include a directory, e.g. /opt/gcc-arm/bin/arm-none-eabi-
#
# Compile flags: -mcpu=<core> -mthumb -ffreestanding -ffunction-sections
# -fdata-sections in CMAKE_C_FLAGS, and -Os for the Release, MinSizeRel and
# RelWithDebInfo configurations (-Og for Debug) instead of CMake's -O2/-O3.
# Position-independent code is switched off: POSITION_INDEPENDENT_CODE adds
# nothing to a library that is linked into a fixed-address image except a
# GOT and slower data access.
#
# Nothing can be linked into an executable without a linker script, so
# try_compile() builds static libraries (CMAKE_TRY_COMPILE_TARGET_TYPE).

# ---------------------------------------------------------------------------
# Second role: this same file is registered below as
# CMAKE_USER_MAKE_RULES_OVERRIDE_C, which CMake includes after it has loaded
# its GNU compiler defaults and before it fills the flag cache entries. Only
# that inclusion sees CMAKE_C_COMPILER_ID; it replaces the per-configuration
# optimisation flags and drops -fPIC, then stops.
if(CMAKE_C_COMPILER_ID)
  set(CMAKE_C_FLAGS_DEBUG_INIT "-Og -g")
  set(CMAKE_C_FLAGS_RELEASE_INIT "-Os -DNDEBUG")
  set(CMAKE_C_FLAGS_MINSIZEREL_INIT "-Os -DNDEBUG")
  set(CMAKE_C_FLAGS_RELWITHDEBINFO_INIT "-Os -g -DNDEBUG")
  set(CMAKE_C_COMPILE_OPTIONS_PIC "")
  set(CMAKE_C_COMPILE_OPTIONS_PIE "")
  return()
endif()

set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

# --- core selection --------------------------------------------------------
# A wrapper sets OD_CORTEX_M_CORE as a normal variable before including this
# file; otherwise it comes from the cache (-D) or defaults to cortex-m3.
if(NOT OD_CORTEX_M_CORE)
  set(OD_CORTEX_M_CORE cortex-m3 CACHE STRING "Cortex-M core: cortex-m0plus, cortex-m3 or cortex-m4")
  set_property(CACHE OD_CORTEX_M_CORE PROPERTY STRINGS cortex-m0plus cortex-m3 cortex-m4)
endif()
if(NOT OD_ARM_FLOAT_ABI)
  set(OD_ARM_FLOAT_ABI hard CACHE STRING "Cortex-M4 float ABI: hard, softfp or soft")
  set_property(CACHE OD_ARM_FLOAT_ABI PROPERTY STRINGS hard softfp soft)
endif()
if(NOT OD_ARM_TOOLCHAIN_PREFIX)
  set(OD_ARM_TOOLCHAIN_PREFIX arm-none-eabi- CACHE STRING "Prefix of the cross tools")
endif()

if(OD_CORTEX_M_CORE STREQUAL "cortex-m0plus" OR OD_CORTEX_M_CORE STREQUAL "cortex-m0+")
  set(_od_cpu_flags "-mcpu=cortex-m0plus -mthumb -mfloat-abi=soft")
elseif(OD_CORTEX_M_CORE STREQUAL "cortex-m3")
  set(_od_cpu_flags "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft")
elseif(OD_CORTEX_M_CORE STREQUAL "cortex-m4")
  if(OD_ARM_FLOAT_ABI STREQUAL "hard" OR OD_ARM_FLOAT_ABI STREQUAL "softfp")
    set(_od_cpu_flags "-mcpu=cortex-m4 -mthumb -mfloat-abi=${OD_ARM_FLOAT_ABI} -mfpu=fpv4-sp-d16")
  elseif(OD_ARM_FLOAT_ABI STREQUAL "soft")
    set(_od_cpu_flags "-mcpu=cortex-m4 -mthumb -mfloat-abi=soft")
  else()
    message(FATAL_ERROR "OD_ARM_FLOAT_ABI must be hard, softfp or soft, not '${OD_ARM_FLOAT_ABI}'")
  endif()
else()
  message(FATAL_ERROR "OD_CORTEX_M_CORE must be cortex-m0plus, cortex-m3 or cortex-m4, not '${OD_CORTEX_M_CORE}'")
endif()

# try_compile() projects re-read this file in a fresh scope: hand them the
# choices that were made here.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
  OD_CORTEX_M_CORE OD_ARM_FLOAT_ABI OD_ARM_TOOLCHAIN_PREFIX)
list(REMOVE_DUPLICATES CMAKE_TRY_COMPILE_PLATFORM_VARIABLES)

# --- tools -----------------------------------------------------------------
get_filename_component(_od_prefix_dir "${OD_ARM_TOOLCHAIN_PREFIX}" DIRECTORY)
get_filename_component(_od_prefix_name "${OD_ARM_TOOLCHAIN_PREFIX}" NAME)
if(_od_prefix_dir)
  find_program(OD_ARM_GCC NAMES "${_od_prefix_name}gcc" PATHS "${_od_prefix_dir}" NO_DEFAULT_PATH)
else()
  find_program(OD_ARM_GCC NAMES "${_od_prefix_name}gcc")
endif()
if(NOT OD_ARM_GCC)
  message(FATAL_ERROR "${OD_ARM_TOOLCHAIN_PREFIX}gcc not found. Install it (Debian/Ubuntu: "
                      "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi) or set "
                      "OD_ARM_TOOLCHAIN_PREFIX.")
endif()
set(CMAKE_C_COMPILER "${OD_ARM_GCC}")
set(CMAKE_ASM_COMPILER "${OD_ARM_GCC}")
# The binutils sit next to the compiler and share its prefix.
get_filename_component(_od_tool_dir "${OD_ARM_GCC}" DIRECTORY)
set(CMAKE_AR "${_od_tool_dir}/${_od_prefix_name}ar" CACHE FILEPATH "Archiver")
set(CMAKE_RANLIB "${_od_tool_dir}/${_od_prefix_name}ranlib" CACHE FILEPATH "Ranlib")
set(CMAKE_OBJCOPY "${_od_tool_dir}/${_od_prefix_name}objcopy" CACHE FILEPATH "Objcopy")
set(CMAKE_SIZE "${_od_tool_dir}/${_od_prefix_name}size" CACHE FILEPATH "Size")

set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# --- flags -----------------------------------------------------------------
set(CMAKE_C_FLAGS_INIT "${_od_cpu_flags} -ffreestanding -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${_od_cpu_flags}")
# For whoever links a test image with this toolchain: newlib-nano, and
# unreferenced sections dropped.
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_od_cpu_flags} --specs=nano.specs -Wl,--gc-sections")
set(CMAKE_USER_MAKE_RULES_OVERRIDE_C "${CMAKE_CURRENT_LIST_FILE}")

# --- search paths ------------------------------------------------------------
# Look for libraries, headers and packages only in the target's tree (Arm's
# release layout: <prefix>/arm-none-eabi; Debian's: /usr/lib/arm-none-eabi),
# never on the host; programs do come from the host.
set(CMAKE_FIND_ROOT_PATH "")
foreach(_od_root "${_od_tool_dir}/../arm-none-eabi" "${_od_tool_dir}/../lib/arm-none-eabi")
  get_filename_component(_od_root "${_od_root}" ABSOLUTE)
  if(IS_DIRECTORY "${_od_root}")
    list(APPEND CMAKE_FIND_ROOT_PATH "${_od_root}")
  endif()
endforeach()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
