"""Parameter counts against two independent references: published totals and transformers on meta."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from calc.models import SUPPORTED_ARCHITECTURES, ModelSpec, mtp_params, param_counts
from calc.presets import PRESETS, get_preset


def transformers_param_count(config: dict) -> int:
    """Sum of p.numel() of the model transformers builds for ``config`` on the meta device (no memory)."""
    import transformers

    cfg = dict(config)
    model_type = cfg.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **cfg)
    # the class the config names (Llama4ForConditionalGeneration with its vision tower), else the causal LM
    cls = getattr(transformers, (cfg.get("architectures") or [""])[0], None) or AutoModelForCausalLM
    with torch.device("meta"):
        model = cls._from_config(hf_config) if cls is not AutoModelForCausalLM else cls.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_total_matches_published_count(name):
    """REFERENCE.md table and model cards / safetensors totals; exact to the parameter."""
    spec = get_preset(name)
    counts = param_counts(spec)
    # DeepSeek-V3's published 671,026,419,200 includes the router's e_score_correction_bias (a buffer); GLM-4.5's
    # safetensors totals also count the checkpoint's MTP layer (calc.models.mtp_params).
    extra = mtp_params(spec) if PRESETS[name].total_includes_mtp else 0
    assert counts.total + counts.buffers + extra == PRESETS[name].published_total


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
    # Falcon-H1: Mamba width from mamba_expand x hidden (no mamba_d_ssm) with head size "auto", biases on the
    # attention, the MLP and out_proj only, no gated norm; and in_proj biased apart from out_proj
    ("falcon_h1", {"mamba_d_ssm": None, "mamba_d_head": "auto", "mamba_n_heads": 64, "mamba_rms_norm": False,
                   "attention_bias": True, "mlp_bias": True, "projectors_bias": True}),
    ("falcon_h1", {"mamba_proj_bias": True, "mamba_n_groups": 2, "tie_word_embeddings": True}),
]
_BASES = {
    "llama": "Llama-3.2-1B", "qwen3_moe": "Qwen3-30B-A3B", "deepseek_v3": "DeepSeek-V3", "gpt2": "GPT-2",
    "phi3": "Phi-3-mini-4k-instruct", "falcon_h1": "Falcon-H1-1.5B-Instruct",
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
        ({"architectures": ["BertModel"]}, "'parameter count only' on the Training and Inference memory pages"),
        ({"architectures": ["BertModel"]}, "safetensors headers"),
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


def test_qwen3_moe_without_head_dim_uses_hidden_over_heads():
    """Issue 12 item 7: a Qwen3-MoE config without ``head_dim`` was counted with 128 (+1.48%); transformers
    reads ``getattr(config, "head_dim", None) or hidden_size // num_attention_heads`` (modeling_qwen3_moe.py)."""
    cfg = _small(PRESETS["Qwen3-30B-A3B"].config)
    del cfg["head_dim"]  # 2048 / 32 heads = 64, not 128
    spec = ModelSpec.from_hf_config(cfg)
    assert spec.head_dim == 64
    assert param_counts(spec).total == transformers_param_count(cfg)


def test_config_holding_infinity_is_read():
    """Issue 12 item 7: transformers writes ``Infinity`` into Mamba-2-family configs (time_step_limit); such a
    config.json is read (and counted exactly against the meta build), while a size field holding it is refused."""
    from calc.cli.common import parse_config_bytes

    text = ('{"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": 256, '
            '"num_hidden_layers": 2, "num_heads": 8, "head_dim": 64, "n_groups": 2, "state_size": 16, '
            '"vocab_size": 1000, "time_step_limit": [0.0, Infinity], "time_step_min": 0.001}')
    cfg = parse_config_bytes(text.encode())
    assert cfg["time_step_limit"][1] == float("inf")
    spec = ModelSpec.from_hf_config(cfg)
    assert param_counts(spec).total == transformers_param_count(cfg)
    bad = parse_config_bytes(text.replace('"hidden_size": 256', '"hidden_size": Infinity').encode())
    with pytest.raises(ValueError, match="'hidden_size' must be an integer"):
        ModelSpec.from_hf_config(bad)


