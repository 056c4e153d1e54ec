#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds small consumers:
# everything through pkg-config and find_package(otadelta), the applier
# alone through otadelta-patch and COMPONENTS od_patch without the
# generator's dependencies, and one with a layout setting of its own.
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
want=$(pkg-config --cflags otadelta | sed -n 's/.*-DOD_HASH_OPENSSL=\([0-9]\).*/\1/p')
got=$(printf '#include "od_patch.h"\nOD_HASH_OPENSSL\n' | cc -E -P -I"$inc" - 2>/dev/null | tail -n 1)
if [ "${want:-0}" = "${got/OD_HASH_OPENSSL/0}" ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: headers alone give OD_HASH_OPENSSL=$got, libraries $want"; fi
# A consumer that sets a layout knob other than the libraries' does not
# compile (the #error names it); the libraries' own value does.
deflate=$(printf '#include "od_patch.h"\nOD_HAS_DEFLATE\n' | cc -E -P -I"$inc" - 2>/dev/null | tail -n 1)
printf '#include "od_patch.h"\nod_patch handle;\n' > "$work/consumer/layout.c"
msg=$(cc -c -DOD_HAS_DEFLATE=$((1 - ${deflate:-1})) -I"$inc" "$work/consumer/layout.c" -o "$work/layout.o" 2>&1)
if [ $? != 0 ] && grep -q 'error.*OD_HAS_DEFLATE.*built with.*PORTING' <<<"$msg" &&
   cc -c -DOD_HAS_DEFLATE="$deflate" -I"$inc" "$work/consumer/layout.c" -o "$work/layout.o"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: OD_HAS_DEFLATE other than the libraries' ($deflate) not refused: $msg"; fi
# The applier's and generator's headers pull in no OpenSSL header (so no
# deprecated declaration a consumer's OPENSSL_NO_DEPRECATED would hide).
deps=$(printf '#include "od_patch.h"\n#include "od_diff.h"\n' | cc -M -I"$inc" -x c - 2>&1)
if [ -n "$deps" ] && ! grep -q openssl <<<"$deps"; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: od_patch.h/od_diff.h include OpenSSL headers"; fi
if cmake -S "$work/consumer" -B "$work/consumer/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
   cmake --build "$work/consumer/b" >/dev/null && "$work/consumer/b/use"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: find_package consumer"; fi
# An applier-only consumer needs neither the generator nor its
# dependencies: liblzma, libdivsufsort and threads are hidden here, and so
# are OpenSSL and zlib unless the libraries hash with them.
cat > "$work/consumer/apply.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "od_patch.h"
static int io(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    (void)ctx, (void)off;
    memset(buf, 0xFF, len);
    return 0;
}
static int put(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return 0;
}
int main(void)
{
    static uint32_t work[1024];
    static const uint8_t junk[32] = "not an otadelta package";
    od_patch_config cfg;
    od_patch p;
    od_sha256_ctx c;
    uint8_t d[OD_SHA256_LEN];
    size_t pos = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.read_old = io;
    cfg.read_new = io;
    cfg.write = put;
    cfg.work = (uint8_t *)work;
    cfg.work_size = sizeof work;
    cfg.page_size = 256;
    cfg.erase_size = 4096;
    if (od_patch_init(&p, &cfg, 0) != OD_PATCH_OK ||
        od_patch_feed(&p, junk, &pos, sizeof junk) != OD_PATCH_ERR_MAGIC)
        return 1;
    od_sha256_init(&c);
    od_sha256_update(&c, "abc", 3);
    od_sha256_final(&c, d);
    if (d[0] != 0xba || d[31] != 0xad)
        return 1;
    printf("ok %s\n", od_patch_strerror(OD_PATCH_ERR_MAGIC));
    return 0;
}
C
mkdir -p "$work/pc" "$work/applier"
hidden=(-DCMAKE_DISABLE_FIND_PACKAGE_LibLZMA=ON -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON)
if [ "${want:-0}" = 1 ]; then
    for m in zlib libcrypto; do cp "$(pkg-config --variable=pcfiledir $m)/$m.pc" "$work/pc/"; done
else
    hidden+=(-DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON)
fi
applier_pc() { PKG_CONFIG_LIBDIR=$pcdir:$work/pc PKG_CONFIG_PATH= pkg-config "$@"; }
flags=$(applier_pc --cflags --libs otadelta-patch)
if ! applier_pc --exists otadelta && [ -n "$flags" ] && ! grep -qE -- '-lod_(diff|pkgfmt)( |$)' <<<"$flags" &&
   cc "$work/consumer/apply.c" -o "$work/apply_pc" $flags && "$work/apply_pc"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: otadelta-patch consumer ('$flags')"; fi
cp "$work/consumer/apply.c" "$work/applier/"
cat > "$work/applier/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.16)
project(applier C)
find_package(otadelta REQUIRED COMPONENTS ${OD_WANT})
if(TARGET otadelta::od_diff OR TARGET otadelta::od_pkgfmt)
  message(FATAL_ERROR "otadelta defined components not asked for")
endif()
add_executable(apply apply.c)
target_link_libraries(apply otadelta::od_patch)
C
applier_cmake() {
    rm -rf "$work/applier/b"
    PKG_CONFIG_LIBDIR=$work/pc PKG_CONFIG_PATH= cmake -S "$work/applier" -B "$work/applier/b" \
        -DCMAKE_PREFIX_PATH="$prefix" "${hidden[@]}" -DOD_WANT="$1" 2>&1
}
if applier_cmake od_patch >/dev/null && cmake --build "$work/applier/b" >/dev/null && "$work/applier/b/apply"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: find_package(otadelta COMPONENTS od_patch) consumer"; fi
# The generator asked for in the same place is refused, naming what is missing.
msg=$(applier_cmake od_diff)
if [ $? != 0 ] && tr -s '\n ' ' ' <<<"$msg" | grep -q 'od_diff needs.*libdivsufsort'; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: find_package(otadelta COMPONENTS od_diff) without libdivsufsort: $msg"; fi
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
