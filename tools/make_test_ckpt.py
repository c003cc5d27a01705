#!/usr/bin/python3
"""tools/make_test_ckpt.py — writes small random checkpoints in the DESIGN.md §5 layout for tests.

The parameter list here is written out from §5 by hand (not taken from
torch_ref's modules), so loading these files into torch_ref cross-checks both.

  make_test_ckpt.py OUT_DIR --preset fairseq|olmoe|learned [--ep N] [--seed S]
                    [--set section.key=value ...] [--batch FILE --micro-batch B --seq-len T]
writes OUT_DIR/step-00000000/{model-shared.h5, model-rank-N.h5} and OUT_DIR/latest,
and prints the step directory. Python API: make_config, param_shapes,
random_params, write_checkpoint, random_tokens, write_batch.
"""
import argparse
import copy
import ctypes
import ctypes.util
import os
import re

import h5py
import numpy as np

FORMAT_VERSION = 1

# Every key of DESIGN §6. None = resolved from another key (n_kv_heads -> n_heads,
# d_expert -> d_ff); values DESIGN leaves open follow runtime/config.h.
DEFAULTS = {
    "model": dict(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=None, d_ff=256,
                  max_seq_len=256, norm="layernorm", activation="gelu", positions="learned",
                  position_offset=0, rope_theta=10000.0, bias=True, tie_embeddings=True,
                  scale_embeddings=False, moe_layers=[]),
    "moe": dict(num_experts=0, top_k=2, d_expert=None, capacity_factor=0.0, normalize_topk=False,
                router_noise="none", jitter_eps=0.01, aux_loss_coef=0.01, z_loss_coef=0.001,
                aux_loss_scope="micro", shared_experts=0, bias_update_rate=0.0),
    "train": dict(steps=100, micro_batch=4, seq_len=64, grad_accum=1, lr=1e-3, min_lr=1e-4,
                  warmup_steps=10, weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-8, grad_clip=1.0,
                  seed=1234, precision="fp32", device="cpu"),
    "parallel": dict(ep=1, a2a_chunks=1, threads=0, bucket_mb=25.0, stall_timeout_s=300.0, a2a="flat"),
    "data": dict(source="synthetic"),
    "ckpt": dict(dir="", every=0, keep=0, resume="auto"),
    "log": dict(every=1, metrics="", tensorboard=""),
    "eval": dict(max_windows=0),
}

PRESETS = {
    # fairseq MoE: LayerNorm, GELU, sinusoidal positions from offset 2, biases, tied, scaled embeddings.
    "fairseq": dict(
        model=dict(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16,
                   norm="layernorm", activation="gelu", positions="sinusoidal", position_offset=2,
                   bias=True, tie_embeddings=True, scale_embeddings=True, moe_layers=[1]),
        moe=dict(num_experts=4, top_k=2, capacity_factor=1.25, normalize_topk=True, z_loss_coef=0.0),
        train=dict(micro_batch=2, seq_len=8)),
    # OLMoE: RMSNorm, SwiGLU, RoPE, GQA, no biases, untied, dropless top-4 of 8, a shared expert, z-loss.
    "olmoe": dict(
        model=dict(vocab_size=64, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=32, max_seq_len=16,
                   norm="rmsnorm", activation="swiglu", positions="rope", bias=False,
                   tie_embeddings=False, moe_layers=[0, 1]),
        moe=dict(num_experts=8, top_k=4, d_expert=8, capacity_factor=0.0, shared_experts=1,
                 aux_loss_coef=0.01, z_loss_coef=0.01),
        train=dict(micro_batch=2, seq_len=8)),
    # Learned positions (offset 2), ReLU, top-1 with drops, loss-free balancing bias.
    "learned": dict(
        model=dict(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16,
                   activation="relu", positions="learned", position_offset=2, moe_layers=[0]),
        moe=dict(num_experts=4, top_k=1, capacity_factor=1.0, bias_update_rate=0.001),
        train=dict(micro_batch=2, seq_len=8)),
}


def make_config(preset=None, **overrides):
    """Full config {section: {key: value}}: defaults, then a preset, then overrides
    given as section=dict(...)."""
    cfg = copy.deepcopy(DEFAULTS)
    for layer in (PRESETS[preset] if preset else {}, overrides):
        for section, keys in layer.items():
            cfg[section].update(copy.deepcopy(keys))
    if cfg["model"]["n_kv_heads"] is None:
        cfg["model"]["n_kv_heads"] = cfg["model"]["n_heads"]
    if cfg["moe"]["d_expert"] is None:
        cfg["moe"]["d_expert"] = cfg["model"]["d_ff"]
    return cfg


