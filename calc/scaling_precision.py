"""Training precision (Kumar et al. 2024, "Scaling Laws for Precision", arXiv 2411.04330).

Training with weights, activations and KV cache quantized to P_w, P_a, P_kv bits (integer type, forward pass)
behaves like a smaller model (sec. 4, eq. 3-4):

    N_eff = N (1 - exp(-P_w / gamma_w)) (1 - exp(-P_a / gamma_a)) (1 - exp(-P_kv / gamma_kv))
    L(N, D, P) = A N_eff^-alpha + B D^-beta + E

and training compute grows linearly with the precision (sec. 4.3): C = (6/16) N D P, which is 6ND at 16 bits.

Constants: the paper's Appendix K, Table 2 (alpha = beta tied): A = 4.299e3, alpha = 0.4965, B = 1.806e4,
E = 2.7648, gamma_w = 2.6745, gamma_a (the table's gamma_i) = 2.2102, gamma_kv = 0.9578, each with a fitted offset
n_x (0.3037, 1.4072, 2.4185): App. K says the exponentials are "really computed with offset e^{x/gamma_x + n}",
with x = -P. We read that as 1 - exp(-P/gamma + n); it is the reading that reproduces the paper's stated results
(sec. 4.3.2, Finding 3): the compute-optimal pretraining precision is 7.0 bits ("7-8 bits") at every budget, and
4-bit training needs 5.2x the parameters of 16-bit for the same N_eff ("more than 4x"). Without the offsets the
optimum would be 3.5 bits.

Post-training quantization (sec. 3.1, eq. 2): a model trained in high precision (bf16) and then quantized to
P_post bits (weights only, GPTQ) loses

    delta_PTQ(N, D, P_post) = C_T (D^gamma_D / N^gamma_N) exp(-P_post / gamma_post)

with N the non-embedding parameters (sec. 2.3: the sweep is "N in [30, 60, 110, 220] million parameters
(non-embedding)") and D the pretraining tokens. It grows with D, falls with N, and falls exponentially with the bits
kept. ``ptq_loss`` adds it to L(N, D) at 16 bits, which reproduces the paper's headline (abstract, Fig. 1 left,
sec. 3.1): for a fixed model, loss after low-bit PTQ has a minimum in D, past which more pretraining data makes the
quantized model worse. That minimum is App. E.1's critical dataset size (eq. 13, ``critical_tokens``):

    D_crit = (beta B N^gamma_N exp(P_post / gamma_post) / (gamma_D C_T))^(1 / (gamma_D + beta))

Source of every constant in this module, checked against the paper's own text (ICLR 2025 version of arXiv
2411.04330, Appendix K "Numerical fits", Table 2 "Fitted constants and their values"): A = 4.299e3,
alpha = 0.4965 (beta tied to alpha, App. K: "we tie alpha = beta"), B = 1.806e4, E = 2.7648, gamma_w = 2.6745,
n_w = 0.3037, gamma_i = 2.2102, n_i = 1.4072, gamma_kv = 0.9578, n_kv = 2.4185, C_T = 0.0598, gamma_D = 0.5068,
gamma_N = 0.3439, gamma_post = 0.5907, b = 1.1277. These are the values an earlier revision took from a course page;
they agree with the paper digit for digit. Table 2 lists b last, after gamma_post, without naming the exponent it
offsets (App. N calls a fitted offset of the weights' exponential "an exponent bias b"). We leave b out of eq. 2: the
paper writes eq. 2 and Finding 1 without it, and no printed number tells the two readings apart. Were b the offset of
eq. 2's exponential, exp(-P/gamma_post + b) would make delta_PTQ e^1.1277 = 3.09x larger and D_crit 0.33x smaller.
Eq. 8-9's C_w (the robustification term of sec. 5) is not in Table 2, so the unified form with quantized training is
not implemented. The fit is for integer round-to-grid with GPTQ; fp8 and nf4 are read as 8 and 4 bits, and a GGUF
file type as its bits per weight (scales included), approximations.

The constants come from small OLMo-style models (30M-220M, up to 26B tokens, Dolma) with integer quantization;
loss is in nats on Dolma. The paper stresses its trends, not its numbers, carry over (App. K).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calc import scaling_minimize
from calc.compute import MAX_FLOPS, MAX_PARAMS, MAX_TOKENS, check_positive

SOURCE = "Kumar et al. 2024, 'Scaling Laws for Precision' (arXiv 2411.04330, ICLR 2025), eq. 3-5, App. K Table 2"
A, ALPHA, B, BETA, E = 4.299e3, 0.4965, 1.806e4, 0.4965, 2.7648
#: (gamma, offset n) for weights, activations and KV cache (App. K Table 2).
PARTS = {"weights": (2.6745, 0.3037), "activations": (2.2102, 1.4072), "kv": (0.9578, 2.4185)}
MIN_BITS, MAX_BITS = 1.0, 32.0
REFERENCE_BITS = 16.0  # C = 6ND at 16-bit


def _bits(name: str, value) -> float:
    return check_positive(name, value, MAX_BITS, " bits", lower=MIN_BITS)


def param_fraction(weights, activations=None, kv=None):
    """N_eff / N for the given training precisions (activations and KV default to the weights' bits).

    >>> round(float(param_fraction(16)), 4), round(float(param_fraction(4)), 3)
    (0.9937, 0.191)
    """
    bits = {"weights": weights, "activations": weights if activations is None else activations,
            "kv": weights if kv is None else kv}
    f = 1.0
    for part, (gamma, offset) in PARTS.items():
        p = np.asarray(bits[part], dtype=float)
        f = f * np.clip(1.0 - np.exp(-p / gamma + offset), 0.0, None)
    return f


@lru_cache(maxsize=4096)
def _fraction(p: float) -> float:
    """``float(param_fraction(p))`` kept per precision: three numpy exp/clip calls on one number are most of an
    optimum at a given precision, and the Scaling page's sweep asks the same 49 precisions at every budget (issue 18)."""
    return float(param_fraction(p))


def loss(params, tokens, bits):
    """L(N, D, P) with all three parts trained in ``bits`` (Dolma nats)."""
    n_eff = np.asarray(params, dtype=float) * param_fraction(bits)
    with np.errstate(divide="ignore"):
        return A * n_eff ** -ALPHA + B * np.asarray(tokens, dtype=float) ** -BETA + E


def training_flops(params, tokens, bits):
    """C = (6 / 16) N D P (sec. 4.3): 6ND at 16 bits, linear in the bits."""
    return 6.0 / REFERENCE_BITS * np.asarray(params, float) * np.asarray(tokens, float) * np.asarray(bits, float)


@dataclass(frozen=True)
class PrecisionOptimum:
    flops: float
    bits: float
    params: float
    tokens: float
    loss: float
    effective_params: float


def _best_params(c: float, p: float) -> tuple[float, float]:
    """(N, loss) minimising L at precision p and budget c (bounded Brent over ln N)."""
    frac = _fraction(p)
    if frac <= 0:
        return math.nan, math.inf

    def f(log_n: float) -> float:
        n = math.exp(log_n)
        d = c * REFERENCE_BITS / (6.0 * n * p)
        return A * (n * frac) ** -ALPHA + B * d ** -BETA + E

    hi = min(math.log(MAX_PARAMS), math.log(c))
    x, fx = scaling_minimize.bounded(f, 0.0, hi, xatol=1e-10)  # scipy's bounded Brent, the same floats
    return math.exp(x), float(fx)


def optimum(flops: float, bits: float | None = None) -> PrecisionOptimum:
    """Compute-optimal N, D and (unless ``bits`` is given) training precision for a budget (eq. 5).

    >>> round(optimum(1e21).bits, 2), round(optimum(1e25).bits, 2)  # independent of compute (sec. 4.3.2)
    (7.0, 7.0)
    """
    c = check_positive("compute", flops, MAX_FLOPS, " FLOPs", lower=1e6)
    if bits is None:
        p = float(scaling_minimize.bounded(lambda p: _best_params(c, p)[1], 3.0, MAX_BITS, xatol=1e-8)[0])
    else:
        p = _bits("precision", bits)
    n, l_best = _best_params(c, p)
    if not math.isfinite(l_best):
        raise ValueError(f"at {p:g} bits the fitted law leaves no effective parameters; use more bits")
    d = c * REFERENCE_BITS / (6.0 * n * p)
    return PrecisionOptimum(c, p, n, d, l_best, n * _fraction(p))


def run_loss(params: float, tokens: float, bits: float) -> dict:
    """Loss of N params trained on D tokens in ``bits`` (weights, activations and KV cache), with its cost."""
    n = check_positive("params", params, MAX_PARAMS, lower=1.0)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=1.0)
    p = _bits("precision", bits)
    frac = float(param_fraction(p))
    if frac <= 0:
        raise ValueError(f"at {p:g} bits the fitted law leaves no effective parameters; use more bits")
    return {"params": n, "tokens": d, "bits": p, "effective_params": n * frac, "param_fraction": frac,
            "loss": float(loss(n, d, p)), "flops": float(training_flops(n, d, p))}


