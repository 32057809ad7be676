#!/usr/bin/env bash
# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
#
# sluiced throughput, latency and memory, with the references measured in the
# same run on the same machine:
#   - wrk -t2 -c50 --latency against POST /v1/decide and POST /json (keys
#     spread over 10k users), each with limits nobody reaches and with limits
#     that deny nearly everything; the same wrk command against nginx's
#     limit_req (admitting, and rejecting with 429) returning a tiny body: an
#     HTTP server doing minimal work per request;
#   - h2load -c50 -m1 and -m10 against the Envoy RLS method ShouldRateLimit
#     (answered OK, and OVER_LIMIT) and against grpc.health.v1.Health/Check
#     on the same server: a gRPC method doing no work;
#   - the same wrk runs of POST /json and /v1/decide (admitted) against a
#     second sluiced whose store is a local Redis (redis-server, when
#     installed): the shared-state deployment; its CPU figure is sluiced's
#     plus Redis's, per request;
#   - memory: VmRSS before and after 1,000,000 distinct keys are decided
#     (each a token bucket of 1 per hour, so all stay in the store).
# Each measurement runs SLUICE_BENCH_REPEATS times (rounds over all
# workloads, one thing running at a time); the table has the medians and the
# ratios against the targets (HTTP >= 50% of nginx with p99 <= 5 ms; gRPC
# ShouldRateLimit >= 70% of the health check). It is printed and written to
# <build>/daemon-results.md. Exit status: non-zero only when a tool or the
# daemon failed, never because a target was missed.
#
#   bash bench/daemon.sh
#
# Environment (defaults in brackets): SLUICE_BENCH_BUILD [build/bench],
# SLUICE_BENCH_SECONDS per wrk run [10], SLUICE_BENCH_H2_SECONDS per h2load
# run [5, after 1 s of warm-up], SLUICE_BENCH_REPEATS [3], SLUICE_BENCH_USERS
# [10000], SLUICE_BENCH_KEYS for the memory figure [1000000].
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
here="$root/bench/daemon"
build="${SLUICE_BENCH_BUILD:-build/bench}"
seconds="${SLUICE_BENCH_SECONDS:-10}"
h2_seconds="${SLUICE_BENCH_H2_SECONDS:-5}"
repeats="${SLUICE_BENCH_REPEATS:-3}"
users="${SLUICE_BENCH_USERS:-10000}"
mem_keys="${SLUICE_BENCH_KEYS:-1000000}"
py=/usr/bin/python3  # Debian's interpreter: python3-grpcio and python3-protobuf

die() { echo "bench/daemon.sh: $*" >&2; exit 1; }

PATH="$PATH:/usr/sbin"
for tool in wrk h2load nginx curl cmake "$py"; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
"$py" -c 'import grpc, google.protobuf' 2>/dev/null || die "$py lacks grpc or protobuf (python3-grpcio)"

# --- build ------------------------------------------------------------------
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DSLUICE_BUILD_DAEMON=ON -DSLUICE_WITH_REDIS=ON -DSLUICE_WITH_ROCKSDB=ON -DSLUICE_WITH_ZSTD=ON \
    -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_BUILD_TESTS=OFF >/dev/null
fi
targets=(sluiced)
if cmake --build "$build" --target help 2>/dev/null | grep -q '^sluice_rls_python:'; then
  targets+=(sluice_rls_python)
