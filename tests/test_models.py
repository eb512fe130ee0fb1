"""Parameter counts against two independent references: published totals and transformers on meta."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from calc.models import SUPPORTED_ARCHITECTURES, ModelSpec, param_counts
from calc.presets import PRESETS, get_preset


def transformers_param_count(config: dict) -> int:
    """Sum of p.numel() of the model transformers builds for ``config`` on the meta device (no memory)."""
    cfg = dict(config)
    model_type = cfg.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_total_matches_published_count(name):
    """REFERENCE.md table and model cards / safetensors totals; exact to the parameter."""
    counts = param_counts(get_preset(name))
    # DeepSeek-V3's published 671,026,419,200 includes the router's e_score_correction_bias (a buffer).
    assert counts.total + counts.buffers == PRESETS[name].published_total


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_total_matches_transformers_meta_build(name):
    assert param_counts(get_preset(name)).total == transformers_param_count(PRESETS[name].config)


def test_presets_are_supported_architectures_and_at_least_20_models():
    # every family is checked on transformers' default config by tests/test_census.py; presets are a subset
    assert len(PRESETS) >= 20
    archs = {get_preset(n).architecture for n in PRESETS}
    assert archs <= set(SUPPORTED_ARCHITECTURES)
    assert all(p.source.startswith("https://") for p in PRESETS.values())


# Variants that exercise the branches presets do not: biases, odd head_dim, dense layers in MoE, no q-LoRA in MLA.
VARIANTS = [
    ("llama", {"attention_bias": True, "mlp_bias": True}),
    ("llama", {"head_dim": 48, "num_attention_heads": 16, "num_key_value_heads": 4}),
    ("qwen3_moe", {"mlp_only_layers": [0, 2], "decoder_sparse_step": 1}),
    ("qwen3_moe", {"decoder_sparse_step": 2}),
    ("deepseek_v3", {"q_lora_rank": None}),
    ("deepseek_v3", {"first_k_dense_replace": 0, "n_shared_experts": 2}),
    ("gpt2", {"n_inner": 1000}),
    ("phi3", {"tie_word_embeddings": True}),
]
_BASES = {
    "llama": "Llama-3.2-1B", "qwen3_moe": "Qwen3-30B-A3B", "deepseek_v3": "DeepSeek-V3", "gpt2": "GPT-2",
    "phi3": "Phi-3-mini-4k-instruct",
}


def _small(config: dict) -> dict:
    cfg = copy.deepcopy(config)
    for key, value in {"num_hidden_layers": 4, "n_layer": 3}.items():
        if key in cfg:
            cfg[key] = value
    if "n_routed_experts" in cfg:
        cfg.update(n_routed_experts=16, n_group=4, topk_group=2)
    return cfg


@pytest.mark.parametrize("model_type,overrides", VARIANTS, ids=[f"{m}-{'-'.join(o)}" for m, o in VARIANTS])
def test_config_variants_match_transformers(model_type, overrides):
    cfg = _small(PRESETS[_BASES[model_type]].config)
    cfg.update(overrides)
    spec = ModelSpec.from_hf_config(cfg)
    assert param_counts(spec).total == transformers_param_count(cfg)


def test_active_parameters_of_moe_models():
    # Mixtral-8x7B: "12.9B active" (Mistral AI announcement); Qwen3-30B-A3B: "3.3B activated" (model card);
    # DeepSeek-V3: "37B activated" (technical report). Rounding of the published figures is the tolerance.
    assert param_counts(get_preset("Mixtral-8x7B-v0.1")).active == pytest.approx(12.9e9, rel=0.005)
    assert param_counts(get_preset("Qwen3-30B-A3B")).active == pytest.approx(3.3e9, rel=0.02)
    assert param_counts(get_preset("DeepSeek-V3")).active == pytest.approx(37e9, rel=0.02)
    dense = param_counts(get_preset("Meta-Llama-3-8B"))
    assert dense.active == dense.total


def test_breakdown_parts_sum_to_total_and_tied_head_is_zero():
    c = param_counts(get_preset("Llama-3.2-1B"))
    assert sum(c.components().values()) == c.total
    assert c.output_head == 0
    # Llama-3.2-1B: 128256 x 2048 embedding
    assert c.embeddings == 128256 * 2048


@pytest.mark.parametrize(
    "config,fragment",
    [
        ({"architectures": ["BertModel"]}, "'BertModel' is not supported"),
        ({"architectures": ["BertModel"]}, "enter its parameter count instead"),
        ({"model_type": "t5"}, "not supported"),
        ({}, "neither 'architectures' nor 'model_type'"),
        ({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}, "'num_hidden_layers' is missing"),
        ({"architectures": ["LlamaForCausalLM"], "hidden_size": -5, "num_hidden_layers": 2}, "'hidden_size' must be in"),
        ({"architectures": ["LlamaForCausalLM"], "hidden_size": "64", "num_hidden_layers": 2}, "must be an integer"),
        ({"architectures": ["LlamaForCausalLM"], "hidden_size": 10**30, "num_hidden_layers": 2}, "must be in"),
        ({"architectures": "LlamaForCausalLM"}, "must be a list of strings"),
        ({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 3, "intermediate_size": 10, "vocab_size": 10}, "multiple of num_key_value_heads"),
    ],
)
def test_bad_configs_raise_value_error_naming_the_field(config, fragment):
    with pytest.raises(ValueError, match=None) as info:
        ModelSpec.from_hf_config(config)
    assert fragment in str(info.value)
