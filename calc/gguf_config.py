"""GGUF metadata back to a transformers config: one declarative entry per GGUF architecture.

``convert_hf_to_gguf.py`` (ggml-org/llama.cpp, ``conversion/*.py``) writes a model's config as ``{arch}.*`` keys
(gguf-py ``Keys``): ``TextModel.set_gguf_parameters`` writes ``block_count``, ``context_length``,
``embedding_length`` (hidden_size), ``feed_forward_length`` (intermediate_size), ``attention.head_count``,
``attention.head_count_kv``, ``expert_count`` (num_local_experts / num_experts), ``expert_used_count`` and
``attention.key_length`` (head_dim, when the config has one); each model class adds its own. Reading them back is
the converter run in reverse: ``GGUFArch.keys`` names, for each transformers config field, the GGUF key it was
written to; ``tensors`` names the config flags that only the tensor list tells (a bias, a gated norm); ``fixed`` are
the values llama.cpp assumes where the converter writes nothing; ``derive`` computes the few fields written as a
product (Mamba-2's head_dim from ``ssm.inner_size`` / ``ssm.time_step_rank``) or per layer (Jamba's attention
period from its per-layer ``head_count_kv``). The config then goes through ``ModelSpec.from_hf_config`` and the
``calc/arch`` family table, so a model read from a GGUF header is counted, cached and quantized exactly as the
same model read from its ``config.json``.

The tied head: a file without ``output.weight`` uses ``token_embd`` as its head (llama.cpp's loader falls back to
it; the converters omit the copy). MoE layers: the layers with a router (``blk.N.ffn_gate_inp``).

Sources (ggml-org/llama.cpp ``conversion/``): ``llama4.py`` Llama4Model, ``gpt_oss.py`` GptOssModel,
``qwen.py`` Qwen2MoeModel / Qwen3MoeModel / Qwen3NextModel, ``gemma.py`` Gemma3Model, ``olmo.py`` Olmo2Model,
``mamba.py`` MambaModel / Mamba2Model, ``jamba.py`` JambaModel, ``falcon_h1.py`` FalconH1Model; llama.cpp's
``src/llama-model.cpp`` for what it hard-codes (Gemma 3's 5:1 sliding pattern, Llama 4's 8,192-token chunks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: (transformers config field, GGUF key after "{arch}.") written by ``TextModel.set_gguf_parameters``.
BASE_KEYS: tuple[tuple[str, str], ...] = (
    ("hidden_size", "embedding_length"), ("num_hidden_layers", "block_count"),
    ("intermediate_size", "feed_forward_length"), ("num_attention_heads", "attention.head_count"),
    ("num_key_value_heads", "attention.head_count_kv"), ("head_dim", "attention.key_length"),
    ("max_position_embeddings", "context_length"), ("vocab_size", "vocab_size"),
)
_MOE_KEYS = (("num_experts_per_tok", "expert_used_count"), ("moe_intermediate_size", "expert_feed_forward_length"))
_SSM_KEYS = (("conv_kernel", "ssm.conv_kernel"), ("state_size", "ssm.state_size"))


@dataclass(frozen=True)
class GGUFArch:
    """How one GGUF architecture's metadata and tensor list become a transformers config."""

    architecture: str  # the transformers class the converter registered for it
    model_type: str
    keys: tuple[tuple[str, str], ...]  # (config field, GGUF key after "{arch}.")
    tensors: tuple[tuple[str, str], ...] = ()  # (boolean config field, block-0 tensor whose presence sets it)
    fixed: tuple[tuple[str, object], ...] = ()  # fields the converter does not write: what llama.cpp assumes
    derive: Callable[[dict, dict, set, int], None] | None = field(default=None, repr=False)
    source: str = ""


def _ratio(cfg: dict, out: str, num: str, den: str) -> None:
    """``cfg[out] = cfg[num] / cfg[den]``, refused unless whole (a field written as a product)."""
    a, b = cfg.pop(num), cfg[den]
    if not isinstance(a, int) or not isinstance(b, int) or b < 1 or a % b:
        raise ValueError(f"GGUF {num} ({a!r:.20}) must be a whole multiple of {den} ({b!r:.20})")
    cfg[out] = a // b


def _period(layers: list[bool], what: str) -> tuple[int, int]:
    """(period, offset) of the layers that are True, as Jamba's attn/expert_layer_period and _offset say."""
    on = [i for i, x in enumerate(layers) if x]
    if not on:
        raise ValueError(f"GGUF file has no {what} layer; Jamba has at least one")
    offset = on[0]
    period = on[1] - on[0] if len(on) > 1 else len(layers)
    if [i for i in range(len(layers)) if i % period == offset] != on:
        raise ValueError(f"GGUF {what} layers {on[:8]} are not every {period}-th from {offset} as Jamba places them")
    return period, offset


