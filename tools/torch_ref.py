#!/usr/bin/python3
"""tools/torch_ref.py — independent PyTorch reference of the Switchyard model (DESIGN.md §3, §5).

Written from the contract alone (not from the C++), so parity tests compare two
independent readings of DESIGN.md. Run it with Debian's /usr/bin/python3.

  torch_ref.py grads --ckpt CKPT --batch BATCH.h5 --out OUT.h5 [--dtype float32|float64]
  torch_ref.py eval  --ckpt CKPT --text FILE --seq-len T [--max-windows K] [--dtype ...]

Conventions, as this file reads the contract:
- CKPT is a step directory (model-shared.h5 + model-rank-N.h5, N < ep_size) or a
  directory whose file `latest` names one. Only the /model group is read; other
  groups and per-dataset attributes (checksums) are ignored. Names are fairseq
  keys with '/' for '.'. In model-rank-N.h5 expert j is global expert N*L + j
  (L = experts_per_file; the attribute global_expert_ids must agree). Unknown or
  missing parameter names are errors, so layout drift cannot pass silently.
- The root attribute `config` is INI text; every [model] and [moe] key must be
  present (n_kv_heads = 0 means n_heads, d_expert = 0 means d_ff).
- Positions: learned adds embed_positions[t + position_offset]; sinusoidal uses
  pos = t + position_offset with PE[pos, i] = sin(pos*w_i), PE[pos, i + d/2] =
  cos(pos*w_i), w_i = 10000^(-i/(d/2-1)); rope rotates pairs (i, i + d_head/2) of
  q and k by angle t*theta_i, theta_i = rope_theta^(-2i/d_head) (no offset).
  scale_embeddings multiplies the token embedding (not the positions) by sqrt(d).
- MoE (router computed in the model dtype, fp32 by default): p = softmax(u Wg^T);
  choice c of token n is the c-th best expert by p_e + b_e (ties -> lower index);
  gate g = p_e (over sum of top-k p when normalize_topk). Capacity (train only,
  capacity_factor > 0): cap = ceil(cf * (N*k) / E) in double, N = B*T; choice
  slots are placed slot 0 for all tokens in order n = b*T + t, then slot 1, ...;
  an expert takes an assignment while it holds fewer than cap. A dropped
  assignment adds nothing and the kept gates are not re-normalised. Shared
  experts are added to every token with weight 1.
- aux_l = E * sum_e f_e P_e (f_e: share of the N*k choices, before drops, no
  gradient; P_e: mean p_e over tokens); z_l = mean_n logsumexp(r_n)^2.
- loss = mean CE over the B*T targets + aux_loss_coef*sum_l aux_l + z_loss_coef*sum_l z_l.
  One micro-batch on one rank, so aux_loss_scope micro and global coincide.
  Router noise is refused by `grads`; eval never adds noise and is dropless.
- Gradients are written under /grad/<name> with global expert ids; with tied
  embeddings the output projection's gradient is part of decoder/embed_tokens/weight.
"""
import argparse
import configparser
import math
import os
import re
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "switchyard-moe"
ENUMS = {"norm": ("layernorm", "rmsnorm"), "activation": ("gelu", "relu", "swiglu"),
         "positions": ("learned", "sinusoidal", "rope"), "router_noise": ("none", "gumbel", "jitter"),
         "aux_loss_scope": ("micro", "global")}
INT_KEYS = {"vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq_len",
            "position_offset", "num_experts", "top_k", "d_expert", "shared_experts"}
BOOL_KEYS = {"bias", "tie_embeddings", "scale_embeddings", "normalize_topk"}
MODEL_KEYS = ("vocab_size d_model n_layers n_heads n_kv_heads d_ff max_seq_len norm activation positions "
              "position_offset rope_theta bias tie_embeddings scale_embeddings moe_layers").split()
MOE_KEYS = ("num_experts top_k d_expert capacity_factor normalize_topk router_noise jitter_eps "
            "aux_loss_coef z_loss_coef aux_loss_scope shared_experts bias_update_rate").split()


class RefError(Exception):
    """A checkpoint, config or input the reference cannot use; the message names what is wrong."""


