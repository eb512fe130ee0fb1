"""Hugging Face ``config.json`` field names, per architecture: the only module that knows them.

Defaults mirror each ``transformers`` config class (``LlamaConfig``, ``Gemma2Config``, ...) for
fields a config may omit. Every value read from the (untrusted) config is type- and range-checked
here and a ``ValueError`` names the field, the value and what is allowed.
"""

from __future__ import annotations

from typing import Any

from calc.models import MAX_DIM, MAX_EXPERTS, MAX_LAYERS, SUPPORTED_ARCHITECTURES

_MODEL_TYPE_TO_ARCH = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "mixtral": "MixtralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
    "phi3": "Phi3ForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "deepseek_v3": "DeepseekV3ForCausalLM",
}
ARCH_TO_MODEL_TYPE = {v: k for k, v in _MODEL_TYPE_TO_ARCH.items()}

_MISSING = object()
_READS_ATTENTION_BIAS = ("LlamaForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Gemma2ForCausalLM",
                         "DeepseekV3ForCausalLM")


def _int(cfg: dict, key: str, default: Any = _MISSING, lo: int = 1, hi: int = MAX_DIM) -> int:
    value = cfg.get(key, default)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ValueError(f"config field {key!r} is missing (an integer in [{lo}, {hi}])")
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"config field {key!r} must be an integer in [{lo}, {hi}], got {value!r:.60}")
    if not lo <= value <= hi:
        shown = value if abs(value) < 10**30 else f"a {value.bit_length()}-bit integer"
        raise ValueError(f"config field {key!r} must be in [{lo}, {hi}], got {shown}")
    return value


def _bool(cfg: dict, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"config field {key!r} must be true or false, got {value!r:.60}")
    return value


def _str(cfg: dict, key: str, default: str | None, max_len: int = 40) -> str | None:
    value = cfg.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"config field {key!r} must be a string, got {value!r:.60}")
    return value[:max_len]