def _mamba2(cfg: dict, meta: dict, names: set, L: int) -> None:
    """Mamba2Model writes ssm.time_step_rank = d_inner // head_dim (the head count) and ssm.inner_size =
    d_inner; transformers' Mamba2Config holds num_heads, head_dim and expand (d_inner = expand x hidden)."""
    inner = cfg["inner"]
    _ratio(cfg, "head_dim", "inner", "num_heads")
    h = cfg["hidden_size"]
    cfg["expand"] = inner // h if inner % h == 0 else inner / h
    if int(cfg["expand"] * h) != inner:
        raise ValueError(f"GGUF ssm.inner_size {inner} is no multiple of embedding_length {h} transformers can hold")


def _falcon_h1(cfg: dict, meta: dict, names: set, L: int) -> None:
    """FalconH1Model (a Mamba2Model): ssm.time_step_rank = mamba_d_ssm // mamba_d_head."""
    cfg["mamba_d_head"] = cfg["mamba_d_ssm"] // cfg["mamba_n_heads"]
    if cfg["mamba_d_head"] * cfg["mamba_n_heads"] != cfg["mamba_d_ssm"]:
        raise ValueError(f"GGUF ssm.inner_size {cfg['mamba_d_ssm']} must be a multiple of ssm.time_step_rank "
                         f"{cfg['mamba_n_heads']}")


def _jamba(cfg: dict, meta: dict, names: set, L: int) -> None:
    """JambaModel writes head_count_kv per layer (0 on Mamba layers), ssm.inner_size = mamba_expand x hidden, and
    only merges experts on the MoE layers (``ffn_gate_inp`` present)."""
    kv = cfg["num_key_value_heads"]
    kv = list(kv) if isinstance(kv, (list, tuple)) else [kv] * L
    if len(kv) != L:
        raise ValueError(f"GGUF jamba.attention.head_count_kv has {len(kv)} values for {L} layers")
    cfg["attn_layer_period"], cfg["attn_layer_offset"] = _period([k != 0 for k in kv], "attention")
    heads = {k for k in kv if k}
    if len(heads) != 1:
        raise ValueError(f"GGUF jamba.attention.head_count_kv must be one value on the attention layers, got {heads}")
    cfg["num_key_value_heads"] = heads.pop()
    _ratio(cfg, "mamba_expand", "inner", "hidden_size")
    moe = [f"blk.{i}.ffn_gate_inp.weight" in names for i in range(L)]
    if any(moe):
        cfg["expert_layer_period"], cfg["expert_layer_offset"] = _period(moe, "MoE")
    else:  # one expert: every layer dense
        cfg["num_experts"], cfg["expert_layer_period"], cfg["expert_layer_offset"] = 1, 1, 0


def _qwen3_next(cfg: dict, meta: dict, names: set, L: int) -> None:
    """Qwen3NextModel: ssm.inner_size = linear_value_head_dim x linear_num_value_heads (ssm.time_step_rank)."""
    _ratio(cfg, "linear_value_head_dim", "inner", "linear_num_value_heads")
    _dense_layers(cfg, meta, names, L)


def _dense_layers(cfg: dict, meta: dict, names: set, L: int) -> None:
    """Qwen-MoE layers without a router are dense: transformers' ``mlp_only_layers``."""
    dense = [i for i in range(L) if f"blk.{i}.ffn_gate_inp.weight" not in names]
    if dense:
        cfg["mlp_only_layers"] = dense


