"""Time the continuous-batching simulation (calc/serve_sim.py) on 10,000 requests; issue 16 asks under 1 s.

Run: ``python bench/bench_serve.py``. Prints the median of repeated runs and its ratio to the 1 s budget for a few
loads (light, near capacity, overloaded) and models (dense, MoE, tp=4), beside the event loop it replaced (issue 18:
``tests/test_serve_sim_exact.py``'s verbatim copy, which the new one equals bit for bit) timed in the same run; then
the Serving page's SLO-rate search (600 requests, 12 and 7 bisection steps) beside the old search; then the page's
two simulations (its 7-step SLO-rate search and its 1,500-request latency run) in the Python loop and compiled
(calc/serve_sim_jit.py, which the server loads). Ratios only from one run (the machine is shared); no pass/fail
thresholds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.gpus import get_gpu  # noqa: E402
from calc.presets import get_preset  # noqa: E402
from calc.serve_sim import max_rate, poisson_workload, simulate, step_model  # noqa: E402
from tests.test_serve_sim_exact import _reference_max_rate, _reference_simulate  # noqa: E402


def median_s(fn, repeat: int = 5) -> float:
    """Median CPU seconds of ``fn`` (this thread's CPU time: a busy neighbour's share of the cores does not count)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return statistics.median(times)


def main() -> None:
    g = get_gpu("H100 SXM")
    cases = [("Meta-Llama-3-8B", 1, 5.0), ("Meta-Llama-3-8B", 1, 20.0), ("Meta-Llama-3-8B", 1, 60.0),
             ("Mixtral-8x7B-v0.1", 2, 10.0), ("Meta-Llama-3-70B", 4, 8.0)]
    print(f"{'model':20} {'tp':>3} {'rate/s':>7} {'events':>7} {'median s':>9} {'x 1 s budget':>13} {'old loop s':>11} "
          f"{'speed-up':>9}")
    for name, tp, rate in cases:
        m = step_model(get_preset(name), g.peak("bf16"), g.bandwidth_bytes_per_s, tp=tp)
        w = poisson_workload(10_000, rate, 1024, 256, length_cv=0.5, seed=1)
        r = simulate(m, w, kv_capacity_tokens=400_000)
        s = median_s(lambda m=m, w=w: simulate(m, w, kv_capacity_tokens=400_000))
        old = median_s(lambda m=m, w=w: _reference_simulate(m, w, kv_capacity_tokens=400_000))
        print(f"{name:20} {tp:3d} {rate:7.1f} {r.events:7d} {s:9.3f} {s / 1.0:13.2f} {old:11.3f} {old / s:8.2f}x")
    # the Serving page's defaults: Llama-3-8B on an H100, 1,024 / 256 tokens, SLOs p99 TTFT 1 s and TPOT 50 ms
    m = step_model(get_preset("Meta-Llama-3-8B"), g.peak("bf16"), g.bandwidth_bytes_per_s)
    kw = {"max_num_seqs": 1024, "max_num_batched_tokens": 8192, "kv_capacity_tokens": 450_176}
    old = median_s(lambda: _reference_max_rate(m, 1024, 256, 1.0, 0.05, requests=600, **kw), 3)
    for steps in (12, 7):
        s = median_s(lambda steps=steps: max_rate(m, 1024, 256, 1.0, 0.05, requests=600, steps=steps, **kw), 3)
        print(f"max_rate, 600 requests, {steps:2d} steps: {s * 1e3:6.1f} ms; old search (12 steps) {old * 1e3:6.1f} ms: "
              f"{old / s:.2f}x")
    import calc.serve_sim_jit as jit

    page = {"max_rate, 7 steps": lambda: max_rate(m, 1024, 256, 1.0, 0.05, requests=600, steps=7, **kw),
            "latency, 1,500 requests": lambda: simulate(m, poisson_workload(1500, 4.0, 1024, 256), **kw)}
    python = {k: median_s(f, 5) for k, f in page.items()}
    if jit.load() is None:
        print("compiled: numba not installed (or CALC_SERVE_JIT=0)")
        return
    for k, f in page.items():
        s = median_s(f, 20)
        print(f"Serving page {k:24}: Python {python[k] * 1e3:6.2f} ms, compiled {s * 1e3:6.3f} ms: {python[k] / s:.1f}x")


if __name__ == "__main__":
    main()
