#!/usr/bin/python3
"""tests/parity/test_fairseq_import.py — tools/fairseq_import.py on a tiny checkpoint in fairseq's moe layout.

  test_fairseq_import.py SWITCHYARD_BINARY

Builds model-shared.pt + 4 model-rank-N.pt (2 experts each) with fairseq's key names
and cfg, converts it with --ep 2, 8, 1 and the default, and checks that `switchyard
eval`, tools/torch_ref.py and a forward written here from fairseq's conventions
(scaled embeddings, sinusoidal positions from padding_idx + 1 via make_positions,
pre-norm, Top2Gate with gates normalised over the two, dropless eval) give the same
loss on an llm.c shard. Exits non-zero when a check fails.
"""
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_test_ckpt as mk  # noqa: E402
import torch_ref  # noqa: E402

PY = sys.executable
IMPORT = os.path.join(ROOT, "tools", "fairseq_import.py")
D, HEADS, FFN, LAYERS, MOE_LAYER, E, FILES, VOCAB, MAXPOS, PAD = 16, 2, 32, 2, 1, 8, 4, 40, 32, 1
SEQ, WINDOWS = 8, 12
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


class Meter:
    """A trainer object pickled by reference, as fairseq's extra_state holds meters:
    the importer must load the file without running this class."""

    def __setstate__(self, state):
        raise RuntimeError("fairseq_import executed pickled code")


# ----------------------------------------------------------------------------- fake fairseq checkpoint
def fairseq_state(seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    def linear(sd, name, out, inp, bias=True, scale=None):
        sd[name + ".weight"] = rnd(out, inp, scale=scale or 1 / math.sqrt(inp))
        if bias:
            sd[name + ".bias"] = rnd(out, scale=0.1)

    def norm(sd, name):
        sd[name + ".weight"] = 1 + rnd(D, scale=0.1)
        sd[name + ".bias"] = rnd(D, scale=0.1)

    shared = {"decoder.version": torch.tensor([3.0]), "decoder.embed_tokens.weight": rnd(VOCAB, D, scale=0.5),
              "decoder.embed_positions._float_tensor": torch.tensor([1.0])}
    experts = {}
    for l in range(LAYERS):
        p = f"decoder.layers.{l}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            linear(shared, f"{p}.self_attn.{proj}", D, D)
        norm(shared, f"{p}.self_attn_layer_norm")
        if l == MOE_LAYER:
            linear(shared, f"{p}.moe_layer.gate.wg", E, D, bias=False, scale=3 / math.sqrt(D))
            for e in range(E):
                linear(experts, f"{p}.moe_layer.experts.{e}.fc1", FFN, D)
                linear(experts, f"{p}.moe_layer.experts.{e}.fc2", D, FFN)
        else:
            linear(shared, f"{p}.fc1", FFN, D)
            linear(shared, f"{p}.fc2", D, FFN)
        norm(shared, f"{p}.final_layer_norm")
    norm(shared, "decoder.layer_norm")
    shared["decoder.output_projection.weight"] = shared["decoder.embed_tokens.weight"]  # tied: listed twice
    return shared, experts


def fairseq_cfg():
    return {"_name": None, "common": {"fp16": True}, "model": {
        "_name": "transformer_lm_gpt", "activation_fn": "gelu", "dropout": 0.1, "decoder_embed_dim": D,
        "decoder_output_dim": D, "decoder_input_dim": D, "decoder_ffn_embed_dim": FFN, "decoder_layers": LAYERS,
        "decoder_attention_heads": HEADS, "decoder_normalize_before": True, "decoder_learned_pos": False,
        "no_token_positional_embeddings": False, "share_decoder_input_output_embed": True,
        "no_scale_embedding": False, "max_target_positions": MAXPOS, "moe_freq": 2, "moe_expert_count": E,
        "moe_gating_use_fp32": True, "moe_second_expert_policy": "sampling", "moe_gate_loss_wt": 0.01,
        "moe_eval_capacity_token_fraction": 0.25}, "task": {"tokens_per_sample": MAXPOS}}


def write_fairseq(src, shared, experts):
    os.makedirs(src, exist_ok=True)
    L = E // FILES
    common = {"cfg": fairseq_cfg(), "args": None, "optimizer_history": [{"num_updates": 0}]}
    torch.save(dict(common, model=shared, extra_state={"metrics": {"train": Meter()}}),
               os.path.join(src, "model-shared.pt"))
    for n in range(FILES):
        local = {}
        for key, value in experts.items():
            parts = key.split(".")
            g = int(parts[5])
            if g // L == n:
                parts[5] = str(g % L)
                local[".".join(parts)] = value
        torch.save(dict(common, model=local), os.path.join(src, f"model-rank-{n}.pt"))


# ----------------------------------------------------------------------------- fairseq-convention forward
def fairseq_positions(tokens):
    """fairseq.utils.make_positions + SinusoidalPositionalEmbedding.get_embedding."""
    mask = tokens.ne(PAD).long()
    pos = torch.cumsum(mask, dim=1) * mask + PAD
    half = D // 2
    w = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000) / (half - 1)))
    ang = torch.arange(MAXPOS + PAD + 1, dtype=torch.float64)[:, None] * w[None, :]
    table = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)
    table[PAD] = 0
    return table[pos]