fi
nice cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null || die "building ${targets[*]} in $build failed"
sluiced="$build/daemon/sluiced"
[[ -x "$sluiced" ]] || die "$sluiced was not built"
stubs="$root/$build/python"
[[ "$build" = /* ]] && stubs="$build/python"

# --- workspace and processes --------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/sluiced-bench.XXXXXX")"
results="$work/results.jsonl"
notes="$work/notes.txt"
: >"$results"
: >"$notes"
daemon_pid=""
nginx_pid=""
wrk_pid=""
redis_pid=""
cleanup() {
  local rc=$?
  for pid in "$wrk_pid" "$daemon_pid" "$nginx_pid" "$redis_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $rc -eq 0 ]]; then rm -rf "$work"; else echo "bench/daemon.sh: logs kept in $work" >&2; fi
}
trap cleanup EXIT

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$work/rules"
cat >"$work/rules/bench.yaml" <<'EOF'
# Never reached: every request is decided and admitted.
domain: bench
descriptors:
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 1000000000
EOF
cat >"$work/rules/bench_deny.yaml" <<'EOF'
# One request per user per hour: after the first round every request is denied.
domain: bench_deny
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 1
EOF
cat >"$work/sluiced.yaml" <<EOF
http:
  listen: ["127.0.0.1:0"]
  io_threads: 2
grpc:
  listen: ["127.0.0.1:0"]
store:
  uri: "memory:"
rules:
  directory: "$work/rules"
  watch: false
logging:
  level: warning
EOF

# Starts sluiced with the bench configuration (or CONFIG); sets daemon_pid,
# http, grpc.
start_sluiced() {  # start_sluiced NAME [CONFIG]
  local name="$1" ready="$work/$1.ready" config="${2:-$work/sluiced.yaml}"
  "$sluiced" --config "$config" --ready-file "$ready" 2>"$work/$name.log" &
  daemon_pid=$!
  daemon_log="$work/$name.log"
  for _ in $(seq 1 300); do
    [[ -s "$ready" ]] && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/$name.log" >&2; die "sluiced exited before it was ready"; }
    sleep 0.1
  done
  [[ -s "$ready" ]] || die "sluiced was not ready within 30 s (log: $work/$name.log)"
  http=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["http"][0])' "$ready")
  grpc=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["grpc"][0])' "$ready")
}

stop_sluiced() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || die "sluiced exited with status $? on SIGTERM (log: $daemon_log)"
  daemon_pid=""
}

daemon_alive() {
  kill -0 "$daemon_pid" 2>/dev/null || { tail -20 "$daemon_log" >&2; die "sluiced died during $1"; }
}

metric_sum() {  # metric_sum PREFIX: the sum of the /metrics lines starting with PREFIX
  curl -sf "http://$http/metrics" | awk -v p="$1" 'index($0, p) == 1 { s += $NF } END { printf "%.0f\n", s }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- nginx ---------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx"
user_line=""
if [[ $(id -u) -eq 0 ]]; then user_line="user $(id -un) $(id -gn);"; fi
sed -e "s|@PREFIX@|$work/nginx|g" -e "s|@PORT@|$nginx_port|g" -e "s|@USER@|$user_line|" \
  "$here/nginx.conf.in" >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" 2>"$work/nginx/stderr.log" &
nginx_pid=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/allow" && break
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/nginx/"*.log >&2; die "nginx did not start"; }
  sleep 0.1
done

# --- sluiced and smoke checks ------------------------------------------------
start_sluiced main
echo "sluiced: http $http, grpc $grpc (pid $daemon_pid); nginx 127.0.0.1:$nginx_port" >&2
"$py" "$here/grpc_frames.py" write "$work/frames" --stubs "$stubs" --proto-dir "$root/proto"
"$py" "$here/grpc_frames.py" check "$grpc" "$work/frames" --stubs "$stubs" || die "gRPC answers are wrong"

expect_status() {  # expect_status WANT URL BODY
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data "$3" "$2")
  [[ "$got" == "$1" ]] || die "POST $2 $3 answered $got, expected $1"
}
expect_status 200 "http://$http/v1/decide" \
  '{"key":"smoke","limit":{"algorithm":"token_bucket","limit":1000000,"period":"1s"}}'
expect_status 200 "http://$http/v1/decide" '{"key":"smoke1","limit":{"algorithm":"token_bucket","limit":1,"period":"1h"}}'
expect_status 429 "http://$http/v1/decide" '{"key":"smoke1","limit":{"algorithm":"token_bucket","limit":1,"period":"1h"}}'
expect_status 200 "http://$http/json" '{"domain":"bench","descriptors":[{"entries":[{"key":"user","value":"smoke"}]}]}'
smoke_deny='{"domain":"bench_deny","descriptors":[{"entries":[{"key":"user","value":"smoke"}]}]}'
expect_status 200 "http://$http/json" "$smoke_deny"
expect_status 429 "http://$http/json" "$smoke_deny"
expect_status 200 "http://127.0.0.1:$nginx_port/allow" '{}'

# --- measurements ------------------------------------------------------------
# The CPU time (user + system, clock ticks) of the server's processes: the
# daemon, or nginx's master and workers.
server_pids() {
  if [[ "$1" == nginx* ]]; then
    echo "$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
  elif [[ "$1" == *-redis ]]; then
    echo "$daemon_pid $redis_pid"
  else
    echo "$daemon_pid"
  fi
}
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$total"
}

run_wrk() {  # run_wrk NAME REP HOSTPORT KIND MODE
  local out="$work/$1.$2.wrk" pids cpu0 t0
  pids=$(server_pids "$1")
  # shellcheck disable=SC2086
  cpu0=$(cpu_ticks $pids)
  t0=$EPOCHREALTIME
  wrk -t2 -c50 -d"${seconds}s" --latency -s "$here/http.lua" "http://$3" -- "$4" "$5" "$users" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed for $1"; }
  # shellcheck disable=SC2086
  echo "cpu_ticks $(($(cpu_ticks $pids) - cpu0)) wall $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >>"$out"
  "$py" "$here/report.py" wrk "$1" "$2" "$results" <"$out" || { cat "$out" >&2; die "cannot parse wrk output"; }
}

run_h2load() {  # run_h2load NAME REP M PATH FRAME [DOMAIN]
  local out="$work/$1.$2.h2load" log="$work/$1.$2.h2log" before=0 after
  [[ -n "${6:-}" ]] && before=$(metric_sum "sluiced_rule_hits_total{domain=\"$6\",")
  local cpu0 t0
  cpu0=$(cpu_ticks "$daemon_pid")
  t0=$EPOCHREALTIME
  h2load -t2 -c50 -m"$3" -D "$h2_seconds" --warm-up-time=1 -d "$work/frames/$5" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$log" "http://$grpc$4" >"$out" 2>&1 ||
    { cat "$out" >&2; die "h2load failed for $1"; }
  echo "cpu_ticks $(($(cpu_ticks "$daemon_pid") - cpu0)) wall $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >>"$out"
  "$py" "$here/report.py" h2load "$1" "$2" "$results" "$log" <"$out" ||
    { cat "$out" >&2; die "cannot parse h2load output"; }
  if [[ -n "${6:-}" ]]; then
    # h2load counts HTTP 2xx; the daemon's own counter shows the calls were decided.
    after=$(metric_sum "sluiced_rule_hits_total{domain=\"$6\",")
    local done_
    done_=$(awk '/^requests:/ { print $8 }' "$out")
    if ((after - before < done_)); then
      echo "$1 run $2: h2load saw $done_ answers but sluiced_rule_hits_total{domain=\"$6\"} grew by $((after - before))" \
        >>"$notes"
    fi
  fi
  rm -f "$log"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rls=/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit
health=/grpc.health.v1.Health/Check
for rep in $(seq 1 "$repeats"); do
  echo "round $rep of $repeats" >&2
  run_wrk nginx-allow "$rep" "127.0.0.1:$nginx_port" nginx allow
  run_wrk decide-allow "$rep" "$http" decide allow
  run_wrk json-allow "$rep" "$http" json allow
  run_wrk nginx-deny "$rep" "127.0.0.1:$nginx_port" nginx deny
  run_wrk decide-deny "$rep" "$http" decide deny
  run_wrk json-deny "$rep" "$http" json deny
  daemon_alive "the HTTP runs"
  run_h2load health-m1 "$rep" 1 "$health" health.bin
  run_h2load rls-m1 "$rep" 1 "$rls" rls_allow.bin bench
  run_h2load health-m10 "$rep" 10 "$health" health.bin
  run_h2load rls-m10 "$rep" 10 "$rls" rls_allow.bin bench
  run_h2load rls-deny-m10 "$rep" 10 "$rls" rls_deny.bin bench_deny
  daemon_alive "the gRPC runs"
done
"$py" "$here/grpc_frames.py" check "$grpc" "$work/frames" --stubs "$stubs" || die "gRPC answers wrong after the load"
stop_sluiced
kill -TERM "$nginx_pid"
wait "$nginx_pid" || true
nginx_pid=""

# --- sluiced on Redis ----------------------------------------------------------
if command -v redis-server >/dev/null; then
  echo "sluiced on Redis" >&2
  redis_port=$(free_port)
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
    --logfile "$work/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server did not start (log: $work/redis/redis.log)"
    sleep 0.1
  done
  sed -e "s|uri: \"memory:\"|uri: \"redis://127.0.0.1:$redis_port\"|" "$work/sluiced.yaml" >"$work/sluiced-redis.yaml"
  start_sluiced redis "$work/sluiced-redis.yaml"
  expect_status 200 "http://$http/json" '{"domain":"bench","descriptors":[{"entries":[{"key":"user","value":"smoke"}]}]}'
  expect_status 200 "http://$http/json" "$smoke_deny"
  expect_status 429 "http://$http/json" "$smoke_deny"
  for rep in $(seq 1 "$repeats"); do
    run_wrk json-redis "$rep" "$http" json allow
    run_wrk decide-redis "$rep" "$http" decide allow
    daemon_alive "the Redis runs"
  done
  stop_sluiced
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
else
  echo "redis-server is not installed: no Redis runs" >>"$notes"
fi

# --- memory at 1M active keys -------------------------------------------------
echo "memory: $mem_keys distinct keys" >&2
start_sluiced mem
expect_status 200 "http://$http/v1/decide" '{"key":"warm","limit":{"algorithm":"token_bucket","limit":1,"period":"1h"}}'
rss_before=$(rss_kib "$daemon_pid")
fill_start=$EPOCHREALTIME
wrk -t2 -c50 -d600s -s "$here/keys.lua" "http://$http" -- $(((mem_keys + 1) / 2)) >"$work/mem.wrk" 2>&1 &
wrk_pid=$!
keys=0
fill_end=""
deadline=$((SECONDS + 300))
while ((SECONDS < deadline)); do
  sleep 0.25
  keys=$(metric_sum "sluiced_store_keys")
  if ((keys >= mem_keys + 1)); then fill_end=$EPOCHREALTIME; break; fi
  kill -0 "$wrk_pid" 2>/dev/null || break
done
# wrk keeps its threads' connections until its -d is over; SIGINT ends it now.
kill -INT "$wrk_pid" 2>/dev/null || true
wait "$wrk_pid" || { cat "$work/mem.wrk" >&2; die "wrk failed while filling keys"; }
wrk_pid=""
fill_rps=0
if [[ -n "$fill_end" ]]; then fill_rps=$(awk -v k="$keys" -v a="$fill_start" -v b="$fill_end" 'BEGIN { print k / (b - a) }'); fi
sleep 0.5  # answers in flight when wrk stopped
keys=$(metric_sum "sluiced_store_keys")
rss_after=$(rss_kib "$daemon_pid")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/mem.wrk")
[[ -n "$non2xx" ]] && echo "memory fill: $non2xx answers were not 2xx" >>"$notes"
daemon_alive "the memory fill"
stop_sluiced
"$py" - "$keys" "$rss_before" "$rss_after" "$fill_rps" "$mem_keys" >"$work/memory.json" <<'PY'
import json, sys
keys, before, after, rps, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
out = {"want": want, "keys": keys, "rss_before_kib": before, "rss_after_kib": after, "fill_rps": rps,
       "bytes_per_key": (after - before) * 1024 / keys if keys else 0}
if keys < want:
    out = {"error": f"the store reached only {keys} keys of {want}"}
print(json.dumps(out))
PY

# --- report ------------------------------------------------------------------
dirty=""
if [[ -n "$(git status --porcelain -- daemon src include backends proto 2>/dev/null)" ]]; then
  dirty=" plus uncommitted changes"
fi
{
  echo "## sluiced (bench/daemon.sh)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$dirty," \
    "$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average" \
    "$load_before at the start (the benchmark itself adds about 4); client and server share the cores. sluiced $(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' \
    "$build/CMakeCache.txt") build, memory store, 2 HTTP I/O threads; nginx $(nginx -v 2>&1 | sed 's|.*/||')" \
    "with 2 workers. Medians of $repeats runs: wrk -t2 -c50 -d${seconds}s --latency (keys over $users users)," \
    "h2load -t2 -c50 -D ${h2_seconds}s after 1 s of warm-up (one request body replayed: a single key)."
} >"$work/header.md"
mkdir -p "$build"
"$py" "$here/report.py" table "$results" "$work/memory.json" "$work/header.md" "$notes" \
  "$build/daemon-results.md" "$users"
echo "written to $build/daemon-results.md" >&2
