#!/usr/bin/env python3
# tests/mpi/fault_tests.py — fault scenarios of the CommEngine under real mpirun, judged from exit code, time and combined output.
#
# Usage: fault_tests.py MPIRUN_SH FAULT_MAIN SCENARIO
# Scenarios: clean stall_world stall_ep drop fail kill kill_rank0 error_exit (see fault_main.cpp for the step pattern:
# step i = op seq i; odd i: all_reduce 'grad bucket i' on world; even i: all_to_all_v 'dispatch i' on ep).
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

MPIRUN, FAULT_MAIN, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what, output=None):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:  ", what)


def start(np, args, env_extra=None, mpirun_opts=()):
    env = dict(os.environ)
    env.pop("SWITCHYARD_TEST_STALL", None)
    env.update(env_extra or {})
    cmd = ["bash", MPIRUN, *mpirun_opts, "-np", str(np), FAULT_MAIN, *args]
    print("$", " ".join(f"{k}={v}" for k, v in (env_extra or {}).items()), " ".join(cmd), flush=True)
    # Own process group, so a hung run can be cleaned up completely.
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(proc, timeout):
    t0 = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[test: killed after {timeout} s]\n"
    print(out)
    return proc.returncode, out, time.monotonic() - t0


def run(np, args, timeout, env_extra=None, mpirun_opts=()):
    t0 = time.monotonic()
    rc, out, _ = finish(start(np, args, env_extra, mpirun_opts), timeout)
    return rc, out, time.monotonic() - t0


def running(pid):
    # An exited rank may linger as a zombie until someone reaps it; that counts as exited.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def exit_lines(out):
    return re.findall(r"^switchyard: .*rank (\d+) \(\S+\) exits with code 5", out, re.M)


def scenario_clean():
    rc, out, secs = run(4, ["--steps", "30"], 60)
    check(rc == 0, f"clean run exits 0 (got {rc})")
    check(sorted(re.findall(r"fault_main: rank (\d) done after 30 steps", out)) == ["0", "1", "2", "3"],
          "every rank finished all 30 steps")
    check("switchyard:" not in out, "no stall, loss or abort message")
    check(secs < 30, f"clean run took {secs:.1f} s")


def scenario_stall_world():
    env = {"SWITCHYARD_TEST_STALL": "1:5"}
    rc, out, secs = run(3, ["--stall-timeout", "1.5"], 60, env)
    check(rc == 5, f"mpirun exits 5 (got {rc})")
    check("TEST HOOK SWITCHYARD_TEST_STALL=1:5" in out, "the hook announces itself")
    reports = re.findall(r"^switchyard: stall: .*$", out, re.M)
    check(len(reports) == 1, f"exactly one stall report (got {len(reports)})")
    check(any(re.match(r"switchyard: stall: all_reduce 'grad bucket 5' seq 5 on group world \(8 bytes\) not complete "
                       r"after \d+\.\d s; ranks not arrived: 1 \(\S+, last at seq 4 'dispatch 4'\)", r)
              for r in reports), "the report names the op, its seq, its group and the rank that did not arrive")
    check(len(exit_lines(out)) >= 1, "ranks say why they exit")
    check(secs < 20, f"stall detected and job ended in {secs:.1f} s (timeout 1.5 s)")
    # Without mpirun's abort-on-first-nonzero-exit every rank must end by itself, each with its own line.
    rc, out, secs = run(3, ["--stall-timeout", "1.5"], 60, env, ("--mca", "orte_abort_on_non_zero_status", "0"))
    check(sorted(exit_lines(out)) == ["0", "1", "2"], "every rank (also the stuck one) exits with code 5 by itself")
    check(secs < 20, f"... within {secs:.1f} s")


def scenario_stall_ep():
    # Rank 3 never posts seq 6, the EP all-to-all with rank 2; ranks 0 and 1 post seq 7 only
    # 100 ms later, so rank 2's report comes first.
    env = {"SWITCHYARD_TEST_STALL": "3:6"}
    rc, out, secs = run(4, ["--stall-timeout", "1.5", "--step-sleep-ms", "100"], 60, env)
    check(rc == 5, f"mpirun exits 5 (got {rc})")
    reports = re.findall(r"^switchyard: stall: .*$", out, re.M)
    check(len(reports) == 1, f"exactly one stall report (got {len(reports)})")
    check(any(re.match(r"switchyard: stall: all_to_all_v 'dispatch 6' seq 6 on group ep \(16 bytes\) not complete "
                       r"after \d+\.\d s; ranks not arrived: 3 \(\S+, last at seq 5 'grad bucket 5'\); "
                       r"reported by rank 2 ", r) for r in reports),
          "the report names the EP all-to-all, seq 6, and rank 3")
    check(secs < 20, f"ended in {secs:.1f} s")


