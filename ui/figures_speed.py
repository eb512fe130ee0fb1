"""Pure Plotly figure builders for the Inference speed page (no Streamlit here)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from calc.speed import BatchSweep
from ui.plot import figure, vline, vrect


def _batch_axis(batches) -> dict:
    ticks = [int(b) for b in batches if int(b) & (int(b) - 1) == 0]  # powers of two
    hi = math.log10(max(2, int(batches[-1])))
    return dict(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks], range=[-0.03, hi + 0.03],
                title="batch (sequences decoded together)")


def _vline(x: float, text: str, color: str, dash: str, yanchor: str) -> tuple[dict, dict]:
    """A vertical line with a label on a log-x axis (annotations take log10 coordinates there; add_vline's own
    annotation would land at 10**x). The label sits at the plot's top edge: above it (``yanchor="bottom"``) or
    just inside (``"top"``); below the plot it covered the batch axis' tick labels."""
    return (vline(x, dict(color=color, dash=dash)),
            dict(x=math.log10(x), y=1, yref="paper", xanchor="left",
                 yanchor=yanchor, text=text, showarrow=False, font={"color": color}))


def _markers(sweep: BatchSweep, batch: int, memory_max_batch: int | None) -> dict:
    """The layout's shapes and annotations: compute-bound onset, what does not fit, the chosen batch."""
    shapes, notes = [], []
    if sweep.compute_bound_from is not None:
        line, note = _vline(sweep.compute_bound_from, f" compute-bound from {sweep.compute_bound_from:,}", "#555",
                            "dot", "bottom")
        shapes.append(line)
        notes.append(note)
    if memory_max_batch is not None and memory_max_batch < sweep.batch[-1]:
        shapes.append(vrect(max(memory_max_batch, 0.9), sweep.batch[-1], fillcolor="#d62728", opacity=0.08,
                            line=dict(width=0)))
        notes.append(dict(x=math.log10(int(sweep.batch[-1])), y=1, yref="paper", xanchor="right", yanchor="bottom",
                          text=f"does not fit in memory above {memory_max_batch:,}", showarrow=False,
                          font={"color": "#d62728"}))
    line, note = _vline(batch, f" batch {batch:,}", "#2ca02c", "solid", "top")
    return dict(shapes=[*shapes, line], annotations=[*notes, note])


def tokens_vs_batch(sweep: BatchSweep, batch: int, memory_max_batch: int | None, title: str) -> go.Figure:
    """Decode tokens/s of the whole batch (left axis) and of one sequence (right axis) against batch."""
    data = [dict(type="scatter", x=sweep.batch, y=sweep.tokens_per_s_total, name="all sequences (tokens/s)",
                 mode="lines+markers", hovertemplate="batch %{x}<br>%{y:,.0f} tokens/s in total<extra></extra>"),
            dict(type="scatter", x=sweep.batch, y=sweep.tokens_per_s_per_seq, name="one sequence (tokens/s)",
                 mode="lines", line_dash="dash", xaxis="x", yaxis="y2",
                 hovertemplate="batch %{x}<br>%{y:,.1f} tokens/s per sequence<extra></extra>")]
    # The two y axes of make_subplots(specs=[[{"secondary_y": True}]]), the second on the right.
    return figure(data, dict(
        xaxis=dict(anchor="y", domain=[0.0, 0.94], **_batch_axis(sweep.batch)),
        yaxis=dict(anchor="x", domain=[0.0, 1.0], title="tokens/s, all sequences", rangemode="tozero"),
        yaxis2=dict(anchor="x", overlaying="y", side="right", title="tokens/s, one sequence", rangemode="tozero",
                    showgrid=False, tickformat=",.3~g", tickmode="auto"),  # "sync" put a tick at -2.78e-14
        **_markers(sweep, batch, memory_max_batch),
        # the title at the figure's top, the markers' labels just above the plot: room for both at 390 px
        title=dict(text=title, yref="container", y=0.97, yanchor="top"), height=460, legend_orientation="h",
        legend_y=-0.25, margin={"l": 10, "r": 10, "t": 95, "b": 10}))


def step_time_vs_batch(sweep: BatchSweep, steps: int, batch: int, memory_max_batch: int | None) -> go.Figure:
    """The two roofs of one decode step, in milliseconds: bytes / bandwidth and FLOPs / throughput."""
    data = [dict(type="scatter", x=sweep.batch, y=sweep.memory_s / steps * 1e3, name="memory: bytes read / bandwidth",
                 mode="lines", hovertemplate="batch %{x}<br>%{y:.3f} ms<extra></extra>"),
            dict(type="scatter", x=sweep.batch, y=sweep.compute_s / steps * 1e3, name="compute: FLOPs / throughput",
                 mode="lines", hovertemplate="batch %{x}<br>%{y:.3f} ms<extra></extra>")]
    return figure(data, dict(
        xaxis=_batch_axis(sweep.batch),
        yaxis=dict(title="ms per decode step (mean over the output)", type="log", dtick=1, tickformat="~g"),
        **_markers(sweep, batch, memory_max_batch),
        title="Decode step time: the larger roof decides", height=380, legend_orientation="h",
        legend_y=-0.3, margin={"l": 10, "r": 10, "t": 50, "b": 10}))