#: Post-train quantization degradation, eq. 2, App. K Table 2 (ICLR 2025 version, checked against the paper's text).
C_T, GAMMA_D, GAMMA_N, GAMMA_POST = 0.0598, 0.5068, 0.3439, 0.5907
PTQ_SOURCE = ("Kumar et al. 2024, 'Scaling Laws for Precision' (arXiv 2411.04330, ICLR 2025), sec. 3.1 eq. 2, "
              "App. E.1 eq. 13, App. K Table 2")


def ptq_degradation(params, tokens, bits):
    """Loss added by quantizing a bf16-trained model of N params, trained on D tokens, to ``bits`` afterwards (eq. 2).

    >>> round(float(ptq_degradation(1e8, 2.6e10, 4)), 4)
    0.0231
    """
    n = np.asarray(params, dtype=float)
    d = np.asarray(tokens, dtype=float)
    p = np.asarray(bits, dtype=float)
    return C_T * d ** GAMMA_D / n ** GAMMA_N * np.exp(-p / GAMMA_POST)


def ptq_loss(params, tokens, bits):
    """L(N, D) of a 16-bit-trained model plus its PTQ degradation at ``bits`` (Dolma nats, as fitted)."""
    return loss(params, tokens, REFERENCE_BITS) + ptq_degradation(params, tokens, bits)


