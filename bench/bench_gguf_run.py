"""Time the Quantization page's cache miss on a run-setup change: the run memory of every file type (issue 18).

Run: ``python bench/bench_gguf_run.py``. Prints medians and the ratio of one file type at a time (the KV cache,
the compute buffer and the blocks' bytes recomputed for each of the 33 file types, as ``run_memory`` did before
``run_memory_many``) over ``run_memory_many`` (those computed once per setup), measured in one run; no thresholds.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.gguf import quantize_all  # noqa: E402
from calc.gguf_run import RunMemory, RunSetup, compute_buffer_bytes, kv_layer_bytes, run_memory_many  # noqa: E402
from calc.gpus import get_gpu  # noqa: E402
from calc.presets import get_preset  # noqa: E402


def one_at_a_time(spec, quant, setup, gpu) -> RunMemory:
    """The per-file-type placement before run_memory_many (KV cache, compute buffer, block bytes each time)."""
    kv = kv_layer_bytes(spec, setup.context, setup.cache_type, setup.batch, setup.n_ubatch)
    compute = compute_buffer_bytes(spec, setup.context, setup.n_ubatch, setup.flash_attn)
    n = spec.num_layers
    t = quant.tensors
    per_class = [sum(x.bytes for x in r) for r in t.reps]
    per_layer = [per_class[k] for k in t.plan.layer_class]
    embd = sum(x.bytes for x in t.head if x.name == "token_embd.weight")
    weights, kv_total = quant.tensor_bytes, sum(kv)
    capacity = max(0, gpu.usable_memory_bytes - setup.runtime_reserve_bytes)
    full = weights - embd + kv_total + compute
    if full <= capacity:
        return RunMemory(weights, kv_total, compute, "gpu", n, n, full, embd, capacity)
    on_gpu, k = compute, 0
    for i in range(n - 1, -1, -1):
        if on_gpu + per_layer[i] + kv[i] > capacity:
            break
        on_gpu += per_layer[i] + kv[i]
        k += 1
    return RunMemory(weights, kv_total, compute, "split" if k else "cpu", k, n, on_gpu if k else 0,
                     weights + kv_total - (on_gpu if k else 0) + compute, capacity)


def median_ms(fn, repeat: int = 60) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    print(f"{'model':20s} {'GPU':10s} {'one at a time':>14s} {'run_memory_many':>16s} {'ratio':>6s}")
    for name, gpu_name in (("Meta-Llama-3-8B", "RTX 4090"), ("Meta-Llama-3-70B", "RTX 4090"),
                           ("Gemma-3-27B", "H200"), ("Qwen3-Next-80B-A3B", "H200")):
        spec, gpu = get_preset(name), get_gpu(gpu_name)
        quants = {f: r for f, r in quantize_all(spec).items() if not isinstance(r, ValueError)}
        for q in quants.values():  # the page's memoized results hold these already
            _ = q.tensor_bytes
        setup = RunSetup(context=8192)
        assert run_memory_many(spec, quants, setup, gpu) == {f: one_at_a_time(spec, q, setup, gpu)
                                                            for f, q in quants.items()}
        contexts = itertools.count(4096)  # a new context each call: every call is a cache miss
        old = median_ms(lambda spec=spec, quants=quants, gpu=gpu, c=contexts: {
            f: one_at_a_time(spec, q, RunSetup(context=next(c)), gpu) for f, q in quants.items()})
        new = median_ms(lambda spec=spec, quants=quants, gpu=gpu, c=contexts:
                        run_memory_many(spec, quants, RunSetup(context=next(c)), gpu))
        print(f"{name:20s} {gpu_name:10s} {old:11.3f} ms {new:13.3f} ms {old / new:5.2f}x")


if __name__ == "__main__":
    main()
