"""KV-cache bytes: what an inference server keeps per token of context.

Standard / GQA attention (REFERENCE.md "KV cache"; Pope et al. 2022 "Efficiently Scaling
Transformer Inference" sec. 2): per layer ``2 (K and V) x kv_heads x head_dim x bytes`` per token.
Sliding-window layers (Mistral v0.1, Gemma 2's alternate layers) hold at most ``sliding_window``
positions. MLA (DeepSeek-V2 paper sec. 2.1.2; DeepSeek-V3): the cache is the compressed latent
``kv_lora_rank`` plus the shared decoupled RoPE key ``qk_rope_head_dim`` per layer, no factor 2.

``transformers`` 5 (which the tests hold these numbers to) caches MLA compressed as well: the
latent as keys and the RoPE key as values, one head each. ``kv_cache_bytes(..., mla_compressed=False)``
gives the decompressed per-head K and V that ``transformers`` 4.x and some engines store.

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
    """Cache elements one token adds to ``layer``.

    >>> from calc.presets import get_preset
    >>> kv_elements_per_token(get_preset("Meta-Llama-3-8B"), 0)  # 2 x 8 heads x 128
    2048
    """
    if spec.is_mla:
        if mla_compressed:
            return spec.kv_lora_rank + spec.qk_rope_head_dim
        return spec.num_heads * (spec.qk_nope_head_dim + spec.qk_rope_head_dim + spec.v_head_dim)
    return 2 * spec.num_kv_heads * spec.head_dim


def cached_positions(spec: ModelSpec, layer: int, seq_len: int, hf_window: bool = False) -> int:
    """Positions ``layer`` keeps for a sequence of ``seq_len`` tokens (a window caps it; see the
    module docstring for ``hf_window``)."""
    if spec.sliding_window and spec.layer_is_sliding(layer):
        return min(seq_len, spec.sliding_window - (1 if hf_window else 0))
    return seq_len


def kv_cache_bytes(spec: ModelSpec, batch: int, seq_len: int, kv_dtype: str = "bf16",
                   mla_compressed: bool = True, hf_window: bool = False) -> int:
    """Bytes of the KV cache for ``batch`` sequences of ``seq_len`` tokens, all layers.

    bytes = sum over layers of elements_per_token x cached_positions x batch x bits / 8.

    >>> from calc.presets import get_preset
    >>> kv_cache_bytes(get_preset("Meta-Llama-3-8B"), 1, 8192)  # 32 x 2048 x 8192 x 2 B = 1 GiB
    1073741824
    """
    batch = _whole("batch", batch)
    seq_len = _whole("sequence length", seq_len)
    bits = dtype_bits(kv_dtype)
    elements = sum(kv_elements_per_token(spec, i, mla_compressed) * cached_positions(spec, i, seq_len, hf_window)
                   for i in range(spec.num_layers))
    # Exact rational arithmetic: a float product loses bytes above 2**53 and overflows for huge batches.
    return round(Fraction(elements * batch) * Fraction(bits) / 8)


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
