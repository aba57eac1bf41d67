#!/usr/bin/env bash
# ghz, the gRPC load generator the overload test (tests/load/) drives the server with beside our
# own eaos-bench: a generator no one here wrote, talking to the server through reflection only.
#
#   ghz    Go module proxy: `go install github.com/bojand/ghz/cmd/ghz`, pinned, into
#          $EAOS_OPS_BIN (default /opt/eaos-ops/bin)
#
# Idempotent: skipped when the installed binary was built from the pinned module version (read
# from its build information with `go version -m`). Run by scripts/install-deps.sh with $SUDO set
# (empty as root).
set -euo pipefail

GHZ_VERSION=v0.120.0
ops_bin=${EAOS_OPS_BIN:-/opt/eaos-ops/bin}
sudo_cmd=${SUDO:-}
if [[ -z "${SUDO+x}" && $(id -u) -ne 0 ]]; then sudo_cmd=sudo; fi

ghz=$ops_bin/ghz
go=$(command -v go || echo /usr/local/go/bin/go)

built_from() {  # the ghz module version a binary was built from, or nothing
  "$go" version -m "$1" 2>/dev/null |
    awk '$1 == "mod" && $2 == "github.com/bojand/ghz" { print $3 }'
}

if [[ ! -x $ghz ]] || [[ $(built_from "$ghz") != "$GHZ_VERSION" ]]; then
  # ghz v0.120.0's go.mod asks for Go 1.18 (the machines carry a newer toolchain in /usr/local/go);
  # GOTOOLCHAIN=auto lets a module that wants a newer one fetch it from the proxy.
  if ! "$go" version 2>/dev/null | grep -Eq 'go1\.(1[89]|[2-9][0-9])'; then
    echo "50-ghz.sh: ghz needs Go >= 1.18 on PATH or in /usr/local/go" \
      "(found: $("$go" version 2>&1))" >&2
    exit 1
  fi
  $sudo_cmd mkdir -p "$ops_bin"
  tmp_bin=$(mktemp -d)
  trap 'rm -rf "$tmp_bin"' EXIT
  # main.version is what `ghz --version` prints ("dev" when built by go install without it).
  GOBIN=$tmp_bin GOTOOLCHAIN=auto "$go" install -ldflags="-X main.version=$GHZ_VERSION" \
    "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
  $sudo_cmd install -m 0755 "$tmp_bin/ghz" "$ghz"
fi
echo "50-ghz.sh: ghz $("$ghz" --version 2>&1) at $ghz"
