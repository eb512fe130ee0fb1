"""Pure Plotly figure builders for the Inference speed page (no Streamlit here)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from calc.speed import BatchSweep


def _batch_axis(fig: go.Figure, batches, row=None, col=None) -> None:
    ticks = [int(b) for b in batches if int(b) & (int(b) - 1) == 0]  # powers of two
    hi = math.log10(max(2, int(batches[-1])))
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks], range=[-0.03, hi + 0.03],
                     title="batch (sequences decoded together)", row=row, col=col)


def _vline(fig: go.Figure, x: float, text: str, color: str, dash: str, yanchor: str) -> None:
    """A vertical line with a label on a log-x axis (annotations take log10 coordinates there; add_vline's own
    annotation would land at 10**x)."""
    fig.add_vline(x=x, line_dash=dash, line_color=color)
    fig.add_annotation(x=math.log10(x), y=1 if yanchor == "bottom" else 0, yref="paper", xanchor="left",
                       yanchor=yanchor, text=text, showarrow=False, font={"color": color})


def _markers(fig: go.Figure, sweep: BatchSweep, batch: int, memory_max_batch: int | None) -> None:
    if sweep.compute_bound_from is not None:
        _vline(fig, sweep.compute_bound_from, f" compute-bound from {sweep.compute_bound_from:,}", "#555", "dot",
               "bottom")
    if memory_max_batch is not None and memory_max_batch < sweep.batch[-1]:
        fig.add_vrect(x0=max(memory_max_batch, 0.9), x1=sweep.batch[-1], fillcolor="#d62728", opacity=0.08,
                      line_width=0)
        fig.add_annotation(x=math.log10(int(sweep.batch[-1])), y=1, yref="paper", xanchor="right", yanchor="bottom",
                           text=f"does not fit in memory above {memory_max_batch:,}", showarrow=False,
                           font={"color": "#d62728"})
    _vline(fig, batch, f" batch {batch:,}", "#2ca02c", "solid", "top")


def tokens_vs_batch(sweep: BatchSweep, batch: int, memory_max_batch: int | None, title: str) -> go.Figure:
    """Decode tokens/s of the whole batch (left axis) and of one sequence (right axis) against batch."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=sweep.batch, y=sweep.tokens_per_s_total, name="all sequences (tokens/s)", mode="lines+markers",
                    hovertemplate="batch %{x}<br>%{y:,.0f} tokens/s in total<extra></extra>")
    fig.add_scatter(x=sweep.batch, y=sweep.tokens_per_s_per_seq, name="one sequence (tokens/s)", mode="lines",
                    line_dash="dash", secondary_y=True,
                    hovertemplate="batch %{x}<br>%{y:,.1f} tokens/s per sequence<extra></extra>")
    _batch_axis(fig, sweep.batch)
    fig.update_yaxes(title="tokens/s, all sequences", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title="tokens/s, one sequence", rangemode="tozero", secondary_y=True, showgrid=False,
                     tickformat=",.3~g")
    _markers(fig, sweep, batch, memory_max_batch)
    fig.update_layout(title=title, height=430, legend_orientation="h", legend_y=-0.25,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def step_time_vs_batch(sweep: BatchSweep, steps: int, batch: int, memory_max_batch: int | None) -> go.Figure:
    """The two roofs of one decode step, in milliseconds: bytes / bandwidth and FLOPs / throughput."""
    fig = go.Figure()
    fig.add_scatter(x=sweep.batch, y=sweep.memory_s / steps * 1e3, name="memory: bytes read / bandwidth",
                    mode="lines", hovertemplate="batch %{x}<br>%{y:.3f} ms<extra></extra>")
    fig.add_scatter(x=sweep.batch, y=sweep.compute_s / steps * 1e3, name="compute: FLOPs / throughput",
                    mode="lines", hovertemplate="batch %{x}<br>%{y:.3f} ms<extra></extra>")
    _batch_axis(fig, sweep.batch)
    fig.update_yaxes(title="ms per decode step (mean over the output)", type="log", dtick=1, tickformat="~g")
    _markers(fig, sweep, batch, memory_max_batch)
    fig.update_layout(title="Decode step time: the larger roof decides", height=380, legend_orientation="h",
                      legend_y=-0.3, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
