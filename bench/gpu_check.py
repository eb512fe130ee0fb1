"""The prepared GPU check (at most about 5 minutes): ``measure`` against a minimal hand-timed torch loop.

For bf16, fp16, tf32 and fp32 (and fp8 where the GPU has it) at a few square sizes, it prints what
``measure.matmul.measure_matmul`` reports (median of CUDA-event-timed runs, L2 flushed before each) next
to the classic hand loop (one pair of events around N back-to-back ``a @ b``, total / N), their ratio,
and the percent of the catalog's dense peak. Then the copy bandwidth the same two ways, a numerical
sanity check of each dtype against an fp64 product, and the ``python -m calc bench`` CLI once.

    python bench/gpu_check.py            # on a CUDA or ROCm machine; writes $OUT/gpu_check.json if $OUT is set
    python bench/gpu_check.py --cpu-dry-run   # the same code path on torch-CPU with tiny sizes (logic check)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calc.gpus import match_device_name  # noqa: E402
from measure.backends import get_backend  # noqa: E402
from measure.bandwidth import measure_bandwidth  # noqa: E402
from measure.matmul import Shape, measure_matmul  # noqa: E402

BUDGET_S = 270  # leave room under the 5-minute limit for start-up and the CLI run


def hand_loop(torch, device: str, n: int, dtype: str, iters: int) -> float:
    """Seconds per matmul of a plain loop: events (or perf_counter on the CPU) around ``iters`` back-to-back calls."""
    if dtype == "fp8":
        arch = str(getattr(torch.cuda.get_device_properties(0), "gcnArchName", "")) if device == "cuda" else ""
        f8 = torch.float8_e4m3fnuz if arch.startswith("gfx94") else torch.float8_e4m3fn  # MI300 uses "fnuz"
        a = torch.randn(n, n, device=device).to(f8)
        b = torch.randn(n, n, device=device).to(f8).t()
        one = torch.ones((), device=device)

        def op():
            return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    else:
        tdt = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        a, b = torch.randn(n, n, device=device, dtype=tdt), torch.randn(n, n, device=device, dtype=tdt)

        def op():
            return a @ b
    torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
    for _ in range(5):
        op()
    if device == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            op()
        end.record()
        end.synchronize()
        seconds = start.elapsed_time(end) / 1e3
    else:
        t0 = time.perf_counter()
        for _ in range(iters):
            op()
        seconds = time.perf_counter() - t0
    torch.set_float32_matmul_precision("highest")
    return seconds / iters


def hand_copy(torch, device: str, nbytes: int, iters: int) -> float:
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.zeros(nbytes, dtype=torch.uint8, device=device)
    for _ in range(3):
        dst.copy_(src)
    if device == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            dst.copy_(src)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        dst.copy_(src)
    return (time.perf_counter() - t0) / iters


def accuracy(torch, backend, dtype: str) -> float:
    """Max relative error of the benchmarked op's output against an fp64 product of the same inputs."""
    op = backend.matmul_op(256, 256, 256, dtype, seed=7)
    cells = {k: c.cell_contents for k, c in zip(op.__code__.co_freevars, op.__closure__, strict=True)}
    with backend.precision(dtype):
        out = op().double()
    ref = cells["a"].double() @ cells["b"].double()
    return float(((out - ref).abs().max() / ref.abs().max()).item())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu-dry-run", action="store_true", help="run the logic on torch-CPU with tiny sizes")
    args = ap.parse_args()
    t_start = time.monotonic()
    import torch

    if args.cpu_dry_run:
        device, backend = "cpu", get_backend("torch-cpu", torch)
        dtypes, sizes, runs, iters, copy_bytes = ["fp32", "bf16"], [128, 256], 5, 5, 16 * 2**20
    else:
        if not torch.cuda.is_available():
            print("no CUDA/ROCm GPU visible to torch; nothing to check (use --cpu-dry-run for a logic check)")
            return 1
        device, backend = "cuda", get_backend("cuda", torch)
        dtypes = [d for d in ("bf16", "fp16", "tf32", "fp32", "fp8") if d in backend.info.dtypes]
        sizes, runs, iters, copy_bytes = [2048, 4096, 8192], 30, 30, 2**30
    info = backend.info
    gpu = match_device_name(info.name) if device == "cuda" else None
    print(f"device: {info.name} ({info.backend}; {info.note}); memory {info.memory_bytes / 2**30:.1f} GiB; "
          f"catalog: {gpu.name if gpu else 'no match'}; dtypes {', '.join(info.dtypes)}", flush=True)
    out: dict = {"device": info.name, "backend": info.backend, "note": info.note, "catalog": gpu.name if gpu else None,
                 "matmul": [], "copy": None, "accuracy": {}, "cli": None}
    print(f"{'dtype':<5} {'n':>6} {'measure TFLOPS':>15} {'hand loop TFLOPS':>17} {'ratio':>6} {'% of peak':>9}")
    for dtype in dtypes:
        for n in sizes:
            if time.monotonic() - t_start > BUDGET_S:
                print("time budget reached; skipping the rest")
                break
            shape = Shape(n, n, n)
            r = measure_matmul(backend, shape, dtype, runs=runs, warmup=5, flush_l2=device == "cuda",
                               peak_flops_per_s=gpu.peak(dtype) if gpu else None)
            hand_s = hand_loop(torch, device, n, dtype, iters)
            hand_tflops = shape.flops / hand_s / 1e12
            pct = f"{100 * r.fraction_of_peak:.1f}" if r.fraction_of_peak else "-"
            print(f"{dtype:<5} {n:>6} {r.tflops:>15.2f} {hand_tflops:>17.2f} {r.tflops / hand_tflops:>6.3f} {pct:>9}",
                  flush=True)
            out["matmul"].append({**r.record(), "hand_loop_tflops": hand_tflops, "ratio": r.tflops / hand_tflops})
    best: dict[str, float] = {}
    for rec in out["matmul"]:
        best[rec["dtype"]] = max(best.get(rec["dtype"], 0.0), rec["tflops"])
    for dtype, tf in best.items():
        peak = gpu.peak(dtype) if gpu else None
        print(f"best {dtype}: {tf:.1f} TFLOPS" + (f" = {100 * tf * 1e12 / peak:.1f}% of {peak / 1e12:.1f}" if peak else ""))
    out["best_tflops"] = best
    bw = measure_bandwidth(backend, copy_bytes, runs=runs, warmup=3,
                           peak_bytes_per_s=gpu.bandwidth_bytes_per_s if gpu else None)
    hand_bw = 2 * copy_bytes / hand_copy(torch, device, copy_bytes, iters)
    print(f"copy {copy_bytes / 2**20:.0f} MiB: measure {bw.bytes_per_s / 1e9:.1f} GB/s, hand loop {hand_bw / 1e9:.1f} GB/s"
          + (f", {100 * bw.fraction_of_peak:.1f}% of the datasheet" if bw.fraction_of_peak else ""), flush=True)
    out["copy"] = {**bw.record(), "hand_loop_gb_per_s": hand_bw / 1e9}
    for dtype in dtypes:
        out["accuracy"][dtype] = accuracy(torch, backend, dtype)
    print("max relative error vs fp64:", {d: f"{e:.2e}" for d, e in out["accuracy"].items()})
    if not args.cpu_dry_run and time.monotonic() - t_start < BUDGET_S:
        cli = subprocess.run([sys.executable, "-m", "calc", "bench", "--backend", "cuda", "--dtype", "bf16",
                              "--sizes", "4096", "--runs", "10", "--json", "--flush-l2"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        print("CLI:", cli.returncode, cli.stdout.strip()[:400], cli.stderr.strip()[-300:])
        out["cli"] = {"rc": cli.returncode, "stdout": cli.stdout[-2000:], "stderr": cli.stderr[-2000:]}
    out["elapsed_s"] = time.monotonic() - t_start
    print(f"elapsed {out['elapsed_s']:.1f} s; median measure/hand ratio "
          f"{statistics.median(r['ratio'] for r in out['matmul']):.3f}")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
