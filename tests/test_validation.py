"""Every memory formula held to what real PyTorch allocates (the validation harness, re-run here).

The reference is PyTorch itself: small ``transformers`` models on the CPU (``validate.configs``),
measured by ``validate.measure`` (storage bytes of parameters, ``.grad``, AdamW state, the
``DynamicCache``, tensors packed by ``saved_tensors_hooks``, and an op-level peak tracker).
Tolerances (the issue's): exact for parameters, weights, gradients, optimizer states and KV cache;
10 % for activations. The instruments themselves are checked on hand-built graphs first.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from validate import measure, predict
from validate.configs import ARCHS, get_arch
from validate.harness import LORA_RUNS, RESULTS_PATH, Settings, build_model, run

BASE_FORMULAS = ("Parameters", "Weights", "Gradients", "Optimizer states (AdamW)", "KV cache",
                 "Activations saved (decoder layers)", "Activations peak (whole model)")
LORA_FORMULAS = ("LoRA trainable parameters", "LoRA weights (base + adapters)", "LoRA gradients",
                 "LoRA optimizer states (AdamW)", "LoRA activations saved (decoder layers)",
                 "LoRA activations peak (whole model)")
#: hybrids: their cache also holds conv and recurrent states, compared exactly
STATE_ARCHS = ("qwen3_next",)
CASES = [(a.key, f) for a in ARCHS for f in BASE_FORMULAS + (LORA_FORMULAS if a.key in LORA_RUNS else ())
         + (("Recurrent state",) if a.key in STATE_ARCHS else ())]


@pytest.fixture(scope="module")
def fresh():
    """The whole harness, measured now (about 20 s on two cores)."""
    return run()


# ----- the instruments, on graphs whose saved tensors are known by hand ---------------------------
def test_saved_tensor_counter_counts_each_storage_once_and_skips_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    x = torch.randn(4, 8, requires_grad=True)
    with measure.SavedTensorCounter(model) as c:
        y = model(x)
        z = (x.t() * 2).sum() + y.sum()  # x.t() * 2 saves nothing (scalar multiply)
    # Linear saves its input x (4 x 8 fp32 = 128 B) and its weight (a parameter: excluded);
    # ReLU saves its output (4 x 16 fp32 = 256 B). Total 384 B, by hand.
    assert c.total_bytes == 128 + 256
    z.backward()

    with measure.SavedTensorCounter(model) as c2:
        a = torch.randn(32, requires_grad=True)
        b = a.exp()  # exp saves its output b (128 B)
        (b * b[:16].repeat(2)).sum()  # mul saves b (same storage) and a new 128 B tensor
    assert c2.total_bytes == 128 + 128


def test_peak_tracker_follows_allocations_and_frees():
    w = torch.zeros(1000)  # exists before: its views are free
    with measure.PeakTracker([w]) as t:
        a = torch.empty(1000)  # 4000 B
        b = torch.empty(500)  # +2000 B -> 6000 B live
        v = w.t()  # a view of an existing storage: 0 B
        del a
        c = torch.empty(250)  # 2000 + 1000 B live
        d = c + 1  # +1000 B
    assert t.peak_bytes == 6000
    assert t.timeline[-1] == 4000
    del b, v, d


# ----- every formula against its measurement ------------------------------------------------------
@pytest.mark.parametrize(("arch", "formula"), CASES, ids=[f"{a}-{f}" for a, f in CASES])
def test_formula_matches_measurement(fresh, arch, formula):
    rows = [r for r in fresh["records"] if r["arch"] == arch and r["formula"] == formula]
    assert rows, f"the harness produced no {formula!r} comparison for {arch}"
    bad = []
    for r in rows:
        if r["predicted"] is None:
            bad.append(f"{r['case']}: no prediction ({r['note']})")
        elif r["tolerance_pct"] == 0 and r["predicted"] != r["measured"]:
            bad.append(f"{r['case']}: predicted {r['predicted']:,} != measured {r['measured']:,} ({r['note']})")
        elif abs(r["error_pct"]) > r["tolerance_pct"]:
            bad.append(f"{r['case']}: predicted {r['predicted']:,}, measured {r['measured']:,}, "
                       f"error {r['error_pct']:+.2f}% > {r['tolerance_pct']}% ({r['calc']})")
    assert not bad, f"{arch} / {formula}:\n" + "\n".join(bad)


# ----- facts the comparisons rely on ----------------------------------------------------------------
def test_kv_cache_positions_and_mla_layout(fresh):
    from calc.kvcache import kv_cache_bytes
    from calc.models import ModelSpec

    s = Settings()
    mla = next(m for m in fresh["measurements"] if m["key"] == "deepseek_v3_mla")
    spec = ModelSpec.from_hf_config(mla["config"])
    for dtype, kv in mla["kv_cache"].items():
        # generate() feeds back every new token but the last: prompt + new - 1 positions
        assert kv["positions"] == s.kv_prompt + s.kv_new_tokens - 1
        # transformers 5 caches the compressed latent (modeling_deepseek_v3.py: "Cache read / write is
        # performed while latent KV is still compressed"), not per-head K and V
        assert kv["storage_bytes"] == kv_cache_bytes(spec, s.kv_batch, kv["positions"], dtype, mla_compressed=True)
        assert kv["storage_bytes"] < kv_cache_bytes(spec, s.kv_batch, kv["positions"], dtype, mla_compressed=False)


def test_sdpa_fused_flag_matches_saved_shapes(fresh):
    """A fused SDPA kernel stores no s x s matrix; the math fallback and eager attention do."""
    for m in fresh["measurements"]:
        arch = get_arch(m["key"])
        for r in m["training"]:
            if r["checkpointing"]:
                assert r["score_matrix_bytes"] == 0
            elif r["attn"] == "sdpa":
                assert (r["score_matrix_bytes"] == 0) == arch.sdpa_fused, (m["key"], r["dtype"])
            else:
                assert r["score_matrix_bytes"] > 0, (m["key"], r["dtype"])


def test_parameter_count_matches_meta_device_build(fresh):
    """Independent of the harness: the same config built on the meta device (REFERENCE.md's oracle)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    for a in ARCHS:
        cfg = {k: v for k, v in a.config.items() if k not in ("architectures", "model_type")}
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(a.config["model_type"], **cfg))
        m = next(x for x in fresh["measurements"] if x["key"] == a.key)
        assert m["parameters"] == sum(p.numel() for p in model.parameters())


