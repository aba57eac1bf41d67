#!/usr/bin/env bash
# Installs everything eaos-serve needs to build, run and test on Debian 12 (bookworm).
# The one install script: used by the README quick start, .ci/run and docker/ images.
#
#   scripts/install-deps.sh            # build + runtime + test dependencies
#   scripts/install-deps.sh --runtime  # only what a running server needs (Docker runtime stage)
set -euo pipefail

runtime_only=0
[[ "${1:-}" == "--runtime" ]] && runtime_only=1

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

runtime_pkgs=(
  libgrpc++1.51 libprotobuf32 libsentencepiece0 libtorch1.13
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libabsl20220623 libopenblas0-openmp
  libicu72  # NFC normalization before tokenizing (server/text/normalize.h)
)
build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libtorch-dev libsentencepiece-dev sentencepiece
  libabsl-dev prometheus-cpp-dev libicu-dev
  libgtest-dev libgmock-dev googletest
  openssl  # the TLS tests make their certificates at test time
  # tests/fuzz: clang with libFuzzer and the sanitizer runtimes (only recommended by clang-14),
  # llvm-symbolizer for readable crash reports
  clang-14 libclang-rt-14-dev llvm-14
  clang-tidy-14  # scripts/check-clang-tidy.sh
  libopenblas-openmp-dev libopenblas0-openmp
  # model tooling (training, export, Python reference) and tests
  python3 python3-torch python3-numpy python3-sentencepiece python3-pytest
)

pkgs=("${runtime_pkgs[@]}")
if [[ $runtime_only -eq 0 ]]; then pkgs+=("${build_pkgs[@]}"); fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}"

# LibTorch's BLAS comes from libblas.so.3; the reference BLAS is ~30x slower than OpenBLAS.
# Point the alternative at OpenBLAS (OpenMP flavour) explicitly.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas | head -n1 || true)
  if [[ -n "$target" ]]; then "${sudo_cmd[@]}" update-alternatives --set "$alt" "$target" >/dev/null; fi
done
# Test-only extras (Spark, Prometheus, Kubernetes renderers, load and fuzz tools): each part of the
# test suite that needs more than the C++ toolchain keeps its installer in scripts/deps.d/, run in
# name order with the same sudo prefix. A running server needs none of them.
if [[ $runtime_only -eq 0 ]]; then
  for extra in "$(dirname "$0")"/deps.d/*.sh; do
    [[ -e "$extra" ]] || continue
    echo "install-deps: $(basename "$extra")"
    SUDO="${sudo_cmd[*]}" bash "$extra"
  done
fi
echo "install-deps: done"
