"""The Training memory page's table of an engine's moments, sent as records straight to Arrow
(``ui.figures_memory.phases_rows`` + ``ui.tables.records_arrow``), is the table the page sent before: Streamlit's
conversion of ``fmt.bytes_table(ui.figures_engines.phases_table(...))``'s DataFrame, the old path kept as the
reference (issue 18: that DataFrame was built and converted on every rerun with an engine)."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_table_to_arrow_bytes
from streamlit.testing.v1 import AppTest

from calc.engines import Engine, engine_phases
from calc.memory import TrainingSetup
from calc.presets import get_preset
from calc.units import format_bytes
from ui import tables
from ui.figures_engines import phases_table
from ui.figures_memory import phases_rows

MODELS = ("Llama-3.2-1B", "Meta-Llama-3-8B", "Mixtral-8x7B", "GPT-2")


def _random_phases(rng: random.Random):
    """(phases, size) of a random setup that calc accepts, with a random engine and unit."""
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
        try:
            phases = engine_phases(get_preset(rng.choice(MODELS)), setup)
        except ValueError:  # a layout or mode this engine refuses: the page shows the error instead
            continue
        return phases, (lambda n, unit=unit: format_bytes(n, unit, 2))


def test_phases_records_give_the_dataframes_arrow_table():
    rng = random.Random(18)
    for _ in range(120):
        phases, size = _random_phases(rng)
        old = phases_table(phases, size)
        rows = phases_rows(phases, size)
        pd.testing.assert_frame_equal(pd.DataFrame(rows), old)  # the DataFrame path (counts past int64) is the same
        assert (convert_arrow_table_to_arrow_bytes(tables.records_arrow(rows))
                == convert_arrow_table_to_arrow_bytes(tables.to_arrow(old)))


def _old_table(query_setup: dict, unit: str) -> None:
    """The page's table as it was drawn before: ``fmt.bytes_table(phases_table(...))`` into ``st.dataframe``."""
    from dataclasses import replace

    import streamlit as st

    from calc.engines import Engine, engine_phases
    from calc.presets import get_preset
    from calc.units import format_bytes
    from ui import format as fmt
    from ui.defaults import training_setup
    from ui.figures_engines import phases_table

    st.session_state["units"] = unit
    engine = query_setup.pop("engine")
    setup = replace(training_setup(), engine=Engine(engine), **query_setup)
    phases = engine_phases(get_preset("Llama-3.2-1B"), setup)
    ptable, pcfg = fmt.bytes_table(phases_table(phases, lambda n: format_bytes(n, fmt.unit(), 2)))
    st.dataframe(ptable, hide_index=True, width="stretch", column_config=pcfg)


@pytest.mark.parametrize(("engine", "zero", "unit"), [("ddp", 0, "GB"), ("fsdp2", 0, "GiB"), ("deepspeed", 2, "GB"),
                                                      ("deepspeed", 3, "GiB"), ("megatron", 0, "GB")])
def test_page_sends_the_old_table(engine, zero, unit):
    from tests.apptest_helpers import open_page

    at = open_page("app_pages/training_memory.py", {"model": "Llama-3.2-1B", "units": unit, "tm_eng": engine,
                                                    "tm_zero": str(zero), "tm_dp": "8"})
    assert not at.exception and not at.error
    shown = next(d.proto for d in at.dataframe if "moment" in d.value.columns)
    old = AppTest.from_function(_old_table, args=({"engine": engine, "zero_stage": zero, "dp": 8}, unit),
                                default_timeout=60).run()
    assert not old.exception, [e.value for e in old.exception]
    want = old.dataframe[0].proto
    assert len(want.arrow_data.data) > 500
    assert shown.arrow_data.data == want.arrow_data.data
    assert json.loads(shown.columns) == json.loads(want.columns)  # the byte column's format
    # and every other field of the element as sent, but its id (made of where it is drawn)
    assert ({f.name: v for f, v in shown.ListFields() if f.name != "id"}
            == {f.name: v for f, v in want.ListFields() if f.name != "id"})
