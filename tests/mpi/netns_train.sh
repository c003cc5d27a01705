#!/usr/bin/env bash
# tests/mpi/netns_train.sh — `switchyard train` on two "hosts" (network namespaces): losses, hierarchical a2a, a cut link.
#
# Usage: netns_train.sh SWITCHYARD MPIRUN_SH PYTHON
#   1. ep = 4 across hosts A (ranks 0, 1) and B (ranks 2, 3): per-step losses equal the
#      single-host 4-rank run's exactly;
#   2. the same with parallel.a2a = hierarchical (2 nodes x 2): equal to flat exactly;
#   3. B's link cut mid-run, after a checkpoint was written: every rank exits with
#      code 5 within the stall timeout (plus a margin), each naming the stalled
#      collective and the ranks on the other host as unreachable; the latest
#      checkpoint verifies.
# Exit 77 (ctest: skipped) without root or iproute2.  Everything created is removed on exit.
set -u
SY=$1 MPIRUN_SH=$2 PYTHON=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/netns_hosts.sh"

netns_require_root
trap netns_hosts_down EXIT
netns_hosts_up "$MPIRUN_SH" || { echo "could not set up the namespaces"; exit 1; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
W=$NETNS_WORK
failed=0
ok() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failed=1; }

# Dropless routing and a global aux loss, as in train_tests.py; ep = 4 on 4 ranks.
train=("$SY" train --config "$root/configs/tiny.ini" --model.vocab_size=32 --model.d_model=16 --model.n_layers=2
       --model.n_heads=2 --model.d_ff=32 --model.max_seq_len=16 --model.moe_layers=0,1 --moe.num_experts=4
       --moe.top_k=2 --moe.capacity_factor=0 --moe.shared_experts=1 --moe.aux_loss_scope=global
       --moe.router_noise=gumbel --train.seq_len=8 --train.micro_batch=2 --train.lr=3e-3 --train.warmup_steps=2
       --parallel.threads=1 --parallel.ep=4)
losses() {  # the per-step losses of a metrics file, exactly (repr), on one line
  "$PYTHON" -c 'import json, sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1]) if l.strip()))' "$1"
}

# --- 1 and 2: losses on one host vs two, flat vs hierarchical.
bash "$MPIRUN_SH" -np 4 "${train[@]}" --train.steps=12 --log.metrics="$W/one_host.jsonl" >"$W/one_host.out" 2>&1 ||
  { fail "single-host run (exit $?)"; tail -20 "$W/one_host.out"; }
for algo in flat hierarchical; do
  "$NETNS_MPIRUN" "${train[@]}" --train.steps=12 --parallel.a2a=$algo --log.metrics="$W/$algo.jsonl" >"$W/$algo.out" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then fail "two-host run, a2a = $algo (exit $rc)"; tail -20 "$W/$algo.out"; continue; fi
  grep -q "layout: 4 ranks on 2 node(s)" "$W/$algo.out" && ok "a2a = $algo: 4 ranks on 2 nodes" ||
    fail "a2a = $algo: the layout does not show 2 nodes: $(grep layout: "$W/$algo.out")"
done
grep -q "a2a: parallel.a2a = hierarchical: each EP group spans 2 nodes of 2 members" "$W/hierarchical.out" 2>/dev/null &&
  ok "hierarchical all-to-all in use" || fail "hierarchical all-to-all not in use: $(grep '^a2a:' "$W/hierarchical.out")"
ref=$(losses "$W/one_host.jsonl" 2>/dev/null)
[ "$(echo $ref | wc -w)" = 12 ] || fail "single-host run logged 12 losses (got: $ref)"
for algo in flat hierarchical; do
  got=$(losses "$W/$algo.jsonl" 2>/dev/null)
  [ -n "$ref" ] && [ "$got" = "$ref" ] && ok "two hosts, a2a = $algo: 12 losses equal the single-host run's exactly" ||
    fail "two hosts, a2a = $algo: losses differ: got [$got] want [$ref]"
done

