"""Pure Plotly figure builders for the Serving planner page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go

from calc.units import bytes_in
from ui.plot import figure, hline, vline

_COLORS = {"weights": "#1f77b4", "activation peak": "#ff7f0e", "non-torch": "#7f7f7f", "CUDA graphs": "#9467bd",
           "KV cache": "#2ca02c", "headroom": "#e0e0e0"}


def memory_bar(parts: dict[str, int], total_bytes: int, title: str, unit: str = "GiB") -> go.Figure:
    """One horizontal bar of a GPU's memory in ``unit`` ("GB" = 1e9 B or "GiB" = 2**30 B, the sidebar's choice):
    each part as vLLM lays it out, then the headroom above gpu_memory_utilization."""
    def u(n: float) -> float:
        return bytes_in(max(n, 0), unit)

    data = [{"type": "bar", "orientation": "h", "name": k, "x": [u(v)], "y": ["per GPU"],
             "marker": {"color": _COLORS.get(k, "#bcbd22")},
             "hovertemplate": f"{k}: %{{x:.2f}} {unit}<extra></extra>"}
            for k, v in parts.items()]
    top = u(max(total_bytes, sum(max(v, 0) for v in parts.values())))
    layout = {"barmode": "stack", "title": {"text": title}, "height": 220,
              "xaxis": {"title": unit, "range": [0, top]},
              "yaxis": {"showticklabels": False}, "legend": {"orientation": "h", "y": -0.45},
              "shapes": [vline(u(total_bytes), {"color": "#d62728", "width": 2})],
              "annotations": [{"x": u(total_bytes), "y": 1, "yref": "paper", "xanchor": "right", "yanchor": "bottom",
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
