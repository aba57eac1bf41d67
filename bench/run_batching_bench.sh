#!/usr/bin/env bash
# Batching off (max batch 1) vs on vs the in-process ceiling, side by side in one run, on the
# demo model.
#   bench/run_batching_bench.sh [build_dir] [extra eaos-bench flags...]
#   MODEL_DIR=/path/to/model bench/run_batching_bench.sh   # another model (default: the demo)
set -euo pipefail
build=${1:-build/release}; shift || true
bin=$build/bin
logs=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start() {  # start LABEL FLAGS...: starts a server; its log is $logs/LABEL.log
  local label=$1; shift
  "$bin/eaos-server" --model_dir="${MODEL_DIR:-models/demo}" --listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 "$@" 2>"$logs/$label.log" &
  pids+=($!)
}
address() {  # address LABEL: waits for SERVING, prints HOST:PORT:METRICS_PORT
  for _ in $(seq 1 600); do
    grep -q SERVING "$logs/$1.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q SERVING "$logs/$1.log" || { cat "$logs/$1.log" >&2; exit 1; }
  sed -nE 's/.*listening on ([0-9.]+):([0-9]+) metrics on [0-9.]+:([0-9]+).*/\1:\2:\3/p' "$logs/$1.log"
}

start off --max_batch_size=1
start on
off=$(address off)
on=$(address on)
"$bin/eaos-bench" --targets="off=$off,on=$on" --model_dir="${MODEL_DIR:-models/demo}" "$@"
