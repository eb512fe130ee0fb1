"""Pure Plotly figure builders for the Training and Inference memory pages (no Streamlit here).

Values come in already converted to the display unit (``unit`` is its label), so the builders do
no unit arithmetic of their own. ``*_spec`` write the figure as the dict Plotly's validation gives
(ui/figures_spec.py: the memory pages redraw them from it on nearly every input, issue 18).
"""

from __future__ import annotations

import math

from ui.figures_spec import spec
from ui.plot import hline, vline
from ui.text import html

LABELS = {
    "weights": "Weights",
    "master_weights": "Master weights (fp32)",
    "gradients": "Gradients",
    "optimizer_states": "Optimizer states",
    "activations": "Activations",
    "kv_cache": "KV cache",
    "recurrent_state": "Recurrent state (Mamba / DeltaNet)",
    "overhead": "Overhead (CUDA context, reserve)",
}
COLORS = {
    "weights": "#4C78A8",
    "master_weights": "#72B7B2",
    "gradients": "#F58518",
    "optimizer_states": "#E45756",
    "activations": "#54A24B",
    "kv_cache": "#B279A2",
    "recurrent_state": "#D6A5C9",
    "overhead": "#9D9DA0",
}


def label_anchor(x: float, x_max: float) -> str:
    """Which side of a vertical line at ``x`` (axis from 0 to ``x_max``) its label hangs: left of a line in the
    right half, so the label stays inside a 390 px wide chart (centred, it ran past the right edge)."""
    return "right" if x > 0.5 * x_max else "left"


def breakdown_bar_spec(components: dict[str, float], capacity: float, unit: str, gpu_name: str) -> dict:
    """One stacked horizontal bar of the per-GPU components, with the GPU's capacity as a line."""
    data = [{"type": "bar", "name": LABELS.get(key, key), "y": ["per GPU"], "x": [value], "orientation": "h",
             **({"marker": {"color": COLORS[key]}} if key in COLORS else {}),
             "hovertemplate": f"{LABELS.get(key, key)}: %{{x:,.2f}} {unit}<extra></extra>"}
            for key, value in components.items() if value > 0]
    total = sum(components.values())
    return spec(data, {
        "shapes": [vline(capacity, {"color": "black", "dash": "dash"})],
        "annotations": [{"showarrow": False, "text": f"{html(gpu_name)}: {capacity:,.1f} {unit}", "x": capacity,
                         "xanchor": label_anchor(capacity, max(total, capacity) * 1.08),
                         "xref": "x", "y": 1, "yanchor": "bottom", "yref": "y domain"}],
        # 300 px: at 390 px the legend wraps to one entry a row, and the bar keeps about 100 px above it
        "barmode": "stack", "bargap": 0.35, "height": 300,
        "xaxis": {"title": {"text": f"memory per GPU ({unit})"}, "range": [0, max(total, capacity) * 1.08]},
        "legend": {"orientation": "h", "y": -0.45, "traceorder": "normal"},
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10}})  # t: the label clears the toolbar


def sweep_area_spec(x, components: dict[str, list[float]], capacity: float, unit: str, x_title: str,
                    current_x: float | None = None, log_x: bool = False, title: str = "") -> dict:
    """Stacked areas of each component against ``x`` (sequence length or batch), the capacity as a line.

    No legend: the colors are those of ``breakdown_bar``, drawn above it on the pages.
    """
    # Python numbers, not NumPy scalars: Plotly validated a list of 60 np.int64 about 8x slower (33 against 4 ms for
    # six traces), most of a memory page's rerun whenever a sweep changed (issue 18); the JSON sent is the same.
    xl = x.tolist() if hasattr(x, "tolist") else list(x)
    data = [{"type": "scatter", "x": xl, "y": values.tolist() if hasattr(values, "tolist") else list(values),
             "name": LABELS.get(key, key), "stackgroup": "mem", "mode": "lines",
             **({"line": {"color": COLORS[key]}} if key in COLORS else {}),
             "hovertemplate": f"{LABELS.get(key, key)}: %{{y:,.2f}} {unit}<extra></extra>"}
            for key, values in components.items() if max(values, default=0) > 0]
    shapes = [hline(capacity, {"color": "black", "dash": "dash"})]
    notes = [{"showarrow": False, "text": f"capacity {capacity:,.1f} {unit}", "x": 0, "xanchor": "left",
              "xref": "x domain", "y": capacity, "yanchor": "bottom", "yref": "y"}]
    if current_x is not None:
        # Shapes take data values on a log axis, annotations log10 of them: add_vline's own annotation at x=16
        # stretched a log axis to 10^16 (issue 17 item 3), so the label is placed here.
        shapes.append(vline(current_x, {"color": "gray", "dash": "dot"}))
        notes.append({"x": math.log10(current_x) if log_x else current_x, "y": 1, "yref": "y domain",
                      "text": "current", "showarrow": False, "xanchor": "left", "yanchor": "top"})
    totals = [sum(v[i] for v in components.values()) for i in range(len(xl))]
    top = max(max(totals, default=0), capacity) * 1.1
    xs = [float(v) for v in xl]
    xaxis: dict = {"title": {"text": x_title}}
    if log_x:
        xaxis["type"] = "log"
        if xs:
            xaxis["range"] = [math.log10(min(xs)), math.log10(max(xs))]
    elif xs:
        xaxis["range"] = [min(xs), max(xs)]
    return spec(data, {
        "shapes": shapes, "annotations": notes, "height": 340, "xaxis": xaxis,
        "yaxis": {"title": {"text": f"memory per GPU ({unit})"}, "range": [0, top]}, "hovermode": "x unified",
        "showlegend": False, "title": {"text": title, "font": {"size": 14}}, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}})


def phases_rows(phases: dict, size) -> list[dict]:
    """One row per moment of the step (``calc.engines.engine_phases``): its total and what is in it, as records (moment,
    total, bytes, what is alive): the Training memory page sends them to Arrow directly (``ui.tables.records_arrow``)
    instead of building and converting a DataFrame on every rerun with an engine (1.5-2.5 ms of one; issue 18).
    tests/test_pg_engine_table.py holds the table to the DataFrame builder it replaced."""
    rows = []
    for name, b in phases.items():
        parts = ", ".join(f"{LABELS.get(k, k)} {size(v)}" for k, v in b.components().items() if v)
        rows.append({"moment": name, "total": size(b.total), "bytes": b.total, "what is alive": parts})
    return rows


def estimator_rows(ours: int, est: dict, size, states: int | None = None) -> list[dict]:
    """DeepSpeed's estimator functions beside this page's figure (model states only on their side) and, when given,
    this page's states held between steps (the like-for-like figure), as records (source, per GPU, bytes) for
    ``ui.tables.records_arrow`` as ``phases_rows``; tests/test_pg_engine_table.py holds them to the DataFrame builder
    they replaced."""
    rows = [("this page (the engine chosen, whole step)", ours)]
    if states is not None:
        rows.append(("this page, states held between steps (model states and persistent buffers)", states))
    rows += [("DeepSpeed estimate_zero2_model_states_mem_needs (GPU)", est["zero2_gpu_bytes"]),
             ("DeepSpeed estimate_zero3_model_states_mem_needs (GPU)", est["zero3_gpu_bytes"]),
             ("DeepSpeed ZeRO-2 estimator (CPU, per node)", est["zero2_cpu_bytes"])]
    return [{"source": k, "per GPU": size(v), "bytes": v} for k, v in rows]
