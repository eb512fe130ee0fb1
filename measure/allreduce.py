"""All-reduce bus bandwidth with torch.distributed, as nccl-tests reports it (NVIDIA/nccl-tests doc/PERFORMANCE.md).

    algbw = bytes / seconds;   busbw = algbw x 2 (n - 1) / n   (all-reduce over n ranks)

busbw is what the links carry per rank, comparable across rank counts and with the hardware's bandwidth; the
cluster planner (``calc/plan.py``) divides its collectives' bytes by it, so a measured busbw can replace the
catalog's NVLink / network row (``python -m calc plan --intra-gbps``). Ranks are local processes: NCCL across
the visible GPUs, or gloo over CPU tensors when there is none (then the figure is host memory and loopback, a
check of the method rather than of a link). Rendezvous through a file in a temporary directory: no port opened.

A run is bounded: ``time_budget_s`` covers the whole call (start-up included) and ``cancel`` (a
``threading.Event``) stops it; either way every rank is killed before the call returns (``TimeoutError`` /
``measure.lock.Cancelled``). A rank also ends itself when the process that started it dies (Linux
``PR_SET_PDEATHSIG``, and a watcher of its parent id elsewhere), so a killed benchmark leaves no rank behind.
"""

from __future__ import annotations

import ctypes
import os
import queue as queue_mod
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta

OPS = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
       "reduce_scatter": lambda n: (n - 1) / n}
MAX_RANKS = 64
MAX_BYTES = 2**34
#: Seconds a rank is given to end by itself (SIGTERM) before it is killed (SIGKILL).
TERM_GRACE_S = 2.0


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


def _die_with(parent: int) -> None:
    """End this rank when ``parent`` (the process that started it) is gone: the kernel's parent-death signal on
    Linux, and a thread that watches the parent id (re-parented: the parent died) everywhere."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _worker(rank: int, world: int, store: str, backend: str, sizes: list[int], runs: int, warmup: int, queue,
            parent: int = 0, timeout_s: float = 300.0):
    if parent:
        _die_with(parent)
    import torch
    import torch.distributed as dist

    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=max(1.0, timeout_s)))
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


def _stop(procs) -> None:
    """SIGTERM every rank still running, then SIGKILL what has not ended ``TERM_GRACE_S`` later; reap them all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + TERM_GRACE_S
    for p in procs:
        p.join(timeout=max(0.0, end - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=10)


def measure_allreduce(ranks: int = 2, sizes_bytes: tuple[int, ...] = (2**20, 2**24), backend: str = "auto",
                      runs: int = 5, warmup: int = 2, time_budget_s: float = 300.0,
                      cancel: threading.Event | None = None) -> list[dict]:
    """Median time of an fp32 all-reduce per size over ``ranks`` local processes, with algbw and busbw (B/s).

    Each record: bytes, seconds, algbw_bytes_per_s, busbw_bytes_per_s, correct (every element is the sum of the
    ranks' values, so a collective that did not run cannot pass), backend, ranks.

    ``time_budget_s`` bounds the whole call, from starting the ranks to their results: past it the ranks are
    killed and ``TimeoutError`` is raised; ``cancel`` set does the same with ``measure.lock.Cancelled``. A rank
    that dies is reported as ``RuntimeError``. No rank outlives the call.
    """
    import torch
    import torch.multiprocessing as mp

    from measure.lock import Cancelled

    bus_factor("all_reduce", ranks)
    if ranks < 2:
        raise ValueError("ranks must be at least 2 for an all-reduce to move anything")
    b = time_budget_s
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.1 <= b <= 3600:
        raise ValueError(f"time_budget_s must be in [0.1, 3600] s, got {b!r:.40}")
    for s in sizes_bytes:
        if isinstance(s, bool) or not isinstance(s, int) or not 4 <= s <= MAX_BYTES:
            raise ValueError(f"sizes must be whole numbers of bytes in [4, {MAX_BYTES}], got {s!r:.40}")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= ranks else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be auto, nccl or gloo, got {backend!r:.40}")
    deadline = time.monotonic() + b
    with tempfile.TemporaryDirectory() as tmp:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        store = os.path.join(tmp, "store")
        procs = [ctx.Process(target=_worker, args=(r, ranks, store, backend, list(sizes_bytes), runs, warmup, queue,
                                                   os.getpid(), b), daemon=True)
                 for r in range(ranks)]
        rows = None
        try:
            for p in procs:
                p.start()
            while rows is None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("all-reduce cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the all-reduce over {ranks} ranks ran past its time budget of {b:g} s; "
                                       "its ranks were stopped")
                try:
                    rows = queue.get(timeout=min(0.2, left))
                except queue_mod.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"rank {procs.index(dead[0])} of the all-reduce ended with exit code "
                                           f"{dead[0].exitcode}") from None
            for p in procs:  # results are in: the ranks only tear down their process group
                p.join(timeout=max(0.0, min(10.0, deadline - time.monotonic())))
        finally:
            _stop(procs)
            queue.close()
    factor = bus_factor("all_reduce", ranks)
    return [{**r, "algbw_bytes_per_s": r["bytes"] / r["seconds"],
             "busbw_bytes_per_s": r["bytes"] / r["seconds"] * factor, "backend": backend, "ranks": ranks}
            for r in rows]
