# bench/bench_config.py — reads a Switchyard INI (DESIGN.md §6 keys and defaults) for the Python benchmark scripts.
"""Switchyard INI → a dict of sections with typed values and DESIGN §6 defaults.

Only what the benchmark scripts need: the launch/ schema stays the authority.
An unknown section or key is an error naming it, so a bench config that reads
here uses only keys the contract defines.
"""
import configparser

# (type, default); None = no default in DESIGN §6 (the C++ schema may still
# supply one; the defaults below are then those of runtime/config.h).
_INT, _REAL, _BOOL, _TEXT, _LIST = "int", "real", "bool", "text", "list"
SCHEMA = {
    "model": {
        "vocab_size": (_INT, 256), "d_model": (_INT, 64), "n_layers": (_INT, 2), "n_heads": (_INT, 4),
        "n_kv_heads": (_INT, 0), "d_ff": (_INT, 256), "max_seq_len": (_INT, 256),
        "norm": (_TEXT, "layernorm"), "activation": (_TEXT, "gelu"), "positions": (_TEXT, "learned"),
        "position_offset": (_INT, 0), "rope_theta": (_REAL, 10000.0), "bias": (_BOOL, True),
        "tie_embeddings": (_BOOL, True), "scale_embeddings": (_BOOL, False), "moe_layers": (_LIST, []),
    },
    "moe": {
        "num_experts": (_INT, 0), "top_k": (_INT, 2), "d_expert": (_INT, 0), "capacity_factor": (_REAL, 0.0),
        "normalize_topk": (_BOOL, False), "router_noise": (_TEXT, "none"), "jitter_eps": (_REAL, 0.01),
        "aux_loss_coef": (_REAL, 0.01), "z_loss_coef": (_REAL, 0.001), "aux_loss_scope": (_TEXT, "micro"),
        "shared_experts": (_INT, 0), "bias_update_rate": (_REAL, 0.0),
    },
    "train": {
        "steps": (_INT, 100), "micro_batch": (_INT, 4), "seq_len": (_INT, 64), "grad_accum": (_INT, 1),
        "lr": (_REAL, 1e-3), "min_lr": (_REAL, 1e-4), "warmup_steps": (_INT, 10), "weight_decay": (_REAL, 0.1),
        "beta1": (_REAL, 0.9), "beta2": (_REAL, 0.95), "eps": (_REAL, 1e-8), "grad_clip": (_REAL, 1.0),
        "seed": (_INT, 1234), "precision": (_TEXT, "fp32"), "device": (_TEXT, "cpu"),
    },
    "parallel": {
        "ep": (_INT, 1), "a2a_chunks": (_INT, 1), "threads": (_INT, 0), "bucket_mb": (_REAL, 25.0),
        "stall_timeout_s": (_REAL, 300.0), "a2a": (_TEXT, "flat"),
    },
    "data": {"source": (_TEXT, "synthetic")},
    "ckpt": {"dir": (_TEXT, ""), "every": (_INT, 0), "keep": (_INT, 0), "resume": (_TEXT, "auto")},
    "log": {"every": (_INT, 1), "metrics": (_TEXT, ""), "tensorboard": (_TEXT, "")},
    "eval": {"max_windows": (_INT, 0)},
}
CHOICES = {
    ("model", "norm"): {"layernorm", "rmsnorm"},
    ("model", "activation"): {"gelu", "relu", "swiglu"},
    ("model", "positions"): {"learned", "sinusoidal", "rope"},
    ("moe", "router_noise"): {"none", "gumbel", "jitter"},
    ("moe", "aux_loss_scope"): {"micro", "global"},
    ("train", "precision"): {"fp32", "bf16"},
    ("train", "device"): {"cpu", "cuda"},
    ("parallel", "a2a"): {"flat", "hierarchical"},
}


class ConfigError(ValueError):
    pass


def _convert(path, key, kind, text):
    try:
        if kind == _INT:
            return int(text)
        if kind == _REAL:
            return float(text)
        if kind == _BOOL:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind == _LIST:
            return [int(x) for x in text.replace(" ", "").split(",") if x]
        return text
    except ValueError:
        raise ConfigError(f"{path}: bad value '{text}' for {key} ({kind})") from None


def read_config(path):
    """Returns {section: {key: value}} with every key of SCHEMA filled in."""
    with open(path) as f:
        return parse_config(f.read(), path)


def parse_config(text, path="<string>"):
    """read_config on INI text; `path` only names the source in errors."""
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    ini.read_string(text, source=path)
    cfg = {s: {k: d for k, (_, d) in keys.items()} for s, keys in SCHEMA.items()}
    for section in ini.sections():
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}]")
        for key, text in ini.items(section):
            if key not in SCHEMA[section]:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
            value = _convert(path, f"{section}.{key}", SCHEMA[section][key][0], text.strip())
            allowed = CHOICES.get((section, key))
            if allowed and value not in allowed:
                raise ConfigError(f"{path}: {section}.{key} = {value} is not one of {sorted(allowed)}")
            cfg[section][key] = value
    m, moe = cfg["model"], cfg["moe"]
    # The two "0 = same as" keys resolve as the schema does.
    if m["n_kv_heads"] == 0:
        m["n_kv_heads"] = m["n_heads"]
    if moe["d_expert"] == 0:
        moe["d_expert"] = m["d_ff"]
    if m["d_model"] % m["n_heads"] or m["n_heads"] % m["n_kv_heads"]:
        raise ConfigError(f"{path}: n_heads must divide d_model and n_kv_heads must divide n_heads")
    if m["moe_layers"] and not (1 <= moe["top_k"] <= moe["num_experts"]):
        raise ConfigError(f"{path}: moe.top_k must be in [1, moe.num_experts]")
    if any(not 0 <= l < m["n_layers"] for l in m["moe_layers"]):
        raise ConfigError(f"{path}: model.moe_layers has an index outside [0, n_layers)")
    if cfg["train"]["seq_len"] > m["max_seq_len"]:
        raise ConfigError(f"{path}: train.seq_len > model.max_seq_len")
    return cfg
