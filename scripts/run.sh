#!/usr/bin/env bash
# Installs what is missing, builds, and runs sluice's main job: the daemon
# sluiced in the foreground on the embedded default store (in memory, with
# checkpoints in build/sluiced-data so a restart keeps the limits) and the
# example rules in examples/rules. HTTP on 127.0.0.1:8080, gRPC on
# 127.0.0.1:8081; Ctrl-C stops it after a final checkpoint. Extra arguments go
# to sluiced (e.g. --store redis://127.0.0.1:6379).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sluiced
exec build/release/daemon/sluiced --config examples/sluiced.yaml "$@"
