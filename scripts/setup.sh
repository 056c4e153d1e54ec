#!/usr/bin/env bash
# Installs what otadelta needs on a Debian machine (bookworm or later).
# Idempotent: only missing packages are installed. Run as root or with sudo
# available. Set OD_SETUP_EXTRA to add packages (the test script adds the
# fuzzing and server toolchains).
set -euo pipefail

pkgs=(build-essential cmake pkg-config zlib1g-dev liblzma-dev libssl-dev
      libdivsufsort-dev gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
      python3 xz-utils time ${OD_SETUP_EXTRA:-})

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    echo "setup: all packages present"
    exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
