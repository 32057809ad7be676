#!/usr/bin/env bash
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Builds the `release` preset (RelWithDebInfo, SLUICE_BUILD_BENCHMARKS=ON) if
# needed, runs both benchmark binaries with 5 repetitions and JSON output, and
# prints a table of the medians.
#
#   bench/run.sh                                  # everything
#   bench/run.sh --benchmark_filter='HotKey'      # extra flags go to both binaries
#
# Environment: SLUICE_BENCH_OUT (default build/bench-results) is where the JSON
# files go; SLUICE_BENCH_REPETITIONS (default 5).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="build/release"
out_dir="${SLUICE_BENCH_OUT:-build/bench-results}"
repetitions="${SLUICE_BENCH_REPETITIONS:-5}"

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake --preset release
fi
# The build preset caps parallelism at 2 jobs.
cmake --build --preset release --target sluice_algorithms_benchmark sluice_store_benchmark

mkdir -p "$out_dir"
for name in algorithms store; do
  echo "== sluice_${name}_benchmark -> $out_dir/$name.json" >&2
  "$build_dir/bench/sluice_${name}_benchmark" \
    --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true \
    --benchmark_format=json \
    "$@" >"$out_dir/$name.json"
done

/usr/bin/python3 - "$out_dir/algorithms.json" "$out_dir/store.json" <<'PY'
import json
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

def medians(path):
    with open(path) as f:
        doc = json.load(f)
    rows = []
    for b in doc["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        rows.append(b)
    return doc.get("context", {}), rows

context = None
print(f"{'benchmark (median of repetitions)':<64} {'ns/op':>9} {'allowed':>8}  other")
for path in sys.argv[1:]:
    ctx, rows = medians(path)
    context = context or ctx
    for b in rows:
        name = b.get("run_name", b["name"])
        ns = b["real_time"] * UNIT_NS[b.get("time_unit", "ns")]
        allowed = f"{b['allowed']:.3f}" if "allowed" in b else ""
        other = []
        if "bytes_per_key" in b:
            keys = b.get("keys", 0) or 1
            other.append(f"bytes/key={b['bytes_per_key']:.1f} rss_bytes/key={b['rss_bytes_per_key']:.1f} "
                         f"fill={ns / keys:.0f} ns/key")
            ns_text = f"{ns / 1e6:.0f} ms"
        else:
            ns_text = f"{ns:.1f}"
        print(f"{name:<64} {ns_text:>9} {allowed:>8}  {' '.join(other)}")
if context:
    print(f"\n{context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz, "
          f"threads:N rows are wall time / total decisions of all N threads.")
PY