def fairseq_loss(shared, experts, windows):
    sd = {k: v.double() for k, v in {**shared, **experts}.items()}
    x, tgt = windows[:, :-1], windows[:, 1:]
    B, T = x.shape
    ln = lambda h, n: F.layer_norm(h, (D,), sd[n + ".weight"], sd[n + ".bias"], 1e-5)  # noqa: E731
    lin = lambda h, n: F.linear(h, sd[n + ".weight"], sd.get(n + ".bias"))  # noqa: E731
    h = math.sqrt(D) * sd["decoder.embed_tokens.weight"][x] + fairseq_positions(x)
    dh = D // HEADS
    causal = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
    for l in range(LAYERS):
        p = f"decoder.layers.{l}"
        u = ln(h, p + ".self_attn_layer_norm")
        q = lin(u, p + ".self_attn.q_proj") * dh ** -0.5  # fairseq scales q after its bias
        k, v = lin(u, p + ".self_attn.k_proj"), lin(u, p + ".self_attn.v_proj")
        split = lambda t: t.view(B, T, HEADS, dh).transpose(1, 2)  # noqa: E731
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) + causal, -1) @ split(v)
        h = h + lin(a.transpose(1, 2).reshape(B, T, D), p + ".self_attn.out_proj")
        u = ln(h, p + ".final_layer_norm")
        if l == MOE_LAYER:  # Top2Gate, eval: no sampling noise, every token kept
            tok = u.reshape(-1, D)
            logits = lin(tok, p + ".moe_layer.gate.wg")
            probs = torch.softmax(logits, -1)
            i1 = logits.argmax(-1)
            i2 = logits.masked_fill(F.one_hot(i1, E).bool(), float("-inf")).argmax(-1)
            g1, g2 = probs.gather(1, i1[:, None])[:, 0], probs.gather(1, i2[:, None])[:, 0]
            den = (g1 + g2).clamp(min=torch.finfo(torch.float64).eps)
            out = torch.zeros_like(tok)
            for n in range(tok.shape[0]):
                for e, gate in ((int(i1[n]), g1[n] / den[n]), (int(i2[n]), g2[n] / den[n])):
                    q_ = f"{p}.moe_layer.experts.{e}"
                    out[n] += gate * lin(F.gelu(lin(tok[n], q_ + ".fc1")), q_ + ".fc2")
            h = h + out.view(B, T, D)
        else:
            h = h + lin(F.gelu(lin(u, p + ".fc1")), p + ".fc2")
    logits = ln(h, "decoder.layer_norm") @ sd["decoder.embed_tokens.weight"].T
    return float(F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1)))


# ----------------------------------------------------------------------------- helpers
def write_shard(path, tokens):
    header = np.zeros(256, dtype="<i4")
    header[:3] = (20240520, 1, len(tokens))
    with open(path, "wb") as f:
        f.write(header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes())


def windows_of(tokens):
    t = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
    return torch.stack([t[i * SEQ: i * SEQ + SEQ + 1] for i in range(WINDOWS)])


def run(*args, expect=0):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != expect:
        print(r.stdout + r.stderr)
    return r


def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split())}


def rel(a, b):
    return abs(a - b) / abs(b)


