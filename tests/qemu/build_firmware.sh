#!/usr/bin/env bash
# Fixture for tests/qemu.cmake: builds both example firmware releases once.
#   build_firmware.sh OUTDIR
set -u
command -v arm-none-eabi-gcc >/dev/null 2>&1 || { echo "SKIP: arm-none-eabi-gcc not installed"; exit 77; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
exec "$here/../../examples/firmware/build.sh" "$1"
