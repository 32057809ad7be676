#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the optimised build
# (unit, property, packaging tests), then the unit tests again under
# ThreadSanitizer and under AddressSanitizer + UndefinedBehaviorSanitizer
# (unit tests and the Redis tests, which start their own redis-server on a
# Unix socket in the build directory).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "### release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release

echo "### ThreadSanitizer build and unit tests (the concurrency tests under TSan)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan
TSAN_OPTIONS=halt_on_error=1 ctest --preset tsan

echo "### ASan + UBSan build and unit tests"
cmake --preset asan >/dev/null
cmake --build --preset asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --preset asan
