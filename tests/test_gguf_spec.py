"""``spec_from_gguf`` for the architectures of 2025-2026 (calc/gguf_config.py), held to transformers.

Each case is a tiny transformers config. Its GGUF file is written with the gguf package's ``GGUFWriter``: the
metadata as llama.cpp's converter writes it from that config (``set_gguf_parameters`` of each model class in
ggml-org/llama.cpp ``conversion/*.py``, re-typed below from the converter, not from our reader), the tensors as
``calc/gguf_layout.py`` names them (held to gguf-py's MODEL_TENSORS and transformers' counts in
tests/test_gguf_layout.py; OLMo 2 has no layout here, so its names come from gguf-py's own TensorNameMap). The
file is read back and the spec ``spec_from_gguf`` builds from it must hold exactly the parameters transformers
builds for the config on the meta device.
"""

from __future__ import annotations

import numpy as np
import pytest

from calc.gguf_file import read_gguf, spec_from_gguf
from calc.models import ModelSpec, param_counts

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


# ----- the converter's metadata (ggml-org/llama.cpp conversion/*.py), re-typed for the writer ------------------
def _find(hp: dict, keys, default=None):
    return next((hp[k] for k in keys if k in hp and hp[k] is not None), default)


def _text_model(w, hp: dict) -> None:
    """``TextModel.set_gguf_parameters`` (conversion/base.py)."""
    w.add_block_count(hp["num_hidden_layers"])
    if (n := _find(hp, ["max_position_embeddings", "n_ctx", "n_positions"])) is not None:
        w.add_context_length(n)
    w.add_embedding_length(hp["hidden_size"])
    if (n := hp.get("intermediate_size")) is not None:
        w.add_feed_forward_length(n)
    w.add_head_count(hp["num_attention_heads"])
    if (n := hp.get("num_key_value_heads")) is not None:
        w.add_head_count_kv(n)
    if (n := _find(hp, ["num_local_experts", "num_experts", "n_routed_experts"])) is not None:
        w.add_expert_count(n)
    if (n := _find(hp, ["num_experts_per_tok", "num_experts_per_token"])) is not None:
        w.add_expert_used_count(n)
    if (n := hp.get("head_dim")) is not None:
        w.add_key_length(n)
        w.add_value_length(n)


def _qwen2moe(w, hp):
    """Qwen2MoeModel (conversion/qwen.py), the base of Qwen3MoeModel and Qwen3NextModel."""
    _text_model(w, hp)
    if (n := hp.get("moe_intermediate_size")) is not None:
        w.add_expert_feed_forward_length(n)
    if (n := hp.get("shared_expert_intermediate_size")) is not None:
        w.add_expert_shared_feed_forward_length(n)


def _qwen3next(w, hp):
    _qwen2moe(w, hp)
    w.add_ssm_conv_kernel(hp["linear_conv_kernel_dim"])
    w.add_ssm_state_size(hp["linear_key_head_dim"])
    w.add_ssm_group_count(hp["linear_num_key_heads"])
    w.add_ssm_time_step_rank(hp["linear_num_value_heads"])
    w.add_ssm_inner_size(hp["linear_value_head_dim"] * hp["linear_num_value_heads"])
    w.add_full_attention_interval(hp.get("full_attention_interval", 4))


def _llama4(w, hp):
    """Llama4Model (conversion/llama4.py): intermediate_size becomes the experts' width, intermediate_size_mlp the
    dense layers'; LlamaModel adds vocab_size."""
    hp = dict(hp, intermediate_size_moe=hp["intermediate_size"], intermediate_size=hp["intermediate_size_mlp"])
    _text_model(w, hp)
    w.add_vocab_size(hp["vocab_size"])
    w.add_interleave_moe_layer_step(hp["interleave_moe_layer_step"])
    w.add_expert_feed_forward_length(hp["intermediate_size_moe"])


def _gpt_oss(w, hp):
    """GptOssModel (conversion/gpt_oss.py)."""
    _text_model(w, hp)
    w.add_sliding_window(hp["sliding_window"])
    w.add_expert_feed_forward_length(hp["intermediate_size"])


def _gemma3(w, hp):
    """Gemma3Model (conversion/gemma.py)."""
    _text_model(w, hp)
    w.add_key_length(hp.get("head_dim", 256))
    w.add_value_length(hp.get("head_dim", 256))
    if hp.get("sliding_window_pattern") != 1:
        w.add_sliding_window(hp["sliding_window"])
    w.add_head_count_kv(hp.get("num_key_value_heads", 4))


