#!/usr/bin/env bash
# tests/cli/exit_codes.sh — the documented exit codes and one-line messages of the switchyard binary
# for bad configs (2), bad data and checkpoints (3) and numerical failure (4):  exit_codes.sh SWITCHYARD
set -uo pipefail
sy=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tiny=$root/configs/tiny.ini
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect CODE PATTERN -- command...: exit code and a stderr line matching PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -eq $code ]] && grep -qE -- "$pattern" "$tmp/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $* -> exit $rc (want $code), stderr:"; sed 's/^/  /' "$tmp/err" | head -5
    echo "  (want a line matching: $pattern)"
  fi
}

# llm.c shard: 256 int32 header (magic, version, ntokens) then uint16 tokens.
shard() {  # shard PATH MAGIC VERSION NTOKENS TOKEN_VALUE
  /usr/bin/python3 - "$@" <<'PY'
import struct, sys
path, magic, version, n, value = sys.argv[1], *map(int, sys.argv[2:])
header = [magic, version, n] + [0] * 253
with open(path, "wb") as f:
    f.write(struct.pack("<256i", *header))
    f.write(struct.pack(f"<{n}H", *([value] * n)))
PY
}

expect 2 "model.no_such_key" -- "$sy" train --config "$tiny" --model.no_such_key=3
expect 2 "moe.top_k" -- "$sy" train --config "$tiny" --moe.top_k=9
expect 2 "model.n_heads" -- "$sy" train --config "$tiny" --model.n_heads=5
expect 2 "model.moe_layers" -- "$sy" train --config "$tiny" --model.moe_layers=7
expect 2 "parallel.ep" -- "$sy" train --config "$tiny" --parallel.ep=3
expect 2 "SWITCHYARD_TEST_NODE_SIZE" -- env SWITCHYARD_TEST_NODE_SIZE=two "$sy" train --config "$tiny" --parallel.a2a=hierarchical
# Which refusal depends on the build and the machine (tests/unit/device_test.cpp checks each); with a GPU it trains.
if nvidia-smi -L >/dev/null 2>&1; then
  if "$sy" train --config "$tiny" --train.device=cuda --train.steps=2 >"$tmp/out" 2>&1 && grep -q "^step 2/2" "$tmp/out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: train.device = cuda on a machine with a GPU:"; tail -5 "$tmp/out" | sed 's/^/  /'
  fi
else
  expect 2 "^switchyard: train.device = cuda: (this build has no CUDA backend|no usable CUDA device)" -- "$sy" train --config "$tiny" --train.device=cuda
fi
expect 2 "^switchyard: train.precision = bf16 with train.device = cuda" -- "$sy" train --config "$tiny" --train.device=cuda --train.precision=bf16
expect 2 "no_such.ini" -- "$sy" train --config "$tmp/no_such.ini"
expect 2 "usage|unknown|--bogus" -- "$sy" train --config "$tiny" --bogus

expect 3 "$tmp/missing.txt" -- "$sy" train --config "$tiny" --model.vocab_size=256 --data.source="text:$tmp/missing.txt"
printf 'short' >"$tmp/short.txt"
expect 3 "$tmp/short.txt" -- "$sy" train --config "$tiny" --model.vocab_size=256 --data.source="text:$tmp/short.txt"
shard "$tmp/bad_magic.bin" 12345 1 100 1
expect 3 "bad_magic.bin.*magic" -- "$sy" train --config "$tiny" --data.source="shards:$tmp/bad_magic.bin"
shard "$tmp/bad_version.bin" 20240520 7 100 1
expect 3 "bad_version.bin.*version" -- "$sy" train --config "$tiny" --data.source="shards:$tmp/bad_version.bin"
shard "$tmp/big_token.bin" 20240520 1 100 500
expect 3 "big_token.bin.*500" -- "$sy" train --config "$tiny" --data.source="shards:$tmp/big_token.bin"
expect 3 "nothing|no file|match" -- "$sy" train --config "$tiny" --data.source="shards:$tmp/none-*.bin"

expect 3 "$tmp/no_ckpt" -- "$sy" eval --ckpt "$tmp/no_ckpt" --data.source=synthetic
"$sy" train --config "$tiny" --train.steps=2 --ckpt.dir="$tmp/ck" >/dev/null
/usr/bin/python3 - "$tmp/ck/step-00000002/model-rank-0.h5" <<'PY'
import h5py, sys
path = sys.argv[1]
with h5py.File(path, "r") as f:
    offset = f["model/decoder/layers/1/moe_layer/experts/0/fc1/weight"].id.get_offset()
with open(path, "r+b") as f:
    f.seek(offset + 8); b = f.read(1); f.seek(offset + 8); f.write(bytes([b[0] ^ 0x40]))
PY
expect 3 "model-rank-0.h5.*experts/0/fc1/weight" -- "$sy" eval --ckpt "$tmp/ck" --data.source=synthetic
rm "$tmp/ck/step-00000002/model-rank-0.h5"
expect 3 "model-rank-0.h5" -- "$sy" eval --ckpt "$tmp/ck" --data.source=synthetic

expect 4 "non-finite" -- "$sy" train --config "$tiny" --train.lr=1e30 --train.min_lr=1e30 --train.steps=20 --train.grad_clip=0

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
