"""What keeps the server and the CLI cheap, checked by what a fresh process has imported (timings live in
bench/: bench_cli_start.py, bench_pages.py).

- A CLI command imports only what it computes with: ``params`` and ``memory`` load neither scipy nor the
  gguf package nor numpy's f2py (they made ``python -m calc params`` 58x a bare interpreter).
- The server never imports torch: every page (the Benchmark page aside, see below) runs through app.py
  in one child process, and torch is not in its ``sys.modules`` afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

HEAVY = ("scipy", "gguf", "torch", "numpy.f2py", "pandas", "plotly", "streamlit")


def _modules_after(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [
    ["params", "--model", "Meta-Llama-3-8B"],
    ["memory", "--mode", "train", "--params", "7.5e9", "--zero", "1", "--dp", "64"],
    ["memory", "--mode", "infer", "--model", "Meta-Llama-3-8B", "--context", "8192"],
    ["models"],
    ["gpus"],
], ids=lambda a: " ".join(a[:3]))
def test_cli_command_imports_only_what_it_uses(argv):
    code = ("import io, json, sys, contextlib\n"
            "from calc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main({argv!r})\n"
            f"print(json.dumps({{'rc': rc, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")
    got = _modules_after(code)
    assert got["rc"] == 0
    assert got["heavy"] == [], f"python -m calc {' '.join(argv)} imported {got['heavy']}"


def test_cli_help_and_a_typo_still_list_every_command():
    from calc.cli import COMMANDS

    out = subprocess.run([sys.executable, "-m", "calc", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    assert all(c in out.stdout for c in COMMANDS)
    out = subprocess.run([sys.executable, "-m", "calc", "parms"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "invalid choice" in out.stderr and all(c in out.stderr for c in COMMANDS)


def test_scaling_command_still_gets_its_imports():
    """The lazy parser must not starve a command: scaling needs scipy.optimize for its fit."""
    code = ("import io, json, sys, contextlib\n"
            "from calc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['scaling', '--compute', '5.76e23', '--fit', 'all'])\n"
            "print(json.dumps({'rc': rc, 'scipy': 'scipy.optimize' in sys.modules}))\n")
    assert _modules_after(code) == {"rc": 0, "scipy": True}


#: Pages allowed to import torch into the server: none (the Benchmark page measures in a child process,
#: measure.child; tests/test_hostile_bench.py runs a torch benchmark and checks the server too).
TORCH_PAGES: set[str] = set()


def test_server_never_imports_torch():
    code = (
        "import json, sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from ui.nav import PAGES\n"
        f"skip = {sorted(TORCH_PAGES)!r}\n"
        "at = AppTest.from_file('app.py', default_timeout=120)\n"
        "at.run()\n"
        "ran, errors = [], []\n"
        "for info in PAGES[1:]:\n"
        "    if info.path in skip:\n"
        "        continue\n"
        "    at.switch_page(info.path)\n"
        "    at.run()\n"
        "    ran.append(info.path)\n"
        "    errors += [f'{info.path}: {e.value}' for e in at.exception]\n"
        "print(json.dumps({'ran': ran, 'errors': errors[:3], 'torch': sorted(m for m in sys.modules\n"
        "                  if m == 'torch' or m.startswith('torch.'))[:5]}))\n"
    )
    got = _modules_after(code)
    assert got["errors"] == []
    assert len(got["ran"]) >= 10
    assert got["torch"] == [], f"a page imported torch into the server: {got['torch']}"


def test_weighted_lru_keeps_its_budget_and_shares_results():
    from ui.memo import WeightedLRU

    lru = WeightedLRU(budget=10)
    calls = []

    def compute(v):
        calls.append(v)
        return [v] * v

    a = lru.get_or_compute("a", lambda: compute(4), len)
    assert lru.get_or_compute("a", lambda: compute(4), len) is a and calls == [4]  # a hit is the same object
    lru.get_or_compute("b", lambda: compute(4), len)
    lru.get_or_compute("a", lambda: compute(4), len)  # a is now the most recently used
    lru.get_or_compute("c", lambda: compute(4), len)  # 12 > 10: the least recently used (b) goes
    assert lru.weight == 8 and calls == [4, 4, 4]
    lru.get_or_compute("b", lambda: compute(4), len)
    assert calls == [4, 4, 4, 4]
    lru.get_or_compute("huge", lambda: compute(11), len)  # heavier than the budget: computed, not kept
    lru.get_or_compute("huge", lambda: compute(11), len)
    assert calls[-2:] == [11, 11] and lru.weight <= 10


def test_memoized_quantization_matches_a_fresh_computation_per_model_and_imatrix():
    from calc.gguf import quantize_all
    from calc.gguf_run import RunSetup, run_memory
    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from ui import memo

    gpu = get_gpu("H100 SXM")
    for name, imatrix in (("Meta-Llama-3-8B", None), ("Mistral-7B-v0.1", True), ("Meta-Llama-3-8B", True)):
        spec = get_preset(name)
        fresh = quantize_all(spec, imatrix=imatrix)
        for _ in range(2):  # the second call is served from memory
            got = memo.quantize_all_cached(spec, imatrix)
            assert {f: (r.tensor_bytes, r.tensor_types) for f, r in got.items() if not isinstance(r, ValueError)} == \
                   {f: (r.tensor_bytes, r.tensor_types) for f, r in fresh.items() if not isinstance(r, ValueError)}
        for context in (4096, 32768):
            setup = RunSetup(context=context)
            runs = memo.run_memory_all(spec, imatrix, setup, gpu)
            assert runs["Q4_K_M"] == run_memory(spec, fresh["Q4_K_M"], setup, gpu)


# ----- the training breakdown per distinct layer kind (bench/bench_training_breakdown.py times it) -----

def _per_layer_reference(spec, s, stage):
    """activation_coefficients computed layer by layer, every layer on its own (the definition the grouped,
    memoized code must equal)."""
    from calc.activations import backward_workspace_terms, config_dropout, embedding_terms, layer_terms, model_terms
    from calc.memory import _coefficients, _stage_layers

    layers = _stage_layers(spec.num_layers, s.pp, stage)
    lora = None if s.finetune == "full" else (s.lora_rank, s.lora_targets, 16 if s.precision == "bf16" else 32)
    drop = config_dropout(spec, s.dropout)
    seq_len = s.seq_len if s.device == "cpu" else None  # the CPU fallbacks' shapes follow the length
    kw = dict(recompute=s.recompute, flash_attention=s.flash_attention, act_bits=s.act_bits, lora=lora, dropout=drop,
              device=s.device, seq_len=seq_len)
    per_layer = [layer_terms(spec, i, **kw) for i in layers]
    shared = {x.name: x for terms in per_layer for x in terms if x.shared}
    p = k = 0.0
    for terms in per_layer:
        a, b = _coefficients([x for x in terms if not x.shared], s.tp, s.sequence_parallel)
        p, k = p + a, k + b
    a, b = _coefficients(list(shared.values()), s.tp, s.sequence_parallel)
    if stage == 0:
        a += _coefficients(embedding_terms(spec, act_bits=s.act_bits, device=s.device, dropout=drop), s.tp,
                           s.sequence_parallel)[0]
    in_flight = (s.pp - stage) * (2 if s.rlhf == "dpo" else 1)
    p, k = (p + a) * in_flight, (k + b) * in_flight
    head = (0.0, 0.0)
    if stage == s.pp - 1:
        head = _coefficients(model_terms(spec, act_bits=s.act_bits, device=s.device, frozen=lora is not None), s.tp,
                             s.sequence_parallel)
    ws = [_coefficients(backward_workspace_terms(spec, i, act_bits=s.act_bits), s.tp, s.sequence_parallel)
          for i in layers]
    full = [(0.0, 0.0)]
    if s.recompute == "full":
        kw["recompute"] = "none"
        full = [_coefficients(layer_terms(spec, i, **kw), s.tp, s.sequence_parallel) for i in layers]
        if seq_len is not None:  # the length known: the one layer whose backward and re-run forward need the most
            ws, full = [(w[0] + f[0], w[1] + f[1]) for w, f in zip(ws, full, strict=True)], [(0.0, 0.0)]
    if seq_len is not None:
        lp, lk = max(ws, key=lambda c: c[0] + seq_len * c[1])
    else:
        lp, lk = max(c[0] for c in ws), max(c[1] for c in ws)
    lp, lk = lp + max(c[0] for c in full), lk + max(c[1] for c in full)
    mult = 2 if s.rlhf == "dpo" else 1
    return p + mult * max(lp, head[0]), k + mult * max(lk, head[1])


SETUPS = (
    dict(),
    dict(recompute="full", pp=4, tp=2, sequence_parallel=True),
    dict(finetune="lora", lora_targets=("q_proj", "v_proj", "gate_proj", "down_proj"), flash_attention=False),
    dict(rlhf="dpo", pp=3, precision="fp32"),
    dict(recompute="full", flash_attention=False, pp=2),  # eager masks: sliding and full layers differ
    dict(dropout=0.1, flash_attention=False, pp=2, device="cpu"),  # masks on every layer and the embeddings
)


def test_grouped_activation_coefficients_equal_the_layer_by_layer_sum():
    from calc.activations import layer_groups, layer_key
    from calc.memory import TrainingSetup, _stage_layers, activation_coefficients
    from calc.presets import PRESETS, get_preset

    checked = 0
    for name in PRESETS:
        spec = get_preset(name)
        for frozen in (False, True):  # layer_groups agrees with layer_key on every layer
            ref: dict = {}
            for i in range(spec.num_layers):
                ref.setdefault(layer_key(spec, i, frozen), [i, 0])[1] += 1
            assert layer_groups(spec, range(spec.num_layers), frozen) == [tuple(v) for v in ref.values()], name
        for kw in SETUPS:
            s = TrainingSetup(seq_len=4096, **kw)
            for stage in range(s.pp):
                if not _stage_layers(spec.num_layers, s.pp, stage):
                    continue
                got, want = activation_coefficients(spec, s, stage), _per_layer_reference(spec, s, stage)
                assert got == pytest.approx(want, rel=1e-12, abs=1e-9), (name, kw, stage)
                checked += 1
    assert checked > 100


def test_memoized_activation_coefficients_follow_every_setup_field():
    """Change one TrainingSetup field at a time after the base setup was memoized: the answer must be the
    one a fresh computation gives, so the memo's key holds every field the computation reads."""
    from dataclasses import fields, replace

    from calc import memory
    from calc.engines import Engine
    from calc.memory import TrainingSetup, activation_coefficients
    from calc.presets import get_preset

    spec, other = get_preset("Mixtral-8x7B-v0.1"), get_preset("Meta-Llama-3-8B")
    base = TrainingSetup(seq_len=4096, tp=2, pp=2, dp=4, zero_stage=1)
    changes = dict(precision="fp32", grad_dtype="fp32", optimizer="sgd", zero_stage=3, dp=8, tp=4, pp=4,
                   sequence_parallel=True, micro_batch=3, seq_len=1024, recompute="full", selective="ops",
                   flash_attention=False,
                   offload_optimizer=True, finetune="lora", lora_rank=64, lora_targets=("q_proj", "down_proj"),
                   rlhf="dpo", critic=other, reference=other, reward=other, overhead_bytes=0, dropout=0.3,
                   device="cpu", engine=Engine("fsdp2"))
    assert set(changes) == {f.name for f in fields(TrainingSetup)}, "a new TrainingSetup field: add it here"
    for name, value in changes.items():
        variant = replace(base, **{name: value})
        if name == "lora_rank" or name == "lora_targets":
            variant = replace(variant, finetune="lora")
        for stage in (0, 1):
            memory._activation_coefficients.cache_clear()
            activation_coefficients(spec, base, stage)
            activation_coefficients(spec, replace(base, finetune="lora"), stage)
            memoized = activation_coefficients(spec, variant, stage)
            memory._activation_coefficients.cache_clear()
            assert memoized == activation_coefficients(spec, variant, stage), name


