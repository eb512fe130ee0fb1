"""Time the continuous-batching simulation (calc/serve_sim.py) on 10,000 requests; issue 16 asks under 1 s.

Run: ``python bench/bench_serve.py``. Prints the median of repeated runs and its ratio to the 1 s budget for a few
loads (light, near capacity, overloaded) and models (dense, MoE, tp=4); no pass/fail thresholds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.gpus import get_gpu  # noqa: E402
from calc.presets import get_preset  # noqa: E402
from calc.serve_sim import poisson_workload, simulate, step_model  # noqa: E402


def median_s(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    g = get_gpu("H100 SXM")
    cases = [("Meta-Llama-3-8B", 1, 5.0), ("Meta-Llama-3-8B", 1, 20.0), ("Meta-Llama-3-8B", 1, 60.0),
             ("Mixtral-8x7B-v0.1", 2, 10.0), ("Meta-Llama-3-70B", 4, 8.0)]
    print(f"{'model':20} {'tp':>3} {'rate/s':>7} {'events':>7} {'median s':>9} {'x 1 s budget':>13}")
    for name, tp, rate in cases:
        m = step_model(get_preset(name), g.peak("bf16"), g.bandwidth_bytes_per_s, tp=tp)
        w = poisson_workload(10_000, rate, 1024, 256, length_cv=0.5, seed=1)
        r = simulate(m, w, kv_capacity_tokens=400_000)
        s = median_s(lambda m=m, w=w: simulate(m, w, kv_capacity_tokens=400_000))
        print(f"{name:20} {tp:3d} {rate:7.1f} {r.events:7d} {s:9.3f} {s / 1.0:13.2f}")


if __name__ == "__main__":
    main()
