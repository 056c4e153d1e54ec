#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install dependencies, build
# otadelta, compile two releases of the example Cortex-M firmware, generate
# the delta package, apply it the way an MCU does (1 KiB chunks through the
# freestanding applier, page writes, read-back verification), and report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${OD_BUILD_DIR:-$root/build}
out=$build/demo

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DOD_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
otadelta=$build/cli/otadelta

mkdir -p "$out"
"$root/examples/firmware/build.sh" "$out/fw" >/dev/null
old=$out/fw/fw-v1.bin new=$out/fw/fw-v2.bin pkg=$out/update.otad

echo "== generate (host, as the platform's online differential does)"
"$otadelta" diff "$old" "$new" -o "$pkg" --from-version 1.0.3 --to-version 1.1.0
echo "== package"
"$otadelta" info "$pkg"
echo "== apply (the MCU applier, fed 1 KiB at a time)"
"$otadelta" apply "$old" "$pkg" -o "$out/fw-restored.bin" --chunk 1024
cmp "$new" "$out/fw-restored.bin"

old_size=$(stat -c %s "$old") new_size=$(stat -c %s "$new") pkg_size=$(stat -c %s "$pkg")
echo "== result"
echo "old image      $old_size bytes"
echo "new image      $new_size bytes"
echo "delta package  $pkg_size bytes ($(python3 -c "print(f'{100*$pkg_size/$new_size:.1f}')")% of the new image, $(python3 -c "print(f'{$new_size/$pkg_size:.1f}')")x smaller)"
echo "restored image identical to v2, sha256 $(sha256sum "$out/fw-restored.bin" | cut -d' ' -f1)"
