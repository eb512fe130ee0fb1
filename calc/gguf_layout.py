"""GGUF tensors of a block read from its ``calc/arch`` layer kinds: one declarative table, no branch per family.

``convert_hf_to_gguf.py`` (ggml-org/llama.cpp) writes each transformers tensor under a gguf-py name
(``gguf/tensor_mapping.py``: ``q_proj`` -> ``attn_q``, ``A_log`` -> ``ssm_a``, ...) with its shape reversed (ggml's
``ne[0]`` is the last torch dimension). A few tensors are reshaped on the way, and the table says which:

- ``split``: fused experts ``gate_up_proj`` (experts x 2f x h) become ``ffn_gate_exps`` and ``ffn_up_exps``
  (ggml h x f x experts each); gpt-oss's ``gate_up_proj_bias`` likewise (``GptOssModel`` / ``Llama4Model``);
- ``qkvz``: gated DeltaNet's ``in_proj_qkvz`` (2K + 2V x h) becomes ``attn_qkv`` (its q, k and v rows, 2K + V) and
  ``attn_gate`` (the z rows, V) (``Qwen3NextModel.modify_tensors``; files converted before that split hold one
  ``ssm_in``, e.g. Qwen's own Qwen3-Next GGUFs);
- ``squeeze``: the depthwise ``conv1d.weight`` (channels x 1 x kernel) loses its middle 1 (``MambaModel``,
  ``JambaModel``, ``Qwen3NextModel``, ``Mamba2Model``: ``data_torch.squeeze()``), so ggml holds kernel x channels;
- per layout (``GGUFLayout.reshape``), Mamba-2's per-head ``A_log`` and ``D`` gain a trailing 1 (``Mamba2Model.
  modify_tensors``: ``reshape((*shape, 1))``, ggml 1 x heads: ``col``) and its gated norm is split per group
  (``reshape((n_group, d_inner // n_group))``, ggml d_inner/groups x groups: ``groups``); Falcon-H1
  (``FalconH1Model(Mamba2Model)``) does the same to the Mamba-2 mixer that runs beside its attention
  (``calc/arch`` names it ``parallel.*``; gguf-py maps ``mamba.*`` onto the same ``ssm_*`` names).

What the converter writes in float32 (``ModelBase.prepare_tensors``): 1-D tensors, ``*_norm.weight``, the router
``ffn_gate_inp``, ``ssm_conv1d``, and every name that does not end in ``.weight`` (biases, ``ssm_a``, ``ssm_d``);
the rest in the output type (F16 here; gpt-oss's experts arrive as MXFP4, which llama-quantize re-types like any
other source). The second norm of a block is ``ffn_norm`` or ``post_attention_norm`` depending on the
architecture (gguf-py ``MODEL_TENSORS``), the one per-architecture fact besides its name.

A new architecture whose layer kinds are already in the table is one ``ARCHS`` entry; ``tests/test_gguf_layout.py``
holds every entry to gguf-py's own ``MODEL_TENSORS`` list and to the parameter count transformers builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from calc.arch.kinds import T
from calc.models import ModelSpec

#: transformers tensor name (as ``calc/arch/kinds.py`` lists it) -> (gguf-py stem, suffix, shape rule).
RENAME: dict[str, tuple[str | tuple[str, str], str, str]] = {
    # attention
    "q_proj.weight": ("attn_q", ".weight", "rev"), "q_proj.bias": ("attn_q", ".bias", "rev"),
    "k_proj.weight": ("attn_k", ".weight", "rev"), "k_proj.bias": ("attn_k", ".bias", "rev"),
    "v_proj.weight": ("attn_v", ".weight", "rev"), "v_proj.bias": ("attn_v", ".bias", "rev"),
    "o_proj.weight": ("attn_output", ".weight", "rev"), "o_proj.bias": ("attn_output", ".bias", "rev"),
    "q_norm.weight": ("attn_q_norm", ".weight", "rev"), "k_norm.weight": ("attn_k_norm", ".weight", "rev"),
    "sinks": ("attn_sinks", ".weight", "rev"),
    # feed-forward: dense, routed experts, shared experts
    "gate_proj.weight": ("ffn_gate", ".weight", "rev"), "up_proj.weight": ("ffn_up", ".weight", "rev"),
    "down_proj.weight": ("ffn_down", ".weight", "rev"),
    "router.weight": ("ffn_gate_inp", ".weight", "rev"), "router.bias": ("ffn_gate_inp", ".bias", "rev"),
    "experts.gate_up_proj": (("ffn_gate_exps", "ffn_up_exps"), ".weight", "split"),
    "experts.gate_up_proj_bias": (("ffn_gate_exps", "ffn_up_exps"), ".bias", "split"),
    "experts.down_proj": ("ffn_down_exps", ".weight", "rev"),
    "experts.down_proj_bias": ("ffn_down_exps", ".bias", "rev"),
    "shared_experts.gate_proj.weight": ("ffn_gate_shexp", ".weight", "rev"),
    "shared_experts.up_proj.weight": ("ffn_up_shexp", ".weight", "rev"),
    "shared_experts.down_proj.weight": ("ffn_down_shexp", ".weight", "rev"),
    "shared_expert_gate.weight": ("ffn_gate_inp_shexp", ".weight", "rev"),
    # Mamba (and Jamba's Mamba layers)
    "in_proj.weight": ("ssm_in", ".weight", "rev"), "conv1d.weight": ("ssm_conv1d", ".weight", "squeeze"),
    "conv1d.bias": ("ssm_conv1d", ".bias", "rev"), "x_proj.weight": ("ssm_x", ".weight", "rev"),
    "dt_proj.weight": ("ssm_dt", ".weight", "rev"), "dt_proj.bias": ("ssm_dt", ".bias", "rev"),
    "A_log": ("ssm_a", "", "rev"), "D": ("ssm_d", "", "rev"), "out_proj.weight": ("ssm_out", ".weight", "rev"),
    "dt_layernorm.weight": ("ssm_dt_norm", ".weight", "rev"), "b_layernorm.weight": ("ssm_b_norm", ".weight", "rev"),
    "c_layernorm.weight": ("ssm_c_norm", ".weight", "rev"),
    # gated DeltaNet (Qwen3-Next): in_proj_qkvz -> attn_qkv (q, k, v rows) + attn_gate (z rows), in_proj_ba -> ssm_ba,
    # dt_bias -> ssm_dt.bias
    "in_proj_qkvz.weight": (("attn_qkv", "attn_gate"), ".weight", "qkvz"), "in_proj_ba.weight": ("ssm_ba", ".weight", "rev"),
    "dt_bias": ("ssm_dt", ".bias", "rev"), "norm.weight": ("ssm_norm", ".weight", "rev"),
}

_F32_STEMS = ("ffn_gate_inp", "ssm_conv1d")  # prepare_tensors: always float32 (besides 1-D / norms / non-.weight)


@dataclass(frozen=True)
class GGUFLayout:
    """One GGUF architecture written from layer kinds: its gguf-py name and the names of a block's norms."""

    arch: str  # gguf-py MODEL_ARCH_NAMES value
    norms: tuple[str, ...] = ("attn_norm", "ffn_norm")
    source: str = ""
    kv_per_layer: bool = False  # head_count_kv written per layer (0 on recurrent layers): n_gqa reads layer 0
    reshape: tuple[tuple[str, str], ...] = ()  # (transformers tensor name, shape rule) overriding RENAME's rule


