#!/usr/bin/env python3
# tests/mpi/train_tests.py — `switchyard train` under real mpirun: world-size invariance, determinism,
# a killed rank, a stalled collective, and preemption with resume.
#
# Usage: train_tests.py MPIRUN_SH SWITCHYARD SCENARIO   (scenarios: see SCENARIOS at the bottom)
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

MPIRUN, SWITCHYARD, SCENARIO = sys.argv[1:4]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []
GLOBAL_BATCH = 8
# Dropless and global aux scope, so a split of the global batch over ranks cannot change the math.
MODEL = ["--model.vocab_size=32", "--model.d_model=16", "--model.n_layers=2", "--model.n_heads=2",
         "--model.d_ff=32", "--model.max_seq_len=16", "--model.moe_layers=0,1", "--moe.num_experts=4",
         "--moe.top_k=2", "--moe.capacity_factor=0", "--moe.shared_experts=1", "--moe.aux_loss_scope=global",
         "--moe.aux_loss_coef=0.05", "--moe.router_noise=gumbel", "--train.seq_len=8", "--train.lr=3e-3",
         "--train.warmup_steps=2", "--parallel.threads=1"]


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def command(world, ep, extra):
    cmd = [SWITCHYARD, "train", "--config", os.path.join(ROOT, "configs/tiny.ini"), *MODEL,
           f"--train.micro_batch={GLOBAL_BATCH // world}", f"--parallel.ep={ep}", *extra]
    return ["bash", MPIRUN, "-np", str(world), *cmd]


def run(world, ep, extra, timeout=120, env=None):
    # Variables given in `env` reach every rank (mpirun -x).
    cmd = command(world, ep, extra)
    for k in env or {}:
        cmd[4:4] = ["-x", k]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, p.stdout


