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
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
deps_stamp=$(stamp_of "$requirements")
if [[ $(cat "$venv/.eaos-deps-stamp" 2>/dev/null) != "$deps_stamp" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$deps_stamp" >"$venv/.eaos-deps-stamp"
fi
# eaos-client, built without isolation by the grpcio-tools pinned above.
mapfile -t sources < <(cd "$repo" && find client/python/pyproject.toml client/python/setup.py \
  client/python/src proto -type f \( -name '*.py' -o -name '*.toml' -o -name '*.proto' \) \
  -not -path '*/_gen/*' -not -path '*/__pycache__/*' | sort)
package_stamp=$( (cd "$repo" && stamp_of "${sources[@]}") )
if [[ $(cat "$venv/.eaos-package-stamp" 2>/dev/null) != "$package_stamp" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation --force-reinstall "$repo/client/python"
  echo "$package_stamp" >"$venv/.eaos-package-stamp"
fi
"$venv/bin/python" -c 'import torch, grpc, pyspark, pandas, pyarrow, eaos_client, numpy
assert numpy.__version__ < "2"' >/dev/null
echo "47-peers: $venv ready (torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'))"
