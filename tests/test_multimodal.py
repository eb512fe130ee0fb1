"""Multimodal models (issue 12 item 3): towers and projectors counted exactly, shown apart; the text decoder
alone drives KV cache, activations and FLOPs.

Reference: the whole model ``transformers`` builds on the meta device (``AutoModelForImageTextToText``, else
``AutoModelForCausalLM``) from (a) the type's default config and (b) published configs kept in
tests/data/multimodal/ with their URL and the checkpoint's published parameter count. Each tower is also
compared with the parameters under its own module prefix of that model, so the breakdown is checked part by
part, not only in total.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from calc.models import ModelSpec, param_counts

DATA = Path(__file__).parent / "data" / "multimodal"

#: Which module of the transformers model each of our towers is: (name prefix, tower), first match wins;
#: parameters matching none are the text decoder's.
PREFIXES = {
    "gemma3": (("model.vision_tower.", "vision"), ("model.multi_modal_projector.", "vision projector")),
    "llama4": (("vision_model.vision_adapter.", "vision projector"), ("vision_model.", "vision"),
               ("multi_modal_projector.", "vision projector")),
    "mistral3": (("model.vision_tower.", "vision"), ("model.multi_modal_projector.", "vision projector")),
    "qwen2_5_vl": (("model.visual.merger.", "vision projector"), ("model.visual.", "vision")),
    "qwen3_vl": (("model.visual.merger.", "vision projector"),
                 ("model.visual.deepstack_merger_list.", "deepstack projectors"), ("model.visual.", "vision")),
    "qwen3_vl_moe": (("model.visual.merger.", "vision projector"),
                     ("model.visual.deepstack_merger_list.", "deepstack projectors"), ("model.visual.", "vision")),
    "llava": (("model.vision_tower.", "vision"), ("model.multi_modal_projector.", "vision projector")),
    "qwen2_vl": (("model.visual.merger.", "vision projector"), ("model.visual.", "vision")),
    "paligemma": (("model.vision_tower.", "vision"), ("model.multi_modal_projector.", "vision projector")),
    "phi4_multimodal": (("model.embed_tokens_extend.image_embed.img_processor.", "vision"),
                        ("model.embed_tokens_extend.image_embed.", "vision projector"),
                        ("model.embed_tokens_extend.audio_embed.encoder.", "audio"),
                        ("model.embed_tokens_extend.audio_embed.", "audio projector")),
}


def _meta(cfg_dict: dict):
    """(architecture, {tower or "decoder": parameters}) of the model transformers builds on the meta device."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    warnings.filterwarnings("ignore")
    transformers.utils.logging.set_verbosity_error()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    cfg = AutoConfig.for_model(**cfg_dict)
    model = None
    for auto in (AutoModelForImageTextToText, AutoModelForCausalLM):
        try:
            with torch.device("meta"):
                model = auto.from_config(cfg)
            break
        except ValueError:
            continue
    assert model is not None, cfg_dict["model_type"]
    rules = PREFIXES.get(cfg_dict["model_type"], ())
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        part = next((t for prefix, t in rules if name.startswith(prefix)), "decoder")
        parts[part] = parts.get(part, 0) + p.numel()
    return type(model).__name__, parts


def _default(model_type: str) -> dict:
    pytest.importorskip("torch")
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type).to_dict()


def _check(cfg: dict) -> ModelSpec:
    arch, parts = _meta(cfg)
    cfg = {**cfg, "architectures": [arch]}
    spec = ModelSpec.from_hf_config(cfg)
    counts = param_counts(spec)
    towers = dict(counts.tower_parts)
    assert counts.total == sum(parts.values()), (arch, counts.total, parts)
    assert towers == {k: v for k, v in parts.items() if k != "decoder"}, (arch, towers, parts)
    assert counts.decoder == parts["decoder"]
    return spec


@pytest.mark.parametrize("model_type", sorted(PREFIXES))
def test_default_config_exact_tower_by_tower(model_type):
    _check(_default(model_type))