def metrics(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def params(ckpt):
    """Every /model tensor of a checkpoint under its global name."""
    out = {}
    with h5py.File(os.path.join(ckpt, "model-shared.h5")) as f:
        f["model"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    for path in sorted(glob.glob(os.path.join(ckpt, "model-rank-*.h5"))):
        with h5py.File(path) as f:
            ids = list(f.attrs["global_expert_ids"])

            def take(name, obj):
                if isinstance(obj, h5py.Dataset):
                    parts = name.split("/")
                    i = parts.index("experts")
                    parts[i + 1] = str(ids[int(parts[i + 1])])
                    out["/".join(parts)] = obj[()]
            f["model"].visititems(take)
    return out


def scenario_invariance():
    """(W, ep) in {(1,1), (2,1), (2,2), (4,2), (4,4)}, a2a_chunks 1 and 3: losses and gradient norms
    within 1e-5 over 10 steps, parameters after step 1 within 1e-5 of the one-rank run."""
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for world, ep, chunks in [(1, 1, 1), (2, 1, 1), (2, 2, 1), (4, 2, 1), (4, 4, 1), (2, 2, 3), (4, 4, 3)]:
            d = os.path.join(tmp, f"w{world}e{ep}c{chunks}")
            rc, out = run(world, ep, ["--train.steps=10", f"--parallel.a2a_chunks={chunks}", f"--ckpt.dir={d}",
                                      "--ckpt.every=1", f"--log.metrics={d}/metrics.jsonl"])
            check(rc == 0, f"W={world} ep={ep} chunks={chunks} trains (exit {rc})")
            if rc != 0:
                print(out[-3000:])
                continue
            m = metrics(f"{d}/metrics.jsonl")
            runs[(world, ep, chunks)] = ([x["loss"] for x in m], [x["grad_norm"] for x in m],
                                         params(os.path.join(d, "step-00000001")))
        ref_losses, ref_norms, ref_params = runs.pop((1, 1, 1))
        for key, (losses, norms, p) in runs.items():
            worst = max(abs(a - b) / abs(b) for a, b in zip(losses, ref_losses))
            check(len(losses) == 10 and worst <= 1e-5, f"{key}: 10 losses within 1e-5 relative (worst {worst:.2e})")
            # The norm sums expert squares over the EP group and dense ones once: any rank's
            # share missing or counted twice shows here even when clipping does not act.
            worst = max(abs(a - b) / abs(b) for a, b in zip(norms, ref_norms))
            check(len(norms) == 10 and worst <= 1e-5, f"{key}: 10 grad norms within 1e-5 relative (worst {worst:.2e})")
            check(set(p) == set(ref_params), f"{key}: step-1 checkpoint holds every parameter once")
            worst_p = max(float(np.max(np.abs(p[n] - ref_params[n]))) / max(1.0, float(np.max(np.abs(ref_params[n]))))
                          for n in ref_params if n in p)
            check(worst_p <= 1e-5, f"{key}: parameters after step 1 within 1e-5 (worst {worst_p:.2e})")


def scenario_determinism():
    """Two identical 4-rank runs give bitwise-identical metrics (all but the timing fields)."""
    timing = {"tokens_per_s", "step_ms", "a2a_ms", "a2a_exposed_ms", "allreduce_ms", "allreduce_exposed_ms"}
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            rc, out = run(4, 2, ["--train.steps=8", "--parallel.a2a_chunks=2", f"--log.metrics={tmp}/m{i}.jsonl"])
            check(rc == 0, f"run {i} trains (exit {rc})")
            lines.append([{k: v for k, v in m.items() if k not in timing} for m in metrics(f"{tmp}/m{i}.jsonl")])
    check(len(lines[0]) == 8 and lines[0] == lines[1], "metrics identical across two 4-rank runs")


def rank_pids(mpirun_pid, n, deadline):
    """The pids of the switchyard processes mpirun started."""
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-P", str(mpirun_pid)], stdout=subprocess.PIPE, text=True).stdout.split()
        pids = [int(p) for p in out if "switchyard" in open(f"/proc/{p}/cmdline").read()]
        if len(pids) == n:
            return pids
        time.sleep(0.1)
    return []


def start(world, ep, extra, env=None):
    return subprocess.Popen(command(world, ep, extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def scenario_kill():
    """kill -9 of one rank of a 4-rank run: every rank exits within 30 s, non-zero, the lost rank named."""
    proc = start(4, 2, ["--train.steps=100000", "--log.every=1000", "--parallel.stall_timeout_s=60"])
    # mpirun.sh execs mpirun, so proc.pid is mpirun's pid.
    pids = rank_pids(proc.pid, 4, time.monotonic() + 30)
    check(len(pids) == 4, "found the 4 rank processes")
    time.sleep(1.0)
    victim = pids[2]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    secs = time.monotonic() - killed
    check(proc.returncode != 0, f"mpirun exits non-zero ({proc.returncode})")
    check(secs < 30, f"every rank gone {secs:.1f} s after kill -9")
    check(re.search(r"rank \d \(\S+\) lost", out) is not None, "the output names the lost rank")
    if failures:
        print(out[-3000:])


def scenario_stall():
    """A rank that skips a collective: the stall report names the collective and the rank, every rank exits 5."""
    t0 = time.monotonic()
    rc, out = run(4, 2, ["--train.steps=50", "--parallel.stall_timeout_s=3"], timeout=90,
                  env={"SWITCHYARD_TEST_STALL": "3:40"})
    secs = time.monotonic() - t0
    check(rc == 5, f"exit code 5 (got {rc})")
    # Rank 3 never posts op 40 (an EP-group op): whichever rank reports first — one
    # waiting at seq 40 or one of the other EP group further on at a world op — must
    # name the collective and list rank 3, last seen at seq 39, among those not arrived.
    m = re.search(r"^switchyard: stall: \S+ '[^']+' seq (\d+) on group \w+ .*ranks not arrived: (.*)$", out, re.M)
    check(m is not None and int(m.group(1)) >= 40 and re.search(r"\b3 \(\S+, last at seq 39 ", m.group(2)) is not None,
          "the stall report names the collective and rank 3 (last at seq 39)")
    check(secs < 60, f"ended in {secs:.1f} s")
    if failures:
        print(out[-3000:])


def scenario_preempt():
    """SIGUSR1 to one rank: all ranks save at the next step boundary and exit 0; the rerun resumes from
    that checkpoint and its losses repeat the uninterrupted run's bitwise."""
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--train.steps=2500", "--log.every=1"]
        rc, _ = run(2, 2, common + [f"--log.metrics={tmp}/straight.jsonl"])
        check(rc == 0, "uninterrupted run")
        straight = {m["step"]: m["loss"] for m in metrics(f"{tmp}/straight.jsonl")}
        split = common + [f"--ckpt.dir={tmp}/ck", f"--log.metrics={tmp}/split.jsonl"]
        proc = start(2, 2, split)
        pids = rank_pids(proc.pid, 2, time.monotonic() + 30)
        # Signal once training is under way (a few steps logged), not after a fixed
        # sleep: 2500 tiny steps can finish in under a second.
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(f"{tmp}/split.jsonl") and sum(1 for _ in open(f"{tmp}/split.jsonl")) >= 5:
                break
            time.sleep(0.005)
        os.kill(pids[1], signal.SIGUSR1)
        out, _ = proc.communicate(timeout=60)
        check(proc.returncode == 0, f"preempted run exits 0 (got {proc.returncode})")
        saved = metrics(f"{tmp}/split.jsonl")[-1]["step"] if os.path.exists(f"{tmp}/split.jsonl") else 0
        check("preemption signal" in out and os.path.exists(f"{tmp}/ck/latest") and 0 < saved < 2500,
              f"it saved a checkpoint at step {saved} of 2500")
        rc, out = run(2, 2, split)
        check(rc == 0 and f"at step {saved}" in out, f"the rerun resumes from step {saved}")
        resumed = metrics(f"{tmp}/split.jsonl")
        steps = [m["step"] for m in resumed]
        check(steps == list(range(1, 2501)), "the metrics file holds steps 1..2500 once each")
        check(all(m["loss"] == straight[m["step"]] for m in resumed), "every loss equals the uninterrupted run's")


def scenario_reshard():
    """Resume on another (W, ep): each rank loads exactly the experts it now owns, moments included;
    the continued run stays within 1e-4 of the uninterrupted one."""
    with tempfile.TemporaryDirectory() as tmp:
        rc, _ = run(1, 1, ["--train.steps=12", f"--log.metrics={tmp}/straight.jsonl"])
        check(rc == 0, "uninterrupted run")
        straight = {m["step"]: m["loss"] for m in metrics(f"{tmp}/straight.jsonl")}
        for (w1, e1), (w2, e2) in [((4, 4), (2, 2)), ((2, 2), (4, 4)), ((4, 2), (1, 1)), ((1, 1), (4, 4))]:
            d = f"{tmp}/w{w1}e{e1}-w{w2}e{e2}"
            rc1, _ = run(w1, e1, ["--train.steps=12", f"--ckpt.dir={d}/ck", f"--log.metrics={d}/m.jsonl",
                                  "--ckpt.every=6"], env=None)
            # Keep only the first 6 steps' checkpoint: the continued run resumes from step 6.
            for extra in glob.glob(f"{d}/ck/step-00000012"):
                subprocess.run(["rm", "-rf", extra])
            with open(f"{d}/ck/latest", "w") as f:
                f.write("step-00000006\n")
            rc2, out = run(w2, e2, ["--train.steps=12", f"--ckpt.dir={d}/ck", f"--log.metrics={d}/m2.jsonl"])
            got = {m["step"]: m["loss"] for m in metrics(f"{d}/m2.jsonl")} if rc2 == 0 else {}
            worst = max((abs(got[s] - straight[s]) / abs(straight[s]) for s in got), default=float("inf"))
            check(rc1 == 0 and rc2 == 0 and "at step 6" in out and sorted(got) == list(range(7, 13)) and worst <= 1e-4,
                  f"({w1},{e1}) -> ({w2},{e2}): steps 7-12 resumed, worst relative loss difference {worst:.2e}")


def scenario_errors():
    """Errors every rank meets alike end a 3-rank job with the documented code and one message."""
    cases = [(2, ["--log.metrics=/proc/no/such/dir/m.jsonl"], "log.metrics"),
             (3, ["--data.source=text:/no/such/file.txt", "--model.vocab_size=256"], "/no/such/file.txt"),
             (4, ["--train.lr=1e30", "--train.min_lr=1e30", "--train.grad_clip=0", "--train.steps=20"], "non-finite"),
             (2, ["--parallel.ep=2"], "parallel.ep")]
    for code, extra, needle in cases:
        p = subprocess.run(["bash", MPIRUN, "-np", "3", SWITCHYARD, "train", "--config",
                            os.path.join(ROOT, "configs/tiny.ini"), "--parallel.threads=1", *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        lines = [l for l in p.stdout.splitlines() if l.startswith("switchyard:")]
        check(p.returncode == code and p.stdout.count("switchyard:") == 1 and needle in lines[0],
              f"{' '.join(extra)}: exit {p.returncode} (want {code}), messages {lines}")


def scenario_hierarchical():
    """parallel.a2a = hierarchical on one host, 4 ranks as 2 fake nodes (SWITCHYARD_TEST_NODE_SIZE=2): losses equal
    the flat run's bitwise, with 1 and 3 chunks; where it cannot apply it falls back to flat and says why."""
    hook = {"SWITCHYARD_TEST_NODE_SIZE": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        for chunks in (1, 3):
            got = {}
            for algo in ("flat", "hierarchical"):
                m = f"{tmp}/{algo}{chunks}.jsonl"
                rc, out = run(4, 4, ["--train.steps=8", f"--parallel.a2a={algo}", f"--parallel.a2a_chunks={chunks}",
                                     f"--log.metrics={m}"], env=hook)
                check(rc == 0, f"a2a = {algo}, chunks = {chunks} trains (exit {rc})")
                if algo == "hierarchical":
                    check("a2a: parallel.a2a = hierarchical: each EP group spans 2 nodes of 2 members" in out,
                          "rank 0 says the 2D all-to-all is in use")
                got[algo] = [x["loss"] for x in metrics(m)] if rc == 0 else []
            check(len(got["flat"]) == 8 and got["flat"] == got["hierarchical"],
                  f"chunks = {chunks}: 8 losses identical, flat vs hierarchical")
        # ep = 2 with 2-rank fake nodes: each EP group lies within one node.
        rc, out = run(4, 2, ["--train.steps=2", "--parallel.a2a=hierarchical"], env=hook)
        check(rc == 0 and out.count("a2a: parallel.a2a = hierarchical falls back to the flat all-to-all: "
                                    "the EP group lies within one node") == 1,
              f"ep = 2 within fake nodes of 2: falls back to flat, said once (exit {rc})")


SCENARIOS = {f.__name__[len("scenario_"):]: f for f in
             [scenario_invariance, scenario_determinism, scenario_kill, scenario_stall, scenario_preempt,
              scenario_errors, scenario_reshard, scenario_hierarchical]}

if __name__ == "__main__":
    SCENARIOS[SCENARIO]()
    print(f"{SCENARIO}: {len(failures)} failed")
    sys.exit(1 if failures else 0)
