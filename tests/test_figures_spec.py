"""Figures written directly as dicts (ui/figures_spec.py, issue 18) are what Plotly's own validation makes of them.

The Compute and Training memory pages draw these dicts without building a ``go.Figure``; the reference here is
Plotly itself: ``go.Figure(d)`` validates every trace and layout entry (it rejects an unknown key, turns
``marker_color`` into ``marker: {color}``, a title string into ``{text}``, adds the default template), and
``ui.charts.prepared_dict`` applies what every chart gets before it is drawn. A dict that is not already in that
form comes back different.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from calc.compute import training_flops
from calc.models import ModelSpec, ParamCounts, param_counts
from calc.presets import get_preset
from calc.scaling import EPOCH
from ui import charts
from ui.figures_compute import days_vs_gpus, flops_breakdown
from ui.figures_memory import breakdown_bar_spec, sweep_area_spec
from ui.figures_models import COMPONENT_LABELS, breakdown_bar
from ui.figures_planner import step_bars
from ui.figures_scaling import data_constrained, inference_demand, moe_granularity, overtraining_curve, precision_sweep
from ui.figures_validation import error_strip, layer_bars


def _per_token(recompute: str):
    tf = training_flops(get_preset("Meta-Llama-3-8B"), 2e12, 4096, recompute)
    return tf.per_token, tf.per_token.hardware_training(recompute) - tf.per_token.model_training


COMPS = {"weights": 16.06, "master_weights": 32.1, "gradients": 0.0, "optimizer_states": 64.2,
         "activations": 10.5, "ddp_gradient_buckets": 3.0, "overhead": 1.07}  # an engine buffer has no colour of its own
SEQS = np.unique(np.geomspace(128, 16384, 60).astype(int))


def _counts(*names: str) -> dict[str, ParamCounts]:
    return {n: param_counts(get_preset(n)) for n in names}


def _qwen3vl() -> ParamCounts:
    cfg = json.loads((Path(__file__).parent / "data" / "multimodal" / "qwen3vl_8b.json").read_text())["config"]
    return param_counts(ModelSpec.from_hf_config(cfg))


def _validation_records(archs: int | None = None, inexact: bool = False) -> list[dict]:
    """validate/results.json's records, of its first ``archs`` architectures, the inexact ones only if asked."""
    from validate.harness import RESULTS_PATH

    recs = json.loads(Path(RESULTS_PATH).read_text())["records"]
    keep = list(dict.fromkeys(r["arch"] for r in recs))[:archs]
    return [r for r in recs if r["arch"] in keep and not (inexact and r["predicted"] == r["measured"])]


def _sweep(x):
    return {k: [v * (i + 1) / len(x) for i in range(len(x))] for k, v in COMPS.items()}


