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


def test_benchmark_page_measures_allreduce_and_the_planner_uses_it():
    """Benchmark page (issue 15 item 4): the all-reduce runs in the page's child process (gloo, 2 ranks here), its
    table's busbw is bytes / median time (n = 2: factor 1) with every sum correct; 'Use' hands it to the Cluster
    planner, whose step time then equals calc.plan.search's with that intra-node bandwidth."""
    import time

    from streamlit.testing.v1 import AppTest

    from calc.gpus import get_gpu
    from calc.plan import Cluster, Job, search
    from calc.presets import get_preset

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in {"bbackend": "numpy", "bsizes": "128", "bruns": "3", "bwarm": "1", "bbw": "0", "bar": "1",
                 "barranks": "2", "model": "Meta-Llama-3-8B", "gpu": "H100 SXM"}.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/benchmark.py")
    at.run()
    at.button(key="brun").click().run()
    deadline = time.monotonic() + 240
    while not [d for d in at.dataframe if "busbw GB/s" in d.value] and not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ar = next(d.value for d in at.dataframe if "busbw GB/s" in d.value)
    assert list(ar["bytes"]) == [2**20, 2**24, 2**26] and ar["sum correct"].all() and (ar["ranks"] == 2).all()
    assert ar["busbw GB/s"].to_numpy() == pytest.approx((ar["bytes"] / (ar["median_ms"] / 1e3) / 1e9).to_numpy())
    at.button(key="baruse").click().run()
    busbw = at.session_state["measured_allreduce"]["busbw_bytes_per_s"]
    assert busbw == pytest.approx(ar["busbw GB/s"].max() * 1e9)
    for k, v in {"plgpus": "8", "plseq": "4096", "plgbt": "1.048576", "pltok": "0.0", "pltop": "1"}.items():
        at.query_params[k] = v
    at.switch_page("app_pages/planner.py")
    at.run()
    at.toggle(key="plmarx").set_value(True).run()  # a CPU's figure: only by an explicit, labelled choice
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = at.dataframe[0].value
    expected = search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 8, intra_bytes_per_s=busbw),
                      Job(4096, 256 * 4096), top=1)[0]
    assert shown["step s"][0] == pytest.approx(expected.step_s, abs=1e-4)
    catalog = search(get_preset("Meta-Llama-3-8B"), Cluster(get_gpu("H100 SXM"), 8), Job(4096, 256 * 4096), top=1)[0]
    assert expected.step_s > catalog.step_s  # loopback gloo is far below NVLink's 450 GB/s: the figure was used
