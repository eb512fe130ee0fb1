"""Training and Inference memory pages (AppTest): the published figures appear on the page, bad
combinations show an error instead of a traceback."""

from __future__ import annotations

import pytest

from tests.test_pages import run_page

TRAIN, INFER = "app_pages/training_memory.py", "app_pages/inference_memory.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("zero, shown", [("0", "120.00 GB"), ("1", "31.41 GB"), ("2", "16.64 GB"), ("3", "1.88 GB")])
def test_training_page_reproduces_zero_paper(zero, shown):
    # ZeRO sec. 5: 7.5B params, Nd = 64: 120 / 31.4 / 16.6 / 1.9 GB per device
    at = run_page(TRAIN, {"tm_src": "parameter count only", "tm_pb": "7.5", "tm_zero": zero, "tm_dp": "64",
                          "tm_ovh": "0.0"})
    assert not at.exception
    assert metrics(at)["Total per GPU"] == shown
    assert any("not computed" in i.value for i in at.info)


def test_training_page_fp32_adamw_is_four_times_weights():
    at = run_page(TRAIN, {"tm_src": "parameter count only", "tm_pb": "7.0", "tm_prec": "fp32", "tm_ovh": "0.0"})
    assert metrics(at)["Total per GPU"] == "112.00 GB"  # 4 x 28 GB


@pytest.mark.parametrize("billions, dtype, units, shown", [("1.0", "fp32", "GiB", "3.73 GiB"),
                                                           ("1.0", "fp32", "GB", "4.00 GB"),
                                                           ("7.0", "fp32", "GB", "28.00 GB"),
                                                           ("7.0", "fp16", "GB", "14.00 GB"),
                                                           ("13.0", "fp16", "GB", "26.00 GB"),
                                                           ("65.0", "fp32", "GB", "260.00 GB")])
def test_inference_page_rule_of_thumb(billions, dtype, units, shown):
    at = run_page(INFER, {"im_src": "parameter count only", "im_pb": billions, "im_w": dtype, "im_ovh": "0.0",
                          "units": units})
    assert not at.exception
    assert metrics(at)["Weights per GPU"] == shown == metrics(at)["Total per GPU"]


def test_inference_page_model_numbers():
    at = run_page(INFER, {"model": "Meta-Llama-3-8B", "im_ctx": "8192", "im_b": "1"})
    m = metrics(at)
    assert m["KV cache per GPU"] == "1.07 GB"  # 32 layers x 2 x 8 x 128 x 8192 x 2 B = 1 GiB
    assert m["Weights per GPU"] == "16.06 GB"  # 8,030,261,248 x 2 B
    assert any("Fits" in s.value for s in at.success)


def test_training_page_refusal_shows_error():
    at = run_page(TRAIN, {"tm_off": "1", "tm_zero": "0"})
    assert not at.exception
    assert any("zero_stage" in e.value for e in at.error)


def test_training_page_lora_and_ppo_render():
    at = run_page(TRAIN, {"model": "Llama-3.2-1B", "tm_ft": "qlora", "tm_rl": "ppo", "tm_lr": "8"})
    assert not at.exception and not at.error
    assert metrics(at)["Largest micro-batch that fits"] not in ("", None)


@pytest.mark.parametrize("engine", ["plain", "ddp"])
def test_training_page_table_and_solvers_are_calcs(engine):
    """The components table (Arrow built from the records, issue 18) and the solver metrics (the longest sequence
    from ui.memory_solvers' grid search) against calc itself: calc.memory.training_memory's components and
    calc.solvers' one-value-at-a-time searches."""
    from calc.engines import BUFFER_SOURCES, Engine
    from calc.gpus import get_gpu
    from calc.memory import TrainingSetup, training_memory
    from calc.presets import get_preset
    from calc.solvers import max_batch, max_context
    from tests.apptest_helpers import open_page
    from ui.defaults import TRAINING as D

    at = open_page(TRAIN, {"model": "Meta-Llama-3-8B", "gpu": "H100 SXM", "tm_eng": engine, "tm_zero": "0"},
                   session={"tm_xtab": True})  # the component table's lazy expander, open
    assert not at.exception
    model = get_preset("Meta-Llama-3-8B")
    setup = TrainingSetup(precision=D["tm_prec"], optimizer=D["tm_opt"], dp=D["tm_dp"], tp=D["tm_tp"],
                          pp=D["tm_pp"], micro_batch=D["tm_mb"], seq_len=D["tm_seq"], recompute=D["tm_rc"],
                          flash_attention=D["tm_fa"], finetune=D["tm_ft"], rlhf=D["tm_rl"], overhead_bytes=2**30,
                          engine=Engine(engine))
    b = training_memory(model, setup)
    df = next(d.value for d in at.dataframe if "component" in d.value.columns)  # an engine's phases come first
    comps = b.components()
    assert list(df["bytes"]) == [*comps.values(), b.total, b.cpu_bytes]
    assert ("source" in df.columns) == (engine != "plain")
    if engine != "plain":
        assert list(df["source"]) == [BUFFER_SOURCES.get(k, "") for k in comps] + ["", ""]
    cap = get_gpu("H100 SXM").usable_memory_bytes
    m = metrics(at)
    mc, mb = max_context(model, setup, cap, limit=1 << 22), max_batch(model, setup, cap, limit=4096)
    assert m["Longest sequence that fits"] == ("none" if mc is None else f"{mc:,}")
    assert m["Largest micro-batch that fits"] == ("none" if mb is None else f"{mb:,}" + ("+" if mb == 4096 else ""))
