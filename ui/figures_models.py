"""Pure Plotly figure builders for the Models page (no Streamlit here)."""

from __future__ import annotations

from calc.models import ParamCounts
from ui.figures_spec import spec
from ui.text import html

COMPONENT_LABELS = {
    "embeddings": "Embeddings",
    "attention": "Attention",
    "recurrent": "Recurrent mixers (Mamba, DeltaNet)",
    "mlp": "Dense MLP",
    "experts": "Routed experts",
    "shared_experts": "Shared experts",
    "router": "Router",
    "norms": "Norms",
    "output_head": "Output head",
    "towers": "Vision / audio towers",
    "other": "Other",
}


def breakdown_bar(named_counts: dict[str, ParamCounts]) -> dict:
    """Stacked horizontal bars: parameters by component for each model (billions), written as Plotly's validated dict
    (``ui.figures_spec``): the Models page builds it for every new set of models compared, and ``go.Figure``'s
    validation and freezing were 2.7 ms of a ~7 ms trivial rerun (issue 18). tests/test_figures_spec.py holds it to
    what Plotly makes of it and to the ``go.Figure`` this builder made before."""
    names = list(named_counts)
    components = {n: named_counts[n].components() for n in names}
    shown = [html(n) for n in names]  # model names come from uploads: Plotly renders <a href> in tick labels
    data = []
    towers = {n: dict(named_counts[n].tower_parts) for n in names}
    for comp, label in COMPONENT_LABELS.items():
        if comp == "towers":  # each tower and projector its own bar (multimodal models)
            parts = [(f"{t[:1].upper()}{t[1:]} tower" if "projector" not in t else t.capitalize(), t)
                     for t in dict.fromkeys(t for n in names for t in towers[n])]
            series = [(lbl, [towers[n].get(t, 0) / 1e9 for n in names]) for lbl, t in parts]
        else:
            series = [(label, [components[n][comp] / 1e9 for n in names])]
        for lbl, values in series:
            if any(values):
                data.append(dict(type="bar", name=lbl, y=shown, x=values, orientation="h",
                                 hovertemplate="%{y}<br>" + lbl + ": %{x:.3f} B<extra></extra>"))
    return spec(data, {"barmode": "stack", "xaxis": {"title": {"text": "parameters (billions)"}},
                       "height": 160 + 45 * len(names),
                       # legend under the axis: above the bars the toolbar covered it on hover
                       "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
                       "margin": {"l": 10, "r": 10, "t": 20, "b": 10}})
