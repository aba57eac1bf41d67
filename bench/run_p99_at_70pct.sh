#!/usr/bin/env bash
# Latency under load: saturation throughput (closed loop), then an open loop (Poisson arrivals)
# at FRACTION (default 0.7) of it; reports p99 against one batch's service time (the mean of
# eaos_batch_duration_seconds in the same run). CPU target (GitHub issue 3): p99 <= 3x.
#   bench/run_p99_at_70pct.sh [build_dir] [extra eaos-bench flags for both runs...]
#   MODEL_DIR, SERVER_FLAGS (extra server flags), FRACTION, SAT_WINDOW (closed-loop items
#   outstanding per stream, default 4), STREAMS (default 64), DURATION (default 10s)
set -euo pipefail
build=${1:-build/release}; shift || true
bin=$build/bin
source "$(dirname "$0")/servers.sh"
fraction=${FRACTION:-0.7}
common=(--streams="${STREAMS:-64}" --duration="${DURATION:-10s}" --summary="$logs/run.txt")

start_server on
on=$(server_address on)

echo "== saturation: closed loop, ${STREAMS:-64} streams x window ${SAT_WINDOW:-4}"
"$bin/eaos-bench" --targets="on=$on" --window="${SAT_WINDOW:-4}" "${common[@]}" "$@"
sat=$(summary_value "$logs/run.txt" on comments_per_s)
sat_batch=$(summary_value "$logs/run.txt" on batch_ms)
rate=$(awk -v s="$sat" -v f="$fraction" 'BEGIN { printf "%.0f", s * f }')

echo
echo "== open loop at $fraction x $sat = $rate comments/s"
"$bin/eaos-bench" --targets="on=$on" --rate="$rate" "${common[@]}" "$@"
p99=$(summary_value "$logs/run.txt" on p99_ms)
batch=$(summary_value "$logs/run.txt" on batch_ms)
achieved=$(summary_value "$logs/run.txt" on comments_per_s)
shed=$(summary_value "$logs/run.txt" on shed)

echo
awk -v sat="$sat" -v sb="$sat_batch" -v rate="$rate" -v ach="$achieved" -v p99="$p99" \
    -v b="$batch" -v shed="$shed" -v f="$fraction" 'BEGIN {
  printf "| saturation /s | batch ms at saturation | offered /s (%.0f%%) | achieved /s | p99 ms | batch ms | p99 / batch ms | p99 / batch ms at saturation | shed |\n", 100 * f
  printf "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  printf "| %.0f | %.2f | %s | %.0f | %.2f | %.2f | %.2fx | %.2fx | %s |\n", sat, sb, rate, ach, p99, b,
         (b > 0 ? p99 / b : 0), (sb > 0 ? p99 / sb : 0), shed
}'
