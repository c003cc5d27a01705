#!/usr/bin/env python3
# tests/mpi/kill_during_save.py — kill -9 of every rank while a checkpoint is being written: the previous
# checkpoint still verifies, evaluates and is what `latest` names; a rerun with resume=auto carries on from it.
#
# Usage: kill_during_save.py MPIRUN_SH SWITCHYARD
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

MPIRUN, SWITCHYARD = sys.argv[1:3]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []
WORLD = 2
# ~4.8 M parameters: a save writes ~100 MB (values + both moments) and fsyncs it, so
# a step-N.partial directory lives for a noticeable time.
MODEL = ["--model.d_model=256", "--model.d_ff=1024", "--model.n_heads=4", "--model.moe_layers=0,1",
         "--moe.num_experts=8", "--parallel.ep=2", "--parallel.threads=1", "--train.micro_batch=1",
         "--train.seq_len=8", "--log.every=1"]
PARTIAL = re.compile(r"^step-(\d{8})\.partial$")
STEP_DIR = re.compile(r"^step-(\d{8})$")


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def train(ckdir, steps):
    return ["bash", MPIRUN, "-np", str(WORLD), SWITCHYARD, "train", "--config", os.path.join(ROOT, "configs/tiny.ini"),
            *MODEL, f"--train.steps={steps}", f"--ckpt.dir={ckdir}", "--ckpt.every=1", "--ckpt.keep=0",
            "--ckpt.resume=auto"]


def rank_pids(mpirun_pid):
    """The rank processes mpirun started (its children running SWITCHYARD)."""
    out = subprocess.run(["pgrep", "-P", str(mpirun_pid)], stdout=subprocess.PIPE, text=True).stdout.split()
    pids = []
    for p in out:
        try:
            if os.path.basename(SWITCHYARD) in open(f"/proc/{p}/cmdline").read():
                pids.append(int(p))
        except OSError:
            pass
    return pids


def running(pid):
    """True while pid exists and is not a zombie."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_all(proc, pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # mpirun (mpirun.sh execs it) and anything left in its session
    except ProcessLookupError:
        pass


def partial_step(ckdir, min_step):
    try:
        names = os.listdir(ckdir)
    except FileNotFoundError:
        return None
    for n in names:
        m = PARTIAL.match(n)
        if m and int(m.group(1)) >= min_step:
            return int(m.group(1))
    return None


def kill_during_save(ckdir, min_step, delay):
    """Trains until step-XXXXXXXX.partial with step >= min_step appears, waits `delay` seconds, then
    SIGKILLs every rank and mpirun.  Returns (partial step or None, still there after the kill, output)."""
    proc = subprocess.Popen(train(ckdir, 100000), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    pids, step = [], None
    while time.monotonic() < deadline and proc.poll() is None:
        if len(pids) < WORLD:
            pids = rank_pids(proc.pid)
        step = partial_step(ckdir, min_step)
        if step is not None and len(pids) == WORLD:
            break
        time.sleep(0.001)
    if step is not None and delay > 0:
        time.sleep(delay)
    kill_all(proc, pids if step is not None else rank_pids(proc.pid))
    out, _ = proc.communicate(timeout=60)
    # Open MPI starts ranks in their own session, so only a kill by pid reaches them.  A rank inside
    # fsync sleeps uninterruptibly and dies only when the write-back returns: on a disk busy with
    # other tests that can take well over the 0.2 s this once waited, so allow 20 s.
    deadline = time.monotonic() + 20
    while True:
        alive = [p for p in pids if running(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(pids) == WORLD and not alive, f"every rank killed ({pids}, alive: {alive})")
    still_partial = step is not None and os.path.isdir(os.path.join(ckdir, f"step-{step:08d}.partial"))
    return step, still_partial, out


def run(cmd, timeout=300):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                       env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return p.returncode, p.stdout


def check_survivor(ckdir, partial, still_partial, what):
    """`latest` names a complete checkpoint older than the interrupted save (unless that save got as far
    as its commit), which verifies and evaluates.  Returns its step."""
    latest = open(os.path.join(ckdir, "latest")).read().strip() if os.path.exists(os.path.join(ckdir, "latest")) else ""
    m = STEP_DIR.match(latest)
    check(m is not None and os.path.isdir(os.path.join(ckdir, latest)), f"{what}: latest names a complete "
          f"checkpoint ('{latest}')")
    if m is None:
        return None
    step = int(m.group(1))
    if still_partial:
        check(step < partial, f"{what}: latest (step {step}) is older than the interrupted step-{partial:08d}.partial")
    else:
        check(step <= partial, f"{what}: latest (step {step}) is not newer than the interrupted save ({partial})")
    rc, out = run([SWITCHYARD, "ckpt", "verify", ckdir])
    check(rc == 0 and "OK" in out, f"{what}: switchyard ckpt verify passes (exit {rc}): {out.strip()[-200:]}")
    rc, out = run([SWITCHYARD, "eval", "--ckpt", ckdir, "--data.source=synthetic", "--eval.max_windows=4",
                   "--parallel.threads=1"])
    check(rc == 0 and re.search(r"^loss=\S+ tokens=\d+$", out, re.M) is not None and latest in out,
          f"{what}: switchyard eval of {latest} works (exit {rc}): {out.strip()[-200:]}")
    return step


def main():
    # (kill at the first .partial of step >= N, seconds after it appears): at once, while the rank
    # files are being written, and later in the save.
    cases = [(2, 0.0), (3, 0.03), (2, 0.08), (4, 0.15)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (min_step, delay) in enumerate(cases):
            ckdir = os.path.join(tmp, f"ck{i}")
            what = f"kill at step>={min_step} +{delay * 1000:.0f} ms"
            t0 = time.monotonic()
            partial, still_partial, out = kill_during_save(ckdir, min_step, delay)
            check(partial is not None, f"{what}: saw step-{partial or 0:08d}.partial and killed every rank "
                  f"({'still partial' if still_partial else 'save had completed'})")
            if partial is None:
                print(out[-3000:])
                continue
            step = check_survivor(ckdir, partial, still_partial, what)
            if step is None:
                continue
            # The rerun resumes from it, replaces the stale .partial, and finishes.
            rc, out = run(train(ckdir, partial + 1))
            done = os.path.join(ckdir, f"step-{partial + 1:08d}")
            check(rc == 0 and f"resumed from {os.path.join(ckdir, f'step-{step:08d}')} at step {step}" in out,
                  f"{what}: rerun resumes from step {step} and exits 0 (exit {rc})")
            left = [n for n in os.listdir(ckdir) if n.endswith(".partial")]
            check(os.path.isdir(done) and not left and
                  open(os.path.join(ckdir, "latest")).read().strip() == os.path.basename(done),
                  f"{what}: rerun committed {os.path.basename(done)}, no .partial left ({left})")
            if rc != 0:
                print(out[-3000:])
            rc, out = run([SWITCHYARD, "ckpt", "verify", ckdir])
            check(rc == 0, f"{what}: the resumed run's checkpoint verifies (exit {rc})")
            print(f"  case took {time.monotonic() - t0:.1f} s", flush=True)
            subprocess.run(["rm", "-rf", ckdir])
    print(f"kill_during_save: {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
