#!/usr/bin/env bash
# The PhoBERT-base-size end-to-end run (issue 14 part 7), outside CI: a RobertaModel of PhoBERT-base's
# shapes (vocab 64001, hidden 768, 12 layers, max_position_embeddings 258, padding_idx 1) with random
# weights + a 2-layer nn.TransformerEncoder + heads, saved in the seed layout, exported with
# `eaos_tools.export --module`, served by the real eaos-server; 320 comments compared with the user's
# Python path (PhobertTokenizer -> eager module -> decode.py). Prints the table; ~8 min on 2 cores.
#
#   scripts/phobert-base-e2e.sh [build/release] [extra phobert_e2e.py flags, e.g. --keep /tmp/phobert-base]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
shift || true
exec "$root/build/hfenv/bin/python" "$root/tests/e2e/phobert_e2e.py" --size base \
  --server "$build/bin/eaos-server" --client-python "$root/build/pyenv/bin/python" "$@"