_MAMBA2_RESHAPE = (("A_log", "col"), ("D", "col"), ("norm.weight", "groups"))


#: transformers decoder architecture -> how llama.cpp's converter writes it (convert_hf_to_gguf.py model classes).
ARCHS: dict[str, GGUFLayout] = {
    "GptOssForCausalLM": GGUFLayout("gpt-oss", ("attn_norm", "post_attention_norm"), "GptOssModel"),
    "Qwen3NextForCausalLM": GGUFLayout("qwen3next", ("attn_norm", "post_attention_norm"), "Qwen3NextModel"),
    "Llama4ForCausalLM": GGUFLayout("llama4", ("attn_norm", "ffn_norm"), "Llama4Model"),
    "MambaForCausalLM": GGUFLayout("mamba", ("attn_norm",), "MambaModel"),
    # MambaModel is registered for FalconMambaForCausalLM too (same tensors; its B/C/dt RMSNorms hold no weights)
    "FalconMambaForCausalLM": GGUFLayout("mamba", ("attn_norm",), "MambaModel"),
    "JambaForCausalLM": GGUFLayout("jamba", ("attn_norm", "ffn_norm"), "JambaModel", kv_per_layer=True),
    "Mamba2ForCausalLM": GGUFLayout("mamba2", ("attn_norm",), "Mamba2Model", reshape=_MAMBA2_RESHAPE),
    # OLMo 2 normalizes after each sublayer only: post_attention_layernorm, post_feedforward_layernorm
    "Olmo2ForCausalLM": GGUFLayout("olmo2", ("post_attention_norm", "post_ffw_norm"), "Olmo2Model"),
    # input_layernorm -> attn_norm, pre_ff_layernorm -> ffn_norm (gguf-py FFN_PRE_NORM is blk.N.ffn_norm)
    "FalconH1ForCausalLM": GGUFLayout("falcon-h1", ("attn_norm", "ffn_norm"), "FalconH1Model",
                                      reshape=_MAMBA2_RESHAPE),
}
GGUF_NAMES = {k: v.arch for k, v in ARCHS.items()}


