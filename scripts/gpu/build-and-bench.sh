#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root: builds eaos-server and eaos-bench against the
# machine's own PyTorch (a CUDA LibTorch) and the Debian .debs that scripts/gpu/fetch-debs.sh
# downloaded here (carried as .gpu-debs/), makes the base-size model (random weights) and runs the
# benchmark tables of docs/benchmarks.md on the GPU, writing them under $OUT.
#
#   scripts/gpu/build-and-bench.sh [STAGE...]     # default: all stages, in this order
#     prefix     unpack every .deb of $DEBS into $WORK/prefix (dpkg-deb -x; `ar` + tar without dpkg)
#     configure  CMake (Ninja) with CMAKE_PREFIX_PATH = that prefix + torch.utils.cmake_prefix_path
#     build      the eaos-server and eaos-bench targets
#     test       the engine's tests that need a GPU (OnCuda.*: fp16/bf16 tuples match fp32 on the
#                demo texts, a real CUDA out-of-memory error split and retried) and the engine,
#                self-test, model and calibration tests, on this machine; results in test.log
#     model      python3 -m eaos_tools.export --random-init base (12 layers, hidden 768)
#     bench      (a) batching off, (b) on, (c) in process, (d) MFU, closed loop; then the open
#                loop at 70% of saturation (bench/run_p99_at_70pct.sh)
#
# With the device tool (whole run in one call, ~10 min; or split into two calls, the build
# directory stays while the machine is warm):
#   run(command="scripts/gpu/build-and-bench.sh prefix configure build test model", carry=[".gpu-debs"])
#   run(command="scripts/gpu/build-and-bench.sh bench", carry=[".gpu-debs"])
#
# Environment (defaults in brackets):
#   DEBS [.gpu-debs]  WORK [build/gpu]  OUT [$WORK/out]  MODEL [$WORK/eaos-base]  PYTHON [python3]
#   DEVICE [cuda]: the servers' and the in-process engine's device; MODEL_PRESET [base]
#   SERVER_FLAGS ["--device=$DEVICE --max_batch_size=1024"]: flags of both servers; the in-process
#     row copies the batching server's limits
#   GOLDEN_CHECK [true]: false if the model's golden self-test fails on the GPU (servers and the
#     in-process engine; say so beside the numbers)
#   STREAMS [64] WINDOW [64] ITEMS_PER_MESSAGE [1] DURATION [15s] WARMUP [5s]: the closed loop
#   LENGTHS [lognormal]: eaos-bench --lengths
#   JOBS [nproc]: build parallelism
# Every step is bounded (timeouts); logs go to $OUT (at most 8 files: the device tool's limit).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
DEBS=${DEBS:-$repo/.gpu-debs}
WORK=${WORK:-$repo/build/gpu}
OUT=${OUT:-$WORK/out}
MODEL=${MODEL:-$WORK/eaos-base}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
GOLDEN_CHECK=${GOLDEN_CHECK:-true}
SERVER_FLAGS="${SERVER_FLAGS:---device=$DEVICE --max_batch_size=1024} --golden_check=$GOLDEN_CHECK"
MODEL_PRESET=${MODEL_PRESET:-base}
STREAMS=${STREAMS:-64}
WINDOW=${WINDOW:-64}
ITEMS_PER_MESSAGE=${ITEMS_PER_MESSAGE:-1}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-5s}
LENGTHS=${LENGTHS:-lognormal}
JOBS=${JOBS:-$(nproc)}
prefix=$WORK/prefix
build=$WORK/build
libdir=$prefix/usr/lib/x86_64-linux-gnu
mkdir -p "$WORK" "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/steps.log" >&2; }

# Tools of the prefix (protoc, grpc_cpp_plugin, pkgconf) and the programs we build find the
# prefix's shared libraries here; nothing is installed into the system.
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_LIBDIR=$libdir/pkgconfig:$prefix/usr/share/pkgconfig
export PKG_CONFIG_PATH=$PKG_CONFIG_LIBDIR

unpack() {  # unpack DEB DIR
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$2"
    return
  fi
  local member
  member=$(ar t "$1" | grep '^data\.tar')
  case $member in
    *.xz) ar p "$1" "$member" | tar -xJ -C "$2" ;;
    *.zst) ar p "$1" "$member" | zstd -dc | tar -x -C "$2" ;;
    *.gz) ar p "$1" "$member" | tar -xz -C "$2" ;;
    *) ar p "$1" "$member" | tar -x -C "$2" ;;
  esac
}

