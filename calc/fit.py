"""Fit your own scaling law from runs (params, tokens, loss), the way Hoffmann et al. 2022 did.

Model: L(N, D) = E + A / N^alpha + B / D^beta. Procedure of Hoffmann et al. 2022 Appendix D.2 (eq. 11 and
the text under it): with A, B, E = exp(a), exp(b), exp(e), minimise over (a, b, e, alpha, beta)

    sum_i Huber_delta( LSE(a - alpha ln N_i, b - beta ln D_i, e) - ln L_i ),   delta = 1e-3,

with L-BFGS started from the grid alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1},
a, b in {0, 5, ..., 25} (4,500 starts). To stay fast on two cores we evaluate the objective at every
grid point (vectorised) and run L-BFGS-B (scipy, analytic gradient, alpha and beta kept in [0, 5]) from
the ``n_starts`` best of them. Uncertainty: refit ``n_bootstrap`` resamples of the runs and report the
10th and 90th percentiles, as the paper's Table 2 does. The refits run all at once (``_batched_refit``: one
batched Gauss-Newton on the reweighted Huber loss from the full-data fit), so 200 refits of 50 runs take a
fraction of a second (bench/bench_scaling_fit.py). The paper refits random 80% subsets
(``subsample=0.8``); a subset without replacement shares most runs with the full set and gives intervals
about half as wide as the sampling spread, so the default is the ordinary bootstrap (n runs drawn with
replacement, ``subsample=None``).

Input is untrusted: ``parse_runs_csv`` reads at most ``MAX_CSV_BYTES`` bytes and ``MAX_ROWS`` rows
with the ``csv`` module (no eval, no pickle), and every error names the column and row.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from calc.compute import MAX_PARAMS, MAX_TOKENS
from calc.scaling import ParametricLoss
from calc.scaling_bands import LawSamples

MAX_CSV_BYTES = 1_000_000
MAX_ROWS = 10_000
MIN_RUNS = 6  # five constants are fitted
MIN_DISTINCT = 3  # distinct N and distinct D values: fewer cannot separate E from A/N^alpha
MAX_LOSS = 100.0
HUBER_DELTA = 1e-3
PERCENTILES = (10.0, 90.0)
MAX_BATCH_CELLS = 200_000  # resamples x runs refitted together (memory: ~30 arrays of this many floats)
MAX_BOOTSTRAP_CELLS = 1_000_000  # resamples x runs in one bootstrap (about 6 s of CPU at the limit)

#: Accepted header names (case-insensitive) for each column.
COLUMN_ALIASES = {
    "params": ("params", "parameters", "n", "n_params", "num_params"),
    "tokens": ("tokens", "d", "data", "n_tokens", "num_tokens"),
    "loss": ("loss", "l", "final_loss", "eval_loss"),
}
_BOUNDS = {"params": MAX_PARAMS, "tokens": MAX_TOKENS, "loss": MAX_LOSS}


@dataclass(frozen=True, eq=False)
class Runs:
    """Training runs: parameters, tokens and final loss (nats per token), as float arrays."""

    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray

    def __len__(self) -> int:
        return len(self.loss)


def runs_from_arrays(params, tokens, loss) -> Runs:
    """Validate three equal-length sequences of positive finite numbers into ``Runs``."""
    cols = {}
    for name, values in (("params", params), ("tokens", tokens), ("loss", loss)):
        try:
            arr = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError, OverflowError):  # a dict, a ragged list, text, an int beyond float
            raise ValueError(f"column {name} must be a sequence of positive numbers up to {_BOUNDS[name]:g}, "
                             f"got {values!r:.60}") from None
        bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0) | (arr > _BOUNDS[name]))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"column {name}, run {i + 1}: must be a positive number up to {_BOUNDS[name]:g}, "
                             f"got {arr[i]!r}")
        cols[name] = arr
    if not len(cols["params"]) == len(cols["tokens"]) == len(cols["loss"]):
        raise ValueError("params, tokens and loss must have the same number of runs")
    return Runs(cols["params"], cols["tokens"], cols["loss"])


def parse_runs_csv(data: bytes) -> Runs:
    """Read a CSV with columns params, tokens, loss (any order, case-insensitive, extra columns ignored).

    >>> r = parse_runs_csv(b"params,tokens,loss\\n1e8,2e9,3.1\\n4e8,8e9,2.7\\n")
    >>> len(r), float(r.tokens[1])
    (2, 8000000000.0)
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"the CSV must be bytes, got {type(data).__name__}")
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"the CSV is {len(data):,} bytes; at most {MAX_CSV_BYTES:,} are read")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the CSV is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise ValueError("the CSV contains a NUL byte; it is not a text CSV")
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ValueError(f"the CSV could not be read: {exc}") from None
    if not rows:
        raise ValueError("the CSV is empty: expected a header row params,tokens,loss and one row per run")
    header = [cell.strip().lower() for cell in rows[0]]
    where = {}
    for col, aliases in COLUMN_ALIASES.items():
        hits = [i for i, name in enumerate(header) if name in aliases]
        if hits:
            where[col] = hits[0]
    missing = [c for c in COLUMN_ALIASES if c not in where]
    if missing:
        found = ", ".join(repr(h[:30]) for h in header[:10]) or "nothing"
        raise ValueError(f"the CSV needs columns params, tokens, loss (case-insensitive); missing "
                         f"{', '.join(missing)}; the header has {found}")
    body = rows[1:]
    if not body:
        raise ValueError("the CSV has a header but no runs")
    if len(body) > MAX_ROWS:
        raise ValueError(f"the CSV has {len(body):,} runs; at most {MAX_ROWS:,} are accepted")
    values = {c: np.empty(len(body)) for c in COLUMN_ALIASES}
    for r, row in enumerate(body, start=2):
        for col, idx in where.items():
            if idx >= len(row):
                raise ValueError(f"row {r}: no value in column {col} (the row has {len(row)} fields)")
            raw = row[idx].strip()
            try:
                v = float(raw)
            except ValueError:
                raise ValueError(f"row {r}, column {col}: {raw[:30]!r} is not a number") from None
            if not math.isfinite(v) or v <= 0 or v > _BOUNDS[col]:
                raise ValueError(f"row {r}, column {col}: must be a positive number up to {_BOUNDS[col]:g}, "
                                 f"got {raw[:30]!r}")
            values[col][r - 2] = v
    return Runs(values["params"], values["tokens"], values["loss"])


