#!/usr/bin/env bash
# Sets everything up and runs every test: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build, each through CTest.
# Corpus tests use ../shared/corpus beside the checkout when it exists and
# skip (saying so) when it does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

# Fuzzing needs clang and its libFuzzer runtime; the server its libraries
# (HTTPS: GnuTLS, the library Debian's libmicrohttpd is built with, which
# the server calls itself to reload its certificate; the TLS tests' client
# uses libssl from libssl-dev).
OD_SETUP_EXTRA="clang libclang-rt-14-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev \
  libsqlite3-dev libcurl4-openssl-dev \
  ${OD_SETUP_EXTRA:-}" "$root/scripts/setup.sh"
fuzz_seconds=${OD_FUZZ_SECONDS:-60}

echo "== build and test (RelWithDebInfo)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOD_BUILD_SERVER=ON >/dev/null
cmake --build "$root/build" -j"$jobs"
(cd "$root/build" && ctest --output-on-failure -j"$jobs")

echo "== footprint of the applier on Cortex-M (bench/footprint.sh)"
OTADELTA="$root/build/cli/otadelta" FOOTPRINT_OUT="$root/build/FOOTPRINT.md" \
  "$root/bench/footprint.sh" >/dev/null
sed -n '1,/^## /p' "$root/build/FOOTPRINT.md" | sed '$d'

# With the MCU's own (portable) SHA-256, MD5 and CRC-32 instead of the host's
# OpenSSL/zlib port, so every test also runs the hash code the device runs.
echo "== build and test (ASan + UBSan, portable hashes)"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DOD_SANITIZE=ON \
  -DOD_BUILD_SERVER=ON -DOD_HOST_HASH_OPENSSL=OFF >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
# The 64 MiB pair runs in the normal build; under ASan it only costs time.
(cd "$root/build-asan" && OD_SKIP_LARGE=1 ctest --output-on-failure -j"$jobs")

echo "== fuzz: every libFuzzer harness for ${fuzz_seconds} s (ASan + UBSan)"
CC=clang cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOD_BUILD_FUZZ=ON -DOD_BUILD_TESTS=OFF -DOD_BUILD_CLI=OFF >/dev/null
cmake --build "$root/build-fuzz" -j"$jobs"
"$root/fuzz/run.sh" "$root/build-fuzz" "$fuzz_seconds"
