#!/usr/bin/env bash
# Batching off (max batch 1) vs on vs the in-process ceiling, side by side in one run.
#   bench/run_batching_bench.sh [build_dir] [extra eaos-bench flags...]
#   MODEL_DIR=/path/to/model bench/run_batching_bench.sh   # another model (default: the demo)
#   SERVER_FLAGS="--device=cuda" ...                       # extra flags for both servers
# Examples: --duration=10s --window=4; --lengths=lognormal; --rate=500 (open loop).
set -euo pipefail
build=${1:-build/release}; shift || true
bin=$build/bin
source "$(dirname "$0")/servers.sh"

start_server off --max_batch_size=1
start_server on
off=$(server_address off)
on=$(server_address on)
"$bin/eaos-bench" --targets="off=$off,on=$on" --model_dir="${MODEL_DIR:-models/demo}" "$@"
