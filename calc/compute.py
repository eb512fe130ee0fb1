"""Training compute, time, cost and energy: from (N, D) to FLOPs, and from FLOPs to GPU-hours and dollars.

FLOP counts (a multiply-add is 2 FLOPs everywhere):

- ``training_flops_6nd``: C = 6 N D (Kaplan et al. 2020, "Scaling Laws for Neural Language Models",
  sec. 2.1 and eq. 2.2: forward 2N per token, backward twice the forward).
- ``kaplan_training_flops``: C = (6 N + 6 n_layer n_ctx d_attn) D, the same table (Kaplan Table 1) with
  its attention term (the QK^T logits only, full context, no causal halving).
- ``chinchilla_forward_flops``: Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models",
  Appendix F), per sequence, with embeddings, attention, softmax, dense block and logits.
- ``megatron_training_flops``: Narayanan et al. 2021 eq. (3) / Korthikanti et al. 2022 sec. 6: model
  FLOPs per iteration 72 B s l h^2 (1 + s/(6h) + V/(12 h l)) for a GPT block (4h MLP, no GQA); with full
  activation recompute the hardware executes 96 B s l h^2 (1 + s/(6h) + V/(16 h l)).
- ``flops_per_token``: the same bookkeeping for any ``ModelSpec`` (SwiGLU, GQA, MLA, MoE, sliding
  windows): 2 x the *active* matmul parameters of the layers, + the attention-score products
  (QK^T and softmax x V, 2 x ctx x width each), + the output head 2 V h. Training is 3x the forward pass.

Model FLOPs vs hardware FLOPs (Chowdhery et al. 2022 "PaLM" Appendix B; Korthikanti et al. 2022):
MFU counts the FLOPs the model needs (no recompute); activation recompute makes the GPUs execute more.
"selective" recompute re-runs the attention-score part of the forward pass once, "full" re-runs the
forward pass of every layer once (not the output head).

Time: seconds = FLOPs / (GPUs x sustained FLOP/s per GPU), sustained = dense peak for the dtype x MFU
or a measured throughput. Cost = GPU-hours x $/GPU-hour. Energy = GPU-hours x board power (TDP, an upper
bound for the GPU alone) x PUE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from calc.kvcache import attention_kinds
from calc.models import ModelSpec, param_counts

SECONDS_PER_HOUR = 3_600
SECONDS_PER_DAY = 86_400
#: Kaplan et al. 2020's compute unit: 1 PF-day = 10^15 FLOP/s x 86,400 s = 8.64e19 FLOPs.
PETAFLOP_DAY_FLOPS = 1e15 * SECONDS_PER_DAY
RECOMPUTE = ("none", "selective", "full")

#: Sanity ceilings for user input: far above any real run, low enough that products stay finite.
MAX_PARAMS = 1e16
MAX_TOKENS = 1e18
MAX_FLOPS = 1e36
MAX_GPUS = 10_000_000
MAX_DAYS = 36_500.0
MAX_PRICE = 10_000.0
#: Floors, so that no positive input underflows a product to 0 or a quotient to inf (6 N D with
#: N = D = 4.8e-280 is 0.0; days = rate = 2e-171 made GPUs x days x 86,400 x rate 0.0): a parameter,
#: a token, a FLOP, one FLOP/s per GPU and one nanosecond of wall-clock are the least that means anything.
MIN_COUNT = 1.0
MIN_RATE = 1.0  # FLOP/s per GPU, sustained or peak
MIN_DAYS = 1e-9 / SECONDS_PER_DAY  # one nanosecond


def check_positive(name: str, value, upper: float, unit: str = "", lower: float = 0.0) -> float:
    """``value`` as a float in (0, upper], or in [lower, upper] when ``lower > 0``; a ``ValueError``
    names the field, the value and the range."""
    span = f"[{lower:g}, {upper:g}]" if lower > 0 else f"(0, {upper:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in {span}{unit}, got {value!r:.40}")
    v = float(value)
    if not math.isfinite(v) or not 0 < v <= upper or v < lower:
        raise ValueError(f"{name} must be a number in {span}{unit}, got {value!r:.40}")
    return v


def check_mfu(mfu) -> float:
    """MFU must lie in (0, 1]: a share of the dense peak."""
    return check_positive("MFU", mfu, 1.0, " (a share of the dense peak)")


def check_gpus(num_gpus) -> int:
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or not math.isfinite(num_gpus) \
            or num_gpus != int(num_gpus) or not 1 <= num_gpus <= MAX_GPUS:
        raise ValueError(f"GPU count must be a whole number in [1, {MAX_GPUS:,}], got {num_gpus!r:.40}")
    return int(num_gpus)


def check_price(price) -> float:
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) \
            or not 0 <= price <= MAX_PRICE:
        raise ValueError(f"price must be in [0, {MAX_PRICE:g}] $/GPU-hour, got {price!r:.40}")
    return float(price)


# ----- FLOP counts ----------------------------------------------------------------------------

def training_flops_6nd(params: float, tokens: float) -> float:
    """C = 6 N D (Kaplan et al. 2020 eq. 2.2). N: parameters (active ones for MoE), D: tokens.

    >>> training_flops_6nd(70e9, 1.4e12)  # Chinchilla 70B on 1.4T tokens
    5.88e+23
    """
    n = check_positive("params", params, MAX_PARAMS, lower=MIN_COUNT)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=MIN_COUNT)
    return 6.0 * n * d


def kaplan_training_flops(params: float, tokens: float, num_layers: int, seq_len: int, d_attn: int) -> float:
    """Kaplan et al. 2020 Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn per token, training 3x that.

    N is Kaplan's non-embedding parameter count; d_attn the attention width (heads x head_dim).

    >>> kaplan_training_flops(1e9, 1.0, 24, 2048, 2048) / 6e9  # 1B model, 2k context: +10% for attention
    1.100663296
    """
    n = check_positive("params", params, MAX_PARAMS)
    d = check_positive("tokens", tokens, MAX_TOKENS)
    for name, v in (("num_layers", num_layers), ("seq_len", seq_len), ("d_attn", d_attn)):
        check_positive(name, v, 2.0**31)
    return 3.0 * (2.0 * n + 2.0 * num_layers * seq_len * d_attn) * d


def chinchilla_forward_flops(seq_len: int, vocab_size: int, d_model: int, num_layers: int, num_heads: int,
                             key_size: int, ffw_size: int, embeddings_and_logits: bool = True) -> float:
    """Forward FLOPs of one sequence, Hoffmann et al. 2022 Appendix F (training = 3x, as in Kaplan).

    Terms: embeddings 2 s V d; per layer: q/k/v 2*3 s d (k h), logits 2 s^2 (k h), softmax 3 h s^2,
    softmax @ value 2 s^2 (k h), final linear 2 s (k h) d, dense block 2 s (2 d f); logits 2 s d V.
    ``embeddings_and_logits=False`` drops the first and last terms: per the authors (as reported in
    karpathy/nanoGPT ``scaling_laws.ipynb``) that is how their Table A4 ratios were computed.
    """
    s, v, d, h, k, f = seq_len, vocab_size, d_model, num_heads, key_size, ffw_size
    attention = 2 * 3 * s * d * (k * h) + 2 * s * s * (k * h) + 3 * h * s * s + 2 * s * s * (k * h) \
        + 2 * s * (k * h) * d
    dense = 2 * s * (d * f + d * f)
    layers = num_layers * (attention + dense)
    if not embeddings_and_logits:
        return float(layers)
    return float(2 * s * v * d + layers + 2 * s * d * v)


def megatron_training_flops(tokens: float, num_layers: int, hidden: int, seq_len: int, vocab_size: int,
                            full_recompute: bool = False) -> float:
    """GPT-block training FLOPs from Megatron's closed forms, scaled from one iteration (B s tokens) to D.

    Model FLOPs per iteration 72 B s l h^2 (1 + s/(6h) + V/(12 h l)) (Korthikanti et al. 2022 sec. 6);
    with full recompute 96 B s l h^2 (1 + s/(6h) + V/(16 h l)) (Narayanan et al. 2021 eq. 3).

    >>> round(megatron_training_flops(1.0, 32, 4096, 2048, 50257) / 1e9, 3)  # per token, GFLOPs
    43.111
    """
    d = check_positive("tokens", tokens, MAX_TOKENS)
    s, h, L, V = float(seq_len), float(hidden), float(num_layers), float(vocab_size)
    if full_recompute:
        per_token = 96.0 * L * h * h * (1 + s / (6 * h) + V / (16 * h * L))
    else:
        per_token = 72.0 * L * h * h * (1 + s / (6 * h) + V / (12 * h * L))
    return per_token * d


@dataclass(frozen=True)
class FlopsPerToken:
    """Forward-pass FLOPs per token of one model at one context length, by part."""

    layers_matmul: float  # 2 x active parameters inside the decoder layers (attention + MLP/experts + router)
    attention_scores: float  # QK^T and softmax x V over the attended context, all layers
    lm_head: float  # 2 x vocab x hidden (paid even when the head is tied to the embeddings)

    @property
    def forward(self) -> float:
        return self.layers_matmul + self.attention_scores + self.lm_head

    @property
    def model_training(self) -> float:
        """Model FLOPs per training token: forward + backward (2x forward)."""
        return 3.0 * self.forward

    def hardware_training(self, recompute: str = "none") -> float:
        """FLOPs the GPUs execute per token: model FLOPs + the forward work recomputed in the backward pass."""
        if recompute not in RECOMPUTE:
            raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE)}, got {recompute!r:.40}")
        extra = {"none": 0.0, "selective": self.attention_scores,
                 "full": self.layers_matmul + self.attention_scores}[recompute]
        return self.model_training + extra


def flops_per_token(spec: ModelSpec, seq_len: int, causal: bool = False) -> FlopsPerToken:
    """Forward FLOPs per token of ``spec`` with ``seq_len`` tokens of context.

    ``causal=False`` counts every position attending to all ``seq_len`` positions, as Kaplan, Megatron
    and PaLM's MFU do; ``causal=True`` uses the average (s+1)/2 a causal mask really touches.
    Each attention layer kind counts its own heads and head sizes; sliding-window layers attend to at most their
    window, chunked-attention layers (Llama 4) to their chunk; recurrent layers have no attention term.

    >>> from calc.presets import get_preset
    >>> f = flops_per_token(get_preset("Meta-Llama-3-8B"), 8192)
    >>> round(f.layers_matmul / 2 / 1e9, 3), round(f.lm_head / 2 / 1e9, 3)  # 6.98 B in layers, 0.525 B head
    (6.979, 0.525)
    """
    s = int(check_positive("seq_len", seq_len, 2.0**31))
    counts = param_counts(spec)
    layer_params = counts.active - counts.embeddings - counts.output_head - counts.norms
    scores = 0.0
    # per attention layer kind (calc/arch layout): QK^T over its query width, softmax x V over its value width;
    # recurrent layers (Mamba, gated DeltaNet) have no attention scores
    for width, n, window, chunk in attention_kinds(spec):
        if chunk:  # a query sees its own chunk: positions 1..c repeating (Llama 4)
            full, rest = divmod(s, chunk)
            ctx_eff = (full * chunk * (chunk + 1) / 2 + rest * (rest + 1) / 2) / s if causal else min(s, chunk)
        else:
            ctx = min(s, window) if window else s
            ctx_eff = (ctx + 1) / 2 if causal else ctx
        scores += 2.0 * ctx_eff * width * n
    return FlopsPerToken(layers_matmul=2.0 * layer_params, attention_scores=scores,
                         lm_head=2.0 * spec.vocab_size * spec.hidden_size)


@dataclass(frozen=True)
class TrainingFlops:
    """Training compute for ``tokens`` tokens: model FLOPs (what MFU counts) and hardware FLOPs."""

    tokens: float
    per_token: FlopsPerToken
    recompute: str

    @property
    def model_flops(self) -> float:
        return self.per_token.model_training * self.tokens

    @property
    def hardware_flops(self) -> float:
        return self.per_token.hardware_training(self.recompute) * self.tokens


def training_flops(spec: ModelSpec, tokens: float, seq_len: int, recompute: str = "none",
                   causal: bool = False) -> TrainingFlops:
    """Training FLOPs of ``spec`` on ``tokens`` tokens at context ``seq_len`` (see ``flops_per_token``)."""
    d = check_positive("tokens", tokens, MAX_TOKENS)
    per = flops_per_token(spec, seq_len, causal)
    result = TrainingFlops(tokens=d, per_token=per, recompute=recompute)
    result.per_token.hardware_training(recompute)  # validates ``recompute``
    return result


# ----- time, cost, energy ----------------------------------------------------------------------

def sustained_flops_per_s(peak_flops_per_s: float, mfu: float) -> float:
    """Sustained model FLOP/s per GPU = dense peak x MFU."""
    return check_positive("peak FLOP/s", peak_flops_per_s, 1e20) * check_mfu(mfu)


@dataclass(frozen=True)
class TimeCost:
    """Wall-clock time, GPU-hours, cost and energy of ``flops`` on ``num_gpus`` GPUs."""

    flops: float
    num_gpus: int
    flops_per_s_per_gpu: float
    price_per_gpu_hour: float
    board_power_w: float
    pue: float

    @property
    def seconds(self) -> float:
        return self.flops / (self.num_gpus * self.flops_per_s_per_gpu)

    @property
    def days(self) -> float:
        return self.seconds / SECONDS_PER_DAY

    @property
    def gpu_hours(self) -> float:
        return self.seconds * self.num_gpus / SECONDS_PER_HOUR

    @property
    def cost_usd(self) -> float:
        return self.gpu_hours * self.price_per_gpu_hour

    @property
    def energy_kwh(self) -> float:
        return self.gpu_hours * self.board_power_w / 1_000 * self.pue


def time_and_cost(flops: float, num_gpus: int, flops_per_s_per_gpu: float, price_per_gpu_hour: float = 0.0,
                  board_power_w: float = 0.0, pue: float = 1.0) -> TimeCost:
    """Time, GPU-hours, cost and energy of a run of ``flops`` at a sustained FLOP/s per GPU.

    >>> t = time_and_cost(6 * 6.7e9 * 1e12, 440, 312e12 * 0.4, 2.0, 400)
    >>> round(t.days, 2), round(t.gpu_hours), round(t.cost_usd)
    (8.47, 89476, 178953)
    """
    f = check_positive("FLOPs", flops, MAX_FLOPS, lower=MIN_COUNT)
    n = check_gpus(num_gpus)
    rate = check_positive("FLOP/s per GPU", flops_per_s_per_gpu, 1e20, lower=MIN_RATE)
    price = check_price(price_per_gpu_hour)
    if isinstance(board_power_w, bool) or not isinstance(board_power_w, (int, float)) \
            or not math.isfinite(board_power_w) or not 0 <= board_power_w <= 100_000:
        raise ValueError(f"board power must be in [0, 100000] W, got {board_power_w!r:.40}")
    p = check_positive("PUE", pue, 10.0)
    if p < 1.0:
        raise ValueError(f"PUE must be in [1, 10] (facility power / IT power), got {pue!r:.40}")
    return TimeCost(f, n, rate, price, float(board_power_w), p)


def compute_budget_flops(num_gpus: int, days: float, flops_per_s_per_gpu: float) -> float:
    """The FLOPs ``num_gpus`` GPUs deliver in ``days`` days at a sustained FLOP/s each.

    >>> f"{compute_budget_flops(256, 30, 989e12 * 0.4):.3e}"  # 256 H100s for a month at 40% MFU
    '2.625e+23'
    """
    n = check_gpus(num_gpus)
    d = check_positive("days", days, MAX_DAYS, lower=MIN_DAYS)
    rate = check_positive("FLOP/s per GPU", flops_per_s_per_gpu, 1e20, lower=MIN_RATE)
    return n * d * SECONDS_PER_DAY * rate


def gpus_needed(flops: float, days: float, flops_per_s_per_gpu: float) -> int:
    """Smallest whole number of GPUs that finishes ``flops`` within ``days`` days."""
    f = check_positive("FLOPs", flops, MAX_FLOPS, lower=MIN_COUNT)
    d = check_positive("days", days, MAX_DAYS, lower=MIN_DAYS)
    rate = check_positive("FLOP/s per GPU", flops_per_s_per_gpu, 1e20, lower=MIN_RATE)
    exact = f / (d * SECONDS_PER_DAY * rate)
    n = math.ceil(exact * (1 - 1e-12))  # 512.0000000001 from rounding is 512 GPUs, not 513
    if n > MAX_GPUS:
        raise ValueError(f"finishing in {d:g} days needs {exact:.3g} GPUs, more than the {MAX_GPUS:,} allowed")
    return max(n, 1)


def implied_mfu(flops: float, num_gpus: int, days: float, peak_flops_per_s: float) -> float:
    """The MFU a reported run achieved: model FLOPs / (GPUs x seconds x dense peak).

    MPT-7B (MosaicML, 2023): about 6.7B params on 1T tokens, 440 A100s for 9.5 days:

    >>> round(implied_mfu(6 * 6.7e9 * 1e12, 440, 9.5, 312e12), 3)
    0.357
    """
    f = check_positive("FLOPs", flops, MAX_FLOPS, lower=MIN_COUNT)
    n = check_gpus(num_gpus)
    d = check_positive("days", days, MAX_DAYS, lower=MIN_DAYS)
    peak = check_positive("peak FLOP/s", peak_flops_per_s, 1e20, lower=MIN_RATE)
    return f / (n * d * SECONDS_PER_DAY * peak)


@dataclass(frozen=True)
class ReportedRun:
    """A published training run: what was trained and on what, to check an MFU against."""

    name: str
    params: float
    tokens: float
    gpu: str  # a catalog name in calc.gpus
    gpu_hours: float
    source: str


#: Runs whose hardware and duration were published (parameter counts exact where known).
REPORTED_RUNS: tuple[ReportedRun, ...] = (
    ReportedRun("MPT-7B", 6.7e9, 1e12, "A100 SXM 40GB", 440 * 9.5 * 24,
                "MosaicML, 'Introducing MPT-7B' (2023): 440 A100-40GB for 9.5 days, about 1T tokens"),
    ReportedRun("Llama-3-8B", 8_030_261_248, 15e12, "H100 SXM", 1.3e6,
                "Meta Llama 3 model card: 1.3M H100-80GB GPU-hours, over 15T tokens"),
    ReportedRun("Llama-3-70B", 70_553_706_496, 15e12, "H100 SXM", 6.4e6,
                "Meta Llama 3 model card: 6.4M H100-80GB GPU-hours, over 15T tokens"),
)
