"""Regenerate calc/data/epoch_bootstrap.npy: Besiroglu et al. 2024's bootstrap of their Chinchilla refit.

Besiroglu, Erdil, Barnett, You 2024 ("Chinchilla Scaling: A replication attempt", arXiv 2404.10102) fit
L = E + A/N^alpha + B/D^beta to 240 runs they digitised from Hoffmann et al. 2022 Figure 4, and bootstrap it:
4,000 resamples of the runs with replacement (numpy seed 42), each refitted by BFGS on the summed Huber loss
(delta = 1e-3) of ln L, started from Hoffmann et al.'s unrounded constants (their repository,
epoch-research/analyzing-chinchilla, data_analysis.ipynb). Their notebook prints the 95% intervals that
tests/test_scaling_bands.py checks the file against.

The digitised runs are the authors' data file (data/svg_extracted_data.csv of that repository); it is not part of
this repository, so give its path:

    python bench/epoch_bootstrap.py --csv /path/to/analyzing-chinchilla/data/svg_extracted_data.csv

It takes about two minutes on two cores and prints the intervals next to the published ones.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calc.fit import _objective  # noqa: E402  (the same Huber-on-LSE objective and gradient)
from calc.scaling_bands import EPOCH_BOOTSTRAP_FILE, EPOCH_PUBLISHED_CI95  # noqa: E402

HOFFMANN_UNROUNDED = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])  # ln A, ln B, ln E, a, b
DELTA = 1e-3
EXCLUDED = 5  # the five highest-loss runs (tokens/param < 0.4) are outliers in the paper


def load(path: Path):
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    return n, c / (6.0 * n), loss


def summed(theta, x, y, logl):
    f, g = _objective(theta, x, y, logl, DELTA)  # mean(Huber)/delta: rescale to the paper's plain sum
    k = len(x) * DELTA
    return f * k, g * k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, required=True, help="analyzing-chinchilla data/svg_extracted_data.csv")
    ap.add_argument("--out", type=Path, default=EPOCH_BOOTSTRAP_FILE)
    args = ap.parse_args()
    n, d, loss = load(args.csv)
    cutoff = sorted(loss)[-EXCLUDED]
    keep = [i for i in range(len(n)) if loss[i] < cutoff]
    np.random.seed(42)  # the notebook's resamples, drawn the same way
    resamples = [np.random.choice(keep, size=len(keep), replace=True) for _ in range(4000)]
    x, y, logl = np.log(n), np.log(d), np.log(loss)
    t0 = time.perf_counter()
    out = np.empty((len(resamples), 5))
    for k, idx in enumerate(resamples):
        res = minimize(summed, HOFFMANN_UNROUNDED, args=(x[idx], y[idx], logl[idx]), jac=True, method="BFGS")
        out[k] = res.x
    # columns E, A, B, alpha, beta
    samples = np.column_stack([np.exp(out[:, 2]), np.exp(out[:, 0]), np.exp(out[:, 1]), out[:, 3], out[:, 4]])
    np.save(args.out, samples, allow_pickle=False)
    print(f"{len(samples)} refits in {time.perf_counter() - t0:.1f} s -> {args.out}")
    for j, name in enumerate(("E", "A", "B", "alpha", "beta")):
        lo, hi = np.percentile(samples[:, j], (2.5, 97.5))
        plo, phi = EPOCH_PUBLISHED_CI95[name]
        print(f"{name:>5}: 95% ({lo:.4g}, {hi:.4g})   published ({plo:.4g}, {phi:.4g})")


if __name__ == "__main__":
    main()
