"""Pure table and figure builders for the training engines (Training memory and Validation pages); no ``st.``."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui import text
from ui.figures_memory import LABELS


# ----- Validation page: the real engines -----------------------------------------------------------------
def sharded_summary(records: list[dict]) -> dict[str, int]:
    return {"comparisons": len(records), "within": sum(1 for r in records if r["ok"]),
            "over": sum(1 for r in records if not r["ok"]),
            "ranks": len({(r["arch"], r["case"], r["world"], r["rank"]) for r in records})}


def sharded_table(records: list[dict]) -> pd.DataFrame:
    """Every rank's comparison: predicted, tracker, profiler, errors."""
    return pd.DataFrame([{
        "model": r["label"], "engine case": r["case_label"], "ranks": r["world"], "rank": r["rank"],
        "quantity": r["quantity"], "predicted": r["predicted"], "measured (tracker)": r["measured"],
        "error %": r["error_pct"], "measured (allocator)": r["profiler"], "allocator error %": r["profiler_error_pct"],
        "tolerance %": r["tolerance_pct"], "within": "yes" if r["ok"] else "NO",
        "predicted moment": r["predicted_phase"]} for r in records])


def sharded_strip(records: list[dict]) -> go.Figure:
    """Signed error of every rank's prediction, one marker per rank, grouped by engine case."""
    fig = go.Figure()
    for quantity, symbol in (("states between steps", "circle"), ("step peak", "diamond")):
        rows = [r for r in records if r["quantity"] == quantity]
        fig.add_scatter(x=[r["error_pct"] for r in rows], y=[text.html(r["case_label"]) for r in rows],
                        mode="markers", name=quantity, marker_symbol=symbol, marker_size=8,
                        customdata=[[text.html(r["label"]), r["world"], r["rank"]] for r in rows],
                        hovertemplate="%{customdata[0]}, %{customdata[1]} ranks, rank %{customdata[2]}: "
                                      "%{x:+.2f}%<extra></extra>")
    fig.add_vrect(x0=-10, x1=10, fillcolor="green", opacity=0.07, line_width=0)
    fig.update_layout(height=120 + 28 * len({r["case"] for r in records}), xaxis_title="error % (predicted vs tracker)",
                      legend_orientation="h", legend_y=-0.25, margin=dict(l=10, r=10, t=20, b=10))
    return fig


def peak_parts_table(records: list[dict], size) -> pd.DataFrame:
    """What was alive at each measured peak (by kind) beside the prediction's components, rank 0."""
    rows = []
    for r in records:
        if r["quantity"] != "step peak" or r["rank"] != 0:
            continue
        measured = ", ".join(f"{k.replace('_', ' ')} {size(v)}" for k, v in r["measured_by_kind"].items() if v)
        predicted = ", ".join(f"{LABELS.get(k, k)} {size(v)}" for k, v in r["predicted_components"].items() if v)
        rows.append({"model": r["label"], "engine case": r["case_label"], "ranks": r["world"],
                     "measured at the peak": measured, "predicted": predicted})
    return pd.DataFrame(rows)