#: GGUF ``general.architecture`` -> how its metadata maps back onto a transformers config.
GGUF_ARCHS: dict[str, GGUFArch] = {
    "llama4": GGUFArch(
        "Llama4ForCausalLM", "llama4_text",
        (*BASE_KEYS[:2], ("intermediate_size_mlp", "feed_forward_length"), *BASE_KEYS[3:],
         ("intermediate_size", "expert_feed_forward_length"), ("num_local_experts", "expert_count"),
         ("num_experts_per_tok", "expert_used_count"), ("interleave_moe_layer_step", "interleave_moe_layer_step")),
        (("attention_bias", "attn_q.bias"),),
        (("attention_chunk_size", 8192),),  # llama-model.cpp LLM_ARCH_LLAMA4: n_swa = 8192 (n_attn_chunk)
        source="Llama4Model: intermediate_size_mlp -> feed_forward_length, intermediate_size -> expert_ff"),
    "gpt-oss": GGUFArch(
        "GptOssForCausalLM", "gpt_oss",
        (*BASE_KEYS, ("num_local_experts", "expert_count"), ("num_experts_per_tok", "expert_used_count"),
         ("sliding_window", "attention.sliding_window")),
        (("attention_bias", "attn_q.bias"),), source="GptOssModel"),
    "qwen3moe": GGUFArch(
        "Qwen3MoeForCausalLM", "qwen3_moe",
        (*BASE_KEYS, ("num_experts", "expert_count"), *_MOE_KEYS),
        (("attention_bias", "attn_q.bias"),), (("decoder_sparse_step", 1),), _dense_layers,
        source="Qwen3MoeModel(Qwen2MoeModel)"),
    "qwen3next": GGUFArch(
        "Qwen3NextForCausalLM", "qwen3_next",
        (*BASE_KEYS, ("num_experts", "expert_count"), *_MOE_KEYS,
         ("shared_expert_intermediate_size", "expert_shared_feed_forward_length"),
         ("linear_conv_kernel_dim", "ssm.conv_kernel"), ("linear_key_head_dim", "ssm.state_size"),
         ("linear_num_key_heads", "ssm.group_count"), ("linear_num_value_heads", "ssm.time_step_rank"),
         ("inner", "ssm.inner_size"), ("full_attention_interval", "full_attention_interval")),
        (("attention_bias", "attn_q.bias"),), (("decoder_sparse_step", 1),), _qwen3_next,
        source="Qwen3NextModel(Qwen2MoeModel)"),
    "gemma3": GGUFArch(
        "Gemma3ForCausalLM", "gemma3_text", (*BASE_KEYS, ("sliding_window", "attention.sliding_window")),
        (("attention_bias", "attn_q.bias"),),
        (("sliding_window_pattern", 6),),  # llama-model.cpp LLM_ARCH_GEMMA3: hparams.set_swa_pattern(6)
        source="Gemma3Model (token_embd keeps the tokenizer's rows only: vocab_size is the file's)"),
    "olmo2": GGUFArch("Olmo2ForCausalLM", "olmo2", BASE_KEYS, (("attention_bias", "attn_q.bias"),),
                      source="Olmo2Model (TextModel's keys only)"),
    "mamba": GGUFArch(
        "MambaForCausalLM", "mamba",
        (*BASE_KEYS[:2], ("vocab_size", "vocab_size"), *_SSM_KEYS, ("intermediate_size", "ssm.inner_size"),
         ("time_step_rank", "ssm.time_step_rank")),
        (("use_bias", "ssm_in.bias"), ("use_conv_bias", "ssm_conv1d.bias")),
        source="MambaModel (feed_forward_length and head_count written as 0)"),
    "mamba2": GGUFArch(
        "Mamba2ForCausalLM", "mamba2",
        (*BASE_KEYS[:2], ("vocab_size", "vocab_size"), *_SSM_KEYS, ("n_groups", "ssm.group_count"),
         ("num_heads", "ssm.time_step_rank"), ("inner", "ssm.inner_size")),
        (("use_bias", "ssm_in.bias"), ("use_conv_bias", "ssm_conv1d.bias")), derive=_mamba2, source="Mamba2Model"),
    "jamba": GGUFArch(
        "JambaForCausalLM", "jamba",
        (*BASE_KEYS, ("num_experts", "expert_count"), ("num_experts_per_tok", "expert_used_count"),
         ("mamba_d_conv", "ssm.conv_kernel"), ("mamba_d_state", "ssm.state_size"),
         ("mamba_dt_rank", "ssm.time_step_rank"), ("inner", "ssm.inner_size")),
        (("mamba_conv_bias", "ssm_conv1d.bias"), ("mamba_proj_bias", "ssm_in.bias")), derive=_jamba,
        source="JambaModel"),
    "falcon-h1": GGUFArch(
        "FalconH1ForCausalLM", "falcon_h1",
        (*BASE_KEYS, ("mamba_d_ssm", "ssm.inner_size"), ("mamba_d_state", "ssm.state_size"),
         ("mamba_d_conv", "ssm.conv_kernel"), ("mamba_n_groups", "ssm.group_count"),
         ("mamba_n_heads", "ssm.time_step_rank")),
        (("attention_bias", "attn_q.bias"), ("mlp_bias", "ffn_up.bias"), ("mamba_conv_bias", "ssm_conv1d.bias"),
         ("mamba_proj_bias", "ssm_in.bias"), ("projectors_bias", "ssm_out.bias"),
         ("mamba_rms_norm", "ssm_norm.weight")),
        derive=_falcon_h1, source="FalconH1Model(Mamba2Model)"),
}


def config_from_gguf(arch: str, meta: dict, names: set, read: Callable[[str], object]) -> dict:
    """The transformers config of a ``GGUF_ARCHS`` architecture: ``read(key)`` gives the value of a GGUF key
    (after "{arch}."; None when absent, an int or a per-layer list of ints), ``names`` the tensor names."""
    entry = GGUF_ARCHS[arch]
    cfg: dict = {"architectures": [entry.architecture], "model_type": entry.model_type}
    for name, key in entry.keys:
        value = read(key)
        if value is not None:
            cfg[name] = value
    for name, tensor in entry.tensors:
        cfg[name] = f"blk.0.{tensor}" in names
    cfg.update(dict(entry.fixed))
    cfg["tie_word_embeddings"] = "output.weight" not in names
    try:
        if entry.derive is not None:
            entry.derive(cfg, meta, names, cfg["num_hidden_layers"])
    except KeyError as exc:  # a key the derivation needs is missing: name the GGUF key
        key = dict(entry.keys).get(exc.args[0], exc.args[0])
        raise ValueError(f"GGUF metadata has no {arch + '.' + key!r} ({entry.source} writes it)") from None
    return cfg