def _architecture(cfg: dict) -> str:
    archs = cfg.get("architectures")
    if archs is not None:
        if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
            raise ValueError(f"config field 'architectures' must be a list of strings, got {archs!r:.80}")
        for a in archs:
            if a in SUPPORTED_ARCHITECTURES:
                return a
        raise ValueError(
            f"architecture {archs[0]!r:.80} is not supported; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in _MODEL_TYPE_TO_ARCH:
        return _MODEL_TYPE_TO_ARCH[model_type]
    if model_type is None:
        raise ValueError("config has neither 'architectures' nor 'model_type'; supported architectures: "
                         + ", ".join(SUPPORTED_ARCHITECTURES))
    raise ValueError(
        f"model_type {model_type!r:.80} is not supported; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
    )


def _layer_types(cfg: dict, n_layers: int, default: list[bool]) -> tuple[bool, ...]:
    """Per-layer sliding flags from an explicit ``layer_types`` list, else ``default``."""
    types = cfg.get("layer_types")
    if types is None:
        return tuple(default)
    if not isinstance(types, list) or len(types) != n_layers:
        raise ValueError(f"config field 'layer_types' must be a list of {n_layers} strings")
    allowed = {"sliding_attention", "full_attention"}
    if any(not isinstance(t, str) or t not in allowed for t in types):
        raise ValueError(f"config field 'layer_types' entries must be one of {sorted(allowed)}")
    return tuple(t == "sliding_attention" for t in types)


def spec_kwargs_from_hf(cfg: dict) -> dict:
    """Map a config dict to ``ModelSpec`` keyword arguments (without name/source)."""
    arch = _architecture(cfg)
    if arch == "GPT2LMHeadModel":
        return _gpt2(cfg)
    h = _int(cfg, "hidden_size")
    L = _int(cfg, "num_hidden_layers", hi=MAX_LAYERS)
    heads = _int(cfg, "num_attention_heads")
    kv = _int(cfg, "num_key_value_heads", heads)
    if heads % kv:
        raise ValueError(f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv})")
    head_dim_default = {"Gemma2ForCausalLM": 256, "Qwen3ForCausalLM": 128, "Qwen3MoeForCausalLM": 128}
    head_dim = _int(cfg, "head_dim", head_dim_default.get(arch, h // heads if h % heads == 0 else _MISSING))
    vocab = _int(cfg, "vocab_size")
    kw: dict[str, Any] = dict(
        architecture=arch,
        hidden_size=h,
        num_layers=L,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        vocab_size=vocab,
        max_position_embeddings=_int(cfg, "max_position_embeddings", 4096),
        tie_embeddings=_bool(cfg, "tie_word_embeddings", arch == "Gemma2ForCausalLM"),
        activation=_str(cfg, "hidden_act", None) or _str(cfg, "hidden_activation", "silu"),
    )
    # Only some modeling files read these flags (transformers 5: Mistral, Mixtral, Phi-3 and Qwen2
    # hard-code bias=False / Qwen2's q/k/v bias=True; only Llama reads mlp_bias). A config that sets
    # them for another architecture builds a model without those biases.
    attention_bias = _bool(cfg, "attention_bias", False) if arch in _READS_ATTENTION_BIAS else False
    kw["qkv_bias"] = attention_bias or arch == "Qwen2ForCausalLM"
    kw["out_bias"] = attention_bias
    kw["mlp_bias"] = _bool(cfg, "mlp_bias", False) if arch == "LlamaForCausalLM" else False
    sliding = cfg.get("sliding_window")
    window = None if sliding is None else _int(cfg, "sliding_window", hi=2**31)

    if arch == "Gemma2ForCausalLM":
        kw["norms_per_layer"] = 4
        kw["intermediate_size"] = _int(cfg, "intermediate_size")
        window = window or 4096
        kw["sliding_layers"] = _layer_types(cfg, L, [i % 2 == 0 for i in range(L)])
    elif arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Qwen2ForCausalLM"):
        kw["qk_norm"] = arch != "Qwen2ForCausalLM"
        kw["intermediate_size"] = _int(cfg, "intermediate_size")
        use_swa = _bool(cfg, "use_sliding_window", False)
        max_window = _int(cfg, "max_window_layers", L, lo=0, hi=MAX_LAYERS)
        kw["sliding_layers"] = _layer_types(cfg, L, [use_swa and window is not None and i >= max_window
                                                      for i in range(L)])
        if arch == "Qwen3MoeForCausalLM":
            _qwen3_moe(cfg, L, kw)
    elif arch == "DeepseekV3ForCausalLM":
        _deepseek_v3(cfg, L, kw)
        window = None
    else:  # Llama, Mistral, Mixtral, Phi3: all layers share the window when one is set
        kw["intermediate_size"] = _int(cfg, "intermediate_size")
        kw["sliding_layers"] = _layer_types(cfg, L, [window is not None] * L)
        if arch == "MixtralForCausalLM":
            kw["num_experts"] = _int(cfg, "num_local_experts", hi=MAX_EXPERTS)
            kw["experts_per_token"] = _int(cfg, "num_experts_per_tok", hi=kw["num_experts"])
            kw["moe_intermediate_size"] = kw["intermediate_size"]
            kw["moe_layers"] = (True,) * L
    kw["sliding_window"] = window if any(kw.get("sliding_layers", ())) else None
    if kw["sliding_window"] is None:
        kw["sliding_layers"] = ()
    return kw


def _qwen3_moe(cfg: dict, L: int, kw: dict) -> None:
    """Qwen3-MoE: layer i is sparse unless listed in mlp_only_layers (``modeling_qwen3_moe.py``)."""
    # hub config.json files say num_experts; configs saved by transformers 5 say num_local_experts
    key = "num_experts" if cfg.get("num_experts") is not None else "num_local_experts"
    kw["num_experts"] = _int(cfg, key, hi=MAX_EXPERTS)
    kw["experts_per_token"] = _int(cfg, "num_experts_per_tok", hi=kw["num_experts"])
    kw["moe_intermediate_size"] = _int(cfg, "moe_intermediate_size")
    step = _int(cfg, "decoder_sparse_step", 1, hi=MAX_LAYERS)
    dense = cfg.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(isinstance(i, int) for i in dense):
        raise ValueError("config field 'mlp_only_layers' must be a list of layer indices")
    dense = set(dense)  # a set: a list of 10^5 indices x 10^4 layers took seconds
    kw["moe_layers"] = tuple(i not in dense and (i + 1) % step == 0 for i in range(L))


def _deepseek_v3(cfg: dict, L: int, kw: dict) -> None:
    """DeepSeek-V3: MLA attention, first_k_dense_replace dense layers, routed + shared experts."""
    kw["intermediate_size"] = _int(cfg, "intermediate_size")
    q_rank = cfg.get("q_lora_rank")
    kw["q_lora_rank"] = 0 if q_rank is None else _int(cfg, "q_lora_rank")
    kw["kv_lora_rank"] = _int(cfg, "kv_lora_rank")
    kw["qk_nope_head_dim"] = _int(cfg, "qk_nope_head_dim")
    kw["qk_rope_head_dim"] = _int(cfg, "qk_rope_head_dim")
    kw["v_head_dim"] = _int(cfg, "v_head_dim")
    kw["head_dim"] = kw["qk_nope_head_dim"] + kw["qk_rope_head_dim"]
    kw["num_kv_heads"] = kw["num_heads"]
    kw["num_experts"] = _int(cfg, "n_routed_experts", hi=MAX_EXPERTS)
    kw["experts_per_token"] = _int(cfg, "num_experts_per_tok", hi=kw["num_experts"])
    kw["moe_intermediate_size"] = _int(cfg, "moe_intermediate_size")
    kw["num_shared_experts"] = _int(cfg, "n_shared_experts", 0, lo=0, hi=MAX_EXPERTS)
    first_dense = _int(cfg, "first_k_dense_replace", 0, lo=0, hi=MAX_LAYERS)
    freq = _int(cfg, "moe_layer_freq", 1, hi=MAX_LAYERS)
    kw["moe_layers"] = tuple(i >= first_dense and i % freq == 0 for i in range(L))
    kw["mtp_layers"] = _int(cfg, "num_nextn_predict_layers", 0, lo=0, hi=MAX_LAYERS)


def _gpt2(cfg: dict) -> dict:
    """GPT-2 (``GPT2Config`` names): learned positions, biases everywhere, LayerNorm, tied head."""
    h = _int(cfg, "n_embd")
    heads = _int(cfg, "n_head")
    if h % heads:
        raise ValueError(f"n_embd ({h}) must be a multiple of n_head ({heads})")
    positions = _int(cfg, "n_positions", 1024)
    return dict(
        architecture="GPT2LMHeadModel",
        hidden_size=h,
        num_layers=_int(cfg, "n_layer", hi=MAX_LAYERS),
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=h // heads,
        intermediate_size=_int(cfg, "n_inner", 4 * h),
        vocab_size=_int(cfg, "vocab_size"),
        tie_embeddings=_bool(cfg, "tie_word_embeddings", True),
        gated_mlp=False,
        activation=_str(cfg, "activation_function", "gelu_new"),
        norm="layernorm",
        qkv_bias=True,
        out_bias=True,
        mlp_bias=True,
        learned_positions=positions,
        max_position_embeddings=positions,
    )
