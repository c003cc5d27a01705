#!/usr/bin/python3
"""tests/parity/compare_grads.py — compares two loss/gradient files written by `torch_ref.py grads`
(or by switchyard in the same layout: scalars /loss /ce_loss /aux_loss /z_loss, tensors /grad/<name>).

  compare_grads.py A.h5 B.h5 [--loss-rtol 1e-5] [--grad-rtol 1e-4] [--grad-atol 1e-7] [--show 10]

B is the reference. Scalar error = |a-b| / max(|b|, 1e-12); tensor error =
max|a-b| / max(max|b|, 1e-12). A tensor passes when its error is <= grad-rtol
or max|a-b| <= grad-atol: the atol is for tensors whose exact gradient is zero
(k_proj biases: softmax ignores a shift shared by all keys), where float32
rounding noise (~1e-8) would otherwise give an unbounded relative error.
Prints the worst tensors; exits 1 naming the first failing entry (scalars
first, then tensors by name), also when an entry is missing from either file
or shapes differ.
"""
import argparse
import sys

import h5py
import numpy as np

SCALARS = ("loss", "ce_loss", "aux_loss", "z_loss")


def read(path):
    with h5py.File(path, "r") as f:
        scalars = {k: float(f[k][()]) for k in SCALARS if k in f}
        grads = {}
        if "grad" in f:
            f["grad"].visititems(lambda n, o: grads.__setitem__(n, np.asarray(o[()], np.float64))
                                 if isinstance(o, h5py.Dataset) else None)
    return scalars, grads


def compare(a_path, b_path, loss_rtol=1e-5, grad_rtol=1e-4, grad_atol=1e-7, show=10):
    """-> list of (name, error or None, message) failures in report order; prints the table."""
    (sa, ga), (sb, gb) = read(a_path), read(b_path)
    failures, rows = [], []
    for k in SCALARS:
        if k not in sa or k not in sb:
            failures.append((k, f"/{k} missing from {a_path if k not in sa else b_path}"))
            continue
        err = abs(sa[k] - sb[k]) / max(abs(sb[k]), 1e-12)
        print(f"{k:>8}: a={sa[k]:.9g} b={sb[k]:.9g} rel_err={err:.3g}")
        if not err <= loss_rtol:
            failures.append((k, f"/{k} rel_err {err:.3g} > {loss_rtol}"))
    for name in sorted(set(ga) | set(gb)):
        if name not in ga or name not in gb:
            failures.append((name, f"/grad/{name} missing from {a_path if name not in ga else b_path}"))
            continue
        a, b = ga[name], gb[name]
        if a.shape != b.shape:
            failures.append((name, f"/grad/{name} shape {list(a.shape)} vs {list(b.shape)}"))
            continue
        scale = max(float(np.abs(b).max(initial=0.0)), 1e-12)
        diff = float(np.abs(a - b).max(initial=0.0))
        err = diff / scale
        rows.append((err, name, scale, diff))
        if not (err <= grad_rtol or diff <= grad_atol):  # also catches NaN
            failures.append((name, f"/grad/{name} rel_err {err:.3g} > {grad_rtol} (max|a-b| {diff:.3g})"))
    rows.sort(key=lambda r: -r[0] if r[0] == r[0] else -np.inf)
    print(f"{len(rows)} gradient tensors compared; worst {min(show, len(rows))}:")
    print(f"  {'rel_err':>10}  {'max|a-b|':>10}  {'max|b|':>10}  name")
    for err, name, scale, diff in rows[:show]:
        print(f"  {err:10.3g}  {diff:10.3g}  {scale:10.3g}  {name}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b", help="the reference")
    ap.add_argument("--loss-rtol", type=float, default=1e-5)
    ap.add_argument("--grad-rtol", type=float, default=1e-4)
    ap.add_argument("--grad-atol", type=float, default=1e-7)
    ap.add_argument("--show", type=int, default=10)
    args = ap.parse_args()
    failures = compare(args.a, args.b, args.loss_rtol, args.grad_rtol, args.grad_atol, args.show)
    if failures:
        print(f"FAIL: {failures[0][1]} ({len(failures)} failing)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