CASES = {
    "flops_breakdown": lambda: flops_breakdown(_per_token("none")[0], 2e12, 0.0, title="Where the FLOPs go"),
    "flops_breakdown, full recompute": lambda: flops_breakdown(*_per_token("full")[:1], 2e12, _per_token("full")[1]),
    "flops_breakdown, selective": lambda: flops_breakdown(_per_token("selective")[0], 1e12, _per_token("selective")[1],
                                                          title="t"),
    "days_vs_gpus": lambda: days_vs_gpus(9.6e22, 989e12 * 0.4, 64, "H100 SXM", title="Days against GPU count"),
    "days_vs_gpus, one GPU": lambda: days_vs_gpus(1e18, 1e12, 1, "A <b>"),
    "breakdown_bar_spec": lambda: breakdown_bar_spec(COMPS, 80.0, "GB", "H100 <i>SXM</i>"),
    "breakdown_bar_spec, roomy": lambda: breakdown_bar_spec(COMPS, 800.0, "GiB", "B200"),
    "sweep_area_spec, log": lambda: sweep_area_spec(SEQS, _sweep(SEQS), 80.0, "GB", "sequence length (tokens)", 4096,
                                                    log_x=True, title="Against sequence length, micro-batch 1"),
    "sweep_area_spec, linear": lambda: sweep_area_spec(np.arange(1, 33), _sweep(range(32)), 80.0, "GB",
                                                       "micro-batch per GPU", 8, title="t"),
    "sweep_area_spec, empty": lambda: sweep_area_spec([], {"weights": []}, 5.0, "GB", "x", log_x=True),
    "step_bars": lambda: step_bars(["#1 tp8 pp1", "#2 tp4 pp2"], [{"compute": 1.2, "tp_comm": 0.1, "bubble": 0.0},
                                                                  {"compute": 1.25, "bubble": 0.05, "dp_comm": 0.01}],
                                   "Llama <b>3</b> on 64 x H100 SXM: time of one iteration"),
    "step_bars, one layout": lambda: step_bars(["#1"], [{"compute": np.float64(2.0), "optimizer": 0.01}], "t"),
    # the Scaling page's charts that change with the budget (issue 18): NumPy arrays in, Python lists out
    "data_constrained": lambda: data_constrained(np.geomspace(1e20, 1e26, 25), np.linspace(2.4, 1.9, 25),
                                                 np.linspace(2.39, 1.85, 25), np.linspace(1, 9, 25),
                                                 np.geomspace(1e9, 1e12, 25), 1e23, 1.2e12),
    "inference_demand": lambda: inference_demand(np.geomspace(1e9, 1e15, 40), np.geomspace(7e10, 9e9, 40),
                                                 np.linspace(0.0, 0.3, 40), 7e10, np.float64(2e12)),
    "moe_granularity": lambda: moe_granularity(tuple((float(2 ** i), 2.1 - i / 100) for i in range(7)), 2.12, 16.0),
    "precision_sweep": lambda: precision_sweep(np.linspace(4.0, 16.0, 49), np.linspace(2.6, 2.5, 49), 7.03, 16.0),
    "overtraining_curve": lambda: overtraining_curve(EPOCH, 8.03e9, 15e12, "epoch"),
    "overtraining_curve, short run": lambda: overtraining_curve(EPOCH, 7e10, 1e9, "<b>x</b>"),
    # the Validation page's per-layer bars (a run of validate/results.json's shape, with and without a prediction)
    "layer_bars": lambda: layer_bars({"saved_layer_bytes": [1024, 1024, 2048], "saved_regions": {"shared": 96},
                                      "predicted_layer_bytes": [1000, 1000, 2100], "predicted_shared_bytes": None}),
    "layer_bars, no prediction": lambda: layer_bars({"saved_layer_bytes": [5], "saved_regions": {}}),
    # the Validation page's error strip for a selection of architectures (validate/results.json's records)
    "error_strip": lambda: error_strip(_validation_records()),
    "error_strip, two architectures, inexact only": lambda: error_strip(_validation_records(2, inexact=True)),
    # the Models page's comparison (issue 18): dense, MoE, MLA, and a multimodal model's towers each their own bar
    "breakdown_bar": lambda: breakdown_bar(_counts("Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "DeepSeek-V3")),
    "breakdown_bar, towers": lambda: breakdown_bar({"Qwen3-VL <b>8B</b>": _qwen3vl(), **_counts("Meta-Llama-3-8B")}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_written_figure_is_what_plotly_validates_it_into(name):
    d = CASES[name]()
    assert charts.prepared_dict(go.Figure(d)) == d


def test_the_legend_below_a_bar_moves_to_the_figure_bottom_as_charts_prepare_does():
    """``ui.charts.prepare`` moves a horizontal legend placed below the plot to the container's bottom; the written
    dict does the same (else the legend covers the axis at 390 px, see ui/charts.legend_clear_of_axis)."""
    d = CASES["breakdown_bar_spec"]()
    assert d["layout"]["legend"] == {"orientation": "h", "y": 0, "yref": "container", "yanchor": "bottom",
                                     "traceorder": "normal"}
    assert d["layout"]["modebar"]["remove"] == charts.TOOLBAR_REMOVED


def _breakdown_bar_before(named_counts: dict[str, ParamCounts]) -> go.Figure:
    """ui/figures_models.py's ``breakdown_bar`` as it was at 9a1e970 (a ``go.Figure``), verbatim but for the import."""
    from ui.text import html

    names = list(named_counts)
    components = {n: named_counts[n].components() for n in names}
    shown = [html(n) for n in names]
    data = []
    towers = {n: dict(named_counts[n].tower_parts) for n in names}
    for comp, label in COMPONENT_LABELS.items():
        if comp == "towers":
            parts = [(f"{t[:1].upper()}{t[1:]} tower" if "projector" not in t else t.capitalize(), t)
                     for t in dict.fromkeys(t for n in names for t in towers[n])]
            series = [(lbl, [towers[n].get(t, 0) / 1e9 for n in names]) for lbl, t in parts]
        else:
            series = [(label, [components[n][comp] / 1e9 for n in names])]
        for lbl, values in series:
            if any(values):
                data.append(dict(type="bar", name=lbl, y=shown, x=values, orientation="h",
                                 hovertemplate="%{y}<br>" + lbl + ": %{x:.3f} B<extra></extra>"))
    return go.Figure({"data": data, "layout": dict(
        barmode="stack", xaxis_title="parameters (billions)", height=160 + 45 * len(names),
        legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=20, b=10), title=None)})


@pytest.mark.parametrize("models", [("Meta-Llama-3-8B",), ("Meta-Llama-3-8B", "Mistral-7B-v0.1", "Mixtral-8x7B-v0.1"),
                                    ("DeepSeek-V3", "Kimi-K2", "Llama-2-7B", "Qwen3-8B", "GPT-2", "Qwen3-Next-80B-A3B", "Jamba-v0.1"), "towers"])
def test_the_models_chart_is_the_figure_the_browser_got_before(models):
    """What the Models page sends for a comparison (``FrozenFigure``'s dict) is what the ``go.Figure`` builder gave."""
    counts = {"Qwen3-VL <b>8B</b>": _qwen3vl(), "Mixtral-8x7B-v0.1": _counts("Mixtral-8x7B-v0.1")["Mixtral-8x7B-v0.1"]} \
        if models == "towers" else _counts(*models)
    before = charts.FrozenFigure.freeze(_breakdown_bar_before(counts)).to_dict()
    assert charts.FrozenFigure.from_dict(breakdown_bar(counts)).to_dict() == before


def _error_strip_before(records: list[dict]) -> go.Figure:
    """ui/figures_validation.py's ``error_strip`` as it was at 9a1e970 (a ``go.Figure``), verbatim but for its
    docstring and imports."""
    from ui.figures_validation import ARCH_COLORS, formulas_in
    from ui.plot import figure, hline, vline

    formulas = formulas_in(records)
    shapes = []
    for i, f in enumerate(formulas):
        tol = next(r["tolerance_pct"] for r in records if r["formula"] == f)
        if tol:
            shapes.append(dict(type="rect", x0=-tol, x1=tol, y0=i - 0.45, y1=i + 0.45, xref="x", yref="y",
                               fillcolor="rgba(44,160,44,0.12)", line_width=0, layer="below"))
    data = []
    archs = list(dict.fromkeys(r["label"] for r in records))
    for j, a in enumerate(archs):
        rs = [r for r in records if r["label"] == a and r["error_pct"] is not None]
        if not rs:
            continue
        offset = (j - (len(archs) - 1) / 2) * 0.09  # dodge: each architecture its own lane in the row
        data.append(dict(
            type="scatter", x=[r["error_pct"] for r in rs], y=[formulas.index(r["formula"]) + offset for r in rs],
            mode="markers", name=a, marker=dict(size=9, color=ARCH_COLORS[j % len(ARCH_COLORS)],
                                                symbol=["circle" if r["ok"] else "x" for r in rs],
                                                line=dict(width=0.5, color="white")),
            customdata=[[r["formula"], r["case"], f"{r['predicted']:,}", f"{r['measured']:,}", r["unit"]] for r in rs],
            hovertemplate=("<b>%{customdata[0]}</b><br>" + a + " · %{customdata[1]}<br>predicted %{customdata[2]}"
                           " %{customdata[4]}<br>measured %{customdata[3]} %{customdata[4]}<br>error %{x:+.2f}%"
                           "<extra></extra>")))
    shapes += [hline(i - 0.5, dict(color="rgba(0,0,0,0.08)", width=1)) for i in range(1, len(formulas))]
    shapes.append(vline(0, dict(color="#666", width=1)))
    return figure(data, dict(
        shapes=shapes,
        yaxis=dict(tickmode="array", tickvals=list(range(len(formulas))), ticktext=formulas,
                   autorange="reversed", range=[len(formulas) - 0.5, -0.5], showgrid=False),
        xaxis=dict(title="error = (predicted − measured) / measured  [%]", zeroline=False, ticksuffix="%"),
        height=120 + 42 * len(formulas), margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0)))


@pytest.mark.parametrize("archs, inexact", [(None, False), (None, True), (1, False), (3, True), (7, False)])
def test_the_validation_error_strip_is_the_figure_the_browser_got_before(archs, inexact):
    """What the Validation page sends for a selection (``FrozenFigure``'s dict) is what the ``go.Figure`` builder
    gave: shapes, traces, hover texts and axes."""
    recs = _validation_records(archs, inexact)
    before = charts.FrozenFigure.freeze(_error_strip_before(recs)).to_dict()
    assert charts.FrozenFigure.from_dict(error_strip(recs)).to_dict() == before
