#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a small consumer
# twice: through pkg-config and through find_package(otadelta).
set -u
build=$1 work=$2
rm -rf "$work" && mkdir -p "$work/consumer" || exit 1
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL: install"; exit 1; }
cat > "$work/consumer/use.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "od_diff.h"
#include "od_patch.h"
int main(void)
{
    od_diff_params p;
    uint8_t a[64] = {1}, b[64] = {2}, *pkg;
    size_t n;
    od_pkg_header h;
    od_diff_params_init(&p);
    p.source_version = "1";
    p.target_version = "2";
    if (od_diff_create(a, sizeof a, b, sizeof b, &p, &pkg, &n) != OD_DIFF_OK)
        return 1;
    if (od_pkg_parse_header(pkg, n, &h) != OD_PKG_OK || h.target_size != sizeof b)
        return 1;
    free(pkg);
    printf("ok %u\n", od_version());
    return 0;
}
C
cat > "$work/consumer/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(otadelta REQUIRED)
add_executable(use use.c)
target_link_libraries(use otadelta::od_diff otadelta::od_patch)
C
pass=0 fail=0
if PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc "$work/consumer/use.c" -o "$work/use_pc" \
     $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs --static otadelta) &&
   "$work/use_pc"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: pkg-config consumer"; fi
if cmake -S "$work/consumer" -B "$work/consumer/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
   cmake --build "$work/consumer/b" >/dev/null && "$work/consumer/b/use"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: find_package consumer"; fi
[ -x "$prefix/bin/otadelta" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: no CLI installed"; }
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
