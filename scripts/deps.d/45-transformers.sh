#!/usr/bin/env bash
# The tokenizer exactness test's Python (issue 14 part 2): a virtualenv made from Debian's
# /usr/bin/python3 with --system-site-packages (so it keeps Debian's torch 1.13) at
# ${EAOS_HF_VENV:-<repo>/build/hfenv}, with transformers 4.46.3 (the last that runs with torch 1.13),
# numpy < 2 (numpy 2 breaks Debian's torch) and the segmenters pyvi and underthesea, every package
# pinned in 45-transformers.requirements.txt. Idempotent: a stamp skips pip when the pins did not change.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${EAOS_HF_VENV:-$repo/build/hfenv}
requirements=$repo/scripts/deps.d/45-transformers.requirements.txt
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ $(cat "$venv/.eaos-deps-stamp" 2>/dev/null) != "$stamp" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$stamp" >"$venv/.eaos-deps-stamp"
fi
"$venv/bin/python" -c 'import torch, transformers, pyvi, underthesea, numpy; assert numpy.__version__ < "2"' 
echo "45-transformers: $venv ready (transformers $("$venv/bin/python" -c 'import transformers; print(transformers.__version__)'))"
