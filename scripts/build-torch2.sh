#!/usr/bin/env bash
# Builds eaos-serve against PyPI's LibTorch 2.x (the CUDA wheel's; its CUDA code paths compile
# without a GPU or a CUDA toolkit) and runs the release test suite on the CPU against it.
#
#   scripts/build-torch2.sh               # venv + pip install + configure + build + ctest
#   scripts/build-torch2.sh --skip-tests  # everything but ctest
#   scripts/build-torch2.sh -- -R Engine  # arguments after -- go to ctest
#
# Idempotent: an existing venv with the pinned torch is kept, CMake and Ninja rebuild only what
# changed. Nothing is installed into the system. Needs what scripts/install-deps.sh installs (the
# Debian gRPC, protobuf, sentencepiece, ... that the release build uses; the Python tests' venvs).
#
#   build/torch2env  the venv: torch==$TORCH_VERSION and its nvidia-*-cu12 wheels (~5 GB)
#   build/torch2     the build (preset torch2: cmake --build --preset torch2, ctest --preset torch2)
#
# Why 2.7.1: PyPI's Linux torch wheels use the C++11 ABI (_GLIBCXX_USE_CXX11_ABI=1, which Debian's
# gRPC/protobuf/abseil need) from 2.7.0 on; older ones cannot link with them. PyPI's x86_64 wheel
# is the CUDA one (cu126); its CMake config wants a CUDA toolkit, which the nvidia-* wheels do not
# make (no nvcc): cmake/TorchWheelCuda.cmake stands in with their runtime headers and libraries,
# plus the crt/ headers of nvidia-cuda-nvcc-cu12 (pinned to the runtime's CUDA 12.6).
#
# Environment: TORCH_VERSION [2.7.1]  NVCC_WHEEL_VERSION [12.6.85]  VENV [build/torch2env]
#              JOBS [nproc]  PYTHON [/usr/bin/python3]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
TORCH_VERSION=${TORCH_VERSION:-2.7.1}
# The crt/ headers that cuda_runtime_api.h includes; torch 2.7.1's runtime wheel is CUDA 12.6.
NVCC_WHEEL_VERSION=${NVCC_WHEEL_VERSION:-12.6.85}
VENV=${VENV:-$repo/build/torch2env}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
build=$repo/build/torch2

run_tests=1
ctest_args=()
while (($#)); do
  case $1 in
    --skip-tests) run_tests=0 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h | --help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "build-torch2.sh: unknown argument $1 (--skip-tests, -- CTEST_ARGS...)" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "=== build-torch2.sh: $*" >&2; }

# 1. The venv with the pinned torch.
if [[ ! -x $VENV/bin/python ]]; then
  log "venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py=$VENV/bin/python
pins=("torch==$TORCH_VERSION" "nvidia-cuda-nvcc-cu12==$NVCC_WHEEL_VERSION")
have=$("$py" -W ignore -c 'import importlib.metadata as m
print(" ".join(f"{p}=={m.version(p)}" for p in ("torch", "nvidia-cuda-nvcc-cu12")))' 2>/dev/null || true)
if [[ $have != "${pins[*]}" ]]; then
  log "pip install ${pins[*]} (torch brings its nvidia-* wheels, ~5 GB; had '${have:-none}')"
  "$py" -m pip install -q --disable-pip-version-check --progress-bar off "${pins[@]}"
fi
read -r version cuda abi torch_cmake < <("$py" -W ignore -c \
  'import torch; print(torch.__version__, torch.version.cuda, int(torch.compiled_with_cxx11_abi()), torch.utils.cmake_prefix_path)')
log "torch $version (CUDA $cuda, C++11 ABI $abi), CMake config in $torch_cmake"
if [[ $abi != 1 ]]; then
  log "torch $version uses the pre-C++11 ABI: it cannot link with Debian's gRPC/protobuf/abseil (take >= 2.7.0)"
  exit 1
fi
torch_prefix=$(dirname "$(dirname "$torch_cmake")")  # .../site-packages/torch
nvidia=$(dirname "$torch_prefix")/nvidia              # .../site-packages/nvidia

# 2. Configure (preset torch2) with this venv's paths. libc10 and libtorch are named: TorchConfig's
# find_library would take Debian's from /usr/lib first (and <torch> in CMAKE_PREFIX_PATH would
# bring torch/bin's old protoc).
wheel_cuda=
if [[ $cuda != None && -d $nvidia/cuda_runtime ]]; then wheel_cuda=$nvidia; fi
log "configure $build"
cmake --preset torch2 -DCMAKE_PREFIX_PATH="$torch_cmake" \
  -Dc10_LIBRARY="$torch_prefix/lib/libc10.so" -DTORCH_LIBRARY="$torch_prefix/lib/libtorch.so" \
  -DEAOS_TORCH_WHEEL_CUDA="$wheel_cuda" >"$build.configure.log" || {
  tail -n 40 "$build.configure.log" >&2
  exit 1
}

# 3. Build everything the release suite runs.
log "build ($JOBS jobs)"
cmake --build --preset torch2 -j "$JOBS"
if ! ldd "$build/bin/eaos-server" | grep -q "libtorch_cpu.so => $torch_prefix/lib/"; then
  log "eaos-server does not load the wheel's libtorch_cpu: $(ldd "$build/bin/eaos-server" | grep libtorch_cpu)"
  exit 1
fi
log "eaos-server: $(ldd "$build/bin/eaos-server" | grep -E 'libtorch_cpu|libc10_cuda' | awk '{print $3}' | tr '\n' ' ')"

# 4. The release test suite on the CPU.
if ((run_tests)); then
  log "ctest --preset torch2"
  ctest --preset torch2 -j "$JOBS" "${ctest_args[@]}"
fi
log "done"