# ----------------------------------------------------------------------------- config
class Config:
    """The [model] and [moe] sections as attributes (cfg.d_model, cfg.top_k, ...)."""

    def __init__(self, sections):
        for section, keys in (("model", MODEL_KEYS), ("moe", MOE_KEYS)):
            for key in keys:
                if key not in sections.get(section, {}):
                    raise RefError(f"config: key [{section}] {key} is missing")
                setattr(self, key, _parse_value(section, key, str(sections[section][key])))
        self.n_kv_heads = self.n_kv_heads or self.n_heads
        self.d_expert = self.d_expert or self.d_ff
        self.d_head = self.d_model // self.n_heads
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise RefError("config: [model] d_model must divide by n_heads and n_heads by n_kv_heads")
        if self.moe_layers and not (0 < self.top_k <= self.num_experts):
            raise RefError("config: [moe] top_k must be in 1..num_experts")
        if any(not 0 <= l < self.n_layers for l in self.moe_layers):
            raise RefError("config: [model] moe_layers lists a layer outside 0..n_layers-1")


def _parse_value(section, key, text):
    text = text.strip()
    try:
        if key == "moe_layers":
            return [int(v) for v in text.split(",") if v.strip()]
        if key in ENUMS:
            if text not in ENUMS[key]:
                raise ValueError(text)
            return text
        if key in BOOL_KEYS:
            return {"true": True, "false": False}[text.lower()]
        return int(text) if key in INT_KEYS else float(text)
    except (ValueError, KeyError):
        raise RefError(f"config: [{section}] {key} = '{text}' is not a valid value") from None


