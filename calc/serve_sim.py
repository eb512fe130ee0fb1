"""Continuous batching under a request stream: a discrete-event simulation of one vLLM-like replica.

The scheduler (vLLM v1's, simplified): requests arrive (Poisson), wait FCFS, and are admitted while fewer than
``max_num_seqs`` run and the KV cache can hold their prompt and output (reserved whole at admission: no
preemption, a simplification). Each engine step carries every running decode (one token each) plus prompt tokens
of admitted requests up to ``max_num_batched_tokens`` in all (chunked prefill). A request's first token comes at
the end of the step that finishes its prompt (TTFT = that time - arrival); it then decodes one token per step
(TPOT = (finish - first token) / (output - 1)).

Step time is a sum of kernel rooflines (``calc/speed.py``'s conventions): the matmuls, ``max(FLOPs / (peak x
matmul_efficiency), weight bytes / (bandwidth x bandwidth_efficiency))``, then attention, ``max(attention FLOPs /
peak, KV bytes / bandwidth)``, + tensor-parallel all-reduces + a fixed overhead. FLOPs = 2 x matmul parameters per
token x tokens / tp + the head for each sequence sampled; weight bytes = weights read (MoE: experts touched by the
step's tokens) per GPU; KV bytes = every running sequence's context x bytes per cached position per rank; prefill
chunks' attention FLOPs are those of the (query, position) pairs they attend, causally (``calc.speed.attention_flops``
per pair; a stretch of full chunks of one long prompt uses their mean, exact while they are compute-bound).
Each token also pays the activation traffic of the element-wise kernels between the matmuls (norms, RoPE, KV-cache
writes, SwiGLU; a Mamba / Mamba-2 / DeltaNet layer its conv, scan and gated norm: ``activation_traffic_bytes``, each
layer by its kind) at the bandwidth, and each sequence producing a token the recurrent state its layers load and store
(``state_traffic_bytes``). These parts are added, not overlapped: an engine runs
a layer's kernels one after another on one stream (norm, QKV projection, attention over the paged KV, output
projection, norm, MLP), so the GEMMs' tensor cores idle while attention streams the KV and the element-wise kernels
move activations; one ``max`` over the whole step would overlap them. With hundreds of long-context decodes the KV
reads rival the matmuls, and with a small model the activation traffic is a tenth of the step: this is what the
published TensorRT-LLM throughputs needed (calc/serve_logs.py: 26 of 40 within 30 % with one max, 36 with the KV
reads added, 40 with the activation traffic too; nothing fitted). An
all-reduce after attention and after the MLP of each layer moves ``2 (tp - 1) / tp x tokens x hidden x 2 B``
over the GPU link (ring all-reduce, Patarasuk & Yuan 2009) plus a latency each. Decode attention FLOPs
(memory-bound: the KV bytes are counted) and the KV writes are not. Efficiencies default to typical figures
(``StepModel``), not measured ones.

Vectorized where it pays: between two events (an arrival that can be admitted, a completion, a prompt to
prefill) every step is a decode of the same sequences, so the stretch is evaluated at once with numpy
(``cumsum`` of the step times as the contexts grow) and jumped over; 10,000 requests take a few thousand events.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from calc import serve_sim_jit
from calc.arch.kinds import MLA, MLP, Attention, GatedDeltaNet, LinearAttention, Mamba, Mamba2, MoE, ShortConv
from calc.dtypes import dtype_bits
from calc.gpus import matmul_ceiling
from calc.kvcache import kv_groups
from calc.models import ModelSpec, param_counts
from calc.parallel import mixer_on_gpu
from calc.serve import state_page_bytes
from calc.speed import attention_flops, head_params, matmul_params_per_token, weight_bytes_read

#: Typical efficiencies when nothing is measured: a bf16 matmul reaches ~80 % of the H100's dense peak at best
#: (REFERENCE.md, mamf-finder) and less inside a model (FP8 GEMMs less still: ``typical_matmul_efficiency``); decode
#: kernels stream ~80 % of the datasheet bandwidth.
MATMUL_EFFICIENCY = 0.6
BANDWIDTH_EFFICIENCY = 0.8


def typical_matmul_efficiency(gpu, gemm_dtype: str) -> float:
    """``MATMUL_EFFICIENCY`` (a bf16 figure) for GEMMs in ``gemm_dtype`` on ``gpu``: scaled by the share of the datasheet
    peak that dtype's GEMMs reach at best over the share bf16's reach, both measured by mamf-finder
    (``calc.gpus.MAMF_FLOPS_PER_S``, Bekman's Machine Learning Engineering table). FP8 tensor cores stay further below
    their datasheet peak than bf16 ones (H100 SXM: 1,402.6 of 1,979 TFLOPS, 70.9 %, against 794.5 of 989, 80.3 %;
    H200 73.4 % against 80.3 %), so a model's FP8 matmuls get 0.6 x 0.883 on H100 and 0.6 x 0.914 on H200. A dtype
    or GPU without its own measurement keeps 0.6 (bf16 always does).

    >>> from calc.gpus import get_gpu
    >>> round(typical_matmul_efficiency(get_gpu("H100 SXM"), "fp8"), 3), typical_matmul_efficiency(get_gpu("H100 SXM"), "bf16")
    (0.529, 0.6)
    """
    return MATMUL_EFFICIENCY * min(1.0, matmul_ceiling(gpu, gemm_dtype) / matmul_ceiling(gpu, "bf16"))


#: NVLink 4 on H100 SXM: 900 GB/s total, 450 GB/s each way (NVIDIA H100 datasheet); ~10 us per all-reduce call.
LINK_BYTES_PER_S = 450e9
ALLREDUCE_LATENCY_S = 10e-6


@dataclass(frozen=True)
class StepModel:
    """What one engine step costs on one GPU of a ``tp``-way replica (see the module docstring). MoE: a step of T
    tokens reads ``expert_bytes x (1 - (1 - k/E)^T)`` of the routed experts (``calc.speed.expected_experts_touched``)."""

    flops_per_token: float  # matmul FLOPs per token per GPU
    head_flops: float  # per sampled sequence per GPU
    weight_bytes: float  # weights read per step apart from the routed experts
    kv_bytes_per_token: float  # KV bytes one cached position costs to read, per GPU
    flops_per_s: float
    bytes_per_s: float
    allreduce_s_per_token: float = 0.0
    allreduce_s_per_step: float = 0.0
    overhead_s: float = 0.0
    expert_bytes: float = 0.0  # all routed experts, per GPU
    expert_miss: float = 1.0  # 1 - k/E: the chance one token misses a given expert
    #: FLOPs of one (query, cached position) pair over all layers, per GPU: prefill chunks pay it for every pair they
    #: attend (causal), ``calc.speed.attention_flops`` per position (windows not applied)
    attn_flops_per_pair: float = 0.0
    #: activation bytes the element-wise kernels read and write per token, per GPU (``activation_traffic_bytes``)
    activation_bytes_per_token: float = 0.0
    #: recurrent state bytes each sequence producing a token reads and writes per step, per GPU (``state_traffic_bytes``)
    state_bytes_per_seq: float = 0.0

    @property
    def token_s(self) -> float:
        """Seconds each token of a step adds outside the matmuls and attention: its all-reduces and the element-wise
        kernels' activation traffic at the bandwidth."""
        return self.allreduce_s_per_token + self.activation_bytes_per_token / self.bytes_per_s

    def weights_read(self, tokens: int) -> float:
        return self.weight_bytes + self.expert_bytes * (1.0 - self.expert_miss ** tokens)

    def gemm_s(self, tokens: int, sampled: int) -> float:
        """The step's matmuls: compute- or weight-read-bound, ``max(FLOPs / peak, weight bytes / bandwidth)``; then
        the recurrent layers' state kernels, which load and store each sampled sequence's state (0 without them)."""
        return (max((tokens * self.flops_per_token + sampled * self.head_flops) / self.flops_per_s,
                    self.weights_read(tokens) / self.bytes_per_s) + sampled * self.state_bytes_per_seq / self.bytes_per_s)

    def time(self, tokens: int, sampled: int, kv_positions) -> np.ndarray:
        """Step time(s) for ``tokens`` tokens, ``sampled`` sequences producing a token and ``kv_positions``
        cached positions read (scalar or array): the matmuls, then attention streaming the KV (module docstring)."""
        kv = np.asarray(kv_positions, dtype=np.float64) * self.kv_bytes_per_token / self.bytes_per_s
        return (self.gemm_s(tokens, sampled) + kv + tokens * self.token_s + self.allreduce_s_per_step
                + self.overhead_s)

    def step_s(self, tokens: int, sampled: int, kv_positions: float, attn_pairs: float = 0.0) -> float:
        """``time`` for one step, in plain floats (the simulator's inner loop); ``attn_pairs``: the prefill chunks'
        (query, position) pairs, whose FLOPs bound the attention kernels with the KV reads."""
        attn = max(attn_pairs * self.attn_flops_per_pair / self.flops_per_s,
                   kv_positions * self.kv_bytes_per_token / self.bytes_per_s)
        return (self.gemm_s(tokens, sampled) + attn + tokens * self.token_s + self.allreduce_s_per_step
                + self.overhead_s)

    def decode_stretch(self, n: int, kv_positions: float, kmax: int, limit: float | None,
                       tokens: int | None = None, attn_pairs: float = 0.0) -> tuple[int, float]:
        """Up to ``kmax`` steps in which ``n`` decoding sequences, whose contexts start at ``kv_positions`` in all,
        each add a token (``tokens``: the step's tokens when prompt chunks ride along; default ``n``): (steps,
        seconds) until the step during which ``limit`` seconds pass (all ``kmax`` if None or not reached).
        Closed form: step j takes ``max(c, m0 + j dm) + a``: attention (FLOPs ``c``, KV reads ``m0 + j dm``) after
        the matmuls and all-reduces ``a``, the same every step."""
        tokens = n if tokens is None else tokens
        c = attn_pairs * self.attn_flops_per_pair / self.flops_per_s
        m0 = kv_positions * self.kv_bytes_per_token / self.bytes_per_s
        dm = n * self.kv_bytes_per_token / self.bytes_per_s
        a = (self.gemm_s(tokens, n) + tokens * self.token_s + self.allreduce_s_per_step
             + self.overhead_s)
        js = 0 if c <= m0 else (kmax if dm <= 0 else min(kmax, math.ceil((c - m0) / dm)))

        def total(k: int) -> float:
            if k <= js:
                return k * (c + a)
            return js * (c + a) + (k - js) * (m0 + a) + dm * (k - 1 + js) * (k - js) / 2

        t_max = total(kmax)
        if limit is None or t_max < limit:
            return kmax, t_max
        # The smallest k with total(k) >= limit, in closed form (linear up to js steps, then quadratic in u = k - js:
        # dm/2 u^2 + (m0 + a + dm (js - 1/2)) u = limit - js (c + a)), then stepped to the exact integer, since
        # rounding can put the root one step off (issue 18: a bisection of ~10 steps on every event before)
        if js and limit <= js * (c + a):
            k = math.ceil(limit / (c + a))
        else:
            rest, b = limit - js * (c + a), m0 + a + dm * (js - 0.5)
            u = rest / b if dm <= 0 else (math.sqrt(b * b + 2 * dm * rest) - b) / dm
            k = js + math.ceil(u)
        k = min(max(k, 1), kmax)
        while k > 1 and total(k - 1) >= limit:
            k -= 1
        while total(k) < limit:
            k += 1
        return k, total(k)


def step_model(spec: ModelSpec, flops_per_s: float, bandwidth_bytes_per_s: float, tp: int = 1,
               weights_dtype: str = "bf16", kv_dtype: str = "bf16", matmul_efficiency: float = MATMUL_EFFICIENCY,
               bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY, link_bytes_per_s: float = LINK_BYTES_PER_S,
               overhead_s: float = 0.0) -> StepModel:
    """The roofline step cost of ``spec`` on one GPU of a ``tp``-way replica (module docstring)."""
    for name, v in (("flops_per_s", flops_per_s), ("bandwidth_bytes_per_s", bandwidth_bytes_per_s),
                    ("matmul_efficiency", matmul_efficiency), ("bandwidth_efficiency", bandwidth_efficiency),
                    ("link_bytes_per_s", link_bytes_per_s)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive number, got {v!r:.40}")
    if matmul_efficiency > 1 or bandwidth_efficiency > 1:
        raise ValueError("efficiencies are shares of the peak: at most 1")
    if isinstance(tp, bool) or not isinstance(tp, int) or not 1 <= tp <= 1024:
        raise ValueError(f"tp must be a whole number in [1, 1024], got {tp!r:.40}")
    if overhead_s < 0 or not math.isfinite(overhead_s):
        raise ValueError(f"overhead_s must be >= 0, got {overhead_s!r:.40}")
    kv_per_pos = sum(e for e, cap in kv_groups(spec, tp=tp)) * dtype_bits(kv_dtype) / 8
    ar_tok = ar_step = 0.0
    if tp > 1:  # two ring all-reduces of the hidden state per layer
        ar_tok = 2 * spec.num_layers * 2 * (tp - 1) / tp * spec.hidden_size * 2 / link_bytes_per_s
        ar_step = 2 * spec.num_layers * ALLREDUCE_LATENCY_S
    experts, miss = 0.0, 1.0
    if spec.is_moe:
        experts = param_counts(spec).experts * dtype_bits(weights_dtype) / 8 / tp
        miss = 1.0 - spec.experts_per_token / spec.num_experts
    dense = weight_bytes_read(spec, 1, weights_dtype) / tp - experts * (1.0 - miss)
    return StepModel(
        flops_per_token=2 * matmul_params_per_token(spec) / tp, head_flops=2 * head_params(spec) / tp,
        weight_bytes=dense, kv_bytes_per_token=kv_per_pos,
        flops_per_s=flops_per_s * matmul_efficiency, bytes_per_s=bandwidth_bytes_per_s * bandwidth_efficiency,
        allreduce_s_per_token=ar_tok, allreduce_s_per_step=ar_step, overhead_s=overhead_s,
        expert_bytes=experts, expert_miss=miss, attn_flops_per_pair=attention_flops(spec, 1, 0) / tp,
        activation_bytes_per_token=activation_traffic_bytes(spec, tp), state_bytes_per_seq=state_traffic_bytes(spec, tp))


def activation_traffic_bytes(spec: ModelSpec, tp: int = 1) -> int:
    """Bytes of 16-bit activations the element-wise kernels of one token read and write in all layers on one GPU of a
    ``tp``-way split: the memory-bound work between the matmuls (vLLM's ``csrc`` and ``mamba`` kernels, one after
    another on the stream), each layer costed by its kinds (``calc/arch/kinds.py``; ``_mixer_traffic`` and
    ``_ffn_traffic`` per kind, ``_norm_traffic`` for the hidden-width norms, which every rank runs on the whole
    hidden state after the all-reduce). A Llama layer: two ``fused_add_rms_norm`` (read the input and the residual,
    write both: 4 h each), ``rotary_embedding`` (q and k in place: 2 (q + k)), ``reshape_and_cache`` (read k and v,
    write them to the cache: 2 (k + v)) and ``silu_and_mul`` (read gate and up, write their product: 3 f).

    >>> from calc.presets import get_preset
    >>> activation_traffic_bytes(get_preset("Meta-Llama-3-8B"))  # (8 x 4096 + 2 x 4096 + 6 x 1024 + 3 x 14336) x 32 x 2
    5767168
    """
    h = spec.hidden_size
    elements = 0
    for b, n in spec.layout.kind_counts():
        per = _norm_traffic(b, h) + _ffn_traffic(b.ffn, tp)
        for mixer in (b.mixer, b.parallel):
            per += _mixer_traffic(mixer, tp)
        elements += n * per
    return elements * 2


def _norm_traffic(block, hidden: int) -> int:
    """A layer's hidden-width norms: the first two are vLLM's ``fused_add_rms_norm`` (read input and residual, write
    both: 4 h), any further one (Gemma's post-norms) a plain ``rms_norm`` (read, write: 2 h)."""
    return 4 * hidden * min(block.norms, 2) + 2 * hidden * max(block.norms - 2, 0)


def _ffn_traffic(ffn, tp: int) -> int:
    """The activation between the feed-forward's matmuls, per GPU: gated ``silu_and_mul`` reads gate and up and writes
    their product (3 f), a plain activation reads and writes f (2 f); an MoE does it for its top-k experts and its
    shared expert (vLLM ``fused_moe`` runs the same ``silu_and_mul`` on the routed rows)."""
    if isinstance(ffn, MLP):
        return (3 if ffn.gated else 2) * -(-ffn.intermediate // tp)
    if isinstance(ffn, MoE):
        shared = _ffn_traffic(ffn.shared, tp) if ffn.shared is not None else 0
        return (3 if ffn.gated else 2) * ffn.top_k * -(-ffn.intermediate // tp) + shared
    return 0


def _mixer_traffic(mixer, tp: int) -> int:
    """Activation elements one token's token-mixer kernels read and write on one GPU, per kind, as vLLM runs them
    (``vllm/model_executor/layers/mamba/``, ``vllm/model_executor/models/``); heads and channels split by ``tp``
    (``calc.parallel.mixer_on_gpu``; KV heads replicated below tp, as vLLM's ``QKVParallelLinear``):

    - attention: ``rotary_embedding`` 2 (q + k) on RoPE layers, ``reshape_and_cache`` 2 (k + v);
    - MLA: RoPE on the heads' rope part and the shared rope key 2 (heads + 1) r, the q and kv latent RMSNorms
      2 (q_rank + kv_rank), ``concat_and_cache_mla`` 2 (kv_rank + r);
    - Mamba (``mamba_mixer.py``): ``causal_conv1d`` over x (2 d), ``selective_scan`` reading x, dt, z and B, C and
      writing y (4 d + 2 n), Jamba's dt/B/C RMSNorms 2 (dt_rank + 2 n);
    - Mamba-2 (``mamba_mixer2.py``): ``causal_conv1d`` over x, B, C (2 conv_dim), the chunked scan reading x, dt,
      B, C and writing y (2 d + heads + 2 g n), the gated RMSNorm reading y and z and writing (3 d);
    - gated DeltaNet (``qwen3_next.py``): ``causal_conv1d`` over q, k, v (2 conv_dim), ``fused_gdn_gating`` (a, b
      in, g, beta out: 4 v_heads), the delta rule reading q, k, v, g, beta and writing o (2 K + 2 V + 2 v_heads),
      the gated RMSNorm (3 V);
    - lightning attention (``minimax_text_01.py``): SiLU on q, k, v (6 w), the kernel (4 w), the norm (2 w), the
      sigmoid output gate (3 w);
    - LFM2 short conv (``short_conv.py``): B x (3 w), the conv (2 w), C x conv (3 w).

    The recurrent state each sequence reads and writes per step is ``state_traffic_bytes``, apart."""
    if mixer is None:
        return 0
    if isinstance(mixer, Attention):
        q = -(-mixer.heads // tp) * mixer.head_dim
        kvh = -(-mixer.kv_heads // tp)
        k, v = kvh * mixer.head_dim, kvh * mixer.vdim
        return (2 * (q + k) if mixer.rope else 0) + 2 * (k + v)
    if isinstance(mixer, MLA):
        r = mixer.qk_rope_head_dim
        return (2 * (-(-mixer.heads // tp) + 1) * r + 2 * (mixer.q_lora_rank + mixer.kv_lora_rank)
                + 2 * (mixer.kv_lora_rank + r))
    m = mixer_on_gpu(mixer, tp)
    if isinstance(m, Mamba):
        d, n = m.d_inner, m.d_state
        return 2 * d + 4 * d + 2 * n + (2 * (m.dt_rank + 2 * n) if m.inner_norms else 0)
    if isinstance(m, Mamba2):
        return 2 * m.conv_dim + 2 * m.d_inner + m.heads + 2 * m.n_groups * m.d_state + 3 * m.d_inner
    if isinstance(m, GatedDeltaNet):
        return 2 * m.conv_dim + 4 * m.v_heads + 2 * m.key_dim + 2 * m.value_dim + 2 * m.v_heads + 3 * m.value_dim
    if isinstance(m, LinearAttention):
        return 15 * m.heads * m.head_dim
    if isinstance(m, ShortConv):
        return 8 * m.width
    raise ValueError(f"no activation traffic rule for the token mixer {type(mixer).__name__}")


def state_traffic_bytes(spec: ModelSpec, tp: int = 1) -> int:
    """Bytes of recurrent state one sequence reads and writes per engine step on one GPU (0 without recurrent
    layers): every Mamba / Mamba-2 / DeltaNet / short-conv layer's decode kernel (``causal_conv1d_update``,
    ``selective_state_update``, ``fused_recurrent_gated_delta_rule``) loads the sequence's conv and SSM state and
    stores it back updated, 2 x the state page vLLM keeps for it (``calc.serve.state_page_bytes``: conv
    ``kernel - 1`` columns, both states in the 16-bit model dtype; a prefill chunk does the same once)."""
    return sum(2 * n * state_page_bytes(mixer_on_gpu(b.recurrent, tp))
               for b, n in spec.layout.kind_counts() if b.recurrent is not None)


@dataclass(frozen=True)
class Workload:
    """Arrival times (s, sorted), prompt and output tokens per request."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray


def poisson_workload(n: int, rate: float, prompt_tokens: int, output_tokens: int, length_cv: float = 0.0,
                     seed: int = 0) -> Workload:
    """``n`` requests arriving as a Poisson process of ``rate`` per second; lengths fixed (``length_cv`` 0) or
    gamma-distributed with those means and coefficient of variation, at least 1 prompt and 2 output tokens."""
    if not isinstance(n, int) or not 1 <= n <= 10_000_000:
        raise ValueError(f"requests must be a whole number in [1, 10,000,000], got {n!r:.40}")
    if not isinstance(rate, int | float) or not math.isfinite(rate) or not 0 < rate <= 1e7:
        raise ValueError(f"rate must be in (0, 1e7] requests/s, got {rate!r:.40}")
    for name, v in (("prompt tokens", prompt_tokens), ("output tokens", output_tokens)):
        if not isinstance(v, int) or not 1 <= v <= 10_000_000:
            raise ValueError(f"{name} must be a whole number in [1, 10,000,000], got {v!r:.40}")
    if not 0 <= length_cv <= 10:
        raise ValueError(f"length_cv must be in [0, 10], got {length_cv!r:.40}")
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate, n))

    def lengths(mean: int, lo: int) -> np.ndarray:
        if length_cv == 0:
            return np.full(n, max(mean, lo), dtype=np.int64)
        k = 1.0 / length_cv**2
        return np.maximum(np.rint(rng.gamma(k, mean / k, n)), lo).astype(np.int64)

    return Workload(arrival, lengths(prompt_tokens, 1), lengths(output_tokens, 2))


@dataclass(frozen=True)
class SimResult:
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    e2e_s: np.ndarray
    output_tokens: int
    makespan_s: float
    events: int

    @property
    def throughput_tokens_per_s(self) -> float:
        return self.output_tokens / self.makespan_s if self.makespan_s > 0 else 0.0

    def percentiles(self, q=(50, 99)) -> dict:
        """``{name: {"p50": ..., "p99": ...}}``; one ``np.percentile`` call per array for all of ``q`` (the same order
        statistics and interpolation as one call per percentile, half the time; issue 18,
        tests/test_serve_sim_exact.py)."""
        return {name: {f"p{p}": x for p, x in zip(q, np.percentile(v, q).tolist(), strict=True)}
                for name, v in (("ttft_s", self.ttft_s), ("tpot_s", self.tpot_s), ("e2e_s", self.e2e_s))}


def simulate(model: StepModel, w: Workload, max_num_seqs: int = 256, max_num_batched_tokens: int = 8192,
             kv_capacity_tokens: int | None = None, state_tokens_per_request: int = 0) -> SimResult:
    """Run ``w`` through one replica (module docstring); ``kv_capacity_tokens``: the KV cache in tokens (vLLM's
    "GPU KV cache size"; None: unbounded); ``state_tokens_per_request``: cache slots each admitted request holds
    besides its tokens (a Mamba hybrid's state blocks in the shared pool, ``ServeMemory.state_tokens_per_request``)."""
    return _simulate(model, w, max_num_seqs, max_num_batched_tokens, kv_capacity_tokens, state_tokens_per_request)


def _simulate(model: StepModel, w: Workload, max_num_seqs: int = 256, max_num_batched_tokens: int = 8192,
              kv_capacity_tokens: int | None = None, state_tokens_per_request: int = 0,
              slo_ttft_s: float | None = None, late_max: int | None = None,
              slo_tpot_s: float | None = None, a_of: dict[int, float] | None = None) -> SimResult | None:
    """``simulate``; with ``late_max``, None as soon as ``late_max`` requests are known to get their first token later
    than ``slo_ttft_s`` after they arrived, or have finished with a TPOT above ``slo_tpot_s`` (``max_rate`` needs no
    more to say no). ``a_of``: ``_run``'s decode step parts per batch size of earlier runs of the same ``model``.

    Issue 18: the same arithmetic as stepping with ``StepModel.decode_stretch`` (tests/test_serve_sim_exact.py
    holds the results equal, bit for bit, to that loop on seeded streams), with the plain decode stretch, the
    commonest event, inlined: its per-batch part ``a`` is computed once per batch size, and the closed form has
    no attention FLOPs term (``c`` = 0, so ``js`` = 0: every step is bound by its KV reads); the prefill step is
    ``StepModel.step_s`` inlined."""
    arr, p_tok_arr, o_tok_arr = w.arrival_s, w.prompt_tokens, w.output_tokens
    cap = math.inf if kv_capacity_tokens is None else kv_capacity_tokens
    _check_fits(p_tok_arr, o_tok_arr, cap, state_tokens_per_request)
    fixed = _fixed_lengths(p_tok_arr, o_tok_arr, cap)
    if fixed is not None:
        run = _fixed_run(model, arr, *fixed, max_num_seqs, max_num_batched_tokens, cap,
                         state_tokens_per_request, slo_ttft_s, late_max, slo_tpot_s, a_of, arrays=True)
    else:
        run = _run(model, arr.tolist(), p_tok_arr.tolist(), o_tok_arr.tolist(), max_num_seqs, max_num_batched_tokens,
                   cap, state_tokens_per_request, slo_ttft_s, late_max, slo_tpot_s, a_of)
    if run is None:
        return None
    first, finish, events = np.asarray(run[0], dtype=np.float64), np.asarray(run[1], dtype=np.float64), run[2]
    ttft = first - arr
    tpot = (finish - first) / np.maximum(o_tok_arr - 1, 1)
    return SimResult(ttft, tpot, finish - arr, int(o_tok_arr.sum()), float(finish.max() - arr[0]), events)


def _check_fits(p_tok_arr: np.ndarray, o_tok_arr: np.ndarray, cap: float, st: int) -> None:
    """``ValueError`` where a request of the stream and its state slots exceed a KV cache of ``cap`` tokens."""
    if np.any(p_tok_arr + o_tok_arr + st > cap):
        raise ValueError(f"a request of {int((p_tok_arr + o_tok_arr).max()):,} tokens"
                         + (f" and its state ({st:,} slots)" if st else "") + f" does not fit in a KV cache of "
                         f"{cap:,} tokens")


def _fixed_lengths(p_tok_arr: np.ndarray, o_tok_arr: np.ndarray, cap: float) -> tuple[int, int] | None:
    """(prompt, output) tokens where every request of the stream has the same (``_run_fixed``'s case) and ``cap`` is
    a whole number or infinite; else None."""
    if not len(p_tok_arr) or not (cap == math.inf or isinstance(cap, int | np.integer)):
        return None
    p, o = int(p_tok_arr[0]), int(o_tok_arr[0])
    if (p_tok_arr == p).all() and (o_tok_arr == o).all():
        return p, o
    return None


def _run(model: StepModel, arl: list, prompt: list, out: list, max_num_seqs: int, max_num_batched_tokens: int,
         cap: float, st: int, slo_ttft_s: float | None, late_max: int | None,
         slo_tpot_s: float | None, a_of: dict[int, float] | None = None) -> tuple[list, list, int] | None:
    """``_simulate``'s event loop on plain lists (arrivals, prompt and output tokens, every request fitting in
    ``cap``): (first-token times, finish times, events), or None where it stopped early. ``a_of``: the part of a
    decode step that depends on the batch size only, per batch size, as earlier runs of the same ``model`` left it
    (a function of the model and the size: the replicas of ``simulate_replicas`` and the probes of ``max_rate``
    share one; None: a new one)."""
    n = len(arl)
    first = [math.nan] * n
    finish = [math.nan] * n
    # Running decodes advance in lockstep: g counts decode steps so far, and a request ends when g reaches the
    # step held for it in the heap; ctx_sum is their contexts together. A heap entry is one int, step x n + id (the
    # order of (step, id) pairs). Requests admitted with their prompt not done are ids ph .. nxt - 1 (FCFS), the
    # first with ``left`` prompt tokens to go. Ints, not tuples and lists: the loop leaves nothing for Python's
    # cyclic garbage collector to track (a full collection of a server's heap took 0.15 s inside one simulation).
    heap: list[int] = []
    ph, left = 0, prompt[0] if n else 0
    t, g, nxt, kv_used, done, events, ctx_sum = 0.0, 0, 0, 0, 0, 0, 0
    budget_all = max_num_batched_tokens
    # the plain decode stretch (StepModel.decode_stretch with tokens = n, no prompt chunk): KV seconds per position
    # and the part of a step that depends on the batch size only, as decode_stretch computes them
    kv_s = model.kv_bytes_per_token
    bps = model.bytes_per_s
    ar_s, over_s = model.allreduce_s_per_step, model.overhead_s
    fps, apf, token_s = model.flops_per_s, model.attn_flops_per_pair, model.token_s
    fpt, hf, wb, eb, em = (model.flops_per_token, model.head_flops, model.weight_bytes, model.expert_bytes,
                           model.expert_miss)
    sbs = model.state_bytes_per_seq
    if a_of is None:
        a_of = {}
    watch = slo_ttft_s is not None and late_max is not None
    watch_tpot = slo_tpot_s is not None and late_max is not None
    late = 0  # requests whose first token came later than slo_ttft_s after their arrival
    slow = 0  # requests finished with a TPOT above slo_tpot_s
    while done < n:
        events += 1
        while nxt < n and arl[nxt] <= t and len(heap) + nxt - ph < max_num_seqs \
                and kv_used + prompt[nxt] + out[nxt] + st <= cap:
            kv_used += prompt[nxt] + out[nxt] + st
            nxt += 1
        nd = len(heap)
        if ph < nxt and budget_all - nd > 0 and left >= 3 * (budget_all - nd):
            # a long prompt: full chunks of the same size until it nears its end or a decode finishes
            budget = budget_all - nd
            kmax = left // budget - 1
            if heap:
                kmax = min(kmax, heap[0] // n - g)
            p0 = prompt[ph] - left  # positions already prefilled; chunk i starts at p0 + i budget
            pairs = budget * (p0 + (kmax - 1) * budget / 2) + budget * (budget + 1) / 2 if kmax > 0 else 0.0
            k, dt = model.decode_stretch(nd, ctx_sum, kmax, None, tokens=budget_all, attn_pairs=pairs)
            left -= k * budget
            t += dt
            g += k
            ctx_sum += nd * k
        elif ph < nxt:
            budget, p_tok, pairs, f0 = budget_all - nd, 0, 0, ph
            while ph < nxt and budget > 0:
                take = min(budget, left)
                p0 = prompt[ph] - left
                pairs += take * p0 + take * (take + 1) // 2
                left -= take
                p_tok += take
                budget -= take
                if left == 0:
                    ph += 1
                    left = prompt[ph] if ph < n else 0
            finished = range(f0, ph)
            # model.step_s(tokens, ..., ctx_sum, pairs), operation for operation
            tokens = p_tok + nd
            attn = max(pairs * apf / fps, ctx_sum * kv_s / bps)
            # model.gemm_s(tokens, sampled), operation for operation (a method call per prefill step was ~15 % of a
            # max_rate probe, issue 18)
            sampled = nd + ph - f0
            gemm = max((tokens * fpt + sampled * hf) / fps, (wb + eb * (1.0 - em ** tokens)) / bps) + sampled * sbs / bps
            t += gemm + attn + tokens * token_s + ar_s + over_s
            g += 1
            ctx_sum += nd
            for i in finished:
                first[i] = t
                heapq.heappush(heap, (g + out[i] - 1) * n + i)
                ctx_sum += prompt[i]
                if watch and t - arl[i] > slo_ttft_s:
                    late += 1
        elif nd:
            kmax = heap[0] // n - g
            admit = nxt < n and nd < max_num_seqs and kv_used + prompt[nxt] + out[nxt] + st <= cap
            a = a_of.get(nd)
            if a is None:
                a = a_of[nd] = model.gemm_s(nd, nd) + nd * token_s + ar_s + over_s
            # decode_stretch(nd, ctx_sum, kmax, limit): step j takes m0 + j dm + a; total(k) as it sums them
            m0 = ctx_sum * kv_s / bps
            dm = nd * kv_s / bps
            k = kmax
            dt = kmax * (m0 + a) + dm * (kmax - 1) * kmax / 2
            if admit and dt >= (limit := arl[nxt] - t):
                b = m0 + a + dm * -0.5
                u = limit / b if dm <= 0 else (math.sqrt(b * b + 2 * dm * limit) - b) / dm
                k = min(max(math.ceil(u), 1), kmax)
                while k > 1 and (k - 1) * (m0 + a) + dm * (k - 2) * (k - 1) / 2 >= limit:
                    k -= 1
                while (dt := k * (m0 + a) + dm * (k - 1) * k / 2) < limit:
                    k += 1
            t += dt
            g += k
            ctx_sum += nd * k
        else:
            t = max(t, arl[nxt])
            continue
        while heap and heap[0] // n <= g:
            i = heapq.heappop(heap) % n
            finish[i] = t
            kv_used -= prompt[i] + out[i] + st
            ctx_sum -= prompt[i] + out[i] - 1
            done += 1
            if watch_tpot and (t - first[i]) / max(out[i] - 1, 1) > slo_tpot_s:
                slow += 1  # its TPOT exactly as the end of this function computes it
                if slow >= late_max:
                    return None
        if watch and (stop := ph + late_max - late - 1) < n:
            # requests without their first token yet (ids from ph: admitted with their prompt not done, or not
            # admitted) that arrived more than the SLO before now: their first token comes at the end of a later
            # step (t only grows). A margin of a millionth keeps rounding on the safe side. Enough of them (with the
            # late ones) to fail: the (late_max - late)-th of them arrived that long ago (arrivals are sorted; was a
            # bisection for the count on every event, issue 18). Counted from ph, not from the first request not
            # admitted: under overload the admitted queue waiting for prefill chunks grows first (up to
            # max_num_seqs), and a probe stopped only once it was full (about a third of a failing probe, issue 18)
            if stop < ph or arl[stop] < t - slo_ttft_s - 1e-6 * (t + slo_ttft_s):
                return None
    return first, finish, events


def _fixed_run(model: StepModel, arr: np.ndarray, plen: int, olen: int, max_num_seqs: int,
               max_num_batched_tokens: int, cap: float, st: int, slo_ttft_s: float | None, late_max: int | None,
               slo_tpot_s: float | None, a_of: dict[int, float] | None = None,
               arrays: bool = False) -> tuple[list, list, int] | None:
    """``_run_fixed`` on the arrivals ``arr`` (a float64 array): compiled where the kernel is loaded
    (``calc.serve_sim_jit``: the same steps, operation for operation, tests/test_serve_sim_jit.py), else the Python
    loop. ``arrays``: the compiled kernel's first-token and finish times as arrays, not lists."""
    k = serve_sim_jit.KERNEL
    if k is not None and len(arr):
        watch = slo_ttft_s is not None and late_max is not None
        watch_tpot = slo_tpot_s is not None and late_max is not None
        try:
            first, finish, events, stopped = k(
                np.ascontiguousarray(arr, dtype=np.float64), plen, olen, max_num_seqs, max_num_batched_tokens,
                0 if cap == math.inf else int(cap), cap == math.inf, st, float(slo_ttft_s or 0.0), watch,
                int(late_max or 0), float(slo_tpot_s or 0.0), watch_tpot, *_kernel_fields(model))
        except Exception:  # noqa: BLE001, S110 (an int past 64 bits, an error of the arithmetic: the Python loop answers)
            pass
        else:
            if stopped:
                return None
            return (first, finish, events) if arrays else (first.tolist(), finish.tolist(), events)
    return _run_fixed(model, arr.tolist(), plen, olen, max_num_seqs, max_num_batched_tokens, cap, st, slo_ttft_s,
                      late_max, slo_tpot_s, a_of)


def _kernel_fields(m: StepModel) -> tuple:
    """The step model's numbers in ``calc.serve_sim_jit.run_fixed``'s order (``token_s`` its property), with their
    own types: an int stays an int, so that the kernel multiplies it as Python does (exactly) before dividing."""
    return (m.flops_per_token, m.head_flops, m.weight_bytes, m.expert_bytes, m.expert_miss, m.kv_bytes_per_token,
            m.bytes_per_s, m.allreduce_s_per_step, m.overhead_s, m.flops_per_s, m.attn_flops_per_pair, m.token_s,
            m.state_bytes_per_seq)


def _run_fixed(model: StepModel, arl: list, plen: int, olen: int, max_num_seqs: int, max_num_batched_tokens: int,
               cap: float, st: int, slo_ttft_s: float | None, late_max: int | None,
               slo_tpot_s: float | None, a_of: dict[int, float] | None = None) -> tuple[list, list, int] | None:
    """``_run`` for a stream whose requests all have ``plen`` prompt and ``olen`` output tokens (the Serving page's, and
    ``max_rate``'s), ``cap`` a whole number of tokens or ``math.inf``: the same steps, operation for operation, with
    what equal lengths make simpler (issue 18). Requests get their first token in arrival order (FCFS prefill) and
    all decode ``olen - 1`` steps more, so they also finish in that order: the running decodes are the ids ``done ..
    ph - 1``, and the heap of finish steps is a list read from its front (``fs[done]`` is ``heap[0] // n``). Every
    request holds ``K = plen + olen + st`` cache slots, so ``kv_used + K <= cap`` with ``kv_used = K x (nxt - done)`` is
    ``nxt - done < cap // K``, and the admission's two limits are one count. tests/test_serve_sim_exact.py holds it
    equal to ``_run``, bit for bit."""
    n = len(arl)
    nan = math.nan
    first = [nan] * n
    finish = [nan] * n
    fs: list[int] = []  # the step at which request i finishes, in id order
    K = plen + olen + st
    lim = max_num_seqs if cap == math.inf else min(max_num_seqs, cap // K)
    o1 = max(olen - 1, 1)
    ctx_done = plen + olen - 1  # the cached positions a finished request leaves
    fs_append = fs.append
    ph, left = 0, plen if n else 0
    t, g, nxt, done, events, ctx_sum = 0.0, 0, 0, 0, 0, 0
    budget_all = max_num_batched_tokens
    kv_s = model.kv_bytes_per_token
    bps = model.bytes_per_s
    ar_s, over_s = model.allreduce_s_per_step, model.overhead_s
    fps, apf, token_s = model.flops_per_s, model.attn_flops_per_pair, model.token_s
    fpt, hf, wb, eb, em = (model.flops_per_token, model.head_flops, model.weight_bytes, model.expert_bytes,
                           model.expert_miss)
    sbs = model.state_bytes_per_seq
    # no routed experts: eb x (1 - em^T) is 0.0 (em <= 1), so the weight read is wb / bps in every step
    dense = eb == 0.0
    wb_s = wb / bps
    if a_of is None:
        a_of = {}
    watch = slo_ttft_s is not None and late_max is not None
    watch_tpot = slo_tpot_s is not None and late_max is not None
    late = 0
    slow = 0
    sqrt, ceil = math.sqrt, math.ceil
    while done < n:
        events += 1
        while nxt < n and arl[nxt] <= t and nxt - done < lim:
            nxt += 1
        nd = ph - done
        if ph < nxt:
            budget = budget_all - nd
            if budget > 0 and left >= 3 * budget:
                kmax = left // budget - 1
                if nd:
                    kmax = min(kmax, fs[done] - g)
                p0 = plen - left
                pairs = budget * (p0 + (kmax - 1) * budget / 2) + budget * (budget + 1) / 2 if kmax > 0 else 0.0
                k, dt = model.decode_stretch(nd, ctx_sum, kmax, None, tokens=budget_all, attn_pairs=pairs)
                left -= k * budget
                t += dt
                g += k
                ctx_sum += nd * k
            else:
                p_tok, pairs, f0 = 0, 0, ph
                while ph < nxt and budget > 0:
                    take = left if left < budget else budget  # min(budget, left)
                    p0 = plen - left
                    pairs += take * p0 + take * (take + 1) // 2
                    left -= take
                    p_tok += take
                    budget -= take
                    if left == 0:
                        ph += 1
                        left = plen if ph < n else 0
                tokens = p_tok + nd
                # max(), min() of two numbers as conditional expressions (the same value; a builtin call each cost
                # more than the comparison, issue 18): max(x, y) is y if y > x else x, min(x, y) y if y < x else x
                x, y = pairs * apf / fps, ctx_sum * kv_s / bps
                attn = y if y > x else x
                sampled = nd + ph - f0
                x = (tokens * fpt + sampled * hf) / fps
                y = wb_s if dense else (wb + eb * (1.0 - em ** tokens)) / bps
                gemm = (y if y > x else x) + sampled * sbs / bps
                t += gemm + attn + tokens * token_s + ar_s + over_s
                g += 1
                ctx_sum += nd
                last = g + olen - 1
                for i in range(f0, ph):
                    first[i] = t
                    fs_append(last)
                    ctx_sum += plen
                    if watch and t - arl[i] > slo_ttft_s:
                        late += 1
        elif nd:
            kmax = fs[done] - g
            a = a_of.get(nd)
            if a is None:
                a = a_of[nd] = model.gemm_s(nd, nd) + nd * token_s + ar_s + over_s
            m0 = ctx_sum * kv_s / bps
            dm = nd * kv_s / bps
            c = m0 + a  # computed once: the same sum each place it appeared
            k = kmax
            dt = kmax * c + dm * (kmax - 1) * kmax / 2
            if nxt < n and nd < lim and dt >= (limit := arl[nxt] - t):
                b = c + dm * -0.5
                u = limit / b if dm <= 0 else (sqrt(b * b + 2 * dm * limit) - b) / dm
                k = ceil(u)
                k = kmax if kmax < k else (k if k > 1 else 1)  # min(max(ceil(u), 1), kmax), kmax >= 1
                while k > 1 and (k - 1) * c + dm * (k - 2) * (k - 1) / 2 >= limit:
                    k -= 1
                while (dt := k * c + dm * (k - 1) * k / 2) < limit:
                    k += 1
            t += dt
            g += k
            ctx_sum += nd * k
        else:
            t = max(t, arl[nxt])
            continue
        while done < ph and fs[done] <= g:
            finish[done] = t
            ctx_sum -= ctx_done
            if watch_tpot and (t - first[done]) / o1 > slo_tpot_s:
                slow += 1
                if slow >= late_max:
                    return None
            done += 1
        if watch and (stop := ph + late_max - late - 1) < n:  # as in _run
            if stop < ph or arl[stop] < t - slo_ttft_s - 1e-6 * (t + slo_ttft_s):
                return None
    return first, finish, events


def simulate_replicas(model: StepModel, w: Workload, replicas: int, max_num_seqs: int = 256,
                      max_num_batched_tokens: int = 8192, kv_capacity_tokens: int | None = None,
                      state_tokens_per_request: int = 0) -> SimResult:
    """``replicas`` identical replicas behind a round-robin balancer: request i goes to replica i mod r; each runs
    ``simulate`` on its share, and the results are joined replica after replica (the refusal of a request that does
    not fit is that of the first replica holding one).

    Issue 18: each share goes through ``simulate``'s event loop (``_run``) as slices of plain lists, and the arrays
    are made once for all of them: with a thousand replicas of one or two requests each, the arrays made per share
    were most of the time (50-90 ms for the Serving page's 1,500 requests). Element for element the same arithmetic
    (tests/test_serve_sim_exact.py holds the result equal, bit for bit, to ``simulate`` run on each share)."""
    if not isinstance(replicas, int) or not 1 <= replicas <= 10_000:
        raise ValueError(f"replicas must be a whole number in [1, 10,000], got {replicas!r:.40}")
    arr, p_tok, o_tok = w.arrival_s, w.prompt_tokens, w.output_tokens
    n = len(arr)
    cap = math.inf if kv_capacity_tokens is None else kv_capacity_tokens
    st = state_tokens_per_request
    bad = np.flatnonzero(p_tok + o_tok + st > cap)
    if bad.size:
        r = int((bad % replicas).min())
        _check_fits(p_tok[r::replicas], o_tok[r::replicas], cap, st)
    fixed = _fixed_lengths(p_tok, o_tok, cap)
    arl = arr.tolist()
    prompt, out = (None, None) if fixed is not None else (p_tok.tolist(), o_tok.tolist())
    firsts: list[float] = []
    finishes: list[float] = []
    a_of: dict[int, float] = {}  # one model: the replicas share its decode steps' parts
    makespan, events = -math.inf, 0
    for r in range(min(replicas, n)):  # a replica past the n-th gets no request
        a_r = arl[r::replicas]
        if fixed is not None:
            f_r, g_r, ev = _fixed_run(model, arr[r::replicas], *fixed, max_num_seqs, max_num_batched_tokens, cap, st,
                                      None, None, None, a_of)
        else:
            f_r, g_r, ev = _run(model, a_r, prompt[r::replicas], out[r::replicas], max_num_seqs,
                                max_num_batched_tokens, cap, st, None, None, None, a_of)
        firsts += f_r
        finishes += g_r
        makespan = max(makespan, max(g_r) - a_r[0])
        events += ev
    order = np.argsort(np.arange(n) % replicas, kind="stable")  # request ids replica after replica
    arr_o, o_o = arr[order], o_tok[order]
    first, finish = np.array(firsts), np.array(finishes)
    return SimResult(first - arr_o, (finish - first) / np.maximum(o_o - 1, 1), finish - arr_o, int(o_tok.sum()),
                     float(makespan), events)


def meets(r: SimResult, slo_ttft_s: float | None, slo_tpot_s: float | None, q: float = 99) -> bool:
    """Whether the ``q``-th percentile TTFT and TPOT are within the SLOs (None: no bound)."""
    ok = slo_ttft_s is None or float(np.percentile(r.ttft_s, q)) <= slo_ttft_s
    return ok and (slo_tpot_s is None or float(np.percentile(r.tpot_s, q)) <= slo_tpot_s)


def _above(v: np.ndarray, bound: float, q: float) -> bool:
    """``np.percentile(v, q) > bound`` for values without NaN, mostly from a count (issue 18: two percentiles were
    a tenth of a ``max_rate`` probe): with numpy's virtual index ``x = n q' + (1 - q') - 1`` (q' = q / 100, the
    linear method), ``lo = floor(x)`` and ``x - lo < 0.5``, the percentile is ``s[lo] + (s[lo + 1] - s[lo]) (x - lo)``
    of the sorted values: at least ``s[lo]``, so above the bound once ``n - lo`` values are (``_late_max``), and at most
    ``s[lo + 1]``, so not above it while at most ``n - lo - 2`` values are. Between (or where ``x`` is within 1e-6 of
    a whole index, or interpolates from above) numpy is asked."""
    n = len(v)
    qf = q / 100
    x = n * qf + (1 - qf) - 1
    lo = math.floor(x)
    if 0 <= lo <= n - 2 and 1e-6 < x - lo < 0.49:
        k = int(np.count_nonzero(v > bound))
        if k >= n - lo:
            return True
        if k <= n - lo - 2:
            return False
    return float(np.percentile(v, q)) > bound


def _meets(r: SimResult, slo_ttft_s: float | None, slo_tpot_s: float | None, q: float = 99) -> bool:
    """``meets`` for a finished simulation (no NaN), through ``_above``."""
    return ((slo_ttft_s is None or not _above(r.ttft_s, slo_ttft_s, q))
            and (slo_tpot_s is None or not _above(r.tpot_s, slo_tpot_s, q)))


def _late_max(n: int, q: float) -> int | None:
    """How many of ``n`` values above a bound put their ``q``-th percentile above it, as ``np.percentile`` (linear)
    computes it: virtual index ``v = n q' + (1 - q') - 1`` (q' = q / 100), ``lo = floor(v)``, value ``s[lo] + (s[lo + 1]
    - s[lo]) (v - lo)`` of the sorted values, which is at least ``s[lo]`` while ``v - lo < 0.5`` (numpy's ``_lerp``
    interpolates down from ``s[lo + 1]`` past that, where rounding could land below ``s[lo]``: None then, no early
    stop). ``s[lo]`` is above the bound once ``n - lo`` values are. 600 requests at p99: 7.

    >>> _late_max(600, 99), _late_max(300, 99), _late_max(50, 99)
    (7, 4, None)
    """
    qf = q / 100
    v = n * qf + (1 - qf) - 1
    lo = math.floor(v)
    if not 0 <= lo <= n - 1 or v - lo >= 0.5:
        return None
    return n - lo


def _rate_guess(model: StepModel, prompt_tokens: int, output_tokens: int, max_num_seqs: int = 256,
                kv_capacity_tokens: int | None = None, state_tokens_per_request: int = 0, **_) -> float:
    """A rough saturation rate (requests/s) where ``max_rate`` starts looking: B requests (max_num_seqs, or fewer if
    the KV cache holds fewer) decode ``output_tokens`` steps at their mean context, and each is prefilled in a step of
    its own: B / (O x decode step + B x prefill step). Only where to probe first; any value gives the same answer."""
    per = prompt_tokens + output_tokens + state_tokens_per_request
    b = max_num_seqs if kv_capacity_tokens is None else max(1, min(max_num_seqs, kv_capacity_tokens // per))
    decode = model.step_s(b, b, b * (prompt_tokens + output_tokens / 2))
    prefill = model.step_s(prompt_tokens, 1, 0.0, prompt_tokens * (prompt_tokens + 1) / 2)
    rate = b / (output_tokens * decode + b * prefill)
    return rate if math.isfinite(rate) and rate > 0 else 1.0


def max_rate(model: StepModel, prompt_tokens: int, output_tokens: int, slo_ttft_s: float | None,
             slo_tpot_s: float | None, requests: int = 2000, seed: int = 0, q: float = 99, steps: int = 12,
             **kw) -> float:
    """The largest request rate (per second) one replica serves within the SLOs at the ``q``-th percentile, by
    bisection on simulations of ``requests`` requests with the same random stream (0.0: not even a trickle), to
    ``2^-steps`` of its power-of-two bracket: the answer lies within that share below the 12-step one (12: 0.03 %).
    The rate itself is only known to the sampling noise of a p99 over ``requests``: over 10 seeds of the Serving
    page's defaults (Llama-3-8B on an H100, 1,024 / 256 tokens, 600 requests) it spreads by 4.7-6.2 % (coefficient
    of variation; 16-20 % from lowest to highest) for SLOs (1 s, 50 ms), (0.2 s, none), (none, 20 ms), so the page's
    7 steps (0.8 %) answer within a fifth of that (issue 18; tests/test_serve_sim_exact.py)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 52:
        raise ValueError(f"steps must be a whole number in [1, 52], got {steps!r:.40}")
    late_max = _late_max(requests, q)
    a_of: dict[int, float] = {}  # the probes' decode step parts per batch size (one model: shared)
    # poisson_workload(requests, rate, ...) for every probe from one draw (issue 18): its arrivals are the cumulative
    # sum of numpy's exponential(1 / rate), which is 1 / rate x the standard exponential, drawn in the same order
    # from the same seed; the lengths do not depend on the rate (and are checked here, as the first probe did)
    base = poisson_workload(requests, 1.0, prompt_tokens, output_tokens, seed=seed)
    std = np.random.default_rng(seed).standard_exponential(requests)

    def ok(rate: float) -> bool:  # a simulation stopped early (None) has already failed the TTFT SLO
        w = Workload(np.cumsum((1.0 / rate) * std), base.prompt_tokens, base.output_tokens)
        r = _simulate(model, w, **kw, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s, late_max=late_max, a_of=a_of)
        return r is not None and _meets(r, slo_ttft_s, slo_tpot_s, q)

    # The bracket is [2^j, 2^(j+1)] for the largest j in [-20, 19] whose rate meets the SLOs (2^19: the search's
    # ceiling, above 1e6/2; none: 0.0). Found by bisection over j: the same bracket as doubling up from 1 (or
    # halving down) while the verdict is monotone in the rate, in 6 simulations instead of up to 20; the doubling
    # spent most of its time far below the answer, where every request costs events of its own (issue 18).
    # The first probes go to the power of two below a rough saturation rate and its neighbours (_rate_guess), the
    # rest halve what is left: the same bracket while the verdict is monotone in the rate, in 2 simulations where
    # the guess falls in it (page defaults: 5 before, issue 18).
    j0 = min(max(math.floor(math.log2(_rate_guess(model, prompt_tokens, output_tokens, **kw))), -20), 19)

    def bracket(j_lo: int, j_hi: int, first: list[int]) -> int:
        while j_hi - j_lo > 1:
            while first and not j_lo < first[0] < j_hi:
                first.pop(0)
            j = first.pop(0) if first else (j_lo + j_hi) // 2
            j_lo, j_hi = (j, j_hi) if ok(2.0 ** j) else (j_lo, j)
        return j_lo

    def bisect(j_lo: int) -> float:
        if j_lo == -21:
            return 0.0
        if j_lo == 19:
            return 2.0 ** 19
        lo, hi = 2.0 ** j_lo, 2.0 ** (j_lo + 1)
        for _ in range(steps):  # to 2^-steps of the bracket
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo

    # ok(2^-21) taken as true (a rate of ~0), ok(2^20) as false; the probes go first to 2^j0, 2^(j0 + 1), 2^(j0 - 1)
    if j0 == 19:
        return bisect(bracket(-21, 20, [j0, j0 + 1, j0 - 1]))
    # The same search with 2^j0's verdict, the dearest probe (the lightest load: the most events per request; about a
    # fifth of a search, issue 18), left to the answer where a higher rate meets the SLOs: one twice as high, or one of
    # the bisection's at 9/8 of it or more. Asked where nothing implies it (then it is asked before the bisection
    # probes below 9/8 of it, and where it fails the search goes on below 2^j0, as it did when it asked it first).
    # The verdict is monotone in the rate away from the answer (tests/test_serve_sim_exact.py holds the rates to
    # the search that asks every probe, on a broad grid of setups)
    if ok(2.0 ** (j0 + 1)):
        return bisect(bracket(j0 + 1, 20, []))
    lo, hi = 2.0 ** j0, 2.0 ** (j0 + 1)
    implied = lo * 1.125
    pending = True
    for _ in range(steps):
        mid = (lo + hi) / 2
        if pending and mid < implied:
            if not ok(2.0 ** j0):
                return bisect(bracket(-21, j0, [j0 - 1]))
            pending = False
        if ok(mid):
            lo, pending = mid, False  # a pass below 9/8 comes after 2^j0's own verdict
        else:
            hi = mid
    if pending and not ok(2.0 ** j0):
        return bisect(bracket(-21, j0, [j0 - 1]))
    return lo


def replicas_for(target_rate: float, rate_per_replica: float) -> int | None:
    """Replicas a round-robin fleet needs for ``target_rate`` when one serves ``rate_per_replica`` within the SLOs
    (None: one replica cannot meet them at any rate). Round-robin splits a Poisson stream into smoother ones, so
    this is conservative."""
    if rate_per_replica <= 0:
        return None
    return max(1, math.ceil(target_rate / rate_per_replica - 1e-9))


def cost_per_million_tokens(gpus: int, usd_per_gpu_hour: float, tokens_per_s: float) -> float | None:
    """USD per million output tokens: gpus x price per hour / 3600 / tokens per second x 1e6."""
    if tokens_per_s <= 0:
        return None
    return gpus * usd_per_gpu_hour / 3600 / tokens_per_s * 1e6