def scenario_drop():
    # Op 4 (the all-to-all, EP group = world at W=3) is posted everywhere but never completes on rank 2.
    rc, out, secs = run(3, ["--stall-timeout", "1.5", "--step-sleep-ms", "100", "--drop", "4:2"], 60)
    check(rc == 5, f"mpirun exits 5 (got {rc})")
    reports = re.findall(r"^switchyard: stall: .*$", out, re.M)
    check(len(reports) == 1, f"exactly one stall report (got {len(reports)})")
    check(any(re.match(r"switchyard: stall: all_to_all_v 'dispatch 4' seq 4 on group ep \(24 bytes\) not complete "
                       r"after \d+\.\d s; ranks not arrived: none \(every member posted it; not complete on: 2 \(\S+\)\)",
                       r) for r in reports), "the report says everyone arrived and names the rank that never completed")
    check(secs < 20, f"ended in {secs:.1f} s")


def scenario_fail():
    rc, out, secs = run(3, ["--stall-timeout", "30", "--fail", "3:1"], 60)
    check(rc == 5, f"mpirun exits 5 (got {rc})")
    check(re.search(r"^switchyard: all_reduce 'grad bucket 3' seq 3 on group world failed on rank 1 \(\S+\): "
                    r"injected failure of op seq 3 on rank 1", out, re.M) is not None,
          "the failing rank names the op, seq, group and error")
    check("switchyard: stall" not in out, "no stall report (the failure ends the job, not the timeout)")
    check(secs < 15, f"ended in {secs:.1f} s with a 30 s stall timeout")


def scenario_kill(victim=2):
    with tempfile.TemporaryDirectory() as pid_dir:
        proc = start(4, ["--stall-timeout", "30", "--seconds", "60", "--pid-dir", pid_dir])
        deadline = time.monotonic() + 30
        while len(os.listdir(pid_dir)) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # a few steps of traffic
        pids = {}
        for r in range(4):
            with open(os.path.join(pid_dir, f"rank-{r}.pid")) as f:
                pids[r] = int(f.read())
        os.kill(pids[victim], signal.SIGKILL)
        killed_at = time.monotonic()
        rc, out, _ = finish(proc, 60)
        secs = time.monotonic() - killed_at
    check(rc != 0, f"mpirun exits non-zero (got {rc})")
    check(secs < 30, f"every rank gone {secs:.1f} s after kill -9 (limit 30 s, stall timeout 30 s)")
    check(re.search(rf"^switchyard: rank {victim} \(\S+\) lost: ", out, re.M) is not None,
          f"the output names the lost rank {victim}")
    check("still running" not in out, "no rank ran on")
    for r, pid in pids.items():
        check(not running(pid), f"rank {r} (pid {pid}) has exited")


def scenario_kill_rank0():
    # Rank 0 hosts the status board: the others see its connection close.
    scenario_kill(victim=0)


def scenario_error_exit():
    # Rank 1 throws before step 5; its engine tells the board while unwinding, the others exit 5 at once.
    rc, out, secs = run(3, ["--stall-timeout", "30", "--throw-at", "5:1"], 60)
    check(rc in (3, 5), f"mpirun exits 3 or 5 (got {rc})")
    check("fault_main: rank 1: fault_main: injected data error before step 5" in out, "the failing rank reports its error")
    check(re.search(r"^switchyard: rank 1 \(\S+\) stopped with an error: .*; rank [02] \(\S+\) exits with code 5", out,
                    re.M) is not None, "the other ranks name rank 1 and exit 5")
    check(secs < 15, f"ended in {secs:.1f} s with a 30 s stall timeout")


globals()["scenario_" + SCENARIO]()
print("FAILED:" if failures else "PASSED", *failures, sep="\n  ")
sys.exit(1 if failures else 0)
