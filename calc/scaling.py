"""Scaling laws: the compute-optimal model size and data for a FLOP budget, and the loss they predict.

Every fit here has the form N_opt = k C^a with D_opt = C / (6 N_opt) (training compute C = 6 N D), and
says where it comes from:

- ``approach1``, ``approach2``, ``approach3``: Hoffmann et al. 2022 ("Training Compute-Optimal Large
  Language Models", arXiv 2203.15556) projections. The paper gives only the exponents (Table 2:
  a = 0.50, 0.49, 0.46) and the projected rows of Table 3 (Approach 1) and Table A3 (Approaches 2 and 3),
  not the coefficients. We anchor k and a by least squares of ln N on ln C through those rows
  (``anchor_power_law``), which gives a = 0.498, 0.490, 0.459. Two things in the tables are set aside:
  A3's Approach 3 FLOPs for 175B is printed 1.26e24 but 6 x 175e9 x 12.0e12 = 1.26e25 (a typo, corrected
  here), and the "67 Billion" rows are internally inconsistent (Table 3: 5.76e23 FLOPs is Gopher's
  budget but 1.5T tokens fits a 70B model; A3's FLOPs and tokens both fit N of about 69-70B), so they
  are left out of the anchoring.
- ``hoffmann``: the paper's parametric loss L(N, D) = E + A/N^alpha + B/D^beta with E = 1.69, A = 406.4,
  B = 410.7, alpha = 0.34, beta = 0.28 (sec. D.2) and its closed-form optimum (eq. 4):
  N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)),
  a = beta/(alpha+beta) = 0.452 with these rounded constants. It does NOT reproduce Table A3's
  Approach 3 rows: for the same N it asks 1.6x to 2.2x the FLOPs (Besiroglu et al. 2024 trace this to
  the published fit).
- ``epoch``: Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", Epoch AI), the same
  form refitted to the paper's own data: E = 1.8172, A = 482.01, B = 2085.43, alpha = 0.3478,
  beta = 0.3658 (a = 0.513).
- ``kaplan``: Kaplan et al. 2020 sec. 6: N_opt = 1.3e9 C_min^0.73 with C_min in PF-days
  (1 PF-day = 8.64e19 FLOPs). C_min is the compute at a batch far below the critical batch; training at
  the critical batch (Kaplan's recommendation) spends C = 2 C_min (Kaplan eq. 5.5, C_min = C / (1 + B/B_crit)),
  so N_opt = 1.3e9 (C / 2 PF-days)^0.73. That is how Hoffmann et al. 2022 App. D.4 get 4.68B at 1e21
  FLOPs. Kaplan's N excludes embeddings; no loss is given here because Kaplan's L(N, D) is measured on
  WebText2 with another tokenizer and is not comparable.
- ``rule20``: D = 20 N, an approximation of the Chinchilla result (N = sqrt(C / 120)), not a fit.

- ``sardana``: the Chinchilla form with the constants Sardana et al. 2024 used: alpha = 0.336, beta = 0.283,
  A = 406.4, B = 410.7, E = 1.69 (their code's defaults, ``utils.py::ChinchillaConstants`` in
  nikhilsardana/beyond-chinchilla, and its README "Advanced Features"), not the rounded 0.34 / 0.28. With
  them a = 0.457, near Table 2's 0.46; with 0.34 / 0.28 the Figure 1 example comes out 8.0B and 10% saved.
- ``muennighoff``: Muennighoff et al. 2023's C4 refit (alpha = beta = 0.3527); with a limited number of unique
  tokens use ``calc.scaling_data`` (repetition discounts).
- ``gadre``: Gadre et al. 2024's over-training law (alpha = beta) fitted to their five small RedPajama runs
  (``calc.scaling_overtrain``), which predicts their held-out 1.4B / 900B-token run within 0.71%.

Beyond the optimum: ``overtraining`` (loss and compute penalty of tokens per parameter far above the
optimum, e.g. Llama 3 8B on 15T tokens) and ``inference_aware_optimum`` (Sardana et al. 2024, "Beyond
Chinchilla-Optimal: Accounting for Inference in Language Model Scaling Laws", ICML 2024, arXiv 2401.00448: the
model of a given loss that minimises training 6 N D_tr + inference 2 N D_inf FLOPs, their eq. 2). With the
``sardana`` constants it reproduces their Figure 1: a Chinchilla-optimal 13B model's quality with 2T inference
tokens costs 1.7e22 FLOPs (17%) less as a 7B model trained longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from calc import scaling_minimize
from calc.compute import MAX_FLOPS, MAX_PARAMS, MAX_TOKENS, PETAFLOP_DAY_FLOPS, check_positive

# ----- the parametric loss ---------------------------------------------------------------------

@dataclass(frozen=True)
class ParametricLoss:
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022 eq. 2), loss in nats per token."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, params, tokens):
        """Predicted loss; numpy arrays broadcast.

        >>> round(float(HOFFMANN.loss(70e9, 1.4e12)), 4)  # Chinchilla 70B on 1.4T tokens
        1.9366
        """
        return self.E + self.A / np.power(params, self.alpha) + self.B / np.power(tokens, self.beta)

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a: beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b: alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """G = (alpha A / (beta B))^(1 / (alpha + beta)) (Hoffmann et al. 2022 eq. 4)."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def optimal_params(self, flops):
        """N_opt = G (C/6)^a: the N minimising L(N, C/(6N))."""
        return self.G * np.power(np.asarray(flops, dtype=float) / 6.0, self.a)

    def min_flops_for_loss(self, loss: float) -> float:
        """Least compute C = 6 N D whose optimum reaches ``loss`` (closed form).

        At the optimum alpha A / N^alpha = beta B / D^beta (Lagrange), so
        L - E = (1 + alpha/beta) A / N^alpha gives N, then D follows.
        """
        if not loss > self.E:
            raise ValueError(f"target loss must be above the irreducible loss E = {self.E:.4g}, got {loss!r:.40}")
        n = (self.A * (1.0 + self.alpha / self.beta) / (loss - self.E)) ** (1.0 / self.alpha)
        d = (self.beta * self.B / (self.alpha * self.A * n ** -self.alpha)) ** (1.0 / self.beta)
        return 6.0 * n * d


