"""Does ``measure`` report what a plain timing loop sees? numpy and torch-CPU matmuls (and a copy), same process.

For each backend and size, rounds alternate between ``measure.matmul.measure_matmul`` and a minimal
hand-written loop (``perf_counter`` around ``a @ b``, median of the same number of runs), so both see
the same machine state; the script prints each side's median over the rounds and their ratio. On a
shared machine the spread between rounds is printed too: a ratio is only meaningful within it.

    python bench/bench_matmul_vs_loop.py [--sizes 256,512,1024] [--runs 20] [--rounds 5] [--threads N]

``--threads 1`` pins BLAS and torch to one thread each: on a machine other jobs share, multi-threaded
BLAS loses whole time slices waiting for a descheduled partner thread and the rounds scatter widely.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if "--threads" in sys.argv:  # must be set before numpy / torch load their thread pools
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

from measure.backends import get_backend  # noqa: E402
from measure.bandwidth import measure_bandwidth  # noqa: E402
from measure.matmul import Shape, measure_matmul  # noqa: E402


def _plain_loop(a, b, runs: int) -> float:
    """The minimal reference: 3 warm-up products, then the median of ``runs`` perf_counter timings."""
    for _ in range(3):
        a @ b
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def plain_numpy(n: int, runs: int) -> float:
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(2).standard_normal((n, n), dtype=np.float32)
    return _plain_loop(a, b, runs)


def plain_torch(n: int, runs: int, dtype) -> float:
    import torch

    return _plain_loop(torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype), runs)


def plain_copy(nbytes: int, runs: int) -> float:
    src, dst = np.ones(nbytes, dtype=np.uint8), np.zeros(nbytes, dtype=np.uint8)
    for _ in range(3):
        np.copyto(dst, src)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(label: str, ours, plain, flops: float, rounds: int, unit: str = "GFLOPS") -> float:
    """Alternate the two measurements ``rounds`` times; print and return the ratio of medians."""
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(ours())
        theirs.append(plain())
    m, p = statistics.median(mine), statistics.median(theirs)
    paired = statistics.median(t / x for t, x in zip(theirs, mine, strict=True))  # each round's ratio; drift cancels
    spread = max(max(mine), max(theirs)) / min(min(mine), min(theirs))
    print(f"{label:<24} measure {flops / m / 1e9:8.1f} {unit}  plain loop {flops / p / 1e9:8.1f} {unit}  "
          f"ratio {p / m:6.3f}  paired {paired:6.3f}  (spread x{spread:.2f})", flush=True)
    return paired


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="BLAS / torch threads (default: the libraries' own)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.threads:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    print(f"threads {args.threads or 'default'}; pid {os.getpid()}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print("ratio = measure's throughput / the plain loop's, of the medians over rounds; paired = median of the "
          "rounds' own ratios (1.000 = identical)")
    ratios = []
    np_be = get_backend("numpy")
    for n in sizes:
        shape = Shape(n, n, n)
        ratios.append(compare(f"numpy fp32 n={n}",
                              lambda shape=shape: measure_matmul(np_be, shape, "fp32", args.runs, 3).median_s,
                              lambda n=n: plain_numpy(n, args.runs), shape.flops, args.rounds))
    try:
        import torch
    except ImportError:
        print("torch not installed: torch-cpu comparison skipped")
    else:
        t_be = get_backend("torch-cpu")
        for dtype, tdt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            for n in sizes:
                shape = Shape(n, n, n)
                ratios.append(compare(
                    f"torch-cpu {dtype} n={n}",
                    lambda shape=shape, dtype=dtype: measure_matmul(t_be, shape, dtype, args.runs, 3).median_s,
                    lambda n=n, tdt=tdt: plain_torch(n, args.runs, tdt), shape.flops, args.rounds))
    nbytes = 128 * 2**20
    ratios.append(compare("numpy copy 128 MiB", lambda: measure_bandwidth(np_be, nbytes, args.runs, 3).median_s,
                          lambda: plain_copy(nbytes, args.runs), 2 * nbytes, args.rounds, unit="GB/s"))
    print(f"median paired ratio over all rows {statistics.median(ratios):.3f}; "
          f"min {min(ratios):.3f}, max {max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
