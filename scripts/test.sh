#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies, builds, runs every test (C++
# unit tests, the Python model tooling tests, integration, load and reliability tests against the
# real server binary), then the sanitizer builds (ASan + UBSan, TSan) on the tests that run on fakes
# and each libFuzzer target for a bounded time. docs/reliability.md describes each stage.
#
#   scripts/test.sh                     # everything
#   SKIP_INSTALL=1 scripts/test.sh      # dependencies already installed
#   SANITIZERS=0 FUZZ_SECONDS=0 ...     # only the release build's tests
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then scripts/install-deps.sh; fi
jobs=$(nproc)
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

if [[ "${SANITIZERS:-1}" != 0 ]]; then
  for preset in asan tsan; do
    cmake --preset "$preset"
    cmake --build --preset "$preset" -j "$jobs"
    ctest --preset "$preset" -j "$jobs"
  done
fi

fuzz_seconds=${FUZZ_SECONDS:-30}
if [[ "$fuzz_seconds" != 0 ]]; then tests/fuzz/run.sh "$fuzz_seconds"; fi
