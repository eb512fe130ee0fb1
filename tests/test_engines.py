"""calc.engines against independent references.

- the ZeRO paper's example (7.5B parameters, Nd = 64) stays exact with ``engine="plain"``;
- Megatron-LM's published bytes-per-parameter table (docs/source/api-guide/dist_optimizer.md);
- DeepSpeed's own estimator functions, called on real ``transformers`` models (when DeepSpeed imports);
- FSDP2's sharding rule (every rank stores the first ``torch.chunk`` of each parameter along dim 0,
  ``_fsdp_param.py``) applied with real ``torch.chunk`` to the parameters of ``transformers`` models built
  on the meta device;
- real DDP / FSDP2 / DeepSpeed runs: ``tests/test_sharded.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from calc.engines import ENGINES, Engine, between_steps, deepspeed_estimates, engine_phases
from calc.memory import TrainingSetup, breakdown_grid, training_memory
from calc.presets import PRESETS, get_preset
from calc.solvers import fewest_gpus, max_batch
from tests.conftest import ROOT

GB = 10**9


@pytest.mark.parametrize("zero, per_param", [(0, 16), (1, 4 + 12 / 64), (2, 2 + 14 / 64), (3, 16 / 64)])
def test_zero_paper_example_exact_with_plain_engine(zero, per_param):
    # Rajbhandari et al. 2019, Figure 1 / sec. 5: 7.5B parameters, Nd = 64: 120, 31.4, 16.6, 1.9 GB per device
    s = TrainingSetup(zero_stage=zero, dp=64, overhead_bytes=0, engine=Engine("plain"))
    assert training_memory(7_500_000_000, s).total == round(7_500_000_000 * per_param)
    assert training_memory(7_500_000_000, s) == training_memory(7_500_000_000, TrainingSetup(
        zero_stage=zero, dp=64, overhead_bytes=0))  # plain is the default


@pytest.mark.parametrize("precision, replicated, distributed", [
    ("fp16-mixed", 20, (4, 16)), ("bf16-mixed", 18, (6, 12)), ("fp32", 16, (8, 8))])
def test_megatron_bytes_per_parameter_table(precision, replicated, distributed):
    # Megatron-LM docs/source/api-guide/dist_optimizer.md: non-distributed 20 / 18 / 16 bytes per parameter,
    # distributed 4 + 16/d, 6 + 12/d, 8 + 8/d
    p = 10**9
    for d in (1, 2, 8, 64):
        s = TrainingSetup(precision=precision, dp=d, overhead_bytes=0, engine=Engine("megatron"))
        assert between_steps(p, s).total == round(p * (distributed[0] + distributed[1] / d))
    s = TrainingSetup(precision=precision, dp=8, overhead_bytes=0, engine=Engine("megatron", distributed_optimizer=False))
    assert between_steps(p, s).total == p * replicated


def _fsdp2_rank0_elements(model, n: int) -> int:
    """FSDP2's rule with real torch: rank 0 stores ``torch.chunk(param, n)[0]`` of every parameter."""
    import torch

    return sum(torch.chunk(torch.empty(p.shape, device="meta"), n, dim=0)[0].numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["Mixtral-8x7B-v0.1", "Meta-Llama-3-8B", "Qwen2.5-7B", "GPT-2", "DeepSeek-V3"])
def test_fsdp2_shard_is_the_padded_chunk_of_every_parameter(name):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = PRESETS[name].config
    hf = AutoConfig.for_model(cfg["model_type"], **{k: v for k, v in cfg.items()
                                                     if k not in ("architectures", "model_type")})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf)
    spec = get_preset(name)
    for n in (8, 64, 512):
        s = TrainingSetup(precision="fp32", dp=n, overhead_bytes=0, engine=Engine("fsdp2"))
        # between steps: sharded fp32 parameters + sharded fp32 gradients (padded), AdamW states (rank 0: padded too)
        assert between_steps(spec, s).total == 16 * _fsdp2_rank0_elements(model, n), (name, n)
    if name == "Mixtral-8x7B-v0.1":  # 8 fused experts over 64 ranks: every rank stores one expert's rows
        s = TrainingSetup(precision="fp32", dp=64, overhead_bytes=0, engine=Engine("fsdp2"))
        assert between_steps(spec, s).total > 7 * 16 * 46_702_792_704 / 64


