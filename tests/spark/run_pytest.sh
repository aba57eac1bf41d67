#!/bin/sh
# Runs pytest with the Python client's virtualenv: run_pytest.sh VENV PYTEST_ARGS...
# Fails (never skips) when the virtualenv is missing.
venv=$1
shift
if [ ! -x "$venv/bin/python" ]; then
  echo "no Python client virtualenv at $venv: run scripts/deps.d/40-python-client.sh" >&2
  exit 1
fi
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q -rA "$@"