def check_fittable(runs: Runs) -> None:
    """Refuse data the five-constant law cannot be fitted to, saying why."""
    n = len(runs)
    if n < MIN_RUNS:
        raise ValueError(f"need at least {MIN_RUNS} runs to fit 5 constants (E, A, B, alpha, beta), got {n}")
    for name, arr in (("params", runs.params), ("tokens", runs.tokens)):
        distinct = len(np.unique(arr))
        if distinct < MIN_DISTINCT:
            raise ValueError(f"column {name} has only {distinct} distinct value(s); at least {MIN_DISTINCT} are "
                             f"needed to fit its exponent")
    if np.ptp(np.log(runs.loss)) < 1e-6:
        raise ValueError("column loss is the same in every run; nothing to fit")
    x, y = np.log(runs.params), np.log(runs.tokens)
    design = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    if np.std(y - design @ coef) < 1e-3 * max(np.std(y), 1e-12):
        raise ValueError("tokens are a fixed power of params in every run (e.g. all at 20 tokens per "
                         "parameter), so the N and D terms cannot be told apart; vary tokens at a fixed size")


# ----- the objective --------------------------------------------------------------------------------

def _objective(theta: np.ndarray, x: np.ndarray, y: np.ndarray, logl: np.ndarray, delta: float):
    """Mean Huber loss / delta (same minimiser as the paper's sum) and its gradient."""
    a, b, e, alpha, beta = theta
    t1, t2 = a - alpha * x, b - beta * y
    m = np.maximum(np.maximum(t1, t2), e)  # log-sum-exp with the max taken out
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    r = m + np.log(s) - logl
    absr = np.abs(r)
    h = np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta))
    g = np.clip(r, -delta, delta) / s
    g1, g2, g3 = g * e1, g * e2, g * e3
    scale = 1.0 / (len(x) * delta)
    grad = np.array([g1.sum(), g2.sum(), g3.sum(), -(g1 @ x), -(g2 @ y)]) * scale
    return float(h.sum() * scale), grad


def _grid() -> np.ndarray:
    """The initialisation grid of Hoffmann et al. 2022 App. D.2: columns a, b, e, alpha, beta."""
    exps = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    ab = np.arange(0.0, 25.01, 5.0)
    g = np.meshgrid(ab, ab, es, exps, exps, indexing="ij")
    return np.stack([m.ravel() for m in g], axis=1)


