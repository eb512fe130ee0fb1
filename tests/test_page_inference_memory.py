"""Inference memory page (app_pages/inference_memory.py): what its rerun-cost measures (issue 18) keep.

- The overhead and prefill-budget inputs sit in a lazy expander: closed, their link values still size the
  overhead and the workspace (``ui.state.UNDRAWN``) and no widget is sent; open, both are drawn with those values.
- The component table goes to Arrow straight from its records (``ui.tables.records_arrow``): the bytes sent are
  Streamlit's own conversion of the same rows as a DataFrame, with ``ui.format.bytes_table``'s column formats.
- That table and its CSV sit in a lazy expander: closed, neither is sent, and the metrics, chart and verdict are the
  same as with it open.
- The solvers' answers are kept per input (``_solve``, ui.memo): a rerun that finds them shows what one that
  computes them shows.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from calc.memory import inference_memory
from calc.presets import get_preset
from calc.units import GIB
from tests.apptest_helpers import open_page
from ui import tables
from ui.defaults import inference_setup

INFER = "app_pages/inference_memory.py"
LINK = {"model": "Meta-Llama-3-8B", "im_b": "8", "im_ctx": "8192", "im_ovh": "2.5", "im_chunk": "1000"}


def _components(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "component" in d.value.columns)


def test_overhead_and_prefill_budget_apply_with_their_expander_closed_or_open():
    spec = get_preset("Meta-Llama-3-8B")
    want = inference_memory(spec, replace(inference_setup(), batch=8, context=8192,
                                          overhead_bytes=int(2.5 * GIB), prefill_chunk_tokens=1000))
    # the page's workspace estimate: 1,000 tokens x 2 bytes x (2 x 4,096 + the widest matrix, 3 x 14,336 of the
    # gated MLP) plus fp32 logits of 8 sequences x 128,256 vocabulary (calc.memory._inference_workspace)
    assert want.activations == 1000 * 2 * (2 * 4096 + 3 * 14336) + 8 * 128256 * 4
    closed = open_page(INFER, LINK, session={"im_xtab": True})  # the component table's lazy expander, open
    opened = open_page(INFER, LINK, session={"im_xovh": True, "im_xtab": True})
    for at in (closed, opened):
        assert not at.exception, [e.value for e in at.exception]
        got = dict(zip(*(_components(at)[c] for c in ("component", "bytes")), strict=True))
        assert int(got["Overhead (CUDA context, reserve)"]) == 2.5 * 2**30 and int(got["Activations"]) == want.activations
        assert int(got["Total"]) == want.total
        assert at.query_params["im_ovh"] == "2.5" and at.query_params["im_chunk"] == "1000"  # links kept
    drawn = {n.key: n.value for n in opened.number_input}
    assert drawn["im_ovh"] == 2.5 and drawn["im_chunk"] == 1000
    assert not {"im_ovh", "im_chunk"} & {n.key for n in closed.number_input}
    assert {"im_b", "im_ctx", "im_tp"} <= {n.key for n in closed.number_input}


def test_component_table_is_streamlits_conversion_of_its_rows():
    at = open_page(INFER, LINK | {"units": "GiB"}, session={"im_xtab": True})
    assert not at.exception, [e.value for e in at.exception]
    proto = next(d.proto for d in at.dataframe if "component" in d.value.columns)
    df = _components(at)
    assert list(df.columns) == ["component", "bytes", "GiB"]
    assert proto.arrow_data.data == _ipc(tables.to_arrow(pd.DataFrame(df.to_dict("records"))))
    assert "localized" in proto.columns and "%,.3f" in proto.columns  # bytes_table's formats


def _ipc(table) -> bytes:
    from streamlit import dataframe_util

    return dataframe_util.convert_arrow_table_to_arrow_bytes(table)


def _shown(at) -> dict:
    return {"metrics": [(m.label, m.value, m.help) for m in at.metric], "charts": [c.proto.spec for c in
            at.get("plotly_chart")], "verdict": [e.value for e in (*at.success, *at.error)],
            "captions": [c.value for c in at.caption]}


def test_component_table_is_lazy_and_the_rest_is_the_same():
    link = LINK | {"im_b": "512", "im_ctx": "32768"}  # does not fit on the H100: remedies listed
    closed = open_page(INFER, link)
    opened = open_page(INFER, link, session={"im_xtab": True})
    for at in (closed, opened):
        assert not at.exception, [e.value for e in at.exception]
    assert not any("component" in d.value.columns for d in closed.dataframe) and not closed.get("download_button")
    assert len(opened.get("download_button")) == 1 and len(_components(opened)) > 3
    assert _shown(closed) == _shown(opened)
    assert closed.error  # the remedies' verdict


def test_solver_answers_kept_per_input_show_what_computed_ones_show(monkeypatch):
    """The second open finds the solvers' answers kept (ui.memo); with the cache bypassed every answer is computed
    again: the pages are the same (metrics with their help, the verdict and its remedies)."""
    from ui import memo

    link = LINK | {"im_b": "96", "im_ctx": "65536", "im_tp": "2"}
    first = open_page(INFER, link)
    kept = open_page(INFER, link)
    monkeypatch.setattr(memo, "cached", lambda key, compute: compute())
    computed = open_page(INFER, link)
    for at in (first, kept, computed):
        assert not at.exception, [e.value for e in at.exception]
    assert _shown(kept) == _shown(computed) == _shown(first)
    assert any(m.label == "Largest batch that fits" for m in kept.metric)


def test_metric_rows_keep_their_order():
    """The metrics sit in two horizontal containers (issue 18): the sizes first, then the solvers' answers, in the
    order the four columns showed them row by row; the layout caption stays under 'Fewest GPUs that fit'."""
    at = open_page(INFER, LINK)
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric] == [
        "Total per GPU", "Weights per GPU", "KV cache per GPU", "KV per token (all layers)", "Largest batch that fits",
        "Longest context that fits", "Fewest GPUs that fit", "Widest weight format that fits"]
    assert any("per GPU" in c.value for c in at.caption)
