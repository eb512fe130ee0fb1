"""measure/allreduce.py: a real torch.distributed all-reduce (gloo, 2 local processes) and nccl-tests' busbw."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from measure.allreduce import bus_factor, measure_allreduce
from tests.conftest import ROOT


def test_bus_factors_are_nccl_tests():
    # NVIDIA/nccl-tests doc/PERFORMANCE.md: all-reduce 2(n-1)/n, all-gather and reduce-scatter (n-1)/n
    assert bus_factor("all_reduce", 2) == 1.0 and bus_factor("all_reduce", 8) == 1.75
    assert bus_factor("reduce_scatter", 4) == 0.75
    with pytest.raises(ValueError, match="ranks"):
        bus_factor("all_reduce", 0)


def test_gloo_allreduce_runs_and_sums():
    """Through the CLI (``python -m calc bench --allreduce 2``): 2 processes, gloo on this CPU-only machine."""
    out = subprocess.run([sys.executable, "-m", "calc", "bench", "--allreduce", "2", "--sizes", "1,4", "--runs", "3",
                          "--warmup", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["bytes"] for r in rows] == [2**20, 4 * 2**20] and all(r["measure"] == "all_reduce" for r in rows)
    for r in rows:
        assert r["correct"]  # every element is 1 + 2: the collective really ran
        assert 0 < r["seconds"] < 10
        assert r["busbw_bytes_per_s"] == pytest.approx(r["algbw_bytes_per_s"])  # n = 2: factor 1
        assert 1e5 < r["busbw_bytes_per_s"] < 1e12  # loopback on one host: between 100 kB/s and 1 TB/s


def test_bad_sizes_named():
    with pytest.raises(ValueError, match="at least 2"):
        measure_allreduce(1)
    with pytest.raises(ValueError, match="sizes"):
        measure_allreduce(2, (3,))
