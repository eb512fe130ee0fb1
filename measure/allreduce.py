"""All-reduce bus bandwidth with torch.distributed, as nccl-tests reports it (NVIDIA/nccl-tests doc/PERFORMANCE.md).

    algbw = bytes / seconds;   busbw = algbw x 2 (n - 1) / n   (all-reduce over n ranks)

busbw is what the links carry per rank, comparable across rank counts and with the hardware's bandwidth; the
cluster planner (``calc/plan.py``) divides its collectives' bytes by it, so a measured busbw can replace the
catalog's NVLink / network row (``python -m calc plan --intra-gbps``). Ranks are local processes: NCCL across
the visible GPUs, or gloo over CPU tensors when there is none (then the figure is host memory and loopback, a
check of the method rather than of a link). Rendezvous through a file in a temporary directory: no port opened.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

OPS = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
       "reduce_scatter": lambda n: (n - 1) / n}
MAX_RANKS = 64
MAX_BYTES = 2**34


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' busbw / algbw: 2(n-1)/n for all-reduce, (n-1)/n for all-gather and reduce-scatter.

    >>> bus_factor("all_reduce", 8), bus_factor("all_gather", 8)
    (1.75, 0.875)
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r:.40}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RANKS:
        raise ValueError(f"ranks must be a whole number in [1, {MAX_RANKS}], got {n!r:.40}")
    return OPS[op](n)


def _worker(rank: int, world: int, store: str, backend: str, sizes: list[int], runs: int, warmup: int, queue):
    import torch
    import torch.distributed as dist

    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world)
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    out = []
    for size in sizes:
        x = torch.empty(size // 4, dtype=torch.float32, device=device)
        times = []
        for i in range(warmup + runs):
            x.fill_(rank + 1)
            dist.barrier()
            if backend == "nccl":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            if backend == "nccl":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        correct = bool((x == world * (world + 1) / 2).all().item())
        out.append({"bytes": size, "seconds": statistics.median(times), "correct": correct})
    if rank == 0:
        queue.put(out)
    dist.destroy_process_group()


def measure_allreduce(ranks: int = 2, sizes_bytes: tuple[int, ...] = (2**20, 2**24), backend: str = "auto",
                      runs: int = 5, warmup: int = 2) -> list[dict]:
    """Median time of an fp32 all-reduce per size over ``ranks`` local processes, with algbw and busbw (B/s).

    Each record: bytes, seconds, algbw_bytes_per_s, busbw_bytes_per_s, correct (every element is the sum of the
    ranks' values, so a collective that did not run cannot pass), backend, ranks.
    """
    import torch
    import torch.multiprocessing as mp

    bus_factor("all_reduce", ranks)
    if ranks < 2:
        raise ValueError("ranks must be at least 2 for an all-reduce to move anything")
    for s in sizes_bytes:
        if isinstance(s, bool) or not isinstance(s, int) or not 4 <= s <= MAX_BYTES:
            raise ValueError(f"sizes must be whole numbers of bytes in [4, {MAX_BYTES}], got {s!r:.40}")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= ranks else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be auto, nccl or gloo, got {backend!r:.40}")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        store = os.path.join(tmp, "store")
        procs = [ctx.Process(target=_worker, args=(r, ranks, store, backend, list(sizes_bytes), runs, warmup, queue))
                 for r in range(ranks)]
        for p in procs:
            p.start()
        try:
            rows = queue.get(timeout=300)
        finally:
            for p in procs:
                p.join(timeout=60)
                if p.is_alive():
                    p.terminate()
    factor = bus_factor("all_reduce", ranks)
    return [{**r, "algbw_bytes_per_s": r["bytes"] / r["seconds"],
             "busbw_bytes_per_s": r["bytes"] / r["seconds"] * factor, "backend": backend, "ranks": ranks}
            for r in rows]
