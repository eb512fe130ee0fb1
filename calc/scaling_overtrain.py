"""Over-training (Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks",
arXiv 2403.08540).

The paper fixes alpha = beta in the Chinchilla form, which makes the law a power law in compute for each token
multiplier M = D / N (their eq. 4): L(C, M) = E + (a M^eta + b M^-eta) C^-eta; in N and D it is
L = E + A / N^eta + B / D^eta. They fit it (scipy ``curve_fit``, a grid of starts, least squares on the loss) to
five small runs: the four smallest models at M = 20 and the 11M model at M = 320 (their Table 2 default; the
authors' ``scaling/shared.py::fit_ds``), then predict a 1.4B model over-trained to M = 640 (900B tokens) and a 6.9B
model at M = 20 from 300x less compute. With RedPajama training and C4-eval loss their released notebook
(``scaling_explorer.ipynb``, Figure 1) prints relative errors of 0.7103% and 0.7320%.

``FIT_RUNS`` and ``HELD_OUT_RUNS`` are those runs as the authors published them (mlfoundations/scaling,
``exp_data/models/rpj-*.json``: ``params`` including embeddings, ``tokens``, and the ``c4_val`` loss). ``fit``
refits the law the way the paper did; ``GADRE`` holds its result (the test refits and compares, and checks the
held-out predictions). The loss is C4-eval nats for models trained on RedPajama with the GPT-NeoX tokenizer.

Band: the paper publishes no interval for its fit, so ``bootstrap`` makes one from the released runs: the 24 small
runs of the same release that make the over-training grid (``GRID_RUNS``: the four sizes at M = 20 to 640; the five
fitting runs are among them, the two predicted runs never are) scatter about ``GADRE`` by residuals r_i; each of 200
refits (numpy seed 0) fits the same law, started from ``GADRE``, to GADRE's predictions at those runs plus residuals
drawn from r with replacement (a residual bootstrap: the band is the law's spread given how far real runs fall from
it). Its 10th-90th percentile is the band of the ``gadre`` law (``calc.scaling_bands.samples_for``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from calc.scaling import ParametricLoss

SOURCE = ("Gadre et al. 2024, 'Language models scale reliably with over-training and on downstream tasks' "
          "(arXiv 2403.08540), eq. 4; runs from mlfoundations/scaling exp_data")


@dataclass(frozen=True)
class Run:
    name: str
    params: float
    tokens: float
    loss: float  # C4 eval


#: The five fitting runs (RedPajama): d=96/512/576/1024 at M = 20 and d=96 at M = 320.
FIT_RUNS = (
    Run("rpj-d=96_l=8_h=4-1.0", 10_569_312, 211_386_240, 5.38702091510821),
    Run("rpj-d=512_l=8_h=4-1.0", 78_914_048, 1_578_280_960, 3.899942990231468),
    Run("rpj-d=576_l=24_h=8-1.0", 153_677_376, 3_073_547_520, 3.531147408490181),
    Run("rpj-d=1024_l=24_h=8-1.0", 411_616_256, 8_232_325_120, 3.149769456671634),
    Run("rpj-d=96_l=8_h=4-16.0", 10_569_312, 3_382_179_840, 4.572292613487238),
)
#: The two runs the paper predicts (never used in the fit): 1.4B at M = 640 and 6.9B at M = 20.
HELD_OUT_RUNS = (
    Run("rpj-open_lm_1b-32.0", 1_439_795_200, 921_468_928_000, 2.502053562117363),
    Run("rpj-open_lm_7b-1.0", 6_889_410_560, 137_788_211_200, 2.424993099368689),
)


#: The over-training grid of the release (RedPajama, C4 eval loss): d=96/512/576/1024 at multipliers 1-32 of
#: M = 20 (exp_data/models/rpj-d=*-{1.0,2.0,4.0,8.0,16.0,32.0}.json). Used only for the bootstrap band.
_GRID = {
    ("d=96_l=8_h=4", 10_569_312): (5.38702091510821, 5.107841900656407, 4.8231177076673335, 4.670495020574533,
                                   4.572292613487238, 4.492098042798854),
    ("d=512_l=8_h=4", 78_914_048): (3.899942990231468, 3.7441492913284, 3.6344822539735, 3.5525051864251345,
                                    3.489515495205766, 3.425380424022153),
    ("d=576_l=24_h=8", 153_677_376): (3.531147408490181, 3.400956711809327, 3.3138508520543835,
                                      3.2388579791867804, 3.168113735949615, 3.1051019658045784),
    ("d=1024_l=24_h=8", 411_616_256): (3.149769456671634, 3.048349079376072, 2.9739398394679726,
                                       2.908766024148731, 2.8035228460174086, 2.7681623882618447),
}
GRID_RUNS = tuple(Run(f"rpj-{shape}-{mult:.1f}", n, 20 * n * mult, loss)
                  for (shape, n), losses in _GRID.items() for mult, loss in zip((1, 2, 4, 8, 16, 32), losses,
                                                                                   strict=True))
N_BOOTSTRAP, BOOTSTRAP_SEED = 200, 0
#: ``bootstrap()`` stored (3 s to recompute on a busy 2-core box): ``python -m calc.scaling_overtrain`` rewrites it,
#: tests/test_scaling_papers.py recomputes and compares.
BOOTSTRAP_FILE = Path(__file__).resolve().parent / "data" / "gadre_bootstrap.npy"


def _model(theta, n, d):
    """L = E + a N^-eta + b 6^(-eta/2) D^-eta (the authors' ``powlaw_ours`` with D = M N)."""
    a, b, neg_eta, e = theta
    return a * n ** neg_eta + b * 6.0 ** (neg_eta / 2.0) * d ** neg_eta + e


def fit(runs=FIT_RUNS) -> ParametricLoss:
    """Least squares on the loss from the paper's grid of starts (a, b in {1e2, 3e2, 1e3, 3e3}, exponent in
    {-0.1, -0.3}, E in {0, 1, 2, 10}); the start with the smallest residual wins."""
    n = np.array([r.params for r in runs], float)
    d = np.array([r.tokens for r in runs], float)
    y = np.array([r.loss for r in runs], float)
    best, best_cost = None, math.inf
    for a0, b0, e0, c0 in itertools.product((1e2, 3e2, 1e3, 3e3), (1e2, 3e2, 1e3, 3e3), (-0.1, -0.3),
                                            (0.0, 1.0, 2.0, 10.0)):
        with np.errstate(all="ignore"):
            res = least_squares(lambda t: _model(t, n, d) - y, [a0, b0, e0, c0], method="lm", max_nfev=10000,
                                xtol=1e-15, ftol=1e-15, gtol=1e-15)
        if np.all(np.isfinite(res.x)) and res.cost < best_cost:
            best, best_cost = res.x, res.cost
    a, b, neg_eta, e = (float(v) for v in best)
    return ParametricLoss(E=e, A=a, B=b * 6.0 ** (neg_eta / 2.0), alpha=-neg_eta, beta=-neg_eta)


#: ``fit()`` on ``FIT_RUNS`` (computed once; tests/test_scaling_papers.py refits and compares).
GADRE = ParametricLoss(E=1.836648384, A=166.2109851, B=287.1680809, alpha=0.2728507031, beta=0.2728507031)


def bootstrap(n_refits: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Residual-bootstrap refits of the law over ``GRID_RUNS``: rows of (E, A, B, alpha, beta) (see module doc)."""
    n = np.array([r.params for r in GRID_RUNS], float)
    d = np.array([r.tokens for r in GRID_RUNS], float)
    start = np.array([GADRE.A, GADRE.B / 6.0 ** (-GADRE.alpha / 2.0), -GADRE.alpha, GADRE.E])
    pred = _model(start, n, d)
    resid = np.array([r.loss for r in GRID_RUNS], float) - pred
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_refits):
        y = pred + rng.choice(resid, len(resid))
        with np.errstate(all="ignore"):
            res = least_squares(lambda t, y=y: _model(t, n, d) - y, start, method="lm", max_nfev=2000)
        a, b, neg_eta, e = (float(v) for v in res.x)
        rows.append((e, a, b * 6.0 ** (neg_eta / 2.0), -neg_eta, -neg_eta))
    return np.array(rows)


@cache
def stored_bootstrap() -> np.ndarray:
    """``bootstrap()`` as stored in ``BOOTSTRAP_FILE``."""
    return np.load(BOOTSTRAP_FILE, allow_pickle=False)


if __name__ == "__main__":
    np.save(BOOTSTRAP_FILE, bootstrap())
    print(f"wrote {BOOTSTRAP_FILE}")