def _mamba(w, hp):
    """MambaModel (conversion/mamba.py)."""
    d_model = hp["hidden_size"]
    w.add_context_length(2**20)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(0)
    w.add_head_count(0)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_ssm_conv_kernel(_find(hp, ["conv_kernel", "d_conv"], 4))
    w.add_ssm_inner_size(_find(hp, ["intermediate_size", "d_inner"], 2 * d_model))
    w.add_ssm_state_size(_find(hp, ["state_size", "d_state"], 16))
    w.add_ssm_time_step_rank(_find(hp, ["time_step_rank", "dt_rank"], -(d_model // -16)))


def _mamba2(w, hp, prefix=""):
    """Mamba2Model (conversion/mamba.py); FalconH1Model looks each key up with a "mamba_" prefix too."""
    def find(keys, default=None):
        return _find(hp, list(keys) + [prefix + k for k in keys], default)
    d_model = find(["hidden_size", "d_model", "dim"])
    d_inner = find(["mamba_d_ssm", "intermediate_size", "d_inner"]) or 2 * d_model
    if prefix:  # FalconH1Model.__init__: d_inner = mamba_d_ssm
        d_inner = hp["mamba_d_ssm"]
    head_dim = find(["mamba_d_head", "head_dim"], 64)
    w.add_context_length(2**20)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(0)
    w.add_head_count(0)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_ssm_conv_kernel(find(["conv_kernel", "d_conv"], 4))
    w.add_ssm_inner_size(d_inner)
    w.add_ssm_state_size(find(["state_size", "d_state"], 128))
    w.add_ssm_time_step_rank(d_inner // head_dim)
    w.add_ssm_group_count(find(["n_groups"], 1))


def _falcon_h1(w, hp):
    """FalconH1Model (conversion/falcon_h1.py): Mamba2Model's keys, then the attention's."""
    _mamba2(w, hp, prefix="mamba_")
    w.add_vocab_size(hp["vocab_size"])
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp.get("max_position_embeddings", 0))
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp["num_key_value_heads"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])


def _jamba(w, hp):
    """JambaModel (conversion/jamba.py): head_count_kv per layer, 0 on the Mamba layers."""
    d_model = hp["hidden_size"]
    L, off, period = hp["num_hidden_layers"], hp["attn_layer_offset"], hp["attn_layer_period"]
    n_kv = [0] * off + [hp["num_key_value_heads"] if (i - off) % period == 0 else 0 for i in range(off, L)]
    w.add_block_count(L)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(n_kv)
    w.add_ssm_conv_kernel(hp.get("mamba_d_conv") or 4)
    w.add_ssm_inner_size(hp["mamba_expand"] * d_model)
    w.add_ssm_state_size(hp.get("mamba_d_state") or 16)
    w.add_ssm_time_step_rank(hp.get("mamba_dt_rank") or -(d_model // -16))
    w.add_expert_count(hp["num_experts"])
    w.add_expert_used_count(hp["num_experts_per_tok"])


#: (GGUF arch, transformers config class, its model class, converter metadata, tiny config)
CASES = {
    "llama4": ("Llama4TextConfig", "Llama4ForCausalLM", _llama4, dict(
        hidden_size=64, intermediate_size=32, intermediate_size_mlp=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2,
        vocab_size=256)),
    "gpt-oss": ("GptOssConfig", "GptOssForCausalLM", _gpt_oss, dict(
        hidden_size=64, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, num_local_experts=4, num_experts_per_tok=2, vocab_size=256, sliding_window=32)),
    "qwen3moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM", _qwen2moe, dict(
        hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=24, num_experts=4, num_experts_per_tok=2, mlp_only_layers=[1],
        vocab_size=256)),
    "qwen3next": ("Qwen3NextConfig", "Qwen3NextForCausalLM", _qwen3next, dict(
        hidden_size=64, intermediate_size=128, moe_intermediate_size=32, shared_expert_intermediate_size=48,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16, linear_num_key_heads=2,
        linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=8, linear_conv_kernel_dim=4,
        num_experts=4, num_experts_per_tok=2, vocab_size=256)),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", _gemma3, dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=7, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, vocab_size=256, sliding_window=32)),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", _text_model, dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=256)),
    "mamba": ("MambaConfig", "MambaForCausalLM", _mamba, dict(
        hidden_size=64, num_hidden_layers=2, state_size=8, expand=2, conv_kernel=4, time_step_rank=8,
        vocab_size=256)),
    "mamba2": ("Mamba2Config", "Mamba2ForCausalLM", _mamba2, dict(
        hidden_size=64, num_hidden_layers=2, num_heads=8, head_dim=16, expand=2, n_groups=2, state_size=16,
        vocab_size=256)),
    "jamba": ("JambaConfig", "JambaForCausalLM", _jamba, dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        num_experts=4, num_experts_per_tok=2, vocab_size=256, mamba_dt_rank=32, attn_layer_period=2,
        attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1)),
    "falcon-h1": ("FalconH1Config", "FalconH1ForCausalLM", _falcon_h1, dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, mamba_d_ssm=64, mamba_n_heads=8, mamba_d_head=8, mamba_n_groups=2, mamba_d_state=16,
        mamba_d_conv=4, mamba_rms_norm=True, vocab_size=256)),
}


