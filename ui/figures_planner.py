"""Pure Plotly figure builders for the Cluster planner page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.plot import figure

PARTS = (("compute", "Compute", "#4C78A8"), ("memory_bound", "Memory-bound ops", "#9D755D"), ("tp_comm", "TP communication", "#F58518"),
         ("cp_comm", "CP communication", "#E45756"), ("ep_comm", "EP all-to-all", "#72B7B2"),
         ("pp_comm", "Pipeline sends", "#B279A2"), ("bubble", "Pipeline bubble", "#BAB0AC"),
         ("dp_comm", "Exposed DP communication", "#54A24B"), ("optimizer", "Optimizer step", "#EECA3B"))


def step_bars(labels: list[str], breakdowns: list[dict[str, float]], title: str) -> go.Figure:
    """One horizontal stacked bar per layout: its step time by part (seconds), fastest on top."""
    data = [dict(type="bar", orientation="h", name=name, y=labels, x=[b.get(key, 0.0) for b in breakdowns],
                 marker_color=color, hovertemplate=name + ": %{x:.3g} s<extra></extra>")
            for key, name, color in PARTS if any(b.get(key, 0.0) > 0 for b in breakdowns)]
    return figure(data, dict(barmode="stack", title=dict(text=title), height=140 + 40 * len(labels),
                             xaxis_title="seconds per iteration", yaxis=dict(autorange="reversed"),
                             legend_orientation="h", legend_y=-0.3, margin=dict(l=10, r=10, t=50, b=10)))
