"""The per-input caches and fragments of the Scaling, Validation and Quantization pages (issue 18) follow their inputs.

Each section's result is kept per input (``ui.memo`` / ``tables.arrow`` / ``charts.cached``) or reruns as an
``st.fragment``; a key that missed an input would show the previous input's numbers. Every test changes one input
in the same session (caches warm) and compares the page with an independent computation for the new value: the
paper's formula called directly, or ``validate/results.json`` as the harness wrote it.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from calc import scaling_precision
from calc.scaling import get_fit, inference_aware_optimum, optimum
from calc.scaling_bands import inference_aware_band, samples_for
from tests.apptest_helpers import open_page
from validate.harness import RESULTS_PATH

TIMEOUT = 120
#: Llama-2-7B's N as Kumar et al. count it: 6,738,415,616 published (REFERENCE.md) less the 32000 x 4096 token
#: embeddings and the untied 32000 x 4096 head.
LLAMA2_7B_NON_EMBEDDING = 6_738_415_616 - 2 * 32000 * 4096


def _array(v) -> np.ndarray:
    """A Plotly JSON array: a list, or Plotly 6's typed array ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def _ptq_table(at):
    frames = [d.value for d in at.dataframe if "loss cost (nats)" in d.value.columns]
    assert len(frames) == 1
    return frames[0].set_index("file type")


