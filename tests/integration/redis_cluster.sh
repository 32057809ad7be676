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
    # Says what went wrong instead of failing silently: the node and create
    # logs are in DIR, which the stop action removes.
    report() {
      echo "redis_cluster.sh: $1" >&2
      [ -f "$dir/create.log" ] && { echo "--- $dir/create.log" >&2; tail -n 20 "$dir/create.log" >&2; }
      for log in "$dir"/*/redis.log; do
        [ -f "$log" ] && { echo "--- $log" >&2; tail -n 5 "$log" >&2; }
      done
    }
    # One attempt with six fresh ports; a port taken between the check and
    # the bind, or a slow machine, gets two more attempts.
    attempt() {
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
      printf '%s\n' "${ports[@]}" >"$dir/ports"  # so stop finds them whatever happens
      for p in "${ports[@]}"; do
        mkdir -p "$dir/$p"
        redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
          --cluster-node-timeout 2000 \
          --save '' --appendonly no --daemonize yes --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
          --dir "$dir/$p" || { report "redis-server on port $p did not start"; return 1; }
      done
      for p in "${ports[@]}"; do
        up=0
        for _ in $(seq 1 200); do
          if redis-cli -p "$p" ping >/dev/null 2>&1; then up=1; break; fi
          sleep 0.05
        done
        [ "$up" = 1 ] || { report "node $p did not answer PING within 10 s"; return 1; }
      done
      if ! redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes \
          >"$dir/create.log" 2>&1; then
        report "redis-cli --cluster create failed"
        return 1
      fi
      # Up to 60 s: sanitizer builds load the machine while the cluster forms.
      for _ in $(seq 1 1200); do
        ok=1
        for p in "${ports[@]}"; do
          redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.05
      done
      report "the cluster did not reach cluster_state:ok within 60 s"
      return 1
    }
    for try in 1 2 3; do
      if attempt; then exit 0; fi
      echo "redis_cluster.sh: attempt $try of 3 failed" >&2
    done
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
