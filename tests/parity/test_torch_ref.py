#!/usr/bin/python3
"""tests/parity/test_torch_ref.py — checks tools/torch_ref.py against properties of DESIGN.md §3/§5.

Plain script: `/usr/bin/python3 tests/parity/test_torch_ref.py [name-substring]`;
exits non-zero when a check fails. Checkpoints come from tools/make_test_ckpt.py.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import h5py
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_test_ckpt as mk  # noqa: E402
import torch_ref as ref  # noqa: E402

PY = "/usr/bin/python3"
TORCH_REF = os.path.join(ROOT, "tools", "torch_ref.py")
COMPARE = os.path.join(ROOT, "tests", "parity", "compare_grads.py")
TESTS = []
TMP = tempfile.mkdtemp(prefix="torch_ref_test_")


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def ref_config(cfg):
    """Through the INI text, exactly as a checkpoint carries it."""
    return ref.Config(ref.parse_ini(mk.to_ini(cfg)))


def checkpoint(cfg, params, ep_size=1, name=None):
    path = os.path.join(TMP, name or f"ck{len(os.listdir(TMP))}")
    return mk.write_checkpoint(path, cfg, params, ep_size=ep_size)


def dropped(model):
    return sum(int((~l.moe_layer.last["keep"]).sum()) for l in model.decoder.layers if hasattr(l, "moe_layer"))


def run(*args):
    return subprocess.run([PY, *args], capture_output=True, text=True)


# ----------------------------------------------------------------------------- gradients
@test
def gradients_match_finite_differences():
    """float64 autograd vs central differences, two entries of every parameter, three presets."""
    for seed, token_seed, preset in ((0, 13, "fairseq"), (1, 11, "olmoe"), (2, 12, "learned")):
        cfg = mk.make_config(preset)
        model = ref.load_model(checkpoint(cfg, mk.random_params(cfg, seed), ep_size=2), torch.float64)
        tokens = mk.random_tokens(cfg, 2, 8, token_seed)
        losses, grads = ref.compute_grads(model, tokens)
        if cfg["moe"]["capacity_factor"] > 0:
            check(dropped(model) > 0, f"{preset}: the batch should overflow some expert")
        check("decoder/layers/0/moe_layer/gate/expert_bias" not in grads or preset != "learned",
              "expert_bias is a buffer, it must not get a gradient")
        rng = np.random.default_rng(seed)
        params = dict(model.named_parameters())
        worst = 0.0
        for key, p in params.items():
            for i in rng.choice(p.numel(), size=min(2, p.numel()), replace=False):
                flat, eps = p.data.view(-1), 1e-6
                old = float(flat[i])
                with torch.no_grad():
                    flat[i] = old + eps
                    up = float(model.losses(tokens)["loss"])
                    flat[i] = old - eps
                    down = float(model.losses(tokens)["loss"])
                    flat[i] = old
                fd, an = (up - down) / (2 * eps), float(grads[ref.h5_name(key)].reshape(-1)[i])
                worst = max(worst, abs(fd - an))
                check(abs(fd - an) <= 1e-7 + 1e-5 * abs(an), f"{preset} {key}[{i}]: autograd {an} vs fd {fd}")
        print(f"  {preset}: loss {losses['loss']:.6f}, dropped {dropped(model)}, worst |fd-autograd| {worst:.2e}")


# ----------------------------------------------------------------------------- routing
def moe_cfg(**moe):
    """One MoE layer with d_model = E = 3, so a router of 10*I makes r = 10 u."""
    return ref_config(mk.make_config(model=dict(vocab_size=8, d_model=3, n_layers=1, n_heads=1, d_ff=4,
                                                moe_layers=[0]), moe=dict(dict(num_experts=3, d_expert=4), **moe)))


def hand_layer(cfg, expert_bias=None):
    torch.manual_seed(0)
    layer = ref.MoELayer(cfg, expert_bias is not None).double()
    with torch.no_grad():
        layer.gate.wg.weight.copy_(10 * torch.eye(3))  # r = 10 u: u spells out the preference order
        if expert_bias is not None:
            layer.gate.expert_bias.copy_(torch.tensor(expert_bias))
    return layer


@test
def capacity_order_hand_built():
    """cap = ceil(0.75 * 4*2 / 3) = 2. First choices in token order, then second choices:
    t0 e0 ok, t1 e0 ok, t2 e0 DROP, t3 e1 ok; t0 e1 ok, t1 e1 DROP, t2 e2 ok, t3 e0 DROP.
    (Token-major placement would instead keep t1's second choice and drop both of t3's.)"""
    cfg = moe_cfg(top_k=2, capacity_factor=0.75)
    check(ref.capacity_for(cfg, 4) == 2, "capacity formula")
    layer = hand_layer(cfg)
    u = torch.tensor([[3., 2, 0], [3, 2, 0], [3, 0, 2], [2, 3, 0]], dtype=torch.float64)
    out, _, _ = layer(u, train=True)
    choices, keep = layer.last["choices"].tolist(), layer.last["keep"].tolist()
    check(choices == [[0, 1], [0, 1], [0, 2], [1, 0]], f"choices {choices}")
    check(keep == [[True, True], [True, False], [False, True], [True, False]], f"keep {keep}")
    p = torch.softmax(10 * u, dim=1)
    expected = torch.zeros_like(u)
    for n, c in [(0, 0), (1, 0), (3, 0), (0, 1), (2, 1)]:  # kept, gates not re-normalised
        e = choices[n][c]
        expected[n] += p[n, e] * layer.experts[e](u[n])
    check(torch.allclose(out, expected, rtol=1e-12, atol=1e-14), "MoE output over the kept set")
    layer(u, train=False)
    check(bool(layer.last["keep"].all()), "eval must be dropless")
    # normalize_topk divides by the sum over K(t), dropped ones included
    layer = hand_layer(moe_cfg(top_k=2, capacity_factor=0.75, normalize_topk=True))
    out, _, _ = layer(u, train=True)
    check(torch.allclose(out[2], p[2, 2] / (p[2, 0] + p[2, 2]) * layer.experts[2](u[2]), rtol=1e-12),
          "normalize_topk with a dropped first choice")
    # more capacity checks: ceil, and integer results stay exact
    for cf, n, k, e, cap in [(1.25, 16, 2, 4, 10), (1.0, 16, 1, 4, 4), (1.1, 10, 1, 4, 3), (2.0, 3, 2, 8, 2)]:
        got = ref.capacity_for(moe_cfg(num_experts=e, top_k=k, capacity_factor=cf), n)
        check(got == cap, f"capacity cf={cf} N={n} k={k} E={e}: {got} != {cap}")


@test
def topk_ties_and_expert_bias():
    layer = hand_layer(moe_cfg(top_k=2))
    layer(torch.tensor([[1., 1, 0], [0, 1, 1], [2, 2, 2]], dtype=torch.float64), train=True)
    check(layer.last["choices"].tolist() == [[0, 1], [1, 2], [0, 1]], "ties go to the lower index")
    layer = hand_layer(moe_cfg(top_k=1))
    layer(torch.tensor([[0., 2, 2]], dtype=torch.float64), train=True)
    check(layer.last["choices"].tolist() == [[1]], "top-1 tie")
    # the balancing bias changes the selection but not the gate value
    layer = hand_layer(moe_cfg(top_k=2), expert_bias=[0.0, 0.0, 0.5])
    u = torch.tensor([[1.0, 0.9, 0.0]], dtype=torch.float64)
    layer(u, train=True)
    p = torch.softmax(10 * u, dim=1)[0]
    check(layer.last["choices"].tolist() == [[0, 2]], f"bias selection {layer.last['choices'].tolist()}")
    check(torch.allclose(layer.last["gates"][0], p[[0, 2]], rtol=1e-12), "gate is p_e, not p_e + b_e")


@test
def aux_and_z_by_hand():
    """The capacity case above: f counts all 8 choices, dropped ones included."""
    layer = hand_layer(moe_cfg(top_k=2, capacity_factor=0.75))
    u = torch.tensor([[3., 2, 0], [3, 2, 0], [3, 0, 2], [2, 3, 0]], dtype=torch.float64) / 10
    u[:, 0] += torch.tensor([0.01, 0.02, 0.03, 0.04], dtype=torch.float64)  # distinct rows, same order
    _, aux, z = layer(u, train=True)
    check(not bool(layer.last["keep"].all()), "this case drops assignments")
    r = 10 * u
    p = torch.softmax(r, 1)
    f = [4 / 8, 3 / 8, 1 / 8]  # choices [[0,1],[0,1],[0,2],[1,0]]
    expected_aux = 3 * sum(f[e] * float(p[:, e].mean()) for e in range(3))
    expected_z = float(np.mean([math.log(sum(math.exp(v) for v in row)) ** 2 for row in r.tolist()]))
    check(abs(float(aux) - expected_aux) < 1e-12, f"aux {float(aux)} vs {expected_aux}")
    check(abs(float(z) - expected_z) < 1e-12, f"z {float(z)} vs {expected_z}")


# ----------------------------------------------------------------------------- equivalences
def dense_as_moe(params, cfg, layers, seed):
    """Same weights with each dense FFN of `layers` moved into expert 0 of an E=1 MoE layer."""
    out, rng = {}, np.random.default_rng(seed)
    for name, v in params.items():
        parts = name.split("/")
        if len(parts) > 3 and parts[1] == "layers" and int(parts[2]) in layers and parts[3] in ("fc1", "fc2", "fc3"):
            name = "/".join(parts[:3] + ["moe_layer", "experts", "0"] + parts[3:])
        out[name] = v
    for l in layers:
        out[f"decoder/layers/{l}/moe_layer/gate/wg/weight"] = rng.standard_normal((1, cfg["model"]["d_model"]))
    return out


@test
def single_expert_equals_dense():
    for preset, normalize in (("fairseq", True), ("olmoe", False)):
        dense = mk.make_config(preset, model=dict(moe_layers=[]))
        moe = mk.make_config(preset, model=dict(moe_layers=[0, 1]),
                             moe=dict(num_experts=1, top_k=1, capacity_factor=0.0, d_expert=dense["model"]["d_ff"],
                                      shared_experts=0, normalize_topk=normalize, z_loss_coef=0.0))
        params = mk.random_params(dense, 3)
        tokens = mk.random_tokens(dense, 2, 8, 4)
        ld, gd = ref.compute_grads(ref.load_model(checkpoint(dense, params), torch.float64), tokens)
        lm, gm = ref.compute_grads(ref.load_model(checkpoint(moe, dense_as_moe(params, moe, [0, 1], 5)),
                                                  torch.float64), tokens)
        check(abs(ld["ce_loss"] - lm["ce_loss"]) < 1e-12, f"{preset}: CE {ld['ce_loss']} vs {lm['ce_loss']}")
        check(abs(lm["aux_loss"] - 2.0) < 1e-12, "E=1: aux is exactly 1 per layer")
        moved = {n: m for n, m in zip(params, dense_as_moe(params, moe, [0, 1], 5))}
        for name, g in gd.items():
            # aux is constant for E=1 (p = 1) and z is switched off, so only the gate differs
            check(np.allclose(gm[moved[name]], g, rtol=1e-10, atol=1e-13), f"{preset}: grad {name}")


@test
def expert_parallel_split_is_invisible():
    for preset, splits in (("olmoe", (1, 2, 4, 8)), ("fairseq", (1, 2, 4)), ("learned", (1, 4))):
        cfg = mk.make_config(preset)
        params, tokens = mk.random_params(cfg, 7), mk.random_tokens(cfg, 2, 8, 8)
        results = [ref.compute_grads(ref.load_model(checkpoint(cfg, params, ep)), tokens) for ep in splits]
        for (l, g), ep in zip(results[1:], splits[1:]):
            check(l == results[0][0], f"{preset} ep {ep}: losses differ")
            check(g.keys() == results[0][1].keys(), f"{preset} ep {ep}: parameter names differ")
            for name in g:
                check(np.array_equal(g[name], results[0][1][name]), f"{preset} ep {ep}: {name}")


@test
def gqa_equals_repeated_kv_heads():
    cfg = mk.make_config("olmoe")  # 4 query heads, 2 kv heads
    mha = mk.make_config("olmoe", model=dict(n_kv_heads=4))
    params = mk.random_params(cfg, 11)
    wide = dict(params)
    dh = cfg["model"]["d_model"] // cfg["model"]["n_heads"]
    for name, v in params.items():
        if "k_proj" in name or "v_proj" in name:  # kv head h serves query heads 2h, 2h+1
            wide[name] = np.repeat(v.reshape(2, dh, -1), 2, axis=0).reshape(4 * dh, -1)
    tokens = mk.random_tokens(cfg, 2, 8, 12)
    a = ref.model_from_params(ref_config(cfg), params, torch.float64).losses(tokens)["loss"]
    b = ref.model_from_params(ref_config(mha), wide, torch.float64).losses(tokens)["loss"]
    check(abs(float(a) - float(b)) < 1e-12, f"GQA {float(a)} vs MHA {float(b)}")


@test
def tied_equals_untied_copy():
    cfg = mk.make_config("fairseq")
    untied = mk.make_config("fairseq", model=dict(tie_embeddings=False))
    params = mk.random_params(cfg, 13)
    copy = dict(params, **{"decoder/output_projection/weight": params["decoder/embed_tokens/weight"]})
    tokens = mk.random_tokens(cfg, 2, 8, 14)
    lt, gt = ref.compute_grads(ref.model_from_params(ref_config(cfg), params, torch.float64), tokens)
    lu, gu = ref.compute_grads(ref.model_from_params(ref_config(untied), copy, torch.float64), tokens)
    check(abs(lt["loss"] - lu["loss"]) < 1e-12, "tied vs untied loss")
    summed = gu["decoder/embed_tokens/weight"] + gu["decoder/output_projection/weight"]
    check(np.allclose(gt["decoder/embed_tokens/weight"], summed, rtol=1e-10, atol=1e-14), "tied grad = sum")


# ----------------------------------------------------------------------------- positions, causality
@test
def positions_follow_the_formulas():
    d, offset = 8, 2
    pe = ref.sinusoidal_positions(5, d, offset).numpy()
    for t in range(5):
        for i in range(d // 2):
            w = 10000.0 ** (-i / (d // 2 - 1))
            check(abs(pe[t, i] - math.sin((t + offset) * w)) < 1e-12, "sinusoidal sin half")
            check(abs(pe[t, i + d // 2] - math.cos((t + offset) * w)) < 1e-12, "sinusoidal cos half")
    dh, theta, T = 6, 500.0, 4
    x = torch.randn(1, 1, T, dh, dtype=torch.float64)
    y = ref.apply_rope(x, *ref.rope_tables(T, dh, theta))
    for t in range(T):
        for i in range(dh // 2):
            a = t * theta ** (-2 * i / dh)
            x0, x1 = float(x[0, 0, t, i]), float(x[0, 0, t, i + dh // 2])
            check(abs(float(y[0, 0, t, i]) - (x0 * math.cos(a) - x1 * math.sin(a))) < 1e-12, "rope first half")
            check(abs(float(y[0, 0, t, i + dh // 2]) - (x1 * math.cos(a) + x0 * math.sin(a))) < 1e-12, "rope second")
    # learned: rows [0, offset) are never read
    cfg = mk.make_config("learned")
    params = mk.random_params(cfg, 15)
    params["decoder/embed_positions/weight"][:2] = np.nan
    loss = ref.model_from_params(ref_config(cfg), params).losses(mk.random_tokens(cfg, 1, 16, 1))["loss"]
    check(math.isfinite(float(loss)), "learned positions must be read at t + position_offset")


@test
def attention_is_causal():
    for preset in ("fairseq", "olmoe", "learned"):
        cfg = mk.make_config(preset)
        model = ref.model_from_params(ref_config(cfg), mk.random_params(cfg, 16), torch.float64)
        x = torch.as_tensor(mk.random_tokens(cfg, 1, 8, 17)[:, :8], dtype=torch.long)
        y = x.clone()
        y[0, 5] = (y[0, 5] + 1) % cfg["model"]["vocab_size"]
        with torch.no_grad():
            a, b = model.decoder(x, train=False)[0], model.decoder(y, train=False)[0]
        # Not bitwise: the later token can change how many rows an expert's GEMM
        # has, and BLAS kernels may sum in another order for another row count
        # (seen with OpenBLAS's Zen kernels: ~1e-16).  A leak through the mask
        # would move the logits by far more than 1e-12.
        before = float((a[0, :5] - b[0, :5]).abs().max())
        after = float((a[0, 5:] - b[0, 5:]).abs().max())
        check(before < 1e-12, f"{preset}: a later token changed earlier logits by {before:.3g}")
        check(after > 1e-6, f"{preset}: the changed token had no effect ({after:.3g})")


# ----------------------------------------------------------------------------- eval and CLI
@test
def eval_matches_direct_computation():
    cfg = mk.make_config("learned")  # cf 1.0 drops in training; eval must not
    params = mk.random_params(cfg, 18)
    ck = os.path.dirname(checkpoint(cfg, params, 2))
    T, data = 8, np.random.default_rng(19).integers(0, 64, size=5 * 8 + 3).astype(np.uint8).tobytes()
    text = os.path.join(TMP, "eval.txt")
    with open(text, "wb") as f:
        f.write(data)
    dropless = ref.model_from_params(ref_config(mk.make_config("learned", moe=dict(capacity_factor=0.0))),
                                     params, torch.float64)

    def direct(count):
        total = 0.0
        for i in range(count):  # one window at a time, log-softmax by hand, train mode of a dropless twin
            w = torch.tensor(list(data[i * T:i * T + T + 1]))
            logits = dropless.decoder(w[None, :-1], train=True)[0][0]
            logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
            total -= float(logp[torch.arange(T), w[1:]].sum())
        return total / (count * T)

    for extra, count in (([], 5), (["--max-windows", "2"], 2)):
        res = run(TORCH_REF, "eval", "--ckpt", ck, "--text", text, "--seq-len", str(T), "--dtype", "float64", *extra)
        check(res.returncode == 0, f"eval failed: {res.stderr}")
        last = res.stdout.strip().splitlines()[-1].split()
        loss, tokens = float(last[0].split("=")[1]), int(last[1].split("=")[1])
        check(tokens == count * T, f"tokens {tokens} != {count * T}")
        check(abs(loss - direct(count)) < 1e-8, f"eval loss {loss} vs direct {direct(count)}")
    windows = torch.tensor([list(data[i * T:i * T + T + 1]) for i in range(5)])
    train = ref.model_from_params(ref_config(cfg), params, torch.float64)
    check(float(train.losses(windows, train=True)["ce_loss"]) != direct(5), "the eval data should overflow experts")


@test
def cli_grads_and_compare_grads():
    cfg = mk.make_config("fairseq")
    params, tokens = mk.random_params(cfg, 20), mk.random_tokens(cfg, 2, 8, 21)
    ck = os.path.dirname(checkpoint(cfg, params, 2))  # the dir holding `latest`
    batch, out64, out32 = (os.path.join(TMP, n) for n in ("batch.h5", "g64.h5", "g32.h5"))
    mk.write_batch(batch, tokens)
    for out, dt in ((out64, "float64"), (out32, "float32")):
        res = run(TORCH_REF, "grads", "--ckpt", ck, "--batch", batch, "--out", out, "--dtype", dt)
        check(res.returncode == 0, f"grads failed: {res.stderr}")
    direct = os.path.join(TMP, "direct.h5")
    ref.write_results(direct, *ref.compute_grads(ref.load_model(ck, torch.float64), tokens))
    with h5py.File(out64, "r") as f:
        check("decoder/layers/1/moe_layer/experts/3/fc2/bias" in f["grad"], "gradients under global expert ids")
    check(run(COMPARE, out64, direct).returncode == 0, "identical results must compare equal")
    res = run(COMPARE, out32, out64)
    print("  float32 vs float64: " + res.stdout.strip().splitlines()[-1])
    check(res.returncode == 0, "float32 must agree with float64 within the default tolerances:\n" + res.stdout)
    # a perturbed and a missing tensor must fail, naming the tensor
    victim = "decoder/layers/0/self_attn/k_proj/weight"
    for mutate in ("perturb", "delete"):
        bad = os.path.join(TMP, f"{mutate}.h5")
        ref.write_results(bad, *ref.compute_grads(ref.load_model(ck, torch.float64), tokens))
        with h5py.File(bad, "a") as f:
            if mutate == "perturb":
                g = f["grad/" + victim]
                g[0, 0] += 1e-3 * np.abs(g[()]).max()
            else:
                del f["grad/" + victim]
        res = run(COMPARE, bad, direct)
        check(res.returncode != 0 and victim in res.stdout.splitlines()[-1], f"{mutate}: {res.stdout}")
    # router noise is refused
    noisy = os.path.dirname(checkpoint(mk.make_config("fairseq", moe=dict(router_noise="jitter")), params))
    res = run(TORCH_REF, "grads", "--ckpt", noisy, "--batch", batch, "--out", os.path.join(TMP, "x.h5"))
    check(res.returncode != 0 and "router_noise" in res.stderr, "router noise must be refused")


@test
def bad_checkpoints_are_refused():
    cfg = mk.make_config("fairseq")
    params = mk.random_params(cfg, 22)

    def expect_error(edit, words):
        step = checkpoint(cfg, params, 2)
        edit(step)
        try:
            ref.load_model(step)
        except ref.RefError as err:
            check(all(w in str(err) for w in words), f"message '{err}' should name {words}")
            return
        raise AssertionError(f"accepted a bad checkpoint ({words})")

    def h5(step, name, fn):
        with h5py.File(os.path.join(step, name), "a") as f:
            fn(f)

    expect_error(lambda s: h5(s, "model-rank-1.h5", lambda f: f.attrs.__setitem__("global_expert_ids", [0, 1])),
                 ["model-rank-1.h5", "global_expert_ids"])
    expect_error(lambda s: h5(s, "model-shared.h5", lambda f: f.__delitem__("model/decoder/layer_norm/bias")),
                 ["decoder/layer_norm/bias"])
    expect_error(lambda s: h5(s, "model-shared.h5", lambda f: f.create_dataset("model/decoder/extra", data=[1.0])),
                 ["decoder/extra"])
    expect_error(lambda s: os.remove(os.path.join(s, "model-rank-1.h5")), ["model-rank-1.h5"])
    expect_error(lambda s: h5(s, "model-shared.h5", lambda f: f.attrs.__setitem__(
        "config", mk.to_ini(cfg).replace("norm = layernorm", "norm = batchnorm"))), ["norm", "batchnorm"])


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    torch.manual_seed(0)
    failed = 0
    for fn in TESTS:
        if only not in fn.__name__:
            continue
        try:
            fn()
            print(f"PASS {fn.__name__}")
        except Exception:  # report every failure, then exit non-zero
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}")
    print(f"{len([f for f in TESTS if only in f.__name__]) - failed} passed, {failed} failed")
    if failed:
        print(f"files kept in {TMP}")
        return 1
    shutil.rmtree(TMP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
