#!/usr/bin/env bash
# tests/slurm/slurm_test.sh — slurm/*.sbatch on a real one-node Slurm cluster (munged, slurmctld, slurmd started here):
# a 2-rank job runs to completion; a 2-rank job warned with SIGUSR1 saves, is requeued and finishes with the
# uninterrupted run's losses; a 2-rank job cancelled with scancel saves and stays cancelled.
#
# Usage: slurm_test.sh SWITCHYARD [PYTHON]
# Needs root: installs slurm-wlm and munge from Debian when missing. Exit 77
# (skipped) when not root or they cannot be installed. Everything lives in a
# temporary directory (SLURM_CONF points at its slurm.conf; munged on its own
# socket), and every daemon and job process is stopped on exit, pass or fail.
set -uo pipefail
sy=$(realpath "$1")
python=${2:-/usr/bin/python3}
root=$(cd "$(dirname "$0")/../.." && pwd)
started=$SECONDS
passed=0 failed=0

say() { echo "slurm_test: [$((SECONDS - started))s] $*"; }
check() {  # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok:   $name"
  else
    failed=$((failed + 1)); echo "FAIL: $name"
  fi
}

# ---- Slurm and munge present (or installed), else skipped -----------------------------------------
if [[ $(id -u) -ne 0 ]]; then
  echo "slurm_test: skipped: needs root to run slurmctld, slurmd and munged"
  exit 77
fi
have_all() { command -v munged && command -v slurmctld && command -v slurmd && command -v sbatch; } >/dev/null
if ! have_all; then
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; }
  if ! have_all; then
    echo "slurm_test: skipped: slurm-wlm and munge are not installed and apt-get could not install them"
    exit 77
  fi
fi

# ---- A one-node cluster in a temporary directory --------------------------------------------------
tmp=$(mktemp -d /tmp/switchyard-slurm.XXXXXX)
chmod 755 "$tmp"  # munged wants every directory above its socket searchable by all
conf=$tmp/slurm.conf
sl() { SLURM_CONF=$conf "$@"; }  # only Slurm commands (and so the jobs) see this cluster's config

