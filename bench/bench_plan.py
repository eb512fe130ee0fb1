"""Time of a full cluster-planner search (issue 15: Llama 3.1 405B on 16,384 H100s, budget 2 s).

    python bench/bench_plan.py

Prints the seconds of the first search in the process (cold memos) and the best of 3,
the layouts visited and the ratio to the budget. A figure, never an assert (docs/CONVENTIONS.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.gpus import get_gpu  # noqa: E402
from calc.plan import Cluster, Job, candidate_layouts, search  # noqa: E402
from calc.presets import get_preset  # noqa: E402

BUDGET_S = 2.0


def main() -> None:
    cluster = Cluster(get_gpu("H100 SXM"), 16_384)
    job = Job(8192, 2048 * 8192)
    times = []
    for _ in range(3):
        model = get_preset("Llama-3.1-405B")
        t0 = time.perf_counter()
        best = search(model, cluster, job, top=5)
        times.append(time.perf_counter() - t0)
    n = sum(1 for _ in candidate_layouts(model, cluster, job))
    t = min(times)
    print(f"405B on 16,384 H100: {n:,} layouts, full search {times[0]:.3f} s cold, {t:.3f} s best of 3, "
          f"{times[0] / BUDGET_S:.2f}x the "
          f"{BUDGET_S:g} s budget; best {best[0].layout} step {best[0].step_s:.2f} s MFU {best[0].mfu:.1%}")


if __name__ == "__main__":
    main()