def test_quantization_loss_cost_follows_the_token_count():
    """The PTQ section (a fragment; its costs and table kept per N, D and formats) shows D's costs after D changes,
    and the first D's again after it changes back (Kumar et al. 2024 eq. 2 called directly for each)."""
    at = open_page("app_pages/quantization.py", {"model": "Llama-2-7B", "gpu": "RTX 4090", "gptqd": "2.0"},
                   timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    bpw = float(at.dataframe[0].value.set_index("file type").loc["Q4_K_M", "bits/weight"])
    for tokens_t in (2.0, 15.0, 2.0):
        at.number_input(key="gptqd").set_value(tokens_t).run()
        assert not at.exception, [e.value for e in at.exception]
        row = _ptq_table(at).loc["Q4_K_M"]
        want = scaling_precision.ptq_cost(LLAMA2_7B_NON_EMBEDDING, tokens_t * 1e12, bpw)
        assert row["loss cost (nats)"] == pytest.approx(want.degradation, rel=1e-12), tokens_t
        assert row["more data hurts past (tokens)"] == pytest.approx(want.critical_tokens, rel=1e-12)
        assert row["trained past that"] == ("yes" if tokens_t * 1e12 > want.critical_tokens else "no")


def test_quantization_kind_table_follows_the_file_type():
    """The per-kind tensor table (kept per file type's result) sums to that file type's payload: Q8_0 then Q4_K_M
    then Q8_0 again, each against the GGUF table's own "payload bytes" column."""
    at = open_page("app_pages/quantization.py", {"model": "Llama-2-7B", "gq": "Q8_0"}, timeout_s=TIMEOUT)
    payload = at.dataframe[0].value.set_index("file type")["payload bytes"]
    for ftype in ("Q8_0", "Q4_K_M", "Q8_0"):
        at.selectbox(key="gq").set_value(ftype).run()
        assert not at.exception, [e.value for e in at.exception]
        kinds = next(d.value for d in at.dataframe if "bytes each" in d.value.columns)
        assert int(kinds["bytes"].sum()) == int(payload[ftype]), ftype
    assert payload["Q8_0"] != payload["Q4_K_M"]


def test_validation_sections_follow_their_inputs():
    """The comparisons fragment narrows to the inexact rows when asked, and the per-layer fragment shows the picked
    architecture's measured bytes per layer: both against validate/results.json read here."""
    doc = json.loads(RESULTS_PATH.read_text())
    records = doc["records"]
    # 'Every comparison' is a lazy expander (issue 18): opened here
    at = open_page("app_pages/validation.py", session={"v_xevery": True}, timeout_s=TIMEOUT)
    assert len(at.dataframe[1].value) == len(records)
    at.toggle(key="v_off").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    inexact = [r for r in records if r["predicted"] != r["measured"]]
    assert 0 < len(inexact) < len(records)
    assert len(at.dataframe[1].value) == len(inexact)
    by_key = {m["key"]: m for m in doc["measurements"]}
    for arch in ("gpt2", "qwen2", "gpt2"):
        at.selectbox(key="v_larch").set_value(arch).run()
        assert not at.exception, [e.value for e in at.exception]
        run = by_key[arch]["training"][0]
        bars = [c for c in at.get("plotly_chart") if '"measured"' in c.proto.spec and "bytes saved" in c.proto.spec]
        assert len(bars) == 1
        measured = next(t for t in json.loads(bars[0].proto.spec)["data"] if t["name"] == "measured")
        want = [*run["saved_layer_bytes"], run["saved_regions"].get("shared", 0)]
        assert _array(measured["y"]).tolist() == want, arch
    assert by_key["gpt2"]["training"][0]["saved_layer_bytes"] != by_key["qwen2"]["training"][0]["saved_layer_bytes"]


def _inference_sweep_y(at) -> np.ndarray:
    charts = [c for c in at.get("plotly_chart") if "expected inference tokens" in c.proto.spec]
    assert len(charts) == 1
    return _array(json.loads(charts[0].proto.spec)["data"][0]["y"])


def test_scaling_inference_band_and_sweep_follow_demand_and_law():
    """Inference demand: the band (kept per law, budget and demand) and the demand sweep (kept per law and budget)
    change with the demand and the law typed; each against Sardana et al. eq. 2 solved here on the Epoch refits."""
    budget = 1e23
    at = open_page("app_pages/scaling.py", {"sbs": "FLOPs", "sc": "1e23", "sq": "Inference demand → model",
                                            "sil": "epoch", "sinf": "2000"}, timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    demand = np.geomspace(1e9, 1e16, 29)
    for key, inf_b in (("epoch", 2000.0), ("epoch", 5e6), ("hoffmann", 5e6), ("epoch", 2000.0)):
        at.selectbox(key="sil").set_value(key).run()
        at.number_input(key="sinf").set_value(inf_b).run()
        assert not at.exception, [e.value for e in at.exception]
        fit = get_fit(key)
        target = optimum(fit, budget).loss
        want = [inference_aware_optimum(fit, target, t).params for t in demand]
        np.testing.assert_allclose(_inference_sweep_y(at), want, rtol=1e-12, err_msg=key)
        band = [c.value for c in at.caption if "each with its own target loss" in c.value]
        if samples_for(key) is None:
            assert not band
            continue
        ib = inference_aware_band(samples_for(key), budget, inf_b * 1e9)
        assert len(band) == 1 and f"saving {ib.saving_low:.1%} to {ib.saving_high:.1%}" in band[0], (key, inf_b)


def test_scaling_own_fit_follows_the_refit_count():
    """Fit my own runs: the fit (kept per file content and refit count) shows the refit count's intervals after it
    changes, against ``calc.fit.fit_loss`` run here on the same example file."""
    from calc.fit import fit_loss, parse_runs_csv
    from tests.conftest import ROOT

    runs = parse_runs_csv((ROOT / "examples" / "synthetic_runs_epoch.csv").read_bytes())
    at = open_page("app_pages/scaling.py", {"sbs": "FLOPs", "sc": "1e23", "sq": "Fit my own runs", "sex": "1",
                                            "sbn": "20"}, timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    seen = set()
    for n_boot in (20, 60, 35, 90, 20):  # 35: a slice of the 60 refits made, 90: grown from them
        at.number_input(key="sbn").set_value(n_boot).run()
        assert not at.exception and not at.error, [e.value for e in at.exception or at.error]
        table = next(d.value for d in at.dataframe if "constant" in d.value.columns).set_index("constant")
        want = fit_loss(runs, n_bootstrap=n_boot).intervals["alpha"]
        assert table.loc["alpha", "10th pct"] == pytest.approx(want[0], rel=1e-9), n_boot
        assert table.loc["alpha", "90th pct"] == pytest.approx(want[1], rel=1e-9), n_boot
        seen.add(table.loc["alpha", "10th pct"])
    assert len(seen) == 4  # 20, 60, 35 and 90 refits give different intervals: the test can tell them apart


def _chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_scaling_budget_table_band_and_lazy_curves_follow_the_budget():
    """Budget → model: the fits' table (kept per budget) shows each budget's optima and Epoch band, the frontier's
    Epoch band (computed once for every budget) is ``frontier_band`` over the chart's 120 budgets, and the iso-FLOP
    curves, drawn only while their expander is open, hold the curve of the budget typed."""
    from calc.scaling_bands import frontier_band, optimum_band

    at = open_page("app_pages/scaling.py", {"sbs": "FLOPs", "sc": "1e23"}, timeout_s=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    assert all(s["data"][0]["type"] != "contour" for s in _chart_specs(at))  # closed: its charts are not built
    at.session_state["sx_curves"] = True  # open the expander, as a click does
    epoch = get_fit("epoch")
    for budget in (1e23, 3.3e24, 1e23):
        at.number_input(key="sc").set_value(budget).run()
        assert not at.exception, [e.value for e in at.exception]
        row = at.dataframe[0].value.set_index("fit").loc[epoch.label]
        o, band = optimum(epoch, budget), optimum_band(samples_for("epoch"), budget)
        assert row["params N"] == f"{o.params:.3e}" and row["params 10%"] == f"{band.params_low:.3e}", budget
        specs = _chart_specs(at)
        front = next(s for s in specs if s["layout"].get("yaxis", {}).get("title", {}).get("text") ==
                     "compute-optimal parameters N")
        shaded = next(t for t in front["data"] if t.get("fill") == "toself")
        lo, hi = frontier_band(samples_for("epoch"), np.geomspace(1e18, 1e27, 120))
        np.testing.assert_allclose(_array(shaded["y"]), np.concatenate([hi, lo[::-1]]), rtol=1e-12)
        assert [s for s in specs if s["data"][0]["type"] == "contour"]  # the expander is open: its charts are drawn
        names = {t.get("name") for s in specs for t in s["data"]}
        assert f"C = {budget:.2g}" in names, (budget, names)


def test_quantization_table_follows_the_context():
    """The file-type table (its Arrow form kept per model, importance matrix, run setup, GPU and unit) shows each
    context's memory: from 4,096 to 12,288 tokens Llama-2-7B's f16 KV cache grows by 2 (K, V) x 32 layers x 4,096
    (32 heads x 128) x 8,192 tokens x 2 B (REFERENCE.md's KV formula) and nothing else changes (the compute buffer
    with flash attention does not depend on the context), for every file type that runs on the H200."""
    at = open_page("app_pages/quantization.py", {"model": "Llama-2-7B", "gpu": "H200", "units": "GB"},
                   timeout_s=TIMEOUT)
    memory = {}
    for ctx in (4096, 12288, 4096):
        at.number_input(key="gctx").set_value(ctx).run()
        assert not at.exception, [e.value for e in at.exception]
        table = at.dataframe[0].value.set_index("file type")
        assert (table["fits"] == "yes").all()
        memory.setdefault(ctx, table["run memory (GB)"])
        assert table["run memory (GB)"].equals(memory[ctx]), ctx  # the first context's numbers again
    grown = (memory[12288] - memory[4096]) * 1e9
    np.testing.assert_allclose(grown, 2 * 32 * 4096 * 8192 * 2, rtol=1e-9)


def test_scaling_frontier_at_a_budget_is_the_figure_built_for_it():
    """The frontier chart is built once without a budget and each budget's line and label are added to its dict
    (``with_layout``): the JSON sent equals the figure ``frontier`` builds for that budget (Plotly's validation and
    ``to_dict``), for two budgets in one session."""
    import plotly.io as pio

    from calc.scaling import FIT_KEYS, KNOWN_RUNS
    from calc.scaling_bands import frontier_band
    from ui import charts
    from ui.figures_scaling import frontier

    fits = [get_fit(k) for k in FIT_KEYS]
    at = open_page("app_pages/scaling.py", {"sbs": "FLOPs", "sc": "1e23"}, timeout_s=TIMEOUT)
    for budget in (1e23, 4.5e25):
        at.number_input(key="sc").set_value(budget).run()
        assert not at.exception, [e.value for e in at.exception]
        shown = next(s for s in _chart_specs(at) if any(t.get("name") == "published models" for t in s["data"]))
        built = frontier(fits, KNOWN_RUNS, budget, bands={"epoch": lambda c: frontier_band(samples_for("epoch"), c)})
        want = json.loads(pio.to_json(charts.prepared_dict(built), validate=False))
        assert shown == want, budget
        assert shown["layout"]["shapes"][0]["x0"] == budget
