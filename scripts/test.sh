#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies, builds, runs every test (C++
# unit tests, the Python model tooling tests, integration, load and reliability tests against the
# real server binary, Spark and ops tests), clang's thread-safety analysis of every lock
# annotation (scripts/check-thread-safety.sh) and clang-tidy (scripts/check-clang-tidy.sh), then the sanitizer builds (ASan + UBSan, TSan) on the
# tests that run on fakes, and each libFuzzer target for a bounded time (docs/reliability.md).
# A failing stage does not stop the later ones; the exit code is non-zero if any failed.
#
#   scripts/test.sh                     # everything
#   SKIP_INSTALL=1 scripts/test.sh      # dependencies already installed (in this checkout too:
#                                       # the Python venvs live in build/)
#   SANITIZERS=0 FUZZ_SECONDS=0 ...     # only the release build's tests
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then scripts/install-deps.sh || exit 1; fi
jobs=$(nproc)
failed=()

stage() {  # stage NAME COMMAND...: runs it, remembers a failure
  local name=$1
  shift
  echo "=== test.sh: $name"
  if ! "$@"; then
    echo "=== test.sh: $name FAILED"
    failed+=("$name")
  fi
}

cmake --preset release && cmake --build --preset release -j "$jobs" || exit 1
stage "release tests" ctest --preset release -j "$jobs"
# g++ ignores the lock annotations: clang checks them on every translation unit of the build.
stage "thread-safety analysis" scripts/check-thread-safety.sh build/release
# bugprone, concurrency and performance checks of the server's and C++ client's own code.
stage "clang-tidy" scripts/check-clang-tidy.sh build/release

if [[ "${SANITIZERS:-1}" != 0 ]]; then
  for preset in asan tsan; do
    if cmake --preset "$preset" && cmake --build --preset "$preset" -j "$jobs"; then
      stage "$preset tests" ctest --preset "$preset" -j "$jobs"
    else
      failed+=("$preset build")
    fi
  done
fi

fuzz_seconds=${FUZZ_SECONDS:-30}
if [[ "$fuzz_seconds" != 0 ]]; then stage "fuzzing" tests/fuzz/run.sh "$fuzz_seconds"; fi

if ((${#failed[@]})); then
  echo "=== test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "=== test.sh: all stages passed"
