"""Regenerate the stored fit of the Scaling page's example runs (``examples/synthetic_runs_epoch_fit.npz``).

    python bench/example_fit.py

The page's "Use the example runs" fits the same 56 runs in every new server process: ``point_fit`` (L-BFGS from the
paper's grid of starts, about 0.4 s) and up to 1,000 bootstrap refits (about 3 s). The file keeps the CSV's sha256,
the runs it read, the point fit's theta and objective and the first 1,000 refits (seed 0, no subsampling: what the page asks), so the
page starts from them (issue 18). tests/test_scaling_page_cache.py recomputes them and compares; rerun this script
when calc/fit.py or the example CSV changes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calc.fit import bootstrap_refits, parse_runs_csv, point_fit  # noqa: E402

EXAMPLE = ROOT / "examples" / "synthetic_runs_epoch.csv"
STORED = ROOT / "examples" / "synthetic_runs_epoch_fit.npz"
MAX_REFITS = 1000  # the page's largest refit count


def compute(data: bytes) -> dict[str, np.ndarray]:
    runs = parse_runs_csv(data)
    p = point_fit(runs)
    return {"sha256": np.array(hashlib.sha256(data).hexdigest()), "params": runs.params, "tokens": runs.tokens,
            "loss": runs.loss, "theta": p.theta,
            "objective": np.array(p.objective), "refits": bootstrap_refits(p, MAX_REFITS)}


def main() -> int:
    data = EXAMPLE.read_bytes()
    np.savez(STORED, **compute(data))
    print(f"wrote {STORED.relative_to(ROOT)} ({STORED.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