# ----- per-input caches of pages (ui/charts.cached, ui/memo): a cached rerun shows what an uncached one does -----

def _page_output(path: str, query: dict | None = None) -> dict:
    from tests.test_pages import run_page

    at = run_page(path, query)
    assert not at.exception, [e.value for e in at.exception]
    return {"charts": [c.proto.spec for c in at.get("plotly_chart")],
            "metrics": [(m.label, m.value, m.help) for m in at.metric],
            "tables": [d.value.to_csv() for d in at.dataframe],
            "text": [m.value for m in at.markdown]}


def _bypass_caches(monkeypatch) -> None:
    """Every page cache off: figures built per rerun, memoized results computed per call."""
    from ui import charts, memo

    def build(key, make):
        fig = make()
        return fig

    monkeypatch.setattr(charts, "cached", build)
    for name in dir(memo):
        fn = getattr(memo, name)
        if callable(fn) and hasattr(fn, "cache_clear") and hasattr(fn, "__wrapped__"):
            monkeypatch.setattr(memo, name, fn.__wrapped__)


CACHED_PAGES = [
    ("app_pages/serving.py", None),
    ("app_pages/serving.py", {"vrate": "9", "vsttft": "0"}),
    ("app_pages/validation.py", None),
    ("app_pages/validation.py", {"v_off": "1", "v_larch": "qwen2"}),
    ("app_pages/inference_memory.py", None),
    ("app_pages/inference_memory.py", {"model": "Mixtral-8x7B-v0.1", "im_ctx": "70000", "units": "GiB"}),
    ("app_pages/quantization.py", None),
    ("app_pages/quantization.py", {"model": "Mistral-7B-v0.1", "gq": "IQ3_XXS", "gwide": "1", "units": "GiB"}),
    ("app_pages/compute.py", None),
    ("app_pages/compute.py", {"model": "Meta-Llama-3-8B", "cmfupl": "1", "cg": "64", "cs": "8192"}),
    ("app_pages/planner.py", None),
    ("app_pages/models.py", {"compare": "Mixtral-8x7B-v0.1"}),
    ("app_pages/speed.py", None),
    ("app_pages/training_memory.py", None),
    ("app_pages/training_memory.py", {"model": "Mixtral-8x7B-v0.1", "units": "GiB"}),
    *[("app_pages/scaling.py", {"sq": q}) for q in ("Budget → model", "Unique data → epochs and model",
                                                     "Inference demand → model", "Mixture of experts",
                                                     "Training precision", "Over-training a model")],
]


