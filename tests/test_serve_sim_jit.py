"""The compiled simulator (calc/serve_sim_jit.py, issue 18) against the Python loop it compiles, bit for bit.

The reference is ``calc.serve_sim._run_fixed``, the Python loop that tests/test_serve_sim_exact.py holds equal to the
verbatim old event loop; the kernel must give the same first-token and finish times (``np.array_equal``), the same
event count and the same early stop on random setups, and ``max_rate`` the same rate through either.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import calc.serve_sim as ss
import calc.serve_sim_jit as jit
from calc.gpus import get_gpu
from calc.presets import get_preset

pytest.importorskip("numba")

MODELS = ("Meta-Llama-3-8B", "Llama-3.2-1B", "Mixtral-8x7B-v0.1", "Falcon-H1-1.5B-Instruct", "Meta-Llama-3-70B")


@pytest.fixture(scope="module")
def kernel():
    k = jit.load()
    assert k is not None, "numba is installed but the kernel did not load"
    return k


@pytest.fixture()
def python_only(monkeypatch):
    """The simulator with no compiled kernel (the library's default before ``load``)."""
    return lambda: monkeypatch.setattr(jit, "KERNEL", None)


def _model(rng):
    name = MODELS[int(rng.integers(len(MODELS)))]
    tp = int(rng.choice([1, 2, 4])) if name != "Falcon-H1-1.5B-Instruct" else 1
    g = get_gpu(str(rng.choice(["H100 SXM", "A100 SXM 80GB", "L4"])))
    return ss.step_model(get_preset(name), g.peak("bf16"), g.bandwidth_bytes_per_s, tp=tp,
                         overhead_s=float(rng.choice([0.0, 2e-3])))


def _setups(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        m = _model(rng)
        plen, olen = int(rng.integers(1, 6000)), int(rng.integers(2, 600))
        st = int(rng.choice([0, 0, 16, 64]))
        cap = math.inf if rng.random() < 0.3 else int((plen + olen + st) * rng.integers(1, 400))
        seqs, batched = int(rng.choice([1, 4, 64, 256, 1024])), int(rng.choice([256, 512, 2048, 8192, 16384]))
        rate = float(10 ** rng.uniform(-1, 2.5))
        arr = np.cumsum(rng.standard_exponential(int(rng.integers(1, 800))) / rate)
        yield m, arr, plen, olen, seqs, batched, cap, st


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (np.array_equal(np.asarray(a[0]), np.asarray(b[0]), equal_nan=True)
            and np.array_equal(np.asarray(a[1]), np.asarray(b[1]), equal_nan=True) and a[2] == b[2])


def test_kernel_equals_the_python_loop_on_random_setups(kernel):
    """300 random setups (models with and without experts, tensor parallelism, a Mamba hybrid's state; caches from
    one request to unbounded; 1 to 1,024 sequences; chunks that split prompts), each without an early stop and with
    the TTFT and TPOT SLOs of ``max_rate`` (the run's own p50 / p99 and an impossible one; 1 and 7 misses)."""
    stops = 0
    for m, arr, plen, olen, seqs, batched, cap, st in _setups(0, 300):
        args = (plen, olen, seqs, batched, cap, st)
        plain = ss._run_fixed(m, arr.tolist(), *args, None, None, None)
        got = ss._fixed_run(m, arr, *args, None, None, None)
        assert _same(got, plain), (m, args)
        ttft = np.asarray(plain[0]) - arr
        for slos in ((float(np.percentile(ttft, 50)), None), (float(np.percentile(ttft, 99)), 1e-3),
                     (None, 1e-4), (1e-6, None)):
            for late in (1, 7):
                ref = ss._run_fixed(m, arr.tolist(), *args, slos[0], late, slos[1])
                assert _same(ss._fixed_run(m, arr, *args, slos[0], late, slos[1]), ref), (args, slos, late)
                stops += ref is None
    assert stops > 100  # the early stops were exercised


def test_the_simulator_goes_through_the_kernel_once_loaded(kernel, monkeypatch):
    """``simulate`` and ``simulate_replicas`` of equal-length streams call the kernel (not the Python loop)."""
    monkeypatch.setattr(ss, "_run_fixed", lambda *a, **k: pytest.fail("the Python loop ran"))
    m = _model(np.random.default_rng(1))
    w = ss.poisson_workload(300, 5.0, 512, 64)
    assert ss.simulate(m, w).events > 0
    assert ss.simulate_replicas(m, w, 3).events > 0


def test_max_rate_is_the_same_through_the_kernel(kernel, python_only):
    """The SLO rate searched with compiled probes equals the pure-Python search on 40 random setups (bracket,
    bisection and the probes' early stops all agree)."""
    rng = np.random.default_rng(7)
    cases = []
    for _ in range(40):
        m = _model(rng)
        cases.append((m, int(rng.integers(16, 4000)), int(rng.integers(2, 400)),
                      [None, 0.2, 1.0, 5.0][int(rng.integers(4))], [None, 0.02, 0.05, 0.2][int(rng.integers(1, 4))],
                      {"max_num_seqs": int(rng.choice([8, 64, 256])), "kv_capacity_tokens": int(rng.integers(5_000, 500_000))}))
    fast = []
    for m, p, o, t1, t2, kw in cases:
        if p + o > kw["kv_capacity_tokens"]:
            kw["kv_capacity_tokens"] = None
        fast.append(ss.max_rate(m, p, o, t1, t2, requests=300, steps=7, **kw))
    python_only()
    slow = [ss.max_rate(m, p, o, t1, t2, requests=300, steps=7, **kw) for m, p, o, t1, t2, kw in cases]
    assert fast == slow
    assert len(set(fast)) > 20


def test_the_uncompiled_kernel_source_is_the_python_loop():
    """``run_fixed`` run as plain Python (no Numba) equals ``_run_fixed`` too: the port, apart from the compiler."""
    for m, arr, plen, olen, seqs, batched, cap, st in _setups(3, 15):
        ref = ss._run_fixed(m, arr.tolist(), plen, olen, seqs, batched, cap, st, None, None, None)
        got = jit.run_fixed(arr, plen, olen, seqs, batched, 0 if cap == math.inf else cap, cap == math.inf, st, 0.0,
                            False, 0, 0.0, False, *ss._kernel_fields(m))
        assert not got[3] and _same(got[:3], ref)


def _child(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env}, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_library_keeps_python_and_start_loads_the_kernel_in_a_thread():
    """A fresh process: without ``start()`` no simulation loads Numba; ``start()`` loads the kernel in a thread of its
    own, and simulations run compiled once it is loaded. ``CALC_SERVE_JIT=0`` keeps Python."""
    code = (
        "import sys, time\n"
        "import calc.serve_sim as ss, calc.serve_sim_jit as jit\n"
        "from calc.gpus import get_gpu\nfrom calc.presets import get_preset\n"
        "g = get_gpu('H100 SXM')\n"
        "m = ss.step_model(get_preset('Llama-3.2-1B'), g.peak('bf16'), g.bandwidth_bytes_per_s)\n"
        "w = ss.poisson_workload(200, 5.0, 256, 32)\n"
        "ss.simulate(m, w)\n"
        "print('numba' in sys.modules, jit.KERNEL is None)\n"
        "jit.start(); jit._STARTED[0].join(120)\n"
        "ss._run_fixed = None  # the Python loop is not called once the kernel is loaded\n"
        "print(jit.KERNEL is not None, ss.simulate(m, w).events > 0 if jit.KERNEL else None)\n")
    assert _child(code, {}).splitlines() == ["False True", "True True"]
    assert _child(code, {"CALC_SERVE_JIT": "0"}).splitlines() == ["False True", "False None"]


def test_the_app_starts_loading_the_kernel_on_its_first_run():
    """app.py's first run starts ``start()``'s thread, and the kernel it loads is the one simulations then use."""
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        "import calc.serve_sim_jit as jit\n"
        "assert not jit._STARTED\n"
        "AppTest.from_file('app.py', default_timeout=120).run()\n"
        "jit._STARTED[0].join(120)\n"
        "print(jit.KERNEL is not None)\n")
    assert _child(code, {}) == "True"
