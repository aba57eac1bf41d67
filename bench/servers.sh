# Sourced by the bench scripts: start eaos-servers on loopback ephemeral ports and find them.
#   bin=build/release/bin; source bench/servers.sh
#   start_server on --max_batch_size=64   # log in $logs/on.log; MODEL_DIR, SERVER_FLAGS apply
#   on=$(server_address on)               # waits for SERVING; prints HOST:PORT:METRICS_PORT
# Servers are killed when the sourcing script exits.
logs=${logs:-$(mktemp -d)}
server_pids=()
stop_servers() {
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  server_pids=()
}
trap stop_servers EXIT

start_server() {  # start_server LABEL FLAGS...
  local label=$1; shift
  # shellcheck disable=SC2086  # SERVER_FLAGS is a list of flags
  "$bin/eaos-server" --model_dir="${MODEL_DIR:-models/demo}" --listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 ${SERVER_FLAGS:-} "$@" 2>"$logs/$label.log" &
  server_pids+=($!)
}

server_address() {  # server_address LABEL [TIMEOUT_S]
  local deadline=$((SECONDS + ${2:-300}))
  while ((SECONDS < deadline)); do
    grep -q SERVING "$logs/$1.log" 2>/dev/null && break
    sleep 0.2
  done
  if ! grep -q SERVING "$logs/$1.log"; then
    echo "server $1 did not start; its log:" >&2
    cat "$logs/$1.log" >&2
    return 1
  fi
  sed -nE 's/.*listening on ([0-9.]+):([0-9]+) metrics on [0-9.]+:([0-9]+).*/\1:\2:\3/p' "$logs/$1.log"
}

summary_value() {  # summary_value FILE LABEL KEY: a value of eaos-bench --summary
  awk -v label="$2" -v key="$3" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      if (f["label"] == label) print f[key] }' "$1"
}
