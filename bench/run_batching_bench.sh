#!/usr/bin/env bash
# Batching off (max batch 1) vs on, side by side in one run, on the demo model.
#   bench/run_batching_bench.sh [build_dir] [extra eaos-bench flags...]
set -euo pipefail
build=${1:-build/release}; shift || true
bin=$build/bin
logs=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start() {  # start LABEL FLAGS... -> prints HOST:PORT:METRICS_PORT
  local label=$1; shift
  "$bin/eaos-server" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 "$@" 2>"$logs/$label.log" &
  pids+=($!)
  for _ in $(seq 1 600); do
    grep -q SERVING "$logs/$label.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q SERVING "$logs/$label.log" || { cat "$logs/$label.log" >&2; exit 1; }
  sed -nE 's/.*listening on ([0-9.]+):([0-9]+) metrics on [0-9.]+:([0-9]+).*/\1:\2:\3/p' "$logs/$label.log"
}

off=$(start off --max_batch_size=1)
on=$(start on)
"$bin/eaos-bench" --targets="off=$off,on=$on" "$@"
