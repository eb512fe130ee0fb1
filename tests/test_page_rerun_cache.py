"""What the memory, Models and Number formats pages keep between reruns (issue 18) changes with their inputs.

- ``ui.tables.bytes_arrow``: a table converted to Arrow once per content; the bytes sent are Streamlit's own
  conversion of the same DataFrame (``st.dataframe`` of the frame itself), a changed row gives a changed table,
  and the sidebar's unit (which names a column and sets its format) is part of the key.
- The pages: one process, two inputs in turn (cached results would repeat the first); each table holds what
  ``calc`` computes for that input, not what the cache held.
- Lazy expanders: their content is built only while open (the expander's key in session state).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from streamlit.testing.v1 import AppTest

from calc.engines import deepspeed_estimates
from calc.memory import TrainingSetup, inference_memory, training_memory
from calc.presets import get_preset
from tests.apptest_helpers import open_page
from ui.defaults import inference_setup, training_setup

TRAIN, INFER = "app_pages/training_memory.py", "app_pages/inference_memory.py"


def _bytes_arrow_script():
    import pandas as pd
    import streamlit as st

    from ui import format as fmt
    from ui import tables

    rows_a = [{"component": "weights", "bytes": 10**12, "GB": 1000.0}, {"component": "kv", "bytes": 5, "GB": 0.0}]
    rows_b = [{"component": "weights", "bytes": 10**12, "GB": 1000.0}, {"component": "kv", "bytes": 6, "GB": 0.0}]
    huge = [{"component": "activations", "bytes": 2**70, "GB": 2**70 / 1e9}]  # past int64: exact text
    for rows in (rows_a, rows_b, rows_a, huge):
        table, config = tables.bytes_arrow(("test", repr(rows)), lambda rows=rows: pd.DataFrame(rows))
        shown, direct_config = fmt.bytes_table(pd.DataFrame(rows))
        st.dataframe(table, hide_index=True, column_config=config)
        st.dataframe(shown, hide_index=True, column_config=direct_config)  # Streamlit's own conversion
        st.session_state.setdefault("ids", []).append(id(table))


def test_bytes_arrow_sends_the_dataframes_bytes_and_follows_its_rows():
    at = AppTest.from_function(_bytes_arrow_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    protos = [d.proto for d in at.dataframe]
    assert len(protos) == 8
    for cached, direct in zip(protos[0::2], protos[1::2], strict=True):
        assert cached.arrow_data.data == direct.arrow_data.data
        assert cached.columns == direct.columns  # the same column config (formats) as bytes_table gives
    values = [d.value for d in at.dataframe]
    assert list(values[0]["bytes"]) == [10**12, 5] and list(values[2]["bytes"]) == [10**12, 6]  # changed row
    assert list(values[6]["bytes"]) == [f"{2**70:,}"]
    ids = at.session_state["ids"]
    assert ids[0] == ids[2] != ids[1]  # the same rows reuse the table; other rows made another


def _components(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "component" in d.value.columns)


def test_training_page_table_follows_each_input():
    spec = get_preset("Llama-3.2-1B")
    for mb, unit in ((1, "GB"), (3, "GB"), (1, "GiB")):
        at = open_page(TRAIN, {"model": "Llama-3.2-1B", "tm_mb": str(mb), "tm_seq": "2048", "units": unit},
                       session={"tm_xtab": True})  # the component table's lazy expander, open
        assert not at.exception, [e.value for e in at.exception]
        df = _components(at)
        want = training_memory(spec, replace(_training_setup(), micro_batch=mb, seq_len=2048))
        got = dict(zip(df["component"], df["bytes"], strict=True))
        assert got["Total (GPU)"] == want.total
        assert unit in df.columns and int(got["Activations"]) == want.activations


def _training_setup() -> TrainingSetup:
    return replace(training_setup(), overhead_bytes=1 << 30)  # the page's default overhead, 1.00 GiB


def test_inference_page_table_follows_each_input():
    spec = get_preset("Meta-Llama-3-8B")
    for ctx in (4096, 8192):
        at = open_page(INFER, {"model": "Meta-Llama-3-8B", "im_ctx": str(ctx), "im_b": "2", "im_ovh": "0.0"},
                       session={"im_xtab": True})  # the component table's lazy expander, open
        assert not at.exception, [e.value for e in at.exception]
        df = _components(at)
        want = inference_memory(spec, replace(inference_setup(), batch=2, context=ctx, overhead_bytes=0))
        got = dict(zip(df["component"], df["bytes"], strict=True))
        assert got["Total"] == want.total
        assert got["KV cache"] == want.kv_cache == 2 * 32 * 2 * 8 * 128 * ctx * 2  # Llama-3-8B: 32 layers, 8 KV heads


def test_expanders_build_their_content_only_when_open():
    closed = open_page(TRAIN, {"model": "Llama-3.2-1B", "tm_dp": "8"})
    opened = open_page(TRAIN, {"model": "Llama-3.2-1B", "tm_dp": "8"},
                       session={"tm_xtab": True})  # the details expander
    for at in (closed, opened):
        assert not at.exception, [e.value for e in at.exception]
    said = "estimate_zero3_model_states_mem_needs"
    assert not any(said in m.value for m in closed.markdown)
    assert any(said in m.value for m in opened.markdown)
    est = next(d.value for d in opened.dataframe if "per GPU" in d.value.columns)
    ours = deepspeed_estimates(get_preset("Llama-3.2-1B"), replace(_training_setup(), dp=8))
    assert ours["zero3_gpu_bytes"] in set(est["bytes"])
    assert any("tensor" in d.value.columns for d in opened.dataframe)  # the saved-tensor table of the formulas
    assert not any("tensor" in d.value.columns for d in closed.dataframe)
    assert len(opened.dataframe) == len(closed.dataframe) + 3  # the estimators, the saved tensors, the components


def test_number_formats_table_is_complete_on_every_run():
    from calc.dtypes import DTYPES

    for _ in range(2):  # the second run reads the table kept by the first
        at = open_page("app_pages/dtypes.py")
        assert not at.exception
        df = at.dataframe[0].value
        assert list(df["dtype"]) == list(DTYPES)
        assert df.loc[df["dtype"] == "fp16", "max"].iloc[0] == "6.550e+04"  # IEEE 754 binary16: 65,504


def test_home_glance_follows_the_sidebar_gpu():
    """Home keeps its at-a-glance figures per model, setups and capacity: another GPU gives its own layouts."""
    from calc.gpus import get_gpu
    from calc.solvers import fewest_gpus

    spec = get_preset("Meta-Llama-3-8B")
    seen = set()
    for gpu in ("H100 SXM", "RTX 4090", "H100 SXM"):
        at = open_page("app_pages/home.py", {"model": "Meta-Llama-3-8B", "gpu": gpu})
        assert not at.exception
        layout = fewest_gpus(spec, training_setup(), get_gpu(gpu).usable_memory_bytes)
        want = "Fits on one GPU." if layout.gpus == 1 else f"Needs {layout.gpus:,} GPUs: {layout.describe()}"
        captions = " ".join(c.value for c in at.caption)
        assert want in captions, (gpu, want, captions)
        seen.add(want)
    assert len(seen) == 2  # the two GPUs need different layouts for training
