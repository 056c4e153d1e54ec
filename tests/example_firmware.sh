#!/usr/bin/env bash
# Builds both example firmware releases, makes a package with every codec,
# applies it with the MCU applier in 1 KiB chunks and checks the result.
set -u
otadelta=$1 src=$2 out=$3
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc not installed"; exit 77; }
rm -rf "$out" && mkdir -p "$out"
"$src/build.sh" "$out/fw" >/dev/null || { echo "firmware build failed"; exit 1; }
pass=0 fail=0
for codec in lzma deflate none; do
    if "$otadelta" diff "$out/fw/fw-v1.bin" "$out/fw/fw-v2.bin" -o "$out/$codec.otad" -q \
           --from-version 1.0.3 --to-version 1.1.0 --codec "$codec" --exact-codec &&
       "$otadelta" apply "$out/fw/fw-v1.bin" "$out/$codec.otad" -o "$out/$codec.bin" -q --chunk 1024 &&
       cmp -s "$out/fw/fw-v2.bin" "$out/$codec.bin"; then
        pass=$((pass + 1)); echo "ok: $codec ($(stat -c %s "$out/$codec.otad") bytes)"
    else
        fail=$((fail + 1)); echo "FAIL: $codec"
    fi
done
# The ELF the toolchain made is refused as an image, and the command the
# refusal gives makes exactly the .bin the build ships.
hint=$("$otadelta" diff "$out/fw/fw-v1.elf" "$out/fw/fw-v2.bin" -o "$out/elf.otad" \
           --from-version 1.0.3 --to-version 1.1.0 2>&1 >/dev/null)
rc=$?
cmd=$(printf '%s\n' "$hint" | sed -n 's/.*for Arm: \(arm-none-eabi-objcopy -O binary .*\) OUT.bin (or pass.*/\1/p')
if [ "$rc" = 2 ] && [ -n "$cmd" ] && [ ! -e "$out/elf.otad" ] &&
   eval "$cmd \"\$out/from-elf.bin\"" && cmp -s "$out/from-elf.bin" "$out/fw/fw-v1.bin"; then
    pass=$((pass + 1)); echo "ok: an ELF as OLD is refused, and its hint makes fw-v1.bin"
else
    fail=$((fail + 1)); echo "FAIL: ELF as OLD (exit $rc): $hint"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
