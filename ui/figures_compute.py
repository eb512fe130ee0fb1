"""Pure Plotly figure builders for the Compute and cost page (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from calc.compute import SECONDS_PER_DAY, FlopsPerToken
from ui.plot import figure

_PARTS = (("layers_matmul", "Layer matmuls (2 x active params)", "#4C78A8"),
          ("attention_scores", "Attention scores (QK^T, softmax x V)", "#F58518"),
          ("lm_head", "Output head (2 V h)", "#54A24B"))


def flops_breakdown(per_token: FlopsPerToken, tokens: float, recompute_extra: float) -> go.Figure:
    """Stacked bar: training FLOPs by part (x3 for forward + backward), plus what recompute adds."""
    data = [dict(type="bar", name=label, y=["training"], x=[3.0 * getattr(per_token, attr) * tokens], orientation="h",
                 marker_color=color, hovertemplate=label + ": %{x:.3e} FLOPs<extra></extra>")
            for attr, label, color in _PARTS]
    if recompute_extra > 0:
        data.append(dict(type="bar", name="Recomputed forward (hardware only)", y=["training"],
                         x=[recompute_extra * tokens], orientation="h", marker_color="#B0B0B0",
                         marker_pattern_shape="/", hovertemplate="recompute: %{x:.3e} FLOPs<extra></extra>"))
    return figure(data, dict(barmode="stack", height=190, xaxis_title="FLOPs", xaxis_tickformat=".1e",
                             legend_orientation="h", legend_y=-0.6, margin=dict(l=10, r=10, t=10, b=10)))


def days_vs_gpus(flops: float, flops_per_s_per_gpu: float, chosen_gpus: int, label: str) -> go.Figure:
    """Wall-clock days against GPU count (ideal linear scaling), the chosen count marked."""
    hi = max(chosen_gpus * 16, 64)
    counts = np.unique(np.geomspace(1, hi, 200).round().astype(int))
    days = flops / (counts * flops_per_s_per_gpu * SECONDS_PER_DAY)
    chosen_days = flops / (chosen_gpus * flops_per_s_per_gpu * SECONDS_PER_DAY)
    # lists, not NumPy arrays: Plotly's validation of the arrays took ~5x as long (issue 18); the JSON is the same
    data = [dict(type="scatter", x=counts.tolist(), y=days.tolist(), mode="lines", name=label,
                 hovertemplate="%{x} GPUs: %{y:.3g} days<extra></extra>"),
            dict(type="scatter", x=[chosen_gpus], y=[chosen_days], mode="markers+text", name="chosen",
                 text=[f"{chosen_gpus:,} GPUs: {chosen_days:.3g} days"], textposition="top right",
                 marker=dict(size=11, color="#E45756"), showlegend=False)]
    lo_d, hi_d = float(days.min()), float(days.max())
    for d, name in ((1, "1 day"), (30, "30 days"), (365, "1 year")):
        if lo_d <= d <= hi_d:  # shapes (add_hline) take log10 coordinates on log axes; a trace does not
            data.append(dict(type="scatter", x=[int(counts[0]), int(counts[-1])], y=[d, d], mode="lines+text", text=[name, ""],
                             textposition="top right", line=dict(color="#999", dash="dot", width=1),
                             hoverinfo="skip", showlegend=False))
    return figure(data, dict(xaxis_type="log", yaxis_type="log", xaxis_title="GPUs", yaxis_title="wall-clock days",
                             height=340, showlegend=False, margin=dict(l=10, r=10, t=10, b=10)))
