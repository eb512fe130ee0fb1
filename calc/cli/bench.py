"""``python -m calc bench``: measure matmul throughput (and optionally copy bandwidth) on this machine.

Prints one record per measurement as it completes: a table row, or with ``--json`` one JSON object
per line (JSON Lines) with backend, dtype, m, n, k, median seconds and TFLOPS. The measuring code
lives in ``measure/`` (imported here lazily, so ``calc`` itself never imports torch).
"""

from __future__ import annotations

import argparse
import json
import sys

from calc.cli.common import add_model_args, float_range, int_range, model_from_args

BACKEND_CHOICES = ("auto", "cuda", "rocm", "torch-cpu", "numpy")
_SIZE = int_range(1, 2**18)  # measure.matmul.MAX_DIM


def _int_list(text: str) -> list[int]:
    values = [x for x in text.split(",") if x.strip()][:64]
    if not values:
        raise argparse.ArgumentTypeError(f"must be comma-separated whole numbers, got {text!r:.60}")
    try:
        return [_SIZE(x) for x in values]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"must be comma-separated whole numbers, each {str(exc)[8:]}") from None


def _str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure matmul TFLOPS and copy bandwidth on this machine",
                       description="Median of timed runs after a warm-up; FLOPs = 2mnk. One benchmark per device "
                                   "runs at a time (others wait).")
    p.add_argument("--backend", default="auto", choices=BACKEND_CHOICES,
                   help="auto = a CUDA/ROCm GPU if torch sees one, else torch on the CPU, else numpy")
    p.add_argument("--dtype", type=_str_list, default=None,
                   help="comma-separated: fp32, tf32, bf16, fp16, fp8 (default: bf16 where supported, else fp32)")
    p.add_argument("--sizes", type=_int_list, default=None,
                   help="square sizes n, comma-separated (default: 1024,2048,4096,8192 on a GPU, 256,512,1024 on the CPU)")
    add_model_args(p, required=False)  # also the GEMM shapes of this model (QKV, attention output, MLP, LM head)
    p.add_argument("--tokens", type=int_range(1, 2**18), default=4096, help="tokens (m) for the model's shapes (default 4096)")
    p.add_argument("--runs", type=int_range(1, 1000), default=20, help="timed runs per shape (median reported)")
    p.add_argument("--warmup", type=int_range(0, 100), default=3, help="untimed runs first")
    p.add_argument("--flush-l2", action="store_true", help="write a buffer 2x the L2 before each timed run")
    p.add_argument("--bandwidth", action="store_true", help="also measure device-to-device copy bandwidth")
    p.add_argument("--copy-mib", type=int_range(1, 2**20), default=None, help="copy buffer in MiB (default 1024 GPU, 128 CPU)")
    p.add_argument("--time-budget", type=float_range(1, 3600, "s"), default=300.0, help="seconds for the whole sweep (default 300)")
    p.add_argument("--max-memory-gb", type=float_range(0.001, 1e6, "GB"), default=None,
                   help="largest A+B+C of one matmul in GB (default: half the GPU up to 8 GiB, 1/4 RAM up to 2 GiB)")
    p.add_argument("--allreduce", type=int_range(2, 64), default=None, metavar="RANKS",
                   help="instead of matmuls, time an all-reduce over RANKS local processes (NCCL on GPUs, else "
                        "gloo) and print nccl-tests' bus bandwidth; the planner takes it as --intra-gbps")
    p.add_argument("--json", action="store_true", help="print one JSON object per measurement (JSON Lines)")
    p.set_defaults(run=run)


