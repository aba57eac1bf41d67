#!/usr/bin/env bash
# grpcurl, the command-line gRPC client README.md and docs/first-10-minutes.md show, and that
# tests/ops/test_grpcurl.py drives a real server with (it is not packaged by Debian).
#
#   grpcurl    Go module proxy: `go install github.com/fullstorydev/grpcurl/cmd/grpcurl`, pinned,
#              into $EAOS_OPS_BIN (default /opt/eaos-ops/bin)
#   curl       Debian, for the walkthrough's metrics step (docs/first-10-minutes.md)
#
# Idempotent: skipped when the installed binary was built from the pinned module version (read
# from its build information with `go version -m`). Run by scripts/install-deps.sh with $SUDO set
# (empty as root). About 40 s of build on a fresh 2-core machine.
set -euo pipefail

GRPCURL_VERSION=v1.9.4
ops_bin=${EAOS_OPS_BIN:-/opt/eaos-ops/bin}
sudo_cmd=${SUDO:-}
if [[ -z "${SUDO+x}" && $(id -u) -ne 0 ]]; then sudo_cmd=sudo; fi

status=$(dpkg-query -W -f='${Status}' curl 2>/dev/null || true)
if [[ $status != "install ok installed" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends curl
fi

grpcurl=$ops_bin/grpcurl
go=$(command -v go || echo /usr/local/go/bin/go)

built_from() {  # the grpcurl module version a binary was built from, or nothing
  "$go" version -m "$1" 2>/dev/null |
    awk '$1 == "mod" && $2 == "github.com/fullstorydev/grpcurl" { print $3 }'
}

if [[ ! -x $grpcurl ]] || [[ $(built_from "$grpcurl") != "$GRPCURL_VERSION" ]]; then
  if ! "$go" version 2>/dev/null | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; then
    echo "55-grpcurl.sh: grpcurl needs Go >= 1.21 on PATH or in /usr/local/go" \
      "(found: $("$go" version 2>&1))" >&2
    exit 1
  fi
  $sudo_cmd mkdir -p "$ops_bin"
  tmp_bin=$(mktemp -d)
  trap 'rm -rf "$tmp_bin"' EXIT
  # main.version is what `grpcurl -version` prints ("dev build" without it).
  GOBIN=$tmp_bin GOTOOLCHAIN=auto "$go" install -ldflags="-X main.version=$GRPCURL_VERSION" \
    "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  $sudo_cmd install -m 0755 "$tmp_bin/grpcurl" "$grpcurl"
fi
echo "55-grpcurl.sh: $("$grpcurl" -version 2>&1) at $grpcurl"
