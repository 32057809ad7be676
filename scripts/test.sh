#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the optimised build
# (unit, property, packaging, Redis, RocksDB, crash and cross-store tests; the
# Redis tests start their own redis-servers in the build directory), then the
# tests that run threads again under ThreadSanitizer, and the unit, Redis and
# daemon tests (sluiced's unit and end-to-end tests among them) again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "### release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release

echo "### ThreadSanitizer build and the tests that run threads"
# Single-threaded sweeps (every bit flip, every crash point, property tests
# over many seeds, cross-checks of extreme values) have nothing a thread could
# race on and cost minutes under TSan: the release and ASan runs cover them.
# GTEST_FILTER reaches the test binaries CTest runs whole (redis.backend,
# rocksdb.store); discovered tests get their own --gtest_filter, so -E
# removes those.
tsan_sweeps='BitFlips|TruncatedStreams|TenThousandKeys|RandomCrashPoints|PowerLoss|LargeObjects'
tsan_sweeps+='|RoundTripsThroughParseDuration|RandomRecordsSurvive|AlgorithmPropertyTest|ZstdExportTest'
cmake --preset tsan >/dev/null
cmake --build --preset tsan
TSAN_OPTIONS=halt_on_error=1 GTEST_FILTER='-*Extreme*:*EndOfTime*:*DecidesLikeTheAlgorithm*' \
  ctest --preset tsan -LE 'packaging|crash' -E "$tsan_sweeps"

echo "### ASan + UBSan build and tests"
cmake --preset asan >/dev/null
cmake --build --preset asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --preset asan
