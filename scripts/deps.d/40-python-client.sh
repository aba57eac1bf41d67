#!/usr/bin/env bash
# The Python client (client/python) and its Spark tests: a virtualenv made from Debian's
# /usr/bin/python3 at ${EAOS_PY_VENV:-<repo>/build/pyenv} with the pinned packages of
# client/python/requirements-test.txt (grpcio, grpcio-tools, protobuf, pyspark 4.0 with its Spark
# Connect server jar, pandas, pyarrow, pytest, build, uvicorn, and the word segmenters pyvi and
# underthesea that eaos_client.segment runs), then the eaos-client package itself, whose gRPC
# stubs grpcio-tools generates from proto/ at build time. Java 17 runs Spark; openssl makes the
# TLS test certificates; unshare (util-linux) gives the dns:/// test its own /etc/hosts.
# Idempotent: stamps in the virtualenv skip the steps whose inputs did not change.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${EAOS_PY_VENV:-$repo/build/pyenv}
requirements=$repo/client/python/requirements-test.txt
SUDO=${SUDO:-}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # $SUDO is empty or "sudo"
  $SUDO apt-get install -y -q --no-install-recommends "$@" ||
    { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "$@"; }
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

missing=()
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ! command -v java >/dev/null || [[ $(java_major) -lt 17 ]]; then
  missing+=(openjdk-17-jre-headless)
fi
command -v openssl >/dev/null || missing+=(openssl)
command -v unshare >/dev/null || missing+=(util-linux)
if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi

# shellcheck source=lib/python-venv.sh
source "$repo/scripts/deps.d/lib/python-venv.sh"
venv_create "$venv"
venv_requirements "$venv" "$requirements"
# The package: rebuilt when its sources or the proto change (ctest reinstalls it before testing).
venv_client_package "$venv" "$repo"
"$venv/bin/python" -c 'import eaos_client, grpc, pyspark, pyarrow, pandas' >/dev/null
echo "40-python-client: $venv ready (pyspark $("$venv/bin/python" -c 'import pyspark; print(pyspark.__version__)'))"
