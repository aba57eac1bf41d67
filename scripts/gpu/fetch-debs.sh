#!/usr/bin/env bash
# Runs HERE (Debian 12 with Debian's package archive), not on the GPU machine: downloads the
# Debian .debs that scripts/gpu/build-and-bench.sh unpacks on the GPU machine, which has PyTorch
# (a CUDA LibTorch), CMake, ninja and a C++ compiler but no gRPC, Protobuf, Abseil, sentencepiece,
# prometheus-cpp, ICU or GoogleTest, and no network.
#
#   scripts/gpu/fetch-debs.sh [DEST]      # default DEST: .gpu-debs/ at the repository root
#
# Only `apt-get download` (no install; root only for `apt-get update` when the lists are empty).
# Idempotent: a package whose .deb is already in DEST is not fetched again. Writes DEST/MANIFEST
# (package version size). DEST is git-ignored and travels to the GPU machine as a carried path.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-$repo/.gpu-debs}

pkgs=(
  # gRPC (C++ runtime, headers + CMake config, grpc_cpp_plugin, health.proto for the client stubs)
  libgrpc++1.51 libgrpc29 libgrpc++-dev libgrpc-dev protobuf-compiler-grpc grpc-proto
  # Protobuf (runtime, headers + CMake config, protoc)
  libprotobuf32 libprotobuf-lite32 libprotoc32 libprotobuf-dev protobuf-compiler
  # Abseil
  libabsl20220623 libabsl-dev
  # sentencepiece (loaded by our shim library only; see docs/architecture.md)
  libsentencepiece0 libsentencepiece-dev
  # prometheus-cpp (its CMake config also asks for CURL and civetweb, for the push/pull parts)
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev
  libcivetweb1 libcivetweb-dev civetweb libcurl4 libcurl4-openssl-dev
  # what gRPC's and Protobuf's CMake configs and libraries need beyond a base system
  libc-ares2 libc-ares-dev libre2-9 libre2-dev libssl3 libssl-dev zlib1g-dev
  # GoogleTest: the bench target lives beside the tests and shares their support library
  libgtest-dev libgmock-dev googletest
  # ICU (NFC before tokenizing; found with pkg-config as icu-uc)
  libicu72 libicu-dev
  # pkg-config (CMake finds sentencepiece and ICU with it)
  pkgconf pkgconf-bin libpkgconf3
)

mkdir -p "$dest"
cd "$dest"
if ! apt-cache show libgrpc29 >/dev/null 2>&1; then
  echo "fetch-debs: package lists are empty; apt-get update" >&2
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
fi
missing=()
for p in "${pkgs[@]}"; do
  compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fetch-debs: downloading ${#missing[@]} packages into $dest" >&2
  # As root, apt hands downloads to its sandbox user, who may not write here: download as root.
  sandbox=(); [[ $(id -u) -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)
  apt-get download -q "${sandbox[@]}" "${missing[@]}"
fi
for f in *.deb; do
  echo "$(dpkg-deb -W --showformat='${Package} ${Version}' "$f") $(stat -c %s "$f")"
done >MANIFEST
echo "fetch-debs: $(ls ./*.deb | wc -l) .debs, $(du -sh --apparent-size . | cut -f1) in $dest"