def _grid_values(grid: np.ndarray, x, y, logl, delta: float, chunk: int = 250) -> np.ndarray:
    out = np.empty(len(grid))
    for s in range(0, len(grid), chunk):
        g = grid[s:s + chunk]
        t1 = g[:, 0:1] - g[:, 3:4] * x
        t2 = g[:, 1:2] - g[:, 4:5] * y
        t3 = np.broadcast_to(g[:, 2:3], t1.shape)
        r = np.logaddexp(np.logaddexp(t1, t2), t3) - logl
        absr = np.abs(r)
        out[s:s + chunk] = np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)).mean(axis=1) / delta
    return out


_LBFGS_BOUNDS = [(-50.0, 100.0), (-50.0, 100.0), (-20.0, 10.0), (0.0, 5.0), (0.0, 5.0)]


def _minimise(starts: np.ndarray, x, y, logl, delta: float) -> tuple[np.ndarray, float]:
    best, best_f = None, math.inf
    # L-BFGS-B calls BLAS on 5-vectors: with a multi-threaded BLAS on a busy 2-core machine each call waits
    # for idle threads (measured: 2.4 s of CPU against 0.07 s single-threaded for the same fit).
    with threadpool_limits(limits=1, user_api="blas"):
        for s in starts:
            res = minimize(_objective, s, args=(x, y, logl, delta), jac=True, method="L-BFGS-B",
                           bounds=_LBFGS_BOUNDS, options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-10})
            if np.all(np.isfinite(res.x)) and res.fun < best_f:
                best, best_f = res.x, float(res.fun)
    if best is None:
        raise ValueError("the fit did not converge from any start; check that loss falls with params and tokens")
    return best, best_f


def _to_loss(theta: np.ndarray) -> ParametricLoss:
    a, b, e, alpha, beta = (float(v) for v in theta)
    return ParametricLoss(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta)


# ----- the bootstrap, all refits at once ------------------------------------------------------------

def _batched_refit(theta0: np.ndarray, x, y, logl, counts: np.ndarray, delta: float,
                   max_iter: int = 200) -> np.ndarray:
    """Minimise sum_i counts[b, i] Huber(r_i(theta_b)) for every resample b at once (rows of ``counts``).

    A resample with replacement is the full run set with integer weights, so all refits share one residual
    computation. Each is a damped Gauss-Newton step on the iteratively reweighted least squares of the Huber loss
    (weights min(1, delta / |r|): the quadratic that touches the Huber loss at r and lies above it), batched with
    ``einsum`` and ``np.linalg.solve`` over the resamples; a step is kept only where it lowers that resample's
    objective, else its damping grows. Starts from the full-data fit ``theta0``; alpha, beta stay in [0, 5].
    """
    b = counts.shape[0]
    theta = np.repeat(theta0[None, :], b, axis=0)
    lam = np.full(b, 1e-3)
    lo = np.array([-50.0, -50.0, -20.0, 0.0, 0.0])
    hi = np.array([100.0, 100.0, 10.0, 5.0, 5.0])

    def resid(th):
        t1 = th[:, 0:1] - th[:, 3:4] * x
        t2 = th[:, 1:2] - th[:, 4:5] * y
        t3 = np.broadcast_to(th[:, 2:3], t1.shape)
        m = np.maximum(np.maximum(t1, t2), t3)
        e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(t3 - m)
        s = e1 + e2 + e3
        return m + np.log(s) - logl, e1 / s, e2 / s, e3 / s

    def huber(r):
        a = np.abs(r)
        return (counts * np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))).sum(axis=1)

    def huber_rows(r, rows):
        a = np.abs(r)
        return (counts[rows] * np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))).sum(axis=1)

    r, p1, p2, p3 = resid(theta)
    obj = huber(r)
    eye = np.eye(5)
    stall = np.zeros(b, dtype=int)
    act = np.arange(b)  # refits still moving: converged ones leave the batch
    for _ in range(max_iter):
        th, ra, q = theta[act], r[act], (p1[act], p2[act], p3[act])
        jac = np.stack([q[0], q[1], q[2], -q[0] * x, -q[1] * y], axis=2)  # (b, n, 5): d r / d (a, b, e, alpha, beta)
        w = counts[act] * np.minimum(1.0, delta / np.maximum(np.abs(ra), 1e-300))
        h = np.einsum("bni,bn,bnj->bij", jac, w, jac)
        g = np.einsum("bni,bn,bn->bi", jac, w, ra)
        damp = lam[act, None, None] * (np.einsum("bii->bi", h)[:, :, None] * eye + 1e-12 * eye)
        step = np.linalg.solve(h + damp, -g[:, :, None])[:, :, 0]
        trial = np.clip(th + step, lo, hi)
        r_t, t1, t2, t3 = resid(trial)
        obj_t = huber_rows(r_t, act)
        better = np.isfinite(obj_t) & (obj_t <= obj[act])
        gain = np.where(better, obj[act] - obj_t, 0.0)
        keep = act[better]
        theta[keep], r[keep], obj[keep] = trial[better], r_t[better], obj_t[better]
        p1[keep], p2[keep], p3[keep] = t1[better], t2[better], t3[better]
        lam[act] = np.where(better, np.maximum(lam[act] / 3.0, 1e-9), np.minimum(lam[act] * 4.0, 1e9))
        small = gain <= 1e-12 * np.maximum(obj[act], 1e-30)
        stall[act] = np.where(small, stall[act] + 1, 0)
        act = act[(stall[act] < 4) & (lam[act] < 1e9)]
        if act.size == 0:
            break
    return theta


