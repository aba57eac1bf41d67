#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt) with clang in build/fuzz and runs each
# for a bounded time on a copy of its committed corpus (tests/fuzz/corpus/<target>/ is never
# written). Fails on any crash, broken invariant, sanitizer report, leak, slow input or OOM, and
# prints one table: target, seconds, executions, exec/s, corpus size, result.
#
#   tests/fuzz/run.sh            # 30 s per target
#   tests/fuzz/run.sh 20         # 20 s per target
#   EAOS_FUZZ_TABLE=docs/fuzz-table.md tests/fuzz/run.sh 60   # also write the table there
#
# Environment: EAOS_FUZZ_BUILD_DIR (build/fuzz), EAOS_FUZZ_CC / EAOS_FUZZ_CXX (clang-14 /
# clang++-14), EAOS_FUZZ_JOBS (build jobs, nproc), EAOS_FUZZ_TABLE (file for the table).
# A failing target leaves its log in <build>/logs/<target>.log and the input that broke it in
# <build>/artifacts/<target>/; rerun it with <build>/bin/<target> <that file>.
set -euo pipefail

seconds=${1:-30}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1 || seconds > 3600)); then
  echo "usage: $0 [seconds_per_target: 1..3600]" >&2
  exit 2
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${EAOS_FUZZ_BUILD_DIR:-$repo/build/fuzz}
cc=${EAOS_FUZZ_CC:-clang-14}
cxx=${EAOS_FUZZ_CXX:-clang++-14}
jobs=${EAOS_FUZZ_JOBS:-$(nproc)}
targets=(fuzz_request fuzz_decoder fuzz_tokenizer fuzz_fastbpe fuzz_normalize)

for tool in "$cc" "$cxx" cmake ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 2
  fi
done

# Only the fuzz targets: no server (LibTorch), no tests.
mkdir -p "$build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEAOS_FUZZ=ON -DEAOS_BUILD_SERVER=OFF -DEAOS_BUILD_TESTS=OFF \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}" -j "$jobs"

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -n $symbolizer ]]; then export ASAN_SYMBOLIZER_PATH=$symbolizer; fi

# Reads one "stat::<name>: <value>" line of libFuzzer's -print_final_stats=1 output.
stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n1; }

# What a run that exited 0 must still not have printed.
reports='ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant broken'
rows=()
failed=()
for target in "${targets[@]}"; do
  corpus_src=$repo/tests/fuzz/corpus/$target
  work=$build/run/$target
  artifacts=$build/artifacts/$target
  log=$build/logs/$target.log
  rm -rf "$work" "$artifacts"
  mkdir -p "$work/corpus" "$artifacts" "$(dirname "$log")"
  cp -R "$corpus_src/." "$work/corpus/"
  seeds=$(find "$work/corpus" -type f | wc -l)
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  if [[ -f $repo/tests/fuzz/$target.dict ]]; then args+=(-dict="$repo/tests/fuzz/$target.dict"); fi

  echo "run.sh: $target for ${seconds}s on a copy of $seeds seeds"
  start=$(date +%s)
  rc=0
  # The outer timeout only catches a fuzzer that ignores -max_total_time (a hang in startup).
  timeout --kill-after=30 $((seconds + 300)) "$build/bin/$target" "${args[@]}" "$work/corpus" \
    >"$log" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - start))

  execs=$(stat number_of_executed_units "$log")
  rate=$(stat average_exec_per_sec "$log")
  final=$(find "$work/corpus" -type f | wc -l)
  result=ok
  if ((rc == 124 || rc == 137)); then
    result="FAIL (hung: killed after $((seconds + 300))s)"
  elif ((rc != 0)); then
    result="FAIL (exit $rc)"
  elif grep -qE "$reports" "$log"; then
    result="FAIL (report in log)"
  elif [[ -n $(find "$artifacts" -type f) ]]; then
    result="FAIL (artifact written)"
  elif [[ -z $execs ]] || ((execs == 0)); then
    result="FAIL (no executions)"
  fi
  rows+=("| $target | $elapsed | ${execs:-?} | ${rate:-?} | $seeds -> $final | $result |")
  if [[ $result != ok ]]; then
    failed+=("$target")
    echo "run.sh: $target: $result; last lines of $log:" >&2
    grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)' "$log" | tail -n 40 >&2 || true
    find "$artifacts" -type f -exec echo "run.sh: reproduce with $build/bin/$target {}" \; >&2
  fi
done

table=$(
  echo "| target | seconds | executions | exec/s | corpus (seeds -> end) | result |"
  echo "|---|---:|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
)
echo
echo "$table"
if [[ -n ${EAOS_FUZZ_TABLE:-} ]]; then
  mkdir -p "$(dirname "$EAOS_FUZZ_TABLE")"
  echo "$table" >"$EAOS_FUZZ_TABLE"
fi
if ((${#failed[@]})); then
  echo "run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
