#!/usr/bin/env bash
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# RedisStore throughput and latency against a local redis-server started here
# on a loopback port, compared in the same run with
#   - redis-benchmark on the same token-bucket decision code (FCALL of the
#     function the store loaded): the ceiling for one round trip per
#     decision, with -c 1, and -P 16 -c 50;
#   - rate-limiter-flexible's RateLimiterRedis (npm, Node) on the same server.
# Prints a table and the ratios the issue asks for. No pass/fail: figures only.
#
#   bash bench/redis.sh [seconds per run, default 5]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-5}"
bash scripts/install-deps.sh
if [[ ! -f build/release/CMakeCache.txt ]]; then cmake --preset release >/dev/null; fi
cmake --build --preset release --target sluice_redis_load >/dev/null

work="$(mktemp -d)"
port=$(( 20000 + RANDOM % 20000 ))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

load() { build/release/bench/sluice_redis_load --uri "redis://127.0.0.1:$port" --seconds "$seconds" --callers "$1"; }
echo "sluice RedisStore (token bucket, 100k random keys, server TIME):" >&2
s1=$(load 1)
s50=$(load 50)

# The same code the store runs for a token-bucket decision: the function of
# the library the sluice runs above loaded (FCALL), called as the store calls it.
fn=$(redis-cli -p "$port" function list libraryname 'sluice_*' | grep '_token_bucket$' | head -1)
if [[ -z "$fn" ]]; then echo "the sluice run did not load its function library" >&2; exit 1; fi
n1=$(( seconds * 3000 ))
n50=$(( seconds * 30000 ))
rb() { redis-benchmark -p "$port" -q -r 100000 "$@" fcall "$fn" 1 'bench:rb:__rand_int__' '' consume 1 1000 100 \
  1000000000 epoch 0123456789abcdef | tr '\r' '\n' | grep 'requests per second' | tail -1; }
echo "redis-benchmark, same script:" >&2
rb1=$(rb -n "$n1" -c 1)
rb50=$(rb -n "$n50" -c 50 -P 16)

echo "rate-limiter-flexible RateLimiterRedis (npm):" >&2
rlf50='{}'
if command -v node >/dev/null && (cd bench/node && npm install --silent --no-audit --no-fund >/dev/null 2>&1); then
  rlf50=$(node bench/node/rlf_redis.js "$port" 50 "$seconds" 100000)
fi

/usr/bin/python3 - "$s1" "$s50" "$rb1" "$rb50" "$rlf50" <<'PY'
import json, re, sys
s1, s50 = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def rps(line):
    m = re.search(r"([0-9.]+) requests per second(?:, p50=([0-9.]+) msec)?", line)
    return (float(m.group(1)), float(m.group(2)) * 1000 if m and m.group(2) else None) if m else (None, None)
rb1, rb1_p50 = rps(sys.argv[3])
rb50, _ = rps(sys.argv[4])
rlf = json.loads(sys.argv[5])
print(f"{'workload':<58} {'decisions/s':>12} {'p50 us':>8} {'p99 us':>8}")
print(f"{'sluice, 1 caller':<58} {s1['decisions_per_second']:>12,.0f} {s1['p50_us']:>8.0f} {s1['p99_us']:>8.0f}")
print(f"{'sluice, 50 callers (one process)':<58} {s50['decisions_per_second']:>12,.0f} {s50['p50_us']:>8.0f} {s50['p99_us']:>8.0f}")
if rb1: print(f"{'redis-benchmark same script, -c 1':<58} {rb1:>12,.0f} {rb1_p50 or 0:>8.0f}")
if rb50: print(f"{'redis-benchmark same script, -c 50 -P 16 (ceiling)':<58} {rb50:>12,.0f}")
if rlf.get('decisions_per_second'):
    print(f"{'rate-limiter-flexible RateLimiterRedis, 50 callers':<58} {rlf['decisions_per_second']:>12,.0f} "
          f"{rlf['p50_us']:>8.0f} {rlf['p99_us']:>8.0f}")
print()
if rb50: print(f"50 callers / -P 16 ceiling: {s50['decisions_per_second'] / rb50:.2f} (target >= 0.80)")
if rlf.get('decisions_per_second'):
    print(f"50 callers / rate-limiter-flexible: {s50['decisions_per_second'] / rlf['decisions_per_second']:.2f}x (target >= 5x)")
if rb1_p50: print(f"1 caller p50 / redis-benchmark -c 1 p50: {s1['p50_us'] / rb1_p50:.2f} (target <= 1.20)")
PY
