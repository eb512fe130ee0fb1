"""Figures of the Compute and cost page, as dicts (ui/figures_spec.py: no Plotly validation; no Streamlit here)."""

from __future__ import annotations

import functools

import numpy as np

from calc.compute import SECONDS_PER_DAY, FlopsPerToken
from ui.figures_spec import spec

_PARTS = (("layers_matmul", "Layer matmuls (2 x active params)", "#4C78A8"),
          ("attention_scores", "Attention scores (QK^T, softmax x V)", "#F58518"),
          ("lm_head", "Output head (2 V h)", "#54A24B"))


def _title(title: str) -> dict:
    return {"text": title, "font": {"size": 14}}


def flops_breakdown(per_token: FlopsPerToken, tokens: float, recompute_extra: float, title: str = "") -> dict:
    """Stacked bar: training FLOPs by part (x3 for forward + backward), plus what recompute adds; ``title`` above it."""
    data = [{"type": "bar", "name": label, "y": ["training"], "x": [3.0 * float(getattr(per_token, attr)) * tokens],
             "orientation": "h", "marker": {"color": color}, "hovertemplate": label + ": %{x:.3e} FLOPs<extra></extra>"}
            for attr, label, color in _PARTS]
    if recompute_extra > 0:
        data.append({"type": "bar", "name": "Recomputed forward (hardware only)", "y": ["training"],
                     "x": [float(recompute_extra) * tokens], "orientation": "h",
                     "marker": {"color": "#B0B0B0", "pattern": {"shape": "/"}},
                     "hovertemplate": "recompute: %{x:.3e} FLOPs<extra></extra>"})
    # 250 px with a title: the bar keeps at least 60 px above its legend at 390 and 1,400 px wide (measured by
    # tests/test_browser_newcomer.py; the title's 30 px came out of the plot at the former height)
    return spec(data, {"barmode": "stack", "height": 250 if title else 190,
                       "xaxis": {"title": {"text": "FLOPs"}, "tickformat": ".1e"},
                       "legend": {"orientation": "h", "y": -0.6}, "title": _title(title),
                       "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}})


@functools.lru_cache(maxsize=256)
def _gpu_counts(hi: int) -> tuple[np.ndarray, list[int]]:
    """Up to 200 whole GPU counts from 1 to ``hi``, evenly spaced on a log axis, as an array (read only) and as the
    list the chart's x holds: the same for every input but the GPU count (``np.unique`` of the grid was a third of
    building the chart, py-spy; issue 18)."""
    counts = np.unique(np.geomspace(1, hi, 200).round().astype(int))
    counts.setflags(write=False)
    return counts, counts.tolist()


def days_vs_gpus(flops: float, flops_per_s_per_gpu: float, chosen_gpus: int, label: str, title: str = "") -> dict:
    """Wall-clock days against GPU count (ideal linear scaling), the chosen count marked; ``title`` above it."""
    counts, counts_list = _gpu_counts(max(int(chosen_gpus) * 16, 64))
    days = flops / (counts * flops_per_s_per_gpu * SECONDS_PER_DAY)
    chosen_days = float(flops / (chosen_gpus * flops_per_s_per_gpu * SECONDS_PER_DAY))
    # lists, not NumPy arrays: Plotly's validation of the arrays took ~5x as long (issue 18); the JSON is the same
    data = [{"type": "scatter", "x": counts_list, "y": days.tolist(), "mode": "lines", "name": label,
             "hovertemplate": "%{x} GPUs: %{y:.3g} days<extra></extra>"},
            {"type": "scatter", "x": [int(chosen_gpus)], "y": [chosen_days], "mode": "markers+text", "name": "chosen",
             "text": [f"{chosen_gpus:,} GPUs: {chosen_days:.3g} days"], "textposition": "top right",
             "marker": {"size": 11, "color": "#E45756"}, "showlegend": False}]
    lo_d, hi_d = float(days.min()), float(days.max())
    for d, name in ((1, "1 day"), (30, "30 days"), (365, "1 year")):
        if lo_d <= d <= hi_d:  # shapes (add_hline) take log10 coordinates on log axes; a trace does not
            data.append({"type": "scatter", "x": [int(counts[0]), int(counts[-1])], "y": [d, d], "mode": "lines+text",
                         "text": [name, ""], "textposition": "top right",
                         "line": {"color": "#999", "dash": "dot", "width": 1}, "hoverinfo": "skip",
                         "showlegend": False})
    return spec(data, {"xaxis": {"type": "log", "title": {"text": "GPUs"}},
                       "yaxis": {"type": "log", "title": {"text": "wall-clock days"}},
                       "height": 370 if title else 340, "showlegend": False, "title": _title(title),
                       "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}})
