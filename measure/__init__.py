"""Measurements on the user's hardware: matmul throughput and memory bandwidth (what ``calc`` divides by).

Kept apart from the pure calculators: this package touches devices, takes time and holds a lock.
``calc`` never imports it; pages and the CLI pass its figures into ``calc`` as inputs. torch is
imported lazily (``measure.backends.import_torch``), so everything here also works with numpy alone.

``run_benchmark(config)`` is the one entry point pages and the CLI use: it takes the device lock
(one benchmark per device at a time, ``measure.lock``), sweeps dtypes x shapes within a time budget
and a memory bound, can be cancelled between runs, and returns a ``BenchReport``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from calc.gpus import match_device_name
from calc.units import format_bytes
from measure.backends import DTYPES, DeviceInfo, get_backend
from measure.bandwidth import BandwidthResult, measure_bandwidth
from measure.lock import Cancelled, device_lock
from measure.matmul import MatmulResult, Shape, measure_matmul

CPU_DEFAULT_SIZES = (256, 512, 1024)
GPU_DEFAULT_SIZES = (1024, 2048, 4096, 8192)
CPU_COPY_BYTES = 128 * 2**20
GPU_COPY_BYTES = 2**30
GPU_BACKENDS = ("cuda", "rocm")

__all__ = ["BenchConfig", "BenchReport", "Cancelled", "DeviceInfo", "Shape", "check", "default_max_bytes", "memory_limit",
           "run_benchmark"]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and within which bounds.

    ``copy_bytes`` = 0 skips the bandwidth measurement. ``max_matrix_bytes`` bounds A + B + C of every
    matmul (and source + destination of the copy); ``time_budget_s`` bounds the whole sweep, after
    which it stops (each measurement still completes at least three timed runs).
    """

    backend: str = "auto"
    dtypes: tuple[str, ...] = ("fp32",)
    shapes: tuple[Shape, ...] = ()
    runs: int = 20
    warmup: int = 3
    flush_l2: bool = False
    copy_bytes: int = 0
    time_budget_s: float = 60.0
    max_matrix_bytes: int = 2**30
    allreduce_ranks: int = 0  # > 1: also an all-reduce over this many local processes (measure/allreduce.py)

    def __post_init__(self):
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        object.__setattr__(self, "shapes", tuple(self.shapes))
        bad = [d for d in self.dtypes if d not in DTYPES]
        if bad or not self.dtypes:
            raise ValueError(f"dtypes must be a non-empty selection of {', '.join(DTYPES)}, got {bad or 'none'}")
        for name, lo, hi in (("runs", 1, 1000), ("warmup", 0, 100)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {v!r:.40}")
        if not 1 <= float(self.time_budget_s) <= 3600:
            raise ValueError(f"time budget must be in [1, 3600] seconds, got {self.time_budget_s!r:.40}")
        if not self.shapes and not self.copy_bytes and not self.allreduce_ranks:
            raise ValueError("nothing to measure: pick at least one matrix size, the bandwidth or the all-reduce test")
        r = self.allreduce_ranks
        if isinstance(r, bool) or not isinstance(r, int) or not (r == 0 or 2 <= r <= 64):
            raise ValueError(f"all-reduce ranks must be 0 (none) or a whole number in [2, 64], got {r!r:.40}")
        if isinstance(self.max_matrix_bytes, bool) or not isinstance(self.max_matrix_bytes, int) \
                or self.max_matrix_bytes < 2**20:
            raise ValueError(f"memory limit must be a whole number of bytes >= 1 MiB, got {self.max_matrix_bytes!r:.40}")
        if self.copy_bytes < 0:
            raise ValueError(f"copy buffer must be >= 0 bytes, got {self.copy_bytes}")

    def check_memory(self) -> None:
        """``ValueError`` naming the first matmul (or copy) whose buffers exceed ``max_matrix_bytes``."""
        limit = format_bytes(self.max_matrix_bytes, "auto-GB")
        for d in self.dtypes:
            for s in self.shapes:
                if s.bytes(d) > self.max_matrix_bytes:
                    raise ValueError(f"a {s.text} {d} matmul needs {format_bytes(s.bytes(d), 'auto-GB')} for A, B "
                                     f"and C, above the memory limit of {limit}; pick smaller sizes")
        if 2 * self.copy_bytes > self.max_matrix_bytes:
            raise ValueError(f"the copy needs {format_bytes(2 * self.copy_bytes, 'auto-GB')} (source + destination), "
                             f"above the memory limit of {limit}")


#: Share of the free memory one measurement's buffers may take: on the CPU the server, other visitors and the
#: page cache keep the other half; a GPU is the benchmark's alone while it holds the device lock.
FREE_SHARE_CPU = 0.5
FREE_SHARE_GPU = 0.8


def free_share(info: DeviceInfo) -> float:
    return FREE_SHARE_GPU if info.backend in GPU_BACKENDS else FREE_SHARE_CPU


def default_max_bytes(info: DeviceInfo) -> int:
    """Without a free-memory figure: half the GPU's memory up to 8 GiB; a quarter of the RAM up to 2 GiB on the CPU."""
    if info.backend in GPU_BACKENDS:
        return min(8 * 2**30, (info.memory_bytes or 2**31) // 2)
    return min(2 * 2**30, (info.memory_bytes or 2**31) // 4)


def memory_limit(info: DeviceInfo, free_bytes: int | None) -> int:
    """Largest buffers (A + B + C of a matmul, source + destination of the copy) one measurement may allocate:
    ``free_share`` of the memory free now (``backend.free_bytes()``), never a user's number (a link once asked for
    a 2 x 16 GiB copy on a 23.5 GiB machine, issue 20). At least 1 MiB."""
    if free_bytes is None:
        return default_max_bytes(info)
    return max(2**20, int(free_share(info) * free_bytes))


@dataclass(frozen=True)
class BenchReport:
    device: DeviceInfo
    catalog_gpu: str | None  # the catalog entry whose peaks the results are compared with
    matmuls: tuple[MatmulResult, ...]
    bandwidth: BandwidthResult | None
    started_at: float  # epoch seconds when the device lock was taken
    finished_at: float
    waited_s: float  # time spent waiting for another benchmark to release the device
    stopped: str | None = None  # "cancelled" or "time budget" when the sweep did not finish
    allreduce: tuple[dict, ...] = ()  # measure.allreduce records (bytes, seconds, busbw_bytes_per_s, ...)

    def best(self) -> dict[str, MatmulResult]:
        """Per dtype, the fastest shape of the sweep (maximum achievable matmul FLOPS)."""
        out: dict[str, MatmulResult] = {}
        for r in self.matmuls:
            if r.dtype not in out or r.flops_per_s > out[r.dtype].flops_per_s:
                out[r.dtype] = r
        return out

    def best_flops_per_s(self) -> dict[str, float]:
        return {d: r.flops_per_s for d, r in self.best().items()}

    def records(self) -> list[dict]:
        return [r.record() for r in self.matmuls]


def check(config: BenchConfig, info: DeviceInfo) -> None:
    """``ValueError`` if the device does not run a chosen dtype or a matmul exceeds the memory limit."""
    unsupported = [d for d in config.dtypes if d not in info.dtypes]
    if unsupported:
        raise ValueError(f"{info.backend} on {info.name} does not run {', '.join(unsupported)} matmuls; "
                         f"it runs {', '.join(info.dtypes)}")
    config.check_memory()


def run_benchmark(config: BenchConfig, progress: Callable[[int, int, str], None] | None = None,
                  cancel: threading.Event | None = None, on_wait: Callable[[float], None] | None = None,
                  lock_timeout_s: float | None = None, backend=None,
                  on_result: Callable[[MatmulResult | BandwidthResult], None] | None = None,
                  watch_free_memory: bool = False) -> BenchReport:
    """Measure ``config`` on its backend while holding the device lock.

    ``progress(done, total, text)`` is called before and after each measurement; ``on_wait(seconds)``
    while another benchmark holds the device; ``on_result(result)`` as each measurement completes. A set ``cancel`` event stops the sweep between runs
    (the partial report comes back with ``stopped="cancelled"``); while waiting it raises ``Cancelled``.
    With ``watch_free_memory`` each measurement first checks its buffers against ``memory_limit`` of the memory
    free at that moment (other processes allocate too) and the sweep stops with ``stopped="free memory: ..."``.
    """
    backend = backend or get_backend(config.backend)
    info = backend.info
    check(config, info)
    gpu = match_device_name(info.name) if info.backend in GPU_BACKENDS else None
    jobs = [(d, s) for d in config.dtypes for s in config.shapes]
    total = len(jobs) + (1 if config.copy_bytes else 0)
    matmuls: list[MatmulResult] = []
    bandwidth = None
    stopped = None
    with device_lock(backend.lock_key, on_wait=on_wait, cancel=cancel, timeout_s=lock_timeout_s) as waited:
        started = time.time()
        deadline = time.monotonic() + float(config.time_budget_s)
        try:
            for i, (dtype, shape) in enumerate(jobs):
                if _out_of_time(deadline, cancel):
                    stopped = "cancelled" if cancel is not None and cancel.is_set() else "time budget"
                    break
                if watch_free_memory and (short := _short_of_memory(backend, shape.bytes(dtype),
                                                                    f"a {shape.text} {dtype} matmul")):
                    stopped = short
                    break
                if progress:
                    progress(i, total, f"{dtype} {shape.label} {shape.text}")
                share = (deadline - time.monotonic()) / (total - i)
                matmuls.append(measure_matmul(
                    backend, shape, dtype, config.runs, config.warmup, config.flush_l2,
                    deadline=time.monotonic() + share, cancel=cancel,
                    peak_flops_per_s=gpu.peak(dtype) if gpu else None, seed=i))
                if on_result:
                    on_result(matmuls[-1])
            if config.copy_bytes and stopped is None:
                if _out_of_time(deadline, cancel):
                    stopped = "cancelled" if cancel is not None and cancel.is_set() else "time budget"
                elif watch_free_memory and (short := _short_of_memory(backend, 2 * config.copy_bytes, "the copy")):
                    stopped = short
                else:
                    if progress:
                        progress(len(jobs), total, f"copy {format_bytes(config.copy_bytes, 'auto-GB')}")
                    bandwidth = measure_bandwidth(backend, config.copy_bytes, config.runs, config.warmup,
                                                  deadline=deadline, cancel=cancel,
                                                  peak_bytes_per_s=gpu.bandwidth_bytes_per_s if gpu else None)
                    if on_result:
                        on_result(bandwidth)
        except Cancelled:
            stopped = "cancelled"
        if progress:
            progress(total, total, stopped or "done")
        finished = time.time()
    return BenchReport(info, gpu.name if gpu else None, tuple(matmuls), bandwidth, started, finished, waited, stopped)


def _short_of_memory(backend, need: int, what: str) -> str | None:
    """A reason to stop when ``need`` bytes pass ``memory_limit`` of the memory free now, else None."""
    free = backend.free_bytes() if hasattr(backend, "free_bytes") else None
    if free is None or need <= memory_limit(backend.info, free):
        return None
    return (f"free memory: {what} needs {format_bytes(need, 'auto-GB')}, more than "
            f"{free_share(backend.info):.0%} of the {format_bytes(free, 'auto-GB')} free now")


def _out_of_time(deadline: float, cancel: threading.Event | None) -> bool:
    return (cancel is not None and cancel.is_set()) or time.monotonic() > deadline
