#!/usr/bin/python3
# bench/torch_moe_train.py — eager-PyTorch baseline: trains the model of a Switchyard INI on random tokens, reports tokens/s.
"""Speed baseline, not a parity reference.

The model is the one DESIGN.md §3 describes for the INI (embeddings, pre-norm
causal attention, LayerNorm/RMSNorm, GELU/ReLU/SwiGLU, MoE layers with a
softmax router, top-k, aux and z losses, optional capacity, shared experts),
written the way popular eager implementations write it (nanoGPT-style blocks,
a Mixtral/fairseq-style expert loop with index_select / index_add_), trained
with torch.optim.AdamW on random tokens at the INI's micro_batch × seq_len.
Initialisation, tie-breaking and noise are not matched to Switchyard: only the
work per step is.

    /usr/bin/python3 bench/torch_moe_train.py bench/configs/bench-olmoe.ini --threads 2
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

# Thread counts must be in the environment before torch (and its OpenBLAS and
# OpenMP) load; --threads is read early for that reason.
def _early_threads(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


_threads = _early_threads(sys.argv)
os.environ.setdefault("OMP_NUM_THREADS", _threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_config import read_config  # noqa: E402
from model_flops import train_flops_per_token  # noqa: E402


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(m):
    return nn.LayerNorm(m["d_model"], eps=1e-5) if m["norm"] == "layernorm" else RMSNorm(m["d_model"])


def sinusoidal_table(n_pos, d, offset):
    # fairseq: ω_i = 10000^(−i/(d/2 − 1)); first half sin, second half cos.
    half = d // 2
    omega = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angle = (torch.arange(n_pos, dtype=torch.float32) + offset)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def rope_tables(T, d_head, theta):
    inv_freq = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
    angle = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return torch.cos(angle), torch.sin(angle)  # [T, d_head/2]


def apply_rope(x, cos, sin):
    # rotate-half (GPT-NeoX / LLaMA): pairs (i, i + d_head/2).
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, m):
        super().__init__()
        d, self.H, self.Hkv = m["d_model"], m["n_heads"], m["n_kv_heads"]
        self.dh = d // self.H
        b = m["bias"]
        self.q_proj = nn.Linear(d, self.H * self.dh, bias=b)
        self.k_proj = nn.Linear(d, self.Hkv * self.dh, bias=b)
        self.v_proj = nn.Linear(d, self.Hkv * self.dh, bias=b)
        self.out_proj = nn.Linear(self.H * self.dh, d, bias=b)

    def forward(self, x, rope):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.Hkv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.Hkv, self.dh).transpose(1, 2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if self.Hkv != self.H:
            k = k.repeat_interleave(self.H // self.Hkv, dim=1)
            v = v.repeat_interleave(self.H // self.Hkv, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):  # torch ≥ 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch 1.13: the manual causal softmax
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.dh))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
            y = att @ v
        return self.out_proj(y.transpose(1, 2).reshape(B, T, self.H * self.dh))


class Mlp(nn.Module):
    def __init__(self, d, hidden, activation, bias):
        super().__init__()
        self.activation = activation
        self.fc1 = nn.Linear(d, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, d, bias=bias)
        if activation == "swiglu":
            self.fc3 = nn.Linear(d, hidden, bias=bias)

    def forward(self, x):
        if self.activation == "swiglu":
            return self.fc2(F.silu(self.fc1(x)) * self.fc3(x))
        act = F.gelu if self.activation == "gelu" else F.relu
        return self.fc2(act(self.fc1(x)))


class MoeLayer(nn.Module):
    """Router softmax → top-k → one loop over experts gathering their tokens."""

    def __init__(self, m, moe):
        super().__init__()
        d, self.E, self.k = m["d_model"], moe["num_experts"], moe["top_k"]
        self.moe = moe
        self.gate = nn.Linear(d, self.E, bias=False)
        self.experts = nn.ModuleList(Mlp(d, moe["d_expert"], m["activation"], m["bias"]) for _ in range(self.E))
        self.shared_experts = nn.ModuleList(
            Mlp(d, moe["d_expert"], m["activation"], m["bias"]) for _ in range(moe["shared_experts"]))

    def forward(self, u):  # u [N, d]
        N = u.shape[0]
        router_in = u
        if self.training and self.moe["router_noise"] == "jitter":
            eps = self.moe["jitter_eps"]
            router_in = u * torch.empty_like(u).uniform_(1 - eps, 1 + eps)
        logits = self.gate(router_in).float()
        probs = F.softmax(logits, dim=-1)
        select = probs
        if self.training and self.moe["router_noise"] == "gumbel":
            select = logits - torch.empty_like(logits).exponential_().log()
        _, topk_idx = select.topk(self.k, dim=-1)  # [N, k]
        gates = probs.gather(1, topk_idx)
        if self.moe["normalize_topk"]:
            gates = gates / gates.sum(-1, keepdim=True)

        expert_mask = F.one_hot(topk_idx, self.E)  # [N, k, E]
        f = expert_mask.sum((0, 1)).float() / (N * self.k)  # fraction of assignments, before drops
        aux = self.E * (f * probs.mean(0)).sum()
        z = torch.logsumexp(logits, dim=-1).pow(2).mean()

        if self.moe["capacity_factor"] > 0:
            # Choice-major priority (all first choices, then second, ... each in token order).
            capacity = math.ceil(self.moe["capacity_factor"] * N * self.k / self.E)
            by_priority = expert_mask.transpose(0, 1).reshape(self.k * N, self.E)
            position = (by_priority.cumsum(0) - 1).view(self.k, N, self.E).transpose(0, 1)
            expert_mask = expert_mask * (position < capacity)

        out = torch.zeros_like(u)
        expert_mask = expert_mask.permute(2, 1, 0)  # [E, k, N]
        for e, expert in enumerate(self.experts):
            choice, token = torch.where(expert_mask[e])
            if token.numel() == 0:
                continue
            y = expert(u.index_select(0, token)) * gates[token, choice, None].to(u.dtype)
            out.index_add_(0, token, y)
        for shared in self.shared_experts:
            out = out + shared(u)
        return out, aux, z


class Block(nn.Module):
    def __init__(self, m, moe, is_moe):
        super().__init__()
        self.norm1, self.norm2 = make_norm(m), make_norm(m)
        self.attn = Attention(m)
        self.is_moe = is_moe
        self.ffn = MoeLayer(m, moe) if is_moe else Mlp(m["d_model"], m["d_ff"], m["activation"], m["bias"])

    def forward(self, h, rope):
        a = h + self.attn(self.norm1(h), rope)
        u = self.norm2(a)
        if not self.is_moe:
            return a + self.ffn(u), None, None
        B, T, d = u.shape
        y, aux, z = self.ffn(u.reshape(B * T, d))
        return a + y.view(B, T, d), aux, z


class MoeLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        m = cfg["model"]
        self.m, self.moe = m, cfg["moe"]
        d = m["d_model"]
        self.embed_tokens = nn.Embedding(m["vocab_size"], d)
        if m["positions"] == "learned":
            self.embed_positions = nn.Embedding(m["max_seq_len"], d)
        elif m["positions"] == "sinusoidal":
            self.register_buffer("pe", sinusoidal_table(m["max_seq_len"], d, m["position_offset"]), persistent=False)
        else:
            cos, sin = rope_tables(m["max_seq_len"], d // m["n_heads"], m["rope_theta"])
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.layers = nn.ModuleList(Block(m, self.moe, l in m["moe_layers"]) for l in range(m["n_layers"]))
        self.layer_norm = make_norm(m)
        if not m["tie_embeddings"]:
            self.output_projection = nn.Linear(d, m["vocab_size"], bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, x, targets):
        B, T = x.shape
        h = self.embed_tokens(x)
        if self.m["scale_embeddings"]:
            h = h * math.sqrt(self.m["d_model"])
        rope = None
        if self.m["positions"] == "learned":
            h = h + self.embed_positions.weight[:T]
        elif self.m["positions"] == "sinusoidal":
            h = h + self.pe[:T]
        else:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        aux_total = z_total = 0.0
        for layer in self.layers:
            h, aux, z = layer(h, rope)
            if aux is not None:
                aux_total, z_total = aux_total + aux, z_total + z
        h = self.layer_norm(h)
        w_out = self.embed_tokens.weight if self.m["tie_embeddings"] else self.output_projection.weight
        logits = h @ w_out.t()
        ce = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))
        return ce + self.moe["aux_loss_coef"] * aux_total + self.moe["z_loss_coef"] * z_total


def lr_lambda(t_cfg):
    # Linear warm-up, then cosine from lr down to min_lr at train.steps.
    lr, min_lr, warm, steps = t_cfg["lr"], t_cfg["min_lr"], t_cfg["warmup_steps"], max(1, t_cfg["steps"])

    def f(step):
        if step < warm:
            return (step + 1) / warm
        frac = min(1.0, (step - warm) / max(1, steps - warm))
        return (min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * frac))) / lr

    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="Switchyard INI")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (and the BLAS/OpenMP env)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    args = ap.parse_args()

    cfg = read_config(args.config)
    t_cfg = cfg["train"]
    if t_cfg["precision"] != "fp32" or t_cfg["device"] != "cpu":
        sys.exit(f"{args.config}: this baseline runs fp32 on the CPU only")
    torch.set_num_threads(args.threads)
    torch.manual_seed(t_cfg["seed"])

    model = MoeLM(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=t_cfg["lr"], betas=(t_cfg["beta1"], t_cfg["beta2"]),
                            eps=t_cfg["eps"], weight_decay=t_cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(t_cfg))
    B, T, accum, V = t_cfg["micro_batch"], t_cfg["seq_len"], t_cfg["grad_accum"], cfg["model"]["vocab_size"]
    tokens_per_step = B * T * accum
    n_params = sum(p.numel() for p in model.parameters())
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {args.config}: {n_params / 1e6:.2f} M "
          f"parameters, {tokens_per_step} tokens/step, warmup {args.warmup}, timed {args.steps}", flush=True)

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accum):
            seq = torch.randint(V, (B, T + 1))
            loss = model(seq[:, :-1], seq[:, 1:]) / accum
            loss.backward()
            total += loss.item()
        if t_cfg["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
        opt.step()
        sched.step()
        return total

    times, losses = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        losses.append(loss)
        if i >= args.warmup:
            times.append(dt)
        print(f"step {i:3d} {'warmup' if i < args.warmup else 'timed '} loss {loss:.4f} {dt * 1e3:9.1f} ms", flush=True)

    med = statistics.median(times)
    tps = tokens_per_step / med
    flops = train_flops_per_token(cfg)
    result = {
        "bench": "torch_moe_train", "config": args.config, "torch": torch.__version__, "threads": args.threads,
        "tokens_per_step": tokens_per_step, "timed_steps": len(times), "step_ms_median": med * 1e3,
        "step_ms_min": min(times) * 1e3, "tokens_per_s": tps, "tokens_per_s_best": tokens_per_step / min(times),
        "train_flops_per_token": flops, "model_gflops": flops * tps * 1e-9, "loss_first": losses[0],
        "loss_last": losses[-1], "load_avg_1m": os.getloadavg()[0],
    }
    print(f"tokens/s median {tps:.1f} (best {result['tokens_per_s_best']:.1f}); step median {med * 1e3:.1f} ms; "
          f"model {result['model_gflops']:.2f} GFLOP/s")
    print("JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
