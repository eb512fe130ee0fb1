"""GGUF file types (llama.cpp quantization mixes), exact to the tensor.

A GGUF "file type" such as Q4_K_M is not one number format but a mix: ``llama-quantize`` picks a
type for every tensor. This module rebuilds that choice for a ``ModelSpec`` in three steps:

1. ``gguf_tensors(spec)``: the tensors ``convert_hf_to_gguf.py`` writes for the architecture, with
   gguf-py names (``token_embd``, ``blk.N.attn_q``, ``blk.N.ffn_down_exps``, ...) and ggml shapes
   (``ne[0]`` is the row length, i.e. the *input* width of a linear layer), in the order llama.cpp's
   model loader iterates them (``llama_model_loader::weight_name_comparer``: tensors outside a block
   first, then by block number, then by name). The order matters: the rules count tensors.
2. ``tensor_type(...)``: llama.cpp ``src/llama-quant.cpp`` ``llama_tensor_get_type`` /
   ``llama_tensor_get_type_impl`` / ``tensor_type_fallback`` and ``llama_ftype_get_default_type``
   (ggml-org/llama.cpp, read at commit 007dbbf3), re-expressed as tables plus small functions.
   Which tensors are quantized at all follows ``tensor_allows_quantization`` (2-D/3-D ``*.weight``,
   no norms, no MoE router ``ffn_gate_inp``, no position embeddings); what the rest keep follows
   the converter (``convert_hf_to_gguf.py``: 1-D tensors, norms, biases, routers, position
   embeddings are written as F32).
3. Bytes: block sizes come from ``gguf.constants.GGML_QUANT_SIZES`` (elements per block, bytes per
   block): a tensor of ``ne`` takes ``prod(ne[1:]) x ne[0] / block_elements x block_bytes`` bytes.

Checked (``tests/test_gguf.py``): 68 published files are payload + one header per repository, to the
byte: TheBloke's Llama-2 7B/13B/70B, Mistral-7B-v0.1, open-llama-3b (every tensor falls back) and
deepseek-coder-1.3b (ffn_down falls back), QuantFactory's Llama-3-8B-Instruct (all 14 types). 2023
files made before a rule changed differ by exactly that change (Q2_K mix, Q4_K_S / Q3_K_M ffn_down
counts, Q3_K fallback to Q4_1, MoE rules), which the tests also pin.

gpt-oss, Qwen3-Next, Llama 4, Mamba, Jamba, Mamba-2 and Falcon-H1 are written from their ``calc/arch`` layer kinds through the
declarative table of ``calc/gguf_layout.py`` (gguf-py names, reversed shapes, expert splits, squeezed conv
kernels); ``tests/test_gguf_layout.py`` holds them to gguf-py's ``MODEL_TENSORS``, to transformers' parameter
counts and to published gpt-oss-20b (MXFP4, to 0.05%) and Qwen3-Next (unsloth's Q4_K_M, 0.03%: today's converter
writes in_proj_qkvz as attn_qkv + attn_gate) files, unsloth's Llama 4 Scout Q4_K_M (0.004%), Falcon Mamba 7B and Mamba-Codestral 7B Q4_K_M and Falcon-H1-1.5B Q8_0 (0.05%), and eleven of
bartowski's Jamba Mini 1.7 file types (0.03 GB).

What is *not* modelled: user overrides (``--tensor-type``, ``--output-tensor-type``, ``--pure``),
Falcon-only branches (no Falcon preset), and rule versions older than the commit above.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from math import prod

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from calc.gguf_layout import ARCHS as LAYOUT_ARCHS
from calc.gguf_layout import GGUF_NAMES, block_tensors, ggml_n_dims
from calc.models import ModelSpec

#: File types (``llama-quantize`` names), largest first. ``quantize_model`` accepts these.
FILE_TYPES: tuple[str, ...] = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
    "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS",
    "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "TQ1_0",
    "TQ2_0", "MXFP4_MOE",
)

#: ``llama_ftype_get_default_type``: the tensor type a file type starts from.
DEFAULT_TYPE: dict[str, str] = {
    "F32": "F32", "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q5_1": "Q5_1", "Q5_0": "Q5_0",
    "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q4_1": "Q4_1", "Q4_0": "Q4_0",
    "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS",
    "Q3_K_L": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_S": "Q3_K",
    "IQ3_M": "IQ3_S", "IQ3_S": "IQ3_S", "IQ3_XS": "IQ3_S", "IQ3_XXS": "IQ3_XXS",
    "Q2_K": "Q2_K", "Q2_K_S": "Q2_K",
    "IQ2_M": "IQ2_S", "IQ2_S": "IQ2_XS", "IQ2_XS": "IQ2_XS", "IQ2_XXS": "IQ2_XXS",
    "IQ1_M": "IQ1_M", "IQ1_S": "IQ1_S", "TQ1_0": "TQ1_0", "TQ2_0": "TQ2_0", "MXFP4_MOE": "MXFP4",
}

#: ``tensor_type_fallback``: a type whose block does not divide a tensor's rows (``ne[0]``) falls
#: back to this one (and to F16 if that does not divide either).
FALLBACK: dict[str, str] = {
    **dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"), "IQ4_NL"),
    **dict.fromkeys(("Q2_K", "Q3_K", "TQ1_0", "TQ2_0"), "Q4_0"),
    "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
}

#: ``tensor_requires_imatrix``: llama-quantize refuses these targets without an importance matrix
#: (Q2_K only inside a Q2_K_S file; never for token_embd / output).
NEEDS_IMATRIX = frozenset({"IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"})

#: File types whose llama-quantize rules read whether an imatrix was used (``qs.has_imatrix`` in
#: llama_tensor_get_type_impl, src/llama-quant.cpp; ``ctx.imatrix`` in ``_attn_v_type`` / ``_ffn_down_type`` here):
#: IQ3_XXS's attn_v and ffn_down, IQ4_NL / IQ4_XS's first ffn_down eighth, Q4_0 / Q5_0's first ffn_down eighth.
#: Every other file type is typed alike with and without one, so ``quantize_model`` types it once for both and
#: ``quantize_all(..., like=)`` retypes only these (tests/test_gguf_run_speed.py compares both typings of every file
#: type on every preset).
IMATRIX_RULE_TYPES = frozenset({"IQ3_XXS", "IQ4_NL", "IQ4_XS", "Q4_0", "Q5_0"})

_FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})
_LOW_IQ = frozenset({"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"})  # the IQ1/IQ2 branch
_OUTPUT_Q5K = _LOW_IQ | {"IQ3_XXS"}  # output (or tied embeddings) -> Q5_K
_TOKEN_EMBD = {"IQ2_XXS": "Q2_K", "IQ2_XS": "Q2_K", "IQ1_S": "Q2_K", "IQ1_M": "Q2_K", "IQ2_S": "IQ3_S",
               "IQ2_M": "IQ3_S", "IQ3_XXS": "IQ3_S", "TQ1_0": "Q4_K", "TQ2_0": "Q4_K"}
_ATTN_OUT_DENSE = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}
_ATTN_OUT_MOE8_Q5K = frozenset({"Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S",
                                "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS"})

#: Quality cost llama.cpp publishes in its quantize tool's option table (``tools/quantize/
#: quantize.cpp`` ``QUANT_OPTIONS``): (file size it lists in GiB, perplexity increase, model).
PUBLISHED_PPL: dict[str, tuple[float, float, str]] = {
    "Q4_0": (4.34, 0.4685, "Llama-3-8B"), "Q4_1": (4.78, 0.4511, "Llama-3-8B"),
    "Q5_0": (5.21, 0.1316, "Llama-3-8B"), "Q5_1": (5.65, 0.1062, "Llama-3-8B"),
    "Q2_K": (2.96, 3.5199, "Llama-3-8B"), "Q2_K_S": (2.96, 3.1836, "Llama-3-8B"),
    "Q3_K_S": (3.41, 1.6321, "Llama-3-8B"), "Q3_K_M": (3.74, 0.6569, "Llama-3-8B"),
    "Q3_K_L": (4.03, 0.5562, "Llama-3-8B"), "Q4_K_S": (4.37, 0.2689, "Llama-3-8B"),
    "Q4_K_M": (4.58, 0.1754, "Llama-3-8B"), "Q5_K_S": (5.21, 0.1049, "Llama-3-8B"),
    "Q5_K_M": (5.33, 0.0569, "Llama-3-8B"), "Q6_K": (6.14, 0.0217, "Llama-3-8B"),
    "Q8_0": (7.96, 0.0026, "Llama-3-8B"), "F16": (14.00, 0.0020, "Mistral-7B"),
    "BF16": (14.00, -0.0050, "Mistral-7B"),
}
PPL_SOURCE = "llama.cpp tools/quantize/quantize.cpp, QUANT_OPTIONS (ggml-org/llama.cpp)"

GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT: every tensor's data starts on a 32-byte boundary


# ----- block sizes (gguf package) --------------------------------------------------------------
def block_size(ggml_type: str) -> tuple[int, int]:
    """(elements per block, bytes per block) from ``gguf.constants.GGML_QUANT_SIZES``.

    >>> block_size("Q4_K"), block_size("Q8_0")
    ((256, 144), (32, 34))
    """
    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType[ggml_type]]
    except KeyError:
        raise ValueError(f"unknown ggml type {ggml_type!r:.40}") from None


def type_bits(ggml_type: str) -> float:
    """Bits per weight of one ggml type: bytes per block x 8 / elements per block (Q4_K: 4.5)."""
    elems, nbytes = block_size(ggml_type)
    return nbytes * 8 / elems


def tensor_bytes(shape: tuple[int, ...], ggml_type: str) -> int:
    """Bytes of a tensor with ggml shape ``shape`` (``ne[0]`` first) stored as ``ggml_type``.

    >>> tensor_bytes((4096, 32000), "Q6_K")  # Llama-2-7B output.weight: 32000 rows x 16 blocks x 210 B
    107520000
    """
    elems, nbytes = block_size(ggml_type)
    if not shape or any(isinstance(d, bool) or not hasattr(d, "__index__") or d < 1 for d in shape):
        raise ValueError(f"tensor shape {tuple(shape)!r}: every dimension must be an integer >= 1 "
                         "(at least one dimension)")
    if shape[0] % elems:
        raise ValueError(f"a row of {shape[0]} elements does not divide into {ggml_type} blocks of {elems}")
    return prod(shape[1:]) * (shape[0] // elems) * nbytes


# ----- the tensor list (convert_hf_to_gguf.py) -------------------------------------------------
@dataclass(frozen=True)
class TensorSpec:
    """A tensor as the converter writes it: gguf name, ggml shape, and the type it is written in."""

    name: str
    shape: tuple[int, ...]
    source_type: str = "F16"  # F32 for what the converter keeps in float32

    @property
    def layer(self) -> int | None:
        m = _BLK.match(self.name)
        return int(m.group(1)) if m else None


_BLK = re.compile(r"blk\.(\d+)\.")

#: ModelSpec architecture -> gguf-py architecture name (``convert_hf_to_gguf.py`` model classes:
#: Mistral and Mixtral are written as ``llama``; DeepSeek-V2 and -V3 as ``deepseek2``).
GGUF_ARCH = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "MixtralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "Qwen3MoeForCausalLM": "qwen3moe",
    "Gemma2ForCausalLM": "gemma2", "Phi3ForCausalLM": "phi3", "GPT2LMHeadModel": "gpt2",
    "DeepseekV3ForCausalLM": "deepseek2", "DeepseekV2ForCausalLM": "deepseek2", "Gemma3ForCausalLM": "gemma3",
    "Cohere2ForCausalLM": "cohere2",
    **GGUF_NAMES,  # from layer kinds (calc/gguf_layout.py): gpt-oss, qwen3next, llama4, mamba, jamba, mamba2, falcon-h1
}


def gguf_arch(spec: ModelSpec) -> str:
    if spec.decoder_architecture not in GGUF_ARCH:
        raise ValueError(f"architecture {spec.architecture!r:.60} has no GGUF tensor layout here; "
                         f"supported: {', '.join(GGUF_ARCH)}")
    return GGUF_ARCH[spec.decoder_architecture]


def _f32(name: str, *shape: int) -> TensorSpec:
    return TensorSpec(name, tuple(shape), "F32")


def _w(name: str, *shape: int) -> TensorSpec:
    return TensorSpec(name, tuple(shape), "F16")


def _linear(name: str, n_in: int, n_out: int, bias: bool) -> list[TensorSpec]:
    out = [_w(f"{name}.weight", n_in, n_out)]
    return out + [_f32(f"{name}.bias", n_out)] if bias else out


def _norm(spec: ModelSpec, name: str, width: int) -> list[TensorSpec]:
    out = [_f32(f"{name}.weight", width)]
    return out + [_f32(f"{name}.bias", width)] if spec.norm == "layernorm" else out


def _attention(spec: ModelSpec, b: str, arch: str) -> list[TensorSpec]:
    h = spec.hidden_size
    if arch in ("phi3", "gpt2"):  # fused q|k|v projection
        return (_linear(f"{b}.attn_qkv", h, spec.q_dim + 2 * spec.kv_dim, spec.qkv_bias)
                + _linear(f"{b}.attn_output", spec.attn_out_dim, h, spec.out_bias))
    if arch == "deepseek2":  # MLA; kv_b is split into k_b / v_b (DeepseekV2Model.modify_tensors)
        if spec.qkv_bias or spec.out_bias:  # llama.cpp's deepseek2 loads no attention bias: the converter cannot map them
            raise ValueError("attention_bias: a DeepSeek-V2/V3 attention with biases has no GGUF layout (llama.cpp's "
                             "deepseek2 architecture stores no attention bias tensors); set attention_bias to false")
        nope, rope, heads = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.num_heads
        t = ([_w(f"{b}.attn_q_a.weight", h, spec.q_lora_rank), _f32(f"{b}.attn_q_a_norm.weight", spec.q_lora_rank),
              _w(f"{b}.attn_q_b.weight", spec.q_lora_rank, spec.q_dim)] if spec.q_lora_rank
             else [_w(f"{b}.attn_q.weight", h, spec.q_dim)])
        return t + [_w(f"{b}.attn_kv_a_mqa.weight", h, spec.kv_lora_rank + rope),
                    _f32(f"{b}.attn_kv_a_norm.weight", spec.kv_lora_rank),
                    _w(f"{b}.attn_k_b.weight", nope, spec.kv_lora_rank, heads),
                    _w(f"{b}.attn_v_b.weight", spec.kv_lora_rank, spec.v_head_dim, heads),
                    _w(f"{b}.attn_output.weight", spec.attn_out_dim, h)]
    t = (_linear(f"{b}.attn_q", h, spec.q_dim, spec.qkv_bias) + _linear(f"{b}.attn_k", h, spec.kv_dim, spec.qkv_bias)
         + _linear(f"{b}.attn_v", h, spec.kv_dim, spec.qkv_bias)
         + _linear(f"{b}.attn_output", spec.attn_out_dim, h, spec.out_bias))
    if spec.qk_norm:
        t += [_f32(f"{b}.attn_q_norm.weight", spec.head_dim), _f32(f"{b}.attn_k_norm.weight", spec.head_dim)]
    return t


def _mlp(spec: ModelSpec, b: str, arch: str, i: int) -> list[TensorSpec]:
    h, bias = spec.hidden_size, spec.mlp_bias
    if spec.layer_is_moe(i):
        f, n = spec.moe_intermediate_size, spec.num_experts
        t = [_f32(f"{b}.ffn_gate_inp.weight", h, n)]  # router: F32, never quantized
        if getattr(spec.layout.kind(i).ffn, "router_buffer", False):  # DeepSeek-V3's score-correction bias
            t.append(_f32(f"{b}.exp_probs_b.bias", n))
        t += [_w(f"{b}.ffn_gate_exps.weight", h, f, n), _w(f"{b}.ffn_up_exps.weight", h, f, n),
              _w(f"{b}.ffn_down_exps.weight", f, h, n)]
        if spec.num_shared_experts:
            fs = spec.shared_expert_intermediate_size
            t += [_w(f"{b}.ffn_gate_shexp.weight", h, fs), _w(f"{b}.ffn_up_shexp.weight", h, fs),
                  _w(f"{b}.ffn_down_shexp.weight", fs, h)]
        return t
    f = spec.intermediate_size
    if arch == "phi3":  # gate_up_proj is one tensor: ffn_up of width 2f
        return [_w(f"{b}.ffn_up.weight", h, 2 * f), _w(f"{b}.ffn_down.weight", f, h)]
    gate = _linear(f"{b}.ffn_gate", h, f, bias) if spec.gated_mlp else []
    return gate + _linear(f"{b}.ffn_up", h, f, bias) + _linear(f"{b}.ffn_down", f, h, bias)


def _rope_tensors(spec: ModelSpec) -> list[TensorSpec]:
    """Llama 3.1-style rope scaling (``rope_freqs``) and Phi-3 long-rope factors, when the config has them."""
    scaling = spec.hf_config.get("rope_scaling") if isinstance(spec.hf_config, dict) else None
    kind = scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else None
    if kind == "llama3":
        return [_f32("rope_freqs.weight", spec.head_dim // 2)]
    if kind in ("longrope", "su"):
        return [_f32("rope_factors_long.weight", spec.head_dim // 2),
                _f32("rope_factors_short.weight", spec.head_dim // 2)]
    return []


def gguf_tensors(spec: ModelSpec) -> tuple[TensorSpec, ...]:
    """Tensors of ``spec`` as ``convert_hf_to_gguf.py`` names and shapes them, in llama.cpp load order.

    >>> from calc.presets import get_preset
    >>> [(t.name, t.shape) for t in gguf_tensors(get_preset("Llama-2-7B"))][:3]
    [('output.weight', (4096, 32000)), ('output_norm.weight', (4096,)), ('token_embd.weight', (4096, 32000))]
    """
    arch = gguf_arch(spec)
    out = sorted(_head_tensors(spec, arch), key=lambda t: t.name)
    for i in range(spec.num_layers):
        out += _layer_tensors(spec, arch, i)
    return tuple(out)


def _head_tensors(spec: ModelSpec, arch: str) -> list[TensorSpec]:
    """The tensors outside the blocks (embeddings, output head, final norm, rope factors)."""
    h = spec.hidden_size
    out = [_w("token_embd.weight", h, spec.vocab_size)] + _norm(spec, "output_norm", h) + _rope_tensors(spec)
    if spec.learned_positions:
        out.append(_f32("position_embd.weight", h, spec.learned_positions))  # converter keeps it F32
    if not spec.tie_embeddings:
        out.append(_w("output.weight", h, spec.vocab_size))
    return out


def _layer_tensors(spec: ModelSpec, arch: str, i: int) -> list[TensorSpec]:
    """Block ``i``'s tensors sorted by name (llama.cpp's load order within a block)."""
    if spec.decoder_architecture in LAYOUT_ARCHS:
        return sorted((TensorSpec(n, shape, ty) for n, shape, ty in block_tensors(spec, i)), key=lambda t: t.name)
    h, b = spec.hidden_size, f"blk.{i}"
    out = _norm(spec, f"{b}.attn_norm", h)
    if spec.norms_per_layer > 1:  # a parallel block (Cohere2) has its one input norm only
        out += _norm(spec, f"{b}.ffn_norm", h)
    if arch in ("gemma2", "gemma3"):
        out += [_f32(f"{b}.post_attention_norm.weight", h), _f32(f"{b}.post_ffw_norm.weight", h)]
    out += _attention(spec, b, arch) + _mlp(spec, b, arch, i)
    return sorted(out, key=lambda t: t.name)


# ----- per-tensor type rules (src/llama-quant.cpp) ---------------------------------------------
@dataclass(frozen=True)
class RuleContext:
    """The model facts llama_tensor_get_type_impl reads (``qs.model.hparams`` / ``qs.model.type``)."""

    arch: str
    n_layer: int
    n_gqa: int  # n_head / n_head_kv (integer division, as hparams.n_gqa())
    n_expert: int  # 0 for dense models
    is_70b: bool  # llm_type == LLM_TYPE_70B: attn_v gets one step more
    tied: bool  # no output.weight: token_embd doubles as the output head
    n_attention_wv: int  # attn_v / attn_qkv / attn_kv_b tensors in the model
    imatrix: bool


def rule_context(spec: ModelSpec, tensors: tuple[TensorSpec, ...], imatrix: bool) -> RuleContext:
    """Read the facts from the spec. 70B type: llama arch with 80 layers and GQA, qwen2 with 80 layers
    (``llama_model_llama::load_arch_hparams``, ``llama_model_qwen2::load_arch_hparams``); MLA models
    are converted as MQA (one KV head), so their n_gqa is the head count."""
    arch = gguf_arch(spec)
    is_70b = spec.num_layers == 80 and spec.num_experts != 8 and (
        (arch == "llama" and spec.num_heads != spec.num_kv_heads) or arch == "qwen2")
    n_wv = sum(1 for t in tensors if _category(t.name) in _ATTN_V_LIKE)
    return RuleContext(arch, spec.num_layers, n_gqa(spec), spec.num_experts, is_70b,
                       not any(t.name == "output.weight" for t in tensors), n_wv, imatrix)


_ATTN_V_LIKE = ("attn_v", "attn_qkv", "attn_kv_b")


def n_gqa(spec: ModelSpec) -> int:
    """``llama_hparams::n_gqa()``: heads / KV heads of layer 0, 0 where layer 0 has no KV heads. MLA models are
    converted as MQA (one KV head); a model without attention (Mamba) has none; Jamba writes its KV heads per
    layer (0 on its Mamba layers), so layer 0, a Mamba layer, gives 0."""
    if gguf_arch(spec) == "deepseek2":
        return spec.num_heads
    mixer = spec.layout.kind(0).mixer
    if LAYOUT_ARCHS.get(spec.decoder_architecture) is not None and LAYOUT_ARCHS[spec.decoder_architecture].kv_per_layer:
        return mixer.heads // mixer.kv_heads if getattr(mixer, "kv_heads", 0) else 0
    return spec.num_heads // spec.num_kv_heads if spec.num_kv_heads else 0


def _category(name: str) -> str:
    """``tensor_get_category``: substring matches, first hit wins (so ffn_up_exps is ffn_up)."""
    if name == "output.weight":
        return "output"
    if name == "token_embd.weight":
        return "token_embd"
    for key in ("attn_qkv", "attn_kv_b", "attn_v", "attn_k", "attn_q", "attn_output"):
        if f"{key}.weight" in name:
            return key
    for key in ("ffn_up", "ffn_gate", "ffn_down"):
        if key in name:
            return key
    return "other"


def is_quantizable(t: TensorSpec) -> bool:
    """``tensor_allows_quantization`` for the tensors this module builds."""
    return (ggml_n_dims(t.shape) >= 2 and t.name.endswith("weight") and "_norm.weight" not in t.name
            and "ffn_gate_inp.weight" not in t.name and t.name != "position_embd.weight"
            and "ssm_conv1d" not in t.name)  # Mamba / gated DeltaNet's small conv kernels stay F32


def use_more_bits(i: int, n: int) -> bool:
    """First and last eighth of the layers, and every third layer between (llama-quant.cpp).

    >>> [i for i in range(32) if use_more_bits(i, 32)]
    [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    """
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


class _Counters:
    """``qs.i_attention_wv`` / ``i_ffn_down`` / ``i_ffn_gate`` / ``i_ffn_up``: tensors seen so far."""

    def __init__(self) -> None:
        self.attn_v = self.ffn_down = self.ffn_gate = self.ffn_up = 0


def _layer(ctx: RuleContext, counter: int, name: str) -> int:
    """``layer_info``: MoE models read the layer from the name, dense models use the counter."""
    if ctx.n_expert > 1:
        return int(_BLK.match(name).group(1))
    return counter


def _output_type(ctx: RuleContext, ftype: str, new: str, ne0: int) -> str:
    if ftype == "MXFP4_MOE" or ne0 % block_size(new)[0]:
        return "Q8_0"
    if ftype in _OUTPUT_Q5K:
        return "Q5_K"
    return new if new == "Q8_0" else "Q6_K"


def _attn_v_type(ctx: RuleContext, ftype: str, new: str, i: int) -> str:
    g4 = ctx.n_gqa >= 4
    if ftype == "Q2_K":
        new = "Q4_K" if g4 else "Q3_K"
    elif ftype == "Q2_K_S" and g4:
        new = "Q4_K"
    elif ftype == "IQ3_XXS":
        new = "Q4_K" if g4 else ("IQ3_XXS" if ctx.imatrix else "IQ3_S")
    elif ftype in ("IQ3_XS", "IQ3_S") and g4:
        new = "Q4_K"
    elif ftype == "IQ3_M":
        new = "Q4_K"
    elif ftype == "Q3_K_M":
        new = "Q5_K" if i < 2 else "Q4_K"
    elif ftype == "Q3_K_L":
        new = "Q5_K"
    elif ftype in ("IQ4_NL", "IQ4_XS") and g4:
        new = "Q5_K"
    elif ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, ctx.n_attention_wv):
        new = "Q6_K"
    elif ftype == "Q4_K_S" and i < 4:
        new = "Q5_K"
    if ctx.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"
    return "Q8_0" if ctx.n_expert == 8 else new


def _ffn_down_type(ctx: RuleContext, ftype: str, new: str, i: int, n: int) -> str:
    if ftype == "Q2_K":
        return "Q3_K"
    if ftype == "Q2_K_S":
        return "Q4_K" if i < n // 8 else new
    if ftype == "IQ3_XXS" and not ctx.imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if ftype == "Q3_K_M":
        return "Q5_K" if i < n // 16 else "Q4_K"  # the Q3_K middle is Falcon-only
    if ftype == "IQ3_M" and (i < n // 8 or (ctx.n_expert == 8 and use_more_bits(i, n))):
        return "Q4_K"
    if ftype == "Q3_K_L":
        return "Q5_K"
    if ftype == "Q4_K_M":
        return "Q6_K" if use_more_bits(i, n) else new
    if i < n // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not ctx.imatrix:
        return "Q5_K"
    if ftype == "Q5_K_M" and use_more_bits(i, n):
        return "Q6_K"
    if ftype == "Q4_K_S" and i < n // 8:
        return "Q5_K"
    if ftype in ("Q4_0", "Q5_0") and ctx.imatrix and i < n // 8:
        return "Q4_1" if ftype == "Q4_0" else "Q5_1"
    return new


def _low_iq_type(ctx: RuleContext, ftype: str, cat: str, new: str, c: _Counters) -> str:
    """The IQ1_S / IQ1_M / IQ2_* branch, which runs before the general one."""
    iq3 = ftype in ("IQ2_S", "IQ2_M")
    if cat in _ATTN_V_LIKE:
        c.attn_v += 1
        return "Q4_K" if ctx.n_gqa >= 4 or ctx.n_expert >= 4 else ("IQ3_S" if iq3 else "Q2_K")
    if ctx.n_expert == 8 and cat == "attn_k":
        return "Q4_K"
    if cat == "ffn_down":
        c.ffn_down += 1
        return ("IQ3_S" if iq3 else "Q2_K") if c.ffn_down - 1 < ctx.n_layer // 8 else new
    if cat == "attn_output":
        if ctx.n_expert == 8:
            return "Q5_K"
        if ftype in ("IQ1_S", "IQ1_M"):
            return "IQ2_XXS"
        return "IQ3_S" if iq3 else new
    return new


def _impl_type(ctx: RuleContext, ftype: str, t: TensorSpec, new: str, c: _Counters) -> str:
    """``llama_tensor_get_type_impl``, branch by branch in the source's order."""
    cat = _category(t.name)
    if cat == "output" or (ctx.tied and cat == "token_embd"):
        return _output_type(ctx, ftype, new, t.shape[0])
    if ftype == "MXFP4_MOE":  # experts (3-D) -> MXFP4, everything else -> Q8_0
        return "MXFP4" if len(t.shape) > 2 and t.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        return _TOKEN_EMBD.get(ftype, new)
    if ftype in _LOW_IQ:
        return _low_iq_type(ctx, ftype, cat, new, c)
    if cat in _ATTN_V_LIKE:  # attn_qkv lands here too, so its own branch in the source never runs
        c.attn_v += 1
        return _attn_v_type(ctx, ftype, new, c.attn_v - 1)
    if cat == "attn_k":
        return "Q8_0" if ctx.n_expert == 8 else {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, new)
    if cat == "ffn_down":
        c.ffn_down += 1
        return _ffn_down_type(ctx, ftype, new, _layer(ctx, c.ffn_down - 1, t.name), ctx.n_layer)
    if cat == "attn_output":
        if ctx.n_expert == 8:
            return "Q5_K" if ftype in _ATTN_OUT_MOE8_Q5K else new
        return _ATTN_OUT_DENSE.get(ftype, new)
    if cat in ("ffn_gate", "ffn_up"):
        counter = c.ffn_gate if cat == "ffn_gate" else c.ffn_up
        setattr(c, cat, counter + 1)
        i, n = _layer(ctx, counter, t.name), ctx.n_layer
        return "IQ3_XXS" if ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8 else new
    return new


def fallback_type(ggml_type: str, ne0: int, name: str = "tensor") -> str:
    """``tensor_type_fallback``: a row of ``ne0`` that a type's block does not divide takes another type."""
    if ne0 % block_size(ggml_type)[0] == 0:
        return ggml_type
    if ggml_type not in FALLBACK:
        raise ValueError(f"{name}: rows of {ne0} do not divide into {ggml_type} blocks and llama.cpp "
                         f"defines no fallback for {ggml_type}")
    new = FALLBACK[ggml_type]
    return new if ne0 % block_size(new)[0] == 0 else "F16"


def tensor_type(ctx: RuleContext, ftype: str, t: TensorSpec, counters: _Counters) -> str:
    """``llama_tensor_get_type``: the stored type of ``t`` in a file of type ``ftype``."""
    if not is_quantizable(t):
        return t.source_type
    default = DEFAULT_TYPE[ftype]
    if default in _FLOAT_TYPES:
        return default
    return fallback_type(_impl_type(ctx, ftype, t, default, counters), t.shape[0], t.name)


# ----- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantTensor:
    name: str
    shape: tuple[int, ...]
    type: str
    bytes: int

    @cached_property
    def n_elements(self) -> int:
        return prod(self.shape)

    @property
    def layer(self) -> int | None:
        m = _BLK.match(self.name)
        return int(m.group(1)) if m else None


class LayeredTensors(Sequence):
    """A typed model's tensors held as the tensors outside the blocks plus one typed block per *layer class*
    (``layer_plan``): a block is the same as its class's first block but for the number in its names. Read
    like the tuple of every tensor; sums (``weighted``) and per-layer bytes cost the classes, not the layers."""

    def __init__(self, head: tuple[QuantTensor, ...], plan: LayerPlan, reps: tuple[tuple[QuantTensor, ...], ...]):
        self.head, self.plan, self.reps = head, plan, reps
        self._len = len(head) + sum(len(r) * n for r, n in zip(reps, plan.class_counts, strict=True))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[QuantTensor]:
        yield from self.head
        for i, k in enumerate(self.plan.layer_class):
            rep, first = self.reps[k], self.plan.rep_layers[k]
            if i == first:
                yield from rep
                continue
            cut, prefix = len(f"blk.{first}."), f"blk.{i}."
            for t in rep:
                yield QuantTensor(prefix + t.name[cut:], t.shape, t.type, t.bytes)

    def __getitem__(self, index):
        if isinstance(index, slice) and (index.step or 1) > 0 and (index.start or 0) >= 0 \
                and (index.stop is None or index.stop >= 0):
            return tuple(islice(self, index.start, index.stop, index.step))
        if isinstance(index, int) and index >= 0:
            for t in islice(self, index, None):
                return t
            raise IndexError(index)
        return tuple(self)[index]

    def __eq__(self, other) -> bool:
        if isinstance(other, LayeredTensors):
            return (self.head, self.plan, self.reps) == (other.head, other.plan, other.reps)
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash((self.head, self.plan, self.reps))

    def weighted(self, value: Callable[[QuantTensor], float]) -> float:
        """``sum(value(t) for t in self)``, per class times its layers."""
        return (sum(value(t) for t in self.head)
                + sum(n * sum(value(t) for t in r) for r, n in zip(self.reps, self.plan.class_counts, strict=True)))

    def counted(self, key: Callable[[QuantTensor], str], value: Callable[[QuantTensor], int]) -> Counter:
        """``Counter`` of ``value`` by ``key`` over every tensor, per class times its layers."""
        out: Counter = Counter()
        for t in self.head:
            out[key(t)] += value(t)
        for r, n in zip(self.reps, self.plan.class_counts, strict=True):
            for t in r:
                out[key(t)] += n * value(t)
        return out


@dataclass(frozen=True)
class QuantResult:
    """One model in one GGUF file type. Bytes are exact for the tensors; the header is an estimate.

    ``tensors`` is a tuple (a file's own tensors) or a ``LayeredTensors`` (``quantize_model``): the sums below
    then cost the distinct layers, not the layer count (a 10,000-layer config typed for 33 file types made
    3.3 million tensor objects, 39 s and 1.1 GB per Quantization page run; issue 20)."""

    model: str
    ftype: str
    imatrix: bool
    tensors: Sequence[QuantTensor] = field(repr=False)
    header_bytes_estimate: int = 0

    def _total(self, value: Callable[[QuantTensor], int]) -> int:
        if isinstance(self.tensors, LayeredTensors):
            return self.tensors.weighted(value)
        return sum(value(t) for t in self.tensors)

    def _by(self, key: Callable[[QuantTensor], str], value: Callable[[QuantTensor], int]) -> Counter:
        if isinstance(self.tensors, LayeredTensors):
            return self.tensors.counted(key, value)
        out: Counter = Counter()
        for t in self.tensors:
            out[key(t)] += value(t)
        return out

    @cached_property  # frozen: computed once (the Quantization page asks each result several times)
    def tensor_bytes(self) -> int:
        """Payload: the tensors' bytes, no header, no alignment padding."""
        return self._total(lambda t: t.bytes)

    @cached_property
    def n_elements(self) -> int:
        return self._total(lambda t: t.n_elements)

    @property
    def bits_per_weight(self) -> float:
        """Payload bits over every stored element (norms included), as llama.cpp's BPW counts them."""
        return self.tensor_bytes * 8 / self.n_elements

    @cached_property
    def tensor_types(self) -> dict[str, int]:
        """Tensor count per ggml type, most common first."""
        return dict(self._by(lambda t: t.type, lambda t: 1).most_common())

    @cached_property
    def bytes_by_type(self) -> dict[str, int]:
        out = self._by(lambda t: t.type, lambda t: t.bytes)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    @cached_property
    def file_bytes_estimate(self) -> int:
        """Header estimate + every tensor padded to the 32-byte GGUF alignment."""
        return self.header_bytes_estimate + self._total(lambda t: _pad(t.bytes))

    def kind_rows(self) -> list[dict]:
        """The tensors summarized by kind: one row per (name without its block number, shape, type) with the
        number of tensors and their bytes, blocks first in name order. Costs the layer classes, not the layers
        (a 10,000-layer model gives a few dozen rows where its tensor list has 90,000: issue 20's page bound).
        The rows sum to ``len(tensors)`` and ``tensor_bytes``."""
        out: dict[tuple, list[int]] = {}

        def add(t: QuantTensor, n: int) -> None:
            key = (_BLK.sub("blk.N.", t.name, count=1), t.shape, t.type)
            row = out.setdefault(key, [0, 0, t.bytes])
            row[0] += n
            row[1] += n * t.bytes

        if isinstance(self.tensors, LayeredTensors):
            for t in self.tensors.head:
                add(t, 1)
            for rep, n in zip(self.tensors.reps, self.tensors.plan.class_counts, strict=True):
                for t in rep:
                    add(t, n)
        else:
            for t in self.tensors:
                add(t, 1)
        return [{"tensor": k[0], "shape (ne0 first)": " x ".join(map(str, k[1])), "type": k[2], "tensors": v[0],
                 "bytes each": v[2], "bytes": v[1], "bits/weight": type_bits(k[2])}
                for k, v in sorted(out.items(), key=lambda kv: (not kv[0][0].startswith("blk."), kv[0][0], kv[0][2]))]

    def layer_bytes(self, n_layers: int) -> tuple[list[int], int, int]:
        """(bytes of each block, ``token_embd`` bytes, bytes of the other tensors outside the blocks)."""
        t = self.tensors
        if isinstance(t, LayeredTensors):
            per_class = self._class_bytes
            per_layer = [per_class[k] for k in t.plan.layer_class]
        else:
            per_layer = [0] * n_layers
            for x in t:
                if x.layer is not None:
                    per_layer[x.layer] += x.bytes
        return (per_layer, *self.outside_bytes)

    @cached_property
    def _class_bytes(self) -> tuple[int, ...]:
        """Bytes of one block of each layer class (a ``LayeredTensors`` result)."""
        return tuple(sum(x.bytes for x in r) for r in self.tensors.reps)

    @cached_property
    def outside_bytes(self) -> tuple[int, int]:
        """(``token_embd`` bytes, bytes of the other tensors outside the blocks): ``layer_bytes`` without the
        per-block list, computed once per result (``calc.gguf_run`` asks it on every run setup)."""
        t = self.tensors
        outside = t.head if isinstance(t, LayeredTensors) else [x for x in t if x.layer is None]
        embd = sum(x.bytes for x in outside if x.name == "token_embd.weight")
        return embd, sum(x.bytes for x in outside) - embd


def _pad(n: int, align: int = GGUF_ALIGNMENT) -> int:
    return -(-n // align) * align


def _check_ftype(ftype: str) -> str:
    key = str(ftype).upper()
    if key not in DEFAULT_TYPE:
        raise ValueError(f"GGUF file type must be one of {', '.join(FILE_TYPES)}; got {ftype!r:.40}")
    return key


def _assign(spec: ModelSpec, ftype: str, tensors: tuple[TensorSpec, ...], imatrix: bool) -> list[QuantTensor]:
    ctx = rule_context(spec, tensors, imatrix)
    counters = _Counters()
    out = []
    for t in tensors:
        ty = tensor_type(ctx, ftype, t, counters)
        out.append(QuantTensor(t.name, t.shape, ty, tensor_bytes(t.shape, ty)))
    return out


# ----- per layer class (issue 20: the cost grows with the distinct blocks, not with the layer count) -------
_COUNTED = ("attn_v", "ffn_down", "ffn_gate", "ffn_up")  # llama-quant.cpp's tensor counters (_Counters)


def _counted(t: TensorSpec) -> int | None:
    """Which of ``_COUNTED`` a tensor can advance (None: none). A counter advances only for tensors that reach
    ``_impl_type``, and a file type that does not advance one for a category never reads it either."""
    if not is_quantizable(t):
        return None
    cat = _category(t.name)
    cat = "attn_v" if cat in _ATTN_V_LIKE else cat
    return _COUNTED.index(cat) if cat in _COUNTED else None


def _phase(x: int, n: int) -> tuple:
    """Everything the type rules read of a layer index or a tensor counter ``x`` among ``n``: ``x < 2`` and
    ``x < 4`` (attn_v), ``x < n/16``, ``x < n/8``, ``x >= 7n/8`` and ``use_more_bits``' every third one."""
    return (min(x, 4), x < n // 16, x < n // 8, x >= 7 * n // 8, (x - n // 8) % 3)


@dataclass(frozen=True)
class LayerPlan:
    """A model's blocks grouped into classes that every file type types alike.

    Two blocks are in one class when they hold the same tensors (``layer_is_moe`` and the layout's kind, all
    that ``_layer_tensors`` reads of the block number) and every rule reads the
    same of them: the ``_phase`` of the block number and of each counter value its tensors see, against the
    layer count and the attn_v count. A 10,000-layer model has a few dozen classes."""

    head: tuple[TensorSpec, ...]  # the tensors outside the blocks, sorted by name
    reps: tuple[tuple[TensorSpec, ...], ...]  # each class's first block
    rep_layers: tuple[int, ...]
    rep_counters: tuple[tuple[int, ...], ...]  # the counters as each class's first block starts
    layer_class: tuple[int, ...]  # the class of every block
    class_counts: tuple[int, ...]
    class_digits: tuple[int, ...]  # the digits of the block numbers of each class, summed (names' lengths)
    n_attention_wv: int
    tied: bool


@functools.lru_cache(maxsize=16)
def layer_plan(spec: ModelSpec) -> LayerPlan:
    arch = gguf_arch(spec)
    head = tuple(sorted(_head_tensors(spec, arch), key=lambda t: t.name))
    n = spec.num_layers
    kinds: dict[tuple, tuple[int, list[int]]] = {}  # block kind -> (attn_v-like tensors, counted tensors per counter)
    moe = [(spec.layer_is_moe(i), spec.layout.kind(i)) for i in range(n)]  # all a block's tensors depend on
    for i, m in enumerate(moe):
        if m not in kinds:
            block = _layer_tensors(spec, arch, i)
            counts = [0] * len(_COUNTED)
            for t in block:
                c = _counted(t)
                if c is not None:
                    counts[c] += 1
            kinds[m] = (sum(1 for t in block if _category(t.name) in _ATTN_V_LIKE), counts)
    n_wv = sum(kinds[m][0] for m in moe)
    classes: dict[tuple, int] = {}
    reps, rep_layers, rep_counters, layer_class, class_counts, digits = [], [], [], [], [], []
    seen = [0] * len(_COUNTED)
    for i, m in enumerate(moe):
        counts = kinds[m][1]
        key = (m, _phase(i, n), _phase(i, n_wv),
               tuple(_phase(seen[c] + k, d) for c in range(len(_COUNTED)) for k in range(counts[c]) for d in (n, n_wv)))
        k = classes.get(key)
        if k is None:
            k = classes[key] = len(reps)
            reps.append(tuple(_layer_tensors(spec, arch, i)))
            rep_layers.append(i)
            rep_counters.append(tuple(seen))
            class_counts.append(0)
            digits.append(0)
        layer_class.append(k)
        class_counts[k] += 1
        digits[k] += len(str(i))
        for c in range(len(_COUNTED)):
            seen[c] += counts[c]
    return LayerPlan(head, tuple(reps), tuple(rep_layers), tuple(rep_counters), tuple(layer_class),
                     tuple(class_counts), tuple(digits), n_wv, not any(t.name == "output.weight" for t in head))


def _plan_context(spec: ModelSpec, plan: LayerPlan, imatrix: bool) -> RuleContext:
    arch = gguf_arch(spec)
    is_70b = spec.num_layers == 80 and spec.num_experts != 8 and (
        (arch == "llama" and spec.num_heads != spec.num_kv_heads) or arch == "qwen2")
    return RuleContext(arch, spec.num_layers, n_gqa(spec), spec.num_experts, is_70b, plan.tied,
                       plan.n_attention_wv, imatrix)


def _assign_plan(spec: ModelSpec, ftype: str, plan: LayerPlan, imatrix: bool) -> LayeredTensors:
    """``_assign`` per layer class: each class's first block typed with the counters it starts with."""
    ctx = _plan_context(spec, plan, imatrix)

    def typed(tensors, counters):
        return tuple(QuantTensor(t.name, t.shape, ty, tensor_bytes(t.shape, ty))
                     for t in tensors for ty in (tensor_type(ctx, ftype, t, counters),))

    reps = []
    for block, start in zip(plan.reps, plan.rep_counters, strict=True):
        c = _Counters()
        for name, value in zip(_COUNTED, start, strict=True):
            setattr(c, name, value)
        reps.append(typed(block, c))
    return LayeredTensors(typed(plan.head, _Counters()), plan, tuple(reps))


def _requires_imatrix(ftype: str, tensors: Sequence[QuantTensor]) -> bool:
    return any((t.type in NEEDS_IMATRIX or (t.type == "Q2_K" and ftype == "Q2_K_S"))
               and t.name not in ("token_embd.weight", "output.weight") for t in tensors)


def quantize_model(spec: ModelSpec, ftype: str, imatrix: bool | None = None,
                   like: QuantResult | None = None) -> QuantResult:
    """Every tensor of ``spec`` typed as ``llama-quantize`` would for file type ``ftype``.

    ``imatrix``: whether an importance matrix was used. ``None`` (default) does what llama-quantize
    allows without one and assumes one only where it refuses to work without (IQ1/IQ2/IQ3_XXS
    targets, Q2_K_S). Most recent community quants (bartowski, unsloth) use one; TheBloke's did not.
    ``like``: this model in this file type with another ``imatrix`` setting; its typing is reused when the
    file type's rules do not read the imatrix (outside ``IMATRIX_RULE_TYPES``), the same tensors either way.

    >>> from calc.presets import get_preset
    >>> r = quantize_model(get_preset("Llama-2-7B"), "Q4_K_M")
    >>> r.tensor_bytes + 741_056  # TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_K_M.gguf
    4081004224
    """
    ftype = _check_ftype(ftype)
    plan = layer_plan(spec)
    alike = ftype not in IMATRIX_RULE_TYPES  # typed the same with and without an imatrix
    if like is not None and alike and like.ftype == ftype and isinstance(like.tensors, LayeredTensors) \
            and like.tensors.plan == plan and like.model == spec.name:
        typed = like.tensors
    else:
        typed = _assign_plan(spec, ftype, plan, bool(imatrix))
    if imatrix is None:
        imatrix = _requires_imatrix(ftype, (*typed.head, *(t for r in typed.reps for t in r)))
        if imatrix and not alike:
            typed = _assign_plan(spec, ftype, plan, True)
    return QuantResult(spec.name, ftype, bool(imatrix), typed, _header_bytes(spec, plan))


def quantize_all(spec: ModelSpec, ftypes: tuple[str, ...] = FILE_TYPES, imatrix: bool | None = None,
                 like: Mapping[str, QuantResult | ValueError] | None = None) -> dict[str, QuantResult | ValueError]:
    """``quantize_model`` for each file type; a type llama.cpp cannot apply maps to its ValueError.

    ``like``: ``quantize_all``'s results for the same model with another ``imatrix`` setting: only the file types
    of ``IMATRIX_RULE_TYPES`` are typed again (the Quantization page's imatrix choice; issue 18)."""
    like = like or {}
    out: dict[str, QuantResult | ValueError] = {}
    for f in ftypes:
        other = like.get(f)
        try:
            out[f] = quantize_model(spec, f, imatrix, other if isinstance(other, QuantResult) else None)
        except ValueError as exc:
            out[f] = exc
    return out


# ----- header estimate -------------------------------------------------------------------------
#: Average bytes per vocabulary entry in the tokenizer metadata, fitted to published files whose
#: payload our rules reproduce exactly (so file - payload is the header): SentencePiece (tokens +
#: f32 scores + i32 types): 22.49 B/token for TheBloke's Llama-2 7B/13B/70B (741,056 / 745,344 /
#: 766,880 B headers), 22.30 for Mistral-7B. Byte-level BPE (tokens + i32 types + merges): 64.9 for
#: Llama 3 (QuantFactory/Meta-Llama-3-8B-Instruct-GGUF, 8,348,896 B; 280k merges), 39.0 for a
#: Qwen3-8B Q4_K_M of 5,027,783,136 B (151k merges); we take the middle, 52, so a 128k-152k BPE
#: vocabulary's header is within about 1.7 MB. Other metadata (names, chat template): ~4 KB.
SPM_BYTES_PER_TOKEN = 22.49
BPE_BYTES_PER_TOKEN = 52.0
OTHER_METADATA_BYTES = 4096


#: GGUF architectures whose converter writes a SentencePiece vocabulary (``tokenizer.ggml.model`` "llama": tokens,
#: f32 scores, i32 types, no merges) whatever the vocabulary size: ``convert_hf_to_gguf.py`` Gemma2Model and
#: Gemma3Model call ``_set_vocab_sentencepiece``. Gemma 3's 262,144 tokens were priced as BPE with merges
#: (52 B/token: a 13.6 MB header estimate); its published files hold a 6.5 MB header (tests/test_gguf.py).
SPM_ARCHS = frozenset({"gemma2", "gemma3"})


def tokenizer_kind(spec: ModelSpec) -> str:
    """"spm" (Llama 1/2, Mistral v0.1, Phi-3 at 32k vocabularies; Gemma 2 / 3 at any size) or "bpe" (GPT-2
    style, with merges)."""
    if spec.vocab_size <= 32_064 or GGUF_ARCH.get(spec.decoder_architecture) in SPM_ARCHS:
        return "spm"
    return "bpe"


def _info_bytes(t: TensorSpec) -> int:
    return 8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8


def _header_bytes(spec: ModelSpec, plan: LayerPlan) -> int:
    """``estimate_header_bytes`` from a ``LayerPlan``: a block's tensor infos differ from its class's first
    block's only by the digits of the block number in each name."""
    infos = sum(_info_bytes(t) for t in plan.head)
    for block, first, n, digits in zip(plan.reps, plan.rep_layers, plan.class_counts, plan.class_digits, strict=True):
        infos += n * sum(_info_bytes(t) - len(str(first)) for t in block) + len(block) * digits
    return _header_from_infos(spec, infos)


def _header_from_infos(spec: ModelSpec, infos: int) -> int:
    per_token = SPM_BYTES_PER_TOKEN if tokenizer_kind(spec) == "spm" else BPE_BYTES_PER_TOKEN
    return _pad(24 + infos + OTHER_METADATA_BYTES + round(per_token * spec.vocab_size))


def estimate_header_bytes(spec: ModelSpec, tensors: tuple[TensorSpec, ...] | None = None) -> int:
    """GGUF header: 24 B fixed + tensor infos (exact) + metadata (tokenizer estimate), padded to 32.

    A tensor info is name (u64 length + bytes), n_dims (u32), dims (u64 each), type (u32), offset (u64).
    The tensor infos are exact (Llama-2 7B/13B/70B give the same per-token remainder to 0.0005 B).
    The metadata is dominated by the tokenizer: 22.49 B per SentencePiece token, 52 B per BPE token
    with its merges (see the constants above); chat templates and model cards add a few KB.
    """
    if tensors is None:
        return _header_bytes(spec, layer_plan(spec))
    return _header_from_infos(spec, sum(_info_bytes(t) for t in tensors))
