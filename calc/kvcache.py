"""KV-cache bytes: what an inference server keeps per token of context.

Standard / GQA attention (REFERENCE.md "KV cache"; Pope et al. 2022 "Efficiently Scaling
Transformer Inference" sec. 2): per layer ``2 (K and V) x kv_heads x head_dim x bytes`` per token.
Sliding-window layers (Mistral v0.1, Gemma 2's alternate layers) hold at most ``sliding_window``
positions. MLA (DeepSeek-V2 paper sec. 2.1.2; DeepSeek-V3): the cache is the compressed latent
``kv_lora_rank`` plus the shared decoupled RoPE key ``qk_rope_head_dim`` per layer, no factor 2.

``transformers`` 5 (which the tests hold these numbers to) caches MLA compressed as well: the
latent as keys and the RoPE key as values, one head each. ``kv_cache_bytes(..., mla_compressed=False)``
gives the decompressed per-head K and V that ``transformers`` 4.x and some engines store.

Layers are described by ``calc/arch`` layer kinds: each kind says what a token adds and how many
positions it keeps (full, sliding window, attention chunk: Llama 4), and the sums run over the distinct
kinds times their counts. Hybrid models (Jamba, Qwen3-Next, Mamba) also keep a fixed recurrent state per
sequence (``state_bytes``), which does not grow with context.

Sliding windows: a layer needs ``sliding_window`` positions while it decodes the next token
(the default here; vLLM and llama.cpp allocate that). Between steps ``transformers``'
``DynamicSlidingWindowLayer`` keeps ``sliding_window - 1`` and appends the step's own token during
attention; ``hf_window=True`` counts the tensors it holds after a forward pass.
"""

from __future__ import annotations

import operator
from fractions import Fraction

from calc.dtypes import dtype_bits
from calc.models import ModelSpec


def kv_elements_per_token(spec: ModelSpec, layer: int, mla_compressed: bool = True) -> int:
    """Cache elements one token adds to ``layer`` (0 for a layer without attention: Mamba, gated DeltaNet).

    >>> from calc.presets import get_preset
    >>> kv_elements_per_token(get_preset("Meta-Llama-3-8B"), 0)  # 2 x 8 heads x 128
    2048
    """
    return spec.layout.kind(layer).kv_elements_per_token(mla_compressed)


def cached_positions(spec: ModelSpec, layer: int, seq_len: int, hf_window: bool = False) -> int:
    """Positions ``layer`` keeps for a sequence of ``seq_len`` tokens (a window or an attention chunk caps
    it; see the module docstring for ``hf_window``; 0 for a layer without attention)."""
    return spec.layout.kind(layer).cached_positions(seq_len, hf_window)


def kv_cache_bytes(spec: ModelSpec, batch: int, seq_len: int, kv_dtype: str = "bf16",
                   mla_compressed: bool = True, hf_window: bool = False) -> int:
    """Bytes of the KV cache for ``batch`` sequences of ``seq_len`` tokens, all layers (attention only;
    the fixed recurrent state of Mamba / DeltaNet layers is ``state_bytes``).

    bytes = sum over layer kinds of layers x elements_per_token x cached_positions x batch x bits / 8.

    >>> from calc.presets import get_preset
    >>> kv_cache_bytes(get_preset("Meta-Llama-3-8B"), 1, 8192)  # 32 x 2048 x 8192 x 2 B = 1 GiB
    1073741824
    """
    batch = _whole("batch", batch)
    seq_len = _whole("sequence length", seq_len)
    bits = dtype_bits(kv_dtype)
    elements = sum(n * b.kv_elements_per_token(mla_compressed) * b.cached_positions(seq_len, hf_window)
                   for b, n in spec.layout.kind_counts())
    # Exact rational arithmetic: a float product loses bytes above 2**53 and overflows for huge batches.
    return round(Fraction(elements * batch) * Fraction(bits) / 8)


def state_elements_per_sequence(spec: ModelSpec) -> tuple[int, int]:
    """(conv-state, recurrent-state) elements one sequence keeps across all layers, whatever its length:
    Mamba conv d_inner x d_conv and SSM d_inner x d_state; Mamba-2 conv (d_inner + 2 groups x d_state) x
    d_conv and SSM heads x head_dim x d_state; gated DeltaNet conv (2K + V) x kernel and heads x d_k x
    d_v; lightning attention heads x d x d (``calc/arch/kinds.py``)."""
    conv = ssm = 0
    for b, n in spec.layout.kind_counts():
        c, s = b.state_elements()
        conv += n * c
        ssm += n * s
    return conv, ssm


def state_bytes(spec: ModelSpec, batch: int, state_dtype: str = "bf16", ssm_dtype: str | None = None) -> int:
    """Bytes of the recurrent state of ``batch`` sequences (0 for a model of attention layers only). It does
    not grow with context. ``ssm_dtype``: the recurrent (SSM) state's dtype when it differs from the conv
    state's (engines that keep it in fp32); default: ``state_dtype`` for both."""
    batch = _whole("batch", batch)
    conv, ssm = state_elements_per_sequence(spec)
    bits_conv = dtype_bits(state_dtype)
    bits_ssm = dtype_bits(ssm_dtype or state_dtype)
    return round((Fraction(conv * batch) * Fraction(bits_conv) + Fraction(ssm * batch) * Fraction(bits_ssm)) / 8)


def _whole(name: str, value) -> int:
    """``value`` as an int >= 1 (ints and integral numpy ints; not bools, floats or strings)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r:.40}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n
