# Sourced by the deps.d scripts that make a Python virtualenv with the eaos-client package in it
# (40-python-client.sh, 47-peers.sh). Stamps in the virtualenv skip the steps whose inputs did not
# change, so a second run is fast and changes nothing.
#
#   source "$repo/scripts/deps.d/lib/python-venv.sh"
#   venv_create "$venv" [--system-site-packages]
#   venv_requirements "$venv" "$requirements"   # pip install -r, when the file changed
#   venv_client_package "$venv" "$repo"         # eaos-client, when its sources or the proto changed

venv_stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

venv_create() {  # venv_create VENV [OPTIONS...]: /usr/bin/python3 -m venv, once
  local venv=$1
  shift
  if [[ ! -x $venv/bin/python ]]; then /usr/bin/python3 -m venv "$@" "$venv"; fi
}

venv_requirements() {  # venv_requirements VENV REQUIREMENTS_FILE
  local venv=$1 requirements=$2 stamp
  stamp=$(venv_stamp_of "$requirements")
  if [[ $(cat "$venv/.eaos-deps-stamp" 2>/dev/null) != "$stamp" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$stamp" >"$venv/.eaos-deps-stamp"
  fi
}

# The package, built without isolation by the grpcio-tools the requirements pinned (isolation
# would take the newest grpcio-tools, whose stubs the pinned protobuf refuses).
venv_client_package() {  # venv_client_package VENV REPO
  local venv=$1 repo=$2 stamp
  local -a sources
  mapfile -t sources < <(cd "$repo" && find client/python/pyproject.toml client/python/setup.py \
    client/python/src proto -type f \( -name '*.py' -o -name '*.toml' -o -name '*.proto' \) \
    -not -path '*/_gen/*' -not -path '*/__pycache__/*' | sort)
  stamp=$( (cd "$repo" && venv_stamp_of "${sources[@]}") )
  if [[ $(cat "$venv/.eaos-package-stamp" 2>/dev/null) != "$stamp" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation --force-reinstall "$repo/client/python"
    echo "$stamp" >"$venv/.eaos-package-stamp"
  fi
}
