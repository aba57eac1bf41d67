#!/usr/bin/env bash
# The peers benchmark (bench/peers, docs/benchmarks.md "Peers"): a virtualenv made from Debian's
# /usr/bin/python3 with --system-site-packages (Debian's torch 1.13 and sentencepiece) at
# ${EAOS_PEERS_VENV:-<repo>/build/peerenv}, with the pins of bench/peers/requirements.txt (grpcio,
# protobuf, pyspark, pandas, pyarrow, numpy < 2, grpcio-tools), then the eaos-client package (its
# stubs generated from proto/). Idempotent: stamps skip the steps whose inputs did not change.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${EAOS_PEERS_VENV:-$repo/build/peerenv}
requirements=$repo/bench/peers/requirements.txt
# shellcheck source=lib/python-venv.sh
source "$repo/scripts/deps.d/lib/python-venv.sh"
venv_create "$venv" --system-site-packages
venv_requirements "$venv" "$requirements"
venv_client_package "$venv" "$repo"
"$venv/bin/python" -c 'import torch, grpc, pyspark, pandas, pyarrow, eaos_client, numpy
assert numpy.__version__ < "2"' >/dev/null
echo "47-peers: $venv ready (torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'))"
