"""Pure Plotly builders and table shaping for the Validation page (no Streamlit here).

Input is the ``records`` list of ``validate/results.json`` (see ``validate.predict.row``): one dict
per (architecture, formula, case) with ``predicted``, ``measured``, ``error_pct``, ``tolerance_pct``.
"""

from __future__ import annotations

import pandas as pd

from ui.figures_spec import spec
from ui.plot import hline, vline

#: Display order of the formulas (rows of the chart, groups of the table).
FORMULA_ORDER = (
    "Parameters", "Weights", "Gradients", "Optimizer states (AdamW)", "KV cache",
    "Activations saved (decoder layers)", "Activations peak (whole model)",
    "LoRA trainable parameters", "LoRA weights (base + adapters)", "LoRA gradients",
    "LoRA optimizer states (AdamW)", "LoRA activations saved (decoder layers)", "LoRA activations peak (whole model)",
)
ARCH_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def status(rec: dict) -> str:
    """``exact``, ``within ±t%``, ``over tolerance`` or ``no prediction``."""
    if rec["predicted"] is None:
        return "no prediction"
    if rec["predicted"] == rec["measured"]:
        return "exact"
    if rec["ok"]:
        return f"within ±{rec['tolerance_pct']:g}%"
    return "over tolerance"


def formulas_in(records: list[dict]) -> list[str]:
    present = {r["formula"] for r in records}
    return [f for f in FORMULA_ORDER if f in present] + sorted(present - set(FORMULA_ORDER))


def summary(records: list[dict]) -> dict[str, int]:
    """Counts by status: how many comparisons, exact, within tolerance, over, without a prediction."""
    st_ = [status(r) for r in records]
    return {"comparisons": len(records), "exact": st_.count("exact"),
            "within": sum(1 for s in st_ if s.startswith("within")),
            "over": st_.count("over tolerance"), "missing": st_.count("no prediction")}


def records_table(records: list[dict]) -> pd.DataFrame:
    """One row per comparison, in formula order, with the status spelled out."""
    order = {f: i for i, f in enumerate(formulas_in(records))}
    rows = [{"architecture": r["label"], "formula": r["formula"], "case": r["case"], "unit": r["unit"],
             "predicted": r["predicted"], "measured": r["measured"], "error %": r["error_pct"],
             "tolerance %": r["tolerance_pct"], "status": status(r), "calc": r["calc"], "what is measured": r["note"],
             "_order": order[r["formula"]]} for r in records]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values(["_order", "architecture"], kind="stable").drop(columns="_order").reset_index(drop=True)


def formula_table(records: list[dict]) -> pd.DataFrame:
    """Per formula: comparisons, worst |error| and the share within tolerance (how much to trust it)."""
    out = []
    for f in formulas_in(records):
        rs = [r for r in records if r["formula"] == f]
        errs = [abs(r["error_pct"]) for r in rs if r["error_pct"] is not None]
        judged = [r for r in rs if r["ok"] is not None]
        out.append({"formula": f, "comparisons": len(rs), "tolerance %": rs[0]["tolerance_pct"],
                    "worst |error| %": max(errs) if errs else None,
                    "median |error| %": float(pd.Series(errs).median()) if errs else None,
                    "within tolerance": f"{sum(1 for r in judged if r['ok'])} / {len(judged)}"})
    return pd.DataFrame(out)


