#!/usr/bin/env bash
# Run one image of the example firmware under QEMU's mps2-an385 machine.
#
#   examples/firmware/run-qemu.sh ELF [extra qemu args...]
#
# UART0 goes to stdout. The firmware ends the run through semihosting, and
# its status becomes this script's exit status (0 = self-test passed).
# A hung guest is killed after QEMU_TIMEOUT seconds (default 30) and the
# script then exits 124, as timeout(1) does. Set QEMU_INTERACTIVE=1 to
# connect stdin to the UART (for images built with -DFW_INTERACTIVE=1).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 ELF [extra qemu args...]" >&2
    exit 2
fi

ELF=$1
shift
QEMU=${QEMU:-qemu-system-arm}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-30}

if [[ ! -f "$ELF" ]]; then
    echo "error: $ELF: no such file" >&2
    exit 2
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "error: $QEMU not found (Debian/Ubuntu: apt-get install qemu-system-arm)" >&2
    exit 2
fi
if ! command -v timeout >/dev/null 2>&1; then
    echo "error: timeout(1) not found (coreutils)" >&2
    exit 2
fi

args=(-M mps2-an385 -nographic -monitor none -serial stdio -semihosting -kernel "$ELF" "$@")

set +e
if [[ "${QEMU_INTERACTIVE:-0}" == 1 ]]; then
    # --foreground keeps QEMU in the terminal's process group so it may read it.
    timeout --foreground -k 5 "$QEMU_TIMEOUT" "$QEMU" "${args[@]}"
else
    timeout -k 5 "$QEMU_TIMEOUT" "$QEMU" "${args[@]}" </dev/null
fi
status=$?
set -e

if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "error: $ELF did not finish within ${QEMU_TIMEOUT}s (killed)" >&2
fi
exit "$status"