def critical_tokens(params, bits):
    """App. E.1 eq. 13: the pretraining tokens past which more data raises the loss after PTQ to ``bits``.

    Where dL/dD = -d(delta_PTQ)/dD: beta B D^(-beta-1) = gamma_D C_T N^-gamma_N e^(-P/gamma_post) D^(gamma_D-1).
    Grows with N and exponentially with the bits ("explodes in P", App. E.1).

    >>> f"{float(critical_tokens(30e6, 3)):.3g}"  # the 30M model of Fig. 2 (left), 3-bit PTQ: inside its 1.5-26B sweep
    '1.64e+10'
    """
    n = np.asarray(params, dtype=float)
    p = np.asarray(bits, dtype=float)
    return (BETA * B * n ** GAMMA_N * np.exp(p / GAMMA_POST) / (GAMMA_D * C_T)) ** (1.0 / (GAMMA_D + BETA))


@dataclass(frozen=True)
class PtqCost:
    params: float  # N, non-embedding parameters (the paper's N)
    tokens: float  # D, pretraining tokens
    bits: float
    loss_before: float  # L(N, D) trained at 16 bits
    degradation: float  # delta_PTQ
    relative: float  # degradation / loss_before
    critical_tokens: float  # D_crit (eq. 13): past it, more pretraining makes the quantized model worse

    @property
    def loss_after(self) -> float:
        return self.loss_before + self.degradation


def ptq_cost(params: float, tokens: float, bits: float) -> PtqCost:
    """The predicted loss cost of serving N non-embedding params trained on D tokens with weights in ``bits`` (eq. 2),
    and the critical data size of eq. 13 for that N and ``bits``."""
    n = check_positive("params", params, MAX_PARAMS, lower=1.0)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=1.0)
    return _ptq(n, d, _bits("weight precision", bits), float(loss(n, d, REFERENCE_BITS)))


def _ptq(n: float, d: float, p: float, before: float) -> PtqCost:
    """Eq. 2 and eq. 13 at precision ``p`` for checked N and D, L(N, D) at ``REFERENCE_BITS`` given."""
    delta = float(ptq_degradation(n, d, p))
    return PtqCost(n, d, p, before, delta, delta / before, float(critical_tokens(n, p)))


def ptq_costs(params: float, tokens: float, bits: Sequence[float]) -> tuple[PtqCost, ...]:
    """``ptq_cost(params, tokens, b)`` for each ``b`` in ``bits``, bit for bit: N and D checked and L(N, D) computed
    once, eq. 2 and eq. 13 per precision as ``ptq_cost`` computes them (one array op over all precisions differs in
    the last bit: numpy's vector exp is not its scalar one). The Quantization page prices every file type on each
    token-count change (issue 18)."""
    n = check_positive("params", params, MAX_PARAMS, lower=1.0)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=1.0)
    ps = [_bits("weight precision", b) for b in bits]
    before = float(loss(n, d, REFERENCE_BITS))
    return tuple(_ptq(n, d, p, before) for p in ps)