# --- 3: cut host B's link after a checkpoint; every rank must end by itself.
# Each rank runs under a recorder (the namespaces share the file system): its
# output and exit code land in files, since host B's output cannot reach mpirun
# once the link is down.
stall=4
cat >"$W/rank.sh" <<EOF
#!/bin/sh
r=\$OMPI_COMM_WORLD_RANK
"\$@" >$W/rank\$r.out 2>&1
rc=\$?
echo "\$r \$rc \$(date +%s.%N)" >>$W/exits
exit \$rc
EOF
chmod +x "$W/rank.sh"
ck=$W/ck
setsid "$NETNS_MPIRUN" "$W/rank.sh" "${train[@]}" --parallel.a2a=hierarchical --train.steps=1000000 \
  --log.every=100000 --ckpt.dir="$ck" --ckpt.every=10 --parallel.stall_timeout_s=$stall >"$W/cut.out" 2>&1 &
mpirun_pid=$!
for _ in $(seq 600); do [ -f "$ck/latest" ] && break; sleep 0.1; done
if [ ! -f "$ck/latest" ]; then
  fail "no checkpoint within 60 s"
  kill -9 -- -$mpirun_pid 2>/dev/null
  tail -20 "$W/cut.out" "$W"/rank*.out
else
  sleep 0.5
  ip link set "$NETNS_LINK_B" down
  cut=$(date +%s.%N)
  echo "cut $NETNS_LINK_B (host B) at $cut, latest checkpoint $(cat "$ck/latest")"
  for _ in $(seq $(( (stall + 20) * 10 ))); do
    [ -f "$W/exits" ] && [ "$(wc -l <"$W/exits")" -ge 4 ] && break
    sleep 0.1
  done
  # Let mpirun and host B's daemon reach each other again, so mpirun can wind the
  # job up: Open MPI's launcher itself waits for the cut-off daemon indefinitely
  # (with short oob_tcp keepalives it instead kills host A's ranks before they
  # can report).  The ranks above ended on their own, link still down.
  ip link set "$NETNS_LINK_B" up
  "$PYTHON" - "$W" "$cut" "$stall" <<'PY' || failed=1
import os, re, sys
w, cut, stall = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
bad = []
exits = {}
for line in open(f"{w}/exits") if os.path.exists(f"{w}/exits") else []:
    r, rc, t = line.split()
    exits[int(r)] = (int(rc), float(t) - cut)
for r in range(4):
    out = open(f"{w}/rank{r}.out").read() if os.path.exists(f"{w}/rank{r}.out") else ""
    if r not in exits:
        bad.append(f"rank {r} did not exit by itself within {stall + 20:.0f} s of the cut")
        print("FAIL: " + bad[-1])
        continue
    rc, secs = exits[r]
    others = "0, 1" if r >= 2 else "2, 3"
    m = re.search(r"^switchyard: rank %d \(\S+\) exits with code 5: .*stall of (\S+ '[^']*' seq \d+ on group \w+).*"
                  r"unreachable ranks: %s$" % (r, others), out, re.M)
    named = f"names {m.group(1)} and ranks {others}" if m else f"no message naming the collective and ranks {others}"
    what = f"rank {r}: exit {rc} after {secs:.1f} s, {named}"
    print(("ok:   " if rc == 5 and secs < stall + 6 and m else "FAIL: ") + what)
    report = re.search(r"^switchyard: stall: .*$", out, re.M)
    if report:
        print("      " + report.group(0))
    if not (rc == 5 and secs < stall + 6 and m):
        bad.append(what)
        print("  " + "\n  ".join(out.strip().splitlines()[-4:]))
sys.exit(1 if bad else 0)
PY
  for _ in $(seq 300); do kill -0 $mpirun_pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $mpirun_pid 2>/dev/null; then
    echo "note: mpirun still running 30 s after the link came back; killed"
    kill -9 -- -$mpirun_pid 2>/dev/null
  fi
  wait $mpirun_pid 2>/dev/null
  latest=$ck/$(cat "$ck/latest")
  "$SY" ckpt verify "$latest" >"$W/verify.out" 2>&1 && ok "latest checkpoint $(basename "$latest") verifies" ||
    { fail "latest checkpoint $latest does not verify"; cat "$W/verify.out"; }
fi
exit $failed