@pytest.mark.parametrize("path,query", CACHED_PAGES, ids=[f"{p.split('/')[-1]}-{i}" for i, (p, _) in
                                                         enumerate(CACHED_PAGES)])
def test_cached_page_shows_what_an_uncached_one_does(path, query, monkeypatch):
    with monkeypatch.context() as m:
        _bypass_caches(m)
        fresh = _page_output(path, query)
    first = _page_output(path, query)  # fills the caches (or hits what an earlier test left)
    again = _page_output(path, query)  # served from them
    assert fresh["charts"], f"{path} shows no chart"
    assert first == fresh
    assert again == fresh


def test_figure_keys_tell_apart_what_draws_differently():
    from ui.memo import key_of

    assert key_of([1, 2.0]) == key_of([1, 2.0]) and key_of({"a": [1]}) == key_of({"a": [1]})
    assert key_of(1) != key_of(1.0)  # JSON writes them differently
    assert key_of([1, 2]) != key_of([1.0, 2.0]) and key_of([1, 2.0]) != key_of([1.0, 2.0])  # also in series
    assert key_of({"a": 1, "b": 2}) != key_of({"b": 2, "a": 1})  # trace order follows the dict's
    assert key_of(np.arange(3)) != key_of(np.arange(3.0)) and key_of([1, 2]) != key_of((1, 2))
    with pytest.raises(TypeError):
        key_of(object.__new__(type("Unhashable", (), {"__hash__": None})))
    from calc.plan import STACKS  # a frozen dataclass holding a dict: keyed by its fields

    one, other = list(STACKS.values())[:2]
    assert key_of(one) == key_of(dataclasses.replace(one)) and key_of(one) != key_of(other)


