#!/usr/bin/env bash
# The lock annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...) checked by a compiler:
# every translation unit of server/, client/cpp/, bench/ and tests/ in a build's
# compile_commands.json is compiled by clang with -Werror=thread-safety (syntax and analysis only,
# no code generated), with the same flags the build used. g++ ignores the annotations, so without
# this pass they are comments. Run by scripts/test.sh after the release build.
#
#   scripts/check-thread-safety.sh [build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
clang=${CLANG:-clang++-14}
jobs=${JOBS:-$(nproc)}
if ! command -v "$clang" >/dev/null; then
  echo "check-thread-safety: $clang not found (scripts/install-deps.sh installs clang-14)" >&2
  exit 1
fi
list=$(mktemp)
trap 'rm -f "$list"' EXIT
# One line per translation unit: its directory, then the compile command with the compiler
# replaced, -o and -c dropped, and the analysis flags added.
/usr/bin/python3 - "$build/compile_commands.json" "$PWD" "$clang" >"$list" <<'EOF'
import json, shlex, sys
entries = json.load(open(sys.argv[1]))
root, clang = sys.argv[2], sys.argv[3]
for e in entries:
    path = e["file"]
    if not any(path.startswith(f"{root}/{d}/") for d in ("server", "client/cpp", "bench", "tests")):
        continue
    args = shlex.split(e["command"])[1:]
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = True
            continue
        out.append(a)
    if out and out[-1] == path:
        out.pop()
    # Only the thread-safety analysis speaks: the build's own warnings are g++'s business.
    cmd = [clang, "-fsyntax-only", *out, "-Wno-everything", "-Wthread-safety",
           "-Werror=thread-safety", path]
    print(e["directory"] + "\t" + shlex.join(cmd))
EOF
total=$(wc -l <"$list")
echo "check-thread-safety: $total translation units with $clang -Werror=thread-safety"
# shellcheck disable=SC2016
if ! xargs -P "$jobs" -d '\n' -n 1 bash -c 'dir=${1%%$'"'"'\t'"'"'*}; cmd=${1#*$'"'"'\t'"'"'}; cd "$dir" && eval "$cmd"' _ <"$list"; then
  echo "check-thread-safety: FAILED (see the clang errors above)" >&2
  exit 1
fi
echo "check-thread-safety: $total translation units clean"
