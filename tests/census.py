"""The census: every decoder-only causal LM ``transformers`` maps, built on the meta device from its own
default config, against ``param_counts``. Used by ``tests/test_census.py``; run it to see the table:

    python -m tests.census            # every type: exact / off by N / not modelled / not buildable
    python -m tests.census llama gpt_oss

"Decoder-only": an entry of ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` whose config is not encoder-decoder and
whose type is not also a masked-LM or seq2seq model (BERT-style encoders and encoder-decoder decoders are
mapped to causal LMs too). ``REPAIRS``: the few default configs ``transformers`` 5.24 itself cannot build
(a missing RoPE theta, ...), each with the smallest change that builds; the type is still counted.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

#: model_type -> config overrides without which transformers' own default config does not build.
REPAIRS: dict[str, dict] = {
    # head_dim None is read by getattr(config, "head_dim", hidden // heads) as None: give hidden // heads
    "hunyuan_v1_dense": {"head_dim": 128},
    "hunyuan_v1_moe": {"head_dim": 128},
    "ministral": {"head_dim": 128},
}

#: The model_types issue 12 lists: each must be exact (on its default config and a published one).
LISTED = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen3_next", "gemma",
          "gemma2", "gemma3", "gemma3_text", "llama4", "llama4_text", "gpt_oss", "phi", "phi3", "phimoe",
          "phi4_multimodal", "olmo", "olmo2", "olmoe", "deepseek_v2", "deepseek_v3", "granite", "granitemoe",
          "cohere", "cohere2", "starcoder2", "falcon", "glm", "glm4", "glm4_moe", "ernie4_5", "hunyuan_v1_dense",
          "hunyuan_v1_moe", "minimax", "smollm3", "exaone4", "mamba", "jamba", "gpt_neox", "gptj", "bloom", "opt")


@dataclass
class Entry:
    model_type: str
    status: str  # "exact", "off", "unsupported", "unbuildable"
    meta_total: int | None = None
    ours: int | None = None
    detail: str = ""


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    import transformers.utils.logging as tlog

    tlog.set_verbosity_error()


def decoder_only_types() -> list[str]:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    _quiet()
    out = []
    for mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        if mt in MODEL_FOR_MASKED_LM_MAPPING_NAMES or mt in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
            continue
        try:
            if getattr(AutoConfig.for_model(mt), "is_encoder_decoder", False):
                continue
        except Exception:  # noqa: BLE001 - a config class that cannot even be made is still a type
            pass
        out.append(mt)
    return out


def meta_build(model_type: str):
    """(config dict, parameter count) of the model transformers builds for the type's default config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _quiet()
    cfg = AutoConfig.for_model(model_type, **REPAIRS.get(model_type, {}))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return cfg.to_dict(), sum(p.numel() for p in model.parameters())


def check(model_type: str) -> Entry:
    from calc.models import ModelSpec, param_counts

    try:
        cfg, total = meta_build(model_type)
    except Exception as exc:  # noqa: BLE001 - transformers' own default config does not build
        return Entry(model_type, "unbuildable", detail=f"{type(exc).__name__}: {str(exc)[:80]}")
    try:
        ours = param_counts(ModelSpec.from_hf_config(cfg)).total
    except ValueError as exc:
        return Entry(model_type, "unsupported", total, detail=str(exc)[:100])
    return Entry(model_type, "exact" if ours == total else "off", total, ours,
                 "" if ours == total else f"{ours - total:+,} ({(ours - total) / total:+.3%})")


def main(argv: list[str]) -> int:
    sys.path.insert(0, ".")
    types = argv or decoder_only_types()
    entries = [check(t) for t in types]
    for e in entries:
        mark = "*" if e.model_type in LISTED else " "
        print(f"{mark} {e.model_type:28s} {e.status:12s} {e.meta_total or 0:>18,} {e.detail}")
    buildable = [e for e in entries if e.status != "unbuildable"]
    exact = sum(e.status == "exact" for e in buildable)
    print(f"{exact} of {len(buildable)} decoder-only causal LMs exact "
          f"({len(entries) - len(buildable)} more do not build from transformers' default config)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
