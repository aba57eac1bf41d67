#!/usr/bin/env bash
# The same eaos-server built on two LibTorches (Debian's 1.13 + OpenBLAS, and PyPI's 2.x from
# scripts/build-torch2.sh), side by side under one eaos-bench closed loop per round.
#
#   bench/run_torch_compare.sh [DEB_BUILD] [PYPI_BUILD] [eaos-bench flags...]
#   MODEL_DIR=build/release/tests/models/base THREADS=2 bench/run_torch_compare.sh \
#       build/release build/torch2 --streams=16 --window=2 --duration=40s --warmup=5s
#
# DEB_BUILD [build/release], PYPI_BUILD [build/torch2]. Environment: MODEL_DIR [models/demo];
# THREADS [1]: --threads of both servers (the same intra-op threads, not each one's measured
# choice); SERVER_FLAGS: more flags for both; ROUNDS [2]: each round measures both servers, the
# even rounds in the other order (pypi first), so neither always goes first. Each server's binary
# and tokenizer shim are copied first, so a rebuild of either build folder during the run does not
# change what is measured. Prints eaos-bench's tables and one line per round with the ratio.
set -euo pipefail
deb_build=${1:-build/release}; shift || true
pypi_build=${1:-build/torch2}; shift || true
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-2}
source "$(dirname "$0")/servers.sh"

snapshot() {  # snapshot BUILD LABEL: copies eaos-server and libeaos_spm.so into $logs/LABEL
  mkdir -p "$logs/$2"
  cp "$1/bin/eaos-server" "$1/bin/libeaos_spm.so" "$logs/$2/"
}
snapshot "$deb_build" deb-bin
snapshot "$pypi_build" pypi-bin
for label in deb pypi; do
  echo "$label: $(ldd "$logs/$label-bin/eaos-server" | grep -E 'libtorch_cpu|libblas|libopenblas' |
    awk '{print $3}' | tr '\n' ' ')"
done

bin=$logs/deb-bin
start_server deb --threads="$THREADS"
bin=$logs/pypi-bin
start_server pypi --threads="$THREADS"
deb=$(server_address deb)
pypi=$(server_address pypi)
for label in deb pypi; do
  grep -m1 -E 'load steps' "$logs/$label.log" | sed "s/^/$label: /" || true
done
bench=$pypi_build/bin/eaos-bench
[[ -x $bench ]] || bench=$deb_build/bin/eaos-bench
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then targets="deb=$deb,pypi=$pypi"; else targets="pypi=$pypi,deb=$deb"; fi
  echo "round $round: $targets"
  "$bench" --targets="$targets" --summary="$logs/round$round.txt" "$@"
  d=$(summary_value "$logs/round$round.txt" deb comments_per_s)
  p=$(summary_value "$logs/round$round.txt" pypi comments_per_s)
  awk -v r="$round" -v d="$d" -v p="$p" \
    'BEGIN { printf "round %d: deb %.1f, pypi %.1f comments/s: pypi / deb = %.2fx\n", r, d, p, (d > 0 ? p / d : 0) }'
done