@pytest.mark.parametrize("arch", ["llama_gqa", "qwen2", "mixtral_moe", "gpt2", "deepseek_v3_mla"])
def test_deepspeed_estimates_equal_deepspeeds_functions(arch):
    pytest.importorskip("deepspeed")
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs, model_to_params
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from calc.models import ModelSpec
    from validate.configs import get_arch
    from validate.harness import build_model

    a = get_arch(arch)
    total, largest = model_to_params(build_model(a))  # DeepSpeed's own counting on the real model
    spec = ModelSpec.from_hf_config(a.config)
    for dp in (1, 8, 64):
        for offload, offload_param in ((False, False), (True, False), (True, True)):
            s = TrainingSetup(dp=dp, zero_stage=3, offload_optimizer=offload,
                              engine=Engine("deepspeed", offload_param=offload_param))
            ours = deepspeed_estimates(spec, s)
            cpu2, gpu2 = estimate_zero2_model_states_mem_needs(total, num_gpus_per_node=dp, cpu_offload=offload)
            _, gpu3, _ = estimate_zero3_model_states_mem_needs(total, largest, num_gpus_per_node=dp,
                                                               cpu_offload=offload, cpu_offload_params=offload_param)
            assert (ours["params"], ours["largest_layer_params"]) == (total, largest)
            assert (ours["zero2_gpu_bytes"], ours["zero2_cpu_bytes"], ours["zero3_gpu_bytes"]) == (gpu2, cpu2, gpu3)


def test_ddp_buckets_equal_the_gradients_whatever_the_cap():
    spec = get_preset("Llama-3.2-1B")
    totals = set()
    for cap in (1.0, 25.0, 400.0):
        b = training_memory(spec, TrainingSetup(precision="fp32", dp=8, engine=Engine("ddp", bucket_cap_mb=cap)))
        totals.add(b.total)
        assert dict(b.buffers)["DDP gradient buckets"] == 4 * 1_235_814_400  # fp32 gradients of every parameter
    assert len(totals) == 1
    view = between_steps(spec, TrainingSetup(precision="fp32", dp=8, engine=Engine("ddp", gradient_as_bucket_view=True)))
    copy = between_steps(spec, TrainingSetup(precision="fp32", dp=8, engine=Engine("ddp")))
    assert copy.total - view.total == 4 * 1_235_814_400  # the docstring: "saved memory ... the total gradients size"


def test_fsdp2_keep_gathers_the_whole_model_in_param_dtype():
    spec = get_preset("Meta-Llama-3-8B")
    keep = engine_phases(spec, TrainingSetup(dp=8, engine=Engine("fsdp2", reshard_after_forward=False)))
    gathered = dict(keep["backward start"].buffers)
    assert sum(gathered.values()) == 2 * 8_030_261_248  # every layer and the root in bf16 (8 divides every dim 0)


@pytest.mark.parametrize("engine, zero", [("ddp", 0), ("fsdp2", 0), ("deepspeed", 2), ("deepspeed", 3),
                                          ("megatron", 0)])
def test_grid_equals_scalar_memory_point_by_point(engine, zero):
    spec = get_preset("Llama-3.2-1B")
    s = TrainingSetup(dp=4, zero_stage=zero, recompute="full", engine=Engine(engine))
    batches, seqs = [1, 3, 16], [128, 4096, 32768]
    g = breakdown_grid(spec, s, batches, seqs)
    for i, b in enumerate(batches):
        for j, c in enumerate(seqs):
            m = training_memory(spec, TrainingSetup(dp=4, zero_stage=zero, recompute="full", engine=Engine(engine),
                                                    micro_batch=b, seq_len=c))
            assert g["total"][i, j] == m.total
            for k, v in m.components().items():
                assert g[k][i, j] == v, (k, b, c)


@pytest.mark.parametrize("kw, field", [
    (dict(zero_stage=2, engine=Engine("ddp")), "zero_stage"),
    (dict(zero_stage=0, engine=Engine("deepspeed")), "zero_stage"),
    (dict(offload_optimizer=True, engine=Engine("fsdp2")), "offload_optimizer"),
    (dict(precision="bf16", zero_stage=2, engine=Engine("deepspeed")), "precision"),
    (dict(finetune="lora", engine=Engine("ddp")), "finetune"),
    (dict(engine=Engine("vllm")), "engine"),
    (dict(engine=Engine("ddp", optimizer_impl="adam")), "optimizer_impl"),
    (dict(engine=Engine("ddp", bucket_cap_mb=0)), "bucket_cap_mb"),
    (dict(zero_stage=3, engine=Engine("deepspeed", reduce_bucket_size=-1)), "reduce_bucket_size"),
    (dict(pp=2, engine=Engine("fsdp2")), "pp"),
])
def test_refusals_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        training_memory(get_preset("Llama-3.2-1B"), TrainingSetup(**kw))