def ggml_n_dims(shape: tuple[int, ...]) -> int:
    """``ggml_n_dims``: dimensions up to the last one above 1 (a 2048 x 1 tensor is 1-D to llama-quantize)."""
    n = len(shape)
    while n > 1 and shape[n - 1] == 1:
        n -= 1
    return n


def _source_type(name: str, torch_dims: int) -> str:
    if torch_dims <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") \
            or any(f".{s}." in name for s in _F32_STEMS):
        return "F32"
    return "F16"


def block_tensors(spec: ModelSpec, layer: int):
    """Block ``layer``'s tensors as (gguf name, ggml shape, source type), in the converter's names."""
    layout = ARCHS[spec.decoder_architecture]
    block, b = spec.layout.kind(layer), f"blk.{layer}"
    out = []
    for t in block.tensors(spec.hidden_size):
        out += _convert(t, b, layout, block.recurrent)
    return out


def _convert(t: T, b: str, layout: GGUFLayout, recurrent=None) -> list[tuple[str, tuple[int, ...], str]]:
    if t.name.startswith("norm") and t.name[4:].split(".")[0].isdigit():  # the block's hidden-width norms
        i = int(t.name[4:].split(".")[0])
        if i >= len(layout.norms):
            raise ValueError(f"{layout.arch}: a block with {i + 1} norms has no GGUF name for norm {i}")
        name = f"{b}.{layout.norms[i]}.{t.name.split('.', 1)[1]}"
        return [(name, tuple(reversed(t.shape)), _source_type(name, len(t.shape)))]
    key = t.name.removeprefix("parallel.")  # Falcon-H1's Mamba-2 mixer beside the attention: the same ssm_* names
    if key not in RENAME:
        raise ValueError(f"{layout.arch}: no GGUF name for the tensor {t.name!r} (calc/gguf_layout.py RENAME)")
    stem, suffix, rule = RENAME[key]
    rule = dict(layout.reshape).get(key, rule)
    shape = tuple(reversed(t.shape))
    if rule == "col":  # torch (n,) -> (n, 1): ggml (1, n)
        shape = (1,) + shape
    elif rule == "groups":  # torch (d,) -> (groups, d / groups): ggml (d / groups, groups)
        g = recurrent.n_groups
        shape = (shape[0] // g, g)
    if rule == "squeeze":
        shape = tuple(d for d in shape if d != 1)
    if rule == "qkvz":  # (h, 2K + 2V) -> q|k|v (h, 2K + V) and z (h, V)
        v = recurrent.value_dim
        return [(f"{b}.{s}{suffix}", (shape[0], w), _source_type(f"{b}.{s}{suffix}", 2))
                for s, w in zip(stem, (shape[1] - v, v), strict=True)]
    if rule == "split":  # (h, 2f, e) -> two (h, f, e); bias (2f, e) -> two (f, e)
        half = (shape[0] // 2,) + shape[1:] if len(shape) == 2 else (shape[0], shape[1] // 2) + shape[2:]
        return [(f"{b}.{s}{suffix}", half, _source_type(f"{b}.{s}{suffix}", len(t.shape))) for s in stem]
    name = f"{b}.{stem}{suffix}"
    return [(name, shape, _source_type(name, len(t.shape)))]
