"""Inference speed from a roofline: prefill is bounded by compute, decode by bytes moved per step.

A step of a transformer forward takes at least ``max(FLOPs / throughput, bytes / bandwidth)``
(Williams et al. 2009 "Roofline"; for LLM inference: Pope et al. 2022 "Efficiently Scaling
Transformer Inference" sec. 2-3, and Kipply 2022 "Transformer inference arithmetic"). These are
*lower bounds* on time with the given throughput and bandwidth: real engines add kernel launches,
sampling and scheduling. Feed them the datasheet peaks for a ceiling, or the figures measured on
the Benchmark page (``measure/``) for a number this hardware can reach in a matmul and a copy.

Conventions (each function states its own formula):
- FLOPs: 2 per multiply-add. A token costs 2 FLOPs per weight it multiplies (Kaplan et al. 2020
  eq. 2.2 / Table 1): every active parameter except the embedding table (a lookup) and the norms
  (element-wise); biases and routers are counted like weights (a rounding error). The output head
  is counted apart: 2 x vocab x hidden per position whose logits are computed.
- Attention scores and values: for one query attending to ``c`` positions, per layer
  ``2 x heads x (d_qk + d_v) x c`` (QK^T and AV; Kaplan Table 1 lists only QK^T, the "2 n_ctx d_attn"
  term, which undercounts by AV). Each attention layer kind counts its own heads and head sizes
  (``calc/arch`` layout); sliding-window layers attend to ``min(c, window)``, chunked-attention layers
  (Llama 4) to the positions of the current chunk, ``(c - 1) mod chunk + 1``. Recurrent layers (Mamba,
  gated DeltaNet) have no attention term: their state update is O(state) per token, a few FLOPs per
  state element, below 1% of their projections' 2 x params, and is not counted.
- Prefill counts the causal half (a FlashAttention kernel skips masked blocks) and computes logits
  for the last position only (what serving engines such as vLLM do); ``causal=False`` and
  ``all_logits=True`` give what eager ``transformers`` multiplies, and the tests hold those to
  ``torch.utils.flop_counter.FlopCounterMode`` on real models.
- Bytes per decode step: the weights read once for the whole batch plus every sequence's KV cache
  (``calc.kvcache.kv_groups``: per layer kind, capped by its window or chunk) and recurrent state
  (``calc.kvcache.state_bytes``: conv state in bf16, SSM / DeltaNet state in fp32, read once per step).
  Weights read = all weights except the embedding table (only the looked-up rows are read; a tied
  table is read whole as the output head). For MoE, a step with T tokens touches on average
  ``E (1 - (1 - k/E)^T)`` of the E routed experts per layer (uniform, independent routing; real routers
  are less even, so fewer), which is k for one token and tends to all E for large batches.
- Decode: prefill yields the first output token (time to first token = prefill time, no queueing);
  each further token is one decode step at a context one longer. Block scales of int4/int8 weights
  and activation traffic are not counted.
- Tensor parallelism over ``tp`` GPUs (Megatron-LM's split, Shoeybi et al. 2019 sec. 3, as vLLM runs it): every
  figure is per GPU. Weights stored and read split evenly (/ tp; the replicated norms are a rounding error), the
  KV cache keeps ceil(kv_heads / tp) heads per GPU (``calc.kvcache.kv_groups``; MLA's latent is replicated), the
  recurrent state splits its channels, FLOPs split / tp. Each layer adds two all-reduces (after attention and
  after the MLP) of ``tokens x hidden x 2 B`` (bf16 activations); a ring all-reduce of S bytes moves
  ``2 (tp - 1) / tp x S`` per GPU at the link's bus bandwidth (NVIDIA/nccl-tests ``doc/PERFORMANCE.md``,
  "busbw"). This time is added to the step's roofline (no overlap; per-call latency not counted: a lower
  bound like the rest).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace

import numpy as np

from calc.dtypes import dtype_bits
from calc.kvcache import (
    CONV_STATE_DTYPE,
    SSM_STATE_DTYPE,
    attention_kinds,
    kv_bytes_from_groups,
    kv_cache_bytes,
    kv_groups,
    state_bytes,
)
from calc.models import ModelSpec, param_counts

MAX_BATCH = 65_536
MAX_TOKENS = 10_000_000
MAX_TP = 1024
#: Bytes of one activation element in the tensor-parallel all-reduces (bf16/fp16 activations).
ALLREDUCE_ELEMENT_BYTES = 2
#: Weight formats the speed estimate accepts (bits from calc.dtypes; scales not counted).
WEIGHT_DTYPES = ("fp32", "bf16", "fp16", "fp8_e4m3", "int8", "int4")
KV_DTYPES = ("fp32", "bf16", "fp16", "fp8_e4m3", "int8", "int4")


def _whole(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number in [{lo:,}, {hi:,}], got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number in [{lo:,}, {hi:,}], got {value!r:.40}") from None
    if not lo <= n <= hi:
        raise ValueError(f"{name} must be in [{lo:,}, {hi:,}], got {n:,}")
    return n


def _positive(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r:.40}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r:.40}")
    return x


@dataclass(frozen=True)
class Hardware:
    """What the roofline divides by: matmul FLOP/s of the compute dtype and memory bandwidth (bytes/s)."""

    flops_per_s: float
    bandwidth_bytes_per_s: float
    source: str = "datasheet"
    #: GPU-to-GPU bus bandwidth (bytes/s, one direction) for tensor parallelism's all-reduces; needed when tp > 1
    link_bytes_per_s: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "flops_per_s", _positive("throughput (FLOP/s)", self.flops_per_s))
        object.__setattr__(self, "bandwidth_bytes_per_s",
                           _positive("bandwidth (bytes/s)", self.bandwidth_bytes_per_s))
        if self.link_bytes_per_s is not None:
            object.__setattr__(self, "link_bytes_per_s", _positive("link bandwidth (bytes/s)", self.link_bytes_per_s))


@dataclass(frozen=True)
class ServingSetup:
    """One batch of ``batch`` sequences, each a prompt of ``prompt_tokens`` then ``output_tokens`` generated."""

    batch: int = 1
    prompt_tokens: int = 1024
    output_tokens: int = 256
    weight_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    tp: int = 1  # tensor-parallel GPUs (module docstring)

    def __post_init__(self):
        object.__setattr__(self, "batch", _whole("batch", self.batch, 1, MAX_BATCH))
        object.__setattr__(self, "tp", _whole("tensor-parallel degree", self.tp, 1, MAX_TP))
        object.__setattr__(self, "prompt_tokens", _whole("prompt tokens", self.prompt_tokens, 1, MAX_TOKENS))
        object.__setattr__(self, "output_tokens", _whole("output tokens", self.output_tokens, 2, MAX_TOKENS))
        for field_name, allowed in (("weight_dtype", WEIGHT_DTYPES), ("kv_dtype", KV_DTYPES)):
            value = getattr(self, field_name)
            if value not in allowed:
                raise ValueError(f"{field_name.replace('_', ' ')} must be one of {', '.join(allowed)}, got {value!r:.40}")

    @property
    def final_context(self) -> int:
        """Positions cached when the last output token has been generated."""
        return self.prompt_tokens + self.output_tokens - 1


# ----- FLOPs ---------------------------------------------------------------------------------
def head_params(spec: ModelSpec) -> int:
    """Weights of the output head, tied or not: vocab x hidden."""
    return spec.vocab_size * spec.hidden_size


def matmul_params_per_token(spec: ModelSpec) -> int:
    """Parameters one token multiplies in the decoder layers (active experts only), head excluded.

    = active - embeddings - norms - output head (param_counts; ``calc/models.py``).

    >>> from calc.presets import get_preset
    >>> matmul_params_per_token(get_preset("Meta-Llama-3-8B"))  # 32 x 218,103,808 per layer
    6979321856
    """
    c = param_counts(spec)
    return c.active - c.embeddings - c.norms - c.output_head


def _attn_dims(spec: ModelSpec) -> tuple[int, int]:
    """(d_qk, d_v) per query head."""
    if spec.is_mla:
        return spec.qk_nope_head_dim + spec.qk_rope_head_dim, spec.v_head_dim
    return spec.head_dim, spec.head_dim


def attention_flops(spec: ModelSpec, new_tokens: int, past_tokens: int = 0, causal: bool = True) -> int:
    """QK^T and AV FLOPs of one sequence: ``new_tokens`` queries after ``past_tokens`` cached positions.

    Per layer, query i (1-based) attends to ``past + i`` positions (``min(., window)`` on sliding
    layers): 2 x heads x (d_qk + d_v) FLOPs per position. ``causal=False`` counts what eager attention
    multiplies: every query against all ``past + new`` positions (the mask is applied afterwards).

    >>> from calc.presets import get_preset
    >>> attention_flops(get_preset("Meta-Llama-3-8B"), 1, 8191)  # 32 x 2 x 32 x 256 x 8192
    4294967296
    """
    new_tokens = _whole("new tokens", new_tokens, 1, MAX_TOKENS)
    past_tokens = _whole("past tokens", past_tokens, 0, MAX_TOKENS) if past_tokens else 0
    total = past_tokens + new_tokens
    flops = 0
    for per_position, n, window, chunk in _attention_kinds(spec):
        if not causal:
            positions = new_tokens * total
        elif chunk:
            positions = _sum_chunk(past_tokens + 1, total, chunk)
        elif window is None:  # sum_{i=1..n} (past + i)
            positions = new_tokens * past_tokens + new_tokens * (new_tokens + 1) // 2
        else:
            positions = _sum_min(past_tokens + 1, total, window)
        flops += per_position * n * positions
    return flops


def _attention_kinds(spec: ModelSpec) -> list[tuple[int, int, int | None, int | None]]:
    """(FLOPs per attended position, layers, window, chunk) per attention layer kind (``kvcache.attention_kinds``,
    2 FLOPs per multiply-add)."""
    return [(2 * w, n, win, ch) for w, n, win, ch in attention_kinds(spec)]


def _sum_chunk(lo: int, hi: int, ch: int) -> int:
    """sum_{c=lo..hi} ((c - 1) mod ch + 1): positions a query at 1-based position c sees in its chunk."""
    def upto(x: int) -> int:  # sum_{c=1..x}
        full, rest = divmod(x, ch)
        return full * ch * (ch + 1) // 2 + rest * (rest + 1) // 2
    return upto(hi) - upto(lo - 1)


def _sum_min(lo: int, hi: int, w: int) -> int:
    """sum_{c=lo..hi} min(c, w)."""
    below_hi = min(hi, w)
    s = (below_hi * (below_hi + 1) // 2 - (lo - 1) * lo // 2) if lo <= below_hi else 0
    return s + max(0, hi - max(lo - 1, w)) * w


def prefill_flops(spec: ModelSpec, tokens: int, causal: bool = True, all_logits: bool = False) -> int:
    """Forward FLOPs of one prompt of ``tokens``: 2 x matmul params x tokens + attention + head.

    The head is 2 x vocab x hidden for the last position (``all_logits=False``, serving engines) or
    for every position (eager ``transformers``).
    """
    tokens = _whole("prompt tokens", tokens, 1, MAX_TOKENS)
    logits = tokens if all_logits else 1
    return (2 * matmul_params_per_token(spec) * tokens + attention_flops(spec, tokens, 0, causal)
            + 2 * head_params(spec) * logits)


def decode_flops(spec: ModelSpec, context: int) -> int:
    """FLOPs of one sequence's decode step whose new token attends to ``context`` positions (itself included).

    >>> from calc.presets import get_preset
    >>> spec = get_preset("Meta-Llama-3-8B")
    >>> decode_flops(spec, 1) == 2 * (matmul_params_per_token(spec) + 128256 * 4096) + 32 * 2 * 32 * 256
    True
    """
    context = _whole("context", context, 1, 2 * MAX_TOKENS)
    return 2 * matmul_params_per_token(spec) + attention_flops(spec, 1, context - 1) + 2 * head_params(spec)


# ----- bytes ---------------------------------------------------------------------------------
def expected_experts_touched(spec: ModelSpec, tokens: float) -> float:
    """Mean distinct routed experts per MoE layer when ``tokens`` tokens each pick k of E uniformly.

    E (1 - (1 - k/E)^T): each expert is missed by one token with probability 1 - k/E.

    >>> from calc.presets import get_preset
    >>> expected_experts_touched(get_preset("Mixtral-8x7B-v0.1"), 1)
    2.0
    """
    if not spec.is_moe:
        return 0.0
    e, k = spec.num_experts, spec.experts_per_token
    return e * (1.0 - (1.0 - k / e) ** tokens)


def weight_bytes_read(spec: ModelSpec, tokens: float, weight_dtype: str = "bf16") -> float:
    """Weight bytes one forward step over ``tokens`` tokens (all sequences together) reads.

    (total - embeddings - routed experts + vocab x hidden if tied + tokens x hidden looked-up rows
    + per-expert params x MoE layers x experts touched) x bits / 8.
    """
    c = param_counts(spec)
    tied_head = head_params(spec) if spec.tie_embeddings else 0
    # towers (vision / audio encoders) are not read per decoded token
    params = (c.total - c.towers - c.embeddings - c.experts + tied_head
              + min(tokens, spec.vocab_size) * spec.hidden_size)
    if spec.is_moe and c.experts:
        per_expert_layer = c.experts / (spec.num_experts * spec.num_moe_layers)
        params += per_expert_layer * spec.num_moe_layers * expected_experts_touched(spec, tokens)
    return params * dtype_bits(weight_dtype) / 8


def weight_bytes_stored(spec: ModelSpec, weight_dtype: str = "bf16", tp: int = 1) -> int:
    """Bytes the weights occupy per GPU: total params x bits / 8 / tp, rounded up (no quantization scales)."""
    return math.ceil(round(param_counts(spec).total * dtype_bits(weight_dtype) / 8) / tp)


def _kv_stored(spec: ModelSpec, batch: int, context: int, kv_dtype: str, tp: int) -> int:
    """KV-cache bytes per GPU at ``context`` (``calc.kvcache``: layer by layer at tp = 1, its head split otherwise)."""
    if tp == 1:
        return kv_cache_bytes(spec, batch, context, kv_dtype)
    return kv_bytes_from_groups(kv_groups(spec, tp=tp), batch, context, kv_dtype)


def kv_bytes_at(spec: ModelSpec, batch: int, contexts, kv_dtype: str = "bf16", tp: int = 1) -> np.ndarray:
    """KV-cache bytes of ``batch`` sequences at each context length in ``contexts`` (vectorized).

    Same formula as ``calc.kvcache.kv_cache_bytes`` (the tests hold them equal): per layer elements per
    token x cached positions (window-capped) x batch x bits / 8, as float64; per GPU of a ``tp``-way split.
    """
    c = np.asarray(contexts, dtype=np.float64)
    elements = np.zeros_like(c)
    for e, cap in kv_groups(spec, tp=tp):
        elements = elements + e * (c if cap is None else np.minimum(c, cap))
    return elements * batch * dtype_bits(kv_dtype) / 8


def state_bytes_per_sequence(spec: ModelSpec, tp: int = 1) -> int:
    """Recurrent state of one sequence (0 without Mamba / DeltaNet layers): conv state in bf16, SSM state in
    fp32, as ``transformers`` keeps them (``calc.kvcache``); fixed, whatever the context. Per GPU of ``tp``."""
    return state_bytes(spec, 1, CONV_STATE_DTYPE, SSM_STATE_DTYPE, tp=tp)


def allreduce_s(spec: ModelSpec, tokens: float, tp: int, link_bytes_per_s: float | None) -> float:
    """Seconds of tensor parallelism's all-reduces in one forward over ``tokens`` tokens (all sequences together).

    2 per layer (after attention, after the MLP) of ``tokens x hidden x 2 B``, each moving ``2 (tp - 1) / tp`` of
    its bytes per GPU at the bus bandwidth (ring all-reduce; NVIDIA/nccl-tests ``doc/PERFORMANCE.md``).
    0 for tp = 1.

    >>> from calc.presets import get_preset
    >>> round(allreduce_s(get_preset("Meta-Llama-3-70B"), 1, 2, 450e9) * 1e6, 4)  # 160 x 8192 x 2 B / 450 GB/s, us
    5.8254
    """
    if tp == 1:
        return 0.0
    if link_bytes_per_s is None:
        raise ValueError(f"tp={tp} needs the GPU link bandwidth (GB/s) for its all-reduces")
    size = tokens * spec.hidden_size * ALLREDUCE_ELEMENT_BYTES
    return 2 * spec.num_layers * 2 * (tp - 1) / tp * size / link_bytes_per_s


# ----- the estimate --------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeedEstimate:
    """Roofline times of one batch. Seconds, FLOPs, bytes; ``*_bound`` names the binding roof."""

    prefill_flops: int
    prefill_bytes: float
    prefill_s: float
    prefill_bound: str
    decode_steps: int
    decode_s: float
    decode_memory_s: float  # sum over steps of bytes / bandwidth
    decode_compute_s: float  # sum over steps of FLOPs / throughput
    decode_bound: str  # the larger of the two sums
    weights_read_per_step_bytes: float
    kv_read_first_step_bytes: float
    kv_read_last_step_bytes: float
    weights_stored_bytes: int
    kv_stored_bytes: int  # at the final context
    batch: int
    state_stored_bytes: int = 0  # recurrent state of the batch (fixed)
    tp: int = 1  # every *_bytes / FLOPs figure is per GPU of this tensor-parallel split
    prefill_allreduce_s: float = 0.0  # included in prefill_s
    decode_allreduce_s: float = 0.0  # included in decode_s (sum over steps)

    @property
    def ttft_s(self) -> float:
        """Time to first token: the prefill of the batch (no queueing, no network)."""
        return self.prefill_s

    @property
    def tokens_per_s_per_seq(self) -> float:
        """Decode tokens per second one sequence sees."""
        return self.decode_steps / self.decode_s

    @property
    def tokens_per_s_total(self) -> float:
        return self.batch * self.tokens_per_s_per_seq

    @property
    def end_to_end_s(self) -> float:
        return self.prefill_s + self.decode_s

    @property
    def memory_bytes(self) -> int:
        """Weights + KV cache at the end + recurrent state (activations and runtime overhead not counted)."""
        return self.weights_stored_bytes + self.kv_stored_bytes + self.state_stored_bytes


def _decode_profile(spec: ModelSpec, setup: ServingSetup) -> tuple[np.ndarray, np.ndarray]:
    """Per decode step, for one sequence, per GPU: (KV bytes read, FLOPs). Steps attend to c = prompt + 1 ... final
    context."""
    contexts = np.arange(setup.prompt_tokens + 1, setup.final_context + 1, dtype=np.float64)
    kv = kv_bytes_at(spec, 1, contexts - 1, setup.kv_dtype, setup.tp) + state_bytes_per_sequence(spec, setup.tp)
    attention = np.zeros_like(contexts)
    for per_position, n, window, chunk in _attention_kinds(spec):
        if chunk:
            positions = (contexts - 1) % chunk + 1
        else:
            positions = contexts if window is None else np.minimum(contexts, window)
        attention = attention + per_position * n * positions
    flops = (2 * matmul_params_per_token(spec) + 2 * head_params(spec) + attention) / setup.tp
    return kv, flops


def _decode_sums(spec: ModelSpec, setup: ServingSetup, hw: Hardware, batch: int,
                 profile: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float, float]:
    """(time, memory time, compute time) summed over the decode steps of ``batch`` sequences; time includes the
    tensor-parallel all-reduces of each step."""
    kv, flops = profile if profile is not None else _decode_profile(spec, setup)
    mem_s = (weight_bytes_read(spec, batch, setup.weight_dtype) / setup.tp + batch * kv) / hw.bandwidth_bytes_per_s
    comp_s = batch * flops / hw.flops_per_s
    comm_s = allreduce_s(spec, batch, setup.tp, hw.link_bytes_per_s) * len(kv)
    return float(np.maximum(mem_s, comp_s).sum()) + comm_s, float(mem_s.sum()), float(comp_s.sum())


def _decode_sums_by_batch(spec: ModelSpec, setup: ServingSetup, hw: Hardware, batches: np.ndarray,
                          profile: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_decode_sums`` for every batch size in ``batches``, as three arrays, without a pass over the steps per batch.

    Step i of a batch b reads (W_b + b kv_i) / BW and computes b f_i / F, so it is compute-bound exactly when
    d_i = f_i / F - kv_i / BW >= W_b / (b BW). With the steps ordered by d_i (descending; already so, or reversed,
    for a model whose KV and attention both grow with the context alone) each batch's compute-bound steps are a
    prefix, and prefix sums of f / F and suffix sums of kv / BW give its sum of the larger roof in O(log steps):
    one sort of the steps instead of one NumPy pass over them per batch (21 for the page's sweep; 24 ms of its
    rerun at a 131k-token output, issue 18). The sums are the same up to rounding (summation order; tests/test_speed.py
    holds them to a plain loop over the steps).
    """
    kv, flops = profile
    steps = len(kv)
    kv_s, flop_s = kv / hw.bandwidth_bytes_per_s, flops / hw.flops_per_s
    d = flop_s - kv_s
    diffs = np.diff(d)
    if np.all(diffs <= 0):
        order = None
    elif np.all(diffs >= 0):
        order = slice(None, None, -1)
    else:
        order = np.argsort(-d, kind="stable")
    if order is not None:
        d, kv_s, flop_s = d[order], kv_s[order], flop_s[order]
    zero = np.zeros(1)
    flops_before = np.concatenate((zero, np.cumsum(flop_s)))  # [n]: the first n steps' f / F
    kv_from = np.concatenate((np.cumsum(kv_s[::-1])[::-1], zero))  # [n]: steps n... kv / BW
    b = np.asarray(batches, dtype=np.float64)
    weights_s = np.array([weight_bytes_read(spec, int(x), setup.weight_dtype) / setup.tp for x in batches]
                         ) / hw.bandwidth_bytes_per_s
    comm = np.array([allreduce_s(spec, int(x), setup.tp, hw.link_bytes_per_s) * steps for x in batches])
    n = np.searchsorted(-d, -weights_s / b, side="right")  # compute-bound steps of each batch (d descending)
    t = b * flops_before[n] + (steps - n) * weights_s + b * kv_from[n]
    return t + comm, steps * weights_s + b * kv_from[0], b * flops_before[-1]