def _bootstrap(theta: np.ndarray, x, y, logl, n_bootstrap: int, seed: int, subsample: float | None,
               delta: float, start: int = 0) -> np.ndarray:
    """(n_bootstrap - start, 5) refits in the (ln A, ln B, ln E, alpha, beta) coordinates: rows ``start`` on of the
    ``n_bootstrap`` resamples. The resamples are drawn one after another from one stream (the first k of any count
    are the same), and ``_batched_refit`` moves each resample's refit on its own, so rows ``start`` on are those of
    ``start`` = 0 (``bootstrap_refits``; tests/test_fit.py holds them equal, bit for bit)."""
    n = len(x)
    rng = np.random.default_rng(seed)
    if subsample is None:  # n runs drawn with replacement = multinomial counts
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(float)
    else:
        k = min(max(MIN_RUNS, round(subsample * n)), n)
        counts = np.zeros((n_bootstrap, n))
        for row in counts:
            row[rng.choice(n, size=k, replace=False)] = 1.0
    rows = max(1, MAX_BATCH_CELLS // n)  # bounded memory: a chunk of resamples x runs at a time
    return np.concatenate([_batched_refit(theta, x, y, logl, counts[i:i + rows], delta)
                           for i in range(start, n_bootstrap, rows)]) if n_bootstrap > start else np.empty((0, 5))


# ----- the fit ------------------------------------------------------------------------------------

#: Below this an exponent means "loss does not fall with this quantity" in the runs given.
MIN_EXPONENT = 1e-3


@dataclass(frozen=True)
class LossFit:
    """A fitted L(N, D), its bootstrap refits, the 10th-90th percentile of each constant, and notes."""

    loss: ParametricLoss
    n_runs: int
    n_bootstrap: int
    objective: float
    rms_log_residual: float
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    samples: LawSamples | None = None  # the bootstrap refits (None without a bootstrap)


#: A term whose change across the runs is below this share of the loss is "not seen" in the data.
MIN_TERM_SPAN = 1e-3


def _refuse_degenerate(fitted: ParametricLoss, runs: Runs) -> None:
    """A law whose loss does not fall with N or D has no compute-optimal split: say so, in a sentence.

    Caught: an exponent at 0 (the split divides by it), a term that the fit made
    irrelevant, i.e. A/N^alpha or B/D^beta changing by less than 0.1% of the loss across the runs (the fit then
    sends the optimum to absurd sizes, e.g. 1e14 parameters at 1e23 FLOPs), then an exponent at its bound 5
    (checked last: on flat data the exponent lands anywhere, and the flat term is the cause to name).
    """
    scale = float(np.median(runs.loss))
    for name, col, coef, v, arr in (("beta", "tokens", fitted.B, fitted.beta, runs.tokens),
                                     ("alpha", "params", fitted.A, fitted.alpha, runs.params)):
        other = "params" if col == "tokens" else "tokens"
        if v < MIN_EXPONENT:
            raise ValueError(f"the fit found {name} = {v:.2g}: in these runs loss does not fall as {col} grow, so "
                             f"the law cannot say how to split compute between params and tokens. Check the "
                             f"{col} and loss columns (loss must fall with more {col} at a fixed {other}).")
        span = coef * (float(arr.min()) ** -v - float(arr.max()) ** -v)
        if span < MIN_TERM_SPAN * scale:
            raise ValueError(f"in these runs loss does not fall as {col} grow: the fitted {col} term changes the "
                             f"loss by {span:.2g} across them ({span / scale:.2%}), so the law cannot say how to "
                             f"split compute between params and tokens. Check the {col} and loss columns (loss "
                             f"must fall with more {col} at a fixed {other}).")
        if v > 5 - MIN_EXPONENT:
            raise ValueError(f"the fit found {name} = {v:.3g}, at its upper bound 5: the runs do not pin down how "
                             f"loss falls with {col}; add runs that vary {col} more widely.")


@dataclass(frozen=True, eq=False)
class PointFit:
    """The full-data fit of ``fit_loss`` before its bootstrap (``point_fit``): what the refits start from."""

    runs: Runs
    theta: np.ndarray  # (ln A, ln B, ln E, alpha, beta)
    objective: float
    loss: ParametricLoss
    delta: float


def check_bootstrap(runs: Runs, n_bootstrap: int) -> None:
    """``ValueError`` for a refit count ``fit_loss`` refuses for ``runs`` (outside [0, 1000], or more than
    ``MAX_BOOTSTRAP_CELLS`` refits x runs)."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or not 0 <= n_bootstrap <= 1000:
        raise ValueError(f"bootstrap count must be a whole number in [0, 1000], got {n_bootstrap!r:.40}")
    if n_bootstrap * len(runs) > MAX_BOOTSTRAP_CELLS:
        raise ValueError(f"bootstrap count: {n_bootstrap:,} refits of {len(runs):,} runs is more than "
                         f"{MAX_BOOTSTRAP_CELLS:,} run-refits; use at most {MAX_BOOTSTRAP_CELLS // len(runs):,} refits")


def _point_fit(runs: Runs, n_starts: int, delta: float) -> PointFit:
    x, y, logl = np.log(runs.params), np.log(runs.tokens), np.log(runs.loss)
    grid = _grid()
    values = _grid_values(grid, x, y, logl, delta)
    starts = grid[np.argsort(values)[:n_starts]]
    theta, f = _minimise(starts, x, y, logl, delta)
    fitted = _to_loss(theta)
    _refuse_degenerate(fitted, runs)
    return PointFit(runs, theta, f, fitted, delta)


def point_fit(runs: Runs, n_starts: int = 8, delta: float = HUBER_DELTA) -> PointFit:
    """``fit_loss``'s fit of all the runs (its ``ValueError`` for data the law cannot be fitted to), without the
    bootstrap: the Scaling page keeps it per file and adds refits (``bootstrap_refits``, ``with_refits``), so a
    change of the refit count does not fit the runs again (the L-BFGS starts are about 0.1 s; issue 18)."""
    check_fittable(runs)
    if not isinstance(n_starts, int) or not 1 <= n_starts <= 4500:
        raise ValueError(f"n_starts must be a whole number in [1, 4500], got {n_starts!r:.40}")
    return _point_fit(runs, n_starts, delta)


def stored_point_fit(runs: Runs, theta, objective: float, delta: float = HUBER_DELTA) -> PointFit:
    """The ``point_fit`` of ``runs`` from its stored ``theta`` (ln A, ln B, ln E, alpha, beta) and objective, without
    the L-BFGS starts (about 0.4 s): the Scaling page's example runs ship with theirs (``bench/example_fit.py``)."""
    theta = np.asarray(theta, dtype=float)
    return PointFit(runs, theta, float(objective), _to_loss(theta), delta)


def bootstrap_refits(p: PointFit, n_bootstrap: int, seed: int = 0, subsample: float | None = None,
                     have: np.ndarray | None = None) -> np.ndarray:
    """The ``(n_bootstrap, 5)`` refits ``fit_loss(p.runs, n_bootstrap, seed, subsample=subsample)`` makes, in the
    (ln A, ln B, ln E, alpha, beta) coordinates. ``have``: the refits of an earlier call with the same ``p``, seed and
    subsample (any count): the first k refits of any count are the same, so its rows are reused and only the rows past
    them refitted (``_bootstrap``)."""
    check_bootstrap(p.runs, n_bootstrap)
    if subsample is not None and not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1] or None, got {subsample!r:.40}")
    if have is not None and len(have) >= n_bootstrap:
        return have[:n_bootstrap]
    start = 0 if have is None else len(have)
    x, y, logl = np.log(p.runs.params), np.log(p.runs.tokens), np.log(p.runs.loss)
    new = _bootstrap(p.theta, x, y, logl, n_bootstrap, seed, subsample, p.delta, start)
    return new if have is None else np.concatenate([have, new])