def test_same_matches_only_the_live_object_it_was_made_from():
    import gc

    from ui.memo import Same

    class Result:
        pass

    a, b = Result(), Result()
    key = Same(a)
    assert key == Same(a) and hash(key) == hash(Same(a)) and key != Same(b)
    del a
    gc.collect()
    assert all(key != Same(Result()) for _ in range(100))  # a new object, even at the old address, is not a hit


def test_frozen_figure_is_the_figure_show_would_draw():
    import plotly.io as pio
    import plotly.tools

    from tests.test_pg_serving_spec import latency_vs_rate  # a go.Figure builder with shapes
    from ui import charts

    def make():
        return latency_vs_rate([1.0, 2.0, 4.0], [0.1, 0.2, 0.9], [0.01, 0.02, 0.05], 0.5, 0.03, "p99")

    plain = make()
    charts.prepare(plain)
    frozen = charts.cached(("test_frozen", 1), make)
    assert charts.cached(("test_frozen", 1), make) is frozen  # a hit is the same figure
    as_sent = plotly.tools.return_figure_from_figure_or_data(frozen, validate_figure=True)  # what st.plotly_chart does
    assert pio.to_json(as_sent, validate=False) == pio.to_json(plain.to_dict(), validate=False)
    assert charts.points(plain) == frozen._frozen_points == 6 + 2  # two traces of 3 points, two SLO lines
    for i in range(charts.MAX_FIGURES + 10):  # many small figures: the count is bounded too
        charts.cached(("test_frozen_many", i), make)
    assert len(charts._figures) <= charts.MAX_FIGURES