#: Small configs that move the fields the towers read away from their defaults (and the tie flags).
_SMALL_TEXT = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "vocab_size": 500}
VARIANTS = [
    {"model_type": "gemma3", "tie_word_embeddings": False,
     "text_config": {**_SMALL_TEXT, "head_dim": 16},
     "vision_config": {"hidden_size": 48, "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 3,
                       "image_size": 112, "patch_size": 8, "num_channels": 4, "vision_use_head": False}},
    {"model_type": "gemma3",
     "text_config": {**_SMALL_TEXT, "head_dim": 16},
     "vision_config": {"hidden_size": 48, "intermediate_size": 80, "num_hidden_layers": 1, "num_attention_heads": 3,
                       "image_size": 64, "patch_size": 16}},
    {"model_type": "mistral3", "vision_feature_layer": [-1, -3], "multimodal_projector_bias": True,
     "spatial_merge_size": 3, "tie_word_embeddings": False,
     "text_config": {**_SMALL_TEXT, "model_type": "mistral", "head_dim": 32},
     "vision_config": {"hidden_size": 64, "intermediate_size": 72, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "head_dim": 24, "patch_size": 4, "num_channels": 1}},
    {"model_type": "llama4",
     "text_config": {**_SMALL_TEXT, "head_dim": 16, "intermediate_size_mlp": 128, "num_local_experts": 4,
                     "interleave_moe_layer_step": 2},
     "vision_config": {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 56, "patch_size": 8, "vision_output_dim": 40, "projector_input_dim": 24,
                       "projector_output_dim": 24}},
    {"model_type": "qwen2_5_vl", "tie_word_embeddings": True, **_SMALL_TEXT,
     "vision_config": {"depth": 2, "hidden_size": 32, "intermediate_size": 40, "num_heads": 4, "patch_size": 6,
                       "temporal_patch_size": 3, "spatial_merge_size": 3, "out_hidden_size": 64, "in_channels": 2}},
    {"model_type": "qwen2_5_vl", "text_config": {**_SMALL_TEXT, "tie_word_embeddings": True},
     "vision_config": {"depth": 1, "hidden_size": 32, "intermediate_size": 40, "num_heads": 4, "out_hidden_size": 64}},
    {"model_type": "qwen3_vl", "text_config": {**_SMALL_TEXT, "head_dim": 16, "tie_word_embeddings": True},
     "vision_config": {"depth": 3, "hidden_size": 32, "intermediate_size": 40, "num_heads": 4, "patch_size": 6,
                       "out_hidden_size": 64, "num_position_embeddings": 49, "deepstack_visual_indexes": [0, 2]}},
    {"model_type": "llava", "vision_feature_layer": [-2, -5], "multimodal_projector_bias": False,
     "text_config": {**_SMALL_TEXT, "model_type": "mistral", "tie_word_embeddings": True},
     "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 48, "intermediate_size": 80,
                       "num_hidden_layers": 2, "num_attention_heads": 3, "image_size": 64, "patch_size": 16}},
    {"model_type": "llava", "text_config": {**_SMALL_TEXT, "model_type": "llama"},
     "vision_config": {"model_type": "pixtral", "hidden_size": 64, "intermediate_size": 72, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "head_dim": 24, "patch_size": 4}},
    {"model_type": "llava", "text_config": {**_SMALL_TEXT, "model_type": "llama"},
     "vision_config": {"hidden_size": 64, "intermediate_size": 72, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "patch_size": 8, "image_size": 40}},
    {"model_type": "qwen3_vl_moe",
     "text_config": {**_SMALL_TEXT, "num_hidden_layers": 4, "num_experts": 6, "num_experts_per_tok": 2,
                     "moe_intermediate_size": 24, "decoder_sparse_step": 2, "mlp_only_layers": [3]},
     "vision_config": {"depth": 2, "hidden_size": 32, "intermediate_size": 40, "num_heads": 4, "patch_size": 6,
                       "out_hidden_size": 64, "num_position_embeddings": 16, "deepstack_visual_indexes": [1]}},
    {"model_type": "qwen2_vl", **_SMALL_TEXT,
     "vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 3, "num_heads": 4,
                       "patch_size": 6, "spatial_merge_size": 3}},
    {"model_type": "paligemma", "projection_dim": 64,
     "text_config": {**_SMALL_TEXT, "model_type": "gemma2", "head_dim": 16},
     "vision_config": {"hidden_size": 48, "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 3,
                       "image_size": 64, "patch_size": 16}},
    {"model_type": "phi4_multimodal", **_SMALL_TEXT, "pad_token_id": 1, "bos_token_id": 1, "eos_token_id": 2,
     "vision_config": {"hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 56, "patch_size": 8},
     "audio_config": {"hidden_size": 32, "intermediate_size": 24, "num_blocks": 2, "num_attention_heads": 4,
                      "ext_pw_out_channel": 16, "depthwise_separable_out_channel": 20, "depthwise_multiplier": 2,
                      "kernel_size": 5, "time_reduction": 16, "bias_max_distance": 50, "bias_symmetric": True,
                      "nemo_conv_channels": 12, "downsample_rate": 2, "nemo_final_size": 7}},
]


