"""Where a benchmark runs: torch on a CUDA or ROCm GPU, torch on the CPU, or numpy; and how it is timed.

torch is imported lazily (``import_torch``): the app and ``calc`` start without it, and this module
falls back to numpy when it is missing.

Timing follows the benchmark hygiene of REFERENCE.md and ml-engineering's mamf-finder
(https://github.com/stas00/ml-engineering/tree/master/compute/accelerator/benchmarks):
warm-up runs first; on a GPU each run is bracketed by CUDA events (``torch.cuda.Event``, which
HIP implements on ROCm) and the host waits for the end event, so launch latency is not counted as
work and the asynchronous queue is drained; on the CPU a ``perf_counter`` brackets the call. The
caller takes the median of many runs. An optional L2 flush writes a buffer twice the size of the
GPU's L2 before each run (outside the timed region) so small shapes do not read their inputs from
cache. Inputs are fresh random tensors for each shape.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from measure.lock import Cancelled

BACKENDS = ("auto", "cuda", "rocm", "torch-cpu", "numpy")
#: Matmul dtypes in the order pages list them; fp8 is e4m3 inputs with bf16 output (torch._scaled_mm).
DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8")
#: Bits per input element and per output element.
IN_BITS = {"fp32": 32, "tf32": 32, "bf16": 16, "fp16": 16, "fp8": 8}
OUT_BITS = {"fp32": 32, "tf32": 32, "bf16": 16, "fp16": 16, "fp8": 16}
CPU_FLUSH_BYTES = 64 * 2**20  # bigger than the last-level cache of most CPUs (32 MiB on the dev machine)

INSTALL_HINT = ("For a GPU, install a PyTorch build for it: `pip install torch` (CUDA wheels on Linux) or "
                "the ROCm wheels from https://pytorch.org/get-started/locally/.")


def import_torch():
    """The torch module, or ``None`` when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# ----- timers --------------------------------------------------------------------------------
class WallTimer:
    """Host clock around one call, with a device synchronization before and after (no-op on the CPU)."""

    def __init__(self, sync: Callable[[], None] | None = None, clock: Callable[[], float] = time.perf_counter):
        self.sync = sync or (lambda: None)
        self.clock = clock

    def __call__(self, op: Callable[[], object]) -> float:
        self.sync()
        t0 = self.clock()
        op()
        self.sync()
        return self.clock() - t0


class EventTimer:
    """CUDA/HIP events recorded on the current stream around one call; seconds between them."""

    def __init__(self, torch):
        self.torch = torch

    def sync(self) -> None:
        self.torch.cuda.synchronize()

    def __call__(self, op: Callable[[], object]) -> float:
        start = self.torch.cuda.Event(enable_timing=True)
        end = self.torch.cuda.Event(enable_timing=True)
        start.record()
        op()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds


def time_op(op: Callable[[], object], timer, runs: int, warmup: int = 3, flush: Callable[[], object] | None = None,
            deadline: float | None = None, cancel=None, min_runs: int = 3) -> list[float]:
    """Seconds of each timed run of ``op``, after ``warmup`` untimed runs.

    ``flush`` runs before every timed run, outside the timed region. Once ``time.monotonic()`` passes
    ``deadline`` it skips the remaining warm-ups (one always runs) and stops timing after ``min_runs``;
    raises ``Cancelled`` between runs when ``cancel`` is set.
    """
    for i in range(max(1, warmup)):
        if i and deadline is not None and time.monotonic() > deadline:
            break
        if cancel is not None and cancel.is_set():
            raise Cancelled("benchmark cancelled")
        op()
    timer.sync()
    times: list[float] = []
    while len(times) < runs:
        if cancel is not None and cancel.is_set():
            raise Cancelled("benchmark cancelled")
        if deadline is not None and len(times) >= min_runs and time.monotonic() > deadline:
            break
        if flush is not None:
            flush()
        times.append(timer(op))
    return times


# ----- backends ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceInfo:
    """What the page shows about a backend's device."""

    backend: str
    name: str
    memory_bytes: int | None
    dtypes: tuple[str, ...]
    note: str = ""


def cpu_name() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical cores)"


def cpu_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(64).strip()
        return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit
    except (OSError, ValueError):
        return None


