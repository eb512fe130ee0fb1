"""Every page's charts go through ``show``: a figure is drawn only if its size is bounded.

A chart is serialized to JSON in the server's script thread and sent whole over the websocket; a 0.85 MB
scenarios file once built a 168 MB chart (above the 64 MB message limit) after 20 s of server time (issue 20).
Pages keep their sweeps small by design; this is the bound that holds whatever an input asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from _plotly_utils.utils import convert_to_base64

from ui.memo import WeightedLRU, deep_bytes, key_of

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


#: True while a page body that has drawn ``NARROW_SCREEN_CSS`` once runs (ui/page_body.py): ``show`` then leaves it
#: out, instead of one copy per chart on every rerun (issue 18).
CSS_SENT: ContextVar[bool] = ContextVar("narrow_screen_css_sent", default=False)


def _size(value) -> int:
    if value is None or isinstance(value, str | bytes):
        return 0
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, list | tuple):
        # a flat list (every trace's x and y) is its length: its element types are read at C speed, not each
        # element tested in Python (0.4 ms for a sweep chart's 1,000 numbers, on every rerun: issue 18)
        if not any(issubclass(t, list | tuple | np.ndarray) for t in set(map(type, value))):
            return len(value)
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


def prepare(fig) -> None:
    """What ``show`` changes on every figure before drawing it."""
    legend_clear_of_axis(fig)
    fig.update_layout(modebar_remove=TOOLBAR_REMOVED)


def _owned_dict(fig) -> dict:
    """What ``fig.to_dict()`` returns, made of the figure's own dicts instead of deep copies of them: the caller
    gives ``fig`` away and never reads it again. ``BaseFigure.__init__`` already deep-copied every trace's and the
    layout's properties into ``fig._data`` / ``fig._layout``, so nothing else holds them; ``to_dict`` copied them
    a second time, 6% of the server's CPU under ``bench/load.py -n 50`` (py-spy, issue 18). Plotly internals:
    tests/test_cache_bytes.py holds the result to ``to_dict``'s JSON."""
    d = {"data": fig._data, "layout": fig._layout}
    frames = [frame._props for frame in fig._frame_objs]
    if frames:
        d["frames"] = frames
    convert_to_base64(d)  # what to_dict does last: NumPy arrays as typed base64 buffers
    return d


def prepared_dict(fig, give_away: bool = False) -> dict:
    """``fig.to_dict()`` after ``prepare(fig)``, with the changes made on the dict: ``update_layout`` parses and
    validates each path it is given, about two thirds of freezing a figure (py-spy of ``bench/load.py -n 50``,
    issue 18). ``fig`` itself is left as it was, unless ``give_away`` (then the dict is made of the figure's own
    dicts, ``_owned_dict``, and ``fig`` must not be used again). tests/test_cache_bytes.py compares both on legend
    variants, tests/test_perf.py whole pages drawn both ways."""
    d = _owned_dict(fig) if give_away else fig.to_dict()
    layout = d.setdefault("layout", {})
    legend = layout.get("legend")
    if (legend and legend.get("orientation") == "h" and legend.get("y") is not None and legend["y"] < 0
            and legend.get("yref") in (None, "paper")):
        legend.update(yref="container", y=0, yanchor="bottom")
    layout.setdefault("modebar", {})["remove"] = list(TOOLBAR_REMOVED)
    return d


def dict_points(d: dict) -> int:
    """``points`` of a figure's dict (``to_dict()``)."""
    total = 0
    for trace in d.get("data", ()):
        total += max((_size(trace[a]) for a in _ARRAYS if a in trace), default=0)
    layout = d.get("layout", {})
    return total + len(layout.get("shapes") or ()) + len(layout.get("annotations") or ())


