#!/usr/bin/python3
"""tools/fairseq_import.py — fairseq MoE LM checkpoint (model-shared.pt + model-rank-N.pt) -> Switchyard checkpoint.

  fairseq_import.py SRC_DIR DST_DIR [--ep N] [--padding-idx 1] [--prefix model] [--no-optimizer-state]

reads SRC_DIR/{prefix}-shared.pt and SRC_DIR/{prefix}-rank-*.pt (fairseq's moe-branch
layout: the shared file holds every non-expert tensor plus `cfg`; rank file N holds
experts numbered locally 0..L-1, global id N*L + j) and writes DST_DIR/step-00000000/
(DESIGN.md §5, step 0, zero AdamW moments so `switchyard train --ckpt.dir DST_DIR`
fine-tunes from it) with `ep` rank files; ep must divide E (default: the number of
fairseq rank files when it divides E, else 1). Run it with Debian's /usr/bin/python3.

Loading without running pickled code: each .pt file is first read with
torch.load(weights_only=True) (torch's own restricted unpickler: tensors, storages,
plain containers and scalars). fairseq checkpoints may also pickle trainer objects
(meters in extra_state, argparse Namespaces), which that refuses; such files are
read from torch's zip archive by this tool's own unpickler, which calls nothing but
torch.frombuffer/as_strided on the raw storage records, collections.OrderedDict and
builtins set/frozenset/slice/complex. Every other class the pickle names becomes an
inert placeholder (none of its constructors, __reduce__ or __setstate__ runs), so an
argparse `args` is unreadable there: fairseq >= 0.10 stores `cfg` as plain dicts.
Only the `model` and `cfg` (or dict `args`) entries are used.

The Switchyard config comes from fairseq's cfg["model"]: decoder_embed_dim,
decoder_layers, decoder_attention_heads, decoder_ffn_embed_dim, moe_expert_count,
max_target_positions, no_scale_embedding, share_decoder_input_output_embed,
activation_fn (gelu | relu), decoder_normalize_before (must be true); vocab from
embed_tokens; MoE layers = the layers holding moe_layer keys (checked against
moe_freq); sinusoidal positions at offset padding_idx + 1; LayerNorm, biases,
top-2 with gate weights normalised over the two (fairseq's Top2Gate). fairseq's
training capacity 2*ceil(T/E) is written as capacity_factor 1.0; eval is dropless.
"""
import argparse
import collections
import glob
import io
import os
import pickle
import re
import sys
import types
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_ckpt as mk  # noqa: E402

IGNORED_KEYS = {"decoder.embed_positions._float_tensor", "decoder.version"}
EXPERT_KEY = re.compile(r"^decoder\.layers\.(\d+)\.moe_layer\.experts\.(\d+)\.(.+)$")
MOE_KEY = re.compile(r"^decoder\.layers\.(\d+)\.moe_layer\.")


class ImportError_(Exception):
    """A fairseq checkpoint this tool cannot convert; the message names the file or key."""


# ----------------------------------------------------------------------------- safe loading
class _Opaque:
    """Stands in for any class a pickle names that is not a tensor or container: it
    takes whatever arguments and state it is given and runs none of the named code."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


def _rebuild_parameter(data, *unused):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only tensor rebuilds (to the two functions above), storage types (to
    dtypes), OrderedDict and a few builtin containers; everything else to _Opaque."""

    def __init__(self, file, zf, prefix):
        super().__init__(file, encoding="utf-8")
        self.zf, self.prefix = zf, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "builtins" and name in ("set", "frozenset", "slice", "complex"):
            return getattr(__import__("builtins"), name)
        return _Opaque

    def persistent_load(self, saved_id):
        # ('storage', dtype, key, location, numel): the raw bytes of archive/data/<key>.
        kind, dtype, key, _, numel = saved_id[:5]
        if kind != "storage" or not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unsupported persistent id {saved_id[:2]}")
        raw = bytearray(self.zf.read(f"{self.prefix}data/{key}"))
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return flat[:numel]


def _restricted_load(path):
    """torch's zip checkpoint format read by _RestrictedUnpickler (torch 1.13's torch.load
    ignores a custom pickle_module unless weights_only, so the archive is opened here)."""
    if not zipfile.is_zipfile(path):
        raise ImportError_(f"{path}: not torch's zip format (pre-1.6 torch.save files are not supported)")
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ImportError_(f"{path}: no single */data.pkl record")
        prefix = pkl[0][:-len("data.pkl")]
        return _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), zf, prefix).load()


