#!/usr/bin/env bash
# tests/cli/ckpt_cli.sh — `switchyard ckpt` end to end: ls, show, verify (and a corrupted byte),
# reshard 1 → 4 → 2 with diff and eval unchanged, and a bad --ep:  ckpt_cli.sh SWITCHYARD
set -uo pipefail
sy=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tiny=$root/configs/tiny.ini
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# check NAME CONDITION...: one pass/fail per check; on failure show the last command's output.
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name"; sed 's/^/  out: /' "$tmp/out" | tail -8; sed 's/^/  err: /' "$tmp/err" | head -5
  fi
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
has() { grep -qE -- "$1" "$tmp/$2"; }

moe=(--model.moe_layers=0,1 --moe.num_experts=4)
run "$sy" train --config "$tiny" "${moe[@]}" --train.steps=2 --ckpt.dir="$tmp/ck"
check "train" test $rc -eq 0
ck=$tmp/ck/step-00000002

run "$sy" ckpt ls "$tmp/ck"
check "ls exit 0" test $rc -eq 0
check "ls lists step 2 complete and latest" has '^step-00000002 +step 2 .*bytes.*complete +latest' out
mkdir "$tmp/ck/step-00000004.partial"
run "$sy" ckpt ls "$tmp/ck"
check "ls marks .partial" has '^step-00000004.partial +step 4 .*partial$' out

run "$sy" ckpt verify "$tmp/ck"
check "verify OK" test $rc -eq 0
ndata=$(/usr/bin/python3 - "$ck" <<'PY'
import glob, h5py, sys
n = 0
for path in glob.glob(sys.argv[1] + "/*.h5"):
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        n += len(names)
print(n)
PY
)
check "verify last line counts every dataset" test "$(tail -1 "$tmp/out")" = "verify: OK ($ndata tensors)"

w=decoder/layers/1/moe_layer/experts/3/fc1/weight
run "$sy" ckpt show "$ck" --tensor $w
check "show exit 0" test $rc -eq 0
check "show root attributes" has '^  ep_size = 1$' out
check "show format" has '^  format = switchyard-moe$' out
check "show tensor line" has "^  /model/$w \[[0-9]+, [0-9]+\] float32 model-rank-0.h5 min=.* l2=" out
check "show optimizer tree" has '^  /optimizer/exp_avg_sq/' out
check "show values header" has "^values of /model/$w" out
rows=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1])['model/$w'].shape[0])" "$ck/model-rank-0.h5")
check "show prints every row" test "$(sed -n "/^values of/,\$p" "$tmp/out" | tail -n +2 | wc -l)" -eq "$rows"
first=$(/usr/bin/python3 -c "import h5py,sys; print('%.9g' % h5py.File(sys.argv[1])['model/$w'][0,0])" "$ck/model-rank-0.h5")
check "show first value" test "$(sed -n '/^values of/{n;p}' "$tmp/out" | cut -d' ' -f1)" = "$first"

run "$sy" ckpt reshard "$tmp/ck" "$tmp/r4" --ep 4
check "reshard ep 4" test $rc -eq 0
run "$sy" ckpt reshard "$tmp/r4" "$tmp/r2" --ep 2
check "reshard ep 2" test $rc -eq 0
for d in r4 r2; do
  run "$sy" ckpt verify "$tmp/$d"
  check "verify $d" has '^verify: OK' out
done
run h5ls -r "$tmp/r4/step-00000002/model-rank-3.h5"
check "h5ls model-rank-3.h5" has 'experts/0/fc1/weight' out
run "$sy" ckpt show "$tmp/r2"
check "r2 ep_size 2" has '^  ep_size = 2$' out
for d in r4 r2; do
  run "$sy" ckpt diff "$tmp/ck" "$tmp/$d"
  check "diff $d exit 0" test $rc -eq 0
  check "diff $d all zero" has '^diff: [1-9][0-9]* tensors compared, 0 differ, max_abs=0$' out
  check "diff $d nothing one-sided" bash -c "! grep -q 'only in' '$tmp/out'"
done
run "$sy" eval --ckpt "$tmp/ck" --data.source=synthetic
base=$(tail -1 "$tmp/out")
run "$sy" eval --ckpt "$tmp/r2" --data.source=synthetic
check "eval identical after reshard" test "$(tail -1 "$tmp/out")" = "$base"
check "eval loss line" has '^loss=' out

run "$sy" ckpt reshard "$tmp/ck" "$tmp/r3" --ep 3
check "reshard --ep 3 exit 2" test $rc -eq 2
check "reshard --ep 3 names --ep" has '--ep 3' err

# A deleted expert dataset, and a stored config whose model no longer matches the shapes.
cp -r "$tmp/r4" "$tmp/r4x"
cp -r "$tmp/r4" "$tmp/r4y"
/usr/bin/python3 - "$tmp/r4x/step-00000002" "$tmp/r4y/step-00000002" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1] + "/model-rank-1.h5", "r+") as f:
    del f["model/decoder/layers/0/moe_layer/experts/0/fc1/bias"]
with h5py.File(sys.argv[2] + "/model-shared.h5", "r+") as f:
    t = f.attrs["config"]
    t = t.decode() if isinstance(t, bytes) else t
    f.attrs.modify("config", t.replace("vocab_size = 64", "vocab_size = 80"))
PY
run "$sy" ckpt verify "$tmp/r4x"
check "verify missing expert exit 3" test $rc -eq 3
check "verify missing expert names it" has 'model-rank-1.h5: dataset /model/decoder/layers/0/moe_layer/experts/0/fc1/bias is missing: expert 1' err
run "$sy" ckpt verify "$tmp/r4y"
check "verify shape vs config exit 3" test $rc -eq 3
check "verify shape vs config names it" has 'model-shared.h5: dataset /model/decoder/embed_tokens/weight has shape \[64, 32\].*\[80, 32\]' err

# One flipped byte of an expert weight: verify fails (3) naming the file and the dataset.
/usr/bin/python3 - "$ck/model-rank-0.h5" <<'PY'
import h5py, sys
path = sys.argv[1]
with h5py.File(path, "r") as f:
    offset = f["model/decoder/layers/1/moe_layer/experts/2/fc2/weight"].id.get_offset()
with open(path, "r+b") as f:
    f.seek(offset + 8); b = f.read(1); f.seek(offset + 8); f.write(bytes([b[0] ^ 0x40]))
PY
run "$sy" ckpt verify "$tmp/ck"
check "verify corrupt exit 3" test $rc -eq 3
check "verify corrupt names file and dataset" has 'model-rank-0.h5.*experts/2/fc2/weight' err
rm "$tmp/r2/step-00000002/model-rank-1.h5"
run "$sy" ckpt verify "$tmp/r2"
check "verify missing rank file exit 3" test $rc -eq 3
check "verify missing names file" has 'model-rank-1.h5' err

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