def with_refits(p: PointFit, th: np.ndarray) -> LossFit:
    """``fit_loss``'s answer from its point fit ``p`` and its ``len(th)`` refits (``bootstrap_refits``; none: no
    intervals)."""
    runs, fitted, n_bootstrap = p.runs, p.loss, len(th)
    resid = np.log(fitted.loss(runs.params, runs.tokens)) - np.log(runs.loss)

    intervals, samples = {}, None
    if n_bootstrap:
        samples = LawSamples.from_matrix(np.column_stack([np.exp(th[:, 2]), np.exp(th[:, 0]), np.exp(th[:, 1]),
                                                          th[:, 3], th[:, 4]]))
        if len(samples) >= 2:
            cols = {"E": samples.E, "A": samples.A, "B": samples.B, "alpha": samples.alpha, "beta": samples.beta,
                    "a": samples.beta / (samples.alpha + samples.beta)}
            for name, v in cols.items():
                lo, hi = np.percentile(v, PERCENTILES)
                intervals[name] = (float(lo), float(hi))
        else:
            samples = None

    warnings = []
    if fitted.E < 1e-3:
        warnings.append("E is close to 0: no irreducible loss is visible in these runs")
    if n_bootstrap and samples is not None and len(samples) < n_bootstrap:
        warnings.append(f"{n_bootstrap - len(samples)} of {n_bootstrap} bootstrap refits found a zero exponent "
                        "and are left out of the intervals")
    return LossFit(fitted, len(runs), n_bootstrap, p.objective, float(np.sqrt(np.mean(resid ** 2))), intervals,
                   tuple(warnings), samples)