stage_prefix() {
  compgen -G "$DEBS/*.deb" >/dev/null || {
    log "no .debs in $DEBS: run scripts/gpu/fetch-debs.sh where Debian's archive is reachable"
    exit 1
  }
  if [[ -f $prefix/.manifest ]] && cmp -s "$prefix/.manifest" "$DEBS/MANIFEST"; then
    log "prefix: $prefix is up to date"
    return
  fi
  rm -rf "$prefix"
  mkdir -p "$prefix"
  for deb in "$DEBS"/*.deb; do unpack "$deb" "$prefix"; done
  # pkg-config files name /usr; point them into the prefix. (The CMake configs of the .debs find
  # their prefix from their own location.)
  for pc in "$libdir"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc; do
    [[ -f $pc ]] && sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=$prefix/usr#" "$pc"
  done
  cp "$DEBS/MANIFEST" "$prefix/.manifest" 2>/dev/null || true
  log "prefix: $(ls "$DEBS"/*.deb | wc -l) .debs unpacked into $prefix ($(du -sh "$prefix" | cut -f1))"
}

stage_configure() {
  local torch_prefix
  torch_prefix=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  log "configure: torch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.version.cuda)'), cmake prefix $torch_prefix"
  # TORCH_CUDA_ARCH_LIST: skip Torch's compile-a-probe architecture detection (we build no CUDA).
  TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} timeout 600 cmake -S "$repo" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix/usr;$torch_prefix" \
    -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" \
    -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc" \
    -DGRPC_PROTO_ROOT="$prefix/usr/share/grpc-proto" \
    -DEAOS_BUILD_TESTS=ON >"$OUT/configure.log" 2>&1 || {
    tail -n 60 "$OUT/configure.log" >&2
    log "configure failed: $OUT/configure.log"
    exit 1
  }
  log "configure: done"
}

stage_build() {
  timeout 1500 cmake --build "$build" -j "$JOBS" --target eaos-server eaos-bench \
    >"$OUT/build.log" 2>&1 || {
    grep -E -m 20 'error|Error' "$OUT/build.log" >&2 || true
    tail -n 40 "$OUT/build.log" >&2
    log "build failed: $OUT/build.log"
    exit 1
  }
  # Every shared library the two programs need must resolve (prefix, torch, or the base system).
  if ldd "$build/bin/eaos-server" "$build/bin/eaos-bench" | grep 'not found'; then
    log "build: unresolved libraries (above)"
    exit 1
  fi
  log "build: done ($(ldd "$build/bin/eaos-server" | grep -c "$prefix") libraries from the prefix)"
}

stage_test() {
  local targets=(engine_test self_test_test torch_model_test calibration_test)
  timeout 900 cmake --build "$build" -j "$JOBS" --target "${targets[@]}" >>"$OUT/build.log" 2>&1 || {
    grep -E -m 20 'error|Error' "$OUT/build.log" >&2 || true
    log "test: build failed: $OUT/build.log"
    return 0
  }
  # A failure is reported, not fatal: the benchmark still runs and the log says what failed.
  if timeout 600 ctest --test-dir "$build" --output-on-failure \
      -R '^(OnCuda|Engine|EngineOutOfMemory|SelfTest|GoldenDir|TorchModel|MemoryCostModel|DemoCalibration)' \
      >"$OUT/test.log" 2>&1; then
    log "test: $(grep -E 'tests passed' "$OUT/test.log")"
  else
    grep -E 'tests passed|\(Failed\)|\(Skipped\)' "$OUT/test.log" >&2 || true
    log "test: FAILURES, see $OUT/test.log"
  fi
  if grep -q 'OnCuda.*Skipped' "$OUT/test.log"; then log "test: OnCuda tests skipped: no CUDA?"; fi
}

stage_model() {
  if [[ -f $MODEL/model.pt ]]; then
    log "model: $MODEL exists"
    return
  fi
  # The models helper's preset: 12 layers, hidden 768, 12 heads, ffn 3072, max_length 256,
  # random weights with a fixed seed, exported through the same checks as any model.
  (cd models && timeout 900 "$PYTHON" -m eaos_tools.export --random-init "$MODEL_PRESET" \
    --tokenizer demo/tokenizer.model --labels labels.json --name "eaos-$MODEL_PRESET" --out "$MODEL" \
    --threads "$JOBS") >"$OUT/model.log" 2>&1 || {
    tail -n 40 "$OUT/model.log" >&2
    log "model: export failed ($OUT/model.log)"
    exit 1
  }
  log "model: $MODEL ($(du -sh "$MODEL" | cut -f1))"
}

stage_bench() {
  {
    echo "date: $(date -u +%FT%TZ)"
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
    fi
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true
    echo "cpus: $(nproc)"
    echo "SERVER_FLAGS: $SERVER_FLAGS"
    echo "streams $STREAMS window $WINDOW items/message $ITEMS_PER_MESSAGE lengths $LENGTHS"
    echo "duration $DURATION warmup $WARMUP"
    git -C "$repo" rev-parse HEAD 2>/dev/null || true
  } >"$OUT/env.txt"
  local bench_flags=(--lengths="$LENGTHS" --streams="$STREAMS" --items_per_message="$ITEMS_PER_MESSAGE"
    --duration="$DURATION" --warmup="$WARMUP" --drain=30s --max_outstanding=50000
    --golden_check="$GOLDEN_CHECK")
  export SERVER_FLAGS MODEL_DIR=$MODEL
  # (a) off, (b) on, (c) in process, (d) MFU against the measured bf16 matmul peak.
  log "bench: closed loop (a)-(d)"
  timeout 540 bench/run_batching_bench.sh "$build" "${bench_flags[@]}" --window="$WINDOW" \
    --device="$DEVICE" --measure_peak --threads="$JOBS" >"$OUT/closed.txt" 2>&1 || {
    tail -n 40 "$OUT/closed.txt" >&2
    log "bench: closed loop failed"
  }
  log "bench: open loop at 70% of saturation"
  SAT_WINDOW=$WINDOW STREAMS=$STREAMS DURATION=$DURATION timeout 300 bench/run_p99_at_70pct.sh \
    "$build" "${bench_flags[@]}" >"$OUT/open70.txt" 2>&1 || {
    tail -n 40 "$OUT/open70.txt" >&2
    log "bench: open loop failed"
  }
  grep -E '^\||throughput|MFU peak|^model' "$OUT/closed.txt" "$OUT/open70.txt" >&2 || true
}

stages=("$@")
((${#stages[@]})) || stages=(prefix configure build test model bench)
for s in "${stages[@]}"; do
  case $s in
    prefix | configure | build | test | model | bench) "stage_$s" ;;
    *) echo "unknown stage $s (prefix configure build test model bench)" >&2; exit 2 ;;
  esac
done
