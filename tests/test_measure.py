"""The measurement package: FLOP arithmetic, timing logic (with fake clocks and a fake CUDA), backends on the
CPU, the one-benchmark-per-device lock (threads and processes), the CLI and the Benchmark page."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import types

import numpy as np
import pytest

from calc.presets import get_preset
from measure import BenchConfig, Cancelled, run_benchmark
from measure.backends import (
    EventTimer,
    TorchBackend,
    WallTimer,
    available_backends,
    get_backend,
    gpu_dtypes,
    time_op,
)
from measure.bandwidth import measure_bandwidth
from measure.lock import device_lock
from measure.matmul import Shape, matmul_flops, measure_matmul, model_shapes, square_shapes
from tests.conftest import ROOT

SMALL = tuple(square_shapes([64, 96]))


# ----- FLOPs and shapes ---------------------------------------------------------------------
def test_matmul_flops_counts_multiply_and_add():
    # (m x k)(k x n): m*n outputs, each k multiplies + k adds (torch FlopCounterMode counts the same).
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    a, b = torch.ones(3, 5), torch.ones(5, 7)
    with FlopCounterMode(display=False) as fc:
        a @ b
    assert matmul_flops(3, 7, 5) == fc.get_total_flops() == 2 * 3 * 7 * 5
    assert Shape(3, 7, 5).flops == 210


def test_shape_bytes_and_validation():
    assert Shape(1024, 1024, 1024).bytes("bf16") == 3 * 1024 * 1024 * 2
    assert Shape(1024, 1024, 1024).bytes("fp8") == 2 * 1024 * 1024 + 1024 * 1024 * 2  # bf16 output
    for bad in (0, -1, 2**19, 1.5, True):
        with pytest.raises(ValueError, match="dimension m"):
            Shape(bad, 1, 1)


def test_model_shapes_are_the_linear_layers_of_a_real_model():
    """Reference: the nn.Linear modules transformers builds for a Llama-style GQA config (q, k, v fused)."""
    import torch
    import transformers as tf

    from calc.models import ModelSpec

    cfg = tf.LlamaConfig(hidden_size=96, intermediate_size=160, num_hidden_layers=1, num_attention_heads=6,
                         num_key_value_heads=2, head_dim=24, vocab_size=211)
    with torch.device("meta"):
        model = tf.LlamaForCausalLM(cfg)
    layer = model.model.layers[0]
    shapes = {s.label: s for s in model_shapes(ModelSpec.from_hf_config(cfg.to_dict()), 37)}
    a, m = layer.self_attn, layer.mlp
    assert shapes["QKV"] == Shape(37, a.q_proj.out_features + a.k_proj.out_features + a.v_proj.out_features,
                                  a.q_proj.in_features, "QKV")
    assert shapes["attention output"] == Shape(37, a.o_proj.out_features, a.o_proj.in_features, "attention output")
    assert shapes["MLP gate+up"] == Shape(37, m.gate_proj.out_features + m.up_proj.out_features,
                                          m.gate_proj.in_features, "MLP gate+up")
    assert shapes["MLP down"] == Shape(37, m.down_proj.out_features, m.down_proj.in_features, "MLP down")
    assert shapes["LM head"] == Shape(37, model.lm_head.out_features, model.lm_head.in_features, "LM head")


def test_model_shapes_flops_equal_forward_matmul_flops():
    # Llama-3-8B: one layer's GEMMs x 32 layers + head = 2 x tokens x (matmul params + head), from param_counts.
    from calc.speed import head_params, matmul_params_per_token

    spec, t = get_preset("Meta-Llama-3-8B"), 512
    shapes = model_shapes(spec, t)
    layer = sum(s.flops for s in shapes if s.label != "LM head")
    head = sum(s.flops for s in shapes if s.label == "LM head")
    assert layer * spec.num_layers + head == 2 * t * (matmul_params_per_token(spec) + head_params(spec))
    mix = {s.label: s for s in model_shapes(get_preset("Mixtral-8x7B-v0.1"), 4096)}
    assert mix["expert gate+up"].m == 4096 * 2 // 8 and "MLP down" not in mix
    assert {"q down", "kv up", "expert down", "MLP down"} <= {s.label for s in model_shapes(get_preset("DeepSeek-V3"), 8)}


# ----- timing logic with fakes ----------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_time_op_warmup_flush_and_median():
    clock, calls = FakeClock(), []
    durations = iter([9.0, 9.0, 0.3, 0.1, 0.2, 0.5, 0.4])  # 2 warm-ups then 5 timed

    def op():
        calls.append("op")
        clock.t += next(durations)

    def flush():
        calls.append("flush")
        clock.t += 100.0  # a flush must not be timed

    syncs = []
    timer = WallTimer(sync=lambda: syncs.append(1), clock=clock)
    timer.sync = lambda: syncs.append(1)
    times = time_op(op, timer, runs=5, warmup=2, flush=flush)
    assert times == pytest.approx([0.3, 0.1, 0.2, 0.5, 0.4])
    assert statistics.median(times) == pytest.approx(0.3)
    assert calls[:2] == ["op", "op"] and calls[2:] == ["flush", "op"] * 5


def test_wall_timer_synchronizes_before_and_after():
    events, clock = [], FakeClock()

    def op():
        events.append("op")
        clock.t += 1.0

    timer = WallTimer(sync=lambda: events.append("sync"), clock=clock)
    assert timer(op) == 1.0
    assert events == ["sync", "op", "sync"]


def test_time_op_deadline_keeps_min_runs_and_cancel_raises():
    calls = []
    times = time_op(lambda: calls.append(1), WallTimer(), runs=50, warmup=1, deadline=time.monotonic() - 1)
    assert len(times) == 3  # min_runs even past the deadline
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        time_op(lambda: None, WallTimer(), runs=5, cancel=ev)


def _fake_torch(cuda=True, hip=None, major=9, minor=0, name="NVIDIA H100 80GB HBM3", arch=""):
    """A stand-in for torch with a CUDA device: enough for detection, events and the backend's bookkeeping."""
    log = []

    class Event:
        clock = [0.0]

        def __init__(self, enable_timing=False):
            assert enable_timing
            self.t = None

        def record(self):
            log.append("record")
            self.t = Event.clock[0]

        def synchronize(self):
            log.append("event-sync")

        def elapsed_time(self, other):
            return (other.t - self.t) * 1e3  # ms, as torch reports

    props = types.SimpleNamespace(major=major, minor=minor, total_memory=81_559 * 2**20, L2_cache_size=50 * 2**20,
                                  uuid="GPU-1234", gcnArchName=arch)
    cuda_ns = types.SimpleNamespace(
        is_available=lambda: cuda, get_device_properties=lambda i: props, get_device_name=lambda i: name,
        Event=Event, synchronize=lambda: log.append("sync"), empty_cache=lambda: None)
    fake = types.SimpleNamespace(cuda=cuda_ns, version=types.SimpleNamespace(hip=hip, cuda=None if hip else "12.4"),
                                 __version__="fake", _scaled_mm=object())
    return fake, log, Event