def cpu_free_bytes() -> int | None:
    """Memory a new allocation can take now without swapping: ``MemAvailable`` of ``/proc/meminfo`` (the kernel's
    estimate, page cache it can drop included), and no more than what the cgroup limit leaves (a container's
    ``memory.max - memory.current``, v1's ``limit_in_bytes - usage_in_bytes``). None where neither is known."""
    known: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    known.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, cur = _read_int(limit), _read_int(used)
        if lim is not None and cur is not None and lim < 2**60:
            known.append(max(0, lim - cur))
    if not known:
        try:
            known.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        except (AttributeError, ValueError, OSError):
            return None
    return min(known)


class NumpyBackend:
    """numpy's BLAS (OpenBLAS/MKL/Accelerate) on the CPU; fp32 only (numpy has no bf16 and its fp16
    matmul does not use BLAS)."""

    name = "numpy"
    lock_key = "cpu"

    def __init__(self):
        self.info = DeviceInfo("numpy", cpu_name(), cpu_memory_bytes(), ("fp32",),
                               f"numpy {np.__version__}, {_blas_name()}")

    def matmul_op(self, m: int, n: int, k: int, dtype: str, seed: int = 0):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        return lambda: np.matmul(a, b, out=c)

    def copy_op(self, nbytes: int):
        src = np.ones(nbytes, dtype=np.uint8)
        dst = np.zeros(nbytes, dtype=np.uint8)
        return lambda: np.copyto(dst, src)

    def timer(self):
        return WallTimer()

    def flush_op(self):
        buf = np.zeros(CPU_FLUSH_BYTES, dtype=np.uint8)
        return lambda: buf.fill(1)

    def precision(self, dtype: str):
        return nullcontext()

    def release(self) -> None:
        pass

    def free_bytes(self) -> int | None:
        return cpu_free_bytes()


def _blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        return str(cfg["Build Dependencies"]["blas"]["name"])
    except Exception:  # numpy < 1.26 or an unusual build: the name is only shown, never used
        return "BLAS"