def estimate(spec: ModelSpec, setup: ServingSetup, hw: Hardware,
             _profile: tuple[np.ndarray, np.ndarray] | None = None) -> SpeedEstimate:
    """Prefill and decode roofline of ``setup`` on ``hw``.

    prefill_s = max(batch x prefill_flops / F, (weights read + KV written) / BW) + all-reduces;
    decode_s = sum over steps of max(batch x decode_flops(c) / F, (weights read + KV(c - 1)) / BW) + all-reduces,
    c = prompt + 1 ... prompt + output - 1. With ``tp > 1`` FLOPs and bytes are per GPU (module docstring).
    ``_profile`` is ``_decode_profile(spec, setup)`` where the caller already has it (``estimate_and_sweep``).
    """
    b, tp = setup.batch, setup.tp
    p_flops = b * prefill_flops(spec, setup.prompt_tokens)
    if tp > 1:
        p_flops = p_flops / tp
    state = b * state_bytes_per_sequence(spec, tp)
    p_bytes = (weight_bytes_read(spec, b * setup.prompt_tokens, setup.weight_dtype) / tp
               + float(kv_bytes_at(spec, b, setup.prompt_tokens, setup.kv_dtype, tp)) + state)
    p_comp, p_mem = p_flops / hw.flops_per_s, p_bytes / hw.bandwidth_bytes_per_s
    p_comm = allreduce_s(spec, b * setup.prompt_tokens, tp, hw.link_bytes_per_s)
    d_s, d_mem, d_comp = _decode_sums(spec, setup, hw, b, _profile)
    d_comm = allreduce_s(spec, b, tp, hw.link_bytes_per_s) * (setup.output_tokens - 1)
    return SpeedEstimate(
        prefill_flops=p_flops, prefill_bytes=p_bytes, prefill_s=max(p_comp, p_mem) + p_comm,
        prefill_bound="compute" if p_comp >= p_mem else "memory",
        decode_steps=setup.output_tokens - 1, decode_s=d_s, decode_memory_s=d_mem, decode_compute_s=d_comp,
        decode_bound="compute" if d_comp >= d_mem else "memory",
        weights_read_per_step_bytes=weight_bytes_read(spec, b, setup.weight_dtype) / tp,
        kv_read_first_step_bytes=float(kv_bytes_at(spec, b, setup.prompt_tokens, setup.kv_dtype, tp)),
        kv_read_last_step_bytes=float(kv_bytes_at(spec, b, setup.final_context - 1, setup.kv_dtype, tp)),
        weights_stored_bytes=weight_bytes_stored(spec, setup.weight_dtype, tp),
        kv_stored_bytes=_kv_stored(spec, b, setup.final_context, setup.kv_dtype, tp),
        batch=b, state_stored_bytes=state, tp=tp, prefill_allreduce_s=p_comm, decode_allreduce_s=d_comm,
    )


