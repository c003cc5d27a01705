#!/usr/bin/python3
# bench/model_flops.py — model FLOPs per trained token of a Switchyard INI, and MFU from a measured tokens/s.
"""Model FLOPs (the MFU numerator) of a Switchyard config.

Counted: matrix multiplies only, 2 FLOPs per multiply-add, per token of a
sequence of T = train.seq_len tokens:
  attention projections   2·d·(H·dh) [q] + 2·2·d·(Hkv·dh) [k, v] + 2·(H·dh)·d [out]
  attention core          2·2·T·H·dh   (QKᵀ and A·V over the full T×T matrix,
                                        the PaLM/Megatron convention; --causal-half
                                        counts only the (T+1)/2 keys a causal query sees)
  dense MLP               2·2·d·d_ff   (gelu/relu: fc1, fc2)   or 3·2·d·d_ff (swiglu: fc1, fc3, fc2)
  MoE layer               2·d·E (router) + (top_k·(1 − dropped) + shared_experts)·MLP(d_expert):
                          only the experts a token is routed to; `--dropped-frac`
                          subtracts the assignments a capacity factor dropped
                          (the metrics field `dropped_frac`: those rows are never
                          computed).  Without it, an upper bound when cf > 0.
  LM head                 2·d·V
Not counted: embeddings lookups, norms, softmax, activations, biases, loss,
optimizer (no matmuls; ≤ a few % here).  Training = forward + backward =
3 × forward (the backward does two matmuls per forward matmul).

MFU = train_flops_per_token × tokens/s ÷ ceiling FLOP/s (bench/gemm_ceiling).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_config import parse_config, read_config  # noqa: E402


def forward_flops_per_token(cfg, causal_half=False, dropped_frac=0.0):
    """Breakdown {part: forward FLOPs per token} of the model in `cfg` (bench_config dict)."""
    m, moe = cfg["model"], cfg["moe"]
    d, H, Hkv = m["d_model"], m["n_heads"], m["n_kv_heads"]
    dh = d // H
    T = cfg["train"]["seq_len"]
    keys_per_query = (T + 1) / 2 if causal_half else T

    def mlp(hidden):
        return (3 if m["activation"] == "swiglu" else 2) * 2 * d * hidden

    proj = 2 * d * H * dh + 2 * 2 * d * Hkv * dh + 2 * H * dh * d
    core = 2 * 2 * keys_per_query * H * dh
    parts = {"attn_proj": 0, "attn_core": 0, "dense_mlp": 0, "router": 0, "experts": 0, "lm_head": 2 * d * m["vocab_size"]}
    for layer in range(m["n_layers"]):
        parts["attn_proj"] += proj
        parts["attn_core"] += core
        if layer in m["moe_layers"]:
            parts["router"] += 2 * d * moe["num_experts"]
            parts["experts"] += (moe["top_k"] * (1 - dropped_frac) + moe["shared_experts"]) * mlp(moe["d_expert"])
        else:
            parts["dense_mlp"] += mlp(m["d_ff"])
    return parts


def train_flops_per_token(cfg, causal_half=False, dropped_frac=0.0):
    return 3 * sum(forward_flops_per_token(cfg, causal_half, dropped_frac).values())


def _self_test():
    # Hand count, V=8 d=4 L=2 H=2 (dh 2) d_ff=8 T=3 gelu, layer 1 MoE with E=4 top-2:
    #   per layer attn proj 4·(2·4·4) = 128, core 2·2·3·2·2 = 48
    #   layer 0: 128 + 48 + dense 2·2·4·8 = 128            → 304
    #   layer 1: 128 + 48 + router 2·4·4 = 32 + 2·128      → 464
    #   head 2·4·8 = 64;  forward 304 + 464 + 64 = 832;  train 3·832 = 2496
    tiny = parse_config(
        "[model]\nvocab_size=8\nd_model=4\nn_layers=2\nn_heads=2\nd_ff=8\nmax_seq_len=3\nmoe_layers=1\n"
        "[moe]\nnum_experts=4\ntop_k=2\n[train]\nseq_len=3\n", "tiny")
    assert sum(forward_flops_per_token(tiny).values()) == 832, forward_flops_per_token(tiny)
    assert train_flops_per_token(tiny) == 2496
    # Causal half: core per layer 2·2·(3+1)/2·4 = 32 instead of 48 → 832 − 2·16 = 800.
    assert sum(forward_flops_per_token(tiny, causal_half=True).values()) == 800
    # A quarter of the assignments dropped: experts 2·128 → 1.5·128, forward 832 − 64 = 768.
    assert sum(forward_flops_per_token(tiny, dropped_frac=0.25).values()) == 768
    # GQA + SwiGLU + shared expert, V=10 d=8 L=1 H=4 Hkv=2 (dh 2) T=4, layer 0 MoE E=4 top-1 d_expert=4, 1 shared:
    #   proj 2·8·8 + 2·2·8·4 + 2·8·8 = 384, core 2·2·4·4·2 = 128, router 2·8·4 = 64,
    #   experts (1 + 1)·3·2·8·4 = 384, head 2·8·10 = 160;  forward 1120
    gqa = parse_config(
        "[model]\nvocab_size=10\nd_model=8\nn_layers=1\nn_heads=4\nn_kv_heads=2\nd_ff=16\nmax_seq_len=4\n"
        "activation=swiglu\nmoe_layers=0\n[moe]\nnum_experts=4\ntop_k=1\nd_expert=4\nshared_experts=1\n"
        "[train]\nseq_len=4\n", "gqa")
    assert sum(forward_flops_per_token(gqa).values()) == 1120, forward_flops_per_token(gqa)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="Switchyard INI")
    ap.add_argument("--causal-half", action="store_true", help="count only the causal half of attention")
    ap.add_argument("--dropped-frac", type=float, default=0.0,
                    help="fraction of expert assignments dropped by the capacity (metrics field dropped_frac)")
    ap.add_argument("--tokens-per-s", type=float, help="measured training throughput")
    ap.add_argument("--ceiling-gflops", type=float, help="GEMM ceiling from bench/gemm_ceiling")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--field", help="print only this field of the JSON object (for scripts)")
    args = ap.parse_args()
    _self_test()

    cfg = read_config(args.config)
    parts = forward_flops_per_token(cfg, args.causal_half, args.dropped_frac)
    fwd = sum(parts.values())
    out = {"config": args.config, "forward_flops_per_token": fwd, "train_flops_per_token": 3 * fwd,
           "dropped_frac": args.dropped_frac, "forward_breakdown": parts}
    if args.tokens_per_s is not None:
        out["tokens_per_s"] = args.tokens_per_s
        out["model_gflops"] = 3 * fwd * args.tokens_per_s * 1e-9
        if args.ceiling_gflops:
            out["ceiling_gflops"] = args.ceiling_gflops
            out["mfu"] = out["model_gflops"] / args.ceiling_gflops
    if args.field:
        if args.field not in out:
            sys.exit(f"model_flops: no field '{args.field}' (have {', '.join(out)})")
        print(out[args.field])
        return
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.config}: forward {fwd / 1e6:.3f} MFLOP/token, train (3x) {3 * fwd / 1e6:.3f} MFLOP/token")
    for k, v in parts.items():
        print(f"  {k:10s} {v / 1e6:10.3f} MFLOP/token ({100 * v / fwd:5.1f}%)")
    if "model_gflops" in out:
        print(f"  at {args.tokens_per_s:.1f} tokens/s: {out['model_gflops']:.2f} GFLOP/s", end="")
        print(f", MFU {100 * out['mfu']:.1f}% of {args.ceiling_gflops:.2f}" if "mfu" in out else "")


if __name__ == "__main__":
    main()
