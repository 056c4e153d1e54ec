# cmake -DPROBE=<library of od_install_probe.c> -DIN=<od_install_config.h.in>
#       -DOUT=<od_install_config.h> -P od_install_config.cmake
# Writes the installed od_install_config.h from the values the probe was
# compiled to (see od_install_probe.c): each layout setting is pinned to the
# libraries' value, and a consumer that sets another one gets an #error.
cmake_minimum_required(VERSION 3.16)
file(STRINGS "${PROBE}" entries REGEX "[0-9]+ OD_[A-Z0-9_]+$")
set(settings "")
foreach(entry IN LISTS entries)
  string(REGEX MATCH "0*([0-9]+) (OD_[A-Z0-9_]+)$" _ "${entry}")
  list(APPEND settings "${CMAKE_MATCH_2}=${CMAKE_MATCH_1}")
endforeach()
list(REMOVE_DUPLICATES settings)
list(SORT settings)
set(OD_INSTALL_SETTINGS "")
set(names "")
foreach(setting IN LISTS settings)
  string(REPLACE "=" ";" setting "${setting}")
  list(GET setting 0 name)
  list(GET setting 1 value)
  list(APPEND names ${name})
  if(name MATCHES "^OD_INSTALL_")
    string(APPEND OD_INSTALL_SETTINGS "\n#define ${name} ${value}u\n")
    continue()
  endif()
  string(APPEND OD_INSTALL_SETTINGS "
#if defined(${name}) && (${name}) != ${value}
#error \"${name}: the installed otadelta libraries were built with ${name} ${value} and struct od_patch's layout depends on it. Do not set it (-D or OD_CONFIG) when using them; for other settings compile the otadelta sources into your build (docs/PORTING.md).\"
#endif
#ifndef ${name}
#define ${name} ${value}
#endif
")
endforeach()
if(NOT "OD_INSTALL_PATCH_SIZE" IN_LIST names OR NOT "OD_HAS_LZMA" IN_LIST names)
  message(FATAL_ERROR "No settings found in ${PROBE}: the probe must be a plain object (no LTO)")
endif()
configure_file("${IN}" "${OUT}" @ONLY)