def _run_allreduce(args) -> int:
    from measure.allreduce import measure_allreduce

    sizes = tuple(s * 2**20 for s in (args.sizes or (1, 16, 64)))
    try:  # past --time-budget its ranks are killed: one line on stderr, exit 2
        recs = measure_allreduce(args.allreduce, sizes, runs=min(args.runs, 20), warmup=args.warmup,
                                 time_budget_s=args.time_budget)
    except (TimeoutError, RuntimeError) as exc:
        raise ValueError(str(exc)) from None
    for rec in recs:
        if args.json:
            print(json.dumps({"measure": "all_reduce", **rec}, allow_nan=False), flush=True)
        else:
            print(f"all-reduce {rec['backend']} x{rec['ranks']}: {rec['bytes'] / 2**20:,.0f} MiB in "
                  f"{rec['seconds'] * 1e3:.3f} ms, algbw {rec['algbw_bytes_per_s'] / 1e9:,.2f} GB/s, busbw "
                  f"{rec['busbw_bytes_per_s'] / 1e9:,.2f} GB/s" + ("" if rec["correct"] else " (WRONG SUM)"),
                  flush=True)
    return 0


def _row(rec: dict) -> str:
    pct = f"{rec['pct_of_peak']:.1f}" if rec.get("pct_of_peak") is not None else "-"
    return (f"{rec['backend']:<9} {rec['dtype']:<5} {rec['shape']:<17} {rec['m']:>6} {rec['n']:>6} {rec['k']:>6} "
            f"{rec['runs']:>4} {rec['median_s']:>11.6f} {rec['tflops']:>10.4f} {pct:>7}")


def run(args) -> int:
    if args.allreduce is not None:
        return _run_allreduce(args)
    from measure import GPU_BACKENDS, BenchConfig, check, default_max_bytes, run_benchmark
    from measure.backends import get_backend
    from measure.matmul import model_shapes, square_shapes

    backend = get_backend(args.backend)
    info = backend.info
    on_gpu = info.backend in GPU_BACKENDS
    dtypes = args.dtype or (["bf16"] if "bf16" in info.dtypes else ["fp32"])
    sizes = args.sizes or ([1024, 2048, 4096, 8192] if on_gpu else [256, 512, 1024])
    shapes = square_shapes(sizes)
    if args.model or args.config or args.hf or args.revision:
        shapes += model_shapes(model_from_args(args), args.tokens)
    copy_mib = args.copy_mib or (1024 if on_gpu else 128)
    if args.max_memory_gb is not None and not 0.001 <= args.max_memory_gb <= 1e6:
        raise ValueError(f"--max-memory-gb must be in [0.001, 1e6], got {args.max_memory_gb}")
    max_bytes = int(args.max_memory_gb * 1e9) if args.max_memory_gb is not None else default_max_bytes(info)
    config = BenchConfig(backend=args.backend, dtypes=tuple(dtypes), shapes=tuple(shapes), runs=args.runs,
                         warmup=args.warmup, flush_l2=args.flush_l2,
                         copy_bytes=copy_mib * 2**20 if args.bandwidth else 0,
                         time_budget_s=args.time_budget, max_matrix_bytes=max_bytes)
    check(config, info)
    if not args.json:
        print(f"# {info.name} ({info.backend}; {info.note})", file=sys.stderr)
        print(f"{'backend':<9} {'dtype':<5} {'shape':<17} {'m':>6} {'n':>6} {'k':>6} {'runs':>4} {'median_s':>11} "
              f"{'TFLOPS':>10} {'%peak':>7}")

    def on_result(result) -> None:
        rec = result.record()
        if args.json:
            print(json.dumps({"measure": "copy" if "gb_per_s" in rec else "matmul", **rec}, allow_nan=False),
                  flush=True)
        elif "gb_per_s" in rec:
            print(f"copy bandwidth: {rec['gb_per_s']:,.1f} GB/s (2 x {rec['buffer_bytes'] / 2**20:,.0f} MiB "
                  f"in {rec['median_s'] * 1e3:.3f} ms median)", flush=True)
        else:
            print(_row(rec), flush=True)

    told = [-10.0]

    def on_wait(seconds: float) -> None:
        if seconds - told[0] >= 5:  # at once, then every 5 s
            told[0] = seconds
            print(f"another benchmark is running on this device, waiting... ({seconds:.0f} s)", file=sys.stderr)

    report = run_benchmark(config, on_wait=on_wait, backend=backend, on_result=on_result)
    if report.stopped:
        print(f"stopped early: {report.stopped}", file=sys.stderr)
    return 0