def parse_ini(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    try:
        parser.read_string(text)
    except configparser.Error as err:
        raise RefError(f"config: attribute is not valid INI text: {err}") from None
    return {s: dict(parser[s]) for s in parser.sections()}


# ----------------------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(cfg):
    return nn.LayerNorm(cfg.d_model, eps=1e-5) if cfg.norm == "layernorm" else RMSNorm(cfg.d_model)


def add_ffn(module, cfg, width):
    """fc1/fc2(/fc3) directly on `module`, as fairseq names them on dense layers and experts."""
    module.fc1 = nn.Linear(cfg.d_model, width, bias=cfg.bias)
    module.fc2 = nn.Linear(width, cfg.d_model, bias=cfg.bias)
    if cfg.activation == "swiglu":
        module.fc3 = nn.Linear(cfg.d_model, width, bias=cfg.bias)


def ffn(module, x, activation):
    if activation == "swiglu":
        return module.fc2(F.silu(module.fc1(x)) * module.fc3(x))
    act = F.gelu if activation == "gelu" else F.relu  # F.gelu is the exact erf form
    return module.fc2(act(module.fc1(x)))


class Expert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.activation = cfg.activation
        add_ffn(self, cfg, cfg.d_expert)

    def forward(self, x):
        return ffn(self, x, self.activation)


def sinusoidal_positions(num, d, offset):
    if d % 2 or d < 4:
        raise RefError("config: sinusoidal positions need an even d_model >= 4")
    half = d // 2
    omega = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / (half - 1)))
    angle = (torch.arange(num, dtype=torch.float64) + offset)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def rope_tables(T, d_head, theta):
    inv = theta ** (-torch.arange(0, d_head // 2, dtype=torch.float64) * 2.0 / d_head)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(angle), torch.sin(angle)


def apply_rope(x, cos, sin):
    """Rotate-half: pairs (i, i + d_head/2) of x [B, H, T, d_head]."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, dh = cfg.d_model, cfg.d_head
        self.q_proj = nn.Linear(d, cfg.n_heads * dh, bias=cfg.bias)
        self.k_proj = nn.Linear(d, cfg.n_kv_heads * dh, bias=cfg.bias)
        self.v_proj = nn.Linear(d, cfg.n_kv_heads * dh, bias=cfg.bias)
        self.out_proj = nn.Linear(cfg.n_heads * dh, d, bias=cfg.bias)

    def forward(self, x):
        cfg = self.cfg
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, cfg.n_heads, cfg.d_head).transpose(1, 2)
        k = self.k_proj(x).view(B, T, cfg.n_kv_heads, cfg.d_head).transpose(1, 2)
        v = self.v_proj(x).view(B, T, cfg.n_kv_heads, cfg.d_head).transpose(1, 2)
        if cfg.positions == "rope":
            cos, sin = (t.to(x.dtype) for t in rope_tables(T, cfg.d_head, cfg.rope_theta))
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = cfg.n_heads // cfg.n_kv_heads  # query head j reads kv head j // group
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        attn = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(B, T, -1))


def route(scores, k):
    """Choices [N, k]: column c is each token's c-th best expert; ties go to the lower index
    (torch.argmax returns the first maximum)."""
    scores = scores.clone()
    cols = []
    for _ in range(k):
        best = scores.argmax(dim=1)
        cols.append(best)
        scores[torch.arange(len(best)), best] = float("-inf")
    return torch.stack(cols, dim=1)


def capacity_keep(choices, num_experts, capacity):
    """Kept mask [N, k]: all first choices in token order, then all second choices, ..."""
    N, k = choices.shape
    keep = torch.ones(N, k, dtype=torch.bool)
    if capacity is None:
        return keep
    taken = torch.zeros(num_experts, dtype=torch.long)
    for c in range(k):
        onehot = F.one_hot(choices[:, c], num_experts)
        slot = (onehot.cumsum(0) - 1 + taken).gather(1, choices[:, c:c + 1])[:, 0]
        keep[:, c] = slot < capacity
        taken += onehot.sum(0)
    return keep


def capacity_for(cfg, num_tokens):
    if cfg.capacity_factor == 0:
        return None
    return math.ceil(cfg.capacity_factor * (num_tokens * cfg.top_k) / cfg.num_experts)


class Gate(nn.Module):
    def __init__(self, cfg, with_expert_bias):
        super().__init__()
        self.wg = nn.Linear(cfg.d_model, cfg.num_experts, bias=False)
        if with_expert_bias:  # loss-free balancing bias: a buffer, never trained
            self.register_buffer("expert_bias", torch.zeros(cfg.num_experts))


class MoELayer(nn.Module):
    def __init__(self, cfg, with_expert_bias=False):
        super().__init__()
        self.cfg = cfg
        self.gate = Gate(cfg, with_expert_bias)
        self.experts = nn.ModuleList(Expert(cfg) for _ in range(cfg.num_experts))
        self.shared_experts = nn.ModuleList(Expert(cfg) for _ in range(cfg.shared_experts))
        self.last = {}  # routing of the last call, for tests and debugging

    def forward(self, u, train):
        """u [N, d] -> (out [N, d], aux, z)."""
        cfg, N, E = self.cfg, u.shape[0], self.cfg.num_experts
        r = self.gate.wg(u)
        p = torch.softmax(r, dim=-1)
        bias = getattr(self.gate, "expert_bias", None)
        score = p.detach() + (bias if bias is not None else 0)
        choices = route(score, cfg.top_k)
        g = p.gather(1, choices)
        if cfg.normalize_topk:
            g = g / g.sum(dim=1, keepdim=True)
        keep = capacity_keep(choices, E, capacity_for(cfg, N) if train else None)
        out = torch.zeros_like(u)
        for e, expert in enumerate(self.experts):
            rows, slots = torch.nonzero((choices == e) & keep, as_tuple=True)
            if len(rows):
                out = out.index_add(0, rows, g[rows, slots, None] * expert(u[rows]))
        for expert in self.shared_experts:
            out = out + expert(u)
        f = torch.bincount(choices.flatten(), minlength=E).to(p.dtype) / (N * cfg.top_k)
        aux = E * (f * p.mean(dim=0)).sum()
        z = torch.logsumexp(r, dim=-1).pow(2).mean()
        self.last = {"choices": choices, "keep": keep, "gates": g.detach()}
        return out, aux, z


class DecoderLayer(nn.Module):
    def __init__(self, cfg, is_moe, with_expert_bias=False):
        super().__init__()
        self.activation = cfg.activation
        self.self_attn = Attention(cfg)
        self.self_attn_layer_norm = make_norm(cfg)
        self.final_layer_norm = make_norm(cfg)
        if is_moe:
            self.moe_layer = MoELayer(cfg, with_expert_bias)
        else:
            add_ffn(self, cfg, cfg.d_ff)

    def forward(self, h, train):
        a = h + self.self_attn(self.self_attn_layer_norm(h))
        u = self.final_layer_norm(a)
        if not hasattr(self, "moe_layer"):
            return a + ffn(self, u, self.activation), None, None
        out, aux, z = self.moe_layer(u.reshape(-1, u.shape[-1]), train)
        return a + out.view_as(u), aux, z


class Decoder(nn.Module):
    def __init__(self, cfg, expert_bias_layers=()):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positions == "learned":
            self.embed_positions = nn.Embedding(cfg.max_seq_len + cfg.position_offset, cfg.d_model)
        self.layers = nn.ModuleList(DecoderLayer(cfg, l in cfg.moe_layers, l in expert_bias_layers)
                                    for l in range(cfg.n_layers))
        self.layer_norm = make_norm(cfg)
        if not cfg.tie_embeddings:
            self.output_projection = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def forward(self, x, train):
        cfg = self.cfg
        T = x.shape[1]
        h = self.embed_tokens(x)
        if cfg.scale_embeddings:
            h = h * math.sqrt(cfg.d_model)
        pos = torch.arange(T) + cfg.position_offset
        if cfg.positions == "learned":
            if T > cfg.max_seq_len:
                raise RefError(f"sequence length {T} exceeds [model] max_seq_len {cfg.max_seq_len}")
            h = h + self.embed_positions(pos)
        elif cfg.positions == "sinusoidal":
            h = h + sinusoidal_positions(T, cfg.d_model, cfg.position_offset).to(h.dtype)
        auxes, zs = [], []
        for layer in self.layers:
            h, aux, z = layer(h, train)
            if aux is not None:
                auxes.append(aux)
                zs.append(z)
        h = self.layer_norm(h)
        w = self.embed_tokens.weight if cfg.tie_embeddings else self.output_projection.weight
        return F.linear(h, w), auxes, zs


class Transformer(nn.Module):
    """Holds `decoder` so that state_dict keys are exactly the fairseq names."""

    def __init__(self, cfg, expert_bias_layers=()):
        super().__init__()
        self.cfg = cfg
        self.decoder = Decoder(cfg, expert_bias_layers)

    def losses(self, tokens, train=True):
        """tokens [B, T+1] -> dict of scalar tensors loss, ce_loss, aux_loss, z_loss."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if tokens.dim() != 2 or tokens.shape[1] < 2:
            raise RefError(f"tokens must be [B, T+1] with T >= 1, got {list(tokens.shape)}")
        if tokens.min() < 0 or tokens.max() >= self.cfg.vocab_size:
            raise RefError(f"token ids must lie in [0, {self.cfg.vocab_size})")
        logits, auxes, zs = self.decoder(tokens[:, :-1], train)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        aux = sum(auxes) if auxes else ce.new_zeros(())
        z = sum(zs) if zs else ce.new_zeros(())
        loss = ce + self.cfg.aux_loss_coef * aux + self.cfg.z_loss_coef * z
        return {"loss": loss, "ce_loss": ce, "aux_loss": aux, "z_loss": z}


def h5_name(key):
    return key.replace(".", "/")


def model_from_params(cfg, params, dtype=torch.float32):
    """Build the model from {h5 name: array} (global expert ids); names must match exactly."""
    bias_layers = {int(m.group(1)) for m in
                   (re.match(r"decoder/layers/(\d+)/moe_layer/gate/expert_bias$", n) for n in params) if m}
    model = Transformer(cfg, bias_layers).to(dtype)
    state = model.state_dict()
    expected, given = {h5_name(k) for k in state}, set(params)
    if expected != given:
        missing, extra = sorted(expected - given), sorted(given - expected)
        raise RefError(f"checkpoint parameters do not match the config: missing {missing[:5]}, "
                       f"unexpected {extra[:5]}")
    for key, value in state.items():
        src = np.asarray(params[h5_name(key)])
        if tuple(src.shape) != tuple(value.shape):
            raise RefError(f"/model/{h5_name(key)} has shape {list(src.shape)}, expected {list(value.shape)}")
        state[key] = torch.from_numpy(np.array(src, dtype=np.float64))
    model.load_state_dict(state, strict=True)
    return model


# ----------------------------------------------------------------------------- checkpoint
def resolve_checkpoint(path):
    latest = os.path.join(path, "latest")
    if os.path.isfile(latest):
        with open(latest) as f:
            path = os.path.join(path, f.read().strip())
    if not os.path.isfile(os.path.join(path, "model-shared.h5")):
        raise RefError(f"{path}: no model-shared.h5 (not a checkpoint, and no 'latest' file)")
    return path


def _attr(f, name, kind):
    if name not in f.attrs:
        raise RefError(f"{f.filename}: root attribute '{name}' is missing")
    value = f.attrs[name]
    if kind is str:
        value = value.decode() if isinstance(value, bytes) else value
        return str(np.asarray(value).reshape(-1)[0]) if isinstance(value, np.ndarray) else str(value)
    if kind is list:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    return kind(np.asarray(value).reshape(-1)[0])


def _read_model_group(f):
    if "model" not in f:
        raise RefError(f"{f.filename}: group /model is missing")
    out = {}
    f["model"].visititems(lambda name, obj: out.__setitem__(name, obj[()])
                          if isinstance(obj, h5py.Dataset) else None)
    return out


def read_checkpoint(path):
    """-> (Config, {name: np.ndarray}) with every expert under its global id."""
    path = resolve_checkpoint(path)
    with h5py.File(os.path.join(path, "model-shared.h5"), "r") as f:
        if _attr(f, "format", str) != FORMAT:
            raise RefError(f"{f.filename}: format is not '{FORMAT}'")
        cfg = Config(parse_ini(_attr(f, "config", str)))
        ep_size, per_file = _attr(f, "ep_size", int), _attr(f, "experts_per_file", int)
        params = _read_model_group(f)
    if cfg.moe_layers and ep_size * per_file != cfg.num_experts:
        raise RefError(f"{path}: ep_size {ep_size} x experts_per_file {per_file} != num_experts {cfg.num_experts}")
    expert_name = re.compile(r"(decoder/layers/\d+/moe_layer/experts/)(\d+)(/.*)$")
    for rank in range(ep_size):
        fname = os.path.join(path, f"model-rank-{rank}.h5")
        if not os.path.isfile(fname):
            if cfg.moe_layers:
                raise RefError(f"{fname}: missing (ep_size is {ep_size})")
            continue
        with h5py.File(fname, "r") as f:
            ids = _attr(f, "global_expert_ids", list)
            if ids != [rank * per_file + j for j in range(per_file)]:
                raise RefError(f"{fname}: global_expert_ids {ids} != rank*L + j")
            for name, value in _read_model_group(f).items():
                m = expert_name.match(name)
                if not m or int(m.group(2)) >= per_file:
                    raise RefError(f"{fname}: /model/{name} is not a local expert parameter")
                global_name = f"{m.group(1)}{rank * per_file + int(m.group(2))}{m.group(3)}"
                if global_name in params:
                    raise RefError(f"{fname}: /model/{name} duplicates {global_name}")
                params[global_name] = value
    return cfg, params


def load_model(path, dtype=torch.float32):
    cfg, params = read_checkpoint(path)
    return model_from_params(cfg, params, dtype)


# ----------------------------------------------------------------------------- commands
def compute_grads(model, tokens):
    """-> ({loss name: float}, {param name: np.ndarray}) for one micro-batch, train mode."""
    if model.cfg.moe_layers and model.cfg.router_noise != "none":
        raise RefError(f"config: [moe] router_noise = {model.cfg.router_noise}; the reference is noise-free")
    model.zero_grad(set_to_none=True)
    losses = model.losses(tokens, train=True)
    losses["loss"].backward()
    grads = {h5_name(k): (p.grad if p.grad is not None else torch.zeros_like(p)).detach().numpy()
             for k, p in model.named_parameters()}
    return {k: float(v) for k, v in losses.items()}, grads


def write_results(path, losses, grads):
    with h5py.File(path, "w") as f:
        for k, v in losses.items():
            f[k] = v
        for name, g in grads.items():
            f["grad/" + name] = g


def eval_windows(model, data, seq_len, max_windows=0, batch=32):
    """Mean CE over windows i: tokens [i*T, i*T + T] of `data`; -> (loss, predicted tokens)."""
    data = torch.as_tensor(np.frombuffer(bytes(data), dtype=np.uint8).astype(np.int64))
    count = (len(data) - 1) // seq_len if len(data) > 0 else 0
    if max_windows:
        count = min(count, max_windows)
    if count == 0:
        raise RefError(f"text holds {len(data)} tokens: not one window of {seq_len + 1}")
    total = 0.0
    with torch.no_grad():
        for start in range(0, count, batch):
            idx = torch.arange(start, min(count, start + batch))
            windows = data[idx[:, None] * seq_len + torch.arange(seq_len + 1)[None, :]]
            total += float(model.losses(windows, train=False)["ce_loss"]) * windows.shape[0] * seq_len
    return total / (count * seq_len), count * seq_len


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grads", help="loss and gradients of one micro-batch")
    g.add_argument("--ckpt", required=True)
    g.add_argument("--batch", required=True, help="HDF5 with /tokens int32 [B, T+1]")
    g.add_argument("--out", required=True)
    e = sub.add_parser("eval", help="plain CE over the windows of a byte file")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--text", required=True)
    e.add_argument("--seq-len", type=int, required=True)
    e.add_argument("--max-windows", type=int, default=0)
    for p in (g, e):
        p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    try:
        model = load_model(args.ckpt, dtype)
        if args.cmd == "grads":
            with h5py.File(args.batch, "r") as f:
                if "tokens" not in f:
                    raise RefError(f"{args.batch}: dataset /tokens is missing")
                tokens = f["tokens"][()]
            losses, grads = compute_grads(model, tokens)
            write_results(args.out, losses, grads)
            print(" ".join(f"{k}={v:.9g}" for k, v in losses.items()))
        else:
            with open(args.text, "rb") as f:
                loss, n = eval_windows(model, f.read(), args.seq_len, args.max_windows)
            print(f"loss={loss:.9g} tokens={n}")
    except (RefError, OSError) as err:
        print(f"torch_ref: error: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
