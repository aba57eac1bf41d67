#!/usr/bin/env bash
# Test-only tools for the operations tests (tests/ops/): everything from a package registry, pinned.
#
#   prometheus, promtool      Debian `prometheus` (scrape test, `promtool check metrics|rules`)
#   kustomize                 Go module proxy: `go install sigs.k8s.io/kustomize/kustomize/v5`
#                             into $EAOS_OPS_BIN (default /opt/eaos-ops/bin)
#   kubernetes-validate       PyPI, into the venv build/opsenv (git-ignored), made from Debian's
#                             /usr/bin/python3; it ships the Kubernetes JSON schemas (no network
#                             needed when validating) and brings jsonschema + PyYAML along
#
# Idempotent: each step checks what is there first, so a second run only asks apt whether the
# packages are installed. Run by scripts/install-deps.sh with $SUDO set (empty as root).
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2  # v5.8.3 needs a kube-openapi version the module proxy here refuses (403)
KUBERNETES_VALIDATE_VERSION=1.37.0
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ops_bin=${EAOS_OPS_BIN:-/opt/eaos-ops/bin}
venv=${EAOS_OPS_VENV:-$repo/build/opsenv}
sudo_cmd=${SUDO:-}
if [[ -z "${SUDO+x}" && $(id -u) -ne 0 ]]; then sudo_cmd=sudo; fi

# Debian packages: only call apt when one is missing (dpkg-query is instant).
wanted=(prometheus python3-venv ca-certificates)
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's package also starts a prometheus service where an init system runs; the tests start
# their own on loopback ports, so a system one is harmless but unused.

# kustomize, pinned, built from the Go module proxy. Needs Go >= 1.21 (the machines carry a Go
# toolchain in /usr/local/go; Debian bookworm's golang-go is 1.19, too old): GOTOOLCHAIN=auto lets
# it fetch the toolchain kustomize's go.mod asks for, itself a module on the proxy.
kustomize=$ops_bin/kustomize
if [[ ! -x $kustomize ]] || [[ $("$kustomize" version 2>/dev/null) != *"$KUSTOMIZE_VERSION"* ]]; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  if ! "$go" version 2>/dev/null | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; then
    echo "30-ops.sh: kustomize needs Go >= 1.21 on PATH or in /usr/local/go (found: $("$go" version 2>&1))" >&2
    exit 1
  fi
  $sudo_cmd mkdir -p "$ops_bin"
  tmp_bin=$(mktemp -d)
  GOBIN=$tmp_bin GOTOOLCHAIN=auto "$go" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  $sudo_cmd install -m 0755 "$tmp_bin/kustomize" "$kustomize"
  rm -rf "$tmp_bin"
fi
echo "30-ops.sh: $("$kustomize" version) at $kustomize"

# kubernetes-validate in a venv (PyPI), pinned.
if [[ ! -x $venv/bin/python ]]; then /usr/bin/python3 -m venv "$venv"; fi
have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' \
  2>/dev/null || true)
if [[ $have != "$KUBERNETES_VALIDATE_VERSION" ]]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
echo "30-ops.sh: kubernetes-validate $KUBERNETES_VALIDATE_VERSION in $venv"
echo "30-ops.sh: $(promtool --version 2>&1 | head -n1)"
