#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies, builds, runs every test (C++
# unit tests, the Python model tooling tests, integration tests against the real server binary).
#
#   scripts/test.sh                 # everything
#   SKIP_INSTALL=1 scripts/test.sh  # dependencies already installed
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then scripts/install-deps.sh; fi
jobs=$(nproc)
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"