@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: c["model_type"])
def test_small_configs_off_the_defaults(cfg):
    _check(cfg)


PUBLISHED = sorted(p.stem for p in DATA.glob("*.json"))


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_config_exact(name):
    entry = json.loads((DATA / f"{name}.json").read_text())
    spec = _check(entry["config"])
    counts = param_counts(spec)
    # the checkpoint's own count: equal, or (Mistral Small 3.1, see the file's note) plus the head the
    # checkpoint stores although the config ties it
    untied = entry.get("checkpoint_stores_tied_head", False)
    expected = counts.total + (spec.vocab_size * spec.hidden_size if untied else 0)
    assert expected == entry["published_total"], (name, counts.total, entry["published_total"])


def test_published_data_names_its_source():
    for name in PUBLISHED:
        entry = json.loads((DATA / f"{name}.json").read_text())
        assert entry["url"].startswith("https://huggingface.co/") and entry["url"].endswith("/config.json")
        assert entry["published_total"] > 10**9


def test_llama4_config_without_architectures_is_the_causal_lm():
    """``AutoModelForCausalLM`` maps llama4 to Llama4ForCausalLM on the text config: no vision tower."""
    cfg = _default("llama4")
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg))
    counts = param_counts(ModelSpec.from_hf_config(cfg))
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert counts.towers == 0


def test_text_decoder_drives_kv_activations_flops():
    """The wrapped model and its text config alone give the same KV cache, activations and FLOPs; weights
    differ by exactly the towers."""
    from calc.activations import activation_bytes_per_layer
    from calc.arch.registry import BY_ARCH
    from calc.arch.towers import text_config
    from calc.compute import flops_per_token
    from calc.kvcache import kv_cache_bytes
    from calc.speed import weight_bytes_read

    for name in ("gemma3_27b", "llama4_scout", "qwen3vl_8b"):
        cfg = json.loads((DATA / f"{name}.json").read_text())["config"]
        whole = ModelSpec.from_hf_config(cfg)
        # the text config as its class completes it (Gemma3TextConfig(**text_config), ...), read alone
        text = ModelSpec.from_hf_config(text_config(cfg, BY_ARCH[cfg["architectures"][0]]))
        cw, ct = param_counts(whole), param_counts(text)
        assert cw.towers > 0 and ct.towers == 0
        assert cw.total - cw.towers == ct.total and cw.active == ct.active
        assert kv_cache_bytes(whole, 2, 8192) == kv_cache_bytes(text, 2, 8192)
        assert flops_per_token(whole, 4096) == flops_per_token(text, 4096)
        assert activation_bytes_per_layer(whole, 1, 2048) == activation_bytes_per_layer(text, 1, 2048)
        assert weight_bytes_read(whole, 1) == weight_bytes_read(text, 1)
        assert whole.decoder_architecture == text.architecture != whole.architecture