def _meta_count(cfg) -> tuple[int, type]:
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters()), type(model)


def _tensors(arch: str, cfg, hf_arch: str) -> list[tuple[str, tuple[int, ...]]]:
    """(gguf name, ggml shape) of every tensor the converter writes for ``cfg``."""
    from gguf import MODEL_ARCH, get_tensor_name_map

    from calc.gguf import gguf_tensors

    d = cfg.to_dict()
    d["architectures"] = [hf_arch]
    spec = ModelSpec.from_hf_config(d)
    if arch != "olmo2":
        return [(t.name, t.shape) for t in gguf_tensors(spec)]
    names = get_tensor_name_map(MODEL_ARCH.OLMO2, cfg.num_hidden_layers)  # gguf-py's own HF -> GGUF names
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    out = []
    for n, p in model.named_parameters():
        mapped = names.get_name(n, try_suffixes=(".weight", ".bias"))
        assert mapped is not None, n
        out.append((mapped, tuple(reversed(p.shape))))
    return out


def write_gguf(path, arch: str) -> tuple[int, dict]:
    """Write the tiny ``arch`` case as the converter would; return transformers' parameter count and the config."""
    from gguf import GGUFWriter

    cls, hf_arch, meta_writer, fields = CASES[arch]
    cfg = getattr(transformers, cls)(**fields)
    numel, model_cls = _meta_count(cfg)
    assert model_cls.__name__ == hf_arch
    w = GGUFWriter(str(path), arch)
    w.add_name(f"tiny {arch}")
    meta_writer(w, cfg.to_dict())
    for name, shape in _tensors(arch, cfg, hf_arch):
        w.add_tensor(name, np.zeros(tuple(reversed(shape)), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return numel, cfg.to_dict()


@pytest.mark.parametrize("arch", list(CASES))
def test_spec_from_gguf_counts_what_transformers_builds(tmp_path, arch):
    numel, _ = write_gguf(tmp_path / "tiny.gguf", arch)
    h = read_gguf(tmp_path / "tiny.gguf")
    assert h.architecture == arch
    spec = spec_from_gguf(h)
    assert spec.decoder_architecture == CASES[arch][1]
    assert param_counts(spec).total == numel
    assert sum(t.n_elements for t in h.tensors) == numel  # the file holds every parameter once (tied heads once)


def test_gguf_spec_keeps_the_layer_pattern(tmp_path):
    """What the keys and tensors say per layer survives: Jamba's attention / MoE periods (per-layer head_count_kv,
    routers), Qwen3-MoE's dense layer, Gemma 3's sliding pattern, gpt-oss's window, Llama 4's interleave."""
    specs = {}
    for arch in ("jamba", "qwen3moe", "gemma3", "gpt-oss", "llama4"):
        write_gguf(tmp_path / f"{arch}.gguf", arch)
        specs[arch] = spec_from_gguf(read_gguf(tmp_path / f"{arch}.gguf"))
    jamba = specs["jamba"]
    assert [jamba.layout.kind(i).is_attention for i in range(4)] == [False, True, False, True]
    assert [jamba.layer_is_moe(i) for i in range(4)] == [False, True, False, True]
    assert [specs["qwen3moe"].layer_is_moe(i) for i in range(3)] == [True, False, True]
    assert specs["qwen3moe"].head_dim == 24  # key_length, not 64 / 4
    assert [specs["gemma3"].layer_is_sliding(i) for i in range(7)] == [True] * 5 + [False, True]
    assert specs["gpt-oss"].sliding_window == 32
    assert [specs["llama4"].layer_is_moe(i) for i in range(4)] == [False, True, False, True]


def test_missing_or_inconsistent_keys_are_named(tmp_path):
    """A Mamba-2 file without ssm.inner_size, or a Jamba file whose attention layers are not periodic, is refused
    with the key named (ValueError), not a KeyError or a wrong model."""
    from gguf import GGUFWriter

    path = tmp_path / "m2.gguf"
    w = GGUFWriter(str(path), "mamba2")
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_ssm_time_step_rank(8)
    w.add_tensor("token_embd.weight", np.zeros((256, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ValueError, match="mamba2.ssm.inner_size"):
        spec_from_gguf(read_gguf(path))
    path = tmp_path / "j.gguf"
    w = GGUFWriter(str(path), "jamba")
    _jamba(w, dict(num_hidden_layers=4, attn_layer_offset=1, attn_layer_period=2, max_position_embeddings=64,
                   hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                   mamba_expand=2, num_experts=1, num_experts_per_tok=1))
    w.add_tensor("token_embd.weight", np.zeros((256, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert [spec_from_gguf(read_gguf(path)).layout.kind(i).is_attention for i in range(4)] == [False, True] * 2
    raw = path.read_bytes()
    i = raw.index(b"jamba.attention.head_count_kv")  # then u32 array type, u32 item type, u64 length, items (u32)
    at = i + len(b"jamba.attention.head_count_kv") + 4 + 4 + 8
    items = np.frombuffer(raw[at:at + 16], dtype="<u4").tolist()
    assert items == [0, 2, 0, 2]
    path.write_bytes(raw[:at] + np.array([0, 2, 2, 0], dtype="<u4").tobytes() + raw[at + 16:])  # layers 1, 2
    with pytest.raises(ValueError, match="attention layers \\[1, 2\\]"):
        spec_from_gguf(read_gguf(path))


#: preset -> (GGUF arch, the converter's metadata writer) for header-only files of the published configs
PUBLISHED = {
    "gpt-oss-20b": ("gpt-oss", _gpt_oss), "gpt-oss-120b": ("gpt-oss", _gpt_oss),
    "Qwen3-Next-80B-A3B": ("qwen3next", _qwen3next), "Qwen3-235B-A22B": ("qwen3moe", _qwen2moe),
    "Qwen3-30B-A3B": ("qwen3moe", _qwen2moe), "Gemma-3-1B": ("gemma3", _gemma3), "Gemma-3-27B": ("gemma3", _gemma3),
    "Llama-4-Scout-17B-16E": ("llama4", _llama4), "Llama-4-Maverick-17B-128E": ("llama4", _llama4),
    "Falcon-H1-1.5B-Instruct": ("falcon-h1", _falcon_h1), "Jamba-v0.1": ("jamba", _jamba),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_configs_round_trip_through_a_gguf_header(tmp_path, name):
    """The published config of each preset, written as the converter writes it (a header with every tensor's info
    and no data: what a ranged read of a Hub file gives), reads back as the same decoder: parameters, KV cache and
    recurrent state. The converter flattens a multimodal config's text_config into its hparams and writes the text
    decoder only (the towers go to a separate mmproj file)."""
    from gguf import GGMLQuantizationType, GGUFWriter

    from calc.gguf import gguf_tensors
    from calc.kvcache import kv_cache_bytes, state_bytes
    from calc.presets import get_preset

    arch, meta_writer = PUBLISHED[name]
    spec = get_preset(name)
    hp = dict(spec.hf_config)
    hp.update(hp.get("text_config") or {})
    path = tmp_path / "header.gguf"
    w = GGUFWriter(str(path), arch)
    meta_writer(w, hp)
    for t in gguf_tensors(spec):
        n = int(np.prod(t.shape))
        w.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32), 4 * n, GGMLQuantizationType.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    h = read_gguf(path)
    assert h.data_complete is False
    back = spec_from_gguf(h)
    counts = param_counts(spec)
    assert param_counts(back).total == counts.total - sum(n for _, n in counts.tower_parts)
    assert kv_cache_bytes(back, 1, 32768) == kv_cache_bytes(spec, 1, 32768)
    assert state_bytes(back, 1) == state_bytes(spec, 1)
