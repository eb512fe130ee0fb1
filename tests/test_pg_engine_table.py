"""The Training memory page's tables sent as records straight to Arrow (``ui.tables.records_arrow``): an engine's
moments (``ui.figures_memory.phases_rows``), DeepSpeed's estimators (``estimator_rows``) and one layer's saved
tensors are the tables the page sent before: Streamlit's conversion of the DataFrames of
``fmt.bytes_table(phases_table / estimator_table(...))`` (ui/figures_engines.py's builders, kept below) and of the
tensors' records, the old path kept as the reference (issue 18: those DataFrames were built and converted on every rerun)."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_table_to_arrow_bytes
from streamlit.testing.v1 import AppTest

from calc.engines import Engine, deepspeed_estimates, engine_phases
from calc.memory import TrainingSetup
from calc.presets import get_preset
from calc.units import format_bytes
from ui import tables
from ui.figures_memory import LABELS, estimator_rows, phases_rows

MODELS = ("Llama-3.2-1B", "Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "GPT-2", "Qwen3-30B-A3B")


# ----- the reference: ui/figures_engines.py's builders as they were before 8c94152 (verbatim; the page no longer uses
# them) -------------------------------------------------------------------------------------------------------
def phases_table(phases: dict, size) -> pd.DataFrame:
    """One row per moment of the step (``calc.engines.engine_phases``): its total and what is in it."""
    rows = []
    for name, b in phases.items():
        parts = ", ".join(f"{LABELS.get(k, k)} {size(v)}" for k, v in b.components().items() if v)
        rows.append({"moment": name, "total": size(b.total), "bytes": b.total, "what is alive": parts})
    return pd.DataFrame(rows)


def estimator_table(ours: int, est: dict, size, states: int | None = None) -> pd.DataFrame:
    """DeepSpeed's estimator functions beside this page's figure (model states only on their side) and, when
    given, this page's states held between steps (the like-for-like figure)."""
    rows = [("this page (the engine chosen, whole step)", ours)]
    if states is not None:
        rows.append(("this page, states held between steps (model states and persistent buffers)", states))
    rows += [("DeepSpeed estimate_zero2_model_states_mem_needs (GPU)", est["zero2_gpu_bytes"]),
             ("DeepSpeed estimate_zero3_model_states_mem_needs (GPU)", est["zero3_gpu_bytes"]),
             ("DeepSpeed ZeRO-2 estimator (CPU, per node)", est["zero2_cpu_bytes"])]
    return pd.DataFrame([{"source": k, "per GPU": size(v), "bytes": v} for k, v in rows])


def _random_phases(rng: random.Random):
    """(phases, size, model, setup) of a random setup that calc accepts, with a random engine and unit."""
    while True:
        engine = rng.choice(("ddp", "fsdp2", "deepspeed", "megatron"))
        kw = {"reshard_after_forward": rng.random() < 0.5, "cpu_offload": rng.random() < 0.3} if engine == "fsdp2" \
            else {"offload_param": rng.random() < 0.3} if engine == "deepspeed" \
            else {"gradient_as_bucket_view": rng.random() < 0.5} if engine == "ddp" \
            else {"distributed_optimizer": rng.random() < 0.5}
        setup = TrainingSetup(
            precision=rng.choice(("bf16-mixed", "fp16-mixed", "fp32", "bf16")), zero_stage=rng.choice((0, 1, 2, 3)),
            dp=rng.choice((1, 2, 8, 64)), tp=rng.choice((1, 2, 4)), pp=rng.choice((1, 2)),
            micro_batch=rng.choice((1, 2, 7)), seq_len=rng.choice((512, 4096, 32768)),
            recompute=rng.choice(("none", "selective", "full")), offload_optimizer=rng.random() < 0.2,
            finetune=rng.choice(("full", "full", "lora")), engine=Engine(engine, **kw))
        unit = rng.choice(("GB", "GiB"))
        model = get_preset(rng.choice(MODELS))
        try:
            phases = engine_phases(model, setup)
        except ValueError:  # a layout or mode this engine refuses: the page shows the error instead
            continue
        return phases, (lambda n, unit=unit: format_bytes(n, unit, 2)), model, setup


def _same_arrow(rows: list[dict], frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(rows), frame)  # the DataFrame path (counts past int64) is the same
    assert (convert_arrow_table_to_arrow_bytes(tables.records_arrow(rows))
            == convert_arrow_table_to_arrow_bytes(tables.to_arrow(frame)))


