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

from calc.arch.kinds import MLA, Attention
from calc.dtypes import dtype_bits
from calc.models import ModelSpec
from calc.parallel import state_elements_on_gpu

#: dtype of the conv state (the layer's activations) when it is not given: transformers keeps it in the
#: model's dtype; the recurrent (SSM / DeltaNet) state is kept in fp32 (measured: tests/test_kvcache_arch.py).
CONV_STATE_DTYPE = "bf16"
SSM_STATE_DTYPE = "fp32"


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


def kv_layer_bytes(spec: ModelSpec, batch: int, seq_len: int, kv_dtype: str = "bf16",
                   mla_compressed: bool = True, hf_window: bool = False) -> list[int]:
    """``kv_cache_bytes`` layer by layer (index = layer; 0 for a layer without attention). Computed per
    distinct layer kind and spread over the pattern, so a 10,000-layer config costs one list."""
    batch = _whole("batch", batch)
    seq_len = _whole("sequence length", seq_len)
    bits = dtype_bits(kv_dtype)
    per_kind = [round(Fraction(b.kv_elements_per_token(mla_compressed) * b.cached_positions(seq_len, hf_window)
                               * batch) * Fraction(bits) / 8) for b in spec.layout.kinds]
    return [per_kind[k] for k in spec.layout.pattern]


