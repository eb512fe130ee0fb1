"""Time the scaling-law fit (calc.fit.fit_loss) and its bootstrap; prints seconds and a ratio measured in one run.

Targets: the bootstrap of a 50-run fit under 1 s (issue 19; the TARGET line, best of 3 after a warm-up, with its
ratio to a single fit of the same runs); the page's default (example CSV, 200 refits) well
under 5 s on 2 cores. The ratio compares the batched bootstrap (all refits at once, calc.fit._batched_refit) with
refitting the same resamples one at a time with L-BFGS-B, as the code did before.
Run: python bench/bench_scaling_fit.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calc.fit import HUBER_DELTA, _batched_refit, _minimise, fit_loss, parse_runs_csv, synthetic_runs  # noqa: E402
from calc.scaling import EPOCH  # noqa: E402


def timed(label: str, fn) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - t0
    print(f"{label:<52} wall {wall:6.2f} s   cpu {time.process_time() - c0:6.2f} s")
    return wall


def bootstrap_only(runs, n_refits: int) -> tuple[float, float]:
    """(batched seconds, one-at-a-time seconds) for the same resamples of ``runs``."""
    x, y, logl = np.log(runs.params), np.log(runs.tokens), np.log(runs.loss)
    law = fit_loss(runs, n_bootstrap=0).loss
    theta = np.array([np.log(law.A), np.log(law.B), np.log(law.E), law.alpha, law.beta])
    n = len(x)
    counts = np.random.default_rng(0).multinomial(n, np.full(n, 1 / n), size=n_refits).astype(float)
    t0 = time.perf_counter()
    _batched_refit(theta, x, y, logl, counts, HUBER_DELTA)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in counts:
        idx = np.repeat(np.arange(n), c.astype(int))
        _minimise(theta[None, :], x[idx], y[idx], logl[idx], HUBER_DELTA)
    return batched, time.perf_counter() - t0


if __name__ == "__main__":
    example = parse_runs_csv((ROOT / "examples" / "synthetic_runs_epoch.csv").read_bytes())
    fifty = synthetic_runs(EPOCH, np.geomspace(5e7, 1e10, 10), np.geomspace(2, 500, 5), noise=0.01)
    assert len(fifty) == 50
    fit_loss(fifty, n_bootstrap=100)  # warm-up: imports and first-call costs are not the fit's
    single = min(timed("50 runs: one fit, no bootstrap", lambda: fit_loss(fifty, n_bootstrap=0)) for _ in range(3))
    w = min(timed("50 runs: fit + 100 bootstrap refits", lambda: fit_loss(fifty, n_bootstrap=100)) for _ in range(3))
    print(f"TARGET bootstrap of a 50-run fit (fit + 100 refits, best of 3): {w:.3f} s, under 1 s: "
          f"{'PASS' if w < 1 else 'FAIL'}; {w / single:.1f}x a single fit ({single:.3f} s), "
          f"i.e. {(w - single) / 100 * 1e3:.1f} ms per refit")
    timed("50 runs: fit + 200 bootstrap refits", lambda: fit_loss(fifty, n_bootstrap=200))
    timed("example CSV (56 runs), fit + 200 refits (page default)", lambda: fit_loss(example, n_bootstrap=200))
    b, s = bootstrap_only(fifty, 100)
    print(f"bootstrap of 50 runs x 100 refits: batched {b:.3f} s, one at a time {s:.3f} s, ratio {s / b:.1f}x")
    for sizes, ratios in ((20, 25), (50, 50), (100, 100)):
        runs = synthetic_runs(EPOCH, np.geomspace(5e7, 1e10, sizes), np.geomspace(2, 500, ratios), noise=0.01)
        timed(f"{len(runs):,} runs, fit + 100 refits", lambda r=runs: fit_loss(r, n_bootstrap=100))
