#!/usr/bin/env bash
# Sets everything up and runs every test: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build, each through CTest.
# Corpus tests use ../shared/corpus beside the checkout when it exists and
# skip (saying so) when it does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

OD_SETUP_EXTRA="${OD_SETUP_EXTRA:-}" "$root/scripts/setup.sh"

echo "== build and test (RelWithDebInfo)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$jobs"
(cd "$root/build" && ctest --output-on-failure -j"$jobs")

echo "== build and test (ASan + UBSan)"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DOD_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
# The 64 MiB pair runs in the normal build; under ASan it only costs time.
(cd "$root/build-asan" && OD_SKIP_LARGE=1 ctest --output-on-failure -j"$jobs")
