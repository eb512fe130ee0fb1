"""Figures written directly as the dict that Plotly's validation and ``ui.charts.prepared_dict`` give.

This is for charts that change with nearly every input of a page (Compute and cost, Training memory; the
Quantization page's dicts in ``ui.figures_gguf`` take their template from :func:`template`). ``go.Figure``
validates every trace and layout entry it is given. For the Compute page's two charts that took 2-4 ms each, and for
the Training memory page's three charts 2.7-6.2 ms each, on every rerun whose input changed them. That was more than
the rest of those pages' reruns together (issue 18; timed with ``FrozenFigure.freeze(builder(...))`` on this
machine). A builder here writes Plotly's nested form (``marker={"color": ...}``, not ``marker_color``;
``xaxis={"title": {"text": ...}}``), and :func:`spec` adds what ``go.Figure(...).to_dict()`` adds (the default
template) and what ``ui.charts.prepare`` changes (the toolbar's buttons, a horizontal legend below the plot moved
to the figure's bottom). ``ui.charts.FrozenFigure.from_dict`` draws the result. tests/test_figures_spec.py holds
every builder's dict to what Plotly makes of it (``charts.prepared_dict(go.Figure(d)) == d``).
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from ui.charts import TOOLBAR_REMOVED

_TEMPLATES: dict[str, dict] = {}


def template() -> dict:
    """The default template's dict, as ``go.Figure().to_dict()`` writes it into every figure's layout (built once per
    template name; shared, read only)."""
    name = pio.templates.default
    if name not in _TEMPLATES:
        _TEMPLATES[name] = go.Figure().to_dict()["layout"].get("template", {})
    return _TEMPLATES[name]


def spec(data: list[dict], layout: dict) -> dict:
    """``ui.charts.prepared_dict(go.Figure({"data": data, "layout": layout}))`` for traces and a layout written in
    Plotly's nested form, without validating them."""
    layout = {**layout, "template": template(), "modebar": {"remove": list(TOOLBAR_REMOVED)}}
    legend = layout.get("legend")
    if (legend and legend.get("orientation") == "h" and legend.get("y") is not None and legend["y"] < 0
            and legend.get("yref") in (None, "paper")):  # as ui.charts.legend_clear_of_axis
        layout["legend"] = {**legend, "yref": "container", "y": 0, "yanchor": "bottom"}
    return {"data": data, "layout": layout}
