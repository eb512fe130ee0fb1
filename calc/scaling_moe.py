"""Fine-grained mixture of experts (Krajewski et al. 2024, "Scaling Laws for Fine-Grained Mixture of Experts",
arXiv 2402.07871; ICML 2024 as Ludziejewski et al.).

Granularity G = d_ff / d_expert splits each expert into G smaller ones; a token visits G of them, so the active
parameters stay the same. The expansion rate E = N_MoE / N_ff is the total over the active feed-forward parameters
(E experts at G = 1; G x E experts in all). The law (eq. 9, Table 1, MoE row) at E = 64:

    L(N, D, G) = c + (g / G^gamma + a) / N^alpha + b / D^beta,
    a = 18.1, alpha = 0.115, b = 30.8, beta = 0.147, g = 2.1, gamma = 0.58, c = 0.47,

with N the total non-embedding parameters and D the training tokens. The dense row of Table 1 is
L = 0.47 + 16.3 / N^0.126 + 26.7 / D^0.127.

Cost (sec. 6.1, eq. 10): F = (12 d_model^2 c_f + d_model E G c_r) D n_blocks with d_model = 64 n_blocks
(their choice), N_act = 12 d_model^2 n_blocks active and N = d_model^2 (8E + 4) n_blocks total non-embedding
parameters (per block: attention 4 d^2, and feed-forward experts holding E times a dense 8 d^2 layer, d_ff = 4 d).
c_f = 6 (the 6ND rule) and c_r, the FLOPs per
routing parameter, are analysed in the paper's Appendix E, which we could not read; c_r = 14 is inferred here: it
reproduces Table 2's FLOPs column to 0.4% for all seven rows (a routing cost of 12-14 would be within 1%).

Optimum (sec. 6.2): minimise L over (N_act, G) at F fixed; G is searched over powers of two (Table 2 reports only
powers of two) and N_act by bounded Brent over ln N_act. Table 2 (E = 64) is reproduced by ``TABLE2`` tests:
G exactly in every row, N_act and D within 3%, loss within 0.03 (the coefficients are printed to 2-3 digits, and
alpha = 0.115 +- 0.0005 alone moves the loss by +-0.015 at these sizes).

Sec. 1 says a compute-optimal MoE at 1e20 FLOPs matches a dense model trained on 20x the budget, "exceeding 40x"
past 1e25 (read off Figure 1b). With Table 1's rounded coefficients we get 21x at 1e20 (tested) but 32x at 1e25 and
39x at 1e28: the 40x is not reproduced.

The law was fitted at E = 64 only (Appendix D's E = 16 fit is not reproduced here), so other expansion rates are
refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calc import scaling_minimize
from calc.compute import MAX_FLOPS, MAX_PARAMS, MAX_TOKENS, check_positive

SOURCE = ("Krajewski et al. 2024, 'Scaling Laws for Fine-Grained Mixture of Experts' (arXiv 2402.07871), "
          "eq. 9-10, Table 1-2")
EXPANSION = 64  # E the law was fitted at
C_F = 6.0  # FLOPs per active parameter per token (6ND)
C_R = 14.0  # FLOPs per routing parameter per token (inferred from Table 2, see module doc)
DEPTH_TO_WIDTH = 64  # d_model = 64 n_blocks
GRANULARITIES = tuple(2 ** k for k in range(11))  # 1 .. 1024


@dataclass(frozen=True)
class MoELaw:
    """L(N, D, G) = c + (g / G^gamma + a) / N^alpha + b / D^beta; g = 0 gives the dense law."""

    a: float
    alpha: float
    b: float
    beta: float
    g: float
    gamma: float
    c: float

    def loss(self, params, tokens, granularity=1.0):
        n = np.asarray(params, dtype=float)
        d = np.asarray(tokens, dtype=float)
        gg = np.asarray(granularity, dtype=float)
        return self.c + (self.g / gg ** self.gamma + self.a) / n ** self.alpha + self.b / d ** self.beta


#: Table 1, MoE row (E = 64) and dense row.
KRAJEWSKI = MoELaw(a=18.1, alpha=0.115, b=30.8, beta=0.147, g=2.1, gamma=0.58, c=0.47)
KRAJEWSKI_DENSE = MoELaw(a=16.3, alpha=0.126, b=26.7, beta=0.127, g=0.0, gamma=0.0, c=0.47)


def _check_expansion(expansion) -> int:
    if isinstance(expansion, bool) or expansion != EXPANSION:
        raise ValueError(f"experts (expansion rate E) must be {EXPANSION}: Krajewski et al.'s law was fitted at "
                         f"E = 64 only; got {expansion!r:.40}")
    return EXPANSION


def d_model(active_params):
    """d_model from N_act = 12 d^2 n_blocks and d = 64 n_blocks: d = (64 N_act / 12)^(1/3)."""
    return (DEPTH_TO_WIDTH * np.asarray(active_params, dtype=float) / 12.0) ** (1.0 / 3.0)


def total_params(active_params, expansion: int = EXPANSION):
    """Total non-embedding parameters N = d^2 (8E + 4) n_blocks for N_act active (routing excluded)."""
    d = d_model(active_params)
    return d ** 2 * (8.0 * expansion + 4.0) * d / DEPTH_TO_WIDTH


def flops_per_token(active_params, granularity, expansion: int = EXPANSION):
    """Training FLOPs per token (eq. 10): (12 d^2 c_f + d E G c_r) n_blocks."""
    d = d_model(active_params)
    g = np.asarray(granularity, dtype=float)
    return (12.0 * d ** 2 * C_F + d * expansion * g * C_R) * d / DEPTH_TO_WIDTH


def run_loss(active_params: float, tokens: float, granularity: float, expansion: int = EXPANSION) -> dict:
    """Loss of one MoE run, with its total parameters and FLOPs."""
    e = _check_expansion(expansion)
    na = check_positive("active params", active_params, MAX_PARAMS, lower=1e3)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=1.0)
    g = check_positive("granularity", granularity, 1024.0, lower=1.0)
    n = float(total_params(na, e))
    return {"active_params": na, "params": n, "tokens": d, "granularity": g, "experts": e,
            "flops": float(flops_per_token(na, g, e) * d), "loss": float(KRAJEWSKI.loss(n, d, g))}


@dataclass(frozen=True)
class MoEOptimum:
    flops: float
    granularity: float
    active_params: float
    params: float  # total non-embedding
    tokens: float
    loss: float
    expansion: int = EXPANSION
    by_granularity: tuple[tuple[float, float], ...] = ()  # (G, best loss at G) for every G searched

    @property
    def experts(self) -> float:
        """Experts per MoE layer: G x E."""
        return self.granularity * self.expansion


def _best_at(flops: float, g: float, expansion: int) -> tuple[float, float]:
    """(N_act, loss) minimising L at F fixed for one granularity (bounded Brent over ln N_act)."""

    def f(log_na: float) -> float:
        na = math.exp(log_na)
        d = flops / float(flops_per_token(na, g, expansion))
        return float(KRAJEWSKI.loss(float(total_params(na, expansion)), d, g))

    # N_act from 1e3 to where D would fall below one token
    hi = math.log(min(MAX_PARAMS / 50, math.sqrt(flops / 6.0) * 1e3))
    x, fx = scaling_minimize.bounded(f, math.log(1e3), max(hi, math.log(1e3) + 1), xatol=1e-9)
    return math.exp(x), float(fx)


def optimum(flops: float, granularity: float | None = None, expansion: int = EXPANSION) -> MoEOptimum:
    """Compute-optimal active parameters, tokens and (unless given) granularity for a FLOP budget.

    >>> o = optimum(6.46e21)  # Table 2: 64 x 7B active, 137.6B tokens, G = 32
    >>> o.granularity, round(o.active_params / 1e9, 1), round(o.tokens / 1e9)
    (32, 7.1, 135)
    """
    e = _check_expansion(expansion)
    c = check_positive("compute", flops, MAX_FLOPS, " FLOPs", lower=1e12)
    if granularity is not None:
        grid = (check_positive("granularity", granularity, 1024.0, lower=1.0),)
    else:
        grid = GRANULARITIES
    scan = [(g, *_best_at(c, g, e)) for g in grid]
    g, na, loss = min(scan, key=lambda t: t[2])
    d = c / float(flops_per_token(na, g, e))
    return MoEOptimum(c, g, na, float(total_params(na, e)), d, loss, e, tuple((s[0], s[2]) for s in scan))


def dense_optimum(flops: float) -> tuple[float, float, float]:
    """(N, D, loss) of the dense law of Table 1 at F = 6 N D (closed form of a Chinchilla-type law)."""
    c = check_positive("compute", flops, MAX_FLOPS, " FLOPs", lower=1e12)
    law = KRAJEWSKI_DENSE
    # minimise a N^-alpha + b (C/6N)^-beta over N: alpha a N^-alpha = beta b D^-beta
    x, fx = scaling_minimize.bounded(lambda ln: float(law.loss(math.exp(ln), c / (6 * math.exp(ln)))),
                                     math.log(1e3), math.log(min(MAX_PARAMS, c / 6)), xatol=1e-10)
    n = math.exp(x)
    return n, c / (6 * n), float(fx)


def dense_flops_for_loss(loss: float) -> float:
    """Least FLOPs with which the dense law reaches ``loss`` (bisection on the dense optimum's loss)."""
    if not loss > KRAJEWSKI_DENSE.c:
        raise ValueError(f"loss must be above c = {KRAJEWSKI_DENSE.c}, got {loss!r:.40}")
    lo, hi = math.log(1e12), math.log(MAX_FLOPS)
    if dense_optimum(math.exp(hi))[2] > loss:
        raise ValueError(f"the dense law does not reach loss {loss:.4g} below {MAX_FLOPS:g} FLOPs")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if dense_optimum(math.exp(mid))[2] > loss:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    return math.exp(hi)
