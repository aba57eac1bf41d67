#!/usr/bin/env bash
# nginx, the HTTP/2-terminating proxy in front of eaos-server (deploy/components/edge-proxy) and
# the one tests/edge/h2_flood_test.py floods in CI: Debian 12's `nginx` package (1.22.1, built with
# http_v2 and the grpc module, and carrying Debian's backport of the 1.25.3 rapid-reset mitigation,
# d/p/CVE-2023-44487.patch). bookworm's nginx-light / nginx-core are only transitional names for it.
#
# Idempotent: nothing is installed when nginx is present with HTTP/2 support. The package's
# postinst does not start a service in a container without an init (invoke-rc.d declines); the
# test starts its own nginx on a scratch prefix. Run by scripts/install-deps.sh with $SUDO set.
set -euo pipefail
SUDO=${SUDO:-}

has_nginx() {
  command -v nginx >/dev/null && nginx -V 2>&1 | grep -q -- '--with-http_v2_module'
}

if ! has_nginx; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # $SUDO is empty or "sudo"
  $SUDO apt-get install -y -q --no-install-recommends nginx ||
    { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends nginx; }
fi
has_nginx || { echo "60-proxy.sh: nginx without HTTP/2 support: $(nginx -V 2>&1 | head -1)" >&2; exit 1; }