class FrozenFigure(go.Figure):
    """What ``cached`` keeps of a figure: the dict ``st.plotly_chart`` sends (``to_dict()``, made once, then
    shared read-only by every rerun and session that asks for the same inputs) and its point count, nothing else.
    A built ``go.Figure`` also holds every trace and layout object Plotly validated (about 35 kB for a 10-point
    line chart, three times its dict), so the instance is made without them (``object.__new__``): it is a
    ``BaseFigure`` only for ``st.plotly_chart``, which calls ``to_dict()`` on it. Nothing else may be read from it."""

    _frozen_dict: dict
    _frozen_points: int

    @classmethod
    def freeze(cls, fig: go.Figure | dict) -> FrozenFigure:
        """``fig`` prepared for ``show`` (``prepared_dict``), as a ``FrozenFigure`` holding its dict only. ``fig`` is
        given away: the frozen dict is made of its own dicts, so the caller must not use it again (``cached`` and
        ``of`` freeze the figure a builder just returned). A dict is a figure written as Plotly's own
        (``ui.figures_spec``), taken as it is (``from_dict``)."""
        return cls.from_dict(fig if isinstance(fig, dict) else prepared_dict(fig, give_away=True))

    @classmethod
    def from_dict(cls, d: dict) -> FrozenFigure:
        """A figure's prepared dict (``prepared_dict``; say a frozen figure's with one layout entry replaced) as a
        ``FrozenFigure``, without building and validating a ``go.Figure``: the caller vouches for what it changed."""
        frozen = object.__new__(cls)
        object.__setattr__(frozen, "_frozen_dict", d)
        object.__setattr__(frozen, "_frozen_points", dict_points(d))
        return frozen

    def to_dict(self):
        return self._frozen_dict

    def __repr__(self) -> str:
        return f"FrozenFigure({self._frozen_points} points)"


#: Built figures kept per input, weighed in bytes (``memo.deep_bytes`` of key and dict: 15-20 kB for a small
#: line chart, ~90 bytes per point beyond) within ``FIGURE_BUDGET_BYTES``; a figure heavier than that is drawn
#: and not kept. Points were the weight before: 400,000 of them and 256 figures held ~50 MB and the server's
#: memory kept rising over a 3,000-rerun soak (issue 18). ``MAX_FIGURES`` bounds the count as well. With
#: ui/memo's caches (6 + 8 + 2 MiB) the server's caches hold at most 24 MiB: below a tenth of a warmed server
#: (~275 MiB), the growth bench/soak.py allows over 10,000 reruns.
FIGURE_BUDGET_BYTES = 8 * 2**20
MAX_FIGURES = 512
_figures = WeightedLRU(FIGURE_BUDGET_BYTES, max_items=MAX_FIGURES)


def cached(key: Hashable, build: Callable[[], go.Figure | dict | None]) -> FrozenFigure | None:
    """``build()`` as a ``FrozenFigure``, memoized per ``key`` (which must hold everything the figure depends
    on, the builder's name included) across reruns and sessions, least recently used dropped past
    ``FIGURE_BUDGET_BYTES``. Plotly validates every trace and shape as a figure is built (tens of ms for the
    Validation and memory pages' charts, issue 18); a rerun whose inputs leave a chart unchanged skips it."""
    def make():
        fig = build()
        return None if fig is None else FrozenFigure.freeze(fig)

    return _figures.get_or_compute(key, make, lambda frozen: deep_bytes(key, None if frozen is None
                                                                         else frozen._frozen_dict))


def of(builder: Callable[..., go.Figure | dict | None], *args, **kwargs) -> FrozenFigure | None:
    """``builder(*args, **kwargs)`` through ``cached``, keyed by the builder and its arguments (a pure builder of
    ``ui/figures_*.py``: its figure depends on nothing else)."""
    try:
        key = (builder.__module__, builder.__qualname__, key_of(args), key_of(kwargs))
    except TypeError:  # an argument without a hashable form: built as it always was
        fig = builder(*args, **kwargs)
        return None if fig is None else FrozenFigure.freeze(fig)
    return cached(key, lambda: builder(*args, **kwargs))


def show(where, fig, **kwargs) -> bool:
    """``where.plotly_chart(fig, **kwargs)`` if ``fig`` holds at most ``MAX_POINTS`` points, else a warning saying
    how many it would have drawn (returns whether it was drawn). ``where`` is ``st`` or a column/container."""
    if fig is None:
        return False
    if isinstance(fig, dict):  # written as Plotly's own dict (ui.figures_spec)
        fig = FrozenFigure.from_dict(fig)
    n = fig._frozen_points if isinstance(fig, FrozenFigure) else points(fig)
    if n > MAX_POINTS:
        where.warning(f"This chart would draw {n:,} points, more than the {MAX_POINTS:,} a chart may hold; "
                      "narrow the inputs to see it (the numbers above are complete).")
        return False
    if not isinstance(fig, FrozenFigure):
        prepare(fig)
    kwargs.setdefault("width", "stretch")
    if not CSS_SENT.get():
        st.html(NARROW_SCREEN_CSS)
    where.plotly_chart(fig, **kwargs)
    return True

