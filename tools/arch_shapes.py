"""Developer aid for adding a family: the meta-device model's parameter shapes beside our breakdown.

    python tools/arch_shapes.py llama                  # transformers' default config for the type
    python tools/arch_shapes.py path/to/config.json    # a config file (model_type read from it)
    python tools/arch_shapes.py qwen3_next --set num_hidden_layers=4 --set num_experts=8

Prints every parameter name with the layer index folded (``layers.{0-3,5}``) and its shape, then per
decoder layer the meta model's parameter sum against ``layer_params(spec, i)``, then the totals. Needs
torch and transformers (never imported by the app).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ranges(ids: list[int]) -> str:
    ids = sorted(ids)
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(out)


def meta_model(model_type_or_path: str, overrides: dict):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    p = Path(model_type_or_path)
    if p.is_file():
        raw = json.loads(p.read_text())
        mt = raw.pop("model_type")
        cfg = AutoConfig.for_model(mt, **{**raw, **overrides})
    else:
        cfg = AutoConfig.for_model(model_type_or_path, **overrides)
    with torch.device("meta"):
        if cfg.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            model = AutoModelForCausalLM.from_config(cfg)
        else:
            from transformers import AutoModel
            model = AutoModel.from_config(cfg)
    return cfg, model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model_type or a config.json path")
    ap.add_argument("--set", action="append", default=[], help="key=json_value override")
    ap.add_argument("--all", action="store_true", help="list every parameter, not only the first 200 rows")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import transformers.utils.logging as tlog
    tlog.set_verbosity_error()
    overrides = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            overrides[k] = json.loads(v)
        except json.JSONDecodeError:
            overrides[k] = v
    cfg, model = meta_model(args.model, overrides)
    rows: dict[tuple[str, tuple], list[int]] = defaultdict(list)
    per_layer: dict[int, int] = defaultdict(int)
    outside = 0
    pat = re.compile(r"(^|\.)(layers|h|blocks|block|layer)\.(\d+)\.")
    for name, prm in model.named_parameters():
        m = pat.search(name)
        tower = any(w in name for w in ("vision", "visual", "audio", "image", "projector"))
        if m:
            i = int(m.group(3))
            rows[(name[:m.start(3)] + "{}" + name[m.end(3):], tuple(prm.shape))].append(i)
            if not tower:
                per_layer[i] += prm.numel()
            else:
                outside += prm.numel()
        else:
            rows[(name, tuple(prm.shape))].append(-1)
            outside += prm.numel()
    shown = 0
    for (name, shape), ids in rows.items():
        if not args.all and shown >= 200:
            print(f"... {len(rows) - shown} more rows (--all)")
            break
        label = name.replace("{}", "{" + _ranges(ids) + "}") if ids[0] >= 0 else name
        print(f"{label:90s} {shape}")
        shown += 1
    total = sum(p.numel() for p in model.parameters())
    print(f"\nmeta total {total:,}   outside decoder layers {outside:,}")
    try:
        from calc.models import ModelSpec, layer_params, param_counts

        spec = ModelSpec.from_hf_config(cfg.to_dict())
    except ValueError as exc:
        print(f"ours: {exc}")
        return 1
    c = param_counts(spec)
    bad = [(i, n, layer_params(spec, i)) for i, n in sorted(per_layer.items()) if layer_params(spec, i) != n]
    for i, n, ours in bad[:20]:
        print(f"layer {i}: meta {n:,} ours {ours:,} (diff {ours - n:+,})")
    print(f"ours total {c.total:,}  diff {c.total - total:+,}  {'EXACT' if c.total == total else 'DIFFERENT'}")
    print("ours components", {k: v for k, v in c.components().items() if v})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
