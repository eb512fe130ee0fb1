"""Pure figure builder for comparing scenarios."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.plot import figure


def grouped_bars(names: list[str], metrics: list[str], values: dict[tuple[str, str], float], axis_title: str) -> go.Figure:
    """One group per metric, one bar per scenario. ``names`` and ``metrics`` are drawn as given (Plotly reads
    HTML in them): the Scenarios page passes imported names and labels through ``ui.text.html``."""
    data = [dict(type="bar", name=name, x=list(metrics), y=[values.get((name, m)) for m in metrics])
            for name in names]
    return figure(data, dict(barmode="group", yaxis_title=axis_title,
                             legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                             margin=dict(l=10, r=10, t=40, b=10), height=420))
