#!/usr/bin/env bash
# eaos-serve beside its peers in one run (docs/benchmarks.md, "Peers"): per model (the demo and the
# base-size model), eaos-server vs a plain Python grpc.aio + torch dynamic-batching server under the
# same eaos-bench closed loop, then Spark with the model inside each Python worker (the seed's
# approach) vs eaos_client.spark.annotate through eaos-server; one Markdown table at the end.
#   bench/run_peers_bench.sh [build_dir] [bench/peers/run.py flags...]
#   e.g. --duration 30s --demo_rows 20000 --base_rows 1000 --spark_runs 3   (a longer run)
# Needs: eaos-server and eaos-bench built, the base-size model (ctest --preset release -R
# export_base_model) and the virtualenv of scripts/deps.d/47-peers.sh (EAOS_PEERS_VENV).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/release}; shift || true
venv=${EAOS_PEERS_VENV:-$repo/build/peerenv}
if [[ ! -x $venv/bin/python ]]; then
  echo "no virtualenv at $venv: run scripts/deps.d/47-peers.sh" >&2
  exit 1
fi
exec "$venv/bin/python" "$repo/bench/peers/run.py" --build "$build" "$@"
