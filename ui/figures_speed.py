"""Figures of the Inference speed page, as the dicts Plotly's validation gives (``ui.figures_spec``; no Streamlit here).

Both charts change with nearly every input of the page; built as ``go.Figure`` they took 3-3.5 ms each to validate and
1 ms more to freeze, about half of the page's own rerun (py-spy of ``bench/bench_pages.py --only speed``, issue 18).
tests/test_speed_figures.py holds each dict to what ``go.Figure`` makes of it.
"""

from __future__ import annotations

import math

from calc.speed import BatchSweep
from ui.figures_spec import spec
from ui.plot import vline, vrect


def _batch_axis(batches: list[int]) -> dict:
    ticks = [b for b in batches if b & (b - 1) == 0]  # powers of two
    hi = math.log10(max(2, batches[-1]))
    return {"type": "log", "tickvals": ticks, "ticktext": [str(t) for t in ticks], "range": [-0.03, hi + 0.03],
            "title": {"text": "batch (sequences decoded together)"}}


def _vline(x: int, text: str, color: str, dash: str, yanchor: str) -> tuple[dict, dict]:
    """A vertical line with a label on a log-x axis (annotations take log10 coordinates there; add_vline's own
    annotation would land at 10**x). The label sits at the plot's top edge: above it (``yanchor="bottom"``) or
    just inside (``"top"``); below the plot it covered the batch axis' tick labels."""
    return (vline(x, {"color": color, "dash": dash}),
            {"x": math.log10(x), "y": 1, "yref": "paper", "xanchor": "left", "yanchor": yanchor, "text": text,
             "showarrow": False, "font": {"color": color}})


def _markers(sweep: BatchSweep, batch: int, memory_max_batch: int | None) -> dict:
    """The layout's shapes and annotations: compute-bound onset, what does not fit, the chosen batch."""
    shapes, notes = [], []
    last = int(sweep.batch[-1])
    if sweep.compute_bound_from is not None:
        line, note = _vline(int(sweep.compute_bound_from), f" compute-bound from {sweep.compute_bound_from:,}", "#555",
                            "dot", "bottom")
        shapes.append(line)
        notes.append(note)
    if memory_max_batch is not None and memory_max_batch < last:
        shapes.append(vrect(max(int(memory_max_batch), 0.9), last, fillcolor="#d62728", opacity=0.08,
                            line={"width": 0}))
        notes.append({"x": math.log10(last), "y": 1, "yref": "paper", "xanchor": "right", "yanchor": "bottom",
                      "text": f"does not fit in memory above {memory_max_batch:,}", "showarrow": False,
                      "font": {"color": "#d62728"}})
    line, note = _vline(int(batch), f" batch {batch:,}", "#2ca02c", "solid", "top")
    return {"shapes": [*shapes, line], "annotations": [*notes, note]}


def tokens_vs_batch(sweep: BatchSweep, batch: int, memory_max_batch: int | None, title: str) -> dict:
    """Decode tokens/s of the whole batch (left axis) and of one sequence (right axis) against batch."""
    batches = sweep.batch.tolist()
    data = [{"type": "scatter", "x": batches, "y": sweep.tokens_per_s_total.tolist(), "name": "all sequences (tokens/s)",
             "mode": "lines+markers", "hovertemplate": "batch %{x}<br>%{y:,.0f} tokens/s in total<extra></extra>"},
            {"type": "scatter", "x": batches, "y": sweep.tokens_per_s_per_seq.tolist(), "name": "one sequence (tokens/s)",
             "mode": "lines", "line": {"dash": "dash"}, "xaxis": "x", "yaxis": "y2",
             "hovertemplate": "batch %{x}<br>%{y:,.1f} tokens/s per sequence<extra></extra>"}]
    # The two y axes of make_subplots(specs=[[{"secondary_y": True}]]), the second on the right.
    return spec(data, {
        "xaxis": {"anchor": "y", "domain": [0.0, 0.94], **_batch_axis(batches)},
        "yaxis": {"anchor": "x", "domain": [0.0, 1.0], "title": {"text": "tokens/s, all sequences"},
                  "rangemode": "tozero"},
        "yaxis2": {"anchor": "x", "overlaying": "y", "side": "right", "title": {"text": "tokens/s, one sequence"},
                   "rangemode": "tozero", "showgrid": False, "tickformat": ",.3~g",
                   "tickmode": "auto"},  # "sync" put a tick at -2.78e-14
        **_markers(sweep, batch, memory_max_batch),
        # the title at the figure's top, the markers' labels just above the plot: room for both at 390 px
        "title": {"text": title, "yref": "container", "y": 0.97, "yanchor": "top"}, "height": 460,
        "legend": {"orientation": "h", "y": -0.25}, "margin": {"l": 10, "r": 10, "t": 95, "b": 10}})


def step_time_vs_batch(sweep: BatchSweep, steps: int, batch: int, memory_max_batch: int | None) -> dict:
    """The two roofs of one decode step, in milliseconds: bytes / bandwidth and FLOPs / throughput."""
    batches = sweep.batch.tolist()
    data = [{"type": "scatter", "x": batches, "y": (sweep.memory_s / steps * 1e3).tolist(),
             "name": "memory: bytes read / bandwidth", "mode": "lines",
             "hovertemplate": "batch %{x}<br>%{y:.3f} ms<extra></extra>"},
            {"type": "scatter", "x": batches, "y": (sweep.compute_s / steps * 1e3).tolist(),
             "name": "compute: FLOPs / throughput", "mode": "lines",
             "hovertemplate": "batch %{x}<br>%{y:.3f} ms<extra></extra>"}]
    return spec(data, {
        "xaxis": _batch_axis(batches),
        "yaxis": {"title": {"text": "ms per decode step (mean over the output)"}, "type": "log", "dtick": 1,
                  "tickformat": "~g"},
        **_markers(sweep, batch, memory_max_batch),
        "title": {"text": "Decode step time: the larger roof decides"}, "height": 380,
        "legend": {"orientation": "h", "y": -0.3}, "margin": {"l": 10, "r": 10, "t": 50, "b": 10}})
