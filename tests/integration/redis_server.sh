#!/usr/bin/env bash
# Starts or stops a throwaway redis-server for the integration tests.
#   redis_server.sh start DIR   # listens on DIR/redis.sock only (no TCP port), no persistence
#   redis_server.sh stop DIR
# The tests read DIR from SLUICE_TEST_REDIS_DIR.
set -euo pipefail
action=$1
dir=$2
sock="$dir/redis.sock"
case "$action" in
  start)
    command -v redis-server >/dev/null || { echo "redis-server not installed (scripts/install-deps.sh)" >&2; exit 1; }
    mkdir -p "$dir"
    # A server left running is stopped first, and waited for: on its way out
    # it unlinks its socket, which would remove the new server's.
    if [ -f "$dir/redis.pid" ]; then
      old=$(cat "$dir/redis.pid")
      kill "$old" 2>/dev/null || true
      for _ in $(seq 1 200); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$sock" "$dir/redis.pid"
    redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    for _ in $(seq 1 200); do
      if redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG; then exit 0; fi
      sleep 0.05
    done
    echo "redis-server did not start; log:" >&2
    cat "$dir/redis.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -S "$sock" ]; then redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true; fi
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
    rm -f "$sock" "$dir/redis.pid"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
