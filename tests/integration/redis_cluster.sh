#!/usr/bin/env bash
# Starts or stops a throwaway Redis Cluster on loopback for the integration
# tests: 3 masters, each with one replica (Cluster nodes need TCP: a client
# port and a bus port).
#   redis_cluster.sh start DIR   # writes the nodes' ports to DIR/ports, one per line
#   redis_cluster.sh stop DIR
set -euo pipefail
action=$1
dir=$2
case "$action" in
  start)
    bash "$0" stop "$dir" || true
    mkdir -p "$dir"
    # Six free ports whose bus ports (port + 10000) are free too.
    ports=()
    while [ "${#ports[@]}" -lt 6 ]; do
      p=$(( 20000 + RANDOM % 10000 ))
      if ! (ss -ltn 2>/dev/null | grep -qE ":($p|$((p + 10000)))\b"); then
        case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
      fi
    done
    for p in "${ports[@]}"; do
      mkdir -p "$dir/$p"
      redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
        --cluster-node-timeout 2000 \
        --save '' --appendonly no --daemonize yes --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
        --dir "$dir/$p"
    done
    for p in "${ports[@]}"; do
      for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
    done
    redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1
    for _ in $(seq 1 200); do
      ok=1
      for p in "${ports[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
      done
      if [ "$ok" = 1 ]; then
        printf '%s\n' "${ports[@]}" >"$dir/ports"
        exit 0
      fi
      sleep 0.05
    done
    echo "redis cluster did not reach cluster_state:ok; see $dir/create.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/ports" ]; then
      while read -r p; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done <"$dir/ports"
    fi
    for pidfile in "$dir"/*/redis.pid; do
      [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
