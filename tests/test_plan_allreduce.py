"""measure/allreduce.py (the planner's measured interconnect, issue 15 item 4): bounded, no rank left behind,
the gloo (CPU) path with more than two ranks, and the NCCL path where there are GPUs for it.

The rank processes are ``multiprocessing`` spawn children (``spawn_main`` in their command line); a test that
ends an all-reduce early looks for them with psutil afterwards. A zombie (ended, not yet reaped by init) counts
as ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
psutil = pytest.importorskip("psutil")

from measure.allreduce import TERM_GRACE_S, bus_factor, measure_allreduce  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


def _ranks(pid: int) -> list:
    """Live rank processes below ``pid`` (spawned by multiprocessing), zombies excluded."""
    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in procs if _alive_rank(p)]


def _alive_rank(p) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline())
    except psutil.NoSuchProcess:
        return False


def test_gloo_three_ranks_sum_and_bus_factor():
    """Three CPU ranks (gloo): every element is 1 + 2 + 3, and busbw = bytes / median time x 2 (n - 1) / n = 4/3
    (nccl-tests doc/PERFORMANCE.md), the factor that two ranks (1) cannot show."""
    rows = measure_allreduce(3, (2**16,), backend="gloo", runs=3, warmup=1, time_budget_s=240)
    (r,) = rows
    assert r["correct"] and r["backend"] == "gloo" and r["ranks"] == 3
    assert r["algbw_bytes_per_s"] == pytest.approx(2**16 / r["seconds"])
    assert r["busbw_bytes_per_s"] == pytest.approx(r["algbw_bytes_per_s"] * 4 / 3) == pytest.approx(
        r["algbw_bytes_per_s"] * bus_factor("all_reduce", 3))
    assert not _ranks(os.getpid())


def test_time_budget_stops_the_run_and_kills_its_ranks():
    """A sweep far longer than its budget (a million 64 MiB all-reduces) ends at the budget with TimeoutError,
    and no rank survives the call (before: a fixed 300 s wait, then ranks left running)."""
    budget = 3.0
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="time budget of 3 s"):
        measure_allreduce(2, (2**26,), backend="gloo", runs=10**6, warmup=0, time_budget_s=budget)
    assert time.monotonic() - t0 < budget + TERM_GRACE_S + 15  # stop + kill + reap, not the sweep
    assert not _ranks(os.getpid())


def test_cancel_stops_the_run_and_kills_its_ranks():
    import threading

    from measure.lock import Cancelled

    cancel = threading.Event()
    threading.Timer(2.0, cancel.set).start()
    with pytest.raises(Cancelled):
        measure_allreduce(2, (2**26,), backend="gloo", runs=10**6, warmup=0, time_budget_s=600, cancel=cancel)
    assert not _ranks(os.getpid())


_ORPHAN = ("from measure.allreduce import measure_allreduce; "
           "measure_allreduce(2, (2**26,), backend='gloo', runs=10**6, warmup=0, time_budget_s=3000)")


def test_ranks_end_when_their_parent_is_killed():
    """The process running the all-reduce is SIGKILLed (a Benchmark job past its maximum run time): its ranks,
    re-parented, end by themselves instead of running a million all-reduces for nobody."""
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        ranks = []
        while len(ranks) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            ranks = _ranks(parent.pid)
        assert len(ranks) == 2, "the ranks did not start"
        time.sleep(1.0)  # let them get past start-up
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive_rank(p) for p in ranks) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p.pid for p in ranks if _alive_rank(p)]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
    for pid in left:  # clean up after a failure, then report it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"ranks {left} outlived their parent"


@pytest.mark.skipif(not (torch.cuda.is_available() and torch.cuda.device_count() >= 2
                         and torch.distributed.is_nccl_available()),
                    reason="NCCL across two GPUs needs two visible CUDA GPUs (NCCL refuses two ranks on one GPU)")
def test_nccl_allreduce_across_two_gpus():
    """The GPU path: NCCL picked by 'auto', every sum correct, and a bus bandwidth between 1 GB/s (slower than
    any PCIe link) and 2 TB/s (above NVLink 5's 900 GB/s per direction)."""
    rows = measure_allreduce(2, (2**20, 2**26), backend="auto", runs=5, warmup=2, time_budget_s=240)
    assert [r["backend"] for r in rows] == ["nccl", "nccl"] and all(r["correct"] for r in rows)
    best = max(r["busbw_bytes_per_s"] for r in rows)
    assert 1e9 < best < 2e12
    assert not _ranks(os.getpid())