class TorchBackend:
    """torch on ``device`` "cuda" (CUDA or ROCm: HIP builds answer to "cuda" too) or "cpu"."""

    def __init__(self, torch, device: str):
        self.torch = torch
        self.device = device
        if device == "cuda":
            props = torch.cuda.get_device_properties(0)
            self.is_hip = bool(getattr(torch.version, "hip", None))
            self.name = "rocm" if self.is_hip else "cuda"
            self.lock_key = "cuda-" + str(getattr(props, "uuid", 0) or 0)
            self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 0)
            dtypes = gpu_dtypes(props, self.is_hip, hasattr(torch, "_scaled_mm"))
            self.info = DeviceInfo(self.name, torch.cuda.get_device_name(0), int(props.total_memory), dtypes,
                                   f"torch {torch.__version__}, "
                                   + (f"HIP {torch.version.hip}" if self.is_hip else f"CUDA {torch.version.cuda}"))
        elif device == "cpu":
            self.is_hip = False
            self.name = "torch-cpu"
            self.lock_key = "cpu"
            self.l2_bytes = 0
            # tf32 is a GPU tensor-core mode; fp8 on the CPU is emulated, not a hardware figure.
            self.info = DeviceInfo("torch-cpu", cpu_name(), cpu_memory_bytes(), ("fp32", "bf16", "fp16"),
                                   f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        else:
            raise ValueError(f"device must be 'cuda' or 'cpu', got {device!r:.20}")

    def _fp8_dtype(self):
        arch = ""
        if self.is_hip:
            arch = str(getattr(self.torch.cuda.get_device_properties(0), "gcnArchName", ""))
        # MI300 (gfx94x) implements the "fnuz" e4m3 variant; NVIDIA and later AMD chips the OCP e4m3fn.
        return self.torch.float8_e4m3fnuz if arch.startswith("gfx94") else self.torch.float8_e4m3fn

    def matmul_op(self, m: int, n: int, k: int, dtype: str, seed: int = 0):
        t = self.torch
        gen = t.Generator(device=self.device).manual_seed(seed)
        if dtype == "fp8":
            if m % 16 or n % 16 or k % 16:
                raise ValueError(f"fp8 matmul (torch._scaled_mm) needs m, n, k divisible by 16, got {m}x{n}x{k}")
            f8 = self._fp8_dtype()
            a = t.randn(m, k, device=self.device, generator=gen).to(f8)
            b = t.randn(n, k, device=self.device, generator=gen).to(f8).t()  # column-major (k x n)
            one = t.ones((), device=self.device, dtype=t.float32)
            return lambda: t._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=t.bfloat16)
        tdt = {"fp32": t.float32, "tf32": t.float32, "bf16": t.bfloat16, "fp16": t.float16}[dtype]
        a = t.randn(m, k, device=self.device, dtype=tdt, generator=gen)
        b = t.randn(k, n, device=self.device, dtype=tdt, generator=gen)
        c = t.empty(m, n, device=self.device, dtype=tdt)
        return lambda: t.matmul(a, b, out=c)

    def copy_op(self, nbytes: int):
        src = self.torch.ones(nbytes, dtype=self.torch.uint8, device=self.device)
        dst = self.torch.zeros(nbytes, dtype=self.torch.uint8, device=self.device)
        return lambda: dst.copy_(src)

    def timer(self):
        return EventTimer(self.torch) if self.device == "cuda" else WallTimer()

    def flush_op(self):
        nbytes = 2 * self.l2_bytes if self.device == "cuda" and self.l2_bytes else (
            256 * 2**20 if self.device == "cuda" else CPU_FLUSH_BYTES)
        buf = self.torch.empty(nbytes, dtype=self.torch.uint8, device=self.device)
        return lambda: buf.fill_(1)

    @contextmanager
    def precision(self, dtype: str):
        """fp32 matmuls in full precision, tf32 with tensor cores ("high"); restored afterwards."""
        before = self.torch.get_float32_matmul_precision()
        self.torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
        try:
            yield
        finally:
            self.torch.set_float32_matmul_precision(before)

    def release(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.empty_cache()

    def free_bytes(self) -> int | None:
        """Free device memory now: ``torch.cuda.mem_get_info`` on a GPU (after releasing the cache), the RAM's
        available memory on the CPU."""
        if self.device != "cuda":
            return cpu_free_bytes()
        self.release()
        return int(self.torch.cuda.mem_get_info()[0])


def gpu_dtypes(props, is_hip: bool, has_scaled_mm: bool) -> tuple[str, ...]:
    """Matmul dtypes a GPU runs in hardware, from its compute capability (NVIDIA) or gfx arch (AMD).

    NVIDIA: tf32 and bf16 from Ampere (8.0), fp8 from Ada/Hopper (8.9) (CUDA C++ Programming Guide,
    "Compute Capabilities"). AMD: bf16 on CDNA and RDNA3; fp8 on MI300 (gfx94x) and later (gfx95x);
    tf32 is not offered on ROCm here (hipBLASLt's xf32 is MI300-only and off by default).
    """
    out = ["fp32"]
    if is_hip:
        arch = str(getattr(props, "gcnArchName", ""))
        out += ["bf16", "fp16"]
        if has_scaled_mm and arch.startswith(("gfx94", "gfx95")):
            out.append("fp8")
        return tuple(out)
    cc = (int(props.major), int(props.minor))
    if cc >= (8, 0):
        out += ["tf32", "bf16"]
    out.append("fp16")
    if has_scaled_mm and cc >= (8, 9):
        out.append("fp8")
    return tuple(out)


def available_backends(torch=None, *, probe: bool = True) -> list[str]:
    """Backends usable here, best first ("cuda"/"rocm", "torch-cpu", "numpy")."""
    if torch is None and probe:
        torch = import_torch()
    names = []
    if torch is not None:
        if torch.cuda.is_available():
            names.append("rocm" if getattr(torch.version, "hip", None) else "cuda")
        names.append("torch-cpu")
    names.append("numpy")
    return names


def get_backend(name: str = "auto", torch=None):
    """A backend by name; ``auto`` takes the first of ``available_backends``. ``ValueError`` if unavailable."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r:.40}")
    if torch is None and name != "numpy":
        torch = import_torch()
    available = available_backends(torch, probe=False) if name != "numpy" else ["numpy"]
    if name == "auto":
        name = available[0]
    if name in ("cuda", "rocm") and not any(b in available for b in ("cuda", "rocm")):
        why = "PyTorch is not installed" if torch is None else "torch.cuda.is_available() is False"
        raise ValueError(f"backend {name!r} is not available ({why}); available: {', '.join(available)}. "
                         + INSTALL_HINT)
    if name == "torch-cpu" and torch is None:
        raise ValueError("backend 'torch-cpu' needs PyTorch, which is not installed; use --backend numpy "
                         "or `pip install torch`")
    if name == "numpy":
        return NumpyBackend()
    return TorchBackend(torch, "cuda" if name in ("cuda", "rocm") else "cpu")
