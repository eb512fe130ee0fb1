"""Pure Plotly figure builders for the Serving planner page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go

from calc.units import GIB
from ui.plot import figure, hline, vline

_COLORS = {"weights": "#1f77b4", "activation peak": "#ff7f0e", "non-torch": "#7f7f7f", "CUDA graphs": "#9467bd",
           "KV cache": "#2ca02c", "headroom": "#e0e0e0"}


def memory_bar(parts: dict[str, int], total_bytes: int, title: str) -> go.Figure:
    """One horizontal bar of a GPU's memory in GiB: each part as vLLM lays it out, then the headroom above
    gpu_memory_utilization."""
    data = [{"type": "bar", "orientation": "h", "name": k, "x": [max(v, 0) / GIB], "y": ["per GPU"],
             "marker": {"color": _COLORS.get(k, "#bcbd22")}, "hovertemplate": f"{k}: %{{x:.2f}} GiB<extra></extra>"}
            for k, v in parts.items()]
    layout = {"barmode": "stack", "title": {"text": title}, "height": 220,
              "xaxis": {"title": "GiB", "range": [0, max(total_bytes, sum(max(v, 0) for v in parts.values())) / GIB]},
              "yaxis": {"showticklabels": False}, "legend": {"orientation": "h", "y": -0.45},
              "shapes": [vline(total_bytes / GIB, {"color": "#d62728", "width": 2})],
              "annotations": [{"x": total_bytes / GIB, "y": 1, "yref": "paper", "xanchor": "right", "yanchor": "bottom",
                               "text": "GPU memory ", "showarrow": False, "font": {"color": "#d62728"}}],
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}}
    return figure(data, layout)


def latency_vs_rate(rates, ttft_p99, tpot_p99, slo_ttft: float | None, slo_tpot: float | None,
                    title: str) -> go.Figure:
    """p99 time to first token and time per output token against the request rate (log y), with the SLOs."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": "TTFT p99", "x": list(rates), "y": list(ttft_p99),
             "hovertemplate": "%{x:.3g} req/s: TTFT p99 %{y:.3g} s<extra></extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "TPOT p99", "x": list(rates), "y": list(tpot_p99),
             "hovertemplate": "%{x:.3g} req/s: TPOT p99 %{y:.3g} s<extra></extra>"}]
    shapes = [hline(v, {"color": c, "dash": "dot"}) for v, c in ((slo_ttft, "#1f77b4"), (slo_tpot, "#ff7f0e")) if v]
    layout = {"title": {"text": title}, "xaxis": {"title": "requests per second (all replicas)"},
              "yaxis": {"title": "seconds (p99)", "type": "log", "dtick": 1, "tickformat": "~g"}, "shapes": shapes,
              "legend": {"orientation": "h", "y": -0.25}}
    return figure(data, layout)
