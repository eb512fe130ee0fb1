"""Pure Plotly figure builders for the Quantization (GGUF) page (no Streamlit here)."""

from __future__ import annotations

import functools
import re

import plotly.graph_objects as go

from calc.gguf import QuantResult, type_bits
from ui.figures_memory import label_anchor
from ui.figures_spec import template
from ui.plot import vline
from ui.text import html

PARTS = (("weights", "Weights", "#4C78A8"), ("kv", "KV cache", "#F58518"), ("compute", "Compute buffer", "#54A24B"))

#: Tensor roles shown as rows of the per-layer map (gguf names without the ``blk.N.`` prefix).
ROLE = re.compile(r"blk\.(\d+)\.(.+)\.weight$")


def run_memory_dict(rows: list[dict], capacity: float | None, unit: str, gpu_label: str) -> dict:
    """Stacked horizontal bars, memory to run each file type (weights + KV + compute, in ``unit``; ``rows``: dicts
    with "quant", "weights", "kv", "compute"; ``capacity``: a line at what the GPU offers the model, None: none), as
    ``go.Figure(...).to_dict()`` writes them, built directly, Plotly's default template included: every key in the
    form Plotly's validation leaves it in, so the page sends this dict without building a ``go.Figure`` (validating
    the three 33-bar traces was about a third of the Quantization page's rerun when the context changed, issue 18).
    tests/test_gguf_page.py holds it to ``go.Figure(d).to_dict()`` and the page's chart to the validated figure."""
    names = [r["quant"] for r in rows]
    data = [{"hovertemplate": "%{y}<br>" + label + ": %{x:.2f} " + unit + "<extra></extra>", "name": label,
             "orientation": "h", "x": [r[key] for r in rows], "y": names, "type": "bar", "marker": {"color": color}}
            for key, label, color in PARTS]
    layout = {"barmode": "stack", "height": 160 + 22 * len(rows),
              "legend": {"orientation": "h", "traceorder": "normal", "y": 0, "yanchor": "bottom", "yref": "container"},
              "margin": {"b": 10, "l": 10, "r": 10, "t": 50},  # t: the capacity label clears the toolbar
              "xaxis": {"title": {"text": f"memory to run ({unit})"}}, "yaxis": {"autorange": "reversed"},
              "template": template()}
    if capacity:
        top = max([capacity] + [r["weights"] + r["kv"] + r["compute"] for r in rows])
        layout["shapes"] = [vline(capacity, {"color": "#E45756", "dash": "dash"})]
        layout["annotations"] = [{"showarrow": False, "text": f"{html(gpu_label)}: {capacity:.1f} {unit}",
                                  "x": capacity, "xanchor": label_anchor(capacity, top), "xref": "x", "y": 1,
                                  "yanchor": "bottom", "yref": "y domain"}]
    return {"data": data, "layout": layout}


#: Layers the type map draws at most: a 10,000-layer model would make a 90,000-cell heatmap (issue 20); the kind
#: summary and the CSV on the page hold every tensor.
MAX_MAP_LAYERS = 256


def type_map_dict(quant: QuantResult, max_layers: int = MAX_MAP_LAYERS) -> dict:
    """The type map as ``go.Figure(...).to_dict()`` writes it, built without Plotly's validation (like
    ``run_memory_dict``): the ggml type of every block weight, layer by layer (colour = bits per weight; the type
    is printed in the cells up to 16 layers and in the hover text always). Only the first ``max_layers``
    layers are drawn (``quant.tensors`` lists blocks in order, so the walk stops there)."""
    cells: dict[str, dict[int, tuple[str, int]]] = {}
    layers = 0
    for t in quant.tensors:
        m = ROLE.match(t.name)
        if not m or len(t.shape) < 2 or "ffn_gate_inp" in t.name:  # routers stay F32: not a choice
            continue
        i, role = int(m.group(1)), m.group(2)
        if i >= max_layers:
            break
        cells.setdefault(role, {})[i] = (t.type, t.bytes)
        layers = max(layers, i + 1)
    roles = sorted(cells, key=_role_order)
    z = [[type_bits(cells[r][i][0]) if i in cells[r] else None for i in range(layers)] for r in roles]
    text = [[cells[r][i][0] if i in cells[r] else "" for i in range(layers)] for r in roles]
    custom = [[f"{cells[r][i][1]:,}" if i in cells[r] else "" for i in range(layers)] for r in roles]
    heat = {"colorbar": {"title": {"text": "bits/weight"}}, "colorscale": _viridis(), "customdata": custom,
            "hovertemplate": "layer %{x}, %{y}: %{text}<br>%{z:.4g} bits/weight, %{customdata} B<extra></extra>",
            "text": text, "textfont": {"size": 9}, "x": list(range(layers)), "xgap": 1, "y": roles, "ygap": 1,
            "z": z, "type": "heatmap"}
    if layers <= 16:
        heat["texttemplate"] = "%{text}"
    return {"data": [heat], "layout": {"height": 140 + 34 * len(roles), "margin": {"b": 10, "l": 10, "r": 10, "t": 20},
                                       "xaxis": {"title": {"text": "layer"}}, "yaxis": {"autorange": "reversed"},
                                       "template": template()}}


@functools.cache
def _viridis() -> list:
    """Plotly's "Viridis" colour scale in the form its validation writes a named scale (a list of [position,
    colour]); shared read-only."""
    return go.Figure({"data": [{"type": "heatmap", "colorscale": "Viridis"}]}).to_dict()["data"][0]["colorscale"]


def _role_order(role: str) -> tuple[int, str]:
    order = ("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    for i, prefix in enumerate(order):
        if role.startswith(prefix):
            return i, role
    return len(order), role


def bytes_by_type_dict(quant: QuantResult, unit_div: float, unit: str) -> dict:
    """Bar per ggml type, its share of the payload, as ``go.Figure(...).to_dict()`` writes it, built without Plotly's
    validation."""
    parts = quant.bytes_by_type
    top = max(parts.values()) / unit_div
    bar = {"hovertemplate": "%{x}: %{y:.3f} " + unit + "<extra></extra>",
           "text": [f"{v / quant.tensor_bytes:.1%}" for v in parts.values()], "textposition": "outside",
           "x": list(parts), "y": [v / unit_div for v in parts.values()], "type": "bar", "marker": {"color": "#4C78A8"}}
    return {"data": [bar], "layout": {"height": 300, "margin": {"b": 10, "l": 10, "r": 10, "t": 20},
                                      "yaxis": {"range": [0, top * 1.18], "title": {"text": unit}},
                                      "template": template()}}
