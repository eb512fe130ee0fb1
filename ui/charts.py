"""Every page's charts go through ``show``: a figure is drawn only if its size is bounded.

A chart is serialized to JSON in the server's script thread and sent whole over the websocket; a 0.85 MB
scenarios file once built a 168 MB chart (above the 64 MB message limit) after 20 s of server time (issue 20).
Pages keep their sweeps small by design; this is the bound that holds whatever an input asks for.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

#: Points (x/y pairs, heatmap cells, pie slices) a chart may hold, counted over all traces, plus its shapes
#: and annotations. The largest chart of a page today has a few thousand; a browser draws 10^5 smoothly.
MAX_POINTS = 100_000
_ARRAYS = ("x", "y", "z", "values", "labels", "r", "theta", "lat", "lon", "text", "customdata")

#: The Plotly toolbar keeps download, zoom, pan and reset: eight buttons (about 210 px) covered the titles of
#: the half-width charts on hover at 1,400 px; four take about 110 px.
TOOLBAR_REMOVED = ["zoomin", "zoomout", "autoscale", "lasso", "select"]  # layout.modebar.remove names
#: On a phone (390 px) the Plotly toolbar covers a chart's title, legend and annotations, and names written
#: beside points run into each other. Below 640 px the toolbar is hidden (Streamlit's own fullscreen button
#: stays) and point names are left to the hover text (a tap shows it). Style only: Streamlit renders no block.
NARROW_SCREEN_CSS = ("<style>@media (max-width: 640px) {.js-plotly-plot .modebar-container {display: none !important;}"
                     " .js-plotly-plot .textpoint {display: none;}}</style>")


def _size(value) -> int:
    if value is None or isinstance(value, str | bytes):
        return 0
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, list | tuple):
        return sum(_size(v) if isinstance(v, list | tuple | np.ndarray) else 1 for v in value)
    return 0


def points(fig) -> int:
    """Points a Plotly figure draws: per trace the largest of its data arrays, summed; plus shapes and annotations."""
    total = 0
    for trace in fig.data:
        total += max((_size(trace[a]) for a in _ARRAYS if a in trace), default=0)
    return total + len(fig.layout.shapes or ()) + len(fig.layout.annotations or ())


def legend_clear_of_axis(fig) -> None:
    """A horizontal legend placed below the plot (``y < 0``, a fraction of the plot's height) moves to the
    bottom of the figure (``yref="container"``), which reserves its height: at 390 px the legend wraps to
    several rows and, anchored a fixed fraction below the axis, covered the tick labels and the axis title."""
    legend = fig.layout.legend
    if legend.orientation == "h" and legend.y is not None and legend.y < 0 and legend.yref in (None, "paper"):
        fig.update_layout(legend=dict(yref="container", y=0, yanchor="bottom"))


def show(where, fig, **kwargs) -> bool:
    """``where.plotly_chart(fig, **kwargs)`` if ``fig`` holds at most ``MAX_POINTS`` points, else a warning saying
    how many it would have drawn (returns whether it was drawn). ``where`` is ``st`` or a column/container."""
    if fig is None:
        return False
    n = points(fig)
    if n > MAX_POINTS:
        where.warning(f"This chart would draw {n:,} points, more than the {MAX_POINTS:,} a chart may hold; "
                      "narrow the inputs to see it (the numbers above are complete).")
        return False
    legend_clear_of_axis(fig)
    fig.update_layout(modebar_remove=TOOLBAR_REMOVED)
    kwargs.setdefault("width", "stretch")
    st.html(NARROW_SCREEN_CSS)
    where.plotly_chart(fig, **kwargs)
    return True