@dataclass(frozen=True)
class BatchSweep:
    """Decode throughput against batch size (arrays share the ``batch`` axis)."""

    batch: np.ndarray
    tokens_per_s_total: np.ndarray
    tokens_per_s_per_seq: np.ndarray
    memory_s: np.ndarray  # decode time if only bandwidth limited
    compute_s: np.ndarray  # decode time if only compute limited
    compute_bound_from: int | None  # smallest batch in the sweep whose decode is compute-bound


def batch_sweep(spec: ModelSpec, setup: ServingSetup, hw: Hardware, max_batch: int = 1024,
                _profile: tuple[np.ndarray, np.ndarray] | None = None) -> BatchSweep:
    """Decode throughput for batch = 1, 2, 3, 4, 6, 8, ... up to ``max_batch`` (the rest of ``setup`` fixed).

    Throughput grows almost linearly while decode is memory-bound (the weights are read once for
    the whole batch) and flattens once FLOPs dominate: why servers batch continuously. ``_profile`` as in
    ``estimate``.
    """
    max_batch = _whole("largest batch", max_batch, 1, MAX_BATCH)
    batches = batch_grid(max_batch)
    profile = _profile if _profile is not None else _decode_profile(spec, setup)
    t, mem, comp = _decode_sums_by_batch(spec, setup, hw, batches, profile)
    steps = setup.output_tokens - 1
    bound = np.nonzero(comp >= mem)[0]
    return BatchSweep(batch=batches, tokens_per_s_total=batches * steps / t, tokens_per_s_per_seq=steps / t,
                      memory_s=mem, compute_s=comp,
                      compute_bound_from=int(batches[bound[0]]) if bound.size else None)