def to_ini(cfg):
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return repr(v) if isinstance(v, float) else str(v)
    return "".join(f"[{s}]\n" + "".join(f"{k} = {text(v)}\n" for k, v in keys.items()) + "\n"
                   for s, keys in cfg.items())


def param_shapes(cfg, expert_bias=False):
    """{name: shape} of every /model dataset (global expert ids), straight from DESIGN §5."""
    m, moe = cfg["model"], cfg["moe"]
    d, V, H, KV = m["d_model"], m["vocab_size"], m["n_heads"], m["n_kv_heads"]
    dh, bias = d // H, m["bias"]
    shapes = {"decoder/embed_tokens/weight": (V, d)}
    if m["positions"] == "learned":
        shapes["decoder/embed_positions/weight"] = (m["max_seq_len"] + m["position_offset"], d)

    def linear(name, out, inp, with_bias=bias):
        shapes[name + "/weight"] = (out, inp)
        if with_bias:
            shapes[name + "/bias"] = (out,)

    def norm(name):
        shapes[name + "/weight"] = (d,)
        if m["norm"] == "layernorm":
            shapes[name + "/bias"] = (d,)

    def ffn(name, width):
        linear(name + "/fc1", width, d)
        linear(name + "/fc2", d, width)
        if m["activation"] == "swiglu":
            linear(name + "/fc3", width, d)

    for l in range(m["n_layers"]):
        p = f"decoder/layers/{l}"
        linear(p + "/self_attn/q_proj", H * dh, d)
        linear(p + "/self_attn/k_proj", KV * dh, d)
        linear(p + "/self_attn/v_proj", KV * dh, d)
        linear(p + "/self_attn/out_proj", d, H * dh)
        norm(p + "/self_attn_layer_norm")
        norm(p + "/final_layer_norm")
        if l in m["moe_layers"]:
            shapes[p + "/moe_layer/gate/wg/weight"] = (moe["num_experts"], d)
            if expert_bias:
                shapes[p + "/moe_layer/gate/expert_bias"] = (moe["num_experts"],)
            for e in range(moe["num_experts"]):
                ffn(f"{p}/moe_layer/experts/{e}", moe["d_expert"])
            for s in range(moe["shared_experts"]):
                ffn(f"{p}/moe_layer/shared_experts/{s}", moe["d_expert"])
        else:
            ffn(p, m["d_ff"])
    norm("decoder/layer_norm")
    if not m["tie_embeddings"]:
        shapes["decoder/output_projection/weight"] = (V, d)
    return shapes


def random_params(cfg, seed=0, expert_bias=None):
    """Random float32 parameters; expert_bias defaults to 'bias_update_rate > 0'."""
    if expert_bias is None:
        expert_bias = cfg["moe"]["bias_update_rate"] > 0
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(cfg, expert_bias).items():
        leaf = name.split("/")[-2:]
        if name.endswith("expert_bias"):
            value = 0.05 * rng.standard_normal(shape)
        elif name.endswith("norm/weight"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif leaf[-1] == "bias":
            value = 0.1 * rng.standard_normal(shape)
        elif "embed" in name:
            value = 0.5 * rng.standard_normal(shape)
        else:  # linear [out, in], with a wider router so routing is decisive
            value = rng.standard_normal(shape) / np.sqrt(shape[1]) * (3.0 if leaf[0] == "wg" else 1.0)
        params[name] = value.astype(np.float32)
    return params


_XXH = None


def xxh64(array):
    """XXH64 (seed 0) of the raw little-endian float32 bytes, io/README.md's dataset checksum.
    Uses the system libxxhash through ctypes (no Python package needed)."""
    global _XXH
    if _XXH is None:
        name = ctypes.util.find_library("xxhash") or "libxxhash.so.0"
        _XXH = ctypes.CDLL(name)
        _XXH.XXH64.restype = ctypes.c_uint64
        _XXH.XXH64.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64)
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return np.uint64(_XXH.XXH64(data, len(data), 0))


