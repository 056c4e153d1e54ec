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
libdir=$(cd "$prefix" && ls -d lib*/pkgconfig/otadelta.pc 2>/dev/null | head -n 1)
pcdir=$prefix/$(dirname "${libdir:-lib/pkgconfig/x}")
export PKG_CONFIG_PATH=$pcdir
# The .pc's directories exist (its prefix is computed relative to itself).
inc=$(pkg-config --variable=includedir otadelta)
if [ -f "$inc/od_patch.h" ] && [ -d "$(pkg-config --variable=libdir otadelta)" ]; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: otadelta.pc points at '$inc'"; fi
# Plain --libs links: the libraries are static, so their dependencies are
# Requires, not Requires.private.
if cc "$work/consumer/use.c" -o "$work/use_pc" $(pkg-config --cflags --libs otadelta) &&
   "$work/use_pc"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: pkg-config consumer"; fi
# Without the .pc's -D flags the headers still give struct od_patch the
# libraries' layout (od_install_config.h): the hash setting must match.
want=$(sed -n 's/.*-DOD_HASH_OPENSSL=\([0-9]\).*/\1/p' "$pcdir/otadelta.pc")
got=$(printf '#include "od_patch.h"\nOD_HASH_OPENSSL\n' | cc -E -P -I"$inc" - 2>/dev/null | tail -n 1)
if [ "${want:-0}" = "${got/OD_HASH_OPENSSL/0}" ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: headers alone give OD_HASH_OPENSSL=$got, libraries $want"; fi
# The applier's and generator's headers pull in no OpenSSL header (so no
# deprecated declaration a consumer's OPENSSL_NO_DEPRECATED would hide).
deps=$(printf '#include "od_patch.h"\n#include "od_diff.h"\n' | cc -M -I"$inc" -x c - 2>&1)
if [ -n "$deps" ] && ! grep -q openssl <<<"$deps"; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: od_patch.h/od_diff.h include OpenSSL headers"; fi
if cmake -S "$work/consumer" -B "$work/consumer/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
   cmake --build "$work/consumer/b" >/dev/null && "$work/consumer/b/use"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: find_package consumer"; fi
# Every symbol the installed libraries define for others to link starts
# with od_ (od__ marks a library's internals), so none can collide with a
# consumer's own names.
strays=$(for a in "$prefix"/lib*/libod_*.a; do nm -g --defined-only "$a"; done 2>/dev/null |
         awk 'NF == 3 && $3 !~ /^od_/ { print $3 }' | sort -u)
nlibs=$(ls "$prefix"/lib*/libod_*.a 2>/dev/null | wc -l)
if [ "$nlibs" -ge 4 ] && [ -z "$strays" ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: $nlibs libraries; symbols outside od_:" $strays; fi
[ -x "$prefix/bin/otadelta" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: no CLI installed"; }
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