def test_unmodelled_upload_names_its_architecture_and_leaves_no_numbers_on_screen():
    """Issue 12 item 7: the Models page shows the error naming the architecture and what to do, and not the
    previous (sidebar) model's counts under it."""
    import json

    from tests.test_pages import run_page

    at = run_page("app_pages/models.py")
    assert any(m.label == "Total parameters" for m in at.metric)
    cfg = {"architectures": ["FancyNewForCausalLM"], "model_type": "fancy_new", "hidden_size": 64}
    at.file_uploader[0].upload("fancy.json", json.dumps(cfg).encode(), "application/json")
    at.run()
    assert not at.exception
    assert any("FancyNewForCausalLM" in e.value and "parameter count only" in e.value for e in at.error)
    assert not at.metric and not at.dataframe


def test_presets_are_found_by_their_hugging_face_id():
    """Issue 12 item 6: "meta-llama/Llama-3.1-8B" finds the Llama-3.1-8B preset (calc) and the sidebar picker's
    entry carries the id, so typing it in the picker finds the preset."""
    from calc.presets import find_preset, hf_id
    from ui.pickers import model_label

    assert find_preset("meta-llama/Llama-3.1-8B") == "Llama-3.1-8B"
    assert find_preset("  META-LLAMA/llama-3.1-8b ") == "Llama-3.1-8B"
    assert find_preset("openai/gpt-oss-120b") == "gpt-oss-120b"
    assert find_preset("no/such-model") is None
    assert "meta-llama/Llama-3.1-8B" in model_label("Llama-3.1-8B")
    for name in PRESETS:  # every preset's id is a repo id and leads back to it
        repo = hf_id(name)
        assert repo.count("/") == 1 and find_preset(repo) == name, (name, repo)


# issue 12 item 6: the models people size now, each with its config URL and published total (checked above)
ITEM6 = ("gpt-oss-20b", "gpt-oss-120b", "Qwen3-Next-80B-A3B", "Qwen3-235B-A22B", "Qwen3-32B", "Gemma-3-1B",
         "Gemma-3-4B", "Gemma-3-12B", "Gemma-3-27B", "Llama-4-Scout-17B-16E", "Llama-4-Maverick-17B-128E", "Kimi-K2",
         "DeepSeek-R1", "DeepSeek-V3.1", "GLM-4.5", "GLM-4.5-Air", "Phi-4", "OLMo-2-7B", "OLMo-2-32B", "Granite-3.3-8B", "SmolLM3-3B")


def test_issue_12_presets_are_present():
    assert set(ITEM6) <= set(PRESETS)


@pytest.mark.browser
def test_sidebar_picker_finds_a_preset_by_its_hugging_face_id(server, page):
    """Issue 12 item 6, as a user: typing "meta-llama/Llama-3.1-8B" in the sidebar's Model picker offers the
    Llama-3.1-8B preset (and not Llama-3.1-70B or Meta-Llama-3-8B); choosing it puts it in the link."""
    from tests.browser_helpers import sidebar
    from tests.conftest import screenshot, wait_for_app

    page.goto(f"{server}/models")
    wait_for_app(page)
    sel = sidebar(page).locator("[data-testid='stSelectbox']").filter(has_text="Model").first
    sel.click()
    page.keyboard.type("meta-llama/Llama-3.1-8B")
    page.wait_for_timeout(500)
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    screenshot(page, "picker_hf_id")
    assert options and options[0] == "Llama-3.1-8B · meta-llama/Llama-3.1-8B", options
    assert not any(o.startswith(("Llama-3.1-70B", "Meta-Llama-3-8B")) for o in options), options
    page.keyboard.press("Enter")
    wait_for_app(page)
    assert "model=Llama-3.1-8B" in page.url
