#!/usr/bin/env bash
# tests/parity/run_parity.sh — PyTorch parity of loss and every gradient for one config:
#   run_parity.sh PARITY_DUMP PYTHON CONFIG [--expect-drops]
set -euo pipefail
dump=$1 python=$2 config=$3 expect=${4:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dump" --config "$config" --out "$tmp"
"$python" "$root/tools/torch_ref.py" grads --ckpt "$tmp/ckpt" --batch "$tmp/batch.h5" --out "$tmp/ref.h5" --dtype float64
"$python" "$root/tests/parity/compare_grads.py" "$tmp/ours.h5" "$tmp/ref.h5" --loss-rtol 1e-5 --grad-rtol 1e-4
if [[ $expect == --expect-drops ]]; then
  dropped=$("$python" -c "import h5py,sys; print(int(h5py.File(sys.argv[1])['dropped'][()]))" "$tmp/ours.h5")
  echo "dropped assignments: $dropped"
  [[ $dropped -gt 0 ]] || { echo "expected capacity drops in this config, saw none" >&2; exit 1; }
fi