def write_checkpoint(ckpt_dir, cfg, params, ep_size=1, step=0, tokens_seen=0, world_size=None,
                     optimizer_state=False, checksum=xxh64):
    """Write ckpt_dir/step-NNNNNNNN/ (experts split over ep_size rank files) and ckpt_dir/latest;
    return the step directory. `checksum(array) -> value` gives each dataset's `checksum`
    attribute (default: xxh64 as the C++ reader verifies it; None writes none). The shared
    file also gets the trainer attributes the C++ reader requires, all at their start values."""
    E = cfg["moe"]["num_experts"] if cfg["model"]["moe_layers"] else 0
    if E % ep_size:
        raise ValueError(f"ep_size {ep_size} does not divide num_experts {E}")
    L = E // ep_size
    cfg = copy.deepcopy(cfg)
    cfg["parallel"]["ep"] = ep_size
    name = f"step-{step:08d}"
    step_dir = os.path.join(ckpt_dir, name)
    os.makedirs(step_dir, exist_ok=True)
    common = dict(format="switchyard-moe", format_version=FORMAT_VERSION, step=step,
                  ep_size=ep_size, experts_per_file=L)
    if checksum is xxh64:
        common["checksum_algorithm"] = "xxh64"
    files = [h5py.File(os.path.join(step_dir, "model-shared.h5"), "w")]
    files += [h5py.File(os.path.join(step_dir, f"model-rank-{r}.h5"), "w") for r in range(ep_size)]
    try:
        for f in files:
            f.attrs.update(common)
            f.create_group("model")
        files[0].attrs.update(world_size=world_size or ep_size, tokens_seen=tokens_seen, config=to_ini(cfg))
        files[0].attrs.update(optimizer_step=np.int64(step), lr_schedule_step=np.int64(step),
                              data_cursor=np.int64(0), rng_seed=np.uint64(cfg["train"]["seed"]),
                              rng_counters=np.zeros(1, dtype=np.uint64))
        for r in range(ep_size):
            files[1 + r].attrs["global_expert_ids"] = np.arange(r * L, (r + 1) * L, dtype=np.int64)
        expert = re.compile(r"(decoder/layers/\d+/moe_layer/experts/)(\d+)(/.*)$")
        for pname, value in params.items():
            m = expert.match(pname)
            f, local = (files[0], pname) if not m else \
                (files[1 + int(m.group(2)) // L], f"{m.group(1)}{int(m.group(2)) % L}{m.group(3)}")
            groups = ["model"] + (["optimizer/exp_avg", "optimizer/exp_avg_sq"] if optimizer_state else [])
            for g in groups:
                data = np.asarray(value, dtype=np.float32) if g == "model" else np.zeros_like(value, np.float32)
                ds = f.create_dataset(f"{g}/{local}", data=data)
                if checksum:
                    ds.attrs["checksum"] = checksum(data)
    finally:
        for f in files:
            f.close()
    with open(os.path.join(ckpt_dir, "latest"), "w") as f:
        f.write(name + "\n")
    return step_dir


def random_tokens(cfg, batch, seq_len, seed=0):
    """int32 [batch, seq_len + 1] token ids."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, cfg["model"]["vocab_size"], size=(batch, seq_len + 1)).astype(np.int32)


def write_batch(path, tokens):
    with h5py.File(path, "w") as f:
        f["tokens"] = np.asarray(tokens, dtype=np.int32)


def _parse_set(overrides, assignment):
    """section.key=value, typed like the key's default."""
    key, _, value = assignment.partition("=")
    section, _, key = key.partition(".")
    if key not in DEFAULTS.get(section, {}):
        raise SystemExit(f"make_test_ckpt: unknown key {section}.{key}")
    old = DEFAULTS[section][key]
    if isinstance(old, bool):
        value = value.lower() == "true"
    elif isinstance(old, list):
        value = [int(v) for v in value.split(",") if v.strip()]
    elif not isinstance(old, str):
        value = type(old if old is not None else 0)(value)
    overrides.setdefault(section, {})[key] = value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--ep", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--batch", help="also write an HDF5 batch /tokens here")
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=8)
    args = ap.parse_args()
    overrides = {}
    for assignment in args.set:
        _parse_set(overrides, assignment)
    cfg = make_config(args.preset, **overrides)
    print(write_checkpoint(args.out_dir, cfg, random_params(cfg, args.seed), ep_size=args.ep))
    if args.batch:
        write_batch(args.batch, random_tokens(cfg, args.micro_batch, args.seq_len, args.seed + 1))


if __name__ == "__main__":
    main()