def load_pt(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return _restricted_load(path)


def as_dict(x, what):
    if isinstance(x, dict):
        return x
    if isinstance(x, types.SimpleNamespace) or isinstance(x, argparse.Namespace):
        return vars(x)
    raise ImportError_(f"{what} is a {type(x).__name__}, expected a dict")


# ----------------------------------------------------------------------------- conversion
def read_fairseq(src, prefix="model"):
    """-> (fairseq model cfg dict, shared state dict, [rank state dicts]) from SRC."""
    shared_path = os.path.join(src, f"{prefix}-shared.pt")
    if not os.path.isfile(shared_path):
        raise ImportError_(f"{shared_path}: no such file")
    pat = re.compile(re.escape(prefix) + r"-rank-(\d+)\.pt$")
    ranks = sorted((int(pat.search(p).group(1)), p)
                   for p in glob.glob(os.path.join(src, f"{prefix}-rank-*.pt")) if pat.search(p))
    if [n for n, _ in ranks] != list(range(len(ranks))):
        raise ImportError_(f"{src}: rank files {[n for n, _ in ranks]} are not 0..F-1")
    shared = as_dict(load_pt(shared_path), shared_path)
    if "model" not in shared:
        raise ImportError_(f"{shared_path}: no 'model' entry")
    cfg = shared.get("cfg") or {}
    cfg = as_dict(cfg, f"{shared_path}: cfg")
    model_cfg = cfg.get("model")
    if model_cfg is None and shared.get("args") is not None:
        model_cfg = shared["args"]  # pre-hydra fairseq keeps a flat argparse Namespace
    if model_cfg is None:
        raise ImportError_(f"{shared_path}: neither cfg['model'] nor args")
    model_cfg = as_dict(model_cfg, f"{shared_path}: cfg['model']")
    rank_states = []
    for _, p in ranks:
        d = as_dict(load_pt(p), p)
        if "model" not in d:
            raise ImportError_(f"{p}: no 'model' entry")
        rank_states.append((p, d["model"]))
    return model_cfg, (shared_path, shared["model"]), rank_states


def _get(mcfg, key, default=None, required=True):
    if key in mcfg and mcfg[key] is not None:
        return mcfg[key]
    if required and default is None:
        raise ImportError_(f"cfg['model'] has no '{key}'")
    return default


def convert(model_cfg, shared, rank_states, padding_idx=1):
    """-> (Switchyard cfg, {global name: float32 array}, number of fairseq rank files)."""
    shared_path, shared_sd = shared
    params, moe_layers, unknown = {}, set(), []
    tied = bool(_get(model_cfg, "share_decoder_input_output_embed", False, required=False))
    for key, value in shared_sd.items():
        if key in IGNORED_KEYS:
            continue
        if EXPERT_KEY.match(key):
            raise ImportError_(f"{shared_path}: expert tensor {key} in the shared file")
        if key == "decoder.output_projection.weight" and tied:
            # state_dict lists the tied matrix under both names.
            if not torch.equal(value.float(), shared_sd["decoder.embed_tokens.weight"].float()):
                raise ImportError_(f"{shared_path}: {key} differs from embed_tokens although they are tied")
            continue
        m = MOE_KEY.match(key)
        if m:
            moe_layers.add(int(m.group(1)))
        params[key.replace(".", "/")] = value
    num_files = len(rank_states)
    expert_ids = collections.defaultdict(set)
    local_count = None
    for n, (path, sd) in enumerate(rank_states):
        per_layer = collections.defaultdict(set)
        for key, value in sd.items():
            m = EXPERT_KEY.match(key)
            if not m:
                if key in IGNORED_KEYS or key in shared_sd:
                    continue  # some fairseq versions repeat shared tensors in rank files
                unknown.append(f"{path}: {key}")
                continue
            per_layer[int(m.group(1))].add(int(m.group(2)))
            params[f"_rank{n}/" + key] = value  # renumbered below, once L is known
        for layer, js in per_layer.items():
            if local_count is None:
                local_count = len(js)
            if js != set(range(local_count)):
                raise ImportError_(f"{path}: layer {layer} holds local experts {sorted(js)}, "
                                   f"expected 0..{local_count - 1}")
    L = local_count or 0
    for name in [k for k in params if k.startswith("_rank")]:
        n, key = name[5:].split("/", 1)
        m = EXPERT_KEY.match(key)
        g = int(n) * L + int(m.group(2))
        expert_ids[int(m.group(1))].add(g)
        params[f"decoder/layers/{m.group(1)}/moe_layer/experts/{g}/{m.group(3)}".replace(".", "/")] = \
            params.pop(name)
    if unknown:
        raise ImportError_("unknown keys: " + ", ".join(unknown))

    d = int(_get(model_cfg, "decoder_embed_dim"))
    n_layers = int(_get(model_cfg, "decoder_layers"))
    E = int(_get(model_cfg, "moe_expert_count", 0, required=False))
    if moe_layers and E != num_files * L:
        raise ImportError_(f"moe_expert_count {E} != {num_files} rank files x {L} experts")
    for layer in moe_layers:
        if expert_ids[layer] != set(range(E)):
            raise ImportError_(f"layer {layer}: experts {sorted(expert_ids[layer])} found, expected 0..{E - 1}")
    moe_freq = int(_get(model_cfg, "moe_freq", 0, required=False))
    if moe_freq and sorted(moe_layers) != [i for i in range(n_layers) if (i + 1) % moe_freq == 0]:
        raise ImportError_(f"moe_freq {moe_freq} disagrees with the MoE layers found {sorted(moe_layers)}")
    if not _get(model_cfg, "decoder_normalize_before", False, required=False):
        raise ImportError_("cfg['model'].decoder_normalize_before is false: Switchyard is pre-norm only")
    if _get(model_cfg, "decoder_learned_pos", False, required=False) or \
            _get(model_cfg, "no_token_positional_embeddings", False, required=False):
        raise ImportError_("only sinusoidal positions are supported (decoder_learned_pos / "
                           "no_token_positional_embeddings set)")
    act = str(_get(model_cfg, "activation_fn", "relu", required=False))
    if act not in ("gelu", "relu"):
        raise ImportError_(f"activation_fn {act} is not supported (gelu = exact erf, relu)")
    if "decoder/embed_tokens/weight" not in params:
        raise ImportError_(f"{shared_path}: no decoder.embed_tokens.weight")
    vocab = int(params["decoder/embed_tokens/weight"].shape[0])
    ffn = int(_get(model_cfg, "decoder_ffn_embed_dim"))
    max_pos = int(_get(model_cfg, "max_target_positions", 1024, required=False))
    cfg = mk.make_config(
        model=dict(vocab_size=vocab, d_model=d, n_layers=n_layers,
                   n_heads=int(_get(model_cfg, "decoder_attention_heads")), d_ff=ffn, max_seq_len=max_pos,
                   norm="layernorm", activation=act, positions="sinusoidal", position_offset=padding_idx + 1,
                   bias=True, tie_embeddings=tied,
                   scale_embeddings=not _get(model_cfg, "no_scale_embedding", False, required=False),
                   moe_layers=sorted(moe_layers)),
        moe=dict(num_experts=E if moe_layers else 0, top_k=2, capacity_factor=1.0, normalize_topk=True,
                 router_noise="none", aux_loss_coef=float(_get(model_cfg, "moe_gate_loss_wt", 0.01,
                                                               required=False)), z_loss_coef=0.0),
        train=dict(seq_len=min(64, max_pos)))
    if not moe_layers:
        cfg["model"]["moe_layers"] = []
    expected = mk.param_shapes(cfg)
    extra = sorted(set(params) - set(expected))
    if extra:
        raise ImportError_("unknown keys: " + ", ".join(k.replace("/", ".") for k in extra))
    missing = sorted(set(expected) - set(params))
    if missing:
        raise ImportError_("missing keys: " + ", ".join(k.replace("/", ".") for k in missing))
    out = {}
    for name, shape in expected.items():
        value = params[name]
        if tuple(value.shape) != tuple(shape):
            raise ImportError_(f"{name.replace('/', '.')} has shape {list(value.shape)}, expected {list(shape)}")
        out[name] = value.detach().to(torch.float32).cpu().numpy()
    return cfg, out, num_files


def default_ep(num_files, E):
    return num_files if E and num_files and E % num_files == 0 else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src_dir")
    ap.add_argument("dst_dir")
    ap.add_argument("--ep", type=int, default=0, help="rank files to write (divides E); 0 = the fairseq count")
    ap.add_argument("--prefix", default="model")
    ap.add_argument("--padding-idx", type=int, default=1, help="fairseq dictionary pad (positions start at +1)")
    ap.add_argument("--no-optimizer-state", dest="optimizer_state", action="store_false",
                    help="omit the zero AdamW moments (then `switchyard train` cannot resume from it)")
    args = ap.parse_args(argv)
    try:
        model_cfg, shared, ranks = read_fairseq(args.src_dir, args.prefix)
        cfg, params, num_files = convert(model_cfg, shared, ranks, args.padding_idx)
        E = cfg["moe"]["num_experts"] if cfg["model"]["moe_layers"] else 0
        ep = args.ep or default_ep(num_files, E)
        if ep < 1 or (E and E % ep):
            raise ImportError_(f"--ep {ep} does not divide the {E} experts")
        if not E and ep != 1:
            raise ImportError_("the model has no MoE layers: --ep must be 1")
        step_dir = mk.write_checkpoint(args.dst_dir, cfg, params, ep_size=ep,
                                       optimizer_state=args.optimizer_state)
    except (ImportError_, OSError, pickle.UnpicklingError) as err:
        print(f"fairseq_import: error: {err}", file=sys.stderr)
        return 2
    print(f"{step_dir}: {len(params)} tensors, {E} experts over {ep} rank files "
          f"(from {num_files} fairseq rank files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