def test_phases_records_give_the_dataframes_arrow_table():
    rng = random.Random(18)
    for _ in range(120):
        phases, size, model, setup = _random_phases(rng)
        _same_arrow(phases_rows(phases, size), phases_table(phases, size))
        est = deepspeed_estimates(model, setup)
        ours, held = rng.randrange(1, 10**14), rng.choice((None, rng.randrange(1, 10**14)))
        _same_arrow(estimator_rows(ours, est, size, held), estimator_table(ours, est, size, held))


def _old_tables(query_setup: dict, unit: str) -> None:
    """The page's tables as they were drawn before: ``fmt.bytes_table(phases_table(...))`` (with an engine) and
    ``fmt.bytes_table(estimator_table(...))`` into ``st.dataframe``, and one layer's saved tensors as a DataFrame."""
    from dataclasses import replace

    import pandas as pd
    import streamlit as st

    from calc.activations import config_dropout, layer_terms
    from calc.engines import Engine, between_steps, deepspeed_estimates, engine_phases
    from calc.memory import training_memory
    from calc.presets import get_preset
    from calc.units import format_bytes
    from tests.test_pg_engine_table import estimator_table, phases_table  # AppTest runs this function's text alone
    from ui import format as fmt
    from ui.defaults import training_setup

    st.session_state["units"] = unit
    engine = query_setup.pop("engine")
    model = get_preset("Llama-3.2-1B")
    setup = replace(training_setup(), engine=Engine(engine), **query_setup)

    def size(n):
        return format_bytes(n, fmt.unit(), 2)

    held = None
    if engine != "plain":
        ptable, pcfg = fmt.bytes_table(phases_table(engine_phases(model, setup), size))
        st.dataframe(ptable, hide_index=True, width="stretch", column_config=pcfg)
        held = between_steps(model, setup).total
    est = deepspeed_estimates(model, setup)
    etable, ecfg = fmt.bytes_table(estimator_table(training_memory(model, setup).total, est, size, held))
    st.dataframe(etable, hide_index=True, width="stretch", column_config=ecfg)
    terms = layer_terms(model, min(1, model.num_layers - 1), recompute=setup.recompute,
                        flash_attention=setup.flash_attention, act_bits=setup.act_bits, lora=None,
                        dropout=config_dropout(model, None))
    st.dataframe(pd.DataFrame([{"tensor": t.name, "bytes per token": t.per_token,
                                "bytes per token per key": t.per_token_key,
                                "tp": "split" if t.tp_sharded else "replicated (split with SP)"} for t in terms]),
                 hide_index=True, width="stretch")


def _fields(proto) -> dict:
    """Every field of an element as sent, but its id (made of where it is drawn)."""
    return {f.name: v for f, v in proto.ListFields() if f.name != "id"}


@pytest.mark.parametrize(("engine", "zero", "unit"), [("plain", 1, "GiB"), ("ddp", 0, "GB"), ("fsdp2", 0, "GiB"),
                                                      ("deepspeed", 2, "GB"), ("deepspeed", 3, "GiB"),
                                                      ("megatron", 0, "GB")])
def test_page_sends_the_old_tables(engine, zero, unit):
    from tests.apptest_helpers import open_page

    # the details expander open: the estimators and the layer's tensors are drawn only then
    at = open_page("app_pages/training_memory.py", {"model": "Llama-3.2-1B", "units": unit, "tm_eng": engine,
                                                    "tm_zero": str(zero), "tm_dp": "8"}, session={"tm_xtab": True})
    assert not at.exception and not at.error
    shown = [d for d in at.dataframe if "component" not in d.value.columns]  # the components' table: elsewhere
    old = AppTest.from_function(_old_tables, args=({"engine": engine, "zero_stage": zero, "dp": 8}, unit),
                                default_timeout=60).run()
    assert not old.exception, [e.value for e in old.exception]
    want = list(old.dataframe)
    assert len(shown) == len(want) == (3 if engine != "plain" else 2)
    for s, w in zip(shown, want, strict=True):
        assert len(w.proto.arrow_data.data) > 500
        assert s.proto.arrow_data.data == w.proto.arrow_data.data
        assert json.loads(s.proto.columns or "{}") == json.loads(w.proto.columns or "{}")  # the byte column's format
        assert _fields(s.proto) == _fields(w.proto)
