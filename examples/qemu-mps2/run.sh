#!/usr/bin/env bash
# Runs otadelta's applier on an emulated Cortex-M3 (QEMU mps2-an385), or
# with BOARD on a Cortex-M4 or an ARMv6-M Cortex-M0.
#
#   examples/qemu-mps2/run.sh OLD NEW [CODEC]
#
# 1. makes the package with the host CLI: otadelta diff OLD NEW --codec CODEC
#    (lzma by default; deflate; none);
# 2. builds the port with arm-none-eabi-gcc, linking the applier sources
#    with the profile for that codec (patch/profiles/od_profile_*.h) and
#    OLD and the package into "flash" (.incbin of generated files);
# 3. runs it under qemu-system-arm -M mps2-an385 -semihosting with
#    -icount shift=0 (so instructions can be counted) and a timeout;
# 4. checks that the SHA-256 the device printed is sha256sum NEW, and exits
#    with the device's status (0 = written and verified; 124 = timeout;
#    77 = this QEMU has no such board or CPU, nothing was run).
#
# Environment:
#   OTADELTA      the CLI (default: otadelta in PATH, else ./build/cli/otadelta)
#   OUTDIR        build directory (default: a temporary one, removed after)
#   RESET_AFTER   K > 0: cut power at the K-th page program of the first
#                 RESETS boots (default 1); the device resets and resumes.
#   RESETS        see RESET_AFTER
#   DIFF_ARGS     extra arguments for otadelta diff (e.g. "--block 8192")
#   QEMU_TIMEOUT  seconds (default 60)
#   BOARD         mps2-an385 (default: Cortex-M3), mps2-an386 (Cortex-M4,
#                 built as the footprint's M4 is, hard-float ABI; the same
#                 memory map) or lm3s6965evb-m0 (QEMU's Stellaris board run
#                 with -cpu cortex-m0: ARMv6-M, as Cortex-M0/M0+ parts are;
#                 256 KiB flash, 64 KiB RAM, so the new-image slot is the
#                 top 28 KiB of RAM and images must fit it)
#   CROSS_COMPILE tool prefix (default arm-none-eabi-)
set -euo pipefail

usage() {
    echo "usage: $0 OLD NEW [lzma|deflate|none]" >&2
    exit 2
}
[[ $# -ge 2 && $# -le 3 ]] || usage
old=$1 new=$2 codec=${3:-lzma}
case $codec in
lzma) profile=lzma ;;
deflate) profile=deflate ;;
none) profile=tiny ;;
*) usage ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
CROSS_COMPILE=${CROSS_COMPILE:-arm-none-eabi-}
CC=${CROSS_COMPILE}gcc
QEMU=${QEMU:-qemu-system-arm}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-60}
OTADELTA=${OTADELTA:-$(command -v otadelta || echo "$root/build/cli/otadelta")}

for tool in "$CC" "$QEMU" "$OTADELTA" timeout sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool not found" >&2; exit 2; }
done
[[ -f $old && -f $new ]] || { echo "error: $old or $new missing" >&2; exit 2; }

# The board: how to build for its core and how QEMU runs it.
board=() ldsyms=()
case ${BOARD:=mps2-an385} in
mps2-an385) cpu=(-mcpu=cortex-m3 -mthumb -mfloat-abi=soft) machine=(-M mps2-an385) ;;
mps2-an386) cpu=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
    machine=(-M mps2-an386) ;;
lm3s6965evb-m0)
    cpu=(-mcpu=cortex-m0 -mthumb -mfloat-abi=soft) machine=(-M lm3s6965evb -cpu cortex-m0)
    # RAM: 32 KiB for the program, then the progress cell and the slot,
    # which the ELF does not cover, so a reset leaves them as they were.
    board=(-DPORT_CELL_ADDR=0x20008000u -DPORT_SLOT_ADDR=0x20009000u
           "-DPORT_SLOT_SIZE=(28u << 10)" -DOD_PORT_SYSTICK_HZ=12500000u)
    ldsyms=(-Wl,--defsym=OD_PORT_FLASH_LEN=256K -Wl,--defsym=OD_PORT_RAM_LEN=32K
            -Wl,--defsym=OD_PORT_STACK=4K) ;;
