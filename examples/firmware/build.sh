#!/usr/bin/env bash
# Build both releases of the otadelta example firmware.
#
#   examples/firmware/build.sh OUTDIR
#
# Produces OUTDIR/fw-v1.elf fw-v1.bin fw-v2.elf fw-v2.bin (objects go to
# OUTDIR/obj-v1 and OUTDIR/obj-v2). The output is deterministic: no dates,
# no absolute paths (sources are compiled by relative path and debug info
# is remapped), fixed file order, and no build ID.
#
# Environment:
#   CROSS_COMPILE  tool prefix (default: arm-none-eabi-)
#   FW_EXTRA_CFLAGS  appended to the compiler flags (e.g. -DFW_INTERACTIVE=1);
#                    images built with extra flags are not the reference ones.
set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}

[[ $# -eq 1 && -n "$1" ]] || usage

CROSS_COMPILE=${CROSS_COMPILE:-arm-none-eabi-}
CC=${CROSS_COMPILE}gcc
OBJCOPY=${CROSS_COMPILE}objcopy
SIZE=${CROSS_COMPILE}size

for tool in "$CC" "$OBJCOPY"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool not found in PATH." >&2
        echo "       Install the GNU Arm Embedded toolchain (Debian/Ubuntu:" >&2
        echo "       apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)" >&2
        echo "       or set CROSS_COMPILE to its prefix." >&2
        exit 1
    fi
done

FW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
OUTDIR=$(realpath -m -- "$1")

# Generated files never go into the source tree.
case "$OUTDIR/" in
"$FW_DIR"/*)
    echo "error: OUTDIR must be outside the source tree ($FW_DIR)" >&2
    exit 2
    ;;
esac
mkdir -p "$OUTDIR"

# Fixed order; every file is passed by its path relative to FW_DIR.
SOURCES=(
    src/startup.c
    src/main.c
    src/board.c
    src/uart.c
    src/semihost.c
    src/ringbuf.c
    src/fmt.c
    src/crc.c
    src/sha256.c
    src/fixmath.c
    src/filter.c
    src/sensor.c
    src/config.c
    src/evlog.c
    src/image.c
    src/shell.c
    src/selftest.c
)

CPU_FLAGS=(-mcpu=cortex-m3 -mthumb -mfloat-abi=soft)
CFLAGS=(
    "${CPU_FLAGS[@]}"
    -std=c99 -Os -g
    -ffunction-sections -fdata-sections
    -ffreestanding -fno-common -fno-delete-null-pointer-checks
    -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wundef -Wformat=2 -Wno-format-nonliteral
    "-ffile-prefix-map=$FW_DIR=."
    "-ffile-prefix-map=$OUTDIR=."
)
# shellcheck disable=SC2054  # the commas belong to -Wl, options
LDFLAGS=(
    "${CPU_FLAGS[@]}"
    --specs=nano.specs -nostartfiles
    -T fw.ld
    -Wl,--gc-sections -Wl,--build-id=none -Wl,--orphan-handling=warn
    -Wl,--fatal-warnings -Wl,--no-warn-rwx-segments
)

# Pin the locale and the timestamp source for any tool that honours them.
export LC_ALL=C
export SOURCE_DATE_EPOCH=0

build_version() {
    local ver=$1
    local objdir="$OUTDIR/obj-v$ver"
    local elf="$OUTDIR/fw-v$ver.elf"
    local bin="$OUTDIR/fw-v$ver.bin"
    local objs=()
    local src obj

    rm -rf "$objdir"
    mkdir -p "$objdir"
    for src in "${SOURCES[@]}"; do
        obj="$objdir/$(basename "${src%.c}").o"
        # shellcheck disable=SC2086  # FW_EXTRA_CFLAGS is a word list
        (cd "$FW_DIR" && "$CC" "${CFLAGS[@]}" -DFW_VERSION="$ver" ${FW_EXTRA_CFLAGS:-} \
            -c "$src" -o "$obj")
        objs+=("$obj")
    done
    (cd "$FW_DIR" && "$CC" "${LDFLAGS[@]}" "${objs[@]}" -Wl,-Map="$objdir/fw.map" -o "$elf")
    "$OBJCOPY" -O binary "$elf" "$bin"
    chmod 0644 "$elf" "$bin"
    if command -v "$SIZE" >/dev/null 2>&1; then
        "$SIZE" "$elf" | sed -n 2p | awk -v f="fw-v$ver.elf" \
            '{ printf "  %-11s text %6d  data %5d  bss %6d\n", f, $1, $2, $3 }'
    fi
    echo "  fw-v$ver.bin  $(wc -c <"$bin") bytes"
}

echo "building otadelta example firmware into $OUTDIR"
build_version 1
build_version 2
