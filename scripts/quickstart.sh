#!/usr/bin/env bash
# On a fresh machine: installs dependencies, builds, starts eaos-server on the bundled demo model
# and annotates sample comments through it with eaos-client.
#
#   scripts/quickstart.sh                    # stops the server at the end
#   KEEP_RUNNING=1 scripts/quickstart.sh     # leaves it serving on 127.0.0.1:50051
#
# Variables:
#   LISTEN=HOST:PORT   the server's gRPC address (default 127.0.0.1:50051; 127.0.0.1:0 picks a free
#                      port, printed in the "listening on" line); metrics go to a free loopback port
#   KEEP_RUNNING=1     leave the server serving after the samples (prints its pid and address)
#   SKIP_INSTALL=1     skip scripts/install-deps.sh (the dependencies are already installed)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then scripts/install-deps.sh; fi
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target eaos-server eaos-client
bin=build/release/bin
listen=${LISTEN:-127.0.0.1:50051}
log=$(mktemp)

"$bin/eaos-server" --model_dir=models/demo --listen="$listen" --metrics_listen=127.0.0.1:0 2>"$log" &
server=$!
if [[ "${KEEP_RUNNING:-0}" != 1 ]]; then trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT; fi
for _ in $(seq 1 300); do
  grep -q SERVING "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
cat "$log"
target=$(sed -nE 's/.*listening on ([^ ]+) metrics.*/\1/p' "$log")

echo; echo "== unary Predict, one JSON line per comment =="
"$bin/eaos-client" --target="$target" \
  "Chương trình rất hay!" \
  "MC dẫn duyên quá, nhưng âm thanh hơi rè." \
  "Kich ban khong hay, khach moi chang hap dan."

echo; echo "== PredictStream of models/fixtures/reference_texts.jsonl over 4 streams (first 3 lines) =="
out=$(mktemp)
"$bin/eaos-client" --target="$target" --input=models/fixtures/reference_texts.jsonl \
  --output="$out" --streams=4
head -n 3 "$out"
if [[ "${KEEP_RUNNING:-0}" == 1 ]]; then echo; echo "eaos-server (pid $server) keeps serving on $target"; fi