*) echo "error: BOARD must be mps2-an385, mps2-an386 or lm3s6965evb-m0" >&2; exit 2 ;;
esac
# An older QEMU may lack the board (mps2-an386 came in 6.0) or the CPU.
if ! "$QEMU" -M help 2>/dev/null | grep -q "^${machine[1]} " ||
   { [[ ${#machine[@]} -gt 2 ]] && ! "$QEMU" -cpu help 2>/dev/null | grep -qw "${machine[3]}"; }; then
    echo "SKIP: $QEMU cannot run BOARD=$BOARD (${machine[*]})"
    exit 77
fi

if [[ -n ${OUTDIR:-} ]]; then
    out=$OUTDIR
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

# 1. The package, as a release engineer would make it, with exactly the
# codec whose profile runs (without --exact-codec a pair the codec cannot
# shrink would get a codec-none package, and the decoder would go untested).
pkg=$out/update-$codec.otad
# shellcheck disable=SC2086  # DIFF_ARGS is a word list
"$OTADELTA" diff "$old" "$new" -o "$pkg" -q --from-version 1.0.0 --to-version 2.0.0 \
    --codec "$codec" --exact-codec ${DIFF_ARGS:-}

# 2. The device program: port + applier sources + profile + blobs.
cflags=(
    "${cpu[@]}" -std=c99 -Os -g -ffreestanding -ffunction-sections -fdata-sections
    -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wvla -Wundef
    -I"$root/patch/profiles" -I"$root/patch" -I"$root/pkgfmt" -I"$here/src"
    "-DOD_CONFIG=\"od_profile_$profile.h\""
    "-DOD_PORT_RESET_AFTER=${RESET_AFTER:-0}" "-DOD_PORT_RESETS=${RESETS:-1}"
    "-DOD_PORT_BOARD=\"$BOARD\""
    ${board[@]+"${board[@]}"}
)
srcs=(
    "$here/src/startup.c" "$here/src/port.c" "$here/src/main.c"
    "$root/patch/od_patch.c" "$root/patch/od_lzma.c" "$root/patch/od_inflate.c"
    "$root/pkgfmt/od_pkg_read.c" "$root/pkgfmt/od_sha256.c" "$root/pkgfmt/od_md5.c"
    "$root/pkgfmt/od_crc32.c"
)
# With both decoders compiled out, od_patch.c has an unused local and an
# unused parameter (reported upstream); keep them from failing -Werror.
[[ $profile == tiny ]] && cflags+=(-Wno-unused-variable -Wno-unused-parameter)
elf=$out/port-$codec.elf
"$CC" "${cflags[@]}" "${srcs[@]}" \
    -x assembler-with-cpp "$here/src/blobs.S" \
    "-DOD_OLD_BIN=\"$(realpath "$old")\"" "-DOD_PKG_BIN=\"$pkg\"" \
    -T "$here/link.ld" ${ldsyms[@]+"${ldsyms[@]}"} --specs=nano.specs -nostartfiles -Wl,--gc-sections \
    -Wl,--no-warn-rwx-segments -Wl,-Map="$out/port-$codec.map" -o "$elf"

# 3. Run it.
log=$out/qemu-$codec.log
set +e
timeout -k 5 "$QEMU_TIMEOUT" "$QEMU" "${machine[@]}" -nographic -monitor none -serial none \
    -semihosting -icount shift=0 -kernel "$elf" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "error: QEMU did not finish within ${QEMU_TIMEOUT}s" >&2
    exit 124
fi

# 4. What the device hashed must be the new image.
if [[ $status -eq 0 ]]; then
    want=$(sha256sum "$new" | cut -d' ' -f1)
    if ! grep -q "^sha256 $want verified" "$log"; then
        echo "error: device SHA-256 differs from sha256sum $new ($want)" >&2
        exit 3
    fi
    echo "host: sha256sum $(basename "$new") = $want (matches)"
fi
exit "$status"
