"""The benchmark's own process: ``python -m measure.child probe`` or ``python -m measure.child run``.

The web server never imports torch (it would cost seconds and hundreds of MB per server, and a GPU context);
the Benchmark page starts this process instead (``measure.jobs``). It speaks JSON:

- ``probe``: prints one object: the backends available here and, for each, its ``DeviceInfo`` and the memory
  free now (``backend.free_bytes()``).
- ``run``: reads a ``BenchConfig`` as JSON on stdin, then prints one JSON object per line as it goes:
  ``{"event": "wait", "seconds"}`` while another benchmark holds the device, ``{"event": "progress", "done",
  "total", "text"}``, ``{"event": "result", "kind": "matmul" | "copy", "fields": {...}}`` for each measurement,
  and last ``{"event": "done", "device", "catalog_gpu", "started_at", "finished_at", "waited_s", "stopped"}``;
  or ``{"event": "error", "message"}`` (exit 2) for a refused configuration. SIGTERM stops the sweep between
  timed runs; what was measured so far has already been printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import sys
import threading
import time

from calc.gpus import match_device_name
from measure import GPU_BACKENDS, BenchConfig, BenchReport, Cancelled, run_benchmark
from measure.backends import DeviceInfo, available_backends, get_backend
from measure.bandwidth import BandwidthResult
from measure.matmul import MatmulResult, Shape

MAX_CONFIG_BYTES = 1_000_000
LOCK_TIMEOUT_S = 600.0  # another server's (or the CLI's) benchmark holds the device longer: give up


def config_to_dict(config: BenchConfig) -> dict:
    d = dataclasses.asdict(config)
    d["dtypes"] = list(config.dtypes)
    d["shapes"] = [dataclasses.asdict(s) for s in config.shapes]
    return d


def config_from_dict(d: dict) -> BenchConfig:
    """``ValueError`` for anything that is not a valid ``BenchConfig`` (the fields are checked there)."""
    if not isinstance(d, dict):
        raise ValueError("the benchmark configuration must be a JSON object")
    fields = {f.name for f in dataclasses.fields(BenchConfig)}
    if set(d) - fields:
        raise ValueError(f"unknown benchmark settings: {', '.join(sorted(set(d) - fields))[:200]}")
    shapes = d.get("shapes", [])
    if not isinstance(shapes, list) or len(shapes) > 1000:
        raise ValueError("shapes must be a list of at most 1,000 {m, n, k, label}")
    try:
        return BenchConfig(**{**d, "shapes": tuple(Shape(**s) for s in shapes), "dtypes": tuple(d.get("dtypes", ()))})
    except TypeError as exc:
        raise ValueError(f"bad benchmark settings: {exc}") from None


def device_from_dict(d: dict) -> DeviceInfo:
    return DeviceInfo(**{**d, "dtypes": tuple(d["dtypes"])})


def result_from_event(event: dict) -> MatmulResult | BandwidthResult | dict:
    if event["kind"] == "allreduce":
        return dict(event["fields"])
    cls = MatmulResult if event["kind"] == "matmul" else BandwidthResult
    return cls(**event["fields"])


def report_from_events(events: list[dict], stopped: str | None = None) -> BenchReport | None:
    """A ``BenchReport`` from a run's events (its ``done`` event, or ``stopped`` when the run ended without one,
    e.g. killed at its maximum run time). None when nothing was measured and no ``done`` came."""
    results = [result_from_event(e) for e in events if e.get("event") == "result"]
    done = next((e for e in events if e.get("event") == "done"), None)
    if done is None and not results:
        return None
    start = next((e for e in events if e.get("event") == "start"), {})
    meta = done or {"device": start.get("device"), "catalog_gpu": start.get("catalog_gpu"),
                    "started_at": start.get("started_at", 0.0), "finished_at": start.get("started_at", 0.0),
                    "waited_s": 0.0, "stopped": stopped}
    if meta.get("device") is None:
        return None
    return BenchReport(device_from_dict(meta["device"]), meta["catalog_gpu"],
                       tuple(r for r in results if isinstance(r, MatmulResult)),
                       next((r for r in results if isinstance(r, BandwidthResult)), None),
                       meta["started_at"], meta["finished_at"], meta["waited_s"], stopped or meta["stopped"],
                       tuple(r for r in results if isinstance(r, dict)))


def _emit(obj: dict) -> None:
    print(json.dumps(obj, allow_nan=False), flush=True)


def probe() -> dict:
    out: dict = {"backends": [], "devices": {}}
    for name in available_backends():
        try:
            backend = get_backend(name)
        except ValueError:
            continue
        out["backends"].append(name)
        out["devices"][name] = {**dataclasses.asdict(backend.info), "free_bytes": backend.free_bytes()}
    return out


def _stop_when_orphaned(cancel: threading.Event) -> None:
    """The server that started this run is gone (its child is re-parented): stop at the next timed run."""
    parent = os.getppid()
    while not cancel.wait(1.0):
        if os.getppid() != parent:
            cancel.set()


def run(stdin=None) -> int:
    raw = (stdin or sys.stdin).read(MAX_CONFIG_BYTES + 1)
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    threading.Thread(target=_stop_when_orphaned, args=(cancel,), daemon=True).start()
    try:
        if len(raw) > MAX_CONFIG_BYTES:
            raise ValueError("the benchmark configuration is larger than 1 MB")
        config = config_from_dict(json.loads(raw))
        backend = get_backend(config.backend)
    except (ValueError, json.JSONDecodeError) as exc:
        _emit({"event": "error", "message": str(exc)[:1000]})
        return 2
    gpu = match_device_name(backend.info.name) if backend.info.backend in GPU_BACKENDS else None
    _emit({"event": "start", "device": dataclasses.asdict(backend.info), "catalog_gpu": gpu.name if gpu else None,
           "started_at": time.time()})

    def on_result(r) -> None:
        _emit({"event": "result", "kind": "matmul" if isinstance(r, MatmulResult) else "copy",
               "fields": dataclasses.asdict(r)})

    try:
        report = run_benchmark(config, lambda d, t, text: _emit({"event": "progress", "done": d, "total": t,
                                                                 "text": text}),
                               cancel=cancel, on_wait=lambda s: _emit({"event": "wait", "seconds": s}),
                               lock_timeout_s=LOCK_TIMEOUT_S, backend=backend, on_result=on_result,
                               watch_free_memory=True)
        if config.allreduce_ranks and report.stopped is None:
            _allreduce(config, backend, cancel)
    except (ValueError, TimeoutError) as exc:
        _emit({"event": "error", "message": str(exc)[:1000]})
        return 2
    except Cancelled:
        _emit({"event": "done", "device": dataclasses.asdict(backend.info), "catalog_gpu": gpu.name if gpu else None,
               "started_at": time.time(), "finished_at": time.time(), "waited_s": 0.0, "stopped": "cancelled"})
        return 0
    _emit({"event": "done", "device": dataclasses.asdict(report.device), "catalog_gpu": report.catalog_gpu,
           "started_at": report.started_at, "finished_at": report.finished_at, "waited_s": report.waited_s,
           "stopped": report.stopped})
    return 0


#: Sizes of the all-reduce buffer per rank (nccl-tests sweeps sizes; bus bandwidth saturates past a few MiB).
ALLREDUCE_SIZES = (2**20, 2**24, 2**26)


def _allreduce(config: BenchConfig, backend, cancel: threading.Event) -> None:
    """The all-reduce of ``measure.allreduce`` (NCCL across the visible GPUs, else gloo on the CPU) under the
    device lock, each size printed as a result; sizes above the run's memory bound are left out."""
    from measure.allreduce import measure_allreduce
    from measure.lock import device_lock

    sizes = tuple(s for s in ALLREDUCE_SIZES if s <= config.max_matrix_bytes) or (2**20,)
    _emit({"event": "progress", "done": 0, "total": 1, "text": f"all-reduce over {config.allreduce_ranks} ranks"})
    try:
        with device_lock(backend.lock_key, cancel=cancel, timeout_s=LOCK_TIMEOUT_S):
            rows = measure_allreduce(config.allreduce_ranks, sizes, runs=min(config.runs, 20), warmup=config.warmup,
                                     time_budget_s=float(config.time_budget_s), cancel=cancel)
    except (ImportError, RuntimeError, OSError, queue.Empty) as exc:  # no torch, a rank that died, a time-out
        raise ValueError(f"all-reduce over {config.allreduce_ranks} ranks failed: {exc}") from None
    for r in rows:
        _emit({"event": "result", "kind": "allreduce", "fields": r})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["probe"]:
        _emit(probe())
        return 0
    if argv == ["run"]:
        return run()
    print("usage: python -m measure.child probe | run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
