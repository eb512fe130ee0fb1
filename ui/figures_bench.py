"""Pure Plotly figure builders for the Benchmark page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.plot import figure, hline
from ui.text import html

DTYPE_COLORS = {"fp32": "#636EFA", "tf32": "#00CC96", "bf16": "#EF553B", "fp16": "#AB63FA", "fp8": "#FFA15A"}


def flops_unit(values: list[float]) -> tuple[str, float]:
    """("TFLOPS", 1e12) when any value reaches 1 TFLOP/s, else ("GFLOPS", 1e9): CPU figures stay readable."""
    return ("TFLOPS", 1e12) if any(v >= 1e12 for v in values) else ("GFLOPS", 1e9)


def flops_vs_size(records: list[dict], peaks: dict[str, float | None], device: str) -> go.Figure | None:
    """Throughput of the square matmuls against n, one line per dtype; the dense peak of each dtype dashed.

    ``records`` are ``MatmulResult.record()`` dicts; ``peaks`` maps dtype to FLOP/s (None = unknown).
    Returns None when no square shape was measured.
    """
    rows = [r for r in records if r["shape"] == "square"]
    if not rows:
        return None
    shown_peaks = {d: p for d, p in peaks.items() if p and any(r["dtype"] == d for r in rows)}
    unit, scale = flops_unit([r["tflops"] * 1e12 for r in rows] + list(shown_peaks.values()))
    data, shapes, notes = [], [], []
    for dtype in dict.fromkeys(r["dtype"] for r in rows):
        pts = sorted((r["m"], r["tflops"] * 1e12 / scale) for r in rows if r["dtype"] == dtype)
        color = DTYPE_COLORS.get(dtype)
        data.append(dict(type="scatter", x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                         name=f"{dtype} measured", line={"color": color},
                         hovertemplate=f"{dtype} n=%{{x}}<br>%{{y:.3f}} {unit}<extra></extra>"))
        if dtype in shown_peaks:
            y = shown_peaks[dtype] / scale
            shapes.append(hline(y, dict(color=color, dash="dash")))
            notes.append(dict(showarrow=False, text=f"{dtype} dense peak {y:,.1f}", x=0, xanchor="left",
                              xref="x domain", y=y, yanchor="bottom", yref="y"))
    sizes = sorted({r["m"] for r in rows})
    return figure(data, dict(
        shapes=shapes, annotations=notes,
        xaxis=dict(type="log", tickvals=sizes, ticktext=[str(s) for s in sizes], title="matrix size n (n x n x n)"),
        yaxis=dict(title=f"{unit} (2n³ / median time)", rangemode="tozero"),
        title=f"Matmul throughput on {html(device)}", height=420, legend_orientation="h",
        legend_y=-0.25, margin={"l": 10, "r": 10, "t": 50, "b": 10}))


def flops_by_shape(records: list[dict], device: str) -> go.Figure | None:
    """Bars: throughput of each model GEMM shape, grouped by dtype. None when only square shapes ran."""
    rows = [r for r in records if r["shape"] != "square"]
    if not rows:
        return None
    unit, scale = flops_unit([r["tflops"] * 1e12 for r in rows])
    data = []
    for dtype in dict.fromkeys(r["dtype"] for r in rows):
        sel = [r for r in rows if r["dtype"] == dtype]
        data.append(dict(type="bar", x=[f"{r['shape']}<br>{r['m']}x{r['n']}x{r['k']}" for r in sel],
                         y=[r["tflops"] * 1e12 / scale for r in sel], name=dtype, marker_color=DTYPE_COLORS.get(dtype),
                         hovertemplate=f"{dtype} %{{x}}<br>%{{y:.3f}} {unit}<extra></extra>"))
    return figure(data, dict(
        title=f"Model GEMM shapes on {html(device)} (m = tokens, k = input, n = output features)",
        barmode="group", height=420, yaxis_title=unit, legend_orientation="h", legend_yanchor="bottom",
        legend_y=1.0, legend_xanchor="right", legend_x=1.0, margin={"l": 10, "r": 10, "t": 70, "b": 10}))