def fit_loss(runs: Runs, n_bootstrap: int = 20, seed: int = 0, n_starts: int = 8,
             delta: float = HUBER_DELTA, subsample: float | None = None) -> LossFit:
    """Fit E, A, B, alpha, beta to ``runs`` (Huber on ln L, L-BFGS from the paper's grid), with intervals.

    ``n_bootstrap`` refits give the 10th-90th percentile intervals and ``samples`` for bands (0 skips them): on
    bootstrap resamples (n runs with replacement) by default, or on random ``subsample`` shares without
    replacement (the paper's 80%, 100 times). Data the law cannot be fitted to (``check_fittable``) and fits whose
    exponent comes out 0 or at its bound raise ``ValueError`` with a sentence saying what is wrong.
    ``point_fit``, ``bootstrap_refits`` and ``with_refits`` are its three steps.
    """
    check_fittable(runs)
    check_bootstrap(runs, n_bootstrap)
    if not isinstance(n_starts, int) or not 1 <= n_starts <= 4500:
        raise ValueError(f"n_starts must be a whole number in [1, 4500], got {n_starts!r:.40}")
    if subsample is not None and not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1] or None, got {subsample!r:.40}")
    p = _point_fit(runs, n_starts, delta)
    return with_refits(p, bootstrap_refits(p, n_bootstrap, seed, subsample) if n_bootstrap else np.empty((0, 5)))


# ----- synthetic data ------------------------------------------------------------------------------

def synthetic_runs(law: ParametricLoss, params, tokens_per_param, noise: float = 0.0, seed: int = 0) -> Runs:
    """Runs on the grid params x tokens_per_param with loss from ``law`` times lognormal noise (sigma ``noise``)."""
    n, r = np.meshgrid(np.asarray(params, float), np.asarray(tokens_per_param, float), indexing="ij")
    n, d = n.ravel(), (n * r).ravel()
    loss = law.loss(n, d)
    if noise:
        loss = loss * np.exp(np.random.default_rng(seed).normal(0.0, noise, size=loss.shape))
    return runs_from_arrays(n, d, loss)


def runs_to_csv(runs: Runs) -> str:
    lines = ["params,tokens,loss"]
    lines += [f"{n:.6g},{d:.6g},{v:.5f}" for n, d, v in zip(runs.params, runs.tokens, runs.loss, strict=True)]
    return "\n".join(lines) + "\n"