def estimate_and_sweep(spec: ModelSpec, setup: ServingSetup, hw: Hardware,
                       max_batch: int = 1024) -> tuple[SpeedEstimate, BatchSweep]:
    """``estimate(spec, setup, hw)`` and ``batch_sweep(spec, setup, hw, max_batch)``, the per-step decode profile
    (KV bytes and FLOPs of every step) computed once for both: the Inference speed page shows both on every rerun."""
    profile = _decode_profile(spec, setup)
    return estimate(spec, setup, hw, profile), batch_sweep(spec, setup, hw, max_batch, profile)


def batch_grid(max_batch: int) -> np.ndarray:
    """1, 2, 3, 4, 6, 8, 12, 16, ... (powers of two and their midpoints) up to ``max_batch``, which is included."""
    grid = {1, max_batch}
    p = 1
    while p <= max_batch:
        grid.update(x for x in (p, 3 * p // 2) if 1 <= x <= max_batch)
        p *= 2
    return np.array(sorted(grid), dtype=np.int64)


def max_batch_in_memory(spec: ModelSpec, setup: ServingSetup, memory_bytes: float) -> int:
    """Largest batch whose weights + KV cache at the final context fit in ``memory_bytes`` per GPU (0: weights alone
    do not fit). Activations, CUDA context and fragmentation are not counted, so real servers fit fewer."""
    free = memory_bytes - weight_bytes_stored(spec, setup.weight_dtype, setup.tp)
    per_seq = (_kv_stored(spec, 1, setup.final_context, setup.kv_dtype, setup.tp)
               + state_bytes_per_sequence(spec, setup.tp))
    if free <= 0:
        return 0
    return int(free // per_seq) if per_seq else MAX_BATCH


def memory_per_gpu(spec: ModelSpec, setup: ServingSetup) -> int:
    """Weights + KV cache at the final context + recurrent state of the batch, per GPU of ``setup.tp`` (what
    ``SpeedEstimate.memory_bytes`` reports, without computing the times)."""
    return (weight_bytes_stored(spec, setup.weight_dtype, setup.tp)
            + _kv_stored(spec, setup.batch, setup.final_context, setup.kv_dtype, setup.tp)
            + setup.batch * state_bytes_per_sequence(spec, setup.tp))


def smallest_tp_that_fits(spec: ModelSpec, setup: ServingSetup, memory_bytes: float, tps) -> int | None:
    """The fewest GPUs, among the tensor-parallel degrees ``tps`` (``calc.solvers.valid_tps``), whose per-GPU
    weights + KV cache + state fit ``memory_bytes``; None if none does."""
    for tp in sorted(tps):
        if memory_per_gpu(spec, replace(setup, tp=tp)) <= memory_bytes:
            return tp
    return None
