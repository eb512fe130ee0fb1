"""The Benchmark page cannot exhaust the server (issue 20, item 1; issue 17, item 11).

Runs happen in child processes (``measure.child``) that ``measure.jobs`` starts one at a time: one run per
visitor, a queue with positions, a maximum run time (SIGTERM, then SIGKILL), buffers bounded by the memory free
now, and Stop keeps what was measured. These tests start real child processes (numpy, small sizes).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from measure import BenchConfig, jobs, run_benchmark
from measure.backends import NumpyBackend
from measure.matmul import square_shapes
from tests.conftest import ROOT


def _config(budget: float = 30.0, sizes=(64,), runs: int = 3) -> BenchConfig:
    return BenchConfig(backend="numpy", dtypes=("fp32",), shapes=tuple(square_shapes(sizes)), runs=runs, warmup=1,
                       time_budget_s=budget, max_matrix_bytes=2**30)


def _wait(pred, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_one_run_per_visitor_a_queue_with_positions_and_a_full_queue():
    q = jobs.BenchQueue(max_waiting=2)
    long = _config(budget=30, sizes=(256,), runs=1000)  # runs until cancelled (about 30 s otherwise)
    a = q.submit("a", long)
    _wait(lambda: a.state == "running")
    b = q.submit("b", _config())
    c = q.submit("c", _config())
    assert [q.position(j) for j in (a, b, c)] == [0, 1, 2]
    with pytest.raises(ValueError, match="you already have a benchmark running"):
        q.submit("a", _config())
    with pytest.raises(ValueError, match="you already have a benchmark waiting in the queue \\(1 ahead of it\\)"):
        q.submit("b", _config())
    with pytest.raises(ValueError, match="the benchmark queue is full \\(2 runs waiting"):
        q.submit("d", _config())
    assert q.cancel("b")  # leaves the queue: c moves up
    assert q.position(c) == 1 and q.collect("b").stopped == "cancelled"
    _wait(lambda: a.progress() is not None and a.progress()[0] >= 0)
    assert q.cancel("a")
    _wait(lambda: a.state == "done")
    _wait(lambda: c.state == "done")  # then c ran, alone
    assert q.collect("c").report().matmuls[0].m == 64
    got = q.collect("a")
    assert got.stopped == "cancelled" and got.error is None


def test_stop_keeps_the_sizes_already_measured():
    """Issue 17, item 11: Stop used to discard the sweep."""
    q = jobs.BenchQueue()
    job = q.submit("v", _config(budget=60, sizes=(32, 48, 64, 1024), runs=200))
    _wait(lambda: sum(e.get("event") == "result" for e in job.events) >= 2)  # 32 and 48 done, later ones under way
    q.cancel("v")
    _wait(lambda: job.state == "done")
    report = q.collect("v").report()
    assert report.stopped == "cancelled"
    assert [r.m for r in report.matmuls][:2] == [32, 48] and len(report.matmuls) < 4
    for r in report.matmuls:
        assert r.flops_per_s == pytest.approx(2 * r.m * r.n * r.k / r.median_s)


def test_a_run_past_its_maximum_time_is_killed(tmp_path, monkeypatch):
    """A child that ignores SIGTERM and never ends is killed at budget + grace + kill delay."""
    stubborn = tmp_path / "stubborn"
    stubborn.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60\n")
    stubborn.chmod(stubborn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(jobs, "GRACE_S", 0.5)
    monkeypatch.setattr(jobs, "KILL_AFTER_S", 0.5)
    q = jobs.BenchQueue(python=str(stubborn))
    t0 = time.monotonic()
    job = q.submit("v", _config(budget=1))
    _wait(lambda: job.state == "done", timeout_s=20)
    assert 1.5 <= time.monotonic() - t0 < 10
    assert job.stopped == "maximum run time" and job.report() is None
    assert job.proc.returncode == -9  # SIGKILL: SIGTERM was ignored


def test_a_visitor_who_leaves_loses_the_run():
    alive = {"v": True}
    q = jobs.BenchQueue(session_alive=lambda sid: alive.get(sid, True))
    job = q.submit("owner-key", _config(budget=30, sizes=(256,), runs=1000), session_id="v")
    _wait(lambda: job.state == "running")
    alive["v"] = False
    _wait(lambda: job.state == "done", timeout_s=20)
    assert job.stopped == "visitor left"


def test_budget_above_the_maximum_is_refused():
    with pytest.raises(ValueError, match="at most 120 s"):
        jobs.BenchQueue().submit("v", _config(budget=600))


def test_the_run_stops_when_free_memory_runs_short(monkeypatch):
    """Other processes allocate while a sweep runs: each measurement checks the memory free at that moment."""
    backend = NumpyBackend()
    free = iter([10**9, 10**9, 10**6])  # plenty for the first two sizes, then 1 MB
    monkeypatch.setattr(backend, "free_bytes", lambda: next(free))
    report = run_benchmark(_config(sizes=(32, 48, 512)), backend=backend, watch_free_memory=True)
    assert [r.m for r in report.matmuls] == [32, 48]
    # 3 x 512^2 x 4 B = 3.15 MB, above half of 1 MB (and the 1 MiB floor)
    assert report.stopped.startswith("free memory: a 512x512x512 fp32 matmul needs 3.15 MB, more than 50% of the")


def test_child_refuses_a_bad_configuration_with_one_line():
    bad = json.dumps({"backend": "numpy", "dtypes": ["fp32"], "shapes": [{"m": 0, "n": 1, "k": 1}]})
    out = subprocess.run([sys.executable, "-m", "measure.child", "run"], input=bad.encode(), cwd=ROOT,
                         capture_output=True, timeout=60)
    assert out.returncode == 2 and b"Traceback" not in out.stderr
    assert json.loads(out.stdout)["event"] == "error" and "dimension m" in json.loads(out.stdout)["message"]


def test_the_server_never_imports_torch_while_a_benchmark_runs():
    """The page in a fresh process (as a server): a torch run happens in the child, torch never in the server."""
    code = (
        "import json, sys, time\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=120)\n"
        "for k, v in {'bbackend': 'torch-cpu', 'bsizes': '128', 'bruns': '3', 'bbw': '0', 'bdtypes': 'bf16'}.items():\n"
        "    at.query_params[k] = v\n"
        "at.run(); at.switch_page('app_pages/benchmark.py'); at.run()\n"
        "at.button(key='brun').click().run()\n"
        "deadline = time.monotonic() + 90\n"
        "while not at.dataframe and not at.error and time.monotonic() < deadline:\n"
        "    time.sleep(0.3); at.run()\n"
        "print(json.dumps({'rows': len(at.dataframe[0].value) if at.dataframe else 0,\n"
        "                  'errors': [e.value for e in at.error], 'exc': len(at.exception),\n"
        "                  'torch': sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3]}))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if got["errors"] and "torch-cpu" in " ".join(got["errors"]):
        pytest.skip("torch is not installed here")
    assert got == {"rows": 1, "errors": [], "exc": 0, "torch": []}