HOFFMANN = ParametricLoss(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
EPOCH = ParametricLoss(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
#: The constants of Sardana et al. 2024 (nikhilsardana/beyond-chinchilla utils.py ChinchillaConstants).
SARDANA = ParametricLoss(E=1.69, A=406.4, B=410.7, alpha=0.336, beta=0.283)


# ----- the paper's tables -------------------------------------------------------------------------

@dataclass(frozen=True)
class TableRow:
    params: float
    flops: float
    tokens: float


def _rows(*triples) -> tuple[TableRow, ...]:
    return tuple(TableRow(*t) for t in triples)


#: Hoffmann et al. 2022 Table 3 (Approach 1): parameters, FLOPs, tokens.
CHINCHILLA_TABLE3 = _rows(
    (400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9), (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12), (280e9, 9.90e24, 5.9e12), (520e9, 3.43e25, 11.0e12), (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
)
#: Hoffmann et al. 2022 Table A3, Approach 2 (IsoFLOP profiles).
CHINCHILLA_TABLE_A3_APPROACH2 = _rows(
    (400e6, 1.84e19, 7.7e9), (1e9, 1.20e20, 20.0e9), (10e9, 1.32e22, 219.5e9), (67e9, 6.88e23, 1.7e12),
    (175e9, 4.54e24, 4.3e12), (280e9, 1.18e25, 7.1e12), (520e9, 4.19e25, 13.4e12), (1e12, 1.59e26, 26.5e12),
    (10e12, 1.75e28, 292.0e12),
)
#: What Table A3 prints for Approach 3 at 175B; 6 x 175e9 x 12.0e12 = 1.26e25, so the exponent is a typo.
TABLE_A3_APPROACH3_175B_FLOPS_AS_PRINTED = 1.26e24
#: Hoffmann et al. 2022 Table A3, Approach 3 (parametric fit), with the 175B FLOPs typo corrected.
CHINCHILLA_TABLE_A3_APPROACH3 = _rows(
    (400e6, 2.21e19, 9.2e9), (1e9, 1.62e20, 27.1e9), (10e9, 2.46e22, 410.1e9), (67e9, 1.71e24, 4.1e12),
    (175e9, 1.26e25, 12.0e12), (280e9, 3.52e25, 20.1e12), (520e9, 1.36e26, 43.5e12), (1e12, 5.65e26, 94.1e12),
    (10e12, 8.55e28, 1425.5e12),
)
#: Rows left out of the anchoring: the "67 Billion" rows do not agree with themselves (see module doc).
ANCHOR_SKIP_PARAMS = (67e9,)


def anchor_power_law(rows: tuple[TableRow, ...], skip: tuple[float, ...] = ANCHOR_SKIP_PARAMS) -> tuple[float, float]:
    """(k, a) of N = k C^a, least squares of ln N on ln C through a table's rows (minus ``skip``).

    >>> k, a = anchor_power_law(CHINCHILLA_TABLE3)
    >>> round(a, 3)  # Table 2 reports 0.50 for Approach 1
    0.498
    """
    kept = [r for r in rows if r.params not in skip]
    x = np.log([r.flops for r in kept])
    y = np.log([r.params for r in kept])
    a, ln_k = np.polyfit(x, y, 1)
    return float(math.exp(ln_k)), float(a)


# ----- the fits -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScalingFit:
    """A compute-optimal frontier N_opt = coef x C^exponent, D_opt = C / (6 N_opt), with its source."""

    key: str
    label: str
    source: str
    note: str
    coef: float
    exponent: float
    loss_model: ParametricLoss | None = None

    def params_for_compute(self, flops):
        return self.coef * np.power(np.asarray(flops, dtype=float), self.exponent)

    def tokens_for_compute(self, flops):
        flops = np.asarray(flops, dtype=float)
        return flops / (6.0 * self.params_for_compute(flops))

    def compute_for_params(self, params):
        return np.power(np.asarray(params, dtype=float) / self.coef, 1.0 / self.exponent)

    def loss(self, params, tokens):
        """Predicted loss, or ``None`` for a fit without a loss model."""
        if self.loss_model is None:
            return None
        return self.loss_model.loss(params, tokens)


def fit_from_loss(loss: ParametricLoss, key: str, label: str, source: str, note: str = "") -> ScalingFit:
    """The closed-form frontier of a parametric loss as a ``ScalingFit``: N = G 6^-a C^a."""
    return ScalingFit(key, label, source, note, coef=loss.G * 6.0 ** -loss.a, exponent=loss.a, loss_model=loss)


_PAPER = "Hoffmann et al. 2022 (arXiv 2203.15556)"


@cache
def fits() -> dict[str, ScalingFit]:
    """Every published fit, keyed as the CLI's ``--fit`` names them."""
    out = {}
    for key, n, rows, table in (("approach1", 1, CHINCHILLA_TABLE3, "Table 3"),
                                ("approach2", 2, CHINCHILLA_TABLE_A3_APPROACH2, "Table A3"),
                                ("approach3", 3, CHINCHILLA_TABLE_A3_APPROACH3, "Table A3")):
        k, a = anchor_power_law(rows)
        out[key] = ScalingFit(
            key, f"Chinchilla Approach {n} (projection)", f"{_PAPER}, {table}",
            f"Power law anchored by least squares through the paper's {table} rows (67B row left out); "
            f"a = {a:.3f}. No loss model.", k, a)
    out["hoffmann"] = fit_from_loss(
        HOFFMANN, "hoffmann", "Chinchilla parametric fit (closed form)", f"{_PAPER}, sec. D.2 and eq. 4",
        "E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28. Its closed form does not reproduce Table A3 "
        "(Approach 3): for the same N it needs 1.6-2.2x the FLOPs the table prints.")
    out["epoch"] = fit_from_loss(
        EPOCH, "epoch", "Epoch AI refit (Besiroglu et al. 2024)",
        "Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt' (arXiv 2404.10102)",
        "E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, refitted to the paper's data.")
    out["kaplan"] = ScalingFit(
        "kaplan", "Kaplan et al. 2020", "Kaplan et al. 2020 (arXiv 2001.08361), sec. 6.1",
        "N_opt = 1.3e9 x C_min^0.73, C_min in PF-days (8.64e19 FLOPs) = C / 2 when training at the critical "
        "batch (as Hoffmann et al. App. D.4 read it: 4.68B at 1e21 FLOPs); Kaplan's N excludes embeddings. "
        "Tokens here are C / (6N). No comparable loss (WebText2, other tokenizer).",
        1.3e9 / (2.0 * PETAFLOP_DAY_FLOPS) ** 0.73, 0.73)
    out["rule20"] = ScalingFit(
        "rule20", "20 tokens per parameter (approximation)", "rule of thumb from Hoffmann et al. 2022",
        "D = 20 N, so N = sqrt(C / 120). An approximation of Approaches 1 and 2 near 1e23 FLOPs, not a fit.",
        120.0 ** -0.5, 0.5)
    out["sardana"] = fit_from_loss(
        SARDANA, "sardana", "Chinchilla form, Sardana et al. 2024 constants",
        "Sardana et al. 2024, 'Beyond Chinchilla-Optimal' (arXiv 2401.00448); constants from their code "
        "(nikhilsardana/beyond-chinchilla utils.py)",
        "E=1.69, A=406.4, B=410.7, alpha=0.336, beta=0.283: the unrounded exponents that give Table 2's a = 0.46; "
        "the constants behind their Figure 1 (13B quality, 2T inference tokens: a 7B model saves 17%).")
    from calc import scaling_data, scaling_overtrain  # here: both import this module

    out["muennighoff"] = fit_from_loss(
        scaling_data.MUENNIGHOFF, "muennighoff", "Muennighoff et al. 2023 (C4, unlimited unique data)",
        scaling_data.SOURCE,
        "E=1.869, A=520.8, B=1487.7, alpha=beta=0.3527, fitted on C4. With a limited number of unique tokens, "
        "repeated epochs are discounted (R_D* = 15.4): give the unique tokens.")
    out["gadre"] = fit_from_loss(
        scaling_overtrain.GADRE, "gadre", "Gadre et al. 2024 over-training law (RedPajama, C4 eval)",
        scaling_overtrain.SOURCE,
        f"alpha=beta={scaling_overtrain.GADRE.alpha:.4f}, refitted here on the paper's five small runs "
        "(11M-412M); predicts their held-out 1.4B model over-trained 32x within 0.71% and 6.9B within 0.73%.")
    return out


FIT_KEYS = ("approach1", "approach2", "approach3", "hoffmann", "epoch", "kaplan", "rule20", "sardana", "muennighoff",
            "gadre")


def get_fit(key: str | ScalingFit) -> ScalingFit:
    if isinstance(key, ScalingFit):
        return key
    table = fits()
    if key not in table:
        raise ValueError(f"unknown fit {key!r:.40}; known fits: {', '.join(FIT_KEYS)}")
    return table[key]


# ----- optima -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Optimum:
    """The compute-optimal (N, D) of one fit at one budget, and the loss it predicts (``None``: no loss)."""

    fit: str
    flops: float
    params: float
    tokens: float
    loss: float | None

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params


def _optimum(fit: ScalingFit, flops: float) -> Optimum:
    n = float(fit.params_for_compute(flops))
    d = flops / (6.0 * n)
    loss = fit.loss(n, d)
    return Optimum(fit.key, flops, n, d, None if loss is None else float(loss))


def optimum(fit: str | ScalingFit, flops: float) -> Optimum:
    """Compute-optimal model size, tokens and loss for a budget of ``flops`` FLOPs.

    >>> o = optimum("approach1", 5.76e23)  # Gopher's budget: Chinchilla's 70B-class model
    >>> round(o.params / 1e9, 1), round(o.tokens / 1e12, 2)
    (67.9, 1.41)
    """
    f = get_fit(fit)
    return _optimum(f, check_positive("compute", flops, MAX_FLOPS, " FLOPs"))


def optimum_for_params(fit: str | ScalingFit, params: float) -> Optimum:
    """The budget (and tokens) for which a model of ``params`` parameters is compute-optimal."""
    f = get_fit(fit)
    n = check_positive("params", params, MAX_PARAMS)
    flops = float(f.compute_for_params(n))
    if not math.isfinite(flops) or flops > MAX_FLOPS:
        raise ValueError(f"params = {n:.3g} is compute-optimal only above {MAX_FLOPS:g} FLOPs; use a smaller model")
    d = flops / (6.0 * n)
    loss = f.loss(n, d)
    return Optimum(f.key, flops, n, d, None if loss is None else float(loss))


def loss_predictions(params: float, tokens: float) -> dict[str, float]:
    """L(N, D) under every fit that has a loss model (side by side)."""
    n = check_positive("params", params, MAX_PARAMS)
    d = check_positive("tokens", tokens, MAX_TOKENS)
    return {k: float(f.loss(n, d)) for k, f in fits().items() if f.loss_model is not None}


# ----- beyond the optimum --------------------------------------------------------------------------

@dataclass(frozen=True)
class OverTraining:
    """A run of N params on D tokens against the compute-optimal run of the same fit."""

    fit: str
    params: float
    tokens: float
    same_compute: Optimum  # the compute-optimal run with the same FLOPs
    loss: float | None  # L(N, D), None when the fit has no loss model
    flops_for_same_loss: float | None  # least compute reaching ``loss`` on the frontier

    @property
    def flops(self) -> float:
        return 6.0 * self.params * self.tokens

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def loss_penalty(self) -> float | None:
        """L(N, D) minus the loss of the compute-optimal run with the same compute."""
        if self.loss is None or self.same_compute.loss is None:
            return None
        return self.loss - self.same_compute.loss

    @property
    def compute_overhead(self) -> float | None:
        """FLOPs spent / FLOPs a compute-optimal run needs for the same loss (>= 1)."""
        if self.flops_for_same_loss is None:
            return None
        return self.flops / self.flops_for_same_loss


def overtraining(fit: str | ScalingFit, params: float, tokens: float) -> OverTraining:
    """Loss and compute cost of training N params on D tokens rather than at the optimum.

    >>> o = overtraining("hoffmann", 8.03e9, 15e12)  # Llama 3 8B on 15T tokens
    >>> round(o.tokens_per_param), round(o.same_compute.tokens_per_param), round(o.compute_overhead, 2)
    (1868, 95, 1.98)
    """
    f = get_fit(fit)
    n = check_positive("params", params, MAX_PARAMS)
    d = check_positive("tokens", tokens, MAX_TOKENS)
    same = _optimum(f, 6.0 * n * d)
    if f.loss_model is None:
        return OverTraining(f.key, n, d, same, None, None)
    loss = float(f.loss_model.loss(n, d))
    return OverTraining(f.key, n, d, same, loss, f.loss_model.min_flops_for_loss(loss))


@dataclass(frozen=True)
class InferenceAwareOptimum:
    """Sardana et al. 2024: the (N, D_tr) of a given loss with the least training + inference FLOPs."""

    fit: str
    target_loss: float
    inference_tokens: float
    params: float
    tokens: float
    chinchilla: Optimum  # the compute-optimal run reaching the same loss (ignores inference)

    @property
    def training_flops(self) -> float:
        return 6.0 * self.params * self.tokens

    @property
    def inference_flops(self) -> float:
        return 2.0 * self.params * self.inference_tokens

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    @property
    def chinchilla_total_flops(self) -> float:
        return self.chinchilla.flops + 2.0 * self.chinchilla.params * self.inference_tokens

    @property
    def saving(self) -> float:
        """Share of the Chinchilla-optimal model's lifetime FLOPs saved (0 when no inference; never below 0,
        since the Chinchilla point itself is a candidate: tiny negatives are float rounding)."""
        return max(0.0, 1.0 - self.total_flops / self.chinchilla_total_flops)


def inference_aware_optimum(fit: str | ScalingFit, target_loss: float, inference_tokens: float) -> InferenceAwareOptimum:
    """min 6 N D_tr + 2 N D_inf subject to L(N, D_tr) = target (Sardana et al. 2024 eq. 2).

    On the iso-loss curve D_tr(N) = (B / (target - E - A/N^alpha))^(1/beta); the total is minimised over
    ln N with bounded Brent between the smallest N that can reach the target and the Chinchilla N.
    """
    f = get_fit(fit)
    if f.loss_model is None:
        raise ValueError(f"fit {f.key!r} has no loss model; use sardana, hoffmann, epoch or your own fit")
    m = f.loss_model
    d_inf = float(inference_tokens)
    if not math.isfinite(d_inf) or not 0 <= d_inf <= MAX_TOKENS:
        raise ValueError(f"inference tokens must be in [0, {MAX_TOKENS:g}], got {inference_tokens!r:.40}")
    if not (isinstance(target_loss, (int, float)) and math.isfinite(target_loss) and target_loss > m.E):
        raise ValueError(f"target loss must be a number above E = {m.E:.4g}, got {target_loss!r:.40}")
    c_opt = m.min_flops_for_loss(float(target_loss))
    chin = _optimum(f, c_opt)
    excess = float(target_loss) - m.E
    n_min = (m.A / excess) ** (1.0 / m.alpha)

    def tokens_at(n: float) -> float:
        gap = excess - m.A / n ** m.alpha
        return (m.B / gap) ** (1.0 / m.beta) if gap > 0 else math.inf

    def total(log_n: float) -> float:
        n = math.exp(log_n)
        d = tokens_at(n)
        return 6.0 * n * d + 2.0 * n * d_inf if math.isfinite(d) else math.inf

    if d_inf == 0:
        n_best = chin.params
    else:
        x = scaling_minimize.bounded(total, math.log(n_min) + 1e-9, math.log(chin.params), xatol=1e-9)[0]
        n_best = math.exp(x)
        if total(x) > total(math.log(chin.params)):  # never worse than the Chinchilla point
            n_best = chin.params
    return InferenceAwareOptimum(f.key, float(target_loss), d_inf, n_best, tokens_at(n_best), chin)


# ----- models to mark on the charts -----------------------------------------------------------------

@dataclass(frozen=True)
class KnownRun:
    name: str
    params: float
    tokens: float
    source: str

    @property
    def flops(self) -> float:
        return 6.0 * self.params * self.tokens


KNOWN_RUNS: tuple[KnownRun, ...] = (
    KnownRun("Chinchilla 70B", 70e9, 1.4e12, "Hoffmann et al. 2022 Table 1"),
    KnownRun("Gopher 280B", 280e9, 300e9, "Hoffmann et al. 2022 Table 1"),
    KnownRun("GPT-3 175B", 175e9, 300e9, "Hoffmann et al. 2022 Table 1"),
    KnownRun("MT-NLG 530B", 530e9, 270e9, "Hoffmann et al. 2022 Table 1"),
    KnownRun("Llama-2-7B", 6_738_415_616, 2e12, "Touvron et al. 2023 (Llama 2) Table 1: 2.0T tokens"),
    KnownRun("Llama-3-8B", 8_030_261_248, 15e12, "Meta Llama 3 model card: over 15T tokens"),
    KnownRun("Llama-3-70B", 70_553_706_496, 15e12, "Meta Llama 3 model card: over 15T tokens"),
)
