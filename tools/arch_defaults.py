"""Print a family's config-class field defaults (not values __post_init__ derives) as a dict literal for ``calc/arch/families.py``.

    python tools/arch_defaults.py gemma3_text [field ...]

Without fields: every field of the class whose default is a number, a bool, None or a short string
(not token ids, not training-only settings). Needs transformers.
"""

from __future__ import annotations

import sys
import warnings

SKIP = ("token_id", "initializer", "dropout", "eps", "use_cache", "output_", "aux_loss", "rope", "return_dict",
        "torchscript", "dtype", "problem_type", "chunk_size_feed", "tokenizer", "prefix", "task_specific",
        "label", "logit", "scaling", "multiplier", "z_loss", "tie_encoder", "is_", "add_cross", "pruned",
        "finetuning", "cross_attention", "id2label", "architectures", "model_type", "transformers_version",
        "_name_or_path", "pretraining_tp", "router_jitter", "routed_scaling", "norm_topk", "softcap",
        "layer_types", "time_step", "bidirectional", "tie_word_embeddings_", "chat_template")


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    import dataclasses

    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cls = CONFIG_MAPPING[argv[0]]
    cfg = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    keys = argv[1:] or [k for k, v in cfg.items() if not any(s in k for s in SKIP)
                        and (v is None or isinstance(v, (int, float, bool)) or isinstance(v, str) and len(v) < 30)]
    print("{" + ", ".join(f"{k!r}: {cfg.get(k)!r}" for k in keys) + "}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
