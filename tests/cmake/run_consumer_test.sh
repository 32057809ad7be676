#!/usr/bin/env bash
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# The packaging.find_package test (registered in tests/CMakeLists.txt):
#   1. installs the already-built project into <work-dir>/prefix;
#   2. configures and builds tests/cmake/find_package against it with
#      find_package(sluice CONFIG), same generator, compiler and configuration;
#   3. runs that consumer;
#   4. compiles a second small program with `pkg-config --cflags --libs sluice`
#      and runs it.
# Arguments (all --name=value): --cmake, --build-dir, --work-dir, --consumer-dir,
# --config, --generator, --make-program, --cxx, --launcher, --flags (extra
# compile+link flags, e.g. -fsanitize=...), --libdir (CMAKE_INSTALL_LIBDIR),
# --pkg-config (empty: step 4 is skipped with a notice).
set -euo pipefail

cmake=cmake build_dir='' work_dir='' consumer_dir='' config='' generator='' make_program='' cxx=c++ launcher=''
flags='' libdir=lib pkg_config=
for arg in "$@"; do
  case "$arg" in
    --cmake=*) cmake="${arg#*=}" ;;
    --build-dir=*) build_dir="${arg#*=}" ;;
    --work-dir=*) work_dir="${arg#*=}" ;;
    --consumer-dir=*) consumer_dir="${arg#*=}" ;;
    --config=*) config="${arg#*=}" ;;
    --generator=*) generator="${arg#*=}" ;;
    --make-program=*) make_program="${arg#*=}" ;;
    --cxx=*) cxx="${arg#*=}" ;;
    --launcher=*) launcher="${arg#*=}" ;;
    --flags=*) flags="${arg#*=}" ;;
    --libdir=*) libdir="${arg#*=}" ;;
    --pkg-config=*) pkg_config="${arg#*=}" ;;
    *) echo "run_consumer_test.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
for required in build_dir work_dir consumer_dir; do
  if [[ -z "${!required}" ]]; then
    echo "run_consumer_test.sh: --${required//_/-} is required" >&2
    exit 2
  fi
done

step() { printf '\n=== %s\n' "$*"; }

prefix="$work_dir/prefix"
rm -rf "$work_dir"
mkdir -p "$work_dir"

step "1. install $build_dir into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" ${config:+--config "$config"}
if [[ -d "$prefix/include/sluice/testing" ]]; then
  echo "FAIL: include/sluice/testing/ was installed (sluice_testing is not)" >&2
  exit 1
fi

step "2. configure and build the find_package consumer"
configure_args=(-S "$consumer_dir" -B "$work_dir/consumer"
  -DCMAKE_PREFIX_PATH="$prefix"
  -DCMAKE_CXX_COMPILER="$cxx"
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
[[ -n "$generator" ]] && configure_args+=(-G "$generator")
[[ -n "$make_program" ]] && configure_args+=(-DCMAKE_MAKE_PROGRAM="$make_program")
[[ -n "$launcher" ]] && configure_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
[[ -n "$config" ]] && configure_args+=(-DCMAKE_BUILD_TYPE="$config")
if [[ -n "$flags" ]]; then
  configure_args+=(-DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags")
fi
"$cmake" "${configure_args[@]}"
"$cmake" --build "$work_dir/consumer" --parallel 2 ${config:+--config "$config"}

step "3. run the find_package consumer"
# A shared libsluice is found through the build RPATH CMake adds for it.
"$work_dir/consumer/bin/consumer"
if [[ -x "$work_dir/consumer/bin/consumer_redis" ]]; then
  LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work_dir/consumer/bin/consumer_redis"
elif [[ -f "$build_dir/sluice-redis-targets.cmake" ]]; then
  echo "FAIL: sluice was built with redis but the consumer could not use sluice::redis" >&2
  exit 1
fi

step "4. build and run a program through pkg-config"
if [[ -z "$pkg_config" ]]; then
  echo "NOTICE: pkg-config not found at configure time; skipping the pkg-config check"
  exit 0
fi
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_flags="$("$pkg_config" --cflags --libs sluice)"
echo "pkg-config --cflags --libs sluice: $pc_flags"
case " $pc_flags " in
  *" -I$prefix/include "*) ;;
  *) echo "FAIL: sluice.pc does not point into $prefix" >&2; exit 1 ;;
esac
cat >"$work_dir/pc_consumer.cc" <<'CC'
// The pure algorithms through pkg-config: a GCRA with a burst of 3 admits three
// requests at one instant and denies the fourth with a retry_after of one period.
#include <chrono>
#include <cstdio>
#include <optional>

#include <sluice/algorithms.h>

int main() {
  using namespace std::chrono_literals;
  const sluice::Policy policy = sluice::Policy::Gcra(3, 1, 1s);
  if (!policy.Validate().ok() || !sluice::ParseAlgorithm("gcra").ok()) return 1;
  std::optional<sluice::LimiterState> state;
  const int64_t now = 1'700'000'000'000'000'000;
  for (int i = 0; i < 4; ++i) {
    auto ev = sluice::Evaluate(policy, state, sluice::Operation::kConsume, 1, now);
    if (!ev.ok()) return 1;
    const bool want = i < 3;
    std::printf("gcra #%d: %s\n", i + 1, sluice::ToString(ev->decision).c_str());
    if (ev->decision.allowed != want) return 1;
    if (!want && ev->decision.retry_after != 1s) return 1;
  }
  std::printf("OK\n");
  return 0;
}
CC
# shellcheck disable=SC2086  # word splitting of the flag lists is intended
"$cxx" -std=c++20 $flags "$work_dir/pc_consumer.cc" -o "$work_dir/pc_consumer" $pc_flags
LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work_dir/pc_consumer"

step "packaging OK"