# Stops what this script started: jobs first (slurmstepd outlives slurmd), then
# the daemons by their pid files, then any process whose environment still
# names this cluster's slurm.conf (daemons, step daemons and job processes all
# inherit it; this shell does not have it).
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null
}
ours() {
  local p
  for p in /proc/[0-9]*; do
    [[ ${p#/proc/} != "$$" ]] && { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf" &&
      echo "${p#/proc/}"
  done
}
cleanup() {
  trap - EXIT INT TERM
  local i pid
  if [[ -f $tmp/slurmctld.pid ]]; then
    for i in $(sl timeout 10 squeue -h -o %i 2>/dev/null); do sl timeout 10 scancel "$i" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
      [[ -z $(sl timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  for d in slurmd slurmctld munged; do
    [[ -f $tmp/$d.pid ]] && stop_pid "$(cat "$tmp/$d.pid")"
  done
  for pid in $(ours); do stop_pid "$pid"; done
  if ((failed)); then
    for log in slurmctld.log slurmd.log; do
      echo "--- tail of $log"; tail -n 15 "$tmp/$log" 2>/dev/null
    done
  fi
  if [[ -n ${SWITCHYARD_SLURM_TEST_KEEP:-} ]]; then echo "slurm_test: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ctest's TIMEOUT is 300 s and a killed script cannot stop its daemons: every
# wait below is capped so that the script ends, cleanup included, before that.
cap() { local left=$((270 - SECONDS)); echo $(($1 < left ? $1 : (left > 1 ? left : 1))); }

# wait_for SECONDS DESCRIPTION CONDITION...: polls, so nothing here can hang past its budget.
wait_for() {
  local limit=$((SECONDS + $(cap "$1"))) what=$2
  shift 2
  until "$@"; do
    if ((SECONDS >= limit)); then
      say "gave up waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

host=$(hostname -s)
read -r port_ctld port_d < <("$python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$tmp/munge" "$tmp/munge-socket" "$tmp/state" "$tmp/spool"
chmod 700 "$tmp/munge"
chmod 755 "$tmp/munge-socket"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"

# Facts this relies on (checked with Debian 12's slurm-wlm 22.05): every daemon
# and client reads $SLURM_CONF; auth/munge and cred/munge find munged through
# AuthInfo=socket; cred_expire is also how long a requeued job waits before it
# may start again (120 s by default). No cgroups: linuxproc tracking, no task
# plugin. config_overrides: the node is what this file says, whatever the
# machine has, so CI machines of any size behave alike. KillWait: SIGTERM to
# SIGKILL when a job is cancelled (30 s by default). The scheduler intervals
# (60 s and 30 s by default) decide when a requeued job is looked at again.
cat >"$conf" <<EOF
ClusterName=switchyard-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge-socket/munge.socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=10
SchedulerParameters=sched_interval=2,bf_interval=2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF

munged --force --socket="$tmp/munge-socket/munge.socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" ||
  { failed=1; say "munged did not start"; cat "$tmp/munge/munged.log"; exit 1; }
sl slurmctld || { failed=1; say "slurmctld did not start"; exit 1; }
sl slurmd || { failed=1; say "slurmd did not start"; exit 1; }
node_idle() { [[ $(sl timeout 5 sinfo -h -n "$host" -o %t 2>/dev/null) == idle ]]; }
wait_for 30 "node $host idle" node_idle || { failed=1; exit 1; }
say "cluster up: node $host idle (slurmctld port $port_ctld, slurmd port $port_d)"

# ---- The jobs ------------------------------------------------------------------------------------
# A small model, dropless and global aux scope as in tests/mpi/train_tests.py;
# 2 ranks, ep 2, one thread each. A step takes a few ms: job 2's signal, sent
# once 50 steps are logged, must reach the ranks long before step 2000.
# shellcheck disable=SC2054  # moe_layers=0,1 is one argument
model=(--model.vocab_size=32 --model.d_model=64 --model.n_layers=2 --model.n_heads=2 --model.d_ff=128
       --model.max_seq_len=64 --model.moe_layers=0,1 --moe.num_experts=4 --moe.top_k=2 --moe.capacity_factor=0
       --moe.shared_experts=1 --moe.aux_loss_scope=global --moe.router_noise=gumbel --train.seq_len=64
       --train.micro_batch=4 --train.lr=3e-3 --train.warmup_steps=2 --parallel.ep=2 --parallel.threads=1)
# Submitted from the repository root, as a user would; the output goes to the
# temporary directory, not into the repository.
submit() {  # submit SECONDS OUT RUN_DIR SCRIPT ARGS...: sbatch --wait, at most SECONDS
  local limit=$1 out=$2 run_dir=$3
  shift 3
  (cd "$root" && SWITCHYARD=$sy SWITCHYARD_RUN_DIR=$run_dir SWITCHYARD_MPIRUN_ARGS="--allow-run-as-root" \
    SLURM_CONF=$conf timeout "$(cap "$limit")" sbatch --parsable --wait -o "$out" \
    --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$@")
}
job_field() { sl scontrol show job "$1" 2>/dev/null | grep -oE "(^| )$2=[^ ]*" | head -1 | cut -d= -f2; }
# logged METRICS N: N steps are logged — the ranks are past start-up, their signal handlers in place.
logged() { [[ -f $1 && $(wc -l <"$1") -ge $2 ]]; }
steps_once() {  # steps_once METRICS N: the metrics file holds steps 1..N, each once
  "$python" - "$@" <<'PY'
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if steps == list(range(1, int(sys.argv[2]) + 1)) else 1)
PY
}

# Job 1: slurm/single-node.sbatch runs 6 steps to the end.
say "job 1: slurm/single-node.sbatch, 2 ranks, 6 steps"
submit 60 "$tmp/job1.out" "$tmp/run1" slurm/single-node.sbatch configs/tiny.ini "${model[@]}" \
  --train.steps=6 --ckpt.every=3 --log.every=1 >"$tmp/job1.id"
rc=$?
job1=$(head -1 "$tmp/job1.id")
check "job 1: sbatch --wait exits 0 (got $rc)" test $rc -eq 0
check "job 1: JobState=COMPLETED ExitCode=0:0" \
  test "$(job_field "$job1" JobState) $(job_field "$job1" ExitCode)" = "COMPLETED 0:0"
check "job 1: layout line shows 2 ranks on 1 node" grep -q '^layout: 2 ranks on 1 node(s), ep 2' "$tmp/job1.out"
check "job 1: slurm line names job $job1, restart count 0" \
  grep -qF "slurm: job $job1, nodes $host, restart count 0" "$tmp/job1.out"
check "job 1: metrics hold steps 1..6" steps_once "$tmp/run1/metrics.jsonl" 6
check "job 1: latest is step 6" test "$(cat "$tmp/run1/ckpt/latest" 2>/dev/null)" = step-00000006
"$sy" ckpt verify "$tmp/run1/ckpt" >"$tmp/verify1.out" 2>&1
check "job 1: switchyard ckpt verify OK" grep -q '^verify: OK' "$tmp/verify1.out"
((failed)) && sed 's/^/  job1.out: /' "$tmp/job1.out" | tail -20

# The same run uninterrupted, outside Slurm: the losses job 2 must reproduce.
steps=2000
long=("${model[@]}" --train.steps="$steps" --log.every=1 --log.metrics="$tmp/straight.jsonl")
say "reference: $steps steps under plain mpirun"
timeout "$(cap 90)" bash "$root/tests/mpi/mpirun.sh" -np 2 "$sy" train --config "$root/configs/tiny.ini" "${long[@]}" \
  >"$tmp/straight.out" 2>&1
check "reference run exits 0" test $? -eq 0

# Job 2: slurm/train.sbatch (on one node), warned with SIGUSR1 mid-run the way
# --signal=B:USR1@N warns it: to the batch shell only.
say "job 2: slurm/train.sbatch, 2 ranks, $steps steps, SIGUSR1 mid-run"
submit 150 "$tmp/job2.out" "$tmp/run2" slurm/train.sbatch configs/tiny.ini "${model[@]}" \
  --train.steps=$steps --log.every=1 >"$tmp/job2.id" &
waiter=$!
wait_for 30 "job 2 to be submitted" test -s "$tmp/job2.id"
job2=$(head -1 "$tmp/job2.id")
wait_for 60 "job 2 to train 50 steps" logged "$tmp/run2/metrics.jsonl" 50
say "job 2: SIGUSR1 to the batch shell after $(wc -l <"$tmp/run2/metrics.jsonl" 2>/dev/null) logged steps"
sl scancel --batch --signal=USR1 "$job2"
check "job 2: scancel --batch --signal=USR1 accepted" test $? -eq 0
wait "$waiter"
rc=$?
check "job 2: sbatch --wait exits 0 after the requeued run (got $rc)" test $rc -eq 0
check "job 2: JobState=COMPLETED Restarts=1 ExitCode=0:0" \
  test "$(job_field "$job2" JobState) $(job_field "$job2" Restarts) $(job_field "$job2" ExitCode)" = "COMPLETED 1 0:0"
saved=$(grep -oE 'checkpoint: .*/step-[0-9]+' "$tmp/job2.out" | head -1 | grep -oE '[0-9]+$' | sed 's/^0*//')
saved=${saved:-0}
check "job 2: the ranks heard the forwarded signal" grep -q '^preemption signal 10: saving and exiting' "$tmp/job2.out"
check "job 2: saved mid-run (step $saved of $steps)" test "$saved" -gt 0 -a "$saved" -lt $steps
check "job 2: the script requeued itself" grep -q "train.sbatch: .* requeueing job $job2" "$tmp/job2.out"
check "job 2: second run sees restart count 1" grep -qF "slurm: job $job2, nodes $host, restart count 1" "$tmp/job2.out"
check "job 2: second run resumed at step $saved" grep -qE "^resumed from .*/step-0*$saved at step $saved\$" "$tmp/job2.out"
check "job 2: metrics hold steps 1..$steps once each" steps_once "$tmp/run2/metrics.jsonl" $steps
"$python" - "$tmp/straight.jsonl" "$tmp/run2/metrics.jsonl" <<'PY' >"$tmp/compare.out" 2>&1
import json, sys
ref = {m["step"]: m["loss"] for m in (json.loads(l) for l in open(sys.argv[1]) if l.strip())}
got = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
bad = [m["step"] for m in got if m["loss"] != ref.get(m["step"])]
print(f"{len(got)} losses compared, {len(bad)} differ" + (f" (first at step {bad[0]})" if bad else ""))
sys.exit(1 if bad or not got else 0)
PY
check "job 2: every loss equals the uninterrupted run's ($(cat "$tmp/compare.out"))" test $? -eq 0
check "job 2: latest is step $steps" test "$(cat "$tmp/run2/ckpt/latest" 2>/dev/null)" = "$(printf step-%08d $steps)"
"$sy" ckpt verify "$tmp/run2/ckpt" >"$tmp/verify2.out" 2>&1
check "job 2: switchyard ckpt verify OK" grep -q '^verify: OK' "$tmp/verify2.out"
((failed)) && sed 's/^/  job2.out: /' "$tmp/job2.out" | grep -v '^  job2.out: step ' | tail -40

# Job 3: a plain scancel mid-run. Slurm sends SIGTERM to every process of the
# job (batch shell, mpirun, ranks): the ranks still save, and the job stays
# cancelled — the script requeues only after a USR1 warning. (mpirun lingers
# until Slurm's SIGKILL, KillWait = 10 s here; see train.sbatch.)
say "job 3: slurm/train.sbatch, plain scancel mid-run"
submit 90 "$tmp/job3.out" "$tmp/run3" slurm/train.sbatch configs/tiny.ini "${model[@]}" \
  --train.steps=1000000 --log.every=1 >"$tmp/job3.id" &
waiter=$!
wait_for 30 "job 3 to be submitted" test -s "$tmp/job3.id"
job3=$(head -1 "$tmp/job3.id")
wait_for 60 "job 3 to train 50 steps" logged "$tmp/run3/metrics.jsonl" 50
sl scancel "$job3"
wait "$waiter"
job_over() { [[ $(job_field "$1" JobState) != COMPLETING ]]; }
wait_for 60 "job 3 to finish completing" job_over "$job3"
state3="$(job_field "$job3" JobState) $(job_field "$job3" Restarts)"
check "job 3: JobState=CANCELLED Restarts=0 (got $state3)" test "$state3" = "CANCELLED 0"
check "job 3: the batch shell passed SIGTERM on" grep -q "train.sbatch: .* SIGTERM: asking the ranks" "$tmp/job3.out"
saved=$(sed -n 's/^step-0*\([0-9]*\)$/\1/p' "$tmp/run3/ckpt/latest" 2>/dev/null)
last=$(tail -1 "$tmp/run3/metrics.jsonl" 2>/dev/null | "$python" -c 'import json, sys; print(json.load(sys.stdin)["step"])' 2>/dev/null)
check "job 3: saved at the step boundary after the last logged step (step ${saved:-none}, last logged ${last:-none})" \
  test "${saved:-0}" -gt 0 -a "${saved:-0}" -eq "${last:-0}"
"$sy" ckpt verify "$tmp/run3/ckpt" >"$tmp/verify3.out" 2>&1
check "job 3: switchyard ckpt verify OK" grep -q '^verify: OK' "$tmp/verify3.out"
check "job 3: not requeued by the script" bash -c "! grep -q requeueing '$tmp/job3.out'"
((failed)) && sed 's/^/  job3.out: /' "$tmp/job3.out" | grep -v '^  job3.out: step ' | tail -20

say "$passed passed, $failed failed"
((failed == 0))
