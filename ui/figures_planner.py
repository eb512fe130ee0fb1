"""Pure figure builders for the Cluster planner page (no Streamlit here)."""

from __future__ import annotations

from ui.figures_spec import spec

PARTS = (("compute", "Compute", "#4C78A8"), ("memory_bound", "Memory-bound ops", "#9D755D"), ("tp_comm", "TP communication", "#F58518"),
         ("cp_comm", "CP communication", "#E45756"), ("ep_comm", "EP all-to-all", "#72B7B2"),
         ("pp_comm", "Pipeline sends", "#B279A2"), ("bubble", "Pipeline bubble", "#BAB0AC"),
         ("dp_comm", "Exposed DP communication", "#54A24B"), ("optimizer", "Optimizer step", "#EECA3B"))


def step_bars(labels: list[str], breakdowns: list[dict[str, float]], title: str) -> dict:
    """One horizontal stacked bar per layout: its step time by part (seconds), fastest on top.

    Written as the dict Plotly's validation gives (``ui.figures_spec``): the chart changes with nearly every input of
    the page, and building it as a ``go.Figure`` took a fifth of a planner rerun (issue 18); tests/test_figures_spec.py
    holds it to ``go.Figure``."""
    data = [{"type": "bar", "orientation": "h", "name": name, "y": list(labels),
             "x": [float(b.get(key, 0.0)) for b in breakdowns], "marker": {"color": color},
             "hovertemplate": name + ": %{x:.3g} s<extra></extra>"}
            for key, name, color in PARTS if any(b.get(key, 0.0) > 0 for b in breakdowns)]
    return spec(data, {"barmode": "stack", "title": {"text": title}, "height": 140 + 40 * len(labels),
                       "xaxis": {"title": {"text": "seconds per iteration"}}, "yaxis": {"autorange": "reversed"},
                       "legend": {"orientation": "h", "y": -0.3}, "margin": {"l": 10, "r": 10, "t": 50, "b": 10}})
