"""Time the scaling-law fit (calc.fit.fit_loss) on synthetic runs of growing size; prints seconds.

Target: the Scaling laws page's default (example CSV, 20 refits) well under 5 s on 2 cores.
Run: python bench/bench_scaling_fit.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from calc.fit import fit_loss, parse_runs_csv, synthetic_runs
from calc.scaling import EPOCH

ROOT = Path(__file__).resolve().parent.parent


def timed(label: str, fn) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    print(f"{label:<44} wall {time.perf_counter() - t0:6.2f} s   cpu {time.process_time() - c0:6.2f} s")


if __name__ == "__main__":
    example = parse_runs_csv((ROOT / "examples" / "synthetic_runs_epoch.csv").read_bytes())
    timed("example CSV (56 runs), 20 refits", lambda: fit_loss(example, n_bootstrap=20))
    timed("example CSV (56 runs), 100 refits", lambda: fit_loss(example, n_bootstrap=100))
    for sizes, ratios in ((20, 25), (50, 50), (100, 100)):
        runs = synthetic_runs(EPOCH, np.geomspace(5e7, 1e10, sizes), np.geomspace(2, 500, ratios), noise=0.01)
        timed(f"{len(runs):,} runs, 20 refits", lambda r=runs: fit_loss(r, n_bootstrap=20))
