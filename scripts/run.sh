#!/usr/bin/env bash
# Installs what is missing, builds, and runs sluice's main job. Until the daemon
# exists that is the demo: keyed limiting, JSON state, and a restart that keeps
# its limits (it runs twice on one data directory to show it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sluice_demo
data_dir=build/demo-data
mkdir -p "$data_dir"
echo "### first start"
build/release/examples/sluice_demo --data-dir "$data_dir" "$@"
echo
echo "### restart: the same users continue from the saved state"
build/release/examples/sluice_demo --data-dir "$data_dir" "$@"
