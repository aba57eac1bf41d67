#!/usr/bin/env bash
# clang-tidy (the checks in .clang-tidy: bugprone, concurrency, performance, as errors) over every
# non-test translation unit of server/ and client/cpp/ in a build's compile_commands.json. Tests,
# fuzzers and generated code are not checked. Run by scripts/test.sh after the release build.
#
#   scripts/check-clang-tidy.sh [build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
tidy=${CLANG_TIDY:-clang-tidy-14}
jobs=${JOBS:-$(nproc)}
if ! command -v "$tidy" >/dev/null; then
  echo "check-clang-tidy: $tidy not found (scripts/install-deps.sh installs clang-tidy-14)" >&2
  exit 1
fi
list=$(mktemp)
/usr/bin/python3 - "$build/compile_commands.json" "$PWD" >"$list" <<'EOF_PY'
import json, sys
root = sys.argv[2]
seen = set()
for e in json.load(open(sys.argv[1])):
    path = e["file"]
    if not any(path.startswith(f"{root}/{d}/") for d in ("server", "client/cpp")):
        continue
    if path.endswith("_test.cc") or "/testing/" in path or path in seen:
        continue
    seen.add(path)
    print(path)
EOF_PY
total=$(wc -l <"$list")
echo "check-clang-tidy: $total translation units with $tidy"
out=$(mktemp)
trap 'rm -f "$list" "$out"' EXIT
rc=0
xargs -P "$jobs" -n 1 "$tidy" -p "$build" --quiet <"$list" >"$out" 2>&1 || rc=$?
# clang-tidy's own chatter ("N warnings generated", suppression counts) is not a finding.
grep -v -E '^[0-9]+ warnings?( and [0-9]+ errors?)? generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Use -system-headers' "$out" || true
if [[ $rc -ne 0 ]]; then
  echo "check-clang-tidy: FAILED (see the diagnostics above)" >&2
  exit 1
fi
echo "check-clang-tidy: $total translation units clean"