def kv_groups(spec: ModelSpec, mla_compressed: bool = True, tp: int = 1) -> list[tuple[int, int | None]]:
    """The cache as ``(elements per token, position cap)`` pairs, one per distinct cap (``None``: grows with the
    context; a window or chunk otherwise), summed over the layers and per GPU of a ``tp``-way split.

    bytes(context) = sum over pairs of elements x min(context, cap) x batch x bits / 8: what the
    vectorized sweeps (memory grids, roofline decode steps) evaluate. ``tp``: an attention layer keeps
    ceil(kv_heads / tp) of its KV heads per GPU (a replica of one head when tp > kv_heads); MLA's compressed
    latent is replicated on every GPU; the decompressed MLA cache splits its heads.
    """
    tp = _whole("tp", tp)
    groups: dict[int | None, int] = {}
    for b, n in spec.layout.kind_counts():
        m = b.mixer
        e = b.kv_elements_per_token(mla_compressed)
        if not e:
            continue
        if isinstance(m, Attention) and tp > 1:
            e = -(-m.kv_heads // tp) * (m.head_dim + m.vdim)
        elif isinstance(m, MLA) and tp > 1 and not mla_compressed:
            e = -(-m.heads // tp) * (m.head_dim + m.v_head_dim)
        cap = getattr(m, "window", None) or getattr(m, "chunk", None)
        groups[cap] = groups.get(cap, 0) + n * e
    return [(e, cap) for cap, e in sorted(groups.items(), key=lambda g: (g[0] is not None, g[0] or 0))]


def kv_bytes_from_groups(groups, batch: int, seq_len: int, kv_dtype: str = "bf16") -> int:
    """Bytes of ``kv_groups(...)`` for ``batch`` sequences of ``seq_len`` tokens (exact integer arithmetic)."""
    elements = sum(e * (seq_len if cap is None else min(seq_len, cap)) for e, cap in groups)
    return round(Fraction(elements * batch) * Fraction(dtype_bits(kv_dtype)) / 8)


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


def state_bytes(spec: ModelSpec, batch: int, state_dtype: str = "bf16", ssm_dtype: str | None = None,
                tp: int = 1) -> int:
    """Bytes of the recurrent state of ``batch`` sequences (0 for a model of attention layers only). It does
    not grow with context. ``ssm_dtype``: the recurrent (SSM) state's dtype when it differs from the conv
    state's (transformers and llama.cpp keep it in fp32); default: ``state_dtype`` for both. ``tp``: per GPU
    of a tensor-parallel split: each mixer's heads / groups / channels divided by ``tp`` (``calc.parallel.
    mixer_on_gpu``; a unit tp does not divide, Mamba-2's single group, is replicated).

    >>> from calc.models import ModelSpec
    >>> m = ModelSpec.from_hf_config({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    ...     "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256})
    >>> state_bytes(m, 8)  # attention only: no state
    0
    """
    return sum(state_layer_bytes(spec, batch, state_dtype, ssm_dtype, tp))


def state_layer_bytes(spec: ModelSpec, batch: int, state_dtype: str = "bf16", ssm_dtype: str | None = None,
                      tp: int = 1) -> list[int]:
    """``state_bytes`` layer by layer (index = layer; 0 for an attention layer)."""
    batch = _whole("batch", batch)
    tp = _whole("tp", tp)
    bits_conv = Fraction(dtype_bits(state_dtype))
    bits_ssm = Fraction(dtype_bits(ssm_dtype or state_dtype))
    per_kind = []
    for b in spec.layout.kinds:
        conv, ssm = state_elements_on_gpu(b, tp)
        per_kind.append(round((conv * batch * bits_conv + ssm * batch * bits_ssm) / 8))
    return [per_kind[k] for k in spec.layout.pattern]


def attention_kinds(spec: ModelSpec) -> list[tuple[int, int, int | None, int | None]]:
    """(score width, layers, window, chunk) per attention layer kind of the layout, for attention FLOPs:
    width = heads x (d_qk + d_v) (QK^T and softmax x V per attended position); MLA's d_qk = nope + rope,
    d_v = v_head_dim. Recurrent layers (Mamba, DeltaNet) have none."""
    out = []
    for b, n in spec.layout.kind_counts():
        m = b.mixer
        if isinstance(m, Attention):
            out.append((m.heads * (m.head_dim + m.vdim), n, m.window, m.chunk))
        elif isinstance(m, MLA):
            out.append((m.heads * (m.head_dim + m.v_head_dim), n, m.window, None))
    return out


def mixer_label(mixer) -> str:
    """A layer kind's token mixer in words: what its cache holds and how far it reaches."""
    name = type(mixer).__name__
    if isinstance(mixer, Attention):
        heads = ("MHA" if mixer.kv_heads == mixer.heads else "MQA" if mixer.kv_heads == 1 else "GQA")
        out = f"attention ({heads}, {mixer.kv_heads} KV heads x {mixer.head_dim})"
        if mixer.window:
            out += f", sliding window {mixer.window:,}"
        if mixer.chunk:
            out += f", chunked {mixer.chunk:,}"
        if not mixer.rope:
            out += ", no RoPE"
        if mixer.sinks:
            out += ", sinks"
        return out
    if isinstance(mixer, MLA):
        return f"MLA (latent {mixer.kv_lora_rank} + RoPE key {mixer.qk_rope_head_dim})"
    return {"Mamba": "Mamba (conv + SSM state)", "Mamba2": "Mamba-2 (conv + SSM state)",
            "GatedDeltaNet": "gated DeltaNet (conv + delta-rule state)",
            "LinearAttention": "lightning attention (K^T V state)", "NoneType": "no token mixer"}.get(name, name)


def kind_rows(spec: ModelSpec, kv_dtype: str = "bf16", state_dtype: str = SSM_STATE_DTYPE,
              mla_compressed: bool = True) -> list[dict]:
    """One row per distinct token mixer of the layout (feed-forward differences merged): layers, what a token
    adds to the cache, how many positions a layer keeps (``None``: the whole context; 0: none, a recurrent
    layer), and the fixed state one sequence holds (all layers of the row together, bytes; the conv state in
    ``CONV_STATE_DTYPE``)."""
    bits_kv = Fraction(dtype_bits(kv_dtype))
    bits_c, bits_s = Fraction(dtype_bits(CONV_STATE_DTYPE)), Fraction(dtype_bits(state_dtype))
    rows: dict = {}
    for b, n in spec.layout.kind_counts():
        label = mixer_label(b.mixer) + (" beside " + mixer_label(b.parallel) if b.parallel is not None else "")
        row = rows.setdefault((b.mixer, b.parallel), {"layers": 0, "mixer": label, "kv_bytes_per_token": 0,
                                        "positions_kept": None, "state_bytes_per_sequence": 0})
        row["layers"] += n
        row["kv_bytes_per_token"] += round(n * b.kv_elements_per_token(mla_compressed) * bits_kv / 8)
        conv, ssm = b.state_elements()
        row["state_bytes_per_sequence"] += round(n * (conv * bits_c + ssm * bits_s) / 8)
        if b.is_attention:
            row["positions_kept"] = getattr(b.mixer, "window", None) or getattr(b.mixer, "chunk", None)
        else:
            row["positions_kept"] = 0
    return list(rows.values())


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