def test_event_timer_uses_cuda_events_and_reports_seconds():
    fake, log, Event = _fake_torch()
    timer = EventTimer(fake)

    def op():
        log.append("op")
        Event.clock[0] += 0.25  # the GPU work between the two events

    assert timer(op) == pytest.approx(0.25)
    assert log == ["record", "op", "record", "event-sync"]


def test_detection_with_a_mocked_gpu():
    fake, _, _ = _fake_torch()
    assert available_backends(fake) == ["cuda", "torch-cpu", "numpy"]
    be = get_backend("auto", fake)
    assert be.name == "cuda" and be.info.name == "NVIDIA H100 80GB HBM3"
    assert be.info.memory_bytes == 81_559 * 2**20 and be.l2_bytes == 50 * 2**20
    assert be.info.dtypes == ("fp32", "tf32", "bf16", "fp16", "fp8")
    amd, _, _ = _fake_torch(hip="6.2", name="AMD Instinct MI300X", arch="gfx942:sramecc+:xnack-")
    assert available_backends(amd)[0] == "rocm" and get_backend("cuda", amd).info.dtypes == ("fp32", "bf16", "fp16", "fp8")
    none, _, _ = _fake_torch(cuda=False)
    assert available_backends(none) == ["torch-cpu", "numpy"]
    with pytest.raises(ValueError, match="not available.*pip install torch"):
        get_backend("cuda", none)