def test_solvers_use_the_engine():
    spec, cap = get_preset("Meta-Llama-3-8B"), 80 * GB
    plain = TrainingSetup(dp=8, recompute="full")
    ddp = TrainingSetup(dp=8, recompute="full", engine=Engine("ddp"))
    fsdp = TrainingSetup(dp=8, recompute="full", engine=Engine("fsdp2"))
    # 8B at 16 B/param does not fit 80 GB replicated (plain without ZeRO, DDP); FSDP2 shards it over 8
    assert max_batch(spec, plain, cap) is None and max_batch(spec, ddp, cap) is None
    assert max_batch(spec, fsdp, cap) >= 8
    layout = fewest_gpus(spec, ddp, cap)
    assert layout.dp == 1 and layout.zero_stage == 0  # DDP replicates: more data-parallel GPUs never help
    assert training_memory(spec, TrainingSetup(tp=layout.tp, pp=layout.pp, recompute="full",
                                               engine=Engine("ddp"))).total <= cap


def test_every_engine_has_its_peak_among_its_phases():
    spec = get_preset("Qwen2.5-7B")
    for name in ENGINES[1:]:
        s = TrainingSetup(dp=8, zero_stage=2 if name == "deepspeed" else 0, engine=Engine(name))
        phases = engine_phases(spec, s)
        assert training_memory(spec, s).total == max(b.total for b in phases.values())
        assert between_steps(spec, s).total <= phases["optimizer step"].total


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calc", "memory", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_cli_engine_flags_and_json():
    r = _cli("--mode", "train", "--model", "Meta-Llama-3-8B", "--engine", "fsdp2", "--dp", "8",
             "--no-reshard-after-forward", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["engine"]["name"] == "fsdp2" and d["engine"]["knobs"]["reshard_after_forward"] is False
    assert d["components"]["FSDP2 gathered decoder layers"] > 0
    assert d["total_bytes"] == sum(d["components"].values())
    assert set(d["engine"]["phases"]) == {"backward start", "end of backward", "optimizer step"}
    plain = json.loads(_cli("--mode", "train", "--params", "7.5e9", "--zero", "1", "--dp", "64", "--overhead-bytes",
                            "0", "--engine", "plain", "--json").stdout)
    assert plain["total_bytes"] == 31_406_250_000  # the ZeRO paper's 31.4 GB
    bad = _cli("--mode", "train", "--model", "Meta-Llama-3-8B", "--engine", "ddp", "--zero", "2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "zero_stage" in bad.stderr
    bad = _cli("--mode", "train", "--model", "Meta-Llama-3-8B", "--engine", "ddp", "--bucket-mb", "-3")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_offload_moves_states_to_the_cpu():
    spec = get_preset("Meta-Llama-3-8B")
    on = training_memory(spec, TrainingSetup(dp=8, zero_stage=3, offload_optimizer=True, engine=Engine("deepspeed")))
    off = training_memory(spec, TrainingSetup(dp=8, zero_stage=3, engine=Engine("deepspeed")))
    part = math.ceil(8_030_261_248 / 8)
    # fp32 master, Adam's two states, and the fp32 gradients of one sub-group (sub_group_size 1e9 elements)
    assert on.cpu_bytes == part * (4 + 8) + 4 * min(part, 1_000_000_000)
    assert on.master_weights == on.optimizer_states == 0 and off.total > on.total
    fsdp = training_memory(spec, TrainingSetup(dp=8, engine=Engine("fsdp2", cpu_offload=True)))
    assert fsdp.weights == fsdp.optimizer_states == 0 and fsdp.cpu_bytes > 0
    assert np.isfinite(fsdp.total)


def test_every_buffer_names_its_source():
    from calc.engines import BUFFER_SOURCES

    spec = get_preset("Qwen2.5-7B")
    seen = set()
    for name, zero, kw in (("ddp", 0, {}), ("fsdp2", 0, {}), ("deepspeed", 2, {}), ("deepspeed", 3, {}),
                           ("megatron", 0, {}), ("ddp", 0, {"precision": "bf16-mixed"})):
        for b in engine_phases(spec, TrainingSetup(dp=8, zero_stage=zero, engine=Engine(name), **kw)).values():
            seen |= {k for k, _ in b.buffers}
    assert seen <= set(BUFFER_SOURCES), seen - set(BUFFER_SOURCES)


# ----- the Training memory page ------------------------------------------------------------------------
def test_training_page_engine_choice_buffers_and_estimators():
    from tests.apptest_helpers import open_page
    from tests.test_pages import run_page

    # the details expander open (tm_xtab: the component table and the estimators): its content is built only then
    at = open_page("app_pages/training_memory.py", {"model": "Llama-3.2-1B", "tm_eng": "fsdp2", "tm_dp": "8",
                                                    "tm_raf": "0", "tm_ovh": "0.0"},
                   session={"tm_xtab": True})
    assert not at.exception and not at.error
    spec = get_preset("Llama-3.2-1B")
    from ui.defaults import training_setup

    s = replace(training_setup(), dp=8, overhead_bytes=0, engine=Engine("fsdp2", reshard_after_forward=False))
    want = training_memory(spec, s)
    shown = {m.label: m.help for m in at.metric}
    assert f"{want.total:,} bytes" in shown["Total per GPU"]
    frames = [d.value for d in at.dataframe]
    comps = next(f for f in frames if "component" in f.columns)
    row = comps[comps["component"] == "FSDP2 gathered decoder layers"]
    assert int(row["bytes"].iloc[0]) == dict(want.buffers)["FSDP2 gathered decoder layers"]
    assert "_fsdp_param_group.py" in row["source"].iloc[0]
    est = next(f for f in frames if "source" in f.columns and "per GPU" in f.columns)
    ours = deepspeed_estimates(spec, s)
    assert ours["zero3_gpu_bytes"] in set(est["bytes"])
    assert between_steps(spec, s).total in set(est["bytes"])  # the like-for-like figure beside theirs
    assert any("estimate_zero3_model_states_mem_needs" in m.value for m in at.markdown)
    # a ZeRO stage with a non-DeepSpeed engine is ignored with a word, not an error
    at = run_page("app_pages/training_memory.py", {"model": "Llama-3.2-1B", "tm_eng": "ddp", "tm_zero": "2"})
    assert not at.exception and not at.error
    assert any("not used with this engine" in c.value for c in at.caption)
    at = run_page("app_pages/training_memory.py", {"model": "Llama-3.2-1B", "tm_eng": "deepspeed", "tm_zero": "0"})
    assert not at.exception and any("zero_stage" in e.value for e in at.error)


def test_training_page_engine_knobs_are_lazy_and_keep_their_links():
    """An engine's knobs sit in a lazy expander (issue 18): closed, none of them is drawn, yet a knob set by the
    link still changes the numbers (DeepSpeed's reduce bucket with overlap_comm in ZeRO-2: two buckets of
    reduce_bucket_size elements, deepspeed/runtime/zero/stage_1_and_2.py; both knobs change the total here); open, the same knobs are drawn with the
    link's values and the numbers are the same. The reference is calc with the knob passed directly."""
    from tests.apptest_helpers import open_page
    from ui.defaults import training_setup

    spec = get_preset("Llama-3.2-1B")
    query = {"model": "Llama-3.2-1B", "tm_eng": "deepspeed", "tm_zero": "2", "tm_dp": "8", "tm_rbs": "3000000000",
             "tm_ovc": "on", "tm_ovh": "0.0"}
    want = training_memory(spec, replace(training_setup(), zero_stage=2, dp=8, overhead_bytes=0,
                                         engine=Engine("deepspeed", reduce_bucket_size=3_000_000_000, overlap_comm=True)))
    for other in (Engine("deepspeed"), Engine("deepspeed", reduce_bucket_size=3_000_000_000)):  # each knob matters
        assert want.total != training_memory(spec, replace(training_setup(), zero_stage=2, dp=8, overhead_bytes=0,
                                                           engine=other)).total
    knob_keys = {"tm_oi", "tm_rbs", "tm_ovc", "tm_cg", "tm_ppt", "tm_mlp", "tm_mrd", "tm_pfb", "tm_opa"}
    for is_open in (False, True):
        at = open_page("app_pages/training_memory.py", query, session={"tm_xeng": is_open})
        assert not at.exception and not at.error
        drawn = {w.key for kind in (at.number_input, at.selectbox, at.toggle) for w in kind}
        assert (drawn & knob_keys == knob_keys) if is_open else not drawn & knob_keys, drawn & knob_keys
        shown = {m.label: m.help for m in at.metric}
        assert f"{want.total:,} bytes" in shown["Total per GPU"], (is_open, shown["Total per GPU"])
        assert at.query_params["tm_rbs"] == "3000000000" and at.query_params["tm_ovc"] == "on"
        if is_open:
            assert at.number_input(key="tm_rbs").value == 3_000_000_000 and at.selectbox(key="tm_ovc").value == "on"


def test_grid_components_come_in_the_same_order_in_every_process():
    """The memory sweeps stack breakdown_grid's components in its key order; under an engine it came from a set of
    strings, whose order follows each process's hash seed, so the charts' stacking changed with every server start."""
    code = ("from calc.engines import Engine; from calc.memory import TrainingSetup, breakdown_grid; "
            "from calc.presets import get_preset; "
            "s = TrainingSetup(dp=4, pp=2, engine=Engine('ddp')); "
            "print(list(breakdown_grid(get_preset('Llama-3.2-1B'), s, [1, 2], [128, 256])))")
    orders = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2", "3", "4")}
    assert len(orders) == 1, orders
