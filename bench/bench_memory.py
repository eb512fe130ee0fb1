"""Time one full memory breakdown and a 10,000-point (batch x sequence) sweep, vectorized.

Run: ``python bench/bench_memory.py``. Prints medians of repeated runs; no pass/fail thresholds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from calc.memory import InferenceSetup, TrainingSetup, breakdown_grid, inference_memory, training_memory  # noqa: E402
from calc.presets import get_preset  # noqa: E402


def median_s(fn, repeat: int = 30) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    batches = np.arange(1, 101)
    seqs = np.linspace(128, 131_072, 100).astype(int)
    cases = [
        ("Meta-Llama-3-8B", TrainingSetup(seq_len=4096, zero_stage=3, dp=8)),
        ("Mixtral-8x7B-v0.1", TrainingSetup(seq_len=4096, tp=8, pp=4, sequence_parallel=True, recompute="full")),
        ("DeepSeek-V3", TrainingSetup(seq_len=4096, tp=8, pp=16, zero_stage=1, dp=16, rlhf="dpo")),
        ("Meta-Llama-3-70B", InferenceSetup(context=32_768, batch=16, tp=4, kv_dtype="fp8")),
        ("Gemma-2-27B", InferenceSetup(context=8192, batch=8, weights_dtype="int4")),
    ]
    print(f"{'model':20s} {'setup':10s} {'one breakdown':>15s} {'10,000-point sweep':>20s} {'per point':>10s}")
    for name, setup in cases:
        spec = get_preset(name)
        calc = training_memory if isinstance(setup, TrainingSetup) else inference_memory
        one = median_s(lambda spec=spec, setup=setup, calc=calc: calc(spec, setup))
        sweep = median_s(lambda spec=spec, setup=setup: breakdown_grid(spec, setup, batches, seqs), repeat=10)
        kind = "training" if isinstance(setup, TrainingSetup) else "inference"
        print(f"{name:20s} {kind:10s} {one * 1e3:12.3f} ms {sweep * 1e3:17.3f} ms {sweep / 10_000 * 1e6:7.3f} us")
    spec = get_preset("Meta-Llama-3-8B")
    loop = median_s(lambda: [training_memory(spec, TrainingSetup(micro_batch=int(b), seq_len=int(s)))
                             for b in batches[:10] for s in seqs[:10]], repeat=3)
    print(f"for comparison, a Python loop of 100 scalar breakdowns: {loop * 1e3:.1f} ms "
          f"(about {loop * 100:.2f} s for 10,000 points)")


if __name__ == "__main__":
    main()
