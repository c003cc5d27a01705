#!/usr/bin/env bash
# tests/parity/run_eval_parity.sh — `switchyard eval` of a trained checkpoint against tools/torch_ref.py eval:
#   run_eval_parity.sh SWITCHYARD PYTHON CONFIG
set -euo pipefail
sy=$1 python=$2 config=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text=$root/tools/torch_ref.py  # any byte stream will do
"$sy" train --config "$config" --model.vocab_size=256 --parallel.ep=1 --data.source="text:$text" \
  --train.steps=20 --train.lr=3e-3 --ckpt.dir="$tmp/ck" --log.every=10 >/dev/null
ours=$("$sy" eval --ckpt "$tmp/ck" --data.source="text:$text" --eval.max_windows=150 | tail -1)
seq_len=$("$python" -c "import configparser,sys; c=configparser.ConfigParser(); c.read(sys.argv[1]); print(c['train']['seq_len'])" "$config")
ref=$("$python" "$root/tools/torch_ref.py" eval --ckpt "$tmp/ck" --text "$text" --seq-len "$seq_len" --max-windows 150 --dtype float64 | tail -1)
echo "switchyard: $ours"
echo "torch_ref:  $ref"
"$python" - "$ours" "$ref" <<'PY'
import sys
def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split())}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
rel = abs(a["loss"] - b["loss"]) / abs(b["loss"])
print(f"relative loss error {rel:.3g}")
sys.exit(0 if rel <= 1e-5 and a["tokens"] == b["tokens"] else 1)
PY
