"""Data-constrained scaling (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", arXiv 2305.16264).

When the unique tokens U run out, training repeats them. Repeated tokens are worth less than fresh ones, and
parameters beyond the compute-optimal size for U are worth less than the first ones. The paper replaces D and N in
the Chinchilla form by effective values (sec. 6, eq. 5-6):

    D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)),   R_D = D / U_D - 1   (repeated epochs; U_D = min(U, D))
    N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)),   U_N = min(N, N_opt(U_D)),   R_N = N / U_N - 1
    L(N, D, U) = E + A / N'^alpha + B / D'^beta

where N_opt(U_D) is the compute-optimal size for U_D tokens under the base law. One more epoch adds
exp(-R_D / R_D*) of a fresh epoch's effective tokens, so R_D* is the "half-life" of repetition: with R_D* = 15.4 an
epoch is worth 1/e of fresh data after about 16 repetitions.

Constants: the authors' repository (huggingface/datablations, README "Parametric Fit") gives the fit to full
precision: ln A = 6.255414, ln B = 7.3049974, ln E = 0.6254804, alpha = beta = 0.3526596 (the C4 base law of the
paper's App. B, alpha tied to beta), R_D* = 15.387756, R_N* = 5.309743 (the paper prints 521, 1488, 1.87, 0.353,
15.4, 5.3). The same README states the examples the tests reproduce: L(6.34e9, 242e9, U = 25e9) = 2.2256 and
L(8.67e9, 178e9, 25e9) = 2.2270 (the two models of the paper's Figure 1, right), and the compute-optimal
allocation at C = 1e22 with U = 25e9: 7.02B parameters on 237.3B tokens, 9.49 epochs (a grid search there; the
optimum here is found by bounded Brent over ln N, which agrees to the grid's 0.2% spacing).

Loss is in nats per token on C4 with the paper's GPT-2 tokenizer: trends and comparisons, not your data set's loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calc import scaling_minimize
from calc.compute import MAX_FLOPS, MAX_PARAMS, MAX_TOKENS, check_positive
from calc.scaling import ParametricLoss

#: The base law refitted on C4 (Muennighoff et al. 2023 App. B; full precision from the datablations README).
MUENNIGHOFF = ParametricLoss(E=math.exp(0.6254804), A=math.exp(6.255414), B=math.exp(7.3049974),
                             alpha=0.3526596, beta=0.3526596)
#: Decay constants of repeated tokens and of excess parameters (paper sec. 6: 15.4 and 5.3).
R_D_STAR = 15.387756
R_N_STAR = 5.309743
SOURCE = ("Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models' (arXiv 2305.16264), sec. 6 eq. 5-6; "
          "constants from huggingface/datablations README")


def effective_tokens(tokens, unique_tokens):
    """D' = U + U R_D* (1 - exp(-R_D / R_D*)) with R_D = D / U - 1 repetitions (numpy arrays broadcast).

    >>> round(float(effective_tokens(4e9, 1e9)) / 1e9, 3)  # 4 epochs of 1B unique tokens are worth 3.73B fresh
    3.726
    """
    d = np.asarray(tokens, dtype=float)
    u = np.minimum(np.asarray(unique_tokens, dtype=float), d)
    r = np.maximum(d / u - 1.0, 0.0)
    return u + u * R_D_STAR * (1.0 - np.exp(-r / R_D_STAR))


def optimal_params_for_tokens(tokens, law: ParametricLoss = MUENNIGHOFF):
    """The compute-optimal N for D tokens under the base law: at the optimum alpha A / N^alpha = beta B / D^beta."""
    d = np.asarray(tokens, dtype=float)
    return (law.alpha * law.A / (law.beta * law.B) * d ** law.beta) ** (1.0 / law.alpha)


def effective_params(params, unique_tokens):
    """N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)), U_N = min(N, N_opt(U)), R_N = N / U_N - 1."""
    n = np.asarray(params, dtype=float)
    u_n = np.minimum(n, optimal_params_for_tokens(unique_tokens))
    r = np.maximum(n / u_n - 1.0, 0.0)
    return u_n + u_n * R_N_STAR * (1.0 - np.exp(-r / R_N_STAR))


def loss(params, tokens, unique_tokens):
    """L(N, D, U) with effective parameters and tokens (nats per token on C4).

    >>> round(float(loss(6.34e9, 242e9, 25e9)), 4)  # the datablations README's Figure 1 example
    2.2256
    """
    law = MUENNIGHOFF
    u = np.minimum(np.asarray(unique_tokens, dtype=float), np.asarray(tokens, dtype=float))
    return (law.E + law.A / effective_params(params, u) ** law.alpha
            + law.B / effective_tokens(tokens, u) ** law.beta)


def _loss_at(n: float, d: float, u: float) -> float:
    """``float(loss(n, d, u))`` for one point, the same operations in the same order on scalars: ``optimum``'s
    bounded search calls it about a dozen times per budget, and making the 0-d arrays of ``loss`` was most of each
    call (the Scaling page sweeps 25 budgets, issue 18). The powers keep their kinds, since NumPy's array kernel and
    its scalar ``**`` may differ in the last bit: ``np.power`` where ``loss`` raises a 0-d array (U^beta), a
    ``np.float64``'s ``**`` where it raises a scalar (N'^alpha, D'^beta); the result is the same to the bit
    (tests/test_scaling_papers.py)."""
    law = MUENNIGHOFF
    u = min(u, d)
    u_n = min(n, (law.alpha * law.A / (law.beta * law.B) * np.power(u, law.beta)) ** (1.0 / law.alpha))
    n_eff = u_n + u_n * R_N_STAR * (1.0 - np.exp(-max(n / u_n - 1.0, 0.0) / R_N_STAR))
    d_eff = u + u * R_D_STAR * (1.0 - np.exp(-max(d / u - 1.0, 0.0) / R_D_STAR))
    return float(law.E + law.A / n_eff ** law.alpha + law.B / d_eff ** law.beta)


def epoch_value(epoch) -> float:
    """What the ``epoch``-th pass over the data adds, as a share of a pass over fresh data: d D' / d D at
    R_D = epoch - 1, i.e. exp(-(epoch - 1) / R_D*) (1 for the first epoch)."""
    return math.exp(-max(float(epoch) - 1.0, 0.0) / R_D_STAR)


def epochs_until_value(share: float) -> float:
    """The epoch count after which one more epoch adds less than ``share`` of a fresh epoch:
    1 + R_D* ln(1 / share). With the paper's R_D* the 4th epoch still adds 82%; past about 36 epochs less than 10%.

    >>> round(epochs_until_value(0.1), 1)
    36.4
    """
    if not (isinstance(share, (int, float)) and 0 < share < 1):
        raise ValueError(f"share must be a number in (0, 1), got {share!r:.40}")
    return 1.0 + R_D_STAR * math.log(1.0 / share)


@dataclass(frozen=True)
class DataConstrainedOptimum:
    """The (N, D) minimising L(N, D, U) at C = 6 N D for a fixed number of unique tokens U."""

    flops: float
    unique_tokens: float
    params: float
    tokens: float
    loss: float
    unconstrained: tuple[float, float, float]  # (N, D, loss) of the base law with unlimited unique data

    @property
    def epochs(self) -> float:
        return self.tokens / self.unique_tokens

    @property
    def marginal_epoch_value(self) -> float:
        """What the last epoch added, as a share of a fresh one."""
        return epoch_value(self.epochs)


def optimum(flops: float, unique_tokens: float) -> DataConstrainedOptimum:
    """Compute-optimal params, tokens and epochs for a budget with only ``unique_tokens`` unique tokens.

    L(N, C / 6N, U) is minimised over ln N by bounded Brent, between 1e-4 and 1e4 times the base law's optimum.

    >>> o = optimum(1e22, 25e9)  # the README's grid search: 7.022B params, 237.34B tokens, 9.493 epochs
    >>> round(o.params / 1e9, 3), round(o.tokens / 1e9, 2), round(o.epochs, 3)
    (7.026, 237.21, 9.488)
    """
    c = check_positive("compute", flops, MAX_FLOPS, " FLOPs", lower=1.0)
    u = check_positive("unique tokens", unique_tokens, MAX_TOKENS, lower=1.0)
    law = MUENNIGHOFF
    n0 = float(law.optimal_params(c))
    d0 = c / (6.0 * n0)

    def f(log_n: float) -> float:
        n = math.exp(log_n)
        return _loss_at(n, c / (6.0 * n), u)

    lo = max(math.log(n0) - math.log(1e4), 0.0)
    hi = min(math.log(n0) + math.log(1e4), math.log(MAX_PARAMS))
    x, fx = scaling_minimize.bounded(f, lo, hi, xatol=1e-10)  # scipy's bounded Brent, the same floats
    n = math.exp(x)
    return DataConstrainedOptimum(c, u, n, c / (6.0 * n), float(fx), (n0, d0, float(law.loss(n0, d0))))


def run_loss(params: float, tokens: float, unique_tokens: float) -> dict[str, float]:
    """One run's loss and the effective quantities behind it (for the CLI and the page)."""
    n = check_positive("params", params, MAX_PARAMS, lower=1.0)
    d = check_positive("tokens", tokens, MAX_TOKENS, lower=1.0)
    u = check_positive("unique tokens", unique_tokens, MAX_TOKENS, lower=1.0)
    u = min(u, d)
    return {"params": n, "tokens": d, "unique_tokens": u, "epochs": d / u,
            "effective_tokens": float(effective_tokens(d, u)), "effective_params": float(effective_params(n, u)),
            "loss": float(loss(n, d, u)), "loss_unique": float(MUENNIGHOFF.loss(n, d)),
            "last_epoch_value": epoch_value(d / u)}