def test_checkpointing_keeps_one_hidden_state_per_layer(fresh):
    """With full recompute each layer keeps only its input: batch x seq x hidden x element size."""
    s = Settings()
    for m in fresh["measurements"]:
        h = m["config"].get("hidden_size") or m["config"]["n_embd"]
        for r in m["training"]:
            if r["checkpointing"]:
                width = 4 if r["dtype"] == "fp32" else 2
                assert set(r["saved_layer_bytes"]) == {s.batch * s.seq_len * h * width}, (m["key"], r["dtype"])


# ----- the committed results.json must be what the code computes ----------------------------------
def test_committed_results_are_current(fresh):
    committed = json.loads(RESULTS_PATH.read_text())
    stale = "validate/results.json is stale: run `python -m validate` and commit it"
    # predictions: recomputed from the committed measurements with today's calc
    again = predict.records(copy.deepcopy(committed["measurements"]), Settings(**committed["settings"]))
    for old, new in zip(committed["records"], again, strict=True):
        assert (old["arch"], old["formula"], old["case"], old["predicted"]) == \
               (new["arch"], new["formula"], new["case"], new["predicted"]), stale
    # measurements of the exact quantities: the same to the byte today
    now = {(r["arch"], r["formula"], r["case"]): r["measured"] for r in fresh["records"]}
    for r in committed["records"]:
        if r["tolerance_pct"] == 0:
            assert now.get((r["arch"], r["formula"], r["case"])) == r["measured"], stale


def test_build_model_is_the_config_the_spec_reads():
    model = build_model(get_arch("gemma2"), "bf16", "eager")
    assert model.config.head_dim == 64 and model.config.sliding_window == 32
    assert next(model.parameters()).dtype == torch.bfloat16


# ----- the prepared GPU script (runs only on CUDA; its predictions and plumbing are checked here) ---
def test_gpu_step_predictions_and_cpu_refusal(capsys):
    from calc.memory import training_memory
    from calc.presets import get_preset
    from validate import gpu_step

    for case in gpu_step.CASES:
        p = gpu_step.predict(case)
        b = training_memory(get_preset(case.preset), gpu_step.setup_for(case))
        assert p["predicted_bytes"] == b.total and b.overhead == 0  # tensors only, as max_memory_allocated
    assert gpu_step.main(["--dry-run"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(gpu_step.CASES)
    if not torch.cuda.is_available():
        assert gpu_step.main([]) == 2  # one line on stderr, no traceback
