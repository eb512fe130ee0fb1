"""The Quantization (GGUF) page through app.py (Streamlit AppTest): numbers, a deep link, and the file inspector."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from calc.models import ModelSpec
from tests.conftest import ROOT
from tests.test_gguf_file import TINY, write_gguf

PAGE = "app_pages/quantization.py"


def run(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_llama2_7b_on_a_4090_deep_link():
    at = run({"model": "Llama-2-7B", "gpu": "RTX 4090", "gctx": "4096", "units": "GB"})
    metrics = {m.label: m.value for m in at.metric}
    # F16 (13.48 GB) + 2 GiB f16 KV cache at 4096 tokens fits a 24 GB card; F32 (26.95 GB) does not
    assert metrics["Largest that fits"] == "F16"
    assert metrics["KV cache (f16)"] == "2.15 GB"  # 32 layers x 2 x 4096 x 4096 tokens x 2 B = 2 GiB
    table = at.dataframe[0].value.set_index("file type")
    # TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_K_M.gguf is 4,081,004,224 B (REFERENCE.md)
    assert table.loc["Q4_K_M", "file (GB)"] == pytest.approx(4.081004224, abs=2e-6)
    assert table.loc["Q4_K_M", "payload bytes"] + 741_056 == 4_081_004_224
    assert table.loc["Q8_0", "fits"] == "yes"
    assert len(table) == 33


def test_70b_splits_on_a_24gb_card_and_cache_type_changes_kv():
    at = run({"model": "Meta-Llama-3-70B", "gpu": "RTX 4090", "gctx": "16384", "gkv": "q8_0"})
    table = at.dataframe[0].value.set_index("file type")
    assert table.loc["Q4_K_M", "fits"].startswith("split: ")
    metrics = {m.label: m.value for m in at.metric}
    # 80 layers x 2 x 8 x 128 x 16384 x 34/32 B = 2.85 GB
    assert metrics["KV cache (q8_0)"] == "2.85 GB"


def test_inspector_reads_an_upload_and_refuses_garbage(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, ModelSpec.from_hf_config(TINY, name="tiny"), "Q4_K_M")
    at = run()
    at.session_state["gx_inspect"] = True  # the inspector is a lazy expander (issue 18): opened
    at.run()
    at.file_uploader[0].upload("tiny.gguf", path.read_bytes(), "application/octet-stream")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Architecture"] == "llama" and metrics["File type"] == "Q4_K_M" and metrics["Tensors"] == "39"
    assert any("Tensors whose type differs: 0" in m.value for m in at.markdown)
    at.file_uploader[0].upload("bad.gguf", b"GGML" + bytes(40), "application/octet-stream")
    at.run()
    assert not at.exception
    assert any("not a GGUF file" in e.value for e in at.error)


def test_tensor_table_is_summarized_by_kind():
    # The per-tensor table is one row per kind (name without block number, shape, type): Llama-2-7B Q4_K_M has 291
    # tensors in 16 kinds; they still sum to TheBloke's llama-2-7b.Q4_K_M.gguf (4,081,004,224 B) minus its
    # 741,056 B header (REFERENCE.md), and attn_v splits into its Q6_K and Q4_K layers (use_more_bits: 16 + 16).
    at = run({"model": "Llama-2-7B", "gq": "Q4_K_M"})
    kinds = next(d.value for d in at.dataframe if "bytes each" in d.value.columns)
    assert kinds["tensors"].sum() == 32 * 9 + 3 and len(kinds) < 32
    assert kinds["bytes"].sum() + 741_056 == 4_081_004_224
    v = kinds[kinds["tensor"] == "blk.N.attn_v.weight"].set_index("type")["tensors"].to_dict()
    assert v == {"Q6_K": 16, "Q4_K": 16}
    # the type map (written without Plotly's validation, issue 18) shows the same split on its attn_v row, and the
    # bytes-per-type bars add up to the same payload in GB
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = next(c["data"][0] for c in charts if c["data"][0]["type"] == "heatmap")
    row = heat["text"][heat["y"].index("attn_v")]
    assert {t: row.count(t) for t in set(row)} == {"Q6_K": 16, "Q4_K": 16}
    bars = next(c["data"][0] for c in charts if c["data"][0].get("textposition") == "outside")
    assert sum(bars["y"]) == pytest.approx((4_081_004_224 - 741_056) / 1e9, rel=1e-12)


@pytest.mark.parametrize("model", ["gpt-oss-20b", "Qwen3-Next-80B-A3B", "Llama-4-Scout-17B-16E"])
def test_new_architectures_get_sizes_and_kv(model):
    # gpt-oss (MXFP4 experts), Qwen3-Next (gated DeltaNet + MoE) and Llama 4 (interleaved MoE, chunked attention)
    # were refused for want of a GGUF tensor layout; the page now sizes every file type and their KV / state
    from calc.gguf import quantize_model
    from calc.gguf_run import kv_layer_bytes
    from calc.presets import get_preset

    at = run({"model": model, "gpu": "H200", "gctx": "32768", "units": "GB"})
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value.set_index("file type")
    spec = get_preset(model)
    assert table.loc["Q4_K_M", "payload bytes"] == quantize_model(spec, "Q4_K_M").tensor_bytes
    assert table.loc["MXFP4_MOE", "payload bytes"] == quantize_model(spec, "MXFP4_MOE").tensor_bytes
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["KV cache (f16)"] == f"{sum(kv_layer_bytes(spec, 32768)) / 1e9:.2f} GB"


def test_memory_chart_draws_each_file_types_run_memory():
    # The chart's dict is written without Plotly's validation (ui.figures_gguf.run_memory_dict, issue 18): its bars
    # are calc.gguf_run.run_memory of each file type computed here afresh (no page cache), in GiB, with the
    # capacity line at the card's usable memory; and Plotly's validation leaves the dict the page sent unchanged.
    import json

    import plotly.graph_objects as go

    from calc.gguf import FILE_TYPES, quantize_model
    from calc.gguf_run import RunSetup, run_memory
    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from calc.units import GIB

    at = run({"model": "Llama-2-7B", "gpu": "RTX 4090", "gctx": "4096", "units": "GiB"})
    sent = json.loads(at.get("plotly_chart")[0].proto.spec)
    spec, gpu = get_preset("Llama-2-7B"), get_gpu("RTX 4090")
    shown = [f for f in FILE_TYPES if f not in ("F32", "F16", "BF16")]
    runs = {f: run_memory(spec, quantize_model(spec, f), RunSetup(context=4096), gpu) for f in shown}
    bars = {t["name"]: t for t in sent["data"]}
    for name, field in (("Weights", "weights_bytes"), ("KV cache", "kv_cache_bytes"),
                        ("Compute buffer", "compute_bytes")):
        assert bars[name]["y"] == shown
        assert bars[name]["x"] == pytest.approx([getattr(runs[f], field) / GIB for f in shown], rel=1e-12)
    capacity = runs["Q4_K_M"].capacity_bytes / GIB
    assert sent["layout"]["shapes"][0]["x0"] == pytest.approx(capacity, rel=1e-12)
    assert sent["layout"]["annotations"][0]["text"] == f"RTX 4090: {capacity:.1f} GiB"
    assert go.Figure(sent).to_dict() == sent


@pytest.mark.parametrize("capacity", [None, 3.0, 50.0])
def test_memory_chart_dict_is_in_plotlys_validated_form(capacity):
    # run_memory_dict skips go.Figure's validation: every key must already be in the form it leaves (a
    # "marker_color" shorthand or a title=None would be rewritten), the default template included
    import plotly.graph_objects as go

    from ui.figures_gguf import run_memory_dict

    rows = [{"quant": f"Q{i}", "weights": 1.0 + i, "kv": 2.5, "compute": 0.25} for i in range(30)]
    d = run_memory_dict(rows, capacity, "GB", "A <b>GPU</b>")
    assert go.Figure(d).to_dict() == d


@pytest.mark.parametrize("model", ["Meta-Llama-3-8B", "gpt-oss-20b", "Qwen3-Next-80B-A3B"])
def test_file_type_figure_dicts_are_in_plotlys_validated_form(model):
    # the type map (a named colour scale, which validation expands) and the bytes-per-type bars of every file type,
    # with cell labels (<= 16 layers) and without, in GB and GiB
    import plotly.graph_objects as go

    from calc.presets import get_preset
    from ui import memo
    from ui.figures_gguf import bytes_by_type_dict, type_map_dict

    for q in memo.quantize_all_cached(get_preset(model), None).values():
        if isinstance(q, ValueError):
            continue
        for d in (type_map_dict(q), type_map_dict(q, 3), bytes_by_type_dict(q, 1e9, "GB"),
                  bytes_by_type_dict(q, 2**30, "GiB")):
            assert go.Figure(d).to_dict() == d, q.file_type


def test_file_type_table_arrow_is_streamlits_conversion():
    # ui.tables.records_arrow builds the 33-type table straight from its records with a schema kept per
    # records signature (issue 18); it must be the table Streamlit's own conversion of a DataFrame of the same
    # records gives, metadata included, for cards where types fit, split or run on the CPU only, for rows of types
    # the model cannot take (hidden size 100: no block divides it), and for a second context under the kept schema.
    import pandas as pd

    from calc.gguf_run import RunSetup
    from calc.gpus import get_gpu
    from calc.presets import get_preset
    from ui import memo, tables
    from ui.figures_gguf_table import file_type_rows
    from ui.tables import records_arrow

    seen = set()
    odd = ModelSpec.from_hf_config(dict(TINY, hidden_size=100, intermediate_size=300), name="odd")
    for spec in (get_preset("Meta-Llama-3-8B"), odd):
        by_type = memo.quantize_all_cached(spec, None)
        assert (spec is odd) == any(isinstance(r, ValueError) for r in by_type.values())
        for gpu in ("H100 SXM", "T4", "M2 Ultra"):
            for unit in ("GB", "GiB"):
                for context in (512, 65536, 2_000_000):
                    runs = memo.run_memory_all(spec, None, RunSetup(context=context), get_gpu(gpu))
                    rows = file_type_rows(by_type, runs, unit)
                    want = tables.to_arrow(pd.DataFrame(rows))
                    got = records_arrow(rows)
                    assert got.equals(want, check_metadata=True), (spec.name, gpu, unit, context)
                    seen |= {r["fits"].split(":")[0] for r in rows}
    assert seen == {"yes", "split", "no", "yes (unified)", "not possible"}


def test_records_arrow_is_streamlits_conversion_for_every_table_it_builds():
    # the per-kind tensor tables (a row count per file type: the schema's pandas metadata holds it) and the PTQ cost
    # tables at several token counts; a NaN cell or an int beyond int64 takes Streamlit's own path
    import pandas as pd

    from calc.presets import get_preset
    from ui import memo, ptq_cost, tables
    from ui.tables import records_arrow, records_signature

    def same(rows):
        return records_arrow(rows).equals(tables.to_arrow(pd.DataFrame(rows)), check_metadata=True)

    spec = get_preset("Meta-Llama-3-8B")
    for imatrix in (None, True):
        by_type = memo.quantize_all_cached(spec, imatrix)
        assert len({len(q.kind_rows()) for q in by_type.values()}) > 1
        for f, q in by_type.items():
            assert same(q.kind_rows()), f
        bits = tuple((f, q.bits_per_weight) for f, q in by_type.items())
        for d in (1e9, 15e12, 1e15):
            assert same(ptq_cost.cost_rows(ptq_cost.costs_for(ptq_cost.paper_params(spec), d, bits), d)), d
    odd = [{"a": 1.0, "b": 2**63}, {"a": float("nan"), "b": 3}]
    assert records_signature(odd) is None and records_signature(odd[1:]) is None and same(odd) and same(odd[1:])


def test_file_type_view_is_lazy_and_a_link_naming_a_file_type_opens_it():
    # Issue 18: the per-tensor view of one file type is a lazy expander. Closed (a link without ?gq=), the page
    # neither builds nor sends its map, bars and per-kind table; a link naming a file type opens it (the view writes
    # ?gq= once shown, so a shared link shows what its sender saw), and so does opening it (session state).
    import json

    from tests.apptest_helpers import open_page

    def view(at) -> tuple[bool, bool]:
        kinds = any("bytes each" in d.value.columns for d in at.dataframe)
        heatmap = any(t["type"] == "heatmap" for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"])
        return kinds, heatmap

    closed = open_page(PAGE, {"model": "Llama-2-7B"})
    assert not closed.exception and view(closed) == (False, False)
    assert "One file type, tensor by tensor" in [e.label for e in closed.expander]
    assert len(closed.get("plotly_chart")) == 1 and "gq" not in closed.query_params  # the memory chart only
    for at, pick in ((open_page(PAGE, {"model": "Llama-2-7B", "gq": "Q8_0"}), "Q8_0"),
                     (open_page(PAGE, {"model": "Llama-2-7B"}, session={"gx_type": True}), "Q4_K_M")):
        assert not at.exception and view(at) == (True, True)
        assert at.query_params["gq"] == pick


def test_loss_cost_formula_is_lazy():
    # Issue 18: the PTQ loss cost's formula and assumptions are a lazy expander (ui/ptq_cost.py). Closed, no rerun
    # writes or sends them; open, they name this model's N (its non-embedding parameters) and the CLI call.
    from calc.presets import get_preset
    from tests.apptest_helpers import open_page
    from ui.ptq_cost import paper_params

    def formula(at) -> list[str]:
        return [m.value for m in at.markdown if "Scaling Laws for Precision" in m.value]

    closed = open_page(PAGE, {"model": "Llama-2-7B"})
    assert not closed.exception and formula(closed) == []
    # the whole section is a lazy expander on the page (its title), the formula one inside it
    assert "Loss cost of quantizing (Kumar et al. 2024)" in [e.label for e in closed.expander]
    opened = open_page(PAGE, {"model": "Llama-2-7B"}, session={"gx_ptq": True, "gptqd_x": True})
    assert not opened.exception
    n = paper_params(get_preset("Llama-2-7B"))
    (text,) = formula(opened)
    assert f"N = {n:,}" in text and "python -m calc scaling --params" in text