def error_strip(records: list[dict]) -> dict:
    """Signed error of every comparison, one row per formula, one colour per architecture.

    The shaded band is each formula's tolerance (±10 % for activations, 0 for exact formulas). Written as the dict
    Plotly validates it into (``ui.figures_spec``): a new selection of architectures built it through ``go.Figure``
    and froze it, 16.7 ms of its ~30 ms rerun for the ~40 shapes and 10 traces of today's results (issue 18).
    tests/test_figures_spec.py holds it to Plotly's validation and to the ``go.Figure`` builder it replaces.
    """
    formulas = formulas_in(records)
    shapes = []
    for i, f in enumerate(formulas):
        tol = next(r["tolerance_pct"] for r in records if r["formula"] == f)
        if tol:
            shapes.append({"type": "rect", "x0": -tol, "x1": tol, "y0": i - 0.45, "y1": i + 0.45, "xref": "x",
                           "yref": "y", "fillcolor": "rgba(44,160,44,0.12)", "line": {"width": 0}, "layer": "below"})
    data = []
    archs = list(dict.fromkeys(r["label"] for r in records))
    for j, a in enumerate(archs):
        rs = [r for r in records if r["label"] == a and r["error_pct"] is not None]
        if not rs:
            continue
        offset = (j - (len(archs) - 1) / 2) * 0.09  # dodge: each architecture its own lane in the row
        data.append({
            "type": "scatter", "x": [r["error_pct"] for r in rs],
            "y": [formulas.index(r["formula"]) + offset for r in rs], "mode": "markers", "name": a,
            "marker": {"size": 9, "color": ARCH_COLORS[j % len(ARCH_COLORS)],
                       "symbol": ["circle" if r["ok"] else "x" for r in rs], "line": {"width": 0.5, "color": "white"}},
            "customdata": [[r["formula"], r["case"], f"{r['predicted']:,}", f"{r['measured']:,}", r["unit"]] for r in rs],
            "hovertemplate": ("<b>%{customdata[0]}</b><br>" + a + " · %{customdata[1]}<br>predicted %{customdata[2]}"
                              " %{customdata[4]}<br>measured %{customdata[3]} %{customdata[4]}<br>error %{x:+.2f}%"
                              "<extra></extra>")})
    shapes += [hline(i - 0.5, {"color": "rgba(0,0,0,0.08)", "width": 1}) for i in range(1, len(formulas))]
    shapes.append(vline(0, {"color": "#666", "width": 1}))
    return spec(data, {
        "shapes": shapes,
        "yaxis": {"tickmode": "array", "tickvals": list(range(len(formulas))), "ticktext": formulas,
                  "autorange": "reversed", "range": [len(formulas) - 0.5, -0.5], "showgrid": False},
        "xaxis": {"title": {"text": "error = (predicted − measured) / measured  [%]"}, "zeroline": False,
                  "ticksuffix": "%"},
        "height": 120 + 42 * len(formulas), "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0}})


def layer_bars(run: dict) -> dict:
    """Predicted vs measured saved bytes per decoder layer (and the shared tensors) for one training run, written as
    the dict Plotly validates it into (``ui.figures_spec``; held by tests/test_figures_spec.py): a run not drawn yet
    costs no ``go.Figure`` validation (6 ms of the section's rerun, issue 18)."""
    measured = list(run["saved_layer_bytes"]) + [run["saved_regions"].get("shared", 0)]
    labels = [f"layer {i}" for i in range(len(run["saved_layer_bytes"]))] + ["shared by all layers"]
    data = []
    pred = run.get("predicted_layer_bytes")
    if pred is not None:
        data.append({"type": "bar", "name": "predicted", "x": labels, "y": [*pred, run.get("predicted_shared_bytes") or 0],
                     "marker": {"color": "#1f77b4"}, "hovertemplate": "%{x}: %{y:,} B predicted<extra></extra>"})
    data.append({"type": "bar", "name": "measured", "x": labels, "y": measured, "marker": {"color": "#ff7f0e"},
                 "hovertemplate": "%{x}: %{y:,} B measured<extra></extra>"})
    return spec(data, {"barmode": "group", "yaxis": {"title": {"text": "bytes saved for backward"}}, "height": 340,
                       "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
                       "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0}})


def gpu_table(rows: list[dict]) -> pd.DataFrame:
    """GPU step results (``validate/gpu_step.py``): measured peak against the calculator."""
    return pd.DataFrame([{"configuration": r["name"], "predicted (B)": r["predicted_bytes"],
                          "measured max_memory_allocated (B)": r["measured_bytes"], "error %": r["error_pct"],
                          "device": r.get("device", "")} for r in rows])
