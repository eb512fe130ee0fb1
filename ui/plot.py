"""Figures built in one step: traces and layout as plain dicts, validated once by ``go.Figure``.

Plotly's ``add_hline`` / ``add_vline`` / ``add_shape`` / ``add_annotation`` re-validate every shape and
annotation already on the figure at each call, and every ``add_trace`` / ``update_layout`` validates
its part again; on the Validation page's error strip that was 64-79% of the page's rerun (issue 18).
The builders in ``ui/figures_*.py`` describe the whole figure as a dict and call :func:`figure` once.
The helpers below give the shapes ``add_hline`` and friends would add (same keys and references).
"""

from __future__ import annotations

import plotly.graph_objects as go


def figure(data: list[dict], layout: dict) -> go.Figure:
    """``go.Figure`` from trace dicts (each with its ``type``) and a layout dict, validated once."""
    return go.Figure({"data": data, "layout": layout})


def hline(y: float, line: dict, yref: str = "y") -> dict:
    """A horizontal line across the plot at data ``y`` (what ``fig.add_hline`` adds)."""
    return {"type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": yref, "line": line}


def vline(x: float, line: dict, xref: str = "x") -> dict:
    """A vertical line over the plot's height at data ``x`` (what ``fig.add_vline`` adds). On a log axis a
    shape takes the data value, an annotation log10 of it."""
    return {"type": "line", "x0": x, "x1": x, "xref": xref, "y0": 0, "y1": 1, "yref": "y domain", "line": line}


def vrect(x0: float, x1: float, **style) -> dict:
    """A band between data ``x0`` and ``x1`` over the plot's height (what ``fig.add_vrect`` adds)."""
    return {"type": "rect", "x0": x0, "x1": x1, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", **style}