@pytest.mark.parametrize("cc,hip,arch,want", [
    ((7, 0), None, "", ("fp32", "fp16")),  # V100: no bf16/tf32 (Volta)
    ((8, 0), None, "", ("fp32", "tf32", "bf16", "fp16")),  # A100: no fp8
    ((8, 9), None, "", ("fp32", "tf32", "bf16", "fp16", "fp8")),  # L40S / RTX 4090 (Ada)
    ((0, 0), "6.0", "gfx90a", ("fp32", "bf16", "fp16")),  # MI250: no fp8
])
def test_gpu_dtypes(cc, hip, arch, want):
    props = types.SimpleNamespace(major=cc[0], minor=cc[1], gcnArchName=arch)
    assert gpu_dtypes(props, bool(hip), True) == want


def test_no_torch_falls_back_to_numpy(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert available_backends() == ["numpy"]
    assert get_backend("auto").name == "numpy"
    with pytest.raises(ValueError, match="needs PyTorch"):
        get_backend("torch-cpu")


def test_calc_and_measure_import_without_torch():
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        import calc.speed, calc.cli.bench, measure, measure.matmul, measure.bandwidth
        from calc.cli import main
        rc = main(["bench", "--backend", "auto", "--sizes", "64", "--runs", "3", "--json"])
        print("rc", rc)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout.splitlines()[0])
    assert rec["backend"] == "numpy" and rec["flops"] == 2 * 64**3
    r = subprocess.run([sys.executable, "-c", "import sys, calc.speed, calc.cli.bench; print('torch' in sys.modules)"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False"


# ----- real backends on the CPU ---------------------------------------------------------------
@pytest.mark.parametrize("backend,dtype,tol", [("numpy", "fp32", 1e-4), ("torch-cpu", "fp32", 1e-4),
                                               ("torch-cpu", "bf16", 2e-2)])
def test_timed_op_computes_the_product(backend, dtype, tol):
    """What is timed is a real matmul: its output equals numpy's float64 product of the same inputs."""
    be = get_backend(backend)
    op = be.matmul_op(48, 40, 32, dtype, seed=3)
    out = op()
    c = np.asarray(out.float() if hasattr(out, "float") else out, dtype=np.float64)
    # the inputs the op multiplies are the a, b its closure captured
    cells = {n: cell.cell_contents for n, cell in zip(op.__code__.co_freevars, op.__closure__, strict=True)}
    a, b = (np.asarray(cells[k].float() if hasattr(cells[k], "float") else cells[k], dtype=np.float64) for k in "ab")
    np.testing.assert_allclose(c, a @ b, rtol=tol, atol=tol * np.abs(a @ b).max())


def test_fp8_scaled_mm_path_on_cpu():
    """The fp8 path (torch._scaled_mm with e4m3 inputs, column-major B, unit scales, bf16 out) runs on the CPU in
    torch 2.13: its result equals the float product of the fp8-rounded inputs."""
    import torch

    be = TorchBackend(torch, "cpu")
    op = be.matmul_op(32, 48, 64, "fp8", seed=1)
    cells = {n: cell.cell_contents for n, cell in zip(op.__code__.co_freevars, op.__closure__, strict=True)}
    a, b = cells["a"], cells["b"]
    assert a.dtype == torch.float8_e4m3fn and b.stride() == (1, 64)  # B is column-major (k x n)
    ref = a.float() @ b.float()
    np.testing.assert_allclose(op().float().numpy(), ref.numpy(), rtol=1e-2, atol=0.05 * ref.abs().max().item())
    with pytest.raises(ValueError, match="divisible by 16"):
        be.matmul_op(30, 48, 64, "fp8")


def test_precision_context_restores():
    import torch

    be = TorchBackend(torch, "cpu")
    before = torch.get_float32_matmul_precision()
    with be.precision("tf32"):
        assert torch.get_float32_matmul_precision() == "high"
    with be.precision("fp32"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == before


@pytest.mark.parametrize("backend", ["numpy", "torch-cpu"])
def test_measure_matmul_and_bandwidth_records(backend):
    be = get_backend(backend)
    r = measure_matmul(be, Shape(128, 64, 32), "fp32", runs=5, warmup=1, flush_l2=True)
    assert r.runs == 5 and r.flops == 2 * 128 * 64 * 32
    assert r.tflops == pytest.approx(r.flops / r.median_s / 1e12)
    assert 0 < r.min_s <= r.median_s and r.fraction_of_peak is None
    bw = measure_bandwidth(be, 4 * 2**20, runs=3, warmup=1)
    assert bw.bytes_moved == 8 * 2**20 and bw.record()["gb_per_s"] == pytest.approx(8 * 2**20 / bw.median_s / 1e9)


def test_percent_of_peak_against_catalog():
    from measure.matmul import MatmulResult

    r = MatmulResult("cuda", "NVIDIA H100 80GB HBM3", "bf16", 8192, 8192, 8192, "square", 10,
                     2 * 8192**3 / 794e12, 0.0, 989e12)
    # ml-engineering mamf-finder: 794 of 989 TFLOPS on an H100 SXM = 80%
    assert r.record()["pct_of_peak"] == pytest.approx(80.28, abs=0.01)


# ----- run_benchmark ---------------------------------------------------------------------------
def test_run_benchmark_checks_dtype_and_memory():
    with pytest.raises(ValueError, match="does not run bf16"):
        run_benchmark(BenchConfig(backend="numpy", dtypes=("bf16",), shapes=SMALL))
    with pytest.raises(ValueError, match="above the memory limit"):
        run_benchmark(BenchConfig(backend="numpy", shapes=tuple(square_shapes([1024])), max_matrix_bytes=2**20))
    with pytest.raises(ValueError, match="dtypes"):
        BenchConfig(dtypes=("fp64",), shapes=SMALL)
    with pytest.raises(ValueError, match="nothing to measure"):
        BenchConfig()
    with pytest.raises(ValueError, match="runs"):
        BenchConfig(shapes=SMALL, runs=0)


def test_run_benchmark_results_progress_and_best():
    seen, progress = [], []
    rep = run_benchmark(BenchConfig(backend="numpy", shapes=SMALL, runs=3, warmup=1, copy_bytes=2**21),
                        progress=lambda d, t, s: progress.append((d, t)), on_result=seen.append)
    assert [r.m for r in rep.matmuls] == [64, 96] and rep.bandwidth is not None and rep.stopped is None
    assert len(seen) == 3 and progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert rep.best()["fp32"].flops_per_s == max(r.flops_per_s for r in rep.matmuls)
    assert rep.finished_at >= rep.started_at


class SlowBackend:
    """A backend whose matmul takes ``op_s`` seconds: lets the time budget be tested without real work."""

    name, lock_key = "numpy", "slow-test-device"

    def __init__(self, op_s):
        from measure.backends import DeviceInfo

        self.op_s = op_s
        self.info = DeviceInfo("numpy", "slow", None, ("fp32",))

    def matmul_op(self, m, n, k, dtype, seed=0):
        return lambda: time.sleep(self.op_s)

    def timer(self):
        return WallTimer()

    def flush_op(self):
        return lambda: None

    def precision(self, dtype):
        import contextlib

        return contextlib.nullcontext()

    def release(self):
        pass


def test_time_budget_and_cancel_stop_the_sweep():
    shapes = tuple(square_shapes([32] * 40))
    # 40 shapes x (1 warm-up + at least 3 runs) x 50 ms = 8 s of work against a 1 s budget: stops early
    t0 = time.monotonic()
    rep = run_benchmark(BenchConfig(shapes=shapes, runs=1000, warmup=1, time_budget_s=1), backend=SlowBackend(0.05))
    assert rep.stopped == "time budget" and 1 <= time.monotonic() - t0 < 2
    assert all(r.runs == 3 for r in rep.matmuls)
    # fast ops: each measurement gets a fair share of the budget, so runs are cut and the sweep completes
    rep = run_benchmark(BenchConfig(shapes=shapes[:4], runs=1000, warmup=1, time_budget_s=1),
                        backend=SlowBackend(0.002))
    assert rep.stopped is None and all(3 <= r.runs < 1000 for r in rep.matmuls)
    ev = threading.Event()
    rep = run_benchmark(BenchConfig(shapes=shapes, runs=3, warmup=1), backend=SlowBackend(0.001),
                        on_result=lambda r: ev.set())
    assert rep.stopped is None and ev.is_set()
    rep = run_benchmark(BenchConfig(shapes=shapes, runs=3, warmup=1), backend=SlowBackend(0.001), cancel=ev)
    assert rep.stopped == "cancelled" and rep.matmuls == ()


# ----- one benchmark per device ------------------------------------------------------------
def test_two_threads_never_overlap_on_the_device():
    """Two sessions (threads of one server process) press Run together: the runs are serialized."""
    reports, waits, barrier = {}, {}, threading.Barrier(2)
    config = BenchConfig(backend="numpy", shapes=tuple(square_shapes([128, 192])), runs=30, warmup=1)

    def session(name):
        barrier.wait()
        reports[name] = run_benchmark(config, on_wait=lambda s: waits.setdefault(name, s))

    threads = [threading.Thread(target=session, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a, b = sorted(reports.values(), key=lambda r: r.started_at)
    assert a.finished_at <= b.started_at  # no overlap
    assert len(waits) == 1 and b.waited_s > 0  # the later one waited and was told so


def test_processes_are_serialized_by_the_file_lock(tmp_path):
    """Two server processes on one machine: the flock in the temp directory serializes them."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from measure.lock import device_lock
        with device_lock("test-dev", lock_dir={str(tmp_path)!r}):
            t0 = time.time(); time.sleep(0.6); print(t0, time.time())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    spans = sorted(tuple(map(float, p.communicate(timeout=30)[0].split())) for p in procs)
    assert spans[0][1] <= spans[1][0]


def test_lock_wait_can_be_cancelled_or_time_out(tmp_path):
    held, release = threading.Event(), threading.Event()

    def holder():
        with device_lock("dev-x", lock_dir=tmp_path):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    try:
        with pytest.raises(TimeoutError, match="another benchmark"):
            with device_lock("dev-x", lock_dir=tmp_path, timeout_s=0.3):
                pass
        ev = threading.Event()
        ev.set()
        with pytest.raises(Cancelled):
            with device_lock("dev-x", lock_dir=tmp_path, cancel=ev):
                pass
    finally:
        release.set()
        t.join(5)
    with device_lock("dev-x", lock_dir=tmp_path, timeout_s=1) as waited:  # free again after release
        assert waited < 1


# ----- CLI ----------------------------------------------------------------------------------
def _bench(capsys, *args):
    """The CLI in this process (torch is imported once per test session, not per call)."""
    from calc.cli import main

    rc = main(["bench", *args])
    out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=rc, stdout=out, stderr=err)


def test_cli_bench_json_lines(capsys):
    r = _bench(capsys, "--backend", "torch-cpu", "--dtype", "fp32,bf16", "--sizes", "64,128", "--runs", "3", "--json",
               "--bandwidth", "--copy-mib", "2")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    mats = [x for x in recs if x["measure"] == "matmul"]
    assert [(x["dtype"], x["m"]) for x in mats] == [("fp32", 64), ("fp32", 128), ("bf16", 64), ("bf16", 128)]
    for x in mats:
        assert x["flops"] == 2 * x["m"] * x["n"] * x["k"]
        assert x["tflops"] == pytest.approx(x["flops"] / x["median_s"] / 1e12)
    assert recs[-1]["measure"] == "copy" and recs[-1]["bytes_moved"] == 4 * 2**20


@pytest.mark.parametrize("args,msg", [
    (("--backend", "cuda"), "not available"), (("--backend", "numpy", "--dtype", "bf16"), "does not run bf16"),
    (("--sizes", "0"), "whole numbers"), (("--max-memory-gb", "nan"), "max-memory-gb"),
    (("--sizes", "100000", "--backend", "numpy"), "memory limit"), (("--time-budget", "0"), "time-budget"),
])
def test_cli_bench_bad_input(capsys, args, msg):
    r = _bench(capsys, *args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


# ----- the Benchmark page --------------------------------------------------------------------
def _bench_page(query: dict):
    from tests.apptest_helpers import open_page

    at = open_page("app_pages/benchmark.py", query, timeout_s=90)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _until_results(at, timeout_s: float = 60.0):
    """The run happens in a child process; the page shows it when a later run of the page finds it finished."""
    deadline = time.monotonic() + timeout_s
    while not at.dataframe and not at.error and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_benchmark_page_runs_and_hands_figures_to_speed_page():
    at = _bench_page({"bbackend": "numpy", "bsizes": "128,256", "bruns": "3", "bbw": "0"})
    at.button(key="brun").click().run()
    _until_results(at)
    df = at.dataframe[0].value
    assert list(df["m"]) == [128, 256]
    # the table's TFLOPS and median ms agree with 2mnk
    np.testing.assert_allclose(df["tflops"] * 1e12 * df["median_ms"] / 1e3, 2.0 * df["m"] * df["n"] * df["k"],
                               rtol=1e-9)
    at.button(key="buse").click().run()
    used = at.session_state["measured"]
    assert used["flops_per_s"]["fp32"] == pytest.approx(df["tflops"].max() * 1e12, rel=1e-9)
    assert used["bandwidth_bytes_per_s"] is None
    at.switch_page("app_pages/speed.py")
    at.query_params["scdtype"] = "fp32"
    at.run()
    assert not at.exception
    roofs = " ".join(i.value for i in at.info)
    assert "H100 SXM datasheet dense fp32 peak" in roofs  # a CPU's figures are not the sidebar H100's
    assert used["gpu"] is None
    at.toggle(key="smeasx").set_value(True).run()  # the explicit, labelled choice
    roofs = " ".join(i.value for i in at.info)
    assert "measured fp32 matmul" in roofs and "datasheet bandwidth" in roofs


def test_benchmark_page_without_torch(monkeypatch, tmp_path):
    """The devices are probed in a child process: one whose ``import torch`` fails offers numpy only."""
    from measure import jobs

    shim = tmp_path / "torch"
    shim.mkdir()
    (shim / "__init__.py").write_text("raise ImportError('no torch in this test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    jobs.reset_probe()
    try:
        at = _bench_page({})
        assert any("PyTorch is not installed" in i.value for i in at.info)
        assert at.selectbox(key="bbackend").options == ["numpy"]
    finally:
        jobs.reset_probe()


def test_benchmark_page_refuses_sizes_above_the_free_memory(monkeypatch):
    """The bound is the memory free now (half of it on the CPU), not a number the visitor types."""
    import measure.backends

    monkeypatch.setattr(measure.backends, "cpu_free_bytes", lambda: 10**9)  # 1 GB free -> 0.5 GB allowed
    at = _bench_page({"bbackend": "numpy", "bsizes": "8192", "bbw": "0"})
    assert {m.label: m.value for m in at.metric}["Largest buffers"] == "0.50 GB"
    at.button(key="brun").click().run()
    assert not at.exception and any("above the memory limit of 500.00 MB" in e.value for e in at.error)