def main():
    sy = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        shared, experts = fairseq_state()
        src = os.path.join(tmp, "fairseq")
        write_fairseq(src, shared, experts)
        rng = np.random.default_rng(5)
        tokens = rng.integers(2, VOCAB, size=WINDOWS * SEQ + 1)  # no pad id: fairseq shifts positions at pads
        tokens[::7] = 0  # bos/eos-like ids still welcome
        shard = os.path.join(tmp, "data.bin")
        write_shard(shard, tokens)
        windows = windows_of(tokens)
        want = fairseq_loss(shared, experts, windows)
        print(f"fairseq-convention loss {want:.9g}")

        for ep in (2, 8, 1, None):
            dst = os.path.join(tmp, f"ep{ep}")
            r = run(PY, IMPORT, src, dst, *([] if ep is None else ["--ep", str(ep)]))
            check(r.returncode == 0, f"import --ep {ep}: exit 0 ({r.stderr.strip()})")
            if r.returncode:
                continue
            eff = FILES if ep is None else ep
            step = torch_ref.resolve_checkpoint(dst)
            L = E // eff
            with h5py.File(os.path.join(step, "model-shared.h5"), "r") as f:
                check(int(f.attrs["ep_size"]) == eff and f.attrs["checksum_algorithm"] == "xxh64",
                      f"ep {ep}: shared file ep_size {eff}, checksum_algorithm xxh64")
                ds = f["model/decoder/embed_tokens/weight"]
                check(int(ds.attrs["checksum"]) == int(mk.xxh64(ds[()])), f"ep {ep}: embed_tokens checksum")
            exact = True
            for g in range(E):
                with h5py.File(os.path.join(step, f"model-rank-{g // L}.h5"), "r") as f:
                    exact &= list(f.attrs["global_expert_ids"]) == list(range(g // L * L, g // L * L + L))
                    for leaf in ("fc1/weight", "fc1/bias", "fc2/weight", "fc2/bias"):
                        got = f[f"model/decoder/layers/{MOE_LAYER}/moe_layer/experts/{g % L}/{leaf}"][()]
                        key = f"decoder.layers.{MOE_LAYER}.moe_layer.experts.{g}.{leaf.replace('/', '.')}"
                        exact &= np.array_equal(got, experts[key].numpy())
            check(exact, f"ep {ep}: {eff} rank files hold global experts N*L + j, bit-exact")

            out = run(sy, "eval", "--ckpt", dst, f"--data.source=shards:{shard}", f"--train.seq_len={SEQ}",
                      "--train.micro_batch=4", f"--eval.max_windows={WINDOWS}")
            check(out.returncode == 0, f"ep {ep}: switchyard eval exit 0")
            if out.returncode:
                continue
            ours = parse(out.stdout.strip().splitlines()[-1])
            model = torch_ref.load_model(dst, torch.float64)
            with torch.no_grad():
                ref = float(model.losses(windows, train=False)["ce_loss"])
            print(f"ep {ep}: switchyard {ours['loss']:.9g} torch_ref {ref:.9g} fairseq {want:.9g}")
            check(ours["tokens"] == WINDOWS * SEQ, f"ep {ep}: switchyard evaluated {WINDOWS * SEQ} tokens")
            check(rel(ours["loss"], ref) <= 1e-5,
                  f"ep {ep}: switchyard eval == torch_ref (rel {rel(ours['loss'], ref):.2g})")
            check(rel(ours["loss"], want) <= 1e-5, f"ep {ep}: switchyard eval == fairseq forward "
                                                   f"(rel {rel(ours['loss'], want):.2g})")
            check(rel(ref, want) <= 1e-9, f"ep {ep}: torch_ref (float64) == fairseq forward (rel {rel(ref, want):.2g})")
            if ep == 2:  # the import carries zero AdamW moments, so training resumes from it (here on ep 1)
                ini = os.path.join(tmp, "imported.ini")
                with h5py.File(os.path.join(step, "model-shared.h5"), "r") as f, open(ini, "w") as out_ini:
                    out_ini.write(f.attrs["config"])
                tr = run(sy, "train", "--config", ini, f"--ckpt.dir={dst}", f"--data.source=shards:{shard}",
                         f"--train.seq_len={SEQ}", "--train.steps=1", "--parallel.ep=1")
                check(tr.returncode == 0 and "resumed from" in tr.stdout, "ep 2: switchyard train resumes from it")

        # Refusals: an ep that does not divide E, an unknown key (named in the message).
        r = run(PY, IMPORT, src, os.path.join(tmp, "ep3"), "--ep", "3", expect=2)
        check(r.returncode == 2 and "--ep 3" in r.stderr, "import --ep 3 refused")
        bad = os.path.join(tmp, "bad")
        shared_bad = dict(shared, **{"decoder.layers.0.self_attn.rotary.inv_freq": torch.ones(4)})
        write_fairseq(bad, shared_bad, experts)
        r = run(PY, IMPORT, bad, os.path.join(tmp, "badout"), expect=2)
        check(r.returncode == 2 and "decoder.layers.0.self_attn.rotary.inv_freq" in r.stderr,
              "unknown key refused, named in the message")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
