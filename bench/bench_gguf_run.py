"""Time the Quantization page's cache misses (issue 18): a run-setup change (the run memory of every file type) and
an imatrix change (typing the 33 file types again).

Run: ``python bench/bench_gguf_run.py``. Prints medians and ratios measured in one run; no thresholds. First table:
one file type at a time (``run_memory`` per type: the KV cache and the compute buffer recomputed for each of the 33
file types, as the page did before ``run_memory_many``) over ``run_memory_many``. Second: ``quantize_all`` for
imatrix auto as before (each file type llama-quantize needs an imatrix for typed twice) and now; then yes / no
typed afresh over typed ``like`` the auto results (only ``IMATRIX_RULE_TYPES`` typed again). Third: the PTQ loss cost of every file
type under 16 bits (a token-count change), ``ptq_cost`` per type over ``ptq_costs``.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc.gguf import FILE_TYPES, QuantResult, _assign_plan, _header_bytes, _requires_imatrix, layer_plan, quantize_all  # noqa: E402
from calc.gguf_run import RunMemory, RunSetup, run_memory, run_memory_many  # noqa: E402
from calc.gpus import get_gpu  # noqa: E402
from calc.presets import get_preset  # noqa: E402
from calc.scaling_precision import ptq_cost, ptq_costs  # noqa: E402


def one_at_a_time(spec, quant, setup, gpu) -> RunMemory:
    """One file type at a time, as the page priced them before ``run_memory_many``: ``run_memory`` per type, the KV
    cache and the compute buffer computed again for each (the blocks' bytes are now kept per result either way)."""
    return run_memory(spec, quant, setup, gpu)


def quantize_all_before(spec) -> dict:
    """``quantize_all(spec, imatrix=None)`` as it was: a file type that needs an imatrix typed twice."""
    plan, out = layer_plan(spec), {}
    for f in FILE_TYPES:
        try:
            typed = _assign_plan(spec, f, plan, False)
            imatrix = _requires_imatrix(f, tuple(typed))
            if imatrix:
                typed = _assign_plan(spec, f, plan, True)
            out[f] = QuantResult(spec.name, f, imatrix, typed, _header_bytes(spec, plan))
        except ValueError as exc:
            out[f] = exc
    return out


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
    print(f"\n{'model':20s} {'auto before':>12s} {'auto now':>9s} {'ratio':>6s} {'yes/no afresh':>14s} "
          f"{'yes/no like auto':>17s} {'ratio':>6s}")
    for name in ("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Gemma-3-27B", "Qwen3-Next-80B-A3B"):
        spec = get_preset(name)
        auto = quantize_all(spec)
        assert auto == quantize_all_before(spec)
        assert quantize_all(spec, imatrix=True, like=auto) == quantize_all(spec, imatrix=True)
        before = median_ms(lambda spec=spec: quantize_all_before(spec), repeat=10)
        now = median_ms(lambda spec=spec: quantize_all(spec), repeat=10)
        fresh = median_ms(lambda spec=spec: (quantize_all(spec, imatrix=True), quantize_all(spec, imatrix=False)),
                          repeat=10)
        like = median_ms(lambda spec=spec, auto=auto: (quantize_all(spec, imatrix=True, like=auto),
                                                       quantize_all(spec, imatrix=False, like=auto)), repeat=10)
        print(f"{name:20s} {before:9.2f} ms {now:6.2f} ms {before / now:5.2f}x {fresh:11.2f} ms {like:14.2f} ms "
              f"{fresh / like:5.2f}x")

    print(f"\n{'model':20s} {'ptq_cost each':>14s} {'ptq_costs':>10s} {'ratio':>6s}")
    for name in ("Meta-Llama-3-8B", "DeepSeek-V3"):
        spec = get_preset(name)
        bits = [r.bits_per_weight for r in quantize_all(spec).values() if not isinstance(r, ValueError)]
        bits = [b for b in bits if b < 16]
        tokens = itertools.count(15e12)
        each = median_ms(lambda bits=bits, t=tokens: [ptq_cost(7e9, next(t), b) for b in bits], repeat=100)
        once = median_ms(lambda bits=bits, t=tokens: ptq_costs(7e9, next(t), bits), repeat=100)
        print(f"{name:20s} {each:11.3f} ms {once:7.3f} ms {each / once:5.2f}x")


if __name__ == "__main__":
    main()