def test_decoder_dropout_read_from_text_config():
    from calc.activations import activation_bytes_per_layer, config_dropout
    from calc.arch.registry import BY_ARCH
    from calc.arch.towers import text_config

    cfg = json.loads((DATA / "gemma3_4b.json").read_text())["config"]
    cfg = {**cfg, "text_config": {**cfg["text_config"], "attention_dropout": 0.1}}
    whole = ModelSpec.from_hf_config(cfg)
    text = ModelSpec.from_hf_config(text_config(cfg, BY_ARCH["Gemma3ForConditionalGeneration"]))
    assert config_dropout(whole).attention == 0.1 == config_dropout(text).attention
    assert activation_bytes_per_layer(whole, 1, 512) == activation_bytes_per_layer(text, 1, 512)


def test_llama4_scout_active_is_meta_17b():
    """Meta's model card: Llama 4 Scout, 17B active of 109B total; the vision tower is not 'active'."""
    spec = ModelSpec.from_hf_config(json.loads((DATA / "llama4_scout.json").read_text())["config"])
    counts = param_counts(spec)
    assert round(counts.active / 1e9) == 17 and round(counts.total / 1e9) == 109


@pytest.mark.parametrize("bad, field", [
    ({"vision_config": {"hidden_size": 0}}, "hidden_size"),
    ({"vision_config": {"hidden_size": 1000, "num_attention_heads": 3}}, "num_attention_heads"),
    ({"vision_config": "big"}, "vision_config"),
    ({"vision_config": {"patch_size": 2**40}}, "patch_size"),
])
def test_bad_tower_fields_named(bad, field):
    cfg = json.loads((DATA / "gemma3_4b.json").read_text())["config"]
    cfg = {**cfg, **{k: ({**cfg[k], **v} if isinstance(v, dict) else v) for k, v in bad.items()}}
    with pytest.raises(ValueError, match=field):
        param_counts(ModelSpec.from_hf_config(cfg))


def test_cli_and_models_chart_show_towers_apart(tmp_path):
    """``params --json`` lists each tower and the decoder; the Models chart has one bar per tower."""
    import subprocess
    import sys

    from ui.figures_models import breakdown_bar

    cfg = json.loads((DATA / "qwen3vl_8b.json").read_text())["config"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    out = json.loads(subprocess.run([sys.executable, "-m", "calc", "params", "--config", str(path), "--json"],
                                    capture_output=True, text=True, check=True, timeout=60).stdout)
    counts = param_counts(ModelSpec.from_hf_config(cfg))
    assert out["towers"] == dict(counts.tower_parts) and len(out["towers"]) == 3
    assert out["decoder"] + sum(out["towers"].values()) == out["total"] == 8_767_123_696
    bars = {t["name"]: t["x"][0] for t in breakdown_bar({"m": counts})["data"]}
    assert bars["Vision tower"] * 1e9 == pytest.approx(out["towers"]["vision"])
    assert bars["Deepstack projectors"] * 1e9 == pytest.approx(out["towers"]["deepstack projectors"])
    assert "Vision / audio towers" not in bars


def test_llava_vision_tower_of_an_unmodelled_type_is_named():
    cfg = json.loads((DATA / "llava15_7b.json").read_text())["config"]
    cfg = {**cfg, "vision_config": {**cfg["vision_config"], "model_type": "dinov2"}}
    with pytest.raises(ValueError, match=r"vision_config\.model_type.*clip_vision_model"):
        ModelSpec.from_hf_config(cfg)


@pytest.mark.parametrize("name", PUBLISHED)
def test_text_window_matches_transformers_config(name):
    """A text_config field written as null keeps transformers' meaning (Mistral Small 3.1's "sliding_window": null
    is no window; it was read as Mistral's class default 4096, which capped the KV cache at 4,096 positions):
    the window the decoder reads equals the one transformers' config object holds."""
    import transformers

    cfg = dict(json.loads((DATA / f"{name}.json").read_text())["config"])
    model_type = cfg.pop("model_type")
    hf = transformers.AutoConfig.for_model(model_type, **cfg)
    text = hf.get_text_config()
    want = getattr(text, "sliding_window", None) if getattr(text, "use_sliding_window", True) is not False else None
    spec = ModelSpec.from_hf_config(json.loads((DATA / f"{name}.json").read_text())["config"])
    windows = {getattr(b.mixer, "window", None) for b in spec.layout.kinds}
    assert (max(windows - {None}) if windows - {None} else None) == want, (name, windows, want)
